//! Form bodies and queries (`support::form::parse`) and the OAuth requests
//! read from them (`AuthorizationRequest`, `TokenRequest`): any text is a
//! map or refused, never a panic; a map prints and parses back the same
//! (so one request cannot mean two things to two readers), and the typed
//! requests read any map.
#![no_main]

mod bounded_alloc;

use auth_core::accounts::oidc::{AuthorizationRequest, TokenRequest};
use auth_core::support::form;
use auth_core::support::text::percent_encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(params) = form::parse(text) else {
        return;
    };
    let printed: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect();
    assert_eq!(
        form::parse(&printed.join("&")).as_ref(),
        Some(&params),
        "{text:?}"
    );
    let request = AuthorizationRequest::read(&params);
    assert_eq!(request.client_id.as_ref(), params.get("client_id"));
    // A scope prints only names the server knows.
    for name in request
        .scope
        .to_string()
        .split(' ')
        .filter(|n| !n.is_empty())
    {
        assert!(request.scope.contains(name));
    }
    if let Ok(token) = TokenRequest::read(&params) {
        let grant = params.get("grant_type").map(String::as_str);
        match token {
            TokenRequest::AuthorizationCode { code, .. } => {
                assert_eq!(grant, Some("authorization_code"));
                assert_eq!(Some(&code), params.get("code"));
            }
            TokenRequest::RefreshToken { refresh_token } => {
                assert_eq!(grant, Some("refresh_token"));
                assert_eq!(Some(&refresh_token), params.get("refresh_token"));
            }
        }
    }
});
