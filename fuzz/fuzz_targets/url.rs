//! URLs and paths (`support::url`, `auth::redirect::approve`): the one
//! parser every redirect, origin and gate decision goes through.
//!
//! - A normalised path normalises to itself, starts with `/`, and has no
//!   `.` or `..` segment, no `//` and no encoded unreserved character.
//! - A URL that parses prints as text that parses to the same URL.
//! - An approved redirect leads a browser (WHATWG's parser, the `url`
//!   crate) to the host this parser approved, one the allowed patterns
//!   name, or nowhere: no input makes the two parsers see different hosts.
#![no_main]

mod bounded_alloc;

use auth_core::auth::redirect::approve;
use auth_core::support::url::{Url, normalize_path};
use libfuzzer_sys::fuzz_target;

fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Whether `path` has a `%XX` that stands for an unreserved character.
fn encodes_unreserved(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && std::str::from_utf8(&w[1..])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .is_some_and(unreserved)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A path as the gate takes it: the query and fragment cut first.
    let raw = text.split(['?', '#']).next().unwrap_or("");
    if let Ok(path) = normalize_path(raw) {
        assert_eq!(
            normalize_path(&path).as_deref(),
            Ok(path.as_str()),
            "{raw:?}"
        );
        assert!(path.starts_with('/'), "{raw:?} → {path:?}");
        assert!(!path.contains("//"), "{raw:?} → {path:?}");
        for segment in path.split('/') {
            assert!(segment != "." && segment != "..", "{raw:?} → {path:?}");
        }
        assert!(!encodes_unreserved(&path), "{raw:?} → {path:?}");
    }
    if let Ok(url) = Url::parse(text) {
        let printed = url.to_string();
        assert_eq!(
            Url::parse(&printed).as_ref(),
            Ok(&url),
            "{text:?} printed {printed:?}"
        );
    }
    let allowed = [
        "*.example.com".to_string(),
        "app.example.org".to_string(),
        "localhost".to_string(),
    ];
    if let Some(approved) = approve(text, &allowed) {
        // WHATWG may refuse what this parser approves: a label such as
        // `xn--cl`, which is not valid IDNA (this server compares hosts as
        // the ASCII a browser sends to DNS, with no Unicode tables). A URL
        // the browser cannot read, it follows nowhere; what must never
        // happen is a browser reaching another host than the one approved.
        let Ok(oracle) = url::Url::parse(text) else {
            return;
        };
        let host = oracle
            .host_str()
            .unwrap_or_else(|| panic!("approved {text:?}, which has no host for WHATWG"));
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ours = approved.authority.host.key();
        let ours = ours.trim_start_matches('[').trim_end_matches(']');
        assert_eq!(
            host, ours,
            "the two parsers see different hosts in {text:?}"
        );
        assert!(
            host == "app.example.org"
                || host == "localhost"
                || (host.ends_with(".example.com") && host.len() > ".example.com".len()),
            "{text:?} approved for {host}"
        );
        assert!(matches!(oracle.scheme(), "https" | "http"));
    }
});
