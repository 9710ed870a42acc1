//! Codes and tokens once issued: the token endpoint (a code or a refresh
//! token for new tokens), userinfo (what an access token may read) and
//! revocation. Every use asks again whether the account may still use the
//! app, so a grant stays true to the groups and rules in force.

use serde_json::{Value, json};

use crate::accounts::audit::AuthEvent;
use crate::accounts::oidc::claims::claims;
use crate::accounts::oidc::clients::{ClientCredentials, authenticate};
use crate::accounts::oidc::keys::signer;
use crate::accounts::oidc::requests::{OAuthError, Pkce, Scope, TokenRequest};
use crate::accounts::oidc::{
    ACCESS_TOKEN_TTL_SECS, ID_TOKEN_TTL_SECS, REFRESH_TOKEN_TTL_SECS, hash_of, new_secret,
};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::{Decision, Visitor};
use crate::auth::jose::Alg;
use crate::storage::User;
use crate::storage::oidc::{Exchanged, Grant, GrantKind, OidcClient, Spent};
use crate::support::url::Url;

/// Whether `user` may use `app`: the client's `--allowed-group`s (then a
/// member of one), and an access rule that matches the redirect URI's host
/// and path, if the rules file has one (a client's host no rule names is
/// left to its groups: the rules guard forward-auth hosts). A catch-all
/// `*` rule names every host, so it decides too; a redirect URI that is
/// not an http(s) URL has no host, and meets only `*` rules. Asked at
/// sign-in and again at every refresh and userinfo call, so a grant stays
/// true to the groups and rules in force. A refusal by a rule is recorded
/// as `access_denied` (with the rule's line), by the client's groups as
/// `oidc_client_denied`.
pub(crate) fn may_use(
    accounts: &Accounts,
    app: &OidcClient,
    user: &User,
    visitor: &Visitor,
    redirect_uri: &str,
    client: &Client,
) -> bool {
    let parsed = Url::parse(redirect_uri).ok();
    let host = parsed.as_ref().map(|url| url.authority.host.key());
    let path = parsed
        .as_ref()
        .and_then(|url| url.normalized_path().ok())
        .unwrap_or_else(|| "/".to_string());
    if !app.allowed_groups.is_empty() && !app.allowed_groups.iter().any(|g| user.groups.contains(g))
    {
        let detail = format!(
            "client={} rule=allowed-group {} decision=forbidden",
            app.client_id,
            app.allowed_groups.join(",")
        );
        accounts.record_detail(
            AuthEvent::OidcClientDenied,
            Some(user.id),
            Some(&user.username),
            &detail,
            client,
        );
        return false;
    }
    let rules = accounts.rules.current();
    if rules.rule_for(host.as_deref(), &path).is_none() {
        return true;
    }
    let verdict = rules.decide(host.as_deref(), &path, Some(visitor));
    accounts.record_refusal(Some(user), host.as_deref(), &path, &verdict, client);
    matches!(verdict.decision, Decision::Allow { .. })
}

/// The visitor a grant speaks for: a second factor when the sign-in it
/// came from had one.
fn grant_visitor<'a>(user: &'a User, grant: &Grant) -> Visitor<'a> {
    Visitor {
        username: &user.username,
        groups: &user.groups,
        second_factor: grant.amr.split(' ').any(|m| m == "mfa"),
    }
}

/// What the token endpoint answers.
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

pub enum TokenOutcome {
    Issued(Tokens),
    /// `invalid_client`.
    BadClient,
    Refused(OAuthError),
}

pub fn token(
    accounts: &Accounts,
    credentials: &ClientCredentials,
    request: &TokenRequest,
    client: &Client,
) -> Result<TokenOutcome, Trouble> {
    let now = client.now;
    let Some(app) = authenticate(accounts, credentials)? else {
        return Ok(TokenOutcome::BadClient);
    };
    let (presented, kind) = match request {
        TokenRequest::AuthorizationCode { code, .. } => (code, GrantKind::Code),
        TokenRequest::RefreshToken { refresh_token } => (refresh_token, GrantKind::Refresh),
    };
    let hash = hash_of(presented);
    // Read first, checked, then spent in the one commit that stores what it
    // buys. A refused one is spent all the same, as it would have been had
    // it been spent first: a code is good for one try.
    let refused = |why| Ok(TokenOutcome::Refused(OAuthError::InvalidGrant(why)));
    let refuse = |why| -> Result<TokenOutcome, Trouble> {
        spend(accounts, &hash, kind, client)?;
        refused(why)
    };
    let Some(used) = accounts.db.grant(&hash, kind)? else {
        // Spent before (a replay) or unknown: `spend` tells which.
        return refused(spend(accounts, &hash, kind, client)?);
    };
    if used.client_id != app.client_id || used.expires_at <= now {
        return refuse("unknown, expired or revoked");
    }
    if let TokenRequest::AuthorizationCode {
        redirect_uri,
        code_verifier,
        ..
    } = request
    {
        if redirect_uri.as_deref() != used.redirect_uri.as_deref() {
            return refuse("redirect_uri differs from the authorization request's");
        }
        // PKCE: the verifier must hash to the challenge; a verifier without
        // a challenge is a downgrade and refused too (RFC 9700 §2.1.1).
        let good = match (&used.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => Pkce::stored(challenge).verifies(verifier),
            (None, None) => true,
            _ => false,
        };
        if !good {
            return refuse("the code_verifier does not match the code_challenge");
        }
    }
    let Some(user) = accounts.db.session_user(used.user_id)? else {
        return refuse("the account is gone");
    };
    if user.disabled || user.auth_epoch != used.auth_epoch {
        return refuse(ACCOUNT_CHANGED);
    }
    if kind == GrantKind::Refresh {
        // The family's absolute lifetime, however often it was refreshed
        // (ASVS 5.0 v5.0.0-10.4.8).
        if now - used.issued_at >= refresh_max_secs(accounts) {
            return refuse("the refresh token's lifetime is over: sign in again");
        }
        // The groups and rules in force now, not those of the sign-in.
        let redirect_uri = used.redirect_uri.as_deref().unwrap_or("");
        if !may_use(
            accounts,
            &app,
            &user,
            &grant_visitor(&user, &used),
            redirect_uri,
            client,
        ) {
            return refuse("this account may no longer use this app");
        }
    }
    let (tokens, issued) = issue(accounts, &app, &user, &used, kind, now)?;
    let detail = format!("client={}", app.client_id);
    let event = (kind == GrantKind::Refresh).then(|| {
        accounts.event_for_write(
            AuthEvent::OidcRefresh,
            Some(user.id),
            Some(&user.username),
            Some(&detail),
            client,
        )
    });
    let account = (user.id, user.auth_epoch);
    let row = event.as_ref().map(|(row, _)| row);
    match accounts
        .db
        .exchange_grant(&hash, kind, now, account, &issued, row)?
    {
        Exchanged::Done => {}
        // Two requests raced with one code or token: the other won, so this
        // one is a replay.
        Exchanged::SpentMeanwhile => return refused(spend(accounts, &hash, kind, client)?),
        Exchanged::AccountChanged => return refuse(ACCOUNT_CHANGED),
    }
    if let Some((_, line)) = &event {
        accounts.log_event(line);
    }
    Ok(TokenOutcome::Issued(tokens))
}

const ACCOUNT_CHANGED: &str = "the account changed since: sign in again";

/// Spends a code or refresh token on its own: the answer to give when it
/// was spent before (a replay: everything issued from it is revoked now,
/// RFC 6749 §4.1.2; OAuth 2.0 Security BCP, RFC 9700 §4.14.2 for refresh
/// tokens) or is unknown.
fn spend(
    accounts: &Accounts,
    hash: &[u8; 32],
    kind: GrantKind,
    client: &Client,
) -> Result<&'static str, Trouble> {
    Ok(match accounts.db.spend_grant(hash, kind, client.now)? {
        Spent::Fresh(_) => "unknown, expired or revoked",
        Spent::Replayed { user_id, client_id } => {
            accounts.record_detail(
                AuthEvent::OidcReplayDetected,
                Some(user_id),
                None,
                &format!("client={client_id} family revoked"),
                client,
            );
            "used before: every token from it is revoked"
        }
        Spent::Unknown => "unknown, expired or revoked",
    })
}

/// An access token, an ID token, and (with `offline_access`) a refresh
/// token, all of `from`'s family; and the grants to store for them.
fn issue(
    accounts: &Accounts,
    app: &OidcClient,
    user: &User,
    from: &Grant,
    kind: GrantKind,
    now: i64,
) -> Result<(Tokens, Vec<Grant>), Trouble> {
    let mut issued = Vec::with_capacity(2);
    let mut grant = |kind: GrantKind, ttl: i64| -> Result<String, Trouble> {
        let (token, hash) = new_secret()?;
        issued.push(Grant {
            hash,
            kind,
            expires_at: now + ttl,
            ..from.clone()
        });
        Ok(token)
    };
    let scope = Scope::parse(&from.scope);
    let access_token = grant(GrantKind::Access, ACCESS_TOKEN_TTL_SECS)?;
    let refresh_token = if scope.contains("offline_access") {
        // Sliding 30 days, never past the family's absolute end.
        let left = from.issued_at + refresh_max_secs(accounts) - now;
        Some(grant(GrantKind::Refresh, REFRESH_TOKEN_TTL_SECS.min(left))?)
    } else {
        None
    };
    let mut claims = claims(accounts, user, scope)?;
    claims["iss"] = json!(accounts.settings.public_url);
    claims["aud"] = json!(app.client_id);
    claims["azp"] = json!(app.client_id);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + ID_TOKEN_TTL_SECS);
    claims["auth_time"] = json!(from.auth_time);
    claims["amr"] = json!(from.amr.split(' ').collect::<Vec<_>>());
    // The nonce binds the ID token to the browser's request; a refreshed
    // ID token carries none (OpenID Connect Core §12.2).
    if kind == GrantKind::Code
        && let Some(nonce) = &from.nonce
    {
        claims["nonce"] = json!(nonce);
    }
    let alg = Alg::parse(&app.alg).unwrap_or(Alg::Rs256);
    let key = signer(accounts, alg, now)?;
    let tokens = Tokens {
        access_token,
        id_token: key.sign(&claims),
        refresh_token,
        scope: from.scope.clone(),
    };
    Ok((tokens, issued))
}

/// `OIDC_REFRESH_MAX_DAYS` in seconds.
fn refresh_max_secs(accounts: &Accounts) -> i64 {
    accounts.settings.oidc_refresh_max_days * 86_400
}

/// The claims an access token may read at userinfo; `None` for a token
/// that is unknown, expired, revoked, whose account changed, or whose
/// account the client's groups or the access rules no longer let in.
pub fn userinfo(
    accounts: &Accounts,
    access_token: &str,
    client: &Client,
) -> Result<Option<Value>, Trouble> {
    // From memory, like a session check (`storage/cache.rs` says how a
    // revocation, a removed client or a changed account is seen at once).
    let Some(access) = accounts.db.access_grant(&hash_of(access_token))? else {
        return Ok(None);
    };
    let grant = &access.grant;
    if grant.expires_at <= client.now {
        return Ok(None);
    }
    let Some(user) = accounts
        .db
        .session_user(grant.user_id)?
        .filter(|user| !user.disabled && user.auth_epoch == grant.auth_epoch)
    else {
        return Ok(None);
    };
    let redirect_uri = grant.redirect_uri.as_deref().unwrap_or("");
    if !may_use(
        accounts,
        &access.client,
        &user,
        &grant_visitor(&user, grant),
        redirect_uri,
        client,
    ) {
        return Ok(None);
    }
    Ok(Some(claims(accounts, &user, Scope::parse(&grant.scope))?))
}

/// RFC 7009: revokes an access or refresh token of this client (and its
/// family); the answer is the same whether it existed or not. `None`: the
/// client's credentials are bad.
pub fn revoke(
    accounts: &Accounts,
    credentials: &ClientCredentials,
    token: &str,
) -> Result<Option<()>, Trouble> {
    let Some(app) = authenticate(accounts, credentials)? else {
        return Ok(None);
    };
    accounts.db.revoke_grant(&hash_of(token), &app.client_id)?;
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::check::SignedIn;
    use crate::accounts::oidc::authorize::{AuthorizeOutcome, authorize};
    use crate::accounts::oidc::clients::add_client;
    use crate::accounts::oidc::requests::{AuthorizationRequest, Params};
    use crate::auth::sessions::{OpenedWith, Session};
    use crate::auth::token::Token;
    use crate::support::base64::encode_url;
    use sha2::{Digest, Sha256};

    const CALLBACK: &str = "https://app.example.com/cb";
    const VERIFIER: &str = "a-code-verifier-of-at-least-forty-three-characters-123";

    /// A code for `alice`, made the way a browser would get one.
    /// A public ES256 app with `CALLBACK` as its redirect URI.
    fn public_app(accounts: &Accounts) -> crate::accounts::oidc::clients::NewClient {
        add_client(
            accounts,
            "a",
            &[CALLBACK.into()],
            true,
            &[],
            Alg::Es256,
            &Client::shell(0),
        )
        .unwrap()
    }

    fn code_for(accounts: &Accounts, client_id: &str, scope: &str, now: i64) -> String {
        let user = accounts.user_for_tests("alice");
        let token = Token::generate().unwrap();
        let session = Session {
            user_id: user.id,
            public_id: 1,
            auth_epoch: user.auth_epoch,
            created_at: now,
            last_seen_at: now,
            absolute_end: now + 3600,
            idle_secs: 3600,
            remember: false,
            previous_login_at: None,
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            user_agent: String::new(),
            opened_with: OpenedWith::Password,
            proved_at: now,
        };
        let me = SignedIn {
            token,
            session,
            user: std::sync::Arc::new(user),
        };
        let challenge = encode_url(&Sha256::digest(VERIFIER.as_bytes()));
        let params: Params = [
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let request = AuthorizationRequest::read(&params);
        match authorize(accounts, &request, Some(&me), &Client::shell(now)).unwrap() {
            AuthorizeOutcome::Answer { result, .. } => result.unwrap(),
            other => panic!("no code: {other:?}"),
        }
    }

    fn exchange(code: &str, verifier: &str) -> TokenRequest {
        TokenRequest::AuthorizationCode {
            code: code.to_string(),
            redirect_uri: Some(CALLBACK.to_string()),
            code_verifier: Some(verifier.to_string()),
        }
    }

    #[test]
    fn a_code_is_exchanged_once_and_its_tokens_read_userinfo() {
        let accounts = Accounts::for_tests(&[("PUBLIC_URL", "https://auth.example.com")]);
        let app = public_app(&accounts);
        let credentials = ClientCredentials {
            client_id: app.client_id.clone(),
            secret: None,
        };
        let code = code_for(
            &accounts,
            &app.client_id,
            "openid profile offline_access",
            100,
        );
        let shell = Client::shell(101);
        let TokenOutcome::Issued(tokens) =
            token(&accounts, &credentials, &exchange(&code, VERIFIER), &shell).unwrap()
        else {
            panic!("no tokens");
        };
        assert_eq!(tokens.scope, "openid profile offline_access");
        assert!(tokens.refresh_token.is_some());
        let claims = userinfo(&accounts, &tokens.access_token, &shell)
            .unwrap()
            .unwrap();
        assert_eq!(claims["preferred_username"], "alice");
        // The same code again: refused, and the family is revoked.
        let TokenOutcome::Refused(error) =
            token(&accounts, &credentials, &exchange(&code, VERIFIER), &shell).unwrap()
        else {
            panic!("a replay was accepted");
        };
        assert_eq!(error.code(), "invalid_grant");
        assert!(
            userinfo(&accounts, &tokens.access_token, &shell)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_wrong_verifier_or_client_gets_nothing() {
        let accounts = Accounts::for_tests(&[("PUBLIC_URL", "https://auth.example.com")]);
        let app = public_app(&accounts);
        let code = code_for(&accounts, &app.client_id, "openid", 100);
        let shell = Client::shell(101);
        let stranger = ClientCredentials {
            client_id: "nobody".into(),
            secret: None,
        };
        assert!(matches!(
            token(&accounts, &stranger, &exchange(&code, VERIFIER), &shell).unwrap(),
            TokenOutcome::BadClient
        ));
        let credentials = ClientCredentials {
            client_id: app.client_id.clone(),
            secret: None,
        };
        let wrong = "another-code-verifier-of-at-least-forty-three-chars";
        let TokenOutcome::Refused(error) =
            token(&accounts, &credentials, &exchange(&code, wrong), &shell).unwrap()
        else {
            panic!("a wrong verifier was accepted");
        };
        assert_eq!(
            error,
            OAuthError::InvalidGrant("the code_verifier does not match the code_challenge")
        );
    }
}
