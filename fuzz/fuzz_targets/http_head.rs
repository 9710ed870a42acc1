//! The request head (`http::parse_head`): any bytes are answered (a head,
//! "more, please" or a refusal), never a panic; a head takes only bytes it
//! was given, names an origin-form target, and parses the same from just
//! the bytes it took (so what follows, the body, cannot change it).
#![no_main]

mod bounded_alloc;

use auth_server::http::{HeadLimits, parse_head};
use libfuzzer_sys::fuzz_target;

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 8192,
    max_headers: 64,
};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((head, used))) = parse_head(data, LIMITS) else {
        return;
    };
    assert!(used <= data.len());
    assert!(head.path.starts_with('/'), "target {:?}", head.path);
    assert!(!head.method.is_empty());
    assert!(head.headers.len() <= LIMITS.max_headers);
    let Ok(Some((again, used_again))) = parse_head(&data[..used], LIMITS) else {
        panic!("the bytes a head took do not parse alone");
    };
    assert_eq!(used_again, used);
    assert_eq!(
        (&again.method, &again.path, &again.query, &again.headers),
        (&head.method, &head.path, &head.query, &head.headers)
    );
    assert_eq!(again.body_length, head.body_length);
});
