//! COSE keys (`auth::webauthn::PublicKey::from_cose`), as a device sends
//! them at registration and as they are stored: any bytes are a key or a
//! named failure, never a panic; a key that parses is of an offered
//! algorithm and verifies any message and signature without panicking.
#![no_main]

mod bounded_alloc;

use auth_core::auth::webauthn::{ALGORITHMS, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The key's length in the first byte; then the key, then a message
    // and a signature, split at the middle of the rest.
    let Some((&length, rest)) = data.split_first() else {
        return;
    };
    let (key, rest) = rest.split_at(usize::from(length).min(rest.len()));
    let Ok(public) = PublicKey::from_cose(key) else {
        return;
    };
    assert!(ALGORITHMS.contains(&public.algorithm()));
    let (message, signature) = rest.split_at(rest.len() / 2);
    let _ = public.verifies(message, signature);
});
