//! ID-token signing keys and signatures: JSON Web Signature in compact form
//! (RFC 7515 §7.1), RS256 and ES256 (RFC 7518 §3.3, §3.4), public keys as
//! JSON Web Keys (RFC 7517, RFC 7518 §6). OpenID Connect Discovery 1.0 §3
//! requires every provider to offer RS256; ES256 is smaller and faster.
//!
//! Keys are made here from the operating system's random source and kept
//! by the caller (`storage::oidc`) in a compact form: the two primes of an
//! RSA key (e = 65537), or the 32-byte scalar of a P-256 key.

use p256::ecdsa::signature::Signer;
use rsa::BoxedUint;
use rsa::signature::SignatureEncoding;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::base64::{decode_url, encode_url};

/// RSA keys are 2048 bits (NIST SP 800-57 Part 1 Table 2: 112-bit strength).
pub const RSA_BITS: usize = 2048;
const RSA_E: u32 = 65_537;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    pub fn parse(text: &str) -> Option<Alg> {
        match text {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

enum Secret {
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Es256(p256::ecdsa::SigningKey),
}

/// A signing key with its key id.
pub struct Key {
    pub kid: String,
    secret: Secret,
    /// The same key in ring, which signs with assembly in constant time:
    /// an RS256 signature costs about a third of the pure-Rust one. `None`
    /// only if ring refused the key, and then `secret` signs.
    fast: Option<FastSigner>,
}

enum FastSigner {
    Rs256(ring::rsa::KeyPair),
    Es256(ring::signature::EcdsaKeyPair),
}

impl FastSigner {
    fn of(secret: &Secret) -> Option<FastSigner> {
        match secret {
            Secret::Rs256(key) => {
                let private: &rsa::PrivateKey = key.as_ref().as_ref();
                let bytes = |n: &BoxedUint| n.to_be_bytes_trimmed_vartime().to_vec();
                let [p, q] = private.primes() else {
                    return None;
                };
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents {
                        n: private.n_bytes().to_vec(),
                        e: private.e_bytes().to_vec(),
                    },
                    d: bytes(private.d()),
                    p: bytes(p),
                    q: bytes(q),
                    dP: bytes(private.dp()?),
                    dQ: bytes(private.dq()?),
                    qInv: bytes(&private.qinv()?.retrieve()),
                };
                ring::rsa::KeyPair::from_components(&components)
                    .ok()
                    .map(FastSigner::Rs256)
            }
            Secret::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &key.to_bytes(),
                    point.as_bytes(),
                    &ring::rand::SystemRandom::new(),
                )
                .ok()
                .map(FastSigner::Es256)
            }
        }
    }

    /// The JWS signature of `input`; `None` if ring could not make one
    /// (only when the random source fails).
    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        let random = ring::rand::SystemRandom::new();
        match self {
            FastSigner::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &random,
                    input,
                    &mut signature,
                )
                .ok()?;
                Some(signature)
            }
            // FIXED: r ‖ s, as JWS wants (RFC 7518 §3.4).
            FastSigner::Es256(pair) => pair.sign(&random, input).ok().map(|s| s.as_ref().to_vec()),
        }
    }
}

/// A key could not be made: the random source failed.
#[derive(Debug)]
pub struct KeyError(pub String);

impl Key {
    /// A new key of `alg`; its id is random (16 bytes, base64url).
    pub fn generate(alg: Alg) -> Result<(Key, Vec<u8>), KeyError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| KeyError(e.to_string()))?;
        let kid = encode_url(&id);
        let stored = match alg {
            Alg::Rs256 => {
                let mut rng = getrandom::SysRng;
                let private = rsa::PrivateKey::new(&mut rng, RSA_BITS)
                    .map_err(|e| KeyError(e.to_string()))?;
                let [p, q] = private.primes() else {
                    return Err(KeyError("an RSA key of more than two primes".into()));
                };
                let (p, q) = (
                    p.to_be_bytes_trimmed_vartime(),
                    q.to_be_bytes_trimmed_vartime(),
                );
                let mut stored = Vec::with_capacity(4 + p.len() + q.len());
                for part in [&p, &q] {
                    stored.extend_from_slice(&(part.len() as u16).to_be_bytes());
                    stored.extend_from_slice(part);
                }
                stored
            }
            Alg::Es256 => loop {
                // A random 32-byte string is a valid scalar but for a
                // chance of about 2^-32; draw again then.
                let mut scalar = [0u8; 32];
                getrandom::fill(&mut scalar).map_err(|e| KeyError(e.to_string()))?;
                if p256::ecdsa::SigningKey::from_slice(&scalar).is_ok() {
                    break scalar.to_vec();
                }
            },
        };
        let key = Key::from_stored(alg, &kid, &stored)
            .ok_or_else(|| KeyError("a new key did not load".into()))?;
        Ok((key, stored))
    }

    /// A key from its stored form; `None` if it is not one.
    pub fn from_stored(alg: Alg, kid: &str, stored: &[u8]) -> Option<Key> {
        let secret = match alg {
            Alg::Rs256 => {
                let (p, rest) = length_prefixed(stored)?;
                let (q, rest) = length_prefixed(rest)?;
                if !rest.is_empty() {
                    return None;
                }
                let p = BoxedUint::from_be_slice_vartime(p);
                let q = BoxedUint::from_be_slice_vartime(q);
                let private = rsa::PrivateKey::from_p_q(p, q, BoxedUint::from(RSA_E)).ok()?;
                Secret::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(private)))
            }
            Alg::Es256 => Secret::Es256(p256::ecdsa::SigningKey::from_slice(stored).ok()?),
        };
        Some(Key {
            kid: kid.to_string(),
            fast: FastSigner::of(&secret),
            secret,
        })
    }

    pub fn alg(&self) -> Alg {
        match self.secret {
            Secret::Rs256(_) => Alg::Rs256,
            Secret::Es256(_) => Alg::Es256,
        }
    }

    /// The public key as a JWK, with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self) -> Value {
        match &self.secret {
            Secret::Rs256(key) => {
                let public = key.as_ref().as_ref();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": encode_url(&public.n_bytes()),
                    "e": encode_url(&public.e_bytes()),
                })
            }
            Secret::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": self.kid, "crv": "P-256",
                    "x": encode_url(&bytes[1..33]),
                    "y": encode_url(&bytes[33..65]),
                })
            }
        }
    }

    /// `claims` as a signed JWT (JWS compact serialisation): header
    /// `{"alg", "typ": "JWT", "kid"}`, each part base64url.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": self.alg().as_str(), "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            encode_url(header.to_string().as_bytes()),
            encode_url(claims.to_string().as_bytes())
        );
        let fast = self
            .fast
            .as_ref()
            .and_then(|fast| fast.sign(signing_input.as_bytes()));
        let signature = match (fast, &self.secret) {
            (Some(signature), _) => signature,
            (None, Secret::Rs256(key)) => key.sign(signing_input.as_bytes()).to_vec(),
            // JWS wants r ‖ s, 64 bytes, not DER (RFC 7518 §3.4).
            (None, Secret::Es256(key)) => {
                let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
                signature.to_bytes().to_vec()
            }
        };
        format!("{signing_input}.{}", encode_url(&signature))
    }
}

impl Key {
    /// The claims of `token` if it is a JWT this key signed (its `kid` and
    /// `alg` in the header); `None` otherwise. Expiry is the caller's.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let head: Value = serde_json::from_slice(&decode_url(header)?).ok()?;
        if head["kid"] != self.kid.as_str() || head["alg"] != self.alg().as_str() {
            return None;
        }
        let signature = decode_url(signature)?;
        let input = format!("{header}.{claims}");
        let good = match &self.secret {
            Secret::Rs256(key) => {
                use rsa::signature::Verifier;
                let public = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(
                    key.as_ref().as_ref().to_public_key(),
                );
                rsa::pkcs1v15::Signature::try_from(signature.as_slice())
                    .is_ok_and(|s| public.verify(input.as_bytes(), &s).is_ok())
            }
            Secret::Es256(key) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::Signature::from_slice(&signature)
                    .is_ok_and(|s| key.verifying_key().verify(input.as_bytes(), &s).is_ok())
            }
        };
        good.then(|| serde_json::from_slice(&decode_url(claims)?).ok())
            .flatten()
    }
}

/// The keys a server publishes, parsed once and kept while the stored set
/// is the same (parsing an RSA key costs milliseconds).
#[derive(Default)]
pub struct KeyRing {
    loaded: std::sync::Mutex<(Vec<String>, Vec<Published>)>,
}

/// A key and when it was retired (`None`: it signs).
pub type Published = (std::sync::Arc<Key>, Option<i64>);

/// A stored key as the ring takes it: id, algorithm, stored form, retired.
pub struct Stored<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub secret: &'a [u8],
    pub retired_at: Option<i64>,
}

impl KeyRing {
    /// The keys of `stored`, parsed anew only when the set changed (a key
    /// that does not parse is left out).
    pub fn keys(&self, stored: &[Stored]) -> Vec<Published> {
        let ids: Vec<String> = stored
            .iter()
            .map(|k| format!("{}:{:?}", k.kid, k.retired_at))
            .collect();
        let mut loaded = crate::support::lock::lock(&self.loaded);
        if loaded.0 != ids {
            let keys = stored
                .iter()
                .filter_map(|k| {
                    let key = Key::from_stored(Alg::parse(k.alg)?, k.kid, k.secret)?;
                    Some((std::sync::Arc::new(key), k.retired_at))
                })
                .collect();
            *loaded = (ids, keys);
        }
        loaded.1.clone()
    }
}

fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let length = usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]));
    let rest = bytes.get(2..)?;
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// Why a JWS from another issuer (an upstream's ID token) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsError {
    /// Not three base64url parts with a JSON header and claims.
    Malformed,
    /// An algorithm other than RS256 or ES256: `none` above all, and HS256,
    /// which would make a public key a shared secret (RFC 8725 §2.1, §3.1).
    Algorithm,
    /// No key of the set has the header's `kid` (perhaps a new one: the
    /// caller fetches the set again, once).
    UnknownKey,
    /// The key is there and the signature is not its.
    Signature,
}

/// The claims of `token` if one of the JSON Web Key Set `jwks`'s keys
/// signed it, with RS256 or ES256, the algorithm the key itself is for
/// (RFC 8725 §3.1: the header's `alg` is the attacker's, so it must fit the
/// key). Expiry and audience are the caller's.
pub fn verify_with_set(token: &str, jwks: &Value) -> Result<Value, JwsError> {
    use crate::auth::webauthn::PublicKey;
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let head: Value = decode_url(header)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(JwsError::Malformed)?;
    let alg = head["alg"]
        .as_str()
        .and_then(Alg::parse)
        .ok_or(JwsError::Algorithm)?;
    let kty = match alg {
        Alg::Rs256 => "RSA",
        Alg::Es256 => "EC",
    };
    let fits = |jwk: &&Value| {
        jwk["kty"] == kty
            && (jwk["use"].is_null() || jwk["use"] == "sig")
            && (jwk["alg"].is_null() || jwk["alg"] == alg.as_str())
    };
    let keys = jwks["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let candidates: Vec<&Value> = match head["kid"].as_str() {
        Some(kid) => keys
            .iter()
            .filter(|k| k["kid"] == kid)
            .filter(fits)
            .collect(),
        // No kid: only a set with a single key of the kind can say which.
        None => keys.iter().filter(fits).collect(),
    };
    let [jwk] = candidates.as_slice() else {
        return Err(JwsError::UnknownKey);
    };
    let field = |name: &str| jwk[name].as_str().and_then(decode_url);
    let key = match alg {
        Alg::Rs256 => match (field("n"), field("e")) {
            (Some(n), Some(e)) => PublicKey::rs256(&n, &e).ok(),
            _ => None,
        },
        Alg::Es256 => match (jwk["crv"].as_str(), field("x"), field("y")) {
            (Some("P-256"), Some(x), Some(y)) => PublicKey::es256(&x, &y),
            _ => None,
        },
    }
    .ok_or(JwsError::UnknownKey)?;
    let signature = decode_url(signature).ok_or(JwsError::Malformed)?;
    if !key.verifies_jws(format!("{header}.{claims}").as_bytes(), &signature) {
        return Err(JwsError::Signature);
    }
    decode_url(claims)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
        .ok_or(JwsError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_tokens_verify_with_the_published_key_and_keys_reload() {
        let (key, stored) = Key::generate(Alg::Es256).unwrap();
        assert!(key.fast.is_some(), "ring signs");
        let token = key.sign(&json!({ "sub": "x" }));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&decode_url(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid })
        );
        let jwk = key.jwk();
        let point = [
            &[4u8][..],
            &decode_url(jwk["x"].as_str().unwrap()).unwrap(),
            &decode_url(jwk["y"].as_str().unwrap()).unwrap(),
        ]
        .concat();
        let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let signature = p256::ecdsa::Signature::from_slice(&decode_url(parts[2]).unwrap()).unwrap();
        use p256::ecdsa::signature::Verifier;
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(input.as_bytes(), &signature).is_ok());

        let again = Key::from_stored(Alg::Es256, &key.kid, &stored).unwrap();
        assert_eq!(again.jwk(), jwk);
        assert!(Key::from_stored(Alg::Es256, "k", &[0; 31]).is_none());
        assert!(Key::from_stored(Alg::Rs256, "k", &[0, 9, 1]).is_none());
    }

    #[test]
    fn rs256_tokens_verify_with_the_published_key() {
        let (key, stored) = Key::generate(Alg::Rs256).unwrap();
        assert!(key.fast.is_some(), "ring signs");
        let token = key.sign(&json!({ "sub": "x" }));
        let parts: Vec<&str> = token.split('.').collect();
        let jwk = key.jwk();
        assert_eq!(jwk["e"], "AQAB");
        let n = BoxedUint::from_be_slice_vartime(&decode_url(jwk["n"].as_str().unwrap()).unwrap());
        let public = rsa::PublicKey::new(n, BoxedUint::from(RSA_E)).unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let signature =
            rsa::pkcs1v15::Signature::try_from(decode_url(parts[2]).unwrap().as_slice()).unwrap();
        use rsa::signature::Verifier;
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(verifier.verify(input.as_bytes(), &signature).is_ok());
        let again = Key::from_stored(Alg::Rs256, &key.kid, &stored).unwrap();
        assert_eq!(again.jwk(), jwk);
        // PKCS #1 v1.5 is deterministic: ring's signature is the pure-Rust one.
        let (Some(fast), Secret::Rs256(slow)) = (&again.fast, &again.secret) else {
            panic!()
        };
        assert_eq!(fast.sign(b"input").unwrap(), slow.sign(b"input").to_vec());
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/jose.rs`): claims come back
    /// from a token as they were written into it. A float such as 12e30
    /// prints as its shortest decimal, which reads back one bit apart from
    /// the value first parsed; what verifies is what was signed.
    #[test]
    fn a_token_gives_back_the_claims_it_was_signed_with() {
        let (key, _) = Key::generate(Alg::Es256).unwrap();
        let claims: Value = serde_json::from_str(r#"{"n":12e30,"s":"","sub":"x"}"#).unwrap();
        let written: Value = serde_json::from_str(&claims.to_string()).unwrap();
        assert_eq!(key.verify(&key.sign(&claims)), Some(written));
        let (other, _) = Key::generate(Alg::Es256).unwrap();
        assert_eq!(other.verify(&key.sign(&claims)), None);
    }

    #[test]
    fn a_set_verifies_only_its_own_keys_for_their_own_algorithm() {
        let (es, _) = Key::generate(Alg::Es256).unwrap();
        let (rs, _) = Key::generate(Alg::Rs256).unwrap();
        let set = json!({ "keys": [es.jwk(), rs.jwk()] });
        let claims = json!({ "sub": "x" });
        assert_eq!(verify_with_set(&es.sign(&claims), &set), Ok(claims.clone()));
        assert_eq!(verify_with_set(&rs.sign(&claims), &set), Ok(claims.clone()));
        let (stranger, _) = Key::generate(Alg::Es256).unwrap();
        assert_eq!(
            verify_with_set(&stranger.sign(&claims), &set),
            Err(JwsError::UnknownKey)
        );
        // A token whose header names the ES256 key's id with RS256, or with
        // `none`, is refused before any signature is looked at.
        let token = es.sign(&claims);
        let parts: Vec<&str> = token.split('.').collect();
        for alg in ["RS256", "none", "HS256"] {
            let header = json!({ "alg": alg, "kid": es.kid });
            let forged = format!(
                "{}.{}.{}",
                encode_url(header.to_string().as_bytes()),
                parts[1],
                parts[2]
            );
            assert!(verify_with_set(&forged, &set).is_err(), "{alg}");
        }
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            encode_url(b"{\"sub\":\"y\"}"),
            parts[2]
        );
        assert_eq!(verify_with_set(&tampered, &set), Err(JwsError::Signature));
        assert_eq!(verify_with_set("a.b", &set), Err(JwsError::Malformed));
    }
}
