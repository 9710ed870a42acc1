//! The browser's request: an authorization request (OpenID Connect Core
//! §3.1.2), `GET` query or `POST` form alike, judged in order: the client,
//! its redirect URI, then everything else, each error sent back along the
//! redirect URI only once that is known good.

use sha2::{Digest, Sha256};

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::SignedIn;
use crate::accounts::oidc::claims::amr;
use crate::accounts::oidc::grants::may_use;
use crate::accounts::oidc::requests::{AuthorizationRequest, OAuthError};
use crate::accounts::oidc::{CODE_TTL_SECS, new_secret};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::Visitor;
use crate::storage::oidc::{Grant, GrantKind};

/// Why a request cannot be answered along its redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadClient {
    /// No `client_id`.
    NoClient,
    /// A `client_id` not registered here.
    UnknownClient,
    /// A `redirect_uri` not registered for the client (or none).
    UnregisteredRedirect,
}

/// What an authorization request leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// An error page, never a redirect (RFC 6749 §4.1.2.1: the URI is not
    /// to be trusted).
    BadClient(BadClient),
    /// Back to the client's redirect URI with a code, or an error, and
    /// `state` and `iss` (RFC 9207).
    Answer {
        redirect_uri: String,
        state: Option<String>,
        issuer: String,
        result: Result<String, OAuthError>,
    },
    /// To the sign-in page, which comes back here: signed out (`again`
    /// is `None`), or signed in longer ago than `prompt=login` or `max_age`
    /// allow. Then the way back carries `again`, which names this session
    /// (not its token), so that only a new sign-in goes on from there.
    SignIn { again: Option<String> },
}

/// A session's name in a URL: 64 bits of SHA-256 of its public id, which
/// tells one session from another and opens none.
fn session_marker(public_id: u64) -> String {
    let digest = Sha256::digest(public_id.to_be_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn authorize(
    accounts: &Accounts,
    request: &AuthorizationRequest,
    me: Option<&SignedIn>,
    client: &Client,
) -> Result<AuthorizeOutcome, Trouble> {
    let Some(client_id) = &request.client_id else {
        return Ok(AuthorizeOutcome::BadClient(BadClient::NoClient));
    };
    let Some(app) = accounts.db.oidc_client(client_id)? else {
        return Ok(AuthorizeOutcome::BadClient(BadClient::UnknownClient));
    };
    let Some(redirect_uri) = request
        .redirect_uri
        .as_deref()
        .filter(|uri| app.redirect_uris.iter().any(|r| r == uri))
    else {
        return Ok(AuthorizeOutcome::BadClient(BadClient::UnregisteredRedirect));
    };
    let answer = |result: Result<String, OAuthError>| AuthorizeOutcome::Answer {
        redirect_uri: redirect_uri.to_string(),
        state: request.state.clone(),
        issuer: accounts.settings.public_url.clone().unwrap_or_default(),
        result,
    };

    if request.response_type.as_deref() != Some("code") {
        return Ok(answer(Err(OAuthError::UnsupportedResponseType)));
    }
    if !request.scope.contains("openid") {
        return Ok(answer(Err(OAuthError::InvalidScope)));
    }
    // PKCE (RFC 7636): S256 only; required of a public client, which has
    // no secret to prove the code is its own.
    let pkce = match &request.pkce {
        Err(error) => return Ok(answer(Err(*error))),
        Ok(None) if app.secret_hash.is_none() => {
            return Ok(answer(Err(OAuthError::InvalidRequest(
                "a public client must use PKCE (S256)",
            ))));
        }
        Ok(pkce) => pkce,
    };
    // prompt and max_age (OpenID Connect Core §3.1.2.1): `none` never
    // shows a page, and goes with no other value; `login`, or a sign-in
    // older than max_age seconds, asks for a new one. `reauth_from` is
    // this server's own: the way back from the sign-in page names the
    // session that was too old, so that only another one goes on.
    let none = request.prompts("none");
    if none && request.prompt.len() > 1 {
        return Ok(answer(Err(OAuthError::InvalidRequest(
            "prompt=none goes with no other value",
        ))));
    }
    let max_age = match request.max_age {
        Ok(max_age) => max_age,
        Err(error) => return Ok(answer(Err(error))),
    };
    let Some(me) = me else {
        if none {
            return Ok(answer(Err(OAuthError::LoginRequired(
                "the user is not signed in",
            ))));
        }
        return Ok(AuthorizeOutcome::SignIn { again: None });
    };
    let this_session = session_marker(me.session.public_id);
    let too_old = match &request.reauth_from {
        Some(old) => *old == this_session,
        // max_age=0 is prompt=login (OpenID Connect Core §3.1.2.1).
        None => {
            request.prompts("login")
                || max_age.is_some_and(|max| max == 0 || client.now - me.session.created_at > max)
        }
    };
    if too_old {
        if none {
            return Ok(answer(Err(OAuthError::LoginRequired(
                "a new sign-in is needed",
            ))));
        }
        return Ok(AuthorizeOutcome::SignIn {
            again: Some(this_session),
        });
    }
    let visitor = Visitor {
        username: &me.user.username,
        groups: &me.user.groups,
        second_factor: me.session.opened_with.second_factor(),
    };
    if !may_use(accounts, &app, &me.user, &visitor, redirect_uri, client) {
        return Ok(answer(Err(OAuthError::AccessDenied)));
    }

    let (code, hash) = new_secret()?;
    let (_, family) = new_secret()?;
    let detail = format!("client={}", app.client_id);
    let (row, event) = accounts.event_for_write(
        AuthEvent::OidcCodeIssued,
        Some(me.user.id),
        Some(&me.user.username),
        Some(&detail),
        client,
    );
    let grant = Grant {
        hash,
        kind: GrantKind::Code,
        client_id: app.client_id.clone(),
        user_id: me.user.id,
        auth_epoch: me.user.auth_epoch,
        family,
        scope: request.scope.to_string(),
        nonce: request.nonce.clone(),
        redirect_uri: Some(redirect_uri.to_string()),
        code_challenge: pkce.as_ref().map(|p| p.challenge().to_string()),
        auth_time: me.session.created_at,
        amr: amr(&me.session.opened_with).to_string(),
        expires_at: client.now + CODE_TTL_SECS,
        issued_at: client.now,
    };
    accounts.db.add_grant(&grant, &row)?;
    accounts.log_event(&event);
    Ok(answer(Ok(code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::oidc::clients::add_client;
    use crate::accounts::oidc::requests::Params;
    use crate::auth::jose::Alg;

    const CALLBACK: &str = "https://app.example.com/cb";

    /// A provider with one app (public, or with a secret); the app's id.
    fn provider(public: bool) -> (Accounts, String) {
        let accounts = Accounts::for_tests(&[("PUBLIC_URL", "https://auth.example.com")]);
        let uris = [CALLBACK.to_string()];
        let app = add_client(
            &accounts,
            "a",
            &uris,
            public,
            &[],
            Alg::Es256,
            &Client::shell(0),
        )
        .unwrap();
        (accounts, app.client_id)
    }

    fn request(pairs: &[(&str, &str)]) -> AuthorizationRequest {
        let params: Params = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuthorizationRequest::read(&params)
    }

    #[test]
    fn nothing_goes_back_along_an_unknown_client_or_address() {
        let (accounts, client_id) = provider(false);
        let shell = Client::shell(0);
        let outcome =
            |pairs: &[(&str, &str)]| authorize(&accounts, &request(pairs), None, &shell).unwrap();
        assert_eq!(
            outcome(&[]),
            AuthorizeOutcome::BadClient(BadClient::NoClient)
        );
        assert_eq!(
            outcome(&[("client_id", "nobody"), ("redirect_uri", CALLBACK)]),
            AuthorizeOutcome::BadClient(BadClient::UnknownClient)
        );
        assert_eq!(
            outcome(&[
                ("client_id", &client_id),
                ("redirect_uri", "https://evil.example/cb")
            ]),
            AuthorizeOutcome::BadClient(BadClient::UnregisteredRedirect)
        );
        // Known good: the errors go back, with state and iss.
        let AuthorizeOutcome::Answer {
            redirect_uri,
            state,
            issuer,
            result,
        } = outcome(&[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "token"),
            ("state", "s"),
        ])
        else {
            panic!("expected an answer");
        };
        assert_eq!(
            (redirect_uri.as_str(), state.as_deref(), issuer.as_str()),
            (CALLBACK, Some("s"), "https://auth.example.com")
        );
        assert_eq!(result, Err(OAuthError::UnsupportedResponseType));
    }

    #[test]
    fn a_signed_out_browser_is_sent_to_sign_in_unless_prompt_is_none() {
        let (accounts, client_id) = provider(false);
        let base = [
            ("client_id", client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ];
        let shell = Client::shell(0);
        assert_eq!(
            authorize(&accounts, &request(&base), None, &shell).unwrap(),
            AuthorizeOutcome::SignIn { again: None }
        );
        let mut none = base.to_vec();
        none.push(("prompt", "none"));
        let AuthorizeOutcome::Answer { result, .. } =
            authorize(&accounts, &request(&none), None, &shell).unwrap()
        else {
            panic!("expected an answer");
        };
        assert_eq!(result.unwrap_err().code(), "login_required");
        let mut no_openid = base.to_vec();
        no_openid[3] = ("scope", "profile");
        let AuthorizeOutcome::Answer { result, .. } =
            authorize(&accounts, &request(&no_openid), None, &shell).unwrap()
        else {
            panic!("expected an answer");
        };
        assert_eq!(result, Err(OAuthError::InvalidScope));
    }

    #[test]
    fn a_public_client_must_use_pkce() {
        let (accounts, client_id) = provider(true);
        let shell = Client::shell(0);
        let asked = request(&[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ]);
        let AuthorizeOutcome::Answer { result, .. } =
            authorize(&accounts, &asked, None, &shell).unwrap()
        else {
            panic!("expected an answer");
        };
        assert_eq!(result.unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn a_session_marker_names_a_session_without_opening_it() {
        assert_eq!(session_marker(7), session_marker(7));
        assert_ne!(session_marker(7), session_marker(8));
        assert_eq!(session_marker(7).len(), 16);
    }
}
