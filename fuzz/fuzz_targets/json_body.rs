//! A JSON request body (`api::fields` and the request types): any bytes
//! are a typed request or a clear error (invalid_json, or every field's
//! problem at once), never a panic; what reads as a request holds what its
//! type promises.
#![no_main]

mod bounded_alloc;

use auth_server::api::account::ReauthRequest;
use auth_server::api::auth::{LoginRequest, RegisterRequest};
use auth_server::api::error::ApiError;
use auth_server::api::fields::Body;
use auth_server::api::passkeys::AddPasskeyRequest;
use libfuzzer_sys::fuzz_target;

fn refused_clearly<T>(read: Result<T, ApiError>) -> Option<T> {
    match read {
        Ok(value) => Some(value),
        Err(ApiError::InvalidJson { .. }) => None,
        Err(ApiError::Validation(problems)) => {
            assert!(!problems.is_empty(), "a validation error names a field");
            None
        }
        Err(other) => panic!("a body read as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(login) = refused_clearly(Body::<LoginRequest>::new(data).read()) {
        // A body read without its rules: at least the password is there.
        let _ = login.password;
    }
    let _ = refused_clearly(Body::<RegisterRequest>::new(data).read());
    if let Some(reauth) = refused_clearly(Body::<ReauthRequest>::new(data).read()) {
        let _ = (reauth.password, reauth.code);
    }
    if let Some(add) = refused_clearly(Body::<AddPasskeyRequest>::new(data).read()) {
        assert!(add.credential.0.is_object());
    }
});
