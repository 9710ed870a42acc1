//! What the pipeline reads from headers before any handler: session and
//! ticket cookies (`api::cookies`), the `Origin` (`api::cors`) and the
//! client address (`api::client_ip`). Any bytes in any of them are read
//! or ignored, never a panic; an origin is "allowed" only when it is one
//! the configuration lists, byte for byte.
#![no_main]

mod bounded_alloc;

use auth_server::api::client_ip::{client_ip, rightmost_forwarded};
use auth_server::api::cookies::{session_tokens, ticket};
use auth_server::api::cors::{Cors, Origin};
use auth_server::http::Request;
use libfuzzer_sys::fuzz_target;

const ALLOWED: &str = "https://app.example.com";

fuzz_target!(|data: &[u8]| {
    // The cookie, the origin, the host and X-Forwarded-For, split at 0xFF.
    let mut parts = data.splitn(4, |b| *b == 0xFF);
    let mut headers = Vec::new();
    for name in ["cookie", "origin", "host", "x-forwarded-for"] {
        if let Some(value) = parts.next().filter(|v| !v.is_empty()) {
            headers.push((name.to_string(), value.to_vec()));
        }
    }
    let request = Request::new("POST", "/api/login", headers);
    let _ = session_tokens(&request);
    if let Some(value) = ticket(&request) {
        assert!((1..=256).contains(&value.len()));
    }
    let cors = Cors::new(
        vec![ALLOWED.to_string()],
        Some("https://auth.example.com".to_string()),
    );
    if let Origin::Allowed(origin) = cors.origin(&request) {
        assert_eq!(origin, ALLOWED);
        assert_eq!(request.header("origin"), Some(ALLOWED));
    }
    let _ = client_ip(&request, true);
    let _ = rightmost_forwarded(request.header_values("x-forwarded-for"));
});
