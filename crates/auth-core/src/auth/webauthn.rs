//! Passkeys: the relying party's checks of a WebAuthn ceremony (W3C Web
//! Authentication Level 3, §7.1 "Registering a New Credential" and §7.2
//! "Verifying an Authentication Assertion"), written out step by step.
//!
//! A passkey is a key pair kept by the person's device; the server stores
//! the public half. Signing in, the device signs the server's one-time
//! challenge together with the page's origin (which the browser writes, not
//! the page), so a look-alike site gets a signature it cannot use: that is
//! what makes a passkey unphishable. Everything a ceremony is compared with
//! (the relying party id, the allowed origins) comes from configuration;
//! nothing from the request's `Host` or `Origin` headers.
//!
//! Attestation is not verified: the server asks for `"none"` and accepts
//! any statement format without reading it, the usual choice for passkeys
//! (§5.4.7; an attestation only says which maker built the device, and
//! synced passkeys carry none). This module reads the one JSON the
//! ceremony signs (`clientDataJSON`) and CBOR (`attestationObject`, COSE
//! keys); it knows nothing of HTTP or storage.

use minicbor::Decoder;
use minicbor::data::Type;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::support::base64;

/// COSE algorithm numbers (IANA "COSE Algorithms"): what the server offers,
/// in order of preference.
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;
pub const RS256: i64 = -257;
pub const ALGORITHMS: [i64; 3] = [ES256, EDDSA, RS256];

/// A challenge's size: 32 random bytes (§13.4.3 asks for at least 16).
pub const CHALLENGE_BYTES: usize = 32;
/// The longest credential id a device may use (§5.1 `rawId`, "at most 1023
/// bytes").
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
/// RSA keys from 2048 bits (NIST SP 800-57) to 4096 (what devices use; a
/// larger one only makes each check slower).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// Flags of the authenticator data (§6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_DATA: u8 = 0x40;
const EXTENSION_DATA: u8 = 0x80;

/// Who the server is to a device: the relying party id (whose SHA-256 every
/// signed authenticator data starts with) and the origins a ceremony may
/// come from.
#[derive(Clone, Debug)]
pub struct RelyingParty {
    pub id: String,
    pub origins: Vec<String>,
}

/// Which check a ceremony failed. The registration answer names it (the
/// person is signed in, and a developer setting up `PASSKEY_ORIGINS` needs
/// to know); a sign-in answers one message for all, like a wrong password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A part that does not parse: which.
    Malformed(&'static str),
    WrongType,
    /// Not a challenge this server issued, or used, or expired.
    UnknownChallenge,
    /// From a frame of another site (`crossOrigin`): refused.
    CrossOrigin,
    WrongOrigin,
    WrongRelyingParty,
    UserNotPresent,
    UserNotVerified,
    /// A key type or algorithm the server did not offer.
    UnsupportedAlgorithm,
    /// A credential id that differs from the one in the signed data.
    CredentialMismatch,
    /// A signature that does not verify.
    BadSignature,
    /// A public key that parses but proves nothing: RSA with a public
    /// exponent below 65537, an Ed25519 point of small order (for which
    /// signatures can be forged without the private key).
    WeakKey,
}

impl Failure {
    pub fn message(self) -> &'static str {
        match self {
            Failure::Malformed("clientDataJSON") => "The client data is not valid.",
            Failure::Malformed("attestationObject") => "The attestation object is not valid.",
            Failure::Malformed("authenticatorData") => "The authenticator data is not valid.",
            Failure::Malformed("publicKey") => "The credential's public key is not valid.",
            Failure::Malformed(_) => "The credential is not valid.",
            Failure::WeakKey => "The credential's public key is too weak to trust.",
            Failure::WrongType => "The ceremony type is wrong.",
            Failure::UnknownChallenge => {
                "The challenge was not issued to this session, was used, or expired: start again."
            }
            Failure::CrossOrigin => "A passkey cannot be used from a frame of another site.",
            Failure::WrongOrigin => "The page's origin is not one of PASSKEY_ORIGINS.",
            Failure::WrongRelyingParty => "The credential is for another relying party id.",
            Failure::UserNotPresent => "The authenticator did not confirm the user was present.",
            Failure::UserNotVerified => "The authenticator did not verify the user.",
            Failure::UnsupportedAlgorithm => "The key's algorithm is not one offered.",
            Failure::CredentialMismatch => "The credential id does not match its signed data.",
            Failure::BadSignature => "The signature does not verify.",
        }
    }
}

/// The client data the browser wrote and the device signed (§5.8.1).
#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    ceremony: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: bool,
}

/// The challenge a response answers, read before anything is checked so
/// the caller can look it up (and spend it) first.
pub fn challenge_of(client_data_json: &[u8]) -> Result<Vec<u8>, Failure> {
    let data: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| Failure::Malformed("clientDataJSON"))?;
    base64::decode_url(&data.challenge).ok_or(Failure::Malformed("clientDataJSON"))
}

/// §7.1 steps 7–12 and §7.2 steps 10–15: the type, the challenge, the origin
/// (exactly one of the configured ones; no subdomain is implied).
fn check_client_data(
    client_data_json: &[u8],
    ceremony: &str,
    challenge: &[u8],
    rp: &RelyingParty,
) -> Result<(), Failure> {
    let data: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| Failure::Malformed("clientDataJSON"))?;
    if data.ceremony != ceremony {
        return Err(Failure::WrongType);
    }
    if base64::decode_url(&data.challenge).as_deref() != Some(challenge) {
        return Err(Failure::UnknownChallenge);
    }
    if !rp.origins.contains(&data.origin) {
        return Err(Failure::WrongOrigin);
    }
    if data.cross_origin {
        return Err(Failure::CrossOrigin);
    }
    Ok(())
}

/// The authenticator data (§6.1): rpIdHash, flags, signCount, then for a
/// new credential its id and public key.
struct AuthenticatorData<'a> {
    rp_id_hash: &'a [u8],
    flags: u8,
    sign_count: u32,
    /// Present when the AT flag is set.
    credential: Option<(&'a [u8], &'a [u8])>,
}

fn parse_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData<'_>, Failure> {
    let bad = Failure::Malformed("authenticatorData");
    if bytes.len() < 37 {
        return Err(bad);
    }
    let (rp_id_hash, flags) = (&bytes[..32], bytes[32]);
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    let mut rest = &bytes[37..];
    let mut credential = None;
    if flags & ATTESTED_DATA != 0 {
        // aaguid (16), credentialIdLength (2), credentialId, credentialPublicKey.
        if rest.len() < 18 {
            return Err(bad);
        }
        let id_length = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if id_length > MAX_CREDENTIAL_ID_BYTES || rest.len() < 18 + id_length {
            return Err(bad);
        }
        let id = &rest[18..18 + id_length];
        let after_id = &rest[18 + id_length..];
        let key_length = cbor_item_length(after_id).ok_or(Failure::Malformed("publicKey"))?;
        credential = Some((id, &after_id[..key_length]));
        rest = &after_id[key_length..];
    }
    if flags & EXTENSION_DATA != 0 {
        let length = cbor_item_length(rest).ok_or(bad)?;
        rest = &rest[length..];
    }
    // Nothing may follow (§6.1: the length is exactly what the flags say).
    if !rest.is_empty() {
        return Err(bad);
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count,
        credential,
    })
}

/// How many bytes the one CBOR item at the start of `bytes` takes.
fn cbor_item_length(bytes: &[u8]) -> Option<usize> {
    let mut decoder = Decoder::new(bytes);
    decoder.skip().ok()?;
    Some(decoder.position())
}

/// §7.1 steps 13–17 and §7.2 steps 15–17: the flags and the relying party.
/// User verification is always required: a passkey stands for a password
/// and a second factor at once (NIST SP 800-63B §5.1.8, multi-factor
/// cryptographic authenticators).
fn check_authenticator_data(data: &AuthenticatorData, rp: &RelyingParty) -> Result<(), Failure> {
    if data.rp_id_hash != Sha256::digest(rp.id.as_bytes()).as_slice() {
        return Err(Failure::WrongRelyingParty);
    }
    if data.flags & USER_PRESENT == 0 {
        return Err(Failure::UserNotPresent);
    }
    if data.flags & USER_VERIFIED == 0 {
        return Err(Failure::UserNotVerified);
    }
    // §6.1: backed up (BS) without backup-eligible (BE) is invalid.
    if data.flags & BACKED_UP != 0 && data.flags & BACKUP_ELIGIBLE == 0 {
        return Err(Failure::Malformed("authenticatorData"));
    }
    Ok(())
}

/// A credential public key, decoded from its COSE form (RFC 9052 §7,
/// RFC 9053 §2 and §7; RFC 8230 for RSA).
pub enum PublicKey {
    /// The point as SEC1's uncompressed 04 ‖ x ‖ y, checked to be on the
    /// curve when decoded.
    Es256([u8; 65]),
    /// The point's 32-byte encoding (RFC 8032 §5.1.2).
    EdDsa([u8; 32]),
    /// The modulus and exponent, big-endian without leading zeros, their
    /// sizes checked when decoded.
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

/// The encodings of Ed25519's small-order points, sign bit cleared (as
/// libsodium's blocklist has them): the eight torsion points' y, and the
/// two non-canonical ones (p and p + 1, read as 0 and 1).
const SMALL_ORDER: [[u8; 32]; 7] = {
    let mut ff = [0xffu8; 32];
    ff[31] = 0x7f;
    let (mut p_minus_1, mut p, mut p_plus_1) = (ff, ff, ff);
    p_minus_1[0] = 0xec;
    p[0] = 0xed;
    p_plus_1[0] = 0xee;
    let mut one = [0u8; 32];
    one[0] = 1;
    [
        [0; 32],
        one,
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        p_minus_1,
        p,
        p_plus_1,
    ]
};

/// Whether an Ed25519 public key is a point of small order, either sign.
fn small_order(x: &[u8; 32]) -> bool {
    let mut y = *x;
    y[31] &= 0x7f;
    SMALL_ORDER.contains(&y)
}

/// The COSE key labels used here.
const KTY: i64 = 1;
const ALG: i64 = 3;
const CRV_OR_N: i64 = -1;
const X_OR_E: i64 = -2;
const Y: i64 = -3;

impl PublicKey {
    /// Decodes a COSE key: EC2 on P-256 with ES256, OKP on Ed25519 with
    /// EdDSA, or RSA with RS256; anything else is unsupported.
    pub fn from_cose(bytes: &[u8]) -> Result<PublicKey, Failure> {
        let bad = Failure::Malformed("publicKey");
        let mut decoder = Decoder::new(bytes);
        let entries = decoder.map().map_err(|_| bad)?.ok_or(bad)?;
        let (mut kty, mut alg, mut crv) = (None, None, None);
        let mut first: Option<&[u8]> = None;
        let mut second: Option<&[u8]> = None;
        let mut y: Option<&[u8]> = None;
        for _ in 0..entries {
            let label = decoder.i64().map_err(|_| bad)?;
            match (label, decoder.datatype().map_err(|_| bad)?) {
                (KTY, _) => kty = Some(decoder.i64().map_err(|_| bad)?),
                (ALG, _) => alg = Some(decoder.i64().map_err(|_| bad)?),
                // -1 is the curve of an EC2/OKP key, n of an RSA key.
                (CRV_OR_N, Type::Bytes) => first = Some(decoder.bytes().map_err(|_| bad)?),
                (CRV_OR_N, _) => crv = Some(decoder.i64().map_err(|_| bad)?),
                (X_OR_E, _) => second = Some(decoder.bytes().map_err(|_| bad)?),
                (Y, _) => y = Some(decoder.bytes().map_err(|_| bad)?),
                _ => decoder.skip().map_err(|_| bad)?,
            }
        }
        if decoder.position() != bytes.len() {
            return Err(bad);
        }
        match (kty, alg, crv) {
            // EC2, ES256, P-256: the point as SEC1 uncompressed 04 ‖ x ‖ y.
            (Some(2), Some(ES256), Some(1)) => {
                let (Some(x), Some(y)) = (second, y) else {
                    return Err(bad);
                };
                PublicKey::es256(x, y).ok_or(bad)
            }
            // OKP, EdDSA, Ed25519.
            (Some(1), Some(EDDSA), Some(6)) => {
                let x: [u8; 32] = second.and_then(|x| x.try_into().ok()).ok_or(bad)?;
                // A small-order point verifies signatures anyone can make
                // (RFC 8032 §5.1.7 leaves it to the verifier).
                if small_order(&x) {
                    return Err(Failure::WeakKey);
                }
                Ok(PublicKey::EdDsa(x))
            }
            // RSA, RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
            (Some(3), Some(RS256), None) => {
                let (Some(n), Some(e)) = (first, second) else {
                    return Err(bad);
                };
                PublicKey::rs256(n, e)
            }
            _ => Err(Failure::UnsupportedAlgorithm),
        }
    }

    /// A P-256 point from its coordinates (32 bytes each), as SEC1's
    /// uncompressed 04 ‖ x ‖ y; `None` off the curve.
    pub fn es256(x: &[u8], y: &[u8]) -> Option<PublicKey> {
        if x.len() != 32 || y.len() != 32 {
            return None;
        }
        let mut point = [0x04; 65];
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
            .ok()
            .map(|_| PublicKey::Es256(point))
    }

    /// An RSA key from its modulus and exponent (big-endian bytes).
    pub fn rs256(n: &[u8], e: &[u8]) -> Result<PublicKey, Failure> {
        // FIPS 186-5 Appendix A.1.1: 2^16 < e; a smaller exponent (3 above
        // all) has a history of forgeable signatures.
        let e_value = e
            .iter()
            .skip_while(|b| **b == 0)
            .try_fold(0u64, |value, b| {
                value.checked_mul(256).map(|v| v + u64::from(*b))
            });
        if e_value.is_none_or(|e| e < 65_537) {
            return Err(Failure::WeakKey);
        }
        let trimmed = |bytes: &[u8]| {
            bytes
                .iter()
                .skip_while(|b| **b == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        let (n, e) = (trimmed(n), trimmed(e));
        // 2048 to 4096 bits, odd; ring checks the rest when it verifies
        // (no second big-number set-up here: keys are decoded at every
        // sign-in).
        let bits = n.len() * 8 - n.first().map_or(8, |top| top.leading_zeros() as usize);
        if !RSA_BITS.contains(&bits) || n.last().is_none_or(|low| low & 1 == 0) {
            return Err(Failure::Malformed("publicKey"));
        }
        Ok(PublicKey::Rs256 { n, e })
    }

    /// Whether `signature` is this key's over `message` in a JWS, where an
    /// ECDSA signature is r ‖ s, 64 bytes (RFC 7518 §3.4), not DER.
    pub fn verifies_jws(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Es256(point) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .verify(message, signature)
            .is_ok(),
            PublicKey::EdDsa(_) | PublicKey::Rs256 { .. } => self.verifies(message, signature),
        }
    }

    pub fn algorithm(&self) -> i64 {
        match self {
            PublicKey::Es256(_) => ES256,
            PublicKey::EdDsa(_) => EDDSA,
            PublicKey::Rs256 { .. } => RS256,
        }
    }

    /// Whether `signature` is this key's over `message` (§6.3.3: ECDSA
    /// signatures are ASN.1 DER; Ed25519 and RSA are raw). Checked with
    /// ring, the TLS stack's primitives: assembly, a few times faster than
    /// the pure-Rust crates that decode the keys.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Es256(point) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                point,
            )
            .verify(message, signature)
            .is_ok(),
            // ring's Ed25519 (the one TLS already uses): S must be below
            // the group order, so a signature has one form (RFC 8032
            // §5.1.7); a key that is no point fails here, at its first use.
            PublicKey::EdDsa(key) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::Rs256 { n, e } => ring::signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    signature,
                )
                .is_ok(),
        }
    }
}

/// A registration response, decoded from its JSON (base64url) form.
pub struct Registration {
    /// `rawId`.
    pub credential_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
}

/// A checked new credential: what the server stores.
#[derive(Debug)]
pub struct NewCredential {
    pub id: Vec<u8>,
    /// The COSE key exactly as the device sent it.
    pub public_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    /// Synced to other devices (a passkey in a password manager).
    pub backed_up: bool,
}

/// §7.1: checks a registration response against the challenge the server
/// issued for it.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &[u8],
    response: &Registration,
) -> Result<NewCredential, Failure> {
    check_client_data(&response.client_data_json, "webauthn.create", challenge, rp)?;
    let auth_data = auth_data_of_attestation(&response.attestation_object)?;
    let data = parse_authenticator_data(&auth_data)?;
    check_authenticator_data(&data, rp)?;
    let Some((id, public_key)) = data.credential else {
        return Err(Failure::Malformed("authenticatorData"));
    };
    if id != response.credential_id.as_slice() {
        return Err(Failure::CredentialMismatch);
    }
    let key = PublicKey::from_cose(public_key)?;
    Ok(NewCredential {
        id: id.to_vec(),
        public_key: public_key.to_vec(),
        algorithm: key.algorithm(),
        sign_count: data.sign_count,
        backed_up: data.flags & BACKED_UP != 0,
    })
}

/// The `authData` of an attestation object (`{fmt, attStmt, authData}`,
/// §6.5); `fmt` and `attStmt` are read past, not verified (see above).
fn auth_data_of_attestation(attestation_object: &[u8]) -> Result<Vec<u8>, Failure> {
    let bad = Failure::Malformed("attestationObject");
    let mut decoder = Decoder::new(attestation_object);
    let entries = decoder.map().map_err(|_| bad)?.ok_or(bad)?;
    let mut auth_data = None;
    for _ in 0..entries {
        match decoder.str().map_err(|_| bad)? {
            "authData" => auth_data = Some(decoder.bytes().map_err(|_| bad)?.to_vec()),
            _ => decoder.skip().map_err(|_| bad)?,
        }
    }
    if decoder.position() != attestation_object.len() {
        return Err(bad);
    }
    auth_data.ok_or(bad)
}

/// An authentication response, decoded from its JSON (base64url) form.
pub struct Assertion {
    /// `rawId`.
    pub credential_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    /// The account's handle; a discoverable credential always sends it.
    pub user_handle: Option<Vec<u8>>,
}

/// What a good assertion tells.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub sign_count: u32,
    pub backed_up: bool,
}

/// §7.2: checks an assertion against the challenge and the stored COSE
/// key. The signature covers `authenticatorData ‖ SHA-256(clientDataJSON)`.
/// The sign counter is the caller's to compare ([`counter_regressed`]).
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &[u8],
    stored_key: &[u8],
    assertion: &Assertion,
) -> Result<Verified, Failure> {
    check_client_data(&assertion.client_data_json, "webauthn.get", challenge, rp)?;
    let data = parse_authenticator_data(&assertion.authenticator_data)?;
    check_authenticator_data(&data, rp)?;
    let key = PublicKey::from_cose(stored_key)?;
    let message = [
        &assertion.authenticator_data[..],
        Sha256::digest(&assertion.client_data_json).as_slice(),
    ]
    .concat();
    if !key.verifies(&message, &assertion.signature) {
        return Err(Failure::BadSignature);
    }
    Ok(Verified {
        sign_count: data.sign_count,
        backed_up: data.flags & BACKED_UP != 0,
    })
}

/// §6.1.1: a counter that should have grown and did not hints at a cloned
/// device. Devices that keep no counter send 0 every time, which is fine.
pub fn counter_regressed(stored: u32, received: u32) -> bool {
    (stored != 0 || received != 0) && received <= stored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        base64::decode_url(text).unwrap()
    }

    fn localhost() -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            origins: vec!["https://foo.bar".into(), "http://localhost:5000".into()],
        }
    }

    // Vectors from py_webauthn's test suite (duo-labs/py_webauthn,
    // tests/test_verify_registration_response.py and
    // tests/test_verify_authentication_response.py): responses recorded
    // from real browsers and devices.

    #[test]
    fn a_none_attestation_from_a_browser_registers() {
        let response = Registration {
            credential_id: b64(
                "9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w",
            ),
            client_data_json: b64(
                "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiVHdON240V1R5R0tMYzRaWS1xR3NGcUtuSE00bmdscXN5VjBJQ0psTjJUTzlYaVJ5RnRya2FEd1V2c3FsLWdrTEpYUDZmbkYxTWxyWjUzTW00UjdDdnciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            ),
            attestation_object: b64(
                "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVjESZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAFwAAAAAAAAAAAAAAAAAAAAAAQPctcQPE5oNRRJk_nO_371mf7qE7qIodzr0eOf6ACvnMB1oQG165dqutoi1U44shGezu5_gkTjmOPeJO0N8a7P-lAQIDJiABIVggSFbUJF-42Ug3pdM8rDRFu_N5oiVEysPDB6n66r_7dZAiWCDUVnB39FlGypL-qAoIO9xWHtJygo2jfDmHl-_eKFRLDA",
            ),
        };
        let challenge = b64(
            "TwN7n4WTyGKLc4ZY-qGsFqKnHM4nglqsyV0ICJlN2TO9XiRyFtrkaDwUvsql-gkLJXP6fnF1MlrZ53Mm4R7Cvw",
        );
        let credential = verify_registration(&localhost(), &challenge, &response).unwrap();
        assert_eq!(credential.id, response.credential_id);
        assert_eq!(
            credential.public_key,
            b64(
                "pQECAyYgASFYIEhW1CRfuNlIN6XTPKw0RbvzeaIlRMrDwwep-uq_-3WQIlgg1FZwd_RZRsqS_qgKCDvcVh7ScoKNo3w5h5fv3ihUSww"
            )
        );
        assert_eq!((credential.algorithm, credential.sign_count), (ES256, 23));
        assert_eq!(challenge_of(&response.client_data_json).unwrap(), challenge);

        // The same response against another configuration.
        let elsewhere = RelyingParty {
            id: "example.com".into(),
            ..localhost()
        };
        assert_eq!(
            verify_registration(&elsewhere, &challenge, &response).unwrap_err(),
            Failure::WrongRelyingParty
        );
        let other_origin = RelyingParty {
            origins: vec!["http://localhost:5001".into()],
            ..localhost()
        };
        assert_eq!(
            verify_registration(&other_origin, &challenge, &response).unwrap_err(),
            Failure::WrongOrigin
        );
        assert_eq!(
            verify_registration(&localhost(), &[0; 32], &response).unwrap_err(),
            Failure::UnknownChallenge
        );
    }

    #[test]
    fn a_packed_attestation_is_accepted_without_reading_its_statement() {
        let response = Registration {
            credential_id: b64(
                "syGQPDZRUYdb4m3rdWeyPaIMYlbmydGp1TP_33vE_lqJ3PHNyTd0iKsnKr5WjnCcBzcesZrDEfB_RBLFzU3k4w",
            ),
            client_data_json: b64(
                "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiOExCQ2lPWTNxMWNCWkhGQVd0UzRBWlpDaHpHcGh5NjdsSzdJNzB6S2k0eUM3cGdyUTJQY2g3bkFqTGsxd3E5Z3Jlc2hJQXNXMkFqaWJoWGpqSTBUbVEiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            ),
            attestation_object: b64(
                "o2NmbXRmcGFja2VkZ2F0dFN0bXSjY2FsZyZjc2lnWEcwRQIhAOfrFlQpbavT6dJeTDJSCDzYSYPjBDHli2-syT2c1IiKAiAx5gQ2z5cHjdQX-jEHTb7JcjfQoVSW8fXszF5ihSgeOGN4NWOBWQLBMIICvTCCAaWgAwIBAgIEKudiYzANBgkqhkiG9w0BAQsFADAuMSwwKgYDVQQDEyNZdWJpY28gVTJGIFJvb3QgQ0EgU2VyaWFsIDQ1NzIwMDYzMTAgFw0xNDA4MDEwMDAwMDBaGA8yMDUwMDkwNDAwMDAwMFowbjELMAkGA1UEBhMCU0UxEjAQBgNVBAoMCVl1YmljbyBBQjEiMCAGA1UECwwZQXV0aGVudGljYXRvciBBdHRlc3RhdGlvbjEnMCUGA1UEAwweWXViaWNvIFUyRiBFRSBTZXJpYWwgNzE5ODA3MDc1MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKgOGXmBD2Z4R_xCqJVRXhL8Jr45rHjsyFykhb1USGozZENOZ3cdovf5Ke8fj2rxi5tJGn_VnW4_6iQzKdIaeP6NsMGowIgYJKwYBBAGCxAoCBBUxLjMuNi4xLjQuMS40MTQ4Mi4xLjEwEwYLKwYBBAGC5RwCAQEEBAMCBDAwIQYLKwYBBAGC5RwBAQQEEgQQbUS6m_bsLkm5MAyP6SDLczAMBgNVHRMBAf8EAjAAMA0GCSqGSIb3DQEBCwUAA4IBAQByV9A83MPhFWmEkNb4DvlbUwcjc9nmRzJjKxHc3HeK7GvVkm0H4XucVDB4jeMvTke0WHb_jFUiApvpOHh5VyMx5ydwFoKKcRs5x0_WwSWL0eTZ5WbVcHkDR9pSNcA_D_5AsUKOBcbpF5nkdVRxaQHuuIuwV4k1iK2IqtMNcU8vL6w21U261xCcWwJ6sMq4zzVO8QCKCQhsoIaWrwz828GDmPzfAjFsJiLJXuYivdHACkeJ5KHMt0mjVLpfJ2BCML7_rgbmvwL7wBW80VHfNdcKmKjkLcpEiPzwcQQhiN_qHV90t-p4iyr5xRSpurlP5zic2hlRkLKxMH2_kRjhqSn4aGF1dGhEYXRhWMRJlg3liA6MaHQ0Fw9kdmBbj-SuuaKGMseZXPO6gx2XY0UAAAA0bUS6m_bsLkm5MAyP6SDLcwBAsyGQPDZRUYdb4m3rdWeyPaIMYlbmydGp1TP_33vE_lqJ3PHNyTd0iKsnKr5WjnCcBzcesZrDEfB_RBLFzU3k46UBAgMmIAEhWCBAX_i3O3DvBnkGq_uLNk_PeAX5WwO_MIxBp0mhX6Lw7yJYIOW-1-Fch829McWvRUYAHTWZTx5IycKSGECL1UzUaK_8",
            ),
        };
        let challenge = b64(
            "8LBCiOY3q1cBZHFAWtS4AZZChzGphy67lK7I70zKi4yC7pgrQ2Pch7nAjLk1wq9greshIAsW2AjibhXjjI0TmQ",
        );
        let credential = verify_registration(&localhost(), &challenge, &response).unwrap();
        assert_eq!(credential.sign_count, 52);
    }

    fn assertion(id: &str, client_data: &str, auth_data: &str, signature: &str) -> Assertion {
        Assertion {
            credential_id: b64(id),
            client_data_json: b64(client_data),
            authenticator_data: b64(auth_data),
            signature: b64(signature),
            user_handle: None,
        }
    }

    #[test]
    fn an_rs256_assertion_verifies_and_a_changed_byte_does_not() {
        let key = b64(
            "pAEDAzkBACBZAQDfV20epzvQP-HtcdDpX-cGzdOxy73WQEvsU7Dnr9UWJophEfpngouvgnRLXaEUn_d8HGkp_HIx8rrpkx4BVs6X_B6ZjhLlezjIdJbLbVeb92BaEsmNn1HW2N9Xj2QM8cH-yx28_vCjf82ahQ9gyAr552Bn96G22n8jqFRQKdVpO-f-bvpvaP3IQ9F5LCX7CUaxptgbog1SFO6FI6ob5SlVVB00lVXsaYg8cIDZxCkkENkGiFPgwEaZ7995SCbiyCpUJbMqToLMgojPkAhWeyktu7TlK6UBWdJMHc3FPAIs0lH_2_2hKS-mGI1uZAFVAfW1X-mzKL0czUm2P1UlUox7IUMBAAE",
        );
        let mut response = assertion(
            "ZoIKP1JQvKdrYj1bTUPJ2eTUsbLeFkv-X5xJQNr4k6s",
            "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiaVBtQWkxUHAxWEw2b0FncTNQV1p0WlBuWmExekZVRG9HYmFRMF9LdlZHMWxGMnMzUnRfM280dVN6Y2N5MHRtY1RJcFRUVDRCVTFULUk0bWFhdm5kalEiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
            "iOHKX3erU5_OYP_r_9HLZ-CexCE4bQRrxM8WmuoKTDdhAnZSeTP0sjECjvjfeS8MJzN1ArmvV0H0C3yy_FdRFfcpUPZzdZ7bBcmPh1XPdxRwY747OrIzcTLTFQUPdn1U-izCZtP_78VGw9pCpdMsv4CUzZdJbEcRtQuRS03qUjqDaovoJhOqEBmxJn9Wu8tBi_Qx7A33RbYjlfyLm_EDqimzDZhyietyop6XUcpKarKqVH0M6mMrM5zTjp8xf3W7odFCadXEJg-ERZqFM0-9Uup6kJNLbr6C5J4NDYmSm3HCSA6lp2iEiMPKU8Ii7QZ61kybXLxsX4w4Dm3fOLjmDw",
        );
        let challenge = b64(
            "iPmAi1Pp1XL6oAgq3PWZtZPnZa1zFUDoGbaQ0_KvVG1lF2s3Rt_3o4uSzccy0tmcTIpTTT4BU1T-I4maavndjQ",
        );
        assert_eq!(
            verify_assertion(&localhost(), &challenge, &key, &response),
            Ok(Verified {
                sign_count: 1,
                backed_up: false
            })
        );
        response.signature[10] ^= 1;
        assert_eq!(
            verify_assertion(&localhost(), &challenge, &key, &response),
            Err(Failure::BadSignature)
        );
    }

    #[test]
    fn without_user_verification_an_assertion_is_refused() {
        // An ES256 assertion with only the UP flag (py_webauthn's
        // "uv required but false").
        let key = b64(
            "pQECAyYgASFYIOQ5TKpXJR2cV76Wgfge9BkLkEhLxVjhFjM1jKHYOcqpIlggaiNy1blt3OU8Hsmg041HUYP7eajgL7fk3nSuTEjYCwU",
        );
        let response = assertion(
            "4-5MZF69j3n2B6Z99dUN0fNrAQmrjELJIebWVw8aKfw1EQKg28Tx40R_kw-1pcrfSgJFKm3mCtAtBgSRWgDMng",
            "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoidW1HZW1YSklQQlhQeGtEOEhqYW51djlCRG9yOFo3TzNhUGR0T2dNQ2RXNFBBZnFEWDQzRUZsaHJzRjBQVzkwZGY1enJnYnQ3WVZNUkFhMjd0Q2RIenciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAAIQ",
            "MEUCIGp5ADnU_SFvT4J_bKvQJ4Pc1GmANhbYq5GioOLjyUrxAiEA6Kk5qAZb8MLY-jyTiJLr_R9Fke02UHkxsRB0dnZt2X8",
        );
        let challenge = b64(
            "umGemXJIPBXPxkD8Hjanuv9BDor8Z7O3aPdtOgMCdW4PAfqDX43EFlhrsF0PW90df5zrgbt7YVMRAa27tCdHzw",
        );
        assert_eq!(
            verify_assertion(&localhost(), &challenge, &key, &response),
            Err(Failure::UserNotVerified)
        );
        // Its signature itself is good: the flag alone refuses it.
        let message = [
            &response.authenticator_data[..],
            Sha256::digest(&response.client_data_json).as_slice(),
        ]
        .concat();
        assert!(
            PublicKey::from_cose(&key)
                .unwrap()
                .verifies(&message, &response.signature)
        );
    }

    #[test]
    fn an_ed25519_signature_verifies() {
        let key = b64("pAEBAycgBiFYIMz6_SUFLiDid2Yhlq0YboyJ-CDrIrNpkPUGmJp4D3Dp");
        let response = assertion(
            "fq9Nj0nS24B5y6Pkw_h3-9GEAEA3-0LBPxE2zvTdLjDqtSeCSNYFe9VMRueSpAZxT3YDc6L1lWXdQNwI-sVNYrefEcRR1Nsb_0jpHE955WEtFud2xxZg3MvoLMxHLet63i5tajd1fHtP7I-00D6cehM8ZWlLp2T3s9lfZgVIFcA",
            "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiZVo0ZWVBM080ank1Rkl6cURhU0o2SkROR3UwYkJjNXpJMURqUV9rTHNvMVdOcWtHNms1bUNZZjFkdFFoVlVpQldaV2xaa3pSNU1GZWVXQ3BKUlVOWHciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAABw",
            "RRWV8mYDRvK7YdQgdtZD4pJ2dh1D_IWZ_D6jsZo6FHJBoenbj0CVT5nA20vUzlRhN4R6dOEUHmUwP1F8eRBhBg",
        );
        let public_key = PublicKey::from_cose(&key).unwrap();
        assert_eq!(public_key.algorithm(), EDDSA);
        let message = [
            &response.authenticator_data[..],
            Sha256::digest(&response.client_data_json).as_slice(),
        ]
        .concat();
        assert!(public_key.verifies(&message, &response.signature));
        assert!(!public_key.verifies(&message[1..], &response.signature));
    }

    #[test]
    fn counters_that_do_not_grow_are_regressions_unless_both_are_zero() {
        assert!(!counter_regressed(0, 0));
        assert!(!counter_regressed(0, 1));
        assert!(!counter_regressed(5, 6));
        assert!(counter_regressed(5, 5));
        assert!(counter_regressed(5, 4));
        assert!(counter_regressed(5, 0));
    }

    /// A COSE key map of `(label, value)` pairs, integers or byte strings.
    fn cose(entries: &[(i64, Result<i64, &[u8]>)]) -> Vec<u8> {
        let mut encoder = minicbor::Encoder::new(Vec::new());
        encoder.map(entries.len() as u64).unwrap();
        for (label, value) in entries {
            encoder.i64(*label).unwrap();
            match value {
                Ok(number) => encoder.i64(*number).unwrap(),
                Err(bytes) => encoder.bytes(bytes).unwrap(),
            };
        }
        encoder.into_writer()
    }

    #[test]
    fn keys_that_prove_nothing_are_refused() {
        // RSA with e = 3 and with e = 65537 over the same 2048-bit modulus.
        let mut n = vec![0xc5u8; 256];
        n[255] |= 1;
        let rsa = |e: &[u8]| {
            cose(&[
                (KTY, Ok(3)),
                (ALG, Ok(RS256)),
                (CRV_OR_N, Err(&n)),
                (X_OR_E, Err(e)),
            ])
        };
        assert_eq!(
            PublicKey::from_cose(&rsa(&[3])).err(),
            Some(Failure::WeakKey)
        );
        assert_eq!(
            PublicKey::from_cose(&rsa(&[0, 0, 3])).err(),
            Some(Failure::WeakKey)
        );
        assert_eq!(
            PublicKey::from_cose(&rsa(&[0xff, 0xff])).err(),
            Some(Failure::WeakKey)
        );
        assert!(PublicKey::from_cose(&rsa(&[1, 0, 1])).is_ok(), "e = 65537");
        // Ed25519: the identity point (small order) and a real key.
        let ed = |x: &[u8]| {
            cose(&[
                (KTY, Ok(1)),
                (ALG, Ok(EDDSA)),
                (CRV_OR_N, Ok(6)),
                (X_OR_E, Err(x)),
            ])
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_cose(&ed(&identity)).err(),
            Some(Failure::WeakKey)
        );
        let real = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        assert!(PublicKey::from_cose(&ed(real.as_bytes())).is_ok());
    }

    #[test]
    fn the_small_order_list_is_the_eight_torsion_points_either_sign() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for point in EIGHT_TORSION {
            let encoded = point.compress().to_bytes();
            assert!(small_order(&encoded), "{encoded:02x?}");
            let mut other_sign = encoded;
            other_sign[31] ^= 0x80;
            assert!(small_order(&other_sign));
            // And dalek agrees each is weak.
            assert!(ed25519_dalek::VerifyingKey::from_bytes(&encoded).is_ok_and(|k| k.is_weak()));
        }
        let real = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        assert!(!small_order(real.as_bytes()));
    }

    #[test]
    fn odd_bytes_are_malformed_never_a_panic() {
        for bytes in [&b""[..], b"\xa1", b"\xbf\xff", b"\x9f\x9f\x9f", &[0xff; 64]] {
            assert!(PublicKey::from_cose(bytes).is_err());
            assert!(auth_data_of_attestation(bytes).is_err());
            assert!(parse_authenticator_data(bytes).is_err());
        }
        // Claims a credential id longer than the data.
        let mut data = vec![0u8; 37];
        data[32] = ATTESTED_DATA | USER_PRESENT;
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&[0x03, 0xff]);
        assert!(parse_authenticator_data(&data).is_err());
        // A P-256 key whose point is not on the curve.
        let mut cose = b64(
            "pQECAyYgASFYIEhW1CRfuNlIN6XTPKw0RbvzeaIlRMrDwwep-uq_-3WQIlgg1FZwd_RZRsqS_qgKCDvcVh7ScoKNo3w5h5fv3ihUSww",
        );
        let last = cose.len() - 1;
        cose[last] ^= 1;
        assert_eq!(
            PublicKey::from_cose(&cose).err(),
            Some(Failure::Malformed("publicKey"))
        );
    }
}
