//! Signing in through an upstream OpenID provider, the relying party's
//! rules: what a discovery document must say, what makes an ID token
//! acceptable, PKCE, and what a new account is called. No I/O here; the
//! flow (`accounts::upstream`) fetches and decides.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::jose::{JwsError, verify_with_set};
use crate::support::base64::encode_url;
use crate::support::url::{Scheme, Url};

/// Leeway for clocks that differ a little (OpenID Connect Core §3.1.3.7
/// leaves it to the relying party; a minute is common).
pub const CLOCK_SKEW_SECS: i64 = 60;
/// An ID token issued longer ago than this is refused even if unexpired:
/// the code was just exchanged, so its token is seconds old.
pub const MAX_TOKEN_AGE_SECS: i64 = 600;

/// What the flow needs of a provider's discovery document (OpenID Connect
/// Discovery 1.0 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub userinfo_endpoint: Option<Url>,
    /// The provider sends `iss` with its answer (RFC 9207 §3): then an
    /// answer without it is refused.
    pub sends_iss: bool,
}

/// Whether `url` may be fetched or sent to: `https`, or `http` to a
/// loopback host (tests and labs; no network stands between).
pub fn secure(url: &Url) -> bool {
    url.scheme == Scheme::Https || url.authority.host.is_loopback()
}

impl Discovery {
    /// The document's endpoints, if its `issuer` is exactly the one
    /// configured (Discovery §4.3: otherwise another provider's document
    /// could stand in) and every endpoint is [`secure`].
    pub fn parse(document: &Value, issuer: &str) -> Result<Discovery, String> {
        if document["issuer"] != issuer {
            return Err(format!(
                "the discovery document names issuer {}, not {issuer}",
                document["issuer"]
            ));
        }
        let endpoint = |name: &str| -> Result<Option<Url>, String> {
            let Some(text) = document[name].as_str() else {
                return Ok(None);
            };
            let url = Url::parse(text).map_err(|_| format!("{name} is not a URL"))?;
            if !secure(&url) {
                return Err(format!("{name} is not https"));
            }
            Ok(Some(url))
        };
        let required = |name: &str| endpoint(name)?.ok_or_else(|| format!("no {name}"));
        Ok(Discovery {
            issuer: issuer.to_string(),
            authorization_endpoint: required("authorization_endpoint")?,
            token_endpoint: required("token_endpoint")?,
            jwks_uri: required("jwks_uri")?,
            userinfo_endpoint: endpoint("userinfo_endpoint")?,
            sends_iss: document["authorization_response_iss_parameter_supported"] == true,
        })
    }
}

/// The PKCE challenge of a verifier: base64url(SHA-256(verifier)) (RFC
/// 7636 §4.2, S256).
pub fn pkce_challenge(verifier: &str) -> String {
    encode_url(&Sha256::digest(verifier.as_bytes()))
}

/// What an ID token must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

/// Why an ID token was refused; each names the check (for the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Jws(JwsError),
    Issuer,
    Audience,
    AuthorizedParty,
    Expired,
    IssuedAt,
    Nonce,
    Subject,
}

impl TokenProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenProblem::Jws(JwsError::Malformed) => "malformed",
            TokenProblem::Jws(JwsError::Algorithm) => "algorithm not allowed",
            TokenProblem::Jws(JwsError::UnknownKey) => "signed by an unknown key",
            TokenProblem::Jws(JwsError::Signature) => "bad signature",
            TokenProblem::Issuer => "wrong iss",
            TokenProblem::Audience => "wrong aud",
            TokenProblem::AuthorizedParty => "wrong azp",
            TokenProblem::Expired => "expired",
            TokenProblem::IssuedAt => "iat out of range",
            TokenProblem::Nonce => "wrong nonce",
            TokenProblem::Subject => "no sub",
        }
    }
}

/// The claims of an ID token, checked as OpenID Connect Core §3.1.3.7 asks
/// of a confidential client: the signature by a key of the set, `iss`
/// exactly the issuer, `aud` containing the client (and `azp` the client
/// when there are other audiences, or whenever it is sent), `exp` in the
/// future and `iat` recent, both within [`CLOCK_SKEW_SECS`], `nonce` the
/// one this browser's request sent, and a `sub`.
pub fn check_id_token(
    token: &str,
    jwks: &Value,
    expected: &Expected,
) -> Result<Value, TokenProblem> {
    let claims = verify_with_set(token, jwks).map_err(TokenProblem::Jws)?;
    if claims["iss"] != expected.issuer {
        return Err(TokenProblem::Issuer);
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&expected.client_id) {
        return Err(TokenProblem::Audience);
    }
    let azp = claims.get("azp");
    if (audiences.len() > 1 || azp.is_some())
        && azp.and_then(Value::as_str) != Some(expected.client_id)
    {
        return Err(TokenProblem::AuthorizedParty);
    }
    let (Some(exp), Some(iat)) = (claims["exp"].as_i64(), claims["iat"].as_i64()) else {
        return Err(TokenProblem::Expired);
    };
    if exp + CLOCK_SKEW_SECS <= expected.now {
        return Err(TokenProblem::Expired);
    }
    if iat > expected.now + CLOCK_SKEW_SECS || iat < expected.now - MAX_TOKEN_AGE_SECS {
        return Err(TokenProblem::IssuedAt);
    }
    if claims["nonce"] != expected.nonce {
        return Err(TokenProblem::Nonce);
    }
    if claims["sub"].as_str().is_none_or(str::is_empty) {
        return Err(TokenProblem::Subject);
    }
    Ok(claims)
}

/// What the provider says of the person: from the ID token, with what it
/// lacks from userinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub subject: String,
    pub email: Option<String>,
    /// `email_verified: true` (or the string `"true"`, as some providers
    /// send it); anything else is unverified.
    pub email_verified: bool,
    pub preferred_username: Option<String>,
}

impl Profile {
    pub fn from_claims(claims: &Value) -> Profile {
        let text = |name: &str| {
            claims[name]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Profile {
            subject: claims["sub"].as_str().unwrap_or("").to_string(),
            email: text("email"),
            email_verified: claims["email_verified"] == true || claims["email_verified"] == "true",
            preferred_username: text("preferred_username"),
        }
    }

    /// Fills what the ID token did not say from userinfo's claims (OpenID
    /// Connect Core §5.4), whose `sub` must be the token's (§5.3.2: else
    /// the answer may be someone else's).
    pub fn fill_from(&mut self, userinfo: &Value) -> bool {
        if userinfo["sub"] != self.subject.as_str() {
            return false;
        }
        let more = Profile::from_claims(userinfo);
        if self.email.is_none() {
            self.email = more.email;
            self.email_verified = more.email_verified;
        }
        if self.preferred_username.is_none() {
            self.preferred_username = more.preferred_username;
        }
        true
    }

    /// Whether the email is missing what the flow needs to decide.
    pub fn lacks_claims(&self) -> bool {
        self.email.is_none() || self.preferred_username.is_none()
    }

    /// The verified address's domain, lower case.
    pub fn verified_domain(&self) -> Option<String> {
        let email = self.email.as_deref().filter(|_| self.email_verified)?;
        let (_, domain) = email.rsplit_once('@')?;
        Some(domain.to_ascii_lowercase())
    }
}

/// A username for a new account from what the provider suggested:
/// `preferred_username`, else the address's local part, cut to the
/// characters and length a username may have (`validation`), or "user".
pub fn username_base(profile: &Profile) -> String {
    let wanted = profile
        .preferred_username
        .clone()
        .or_else(|| {
            profile
                .email
                .as_deref()?
                .split('@')
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let cleaned: String = wanted
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(24)
        .collect();
    let cleaned = cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if cleaned.len() < 3 {
        "user".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jose::{Alg, Key};
    use serde_json::json;

    fn token(key: &Key, change: impl Fn(&mut Value)) -> String {
        let mut claims = json!({
            "iss": "https://idp.example", "aud": "app", "sub": "s1",
            "exp": 2000, "iat": 1000, "nonce": "n1",
        });
        change(&mut claims);
        key.sign(&claims)
    }

    #[test]
    fn an_id_token_is_refused_for_each_check_it_fails() {
        let (key, _) = Key::generate(Alg::Es256).unwrap();
        let set = json!({ "keys": [key.jwk()] });
        let expected = Expected {
            issuer: "https://idp.example",
            client_id: "app",
            nonce: "n1",
            now: 1010,
        };
        let check =
            |change: &dyn Fn(&mut Value)| check_id_token(&token(&key, change), &set, &expected);
        assert!(check(&|_| {}).is_ok());
        assert!(check(&|c| c["aud"] = json!(["app"])).is_ok());
        assert_eq!(
            check(&|c| c["iss"] = json!("https://other.example")),
            Err(TokenProblem::Issuer)
        );
        assert_eq!(
            check(&|c| c["aud"] = json!("other")),
            Err(TokenProblem::Audience)
        );
        assert_eq!(
            check(&|c| c["aud"] = json!(["app", "other"])),
            Err(TokenProblem::AuthorizedParty)
        );
        assert!(
            check(&|c| {
                c["aud"] = json!(["app", "other"]);
                c["azp"] = json!("app");
            })
            .is_ok()
        );
        assert_eq!(
            check(&|c| c["azp"] = json!("other")),
            Err(TokenProblem::AuthorizedParty)
        );
        assert_eq!(
            check(&|c| c["exp"] = json!(900)),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            check(&|c| c["iat"] = json!(1200)),
            Err(TokenProblem::IssuedAt)
        );
        assert_eq!(check(&|c| c["iat"] = json!(1)), Err(TokenProblem::IssuedAt));
        assert_eq!(
            check(&|c| c["nonce"] = json!("n2")),
            Err(TokenProblem::Nonce)
        );
        assert_eq!(check(&|c| c["sub"] = json!("")), Err(TokenProblem::Subject));
        let (other, _) = Key::generate(Alg::Es256).unwrap();
        assert_eq!(
            check_id_token(&token(&other, |_| {}), &set, &expected),
            Err(TokenProblem::Jws(JwsError::UnknownKey))
        );
    }

    #[test]
    fn discovery_must_name_its_issuer_and_secure_endpoints() {
        let document = json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
        });
        let found = Discovery::parse(&document, "https://idp.example").unwrap();
        assert_eq!(found.userinfo_endpoint, None);
        assert!(!found.sends_iss);
        assert!(Discovery::parse(&document, "https://idp.example/").is_err());
        let mut plain = document.clone();
        plain["token_endpoint"] = json!("http://idp.example/token");
        assert!(Discovery::parse(&plain, "https://idp.example").is_err());
    }

    #[test]
    fn a_username_is_made_from_what_the_provider_suggests() {
        let profile = |name: Option<&str>, email: Option<&str>| Profile {
            preferred_username: name.map(str::to_string),
            email: email.map(str::to_string),
            ..Profile::default()
        };
        assert_eq!(username_base(&profile(Some("Ann Lee!"), None)), "annlee");
        assert_eq!(
            username_base(&profile(None, Some("bob.smith@example.com"))),
            "bob.smith"
        );
        assert_eq!(username_base(&profile(Some("é"), None)), "user");
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
