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

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::SignedIn;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::{Decision, Visitor};
use crate::auth::jose::{Alg, Key, Published, Stored};
use crate::auth::sessions::OpenedWith;
use crate::storage::User;
use crate::storage::oidc::{Grant, GrantKind, OidcClient, Spent, StoredKey};
use crate::support::base64::{decode_url, encode_url};
use crate::support::text::percent_encode;
use crate::support::url::{Scheme, Url};

/// A code is good for a minute (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL_SECS: i64 = 60;
pub const ACCESS_TOKEN_TTL_SECS: i64 = 600;
pub const ID_TOKEN_TTL_SECS: i64 = 300;
/// A refresh token lasts 30 days from its issue (each use issues a new one).
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 86_400;
/// A rotated key stays published this long, for ID tokens signed with it.
pub const RETIRED_KEY_SECS: i64 = 86_400;
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// An OAuth error (RFC 6749 §4.1.2.1, §5.2): its code and a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: &'static str,
}

fn oauth(code: &'static str, description: &'static str) -> OAuthError {
    OAuthError { code, description }
}

/// 32 random bytes as base64url, and their SHA-256.
fn new_secret() -> Result<(String, [u8; 32]), Trouble> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Trouble::random)?;
    let text = encode_url(&bytes);
    let hash = Sha256::digest(text.as_bytes()).into();
    Ok((text, hash))
}

pub fn hash_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// RFC 8176 authentication method references for how the session opened.
fn amr(opened_with: OpenedWith) -> &'static str {
    match opened_with {
        OpenedWith::Password => "pwd",
        OpenedWith::PasswordTotp | OpenedWith::RecoveryCode => "pwd otp mfa",
        OpenedWith::Passkey => "hwk user mfa",
    }
}

/// A new client: its id, and its secret (shown once) unless public.
pub struct NewClient {
    pub client_id: String,
    pub secret: Option<String>,
}

pub fn add_client(
    accounts: &Accounts,
    name: &str,
    redirect_uris: &[String],
    public: bool,
    allowed_groups: &[String],
    alg: Alg,
    now: i64,
) -> Result<NewClient, Trouble> {
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

/// The keys to publish (making the first of each algorithm when there is
/// none): those in force and those retired less than a day ago. Read from
/// the database each time, so `admin oidc rotate-keys` in another process
/// counts at once; parsed again only when the set changed.
pub fn keys(accounts: &Accounts, now: i64) -> Result<Vec<Published>, Trouble> {
    let mut stored = accounts.db.oidc_keys()?;
    for alg in [Alg::Rs256, Alg::Es256] {
        let in_force = |k: &StoredKey| k.alg == alg.as_str() && k.retired_at.is_none();
        if !stored.iter().any(in_force) {
            add_key(accounts, alg, now)?;
            stored = accounts.db.oidc_keys()?;
        }
    }
    stored.retain(|k| k.retired_at.is_none_or(|at| now - at < RETIRED_KEY_SECS));
    let stored: Vec<Stored> = stored
        .iter()
        .map(|k| Stored {
            kid: &k.kid,
            alg: &k.alg,
            secret: &k.secret,
            retired_at: k.retired_at,
        })
        .collect();
    Ok(accounts.oidc_keys.keys(&stored))
}

/// The key that signs for `alg` now.
fn signer(accounts: &Accounts, alg: Alg, now: i64) -> Result<Arc<Key>, Trouble> {
    keys(accounts, now)?
        .into_iter()
        .find(|(key, retired)| key.alg() == alg && retired.is_none())
        .map(|(key, _)| key)
        .ok_or_else(|| Trouble::Internal(format!("no {} key in force", alg.as_str())))
}

/// Makes a key of `alg` the one that signs, retiring the one before.
pub fn add_key(accounts: &Accounts, alg: Alg, now: i64) -> Result<String, Trouble> {
    let (key, secret) = Key::generate(alg).map_err(|e| Trouble::busy(format!("key: {}", e.0)))?;
    accounts.db.add_oidc_key(
        &StoredKey {
            kid: key.kid.clone(),
            alg: alg.as_str().to_string(),
            secret,
            created_at: now,
            retired_at: None,
        },
        now - RETIRED_KEY_SECS,
    )?;
    Ok(key.kid)
}

/// What an authorization request leads to.
pub enum AuthorizeOutcome {
    /// An unknown client or an unregistered redirect URI: an error page,
    /// never a redirect (RFC 6749 §4.1.2.1: the URI is not to be trusted).
    BadClient(&'static str),
    /// To the client's redirect URI with a code, or an error, and `state`
    /// and `iss` (RFC 9207).
    Redirect(String),
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

/// `redirect_uri` with `params` added to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(name);
        out.push('=');
        out.push_str(&percent_encode(value));
        separator = '&';
    }
    out
}

/// The scopes asked for that the server knows, in its order; unknown
/// ones are left out (OpenID Connect Core §3.1.2.1).
fn granted_scope(asked: &str) -> String {
    let asked: Vec<&str> = asked.split(' ').collect();
    SCOPES
        .iter()
        .filter(|s| asked.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An authorization request (OpenID Connect Core §3.1.2), `GET` query or
/// `POST` form alike.
pub fn authorize(
    accounts: &Accounts,
    params: &BTreeMap<String, String>,
    me: Option<&SignedIn>,
    client: &Client,
) -> Result<AuthorizeOutcome, Trouble> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let Some(app) = param("client_id")
        .map(|id| accounts.db.oidc_client(id))
        .transpose()?
    else {
        return Ok(AuthorizeOutcome::BadClient("The request names no client."));
    };
    let Some(app) = app else {
        return Ok(AuthorizeOutcome::BadClient(
            "This app is not registered here.",
        ));
    };
    let Some(redirect_uri) =
        param("redirect_uri").filter(|uri| app.redirect_uris.iter().any(|r| r == uri))
    else {
        return Ok(AuthorizeOutcome::BadClient(
            "This app asked to be sent to an address not registered for it.",
        ));
    };
    let issuer = accounts.settings.public_url.clone().unwrap_or_default();
    let state = param("state");
    let answer = |extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = extra.to_vec();
        if let Some(state) = state {
            all.push(("state", state));
        }
        all.push(("iss", &issuer));
        AuthorizeOutcome::Redirect(with_query(redirect_uri, &all))
    };
    let error = |code: &str, description: &str| {
        answer(&[("error", code), ("error_description", description)])
    };

    if param("response_type") != Some("code") {
        return Ok(error(
            "unsupported_response_type",
            "only response_type=code",
        ));
    }
    let scope = granted_scope(param("scope").unwrap_or(""));
    if !scope.split(' ').any(|s| s == "openid") {
        return Ok(error("invalid_scope", "the scope must include openid"));
    }
    // PKCE (RFC 7636): S256 only; required of a public client, which has
    // no secret to prove the code is its own.
    let challenge = param("code_challenge");
    match (challenge, param("code_challenge_method")) {
        (Some(c), Some("S256"))
            if c.len() == 43 && decode_url(c).is_some_and(|d| d.len() == 32) => {}
        (None, None) if app.secret_hash.is_some() => {}
        (None, None) => {
            return Ok(error(
                "invalid_request",
                "a public client must use PKCE (S256)",
            ));
        }
        _ => {
            return Ok(error(
                "invalid_request",
                "code_challenge with code_challenge_method=S256",
            ));
        }
    }
    // prompt and max_age (OpenID Connect Core §3.1.2.1): `none` never
    // shows a page, and goes with no other value; `login`, or a sign-in
    // older than max_age seconds, asks for a new one. `reauth_from` is
    // this server's own: the way back from the sign-in page names the
    // session that was too old, so that only another one goes on.
    let prompts: Vec<&str> = param("prompt").map_or(Vec::new(), |p| p.split(' ').collect());
    let none = prompts.contains(&"none");
    if none && prompts.len() > 1 {
        return Ok(error(
            "invalid_request",
            "prompt=none goes with no other value",
        ));
    }
    let max_age = match param("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(seconds)) if seconds >= 0 => Some(seconds),
        Some(_) => {
            return Ok(error(
                "invalid_request",
                "max_age is a whole number of seconds",
            ));
        }
    };
    let Some(me) = me else {
        if none {
            return Ok(error("login_required", "the user is not signed in"));
        }
        return Ok(AuthorizeOutcome::SignIn { again: None });
    };
    let this_session = session_marker(me.session.public_id);
    let too_old = match param("reauth_from") {
        Some(old) => old == this_session,
        None => {
            // max_age=0 is prompt=login (OpenID Connect Core §3.1.2.1).
            prompts.contains(&"login")
                || max_age.is_some_and(|max| max == 0 || client.now - me.session.created_at > max)
        }
    };
    if too_old {
        if none {
            return Ok(error("login_required", "a new sign-in is needed"));
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
        return Ok(error("access_denied", "this user may not use this app"));
    }

    let (code, hash) = new_secret()?;
    let (_, family) = new_secret()?;
    accounts.db.add_grant(&Grant {
        hash,
        kind: GrantKind::Code,
        client_id: app.client_id.clone(),
        user_id: me.user.id,
        auth_epoch: me.user.auth_epoch,
        family,
        scope,
        nonce: param("nonce").map(str::to_string),
        redirect_uri: Some(redirect_uri.to_string()),
        code_challenge: challenge.map(str::to_string),
        auth_time: me.session.created_at,
        amr: amr(me.session.opened_with).to_string(),
        expires_at: client.now + CODE_TTL_SECS,
        issued_at: client.now,
    })?;
    accounts.record_detail(
        AuthEvent::OidcCodeIssued,
        Some(me.user.id),
        Some(&me.user.username),
        &format!("client={}", app.client_id),
        client,
    );
    Ok(answer(&[("code", &code)]))
}

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
fn may_use(
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

/// How a client proved who it is at the token endpoint.
pub struct ClientCredentials {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method` none).
    pub secret: Option<String>,
}

/// The client, if its credentials are good: a confidential client's secret
/// matches; a public client sent none.
fn authenticate(
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

/// What the token endpoint answers.
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

pub enum TokenOutcome {
    Issued(Tokens),
    /// `invalid_client`: 401 with `WWW-Authenticate`.
    BadClient,
    Refused(OAuthError),
}

/// A token request: the grant and its parameters.
pub enum TokenGrant<'a> {
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
    },
    RefreshToken {
        refresh_token: &'a str,
    },
}

pub fn token(
    accounts: &Accounts,
    credentials: &ClientCredentials,
    grant: TokenGrant,
    client: &Client,
) -> Result<TokenOutcome, Trouble> {
    let now = client.now;
    let Some(app) = authenticate(accounts, credentials)? else {
        return Ok(TokenOutcome::BadClient);
    };
    let invalid = |description| Ok(TokenOutcome::Refused(oauth("invalid_grant", description)));
    let (spent, kind) = match grant {
        TokenGrant::AuthorizationCode { code, .. } => (
            accounts
                .db
                .spend_grant(&hash_of(code), GrantKind::Code, now)?,
            GrantKind::Code,
        ),
        TokenGrant::RefreshToken { refresh_token } => (
            accounts
                .db
                .spend_grant(&hash_of(refresh_token), GrantKind::Refresh, now)?,
            GrantKind::Refresh,
        ),
    };
    let used = match spent {
        Spent::Fresh(used) => used,
        // A second use of a code or refresh token: everything issued from
        // it is revoked already (RFC 6749 §4.1.2; OAuth 2.0 Security BCP,
        // RFC 9700 §4.14.2 for refresh tokens).
        Spent::Replayed { user_id, client_id } => {
            accounts.record_detail(
                AuthEvent::OidcReplayDetected,
                Some(user_id),
                None,
                &format!("client={client_id} family revoked"),
                client,
            );
            return invalid("used before: every token from it is revoked");
        }
        Spent::Unknown => return invalid("unknown, expired or revoked"),
    };
    if used.client_id != app.client_id || used.expires_at <= now {
        return invalid("unknown, expired or revoked");
    }
    if let TokenGrant::AuthorizationCode {
        redirect_uri,
        code_verifier,
        ..
    } = grant
    {
        if redirect_uri != used.redirect_uri.as_deref() {
            return invalid("redirect_uri differs from the authorization request's");
        }
        // PKCE: the verifier must hash to the challenge; a verifier without
        // a challenge is a downgrade and refused too (RFC 9700 §2.1.1).
        let good = match (&used.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => {
                (43..=128).contains(&verifier.len())
                    && encode_url(&Sha256::digest(verifier.as_bytes())) == *challenge
            }
            (None, None) => true,
            _ => false,
        };
        if !good {
            return invalid("the code_verifier does not match the code_challenge");
        }
    }
    let Some(user) = accounts.db.user_by_id(used.user_id)? else {
        return invalid("the account is gone");
    };
    if user.disabled || user.auth_epoch != used.auth_epoch {
        return invalid("the account changed since: sign in again");
    }
    if kind == GrantKind::Refresh {
        // The family's absolute lifetime, however often it was refreshed
        // (ASVS 5.0 v5.0.0-10.4.8).
        if now - used.issued_at >= refresh_max_secs(accounts) {
            return invalid("the refresh token's lifetime is over: sign in again");
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
            return invalid("this account may no longer use this app");
        }
    }
    let tokens = issue(accounts, &app, &user, &used, kind, now)?;
    if kind == GrantKind::Refresh {
        accounts.record_detail(
            AuthEvent::OidcRefresh,
            Some(user.id),
            Some(&user.username),
            &format!("client={}", app.client_id),
            client,
        );
    }
    Ok(TokenOutcome::Issued(tokens))
}

/// An access token, an ID token, and (with `offline_access`) a refresh
/// token, all of `from`'s family.
fn issue(
    accounts: &Accounts,
    app: &OidcClient,
    user: &User,
    from: &Grant,
    kind: GrantKind,
    now: i64,
) -> Result<Tokens, Trouble> {
    let grant = |kind: GrantKind, ttl: i64| -> Result<String, Trouble> {
        let (token, hash) = new_secret()?;
        accounts.db.add_grant(&Grant {
            hash,
            kind,
            expires_at: now + ttl,
            ..from.clone()
        })?;
        Ok(token)
    };
    let access_token = grant(GrantKind::Access, ACCESS_TOKEN_TTL_SECS)?;
    let refresh_token = if from.scope.split(' ').any(|s| s == "offline_access") {
        // Sliding 30 days, never past the family's absolute end.
        let left = from.issued_at + refresh_max_secs(accounts) - now;
        Some(grant(GrantKind::Refresh, REFRESH_TOKEN_TTL_SECS.min(left))?)
    } else {
        None
    };
    let mut claims = claims(accounts, user, &from.scope)?;
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
    Ok(Tokens {
        access_token,
        id_token: key.sign(&claims),
        refresh_token,
        scope: from.scope.clone(),
    })
}

/// `sub` and the claims of each granted scope (OpenID Connect Core §5.4):
/// `profile` the username as `preferred_username` and `name`; `email` the
/// address only once verified (as forward auth); `groups` the groups.
pub fn claims(accounts: &Accounts, user: &User, scope: &str) -> Result<Value, Trouble> {
    // Random, made at the account's first sign-in to an app and never
    // reassigned (OpenID Connect Core §8): no internal id leaks.
    let gone = || Trouble::Internal("the account vanished".into());
    let sub = match accounts.db.oidc_subject(user.id)?.ok_or_else(gone)? {
        Some(sub) => sub,
        None => {
            let (fresh, _) = new_secret()?;
            accounts
                .db
                .set_oidc_subject(user.id, &fresh)?
                .ok_or_else(gone)?
        }
    };
    let mut claims = json!({ "sub": sub });
    for scope in scope.split(' ') {
        match scope {
            "profile" => {
                claims["preferred_username"] = json!(user.username);
                claims["name"] = json!(user.username);
            }
            "email" => {
                if user.email_verified {
                    claims["email"] = json!(user.email);
                }
                claims["email_verified"] = json!(user.email_verified);
            }
            "groups" => claims["groups"] = json!(user.groups),
            _ => {}
        }
    }
    Ok(claims)
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
    let Some(grant) = accounts
        .db
        .grant(&hash_of(access_token), GrantKind::Access)?
    else {
        return Ok(None);
    };
    if grant.expires_at <= client.now {
        return Ok(None);
    }
    let Some(user) = accounts
        .db
        .user_by_id(grant.user_id)?
        .filter(|user| !user.disabled && user.auth_epoch == grant.auth_epoch)
    else {
        return Ok(None);
    };
    let Some(app) = accounts.db.oidc_client(&grant.client_id)? else {
        return Ok(None);
    };
    let redirect_uri = grant.redirect_uri.as_deref().unwrap_or("");
    if !may_use(
        accounts,
        &app,
        &user,
        &grant_visitor(&user, &grant),
        redirect_uri,
        client,
    ) {
        return Ok(None);
    }
    Ok(Some(claims(accounts, &user, &grant.scope)?))
}

/// RFC 7009: revokes an access or refresh token of this client (and its
/// family); the answer is the same whether it existed or not.
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
    let keys = keys(accounts, now)?;
    let Some(claims) = keys.iter().find_map(|(key, _)| key.verify(id_token)) else {
        return Ok(None);
    };
    let (Some(audience), Some(sub)) = (claims["aud"].as_str(), claims["sub"].as_str()) else {
        return Ok(None);
    };
    if accounts.db.oidc_subject(me.id)?.flatten().as_deref() != Some(sub) {
        return Ok(None);
    }
    Ok(accounts.db.oidc_client(audience)?)
}
