//! The WebAuthn ceremonies (`auth::webauthn::verify_registration`,
//! `verify_assertion`): the attestation object's CBOR, the authenticator
//! data and its attested credential, the client data JSON. The target
//! writes a client data JSON that passes (the fuzzer could not guess the
//! challenge) and puts this relying party's hash at the head of the
//! authenticator data, so the fuzz reaches every check after them. Any
//! input is a credential or a named failure, never a panic; a credential
//! that passes has a key that parses.
#![no_main]

mod bounded_alloc;

use auth_core::auth::webauthn::{
    Assertion, PublicKey, Registration, RelyingParty, verify_assertion, verify_registration,
};
use auth_core::support::base64::encode_url;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const CHALLENGE: &[u8] = b"a challenge of thirty-two bytes!";
const ORIGIN: &str = "https://example.com";

fn client_data(ceremony: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{ceremony}","challenge":"{}","origin":"{ORIGIN}"}}"#,
        encode_url(CHALLENGE)
    )
    .into_bytes()
}

/// `bytes` with this relying party's id hash in front of it.
fn authenticator_data(bytes: &[u8]) -> Vec<u8> {
    let mut data = Sha256::digest(b"example.com").to_vec();
    data.extend_from_slice(bytes);
    data
}

/// `{"fmt": "none", "attStmt": {}, "authData": …}` in CBOR.
fn attestation_object(auth_data: &[u8]) -> Vec<u8> {
    let mut encoder = minicbor::Encoder::new(Vec::new());
    let written = encoder
        .map(3)
        .and_then(|e| e.str("fmt"))
        .and_then(|e| e.str("none"))
        .and_then(|e| e.str("attStmt"))
        .and_then(|e| e.map(0))
        .and_then(|e| e.str("authData"))
        .and_then(|e| e.bytes(auth_data));
    assert!(written.is_ok());
    encoder.into_writer()
}

fuzz_target!(|data: &[u8]| {
    let rp = RelyingParty {
        id: "example.com".to_string(),
        origins: vec![ORIGIN.to_string()],
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let registration = Registration {
        credential_id: rest.iter().take(16).copied().collect(),
        client_data_json: client_data("webauthn.create"),
        // Raw CBOR from the fuzzer, or authenticator data the target wraps.
        attestation_object: match mode % 3 {
            0 => rest.to_vec(),
            _ => attestation_object(&authenticator_data(rest)),
        },
    };
    if let Ok(credential) = verify_registration(&rp, CHALLENGE, &registration) {
        assert!(PublicKey::from_cose(&credential.public_key).is_ok());
        assert!(!credential.id.is_empty());
    }
    // An assertion: authenticator data, then a stored key and a signature.
    let third = rest.len() / 3;
    let assertion = Assertion {
        credential_id: Vec::new(),
        client_data_json: client_data("webauthn.get"),
        authenticator_data: authenticator_data(&rest[..third]),
        signature: rest[2 * third..].to_vec(),
        user_handle: None,
    };
    let _ = verify_assertion(&rp, CHALLENGE, &rest[third..2 * third], &assertion);
});
