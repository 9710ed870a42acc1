//! Single sign-on: this server as an OpenID Provider for the authorization
//! code flow (OpenID Connect Core 1.0 §3.1, OAuth 2.0 RFC 6749 §4.1, PKCE
//! RFC 7636). An app (the client, registered by the operator) sends the
//! browser here; a signed-in, allowed user is sent back with a one-time
//! code; the app exchanges the code, from its server, for an ID token
//! (who signed in, signed by this server), an access token (for userinfo)
//! and, with `offline_access`, a refresh token.
//!
//! Every code and token is 256 random bits, stored only as SHA-256, bound
//! to its client, and carries the account's auth epoch: a password change,
//! disable, deletion or revoke-sessions ends it like a session; sign out
//! everywhere deletes them.
//!
//! One file a job: [`requests`] (what is asked, typed), [`authorize`] (the
//! browser's request), [`grants`] (codes and tokens: the token endpoint,
//! userinfo, revocation), [`clients`] (registered apps), [`keys`] (the
//! signing keys), [`claims`] (what an ID token and userinfo say).

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod grants;
pub mod keys;
pub mod requests;

use sha2::{Digest, Sha256};

use crate::accounts::Trouble;
use crate::support::base64::encode_url;

pub use authorize::{AuthorizeOutcome, BadClient, authorize};
pub use claims::claims;
pub use clients::{ClientCredentials, NewClient, add_client, hinted_client, valid_redirect_uri};
pub use grants::{TokenOutcome, Tokens, revoke, token, userinfo};
pub use keys::{add_key, ensure_keys, keys};
pub use requests::{AuthorizationRequest, OAuthError, Params, Pkce, SCOPES, Scope, TokenRequest};

/// A code is good for a minute (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL_SECS: i64 = 60;
pub const ACCESS_TOKEN_TTL_SECS: i64 = 600;
pub const ID_TOKEN_TTL_SECS: i64 = 300;
/// A refresh token lasts 30 days from its issue (each use issues a new one).
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 86_400;
/// A rotated key stays published this long, for ID tokens signed with it.
pub const RETIRED_KEY_SECS: i64 = 86_400;

/// 32 random bytes as base64url, and their SHA-256.
fn new_secret() -> Result<(String, [u8; 32]), Trouble> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Trouble::random)?;
    let text = encode_url(&bytes);
    let hash = Sha256::digest(text.as_bytes()).into();
    Ok((text, hash))
}

/// How codes and tokens are found: by the SHA-256 of what the client holds.
pub fn hash_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_new_each_time_and_found_by_their_hash() {
        let (one, hash) = new_secret().unwrap();
        let (two, _) = new_secret().unwrap();
        assert_ne!(one, two);
        assert_eq!(one.len(), 43);
        assert_eq!(hash_of(&one), hash);
    }
}
