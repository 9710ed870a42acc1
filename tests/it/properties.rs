//! Property tests on the pure parts: whatever the input, nothing panics, and
//! valid inputs come back out as they went in.

use std::net::IpAddr;

use auth_core::auth::token::Token;
use auth_core::auth::validation;
use auth_server::api::cookies::session_tokens;
use auth_server::api::cors::{Cors, Origin};
use auth_server::api::fields::Fields;
use auth_server::api::router::{self, ROUTES, Resolved};
use auth_server::api::{client_ip, error::ApiError};
use auth_server::http::Request;
use proptest::prelude::*;

fn request_with(headers: Vec<(String, Vec<u8>)>) -> Request {
    Request::new("POST", "/api/login", headers)
}

fn token_text() -> impl Strategy<Value = String> {
    proptest::array::uniform32(any::<u8>()).prop_map(|bytes| {
        // Encode through the public API: a token is 32 bytes in base64url.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = String::new();
        for b in bytes {
            bits = bits << 8 | u32::from(b);
            count += 8;
            while count >= 6 {
                count -= 6;
                out.push(alphabet[(bits >> count & 63) as usize] as char);
            }
            bits &= (1 << count) - 1;
        }
        out.push(alphabet[(bits << (6 - count) & 63) as usize] as char);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(mut fields) = Fields::parse(&bytes) {
            let username = fields.required_string("username");
            fields.optional_bool("remember");
            let _ = fields.finish(&["username", "remember"], username);
        }
    }

    #[test]
    fn valid_string_fields_round_trip(
        values in proptest::collection::btree_map("[a-z_]{1,10}", "\\PC{0,30}", 1..6)
    ) {
        let body = serde_json::to_vec(&values).unwrap();
        let mut fields = Fields::parse(&body).unwrap();
        for (key, value) in &values {
            let read = fields.required_string(key);
            prop_assert_eq!(read.as_ref(), Some(value));
        }
        let known: Vec<&str> = values.keys().map(String::as_str).collect();
        prop_assert!(fields.finish(&known, Some(())).is_ok());
    }

    #[test]
    fn field_rules_never_panic(text in "\\PC{0,80}", min in 8usize..64) {
        let _ = validation::check_username(&text);
        let _ = validation::normalize_email(&text);
        let policy = validation::PasswordPolicy { min_chars: min, site_name: &text };
        let _ = validation::check_new_password(&text, policy, &text, &text);
    }

    #[test]
    fn cookie_headers_never_panic(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        let headers = values.into_iter().map(|v| ("cookie".to_string(), v)).collect();
        let _ = session_tokens(&request_with(headers));
    }

    #[test]
    fn a_token_is_found_among_other_cookies(
        token in token_text(),
        before in proptest::collection::vec("[a-z]{1,6}=[a-zA-Z0-9]{0,10}", 0..4),
        after in proptest::collection::vec("[a-z]{1,6}=[a-zA-Z0-9]{0,10}", 0..4),
    ) {
        let mut pairs = before.clone();
        pairs.push(format!("sid={token}"));
        pairs.extend(after);
        let header = pairs.join("; ");
        let found = session_tokens(&request_with(vec![("cookie".into(), header.into_bytes())]));
        let expected = Token::decode(&token).unwrap();
        prop_assert!(found.contains(&expected));
        prop_assert_eq!(expected.encode(), token);
    }

    #[test]
    fn origins_match_exactly(allowed in "https?://[a-z]{1,10}(\\.[a-z]{2,5})?(:[0-9]{1,5})?", sent in proptest::collection::vec(any::<u8>(), 0..60)) {
        let cors = Cors::new(vec![allowed.clone()], None);
        let origin = cors.origin(&request_with(vec![("origin".into(), sent.clone())]));
        prop_assert_eq!(origin == Origin::Allowed(allowed.clone()), sent == allowed.as_bytes());
        let exact = cors.origin(&request_with(vec![("origin".into(), allowed.clone().into_bytes())]));
        prop_assert_eq!(exact, Origin::Allowed(allowed));
    }

    #[test]
    fn forwarded_for_never_panics_and_keeps_the_rightmost(
        junk in proptest::collection::vec(any::<u8>(), 0..80),
        address in any::<IpAddr>(),
    ) {
        let _ = client_ip::rightmost_forwarded([junk.as_slice()].into_iter());
        let mut header = junk.clone();
        header.extend_from_slice(format!(",{address}").as_bytes());
        prop_assert_eq!(client_ip::rightmost_forwarded([header.as_slice()].into_iter()), Some(address));
    }

    #[test]
    fn the_router_never_panics(method in "[A-Z]{0,8}", path in "(/[a-z{}.-]{0,12}){0,5}") {
        match router::resolve(&method, &path) {
            Ok(Resolved::Route(..)) => prop_assert!(ROUTES.iter().any(|r| r.path.split('/').count() == path.split('/').count())),
            Ok(Resolved::Options(allow)) => prop_assert!(allow.ends_with("OPTIONS")),
            Err(ApiError::NotFound) | Err(ApiError::MethodNotAllowed(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

#[test]
fn every_route_resolves_to_itself() {
    for route in ROUTES {
        let concrete: Vec<&str> = route
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "abc" } else { s })
            .collect();
        let concrete = concrete.join("/");
        let method = if route.method == "*" {
            "PUT"
        } else {
            route.method
        };
        let Ok(Resolved::Route(reached, parameter)) = router::resolve(method, &concrete) else {
            panic!("{} {} reaches nothing", route.method, route.path);
        };
        assert!(
            std::ptr::eq(reached, route),
            "{} {}",
            route.method,
            route.path
        );
        assert_eq!(parameter, route.path.contains('{').then_some("abc"));
    }
}
