//! What the provider's endpoints are asked, typed: the scope set, PKCE,
//! the token request by grant, and the OAuth errors they answer with. Each
//! is read once, here, from the request's parameters; the flows see only
//! these types.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::support::base64::{decode_url, encode_url};

/// An OAuth error (RFC 6749 §4.1.2.1, §5.2; OpenID Connect Core §3.1.2.6):
/// the code a client reads, with a description of what was wrong. Where
/// it goes (a redirect, a 400 or a 401) is the caller's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(&'static str),
    InvalidClient,
    InvalidGrant(&'static str),
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired(&'static str),
    /// A bearer token that is unknown, expired or revoked (RFC 6750 §3.1).
    InvalidToken,
}

impl OAuthError {
    /// The `error` value.
    pub fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::UnsupportedResponseType => "unsupported_response_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::LoginRequired(_) => "login_required",
            OAuthError::InvalidToken => "invalid_token",
        }
    }

    /// The `error_description` value: for the app's developer, never a
    /// secret.
    pub fn description(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(why)
            | OAuthError::InvalidGrant(why)
            | OAuthError::LoginRequired(why) => why,
            OAuthError::InvalidClient => "unknown client or wrong credentials",
            OAuthError::UnsupportedGrantType => "authorization_code or refresh_token",
            OAuthError::UnsupportedResponseType => "only response_type=code",
            OAuthError::InvalidScope => "the scope must include openid",
            OAuthError::AccessDenied => "this user may not use this app",
            OAuthError::InvalidToken => "unknown, expired or revoked",
        }
    }
}

/// The scopes this provider knows, in the order it writes them.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// A set of the scopes [`SCOPES`] names: what was asked for, minus what
/// the server does not know (OpenID Connect Core §3.1.2.1 has those left
/// out, not refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope(u8);

impl Scope {
    /// Reads a space-separated scope string.
    pub fn parse(asked: &str) -> Scope {
        let mut bits = 0;
        for word in asked.split(' ') {
            if let Some(at) = SCOPES.iter().position(|known| *known == word) {
                bits |= 1 << at;
            }
        }
        Scope(bits)
    }

    pub fn contains(self, scope: &str) -> bool {
        SCOPES
            .iter()
            .position(|known| *known == scope)
            .is_some_and(|at| self.0 & (1 << at) != 0)
    }

    /// The scopes in the set, in [`SCOPES`]' order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        SCOPES
            .iter()
            .enumerate()
            .filter(move |(at, _)| self.0 & (1 << at) != 0)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().collect::<Vec<_>>().join(" "))
    }
}

/// A PKCE challenge (RFC 7636), S256 only: base64url of a SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkce {
    challenge: String,
}

impl Pkce {
    /// `code_challenge` and `code_challenge_method` as sent: `Ok(None)`
    /// for neither, an error for anything but a well-formed S256 pair
    /// (the plain method sends the verifier itself, RFC 9700 §2.1.1).
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Pkce>, OAuthError> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (Some(c), Some("S256"))
                if c.len() == 43 && decode_url(c).is_some_and(|d| d.len() == 32) =>
            {
                Ok(Some(Pkce {
                    challenge: c.to_string(),
                }))
            }
            _ => Err(OAuthError::InvalidRequest(
                "code_challenge with code_challenge_method=S256",
            )),
        }
    }

    /// A challenge as stored with its code.
    pub fn stored(challenge: &str) -> Pkce {
        Pkce {
            challenge: challenge.to_string(),
        }
    }

    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Whether `verifier` (43 to 128 characters, RFC 7636 §4.1) hashes to
    /// the challenge.
    pub fn verifies(&self, verifier: &str) -> bool {
        (43..=128).contains(&verifier.len())
            && encode_url(&Sha256::digest(verifier.as_bytes())) == self.challenge
    }
}

/// A request's parameters (the query of a GET, the form of a POST), each
/// name once.
pub type Params = BTreeMap<String, String>;

/// An authorization request (OpenID Connect Core §3.1.2.1), read but not
/// yet judged: which client and where to, then everything else. The flow
/// checks the client and the redirect URI first, because until both are
/// known good no error may be sent back along it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_type: Option<String>,
    pub scope: Scope,
    /// The PKCE pair, or what is wrong with it.
    pub pkce: Result<Option<Pkce>, OAuthError>,
    /// `prompt`'s values.
    pub prompt: Vec<String>,
    /// `max_age` in seconds, or what is wrong with it.
    pub max_age: Result<Option<i64>, OAuthError>,
    /// This server's own: the session that was too old, named by the way
    /// back from the sign-in page (`session_marker`).
    pub reauth_from: Option<String>,
}

impl AuthorizationRequest {
    pub fn read(params: &Params) -> AuthorizationRequest {
        let get = |name: &str| params.get(name).cloned();
        let max_age = match params.get("max_age").map(|s| s.parse::<i64>()) {
            None => Ok(None),
            Some(Ok(seconds)) if seconds >= 0 => Ok(Some(seconds)),
            Some(_) => Err(OAuthError::InvalidRequest(
                "max_age is a whole number of seconds",
            )),
        };
        AuthorizationRequest {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            state: get("state"),
            nonce: get("nonce"),
            response_type: get("response_type"),
            scope: Scope::parse(params.get("scope").map_or("", String::as_str)),
            pkce: Pkce::from_request(
                params.get("code_challenge").map(String::as_str),
                params.get("code_challenge_method").map(String::as_str),
            ),
            prompt: params
                .get("prompt")
                .map(|p| p.split(' ').map(str::to_string).collect())
                .unwrap_or_default(),
            max_age,
            reauth_from: get("reauth_from"),
        }
    }

    pub fn prompts(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }
}

/// A token request (RFC 6749 §4.1.3, §6), one kind per grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
    },
}

impl TokenRequest {
    pub fn read(params: &Params) -> Result<TokenRequest, OAuthError> {
        let get = |name: &str| params.get(name).cloned();
        match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => Ok(TokenRequest::AuthorizationCode {
                code: get("code").ok_or(OAuthError::InvalidRequest("code is required"))?,
                redirect_uri: get("redirect_uri"),
                code_verifier: get("code_verifier"),
            }),
            Some("refresh_token") => Ok(TokenRequest::RefreshToken {
                refresh_token: get("refresh_token")
                    .ok_or(OAuthError::InvalidRequest("refresh_token is required"))?,
            }),
            Some(_) => Err(OAuthError::UnsupportedGrantType),
            None => Err(OAuthError::InvalidRequest("grant_type is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_scope_keeps_what_the_server_knows_in_its_order() {
        let scope = Scope::parse("email openid unknown  profile");
        assert_eq!(scope.to_string(), "openid profile email");
        assert!(scope.contains("openid") && !scope.contains("groups"));
        assert!(!scope.contains("unknown"));
        assert_eq!(Scope::parse("").to_string(), "");
    }

    #[test]
    fn pkce_is_s256_only_and_checks_the_verifier() {
        let verifier = "a-code-verifier-of-at-least-forty-three-characters-123";
        let challenge = encode_url(&Sha256::digest(verifier.as_bytes()));
        let pkce = Pkce::from_request(Some(&challenge), Some("S256"))
            .unwrap()
            .unwrap();
        assert!(pkce.verifies(verifier));
        assert!(!pkce.verifies("another-verifier-of-at-least-forty-three-characters"));
        assert!(!pkce.verifies("short"));
        assert_eq!(Pkce::from_request(None, None), Ok(None));
        for (c, m) in [
            (Some(challenge.as_str()), Some("plain")),
            (Some(challenge.as_str()), None),
            (None, Some("S256")),
            (Some("too-short"), Some("S256")),
        ] {
            assert_eq!(
                Pkce::from_request(c, m).unwrap_err().code(),
                "invalid_request"
            );
        }
    }

    #[test]
    fn a_token_request_is_one_grant_with_what_it_needs() {
        assert_eq!(
            TokenRequest::read(&params(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "r")
            ])),
            Ok(TokenRequest::RefreshToken {
                refresh_token: "r".into()
            })
        );
        assert_eq!(
            TokenRequest::read(&params(&[("grant_type", "authorization_code")])),
            Err(OAuthError::InvalidRequest("code is required"))
        );
        assert_eq!(
            TokenRequest::read(&params(&[("grant_type", "password")])),
            Err(OAuthError::UnsupportedGrantType)
        );
        assert_eq!(
            TokenRequest::read(&params(&[])).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn an_authorization_request_reads_each_parameter_once() {
        let request = AuthorizationRequest::read(&params(&[
            ("client_id", "c"),
            ("scope", "openid groups"),
            ("prompt", "login consent"),
            ("max_age", "-1"),
        ]));
        assert_eq!(request.client_id.as_deref(), Some("c"));
        assert!(request.scope.contains("groups"));
        assert!(request.prompts("login") && request.prompts("consent"));
        assert_eq!(request.max_age.unwrap_err().code(), "invalid_request");
        assert_eq!(request.pkce, Ok(None));
    }

    #[test]
    fn every_error_has_its_rfc_code() {
        assert_eq!(OAuthError::InvalidClient.code(), "invalid_client");
        assert_eq!(OAuthError::InvalidGrant("x").description(), "x");
        assert_eq!(OAuthError::InvalidToken.code(), "invalid_token");
    }
}
