//! The apps that may ask: registering one, checking its redirect URIs, and
//! knowing it again (by its credentials at the token endpoint, by an ID
//! token it was issued at logout).

use subtle::ConstantTimeEq;

use crate::accounts::audit::AuthEvent;
use crate::accounts::oidc::{hash_of, keys, new_secret};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::jose::Alg;
use crate::storage::User;
use crate::storage::oidc::OidcClient;
use crate::support::url::{Scheme, Url};

/// A new client: its id, and its secret (shown once) unless public.
pub struct NewClient {
    pub client_id: String,
    pub secret: Option<String>,
}

/// Registers an app, and makes the signing keys if there are none yet (so
/// no request has to); recorded as `client`'s (an operator's).
pub fn add_client(
    accounts: &Accounts,
    name: &str,
    redirect_uris: &[String],
    public: bool,
    allowed_groups: &[String],
    alg: Alg,
    client: &Client,
) -> Result<NewClient, Trouble> {
    let now = client.now;
    let (client_id, _) = new_secret()?;
    let client_id = client_id[..22].to_string();
    let secret = if public { None } else { Some(new_secret()?) };
    accounts.db.add_oidc_client(&OidcClient {
        client_id: client_id.clone(),
        name: name.to_string(),
        secret_hash: secret.as_ref().map(|(_, hash)| hash.to_vec()),
        redirect_uris: redirect_uris.to_vec(),
        allowed_groups: allowed_groups.to_vec(),
        alg: alg.as_str().to_string(),
        created_at: now,
    })?;
    keys::ensure_keys(accounts, now)?;
    accounts.record_detail(
        AuthEvent::AdminOidcClientAdded,
        None,
        None,
        &format!("client_id={client_id}"),
        client,
    );
    Ok(NewClient {
        client_id,
        secret: secret.map(|(text, _)| text),
    })
}

/// An exact redirect URI, as registration accepts it: `https`, or `http`
/// only to a loopback address or a `localhost` name (RFC 8252 §7.3, RFC
/// 9700 §2.6: a code must not travel in the clear), no fragment (RFC 6749
/// §3.1.2), no user information, nothing [`Url`] refuses.
pub fn valid_redirect_uri(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let secure = match url.scheme {
        Scheme::Https => true,
        Scheme::Http => url.authority.host.is_loopback(),
    };
    secure && url.fragment.is_none() && uri.len() <= 2000
}

/// How a client proved who it is at the token endpoint.
pub struct ClientCredentials {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method` none).
    pub secret: Option<String>,
}

/// The client, if its credentials are good: a confidential client's secret
/// matches; a public client sent none.
pub(crate) fn authenticate(
    accounts: &Accounts,
    credentials: &ClientCredentials,
) -> Result<Option<OidcClient>, Trouble> {
    let Some(app) = accounts.db.oidc_client(&credentials.client_id)? else {
        return Ok(None);
    };
    let good = match (&app.secret_hash, &credentials.secret) {
        // Compared in constant time, so the answer's timing tells nothing
        // of how much of a guessed secret was right.
        (Some(stored), Some(secret)) => bool::from(stored.as_slice().ct_eq(&hash_of(secret))),
        (None, None) => true,
        _ => false,
    };
    Ok(good.then_some(app))
}

/// The client an `id_token_hint` was issued to, if it is one of this
/// server's ID tokens (signature checked against every key it publishes;
/// an expired one is fine: OpenID Connect RP-Initiated Logout 1.0 §2) and
/// it names `me`: its `sub` is the signed-in account's. Another account's
/// ID token (anyone can hold their own) signs nobody else out.
pub fn hinted_client(
    accounts: &Accounts,
    id_token: &str,
    me: &User,
    now: i64,
) -> Result<Option<OidcClient>, Trouble> {
    let keys = keys::keys(accounts, now)?;
    let Some(claims) = keys.iter().find_map(|(key, _)| key.verify(id_token)) else {
        return Ok(None);
    };
    let (Some(audience), Some(sub)) = (claims["aud"].as_str(), claims["sub"].as_str()) else {
        return Ok(None);
    };
    if me.oidc_subject.as_deref() != Some(sub) {
        return Ok(None);
    }
    Ok(accounts.db.oidc_client(audience)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_without_a_fragment() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]/cb",
        ] {
            assert!(valid_redirect_uri(good), "{good}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "https://user@app.example.com/cb",
            "javascript:alert(1)",
            "app.example.com/cb",
        ] {
            assert!(!valid_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn a_client_is_known_by_its_secret_or_as_public() {
        let accounts = Accounts::for_tests(&[]);
        let uris = ["https://app.example.com/cb".to_string()];
        let confidential = add_client(
            &accounts,
            "a",
            &uris,
            false,
            &[],
            Alg::Es256,
            &Client::shell(0),
        )
        .unwrap();
        let secret = confidential.secret.clone().unwrap();
        let with = |client_id: &str, secret: Option<&str>| {
            let credentials = ClientCredentials {
                client_id: client_id.to_string(),
                secret: secret.map(str::to_string),
            };
            authenticate(&accounts, &credentials).unwrap().is_some()
        };
        assert!(with(&confidential.client_id, Some(&secret)));
        assert!(!with(&confidential.client_id, Some("wrong")));
        assert!(!with(&confidential.client_id, None));
        let public = add_client(
            &accounts,
            "b",
            &uris,
            true,
            &[],
            Alg::Es256,
            &Client::shell(0),
        )
        .unwrap();
        assert!(public.secret.is_none());
        assert!(with(&public.client_id, None));
        assert!(!with(&public.client_id, Some("anything")));
        assert!(!with("nobody", None));
    }
}
