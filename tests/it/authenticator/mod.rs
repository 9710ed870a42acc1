//! A software WebAuthn authenticator, written from the W3C WebAuthn Level 3
//! text: it builds the client data, authenticator data, attestation object
//! and COSE key a browser and a device would, and signs with ES256, EdDSA
//! or RS256 (RustCrypto, as the server verifies). Shared by
//! `tests/passkeys.rs` and `benches/passkeys.rs`; each public field is a
//! knob a test turns to play an attacker (another origin or relying party,
//! a flag off, a counter back).
//!
//! `tests/fixtures/passkey-rsa-2048.pem` is a key made for these tests only.

#![allow(dead_code)]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use auth_core::support::base64::{decode_url, encode_url};

pub const ORIGIN: &str = "http://localhost:5000";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Alg {
    Es256,
    EdDsa,
    Rs256,
}

enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>, Vec<u8>, Vec<u8>),
}

/// One passkey on one device.
pub struct Authenticator {
    key: Key,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub counter: u32,
    /// What the browser writes as the origin, and the RP id the device
    /// hashes: the page's, unless a test plays a phishing site.
    pub origin: String,
    pub rp_id: String,
    /// UP | UV by default.
    pub flags: u8,
    /// The COSE public key to register instead of the device's own (a test
    /// of a key that proves nothing).
    pub cose_key_instead: Option<Vec<u8>>,
}

fn cbor() -> minicbor::Encoder<Vec<u8>> {
    minicbor::Encoder::new(Vec::new())
}

/// An RS256 COSE key of modulus `n` and public exponent `exponent`.
fn rsa_cose(n: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut e = cbor();
    e.map(4).unwrap();
    e.i64(1).unwrap().i64(3).unwrap();
    e.i64(3).unwrap().i64(-257).unwrap();
    e.i64(-1).unwrap().bytes(n).unwrap();
    e.i64(-2).unwrap().bytes(exponent).unwrap();
    e.into_writer()
}

impl Authenticator {
    pub fn new(alg: Alg, seed: u8) -> Authenticator {
        let key = match alg {
            Alg::Es256 => Key::Es256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()),
            Alg::EdDsa => Key::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
            Alg::Rs256 => {
                use rsa::pkcs8::DecodePrivateKey;
                use rsa::traits::PublicKeyParts;
                let private = rsa::PrivateKey::from_pkcs8_pem(include_str!(
                    "../../fixtures/passkey-rsa-2048.pem"
                ))
                .unwrap();
                let n = private.n().to_be_bytes().to_vec();
                let e = private.e().to_be_bytes().to_vec();
                let strip = |v: Vec<u8>| v.into_iter().skip_while(|b| *b == 0).collect();
                Key::Rs256(
                    Box::new(rsa::pkcs1v15::SigningKey::<Sha256>::new(private)),
                    strip(n),
                    strip(e),
                )
            }
        };
        Authenticator {
            key,
            credential_id: vec![seed; 20],
            user_handle: Vec::new(),
            counter: 0,
            origin: ORIGIN.into(),
            rp_id: "localhost".into(),
            flags: 0x01 | 0x04,
            cose_key_instead: None,
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        if let Some(key) = &self.cose_key_instead {
            return key.clone();
        }
        let mut e = cbor();
        match &self.key {
            Key::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                e.map(5).unwrap();
                e.i64(1).unwrap().i64(2).unwrap();
                e.i64(3).unwrap().i64(-7).unwrap();
                e.i64(-1).unwrap().i64(1).unwrap();
                e.i64(-2).unwrap().bytes(&bytes[1..33]).unwrap();
                e.i64(-3).unwrap().bytes(&bytes[33..65]).unwrap();
            }
            Key::EdDsa(key) => {
                e.map(4).unwrap();
                e.i64(1).unwrap().i64(1).unwrap();
                e.i64(3).unwrap().i64(-8).unwrap();
                e.i64(-1).unwrap().i64(6).unwrap();
                e.i64(-2)
                    .unwrap()
                    .bytes(key.verifying_key().as_bytes())
                    .unwrap();
            }
            Key::Rs256(_, n, exponent) => return rsa_cose(n, exponent),
        }
        e.into_writer()
    }

    /// This device's RSA key with another public exponent, as COSE.
    pub fn rsa_key_with_exponent(&self, exponent: &[u8]) -> Vec<u8> {
        let Key::Rs256(_, n, _) = &self.key else {
            panic!("an RSA device")
        };
        rsa_cose(n, exponent)
    }

    /// An Ed25519 COSE key whose point is `x`.
    pub fn ed25519_key(x: &[u8; 32]) -> Vec<u8> {
        let mut e = cbor();
        e.map(4).unwrap();
        e.i64(1).unwrap().i64(1).unwrap();
        e.i64(3).unwrap().i64(-8).unwrap();
        e.i64(-1).unwrap().i64(6).unwrap();
        e.i64(-2).unwrap().bytes(x).unwrap();
        e.into_writer()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match &self.key {
            Key::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Key::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
            Key::Rs256(key, _, _) => {
                use rsa::signature::SignatureEncoding;
                key.sign(message).to_vec()
            }
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    fn authenticator_data(&self, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(self.flags | if attested { 0x40 } else { 0 });
        data.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            data.extend_from_slice(&[0; 16]); // aaguid
            data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(&self.cose_key());
        }
        data
    }

    /// `navigator.credentials.create()`: a RegistrationResponseJSON.
    pub fn create(&mut self, options: &Value) -> Value {
        let public_key = &options["data"]["publicKey"];
        self.user_handle = decode_url(public_key["user"]["id"].as_str().unwrap()).unwrap();
        let client_data =
            self.client_data("webauthn.create", public_key["challenge"].as_str().unwrap());
        let mut attestation = cbor();
        attestation.map(3).unwrap();
        attestation.str("fmt").unwrap().str("none").unwrap();
        attestation.str("attStmt").unwrap().map(0).unwrap();
        attestation
            .str("authData")
            .unwrap()
            .bytes(&self.authenticator_data(true))
            .unwrap();
        let id = encode_url(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "clientDataJSON": encode_url(&client_data),
                "attestationObject": encode_url(&attestation.into_writer()),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get()`: an AuthenticationResponseJSON.
    pub fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let challenge = options["data"]["publicKey"]["challenge"].as_str().unwrap();
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.authenticator_data(false);
        let signed = [&auth_data[..], &Sha256::digest(&client_data)].concat();
        let id = encode_url(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "clientDataJSON": encode_url(&client_data),
                "authenticatorData": encode_url(&auth_data),
                "signature": encode_url(&self.sign(&signed)),
                "userHandle": encode_url(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
