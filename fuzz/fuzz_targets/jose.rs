//! JWS as this server reads it (`auth::jose::Key::verify`: an ID token
//! hint at logout, upstream ID tokens later): any text is claims or
//! nothing, never a panic; a token verifies only under the key that
//! signed it, and signing then verifying gives the claims back.
#![no_main]

mod bounded_alloc;

use std::sync::OnceLock;

use auth_core::auth::jose::{Alg, Key};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn keys() -> &'static [Key; 2] {
    static KEYS: OnceLock<[Key; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = |alg| Key::generate(alg).expect("a key").0;
        [make(Alg::Es256), make(Alg::Rs256)]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let [es256, rs256] = keys();
    let _ = Alg::parse(text);
    // Nobody's token verifies; and none verifies under both keys.
    let under_es = es256.verify(text);
    let under_rs = rs256.verify(text);
    assert!(under_es.is_none() || under_rs.is_none());
    // Claims as JSON: signed, they verify, and come back as they were
    // written into the token (a float such as 12e30 prints as the nearest
    // shortest decimal, which may read back one bit apart: what verifies
    // is what was signed, byte for byte).
    if let Ok(claims @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
        let written: Value =
            serde_json::from_str(&claims.to_string()).expect("printed JSON parses");
        for key in [es256, rs256] {
            let token = key.sign(&claims);
            assert_eq!(key.verify(&token).as_ref(), Some(&written));
            let other = if std::ptr::eq(key, es256) {
                rs256
            } else {
                es256
            };
            assert!(other.verify(&token).is_none());
        }
    }
});
