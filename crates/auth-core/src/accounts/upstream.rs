//! Signing in through an upstream OpenID provider ("Sign in with …"), as
//! a relying party with the authorization code flow (OpenID Connect Core
//! §3.1), linked to local accounts so apps behind this server keep seeing
//! one identity, its groups and its rules.
//!
//! 1. [`start`]: a `state`, a `nonce` and a PKCE verifier (RFC 7636, S256)
//!    go into a cookie sealed by this process ([`Seal`]): the state is
//!    bound to this browser, single use and ten minutes long, and nothing
//!    is kept in memory for anyone who merely asks. The browser goes to
//!    the provider.
//! 2. [`finish`] (the callback): the state must match the cookie's and be
//!    unspent; `iss` must be the issuer (RFC 9207); the code is exchanged
//!    with the client secret (`client_secret_basic`), and the ID token
//!    checked (`auth::upstream::check_id_token`). What the token lacks of
//!    email and username comes from userinfo, whose `sub` must match.
//! 3. The identity (issuer, `sub`) names the account through its link; a
//!    first sign-in links by a verified address or makes an account, when
//!    the operator allowed it. An account with two-factor login still
//!    shows its code ([`finish_code`]). The session then opens as a
//!    password sign-in's does: only if the account is as it was read.
//!
//! The provider is reached through [`Fetch`], which the server provides
//! (an HTTPS client); this crate has no network code of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::{self, AppCode, SignedIn};
use crate::accounts::login::open_session;
use crate::accounts::notices::Change;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::challenges::Seal;
use crate::auth::jose::JwsError;
use crate::auth::sessions::{NewSession, OpenedWith, Session};
use crate::auth::token::Token;
use crate::auth::upstream::{
    Discovery, Expected, Profile, TokenProblem, check_id_token, pkce_challenge, secure,
    username_base,
};
use crate::storage::upstreams::{Link, Upstream, UpstreamUser};
use crate::storage::{InsertError, User};
use crate::support::base64::{encode, encode_url};
use crate::support::config::Registration;
use crate::support::lock::lock;
use crate::support::text::percent_encode;
use crate::support::url::Url;

/// The cookie that carries a sign-in under way (sealed), sent back only to
/// the callbacks' path.
pub const STATE_COOKIE: &str = "upstream_state";
/// The cookie that carries a provider's proof while the account's code is
/// asked for (sealed).
pub const PROOF_COOKIE: &str = "upstream_proof";
/// How long a sign-in at the provider may take.
pub const STATE_TTL_SECS: i64 = 600;
/// How long the code may take once the provider has answered.
pub const PROOF_TTL_SECS: i64 = 300;
/// A discovery document is fetched again after this long.
const DISCOVERY_TTL_SECS: i64 = 3600;
/// The key set is fetched again for an unknown `kid` (a provider rotating
/// its keys) at most this often, so forged `kid`s cannot make this server
/// hammer the provider.
const KEYS_REFETCH_SECS: i64 = 60;
/// How long a failed fetch of a provider's documents is answered from
/// memory.
const FAILURE_PAUSE_SECS: i64 = 30;
/// The placeholder password hash of an account made through a provider: not
/// bcrypt, so no password matches it; a reset link sets a real one.
pub const NO_PASSWORD: &str = "!upstream";
/// The scopes asked for when the operator names none.
pub const DEFAULT_SCOPE: &str = "openid email profile";

/// One request to a provider: what the server's HTTPS client does for
/// this flow.
pub trait Fetch: Send + Sync {
    /// The reply's status and body, or why there is none (for the log).
    fn fetch(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String>;
}

/// What a provider's answers are kept as.
#[derive(Clone)]
struct Provider {
    discovery: Discovery,
    keys: Value,
    fetched_at: i64,
    /// When an unknown `kid` last made the keys be fetched again.
    keys_refetched_at: Option<i64>,
}

/// The flow's state in the server: the client, the providers' documents
/// and keys, and the seal.
#[derive(Default)]
pub struct Upstreams {
    fetch: OnceLock<Arc<dyn Fetch>>,
    providers: Mutex<HashMap<String, Provider>>,
    /// A provider whose documents could not be fetched, when and why: for
    /// [`FAILURE_PAUSE_SECS`] nobody's start tries again, so visitors of a
    /// provider that is down (or slow) cannot keep the workers waiting on
    /// it.
    failures: Mutex<HashMap<String, (i64, String)>>,
    seal: Seal,
}

impl Upstreams {
    /// Gives the flow its way to the network (once, at start-up).
    pub fn set_fetch(&self, fetch: Arc<dyn Fetch>) {
        let _ = self.fetch.set(fetch);
    }
}

/// Why a sign-in through a provider stopped. `code()` is what the sign-in
/// page is told (it words it for a person); the log gets the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No provider of that name (or none configured: no `PUBLIC_URL`).
    UnknownProvider,
    /// The provider could not be reached or answered nonsense.
    Unavailable(String),
    /// The state is missing, spent, stale or from another browser.
    State,
    /// The person (or the provider) cancelled: its `error` parameter.
    Cancelled(String),
    /// The provider's answer failed a check (iss, the token, userinfo).
    Rejected(String),
    /// No linked account, and linking or making one is not allowed.
    NoAccount,
    /// Linking or making an account needs an address the provider says is
    /// verified.
    EmailUnverified,
    /// The address's domain is not one the operator allowed.
    Domain,
    /// A new account would be needed, and sign-up is closed (or wants an
    /// invitation that is missing or unusable).
    RegistrationClosed,
    /// A new account would take an address an existing account has.
    EmailTaken,
    /// The account is disabled.
    Disabled,
    /// `REQUIRE_VERIFIED_EMAIL` and the account's address is not verified.
    EmailNotVerified,
    /// Connecting: this provider identity belongs to another account.
    LinkedElsewhere,
    /// Connecting: the browser is no longer signed in as the account that
    /// asked, or the account changed meanwhile.
    NotSignedIn,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownProvider => "unknown_provider",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::State => "state",
            Refusal::Cancelled(_) => "cancelled",
            Refusal::Rejected(_) => "rejected",
            Refusal::NoAccount => "no_account",
            Refusal::EmailUnverified => "email_unverified",
            Refusal::Domain => "domain",
            Refusal::RegistrationClosed => "registration_closed",
            Refusal::EmailTaken => "email_taken",
            Refusal::Disabled => "disabled",
            Refusal::EmailNotVerified => "email_not_verified",
            Refusal::LinkedElsewhere => "linked_elsewhere",
            Refusal::NotSignedIn => "not_signed_in",
        }
    }

    /// The detail, for the log line.
    pub fn detail(&self) -> &str {
        match self {
            Refusal::Unavailable(why) | Refusal::Cancelled(why) | Refusal::Rejected(why) => why,
            _ => "",
        }
    }
}

/// The sign-in under way, as the state cookie holds it.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// The state, 32 random bytes (base64url).
    state: String,
    upstream: String,
    nonce: String,
    verifier: String,
    rd: Option<String>,
    invite: Option<String>,
    /// Connecting to this account (signed in, with a fresh proof, at the
    /// start), at this auth epoch.
    connect: Option<(i64, i64)>,
    at: i64,
}

/// A provider's proof, waiting for the account's code.
#[derive(Serialize, Deserialize)]
struct Proof {
    id: String,
    user_id: i64,
    epoch: i64,
    upstream: String,
    rd: Option<String>,
    at: i64,
}

const STATE_PURPOSE: &[u8] = b"upstream state ";
const PROOF_PURPOSE: &[u8] = b"upstream proof ";

/// `value` as JSON, sealed for `purpose`: a cookie's value.
fn seal(accounts: &Accounts, purpose: &[u8], value: &impl Serialize) -> Result<String, Trouble> {
    let body = serde_json::to_vec(value).map_err(|e| Trouble::Internal(e.to_string()))?;
    accounts
        .upstreams
        .seal
        .seal(purpose, &body)
        .map_err(Trouble::random)
}

/// What a cookie sealed for `purpose` holds; `None` for anything else.
fn unseal<T: serde::de::DeserializeOwned>(
    accounts: &Accounts,
    purpose: &[u8],
    cookie: Option<&str>,
) -> Option<T> {
    let body = accounts.upstreams.seal.open(purpose, cookie?)?;
    serde_json::from_slice(&body).ok()
}

/// 256 random bits, base64url: a state, a nonce, a verifier, a proof's id.
fn random_text() -> Result<String, Trouble> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Trouble::random)?;
    Ok(encode_url(&bytes))
}

/// The 256 bits back from [`random_text`]'s text, as the seal spends them.
fn spend_id(text: &str) -> Option<[u8; 32]> {
    crate::support::base64::decode_url(text).and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// Where the provider sends the browser back: `PUBLIC_URL/auth/upstream/NAME/callback`.
pub fn callback_url(accounts: &Accounts, name: &str) -> Option<String> {
    let base = accounts.settings.public_url.as_deref()?;
    Some(format!(
        "{}/auth/upstream/{name}/callback",
        base.trim_end_matches('/')
    ))
}

/// A sign-in through a provider begins.
pub struct Started {
    /// Where to send the browser: the provider's authorization endpoint.
    pub location: String,
    /// The state cookie's value.
    pub cookie: String,
}

/// What [`start`] is asked.
pub struct StartRequest<'a> {
    pub name: &'a str,
    /// Where to go after, if the sign-in approves it.
    pub rd: Option<&'a str>,
    pub invite: Option<&'a str>,
    /// Connecting a provider to the signed-in account (its fresh proof
    /// checked by the caller).
    pub connect: Option<&'a User>,
}

pub fn start(
    accounts: &Accounts,
    request: &StartRequest,
    client: &Client,
) -> Result<Result<Started, Refusal>, Trouble> {
    let Some(upstream) = accounts.db.upstream(request.name)? else {
        return Ok(Err(Refusal::UnknownProvider));
    };
    let Some(redirect_uri) = callback_url(accounts, &upstream.name) else {
        return Ok(Err(Refusal::UnknownProvider));
    };
    let provider = match provider(accounts, &upstream, client.now, false) {
        Ok(provider) => provider,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let state = random_text()?;
    let nonce = random_text()?;
    let verifier = random_text()?;
    let pending = Pending {
        state: state.clone(),
        upstream: upstream.name.clone(),
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        rd: request.rd.and_then(|rd| accounts.approved_redirect(rd)),
        invite: request.invite.map(str::to_string),
        connect: request.connect.map(|user| (user.id, user.auth_epoch)),
        at: client.now,
    };
    let cookie = seal(accounts, STATE_PURPOSE, &pending)?;
    let endpoint = &provider.discovery.authorization_endpoint;
    let query = [
        ("response_type", "code"),
        ("client_id", upstream.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", upstream.scope.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", &pkce_challenge(&verifier)),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", percent_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let mut location = format!(
        "{}://{}{}",
        endpoint.scheme.as_str(),
        endpoint.authority,
        endpoint.path
    );
    location.push('?');
    if let Some(existing) = endpoint.query.as_deref().filter(|q| !q.is_empty()) {
        location.push_str(existing);
        location.push('&');
    }
    location.push_str(&query);
    Ok(Ok(Started { location, cookie }))
}

/// What came back to the callback.
pub struct Callback<'a> {
    pub name: &'a str,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The state cookie.
    pub cookie: Option<&'a str>,
    /// The browser's session, if signed in (connecting needs it; a sign-in
    /// ends it).
    pub signed_in: Option<&'a SignedIn>,
    pub previous: Vec<Token>,
}

/// How a callback ended well.
pub enum Finished {
    SignedIn {
        user: Box<User>,
        token: Token,
        session: Session,
        rd: Option<String>,
    },
    /// The account has two-factor login: the proof cookie to set, and the
    /// sign-in page asks for the code.
    CodeNeeded { proof: String, rd: Option<String> },
    /// A provider was connected to the signed-in account.
    Connected { upstream: String },
}

pub fn finish(
    accounts: &Accounts,
    callback: Callback,
    client: &Client,
) -> Result<Result<Finished, Refusal>, Trouble> {
    let outcome = finish_inner(accounts, &callback, client);
    if let Ok(Err(refusal)) = &outcome {
        let detail = match refusal.detail() {
            "" => format!("upstream={} refused={}", callback.name, refusal.code()),
            why => format!(
                "upstream={} refused={} why={why}",
                callback.name,
                refusal.code()
            ),
        };
        accounts.record_detail(AuthEvent::UpstreamFailed, None, None, &detail, client);
    }
    outcome
}

fn finish_inner(
    accounts: &Accounts,
    callback: &Callback,
    client: &Client,
) -> Result<Result<Finished, Refusal>, Trouble> {
    // The state: this browser's, for this provider, fresh, and spent now.
    let pending: Option<Pending> = unseal(accounts, STATE_PURPOSE, callback.cookie);
    let Some(pending) = pending else {
        return Ok(Err(Refusal::State));
    };
    let matches = callback.state == Some(pending.state.as_str())
        && pending.upstream == callback.name
        && (0..STATE_TTL_SECS).contains(&(client.now - pending.at));
    let Some(id) = spend_id(&pending.state).filter(|_| matches) else {
        return Ok(Err(Refusal::State));
    };
    if !accounts
        .upstreams
        .seal
        .spend(id, pending.at + STATE_TTL_SECS, client.now)
    {
        return Ok(Err(Refusal::State));
    }
    if let Some(error) = callback.error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Ok(Err(Refusal::Cancelled(error)));
    }
    let Some(upstream) = accounts.db.upstream(&pending.upstream)? else {
        return Ok(Err(Refusal::UnknownProvider));
    };
    let provider = match provider(accounts, &upstream, client.now, false) {
        Ok(provider) => provider,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // RFC 9207 §2.4: the answer names who sent it, so a mix-up between
    // providers is caught; a provider that says it sends `iss` must.
    match callback.iss {
        Some(iss) if iss != upstream.issuer => {
            return Ok(Err(Refusal::Rejected("wrong iss parameter".into())));
        }
        None if provider.discovery.sends_iss => {
            return Ok(Err(Refusal::Rejected("no iss parameter".into())));
        }
        _ => {}
    }
    let Some(code) = callback.code else {
        return Ok(Err(Refusal::Rejected("no code".into())));
    };
    let profile = match exchange(accounts, &upstream, &provider, code, &pending, client.now) {
        Ok(profile) => profile,
        Err(refusal) => return Ok(Err(refusal)),
    };

    if let Some((user_id, epoch)) = pending.connect {
        return connect(
            accounts, callback, &upstream, &profile, user_id, epoch, client,
        );
    }
    let user = match account_for(
        accounts,
        &upstream,
        &profile,
        pending.invite.as_deref(),
        client,
    )? {
        Ok(user) => user,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if user.disabled {
        return Ok(Err(Refusal::Disabled));
    }
    if accounts.settings.require_verified_email && !user.email_verified {
        return Ok(Err(Refusal::EmailNotVerified));
    }
    accounts
        .db
        .touch_link(&upstream.issuer, &profile.subject, client.now)?;
    if user.totp_enabled() {
        let id = random_text()?;
        let proof = Proof {
            id,
            user_id: user.id,
            epoch: user.auth_epoch,
            upstream: upstream.name.clone(),
            rd: pending.rd.clone(),
            at: client.now,
        };
        let proof = seal(accounts, PROOF_PURPOSE, &proof)?;
        return Ok(Ok(Finished::CodeNeeded {
            proof,
            rd: pending.rd,
        }));
    }
    let opened_with = OpenedWith::Upstream {
        name: upstream.name.clone(),
        totp: false,
    };
    Ok(
        match sign_in(
            accounts,
            &user,
            user.auth_epoch,
            opened_with,
            &callback.previous,
            client,
        )? {
            Some((user, token, session)) => Ok(Finished::SignedIn {
                user: Box::new(user),
                token,
                session,
                rd: pending.rd,
            }),
            None => Err(Refusal::Disabled),
        },
    )
}

/// The provider's discovery document and keys, from memory while fresh;
/// `new_keys` fetches the key set again (an unknown `kid`), at most every
/// [`KEYS_REFETCH_SECS`].
fn provider(
    accounts: &Accounts,
    upstream: &Upstream,
    now: i64,
    new_keys: bool,
) -> Result<Provider, Refusal> {
    let cached = lock(&accounts.upstreams.providers)
        .get(&upstream.issuer)
        .cloned();
    if let Some(mut cached) = cached.filter(|c| now - c.fetched_at < DISCOVERY_TTL_SECS) {
        let refetched_lately = cached
            .keys_refetched_at
            .is_some_and(|at| now - at < KEYS_REFETCH_SECS);
        if !new_keys || refetched_lately {
            return Ok(cached);
        }
        cached.keys = get_json(accounts, &cached.discovery.jwks_uri, None)?;
        cached.keys_refetched_at = Some(now);
        lock(&accounts.upstreams.providers).insert(upstream.issuer.clone(), cached.clone());
        return Ok(cached);
    }
    let failures = &accounts.upstreams.failures;
    if let Some((at, why)) = lock(failures).get(&upstream.issuer)
        && now - at < FAILURE_PAUSE_SECS
    {
        return Err(Refusal::Unavailable(format!(
            "{why} (at {at}, not tried again yet)"
        )));
    }
    let fetched = fetch_provider(accounts, upstream, now);
    match &fetched {
        Ok(provider) => {
            lock(failures).remove(&upstream.issuer);
            lock(&accounts.upstreams.providers).insert(upstream.issuer.clone(), provider.clone());
        }
        Err(refusal) => {
            lock(failures).insert(upstream.issuer.clone(), (now, refusal.detail().to_string()));
        }
    }
    fetched
}

/// The provider's discovery document and keys, fetched now.
fn fetch_provider(accounts: &Accounts, upstream: &Upstream, now: i64) -> Result<Provider, Refusal> {
    let issuer = Url::parse(&upstream.issuer)
        .map_err(|_| Refusal::Unavailable("the issuer is not a URL".into()))?;
    let well_known = format!(
        "{}/.well-known/openid-configuration",
        upstream.issuer.trim_end_matches('/')
    );
    let well_known = Url::parse(&well_known)
        .map_err(|_| Refusal::Unavailable("the issuer is not a URL".into()))?;
    if !secure(&issuer) {
        return Err(Refusal::Unavailable("the issuer is not https".into()));
    }
    let document = get_json(accounts, &well_known, None)?;
    let discovery = Discovery::parse(&document, &upstream.issuer).map_err(Refusal::Unavailable)?;
    let keys = get_json(accounts, &discovery.jwks_uri, None)?;
    Ok(Provider {
        discovery,
        keys,
        fetched_at: now,
        keys_refetched_at: None,
    })
}

fn fetcher(accounts: &Accounts) -> Result<&Arc<dyn Fetch>, Refusal> {
    accounts
        .upstreams
        .fetch
        .get()
        .ok_or_else(|| Refusal::Unavailable("no HTTP client".into()))
}

/// A JSON object from `url` (200 only).
fn get_json(accounts: &Accounts, url: &Url, bearer: Option<&str>) -> Result<Value, Refusal> {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("Accept", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value));
    }
    let (status, body) = fetcher(accounts)?
        .fetch("GET", url, &headers, b"")
        .map_err(|why| Refusal::Unavailable(format!("{}: {why}", url.origin())))?;
    json_object(status, &body)
        .map_err(|why| Refusal::Unavailable(format!("{}{}: {why}", url.origin(), url.path)))
}

fn json_object(status: u16, body: &[u8]) -> Result<Value, String> {
    if status != 200 {
        return Err(format!("status {status}"));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| "not a JSON object".to_string())
}

/// The code for tokens (RFC 6749 §4.1.3, with the PKCE verifier), the ID
/// token checked, and what it lacks of the profile from userinfo.
fn exchange(
    accounts: &Accounts,
    upstream: &Upstream,
    provider: &Provider,
    code: &str,
    pending: &Pending,
    now: i64,
) -> Result<Profile, Refusal> {
    let redirect_uri = callback_url(accounts, &upstream.name).ok_or(Refusal::UnknownProvider)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", percent_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    // client_secret_basic: each part form-encoded first (RFC 6749 §2.3.1).
    let basic = format!(
        "Basic {}",
        encode(
            format!(
                "{}:{}",
                percent_encode(&upstream.client_id),
                percent_encode(&upstream.client_secret)
            )
            .as_bytes()
        )
    );
    let url = &provider.discovery.token_endpoint;
    let headers = [
        ("Authorization", basic.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];
    let (status, body) = fetcher(accounts)?
        .fetch("POST", url, &headers, form.as_bytes())
        .map_err(|why| Refusal::Unavailable(format!("token endpoint: {why}")))?;
    if status == 400 || status == 401 {
        // The provider refused the code or the client: say which, for the log.
        let error = serde_json::from_slice::<Value>(&body).ok();
        let error = error
            .as_ref()
            .and_then(|e| e["error"].as_str())
            .unwrap_or("refused");
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Err(Refusal::Rejected(format!("token endpoint: {error}")));
    }
    let tokens = json_object(status, &body)
        .map_err(|why| Refusal::Unavailable(format!("token endpoint: {why}")))?;
    let Some(id_token) = tokens["id_token"].as_str() else {
        return Err(Refusal::Rejected("no id_token".into()));
    };
    let expected = Expected {
        issuer: &upstream.issuer,
        client_id: &upstream.client_id,
        nonce: &pending.nonce,
        now,
    };
    let claims = match check_id_token(id_token, &provider.keys, &expected) {
        Err(TokenProblem::Jws(JwsError::UnknownKey)) => {
            // Perhaps a key the provider has just rotated in.
            let fresh = self::provider(accounts, upstream, now, true)?;
            check_id_token(id_token, &fresh.keys, &expected)
        }
        checked => checked,
    }
    .map_err(|problem| Refusal::Rejected(format!("ID token: {}", problem.as_str())))?;
    let mut profile = Profile::from_claims(&claims);
    if profile.lacks_claims()
        && let (Some(url), Some(access_token)) = (
            &provider.discovery.userinfo_endpoint,
            tokens["access_token"].as_str(),
        )
    {
        let userinfo = get_json(accounts, url, Some(access_token))?;
        if !profile.fill_from(&userinfo) {
            return Err(Refusal::Rejected("userinfo is of another sub".into()));
        }
    }
    Ok(profile)
}

/// The account a provider identity signs in to: its link; else, as the
/// operator allowed, an account with the same verified address (linked
/// now), or a new one.
fn account_for(
    accounts: &Accounts,
    upstream: &Upstream,
    profile: &Profile,
    invite: Option<&str>,
    client: &Client,
) -> Result<Result<User, Refusal>, Trouble> {
    if let Some(link) = accounts.db.link_of(&upstream.issuer, &profile.subject)? {
        return Ok(accounts
            .db
            .user_by_id(link.user_id)?
            .ok_or(Refusal::NoAccount));
    }
    if !upstream.allowed_domains.is_empty() {
        match profile.verified_domain() {
            Some(domain) if upstream.allowed_domains.contains(&domain) => {}
            Some(_) => return Ok(Err(Refusal::Domain)),
            None => return Ok(Err(Refusal::EmailUnverified)),
        }
    }
    let link = Link {
        user_id: 0,
        upstream: upstream.name.clone(),
        issuer: upstream.issuer.clone(),
        subject: profile.subject.clone(),
        email: profile.email.clone(),
        created_at: client.now,
        last_used_at: Some(client.now),
    };
    let existing = match &profile.email {
        Some(email) => accounts.db.user_by_email(email)?,
        None => None,
    };
    if let Some(user) = existing {
        // Only an address both sides have verified: otherwise whoever
        // typed someone's address at a provider would get their account.
        if !(upstream.link_by_email && profile.email_verified && user.email_verified) {
            return Ok(Err(if upstream.link_by_email {
                Refusal::EmailUnverified
            } else {
                Refusal::EmailTaken
            }));
        }
        return Ok(
            match accounts.db.insert_link(
                &Link {
                    user_id: user.id,
                    ..link
                },
                user.auth_epoch,
            )? {
                Some(true) => {
                    linked(accounts, &user, &upstream.name, client);
                    Ok(user)
                }
                _ => Err(Refusal::NoAccount),
            },
        );
    }
    if !upstream.create_accounts {
        return Ok(Err(Refusal::NoAccount));
    }
    let Some(email) = profile.email.as_deref() else {
        return Ok(Err(Refusal::EmailUnverified));
    };
    let invited = match invite {
        Some(token) => crate::accounts::invites::usable(accounts, token, email, client.now)?.ok(),
        None => None,
    };
    let open = accounts.settings.registration == Registration::Open;
    if !open && (accounts.settings.registration == Registration::Closed || invited.is_none()) {
        return Ok(Err(Refusal::RegistrationClosed));
    }
    let base = username_base(profile);
    for attempt in 0..20 {
        let username = match attempt {
            0 => base.clone(),
            n => format!("{}{}", base.chars().take(28).collect::<String>(), n + 1),
        };
        let made = accounts.db.insert_upstream_user(
            &UpstreamUser {
                username: &username,
                email,
                email_verified: profile.email_verified,
                password_hash: NO_PASSWORD,
                link: &link,
                invite_id: invited.as_ref().map(|invite| invite.id),
            },
            client.now,
        );
        match made {
            Ok(user) => {
                accounts.record_detail(
                    AuthEvent::Registered,
                    Some(user.id),
                    Some(&user.username),
                    &format!("upstream {}", upstream.name),
                    client,
                );
                return Ok(Ok(user));
            }
            Err(InsertError::UsernameTaken) => continue,
            Err(InsertError::EmailTaken) => return Ok(Err(Refusal::EmailTaken)),
            Err(InsertError::InviteGone) => return Ok(Err(Refusal::RegistrationClosed)),
            Err(InsertError::Storage(error)) => return Err(error.into()),
        }
    }
    Ok(Err(Refusal::NoAccount))
}

/// The audit event and the security notice of a new link.
fn linked(accounts: &Accounts, user: &User, upstream: &str, client: &Client) {
    accounts.record_detail(
        AuthEvent::UpstreamLinked,
        Some(user.id),
        Some(&user.username),
        &format!("upstream {upstream}"),
        client,
    );
    accounts.notify(user, Change::UpstreamConnected(upstream), client);
}

/// Connecting the provider to the account that asked, still signed in in
/// this browser and unchanged since.
fn connect(
    accounts: &Accounts,
    callback: &Callback,
    upstream: &Upstream,
    profile: &Profile,
    user_id: i64,
    epoch: i64,
    client: &Client,
) -> Result<Result<Finished, Refusal>, Trouble> {
    let Some(me) = callback
        .signed_in
        .filter(|me| me.user.id == user_id && me.user.auth_epoch == epoch)
    else {
        return Ok(Err(Refusal::NotSignedIn));
    };
    if let Some(link) = accounts.db.link_of(&upstream.issuer, &profile.subject)? {
        return Ok(if link.user_id == user_id {
            Ok(Finished::Connected {
                upstream: upstream.name.clone(),
            })
        } else {
            Err(Refusal::LinkedElsewhere)
        });
    }
    let link = Link {
        user_id,
        upstream: upstream.name.clone(),
        issuer: upstream.issuer.clone(),
        subject: profile.subject.clone(),
        email: profile.email.clone(),
        created_at: client.now,
        last_used_at: None,
    };
    Ok(match accounts.db.insert_link(&link, epoch)? {
        Some(true) => {
            linked(accounts, &me.user, &upstream.name, client);
            Ok(Finished::Connected {
                upstream: upstream.name.clone(),
            })
        }
        Some(false) => Err(Refusal::LinkedElsewhere),
        None => Err(Refusal::NotSignedIn),
    })
}

/// Opens the session, recorded only if the account is still at `epoch`.
fn sign_in(
    accounts: &Accounts,
    user: &User,
    epoch: i64,
    opened_with: OpenedWith,
    previous: &[Token],
    client: &Client,
) -> Result<Option<(User, Token, Session)>, Trouble> {
    let detail = format!(
        "upstream {}",
        opened_with.as_str().trim_start_matches("upstream:")
    );
    let new_session = NewSession {
        user_id: user.id,
        auth_epoch: epoch,
        remember: false,
        ip: client.ip,
        user_agent: client.user_agent.to_string(),
        opened_with,
    };
    let event = accounts.event_for_write(
        AuthEvent::UpstreamLogin,
        Some(user.id),
        Some(&user.username),
        Some(&detail),
        client,
    );
    open_session(
        accounts,
        new_session,
        previous,
        event,
        client.now,
        |write| accounts.db.record_login(user.id, epoch, client.now, write),
    )
}

/// How the code step after a provider's proof ended.
// Returned once per request and matched at once (as `EnableOutcome`).
#[allow(clippy::large_enum_variant)]
pub enum CodeOutcome {
    SignedIn {
        user: Box<User>,
        token: Token,
        session: Session,
        rd: Option<String>,
    },
    /// No proof, a stale or spent one, or the account changed: start over.
    NoProof,
    WrongCode,
    Throttled {
        retry_after_secs: u64,
    },
}

/// The account's code after a provider's proof (`proof`, the cookie):
/// checked as at a password sign-in (throttled, never twice), then the
/// session opens as `upstream:NAME+totp`.
pub fn finish_code(
    accounts: &Accounts,
    proof: Option<&str>,
    code: &str,
    previous: Vec<Token>,
    client: &Client,
) -> Result<CodeOutcome, Trouble> {
    let proof: Option<Proof> = unseal(accounts, PROOF_PURPOSE, proof);
    let Some(proof) = proof.filter(|p| (0..PROOF_TTL_SECS).contains(&(client.now - p.at))) else {
        return Ok(CodeOutcome::NoProof);
    };
    let Some(user) = accounts.db.user_by_id(proof.user_id)? else {
        return Ok(CodeOutcome::NoProof);
    };
    if user.auth_epoch != proof.epoch || user.disabled {
        return Ok(CodeOutcome::NoProof);
    }
    match check::app_code(accounts, &user, code, client)? {
        AppCode::Accepted => {}
        AppCode::NotOn => return Ok(CodeOutcome::NoProof),
        AppCode::Wrong => return Ok(CodeOutcome::WrongCode),
        AppCode::Throttled { retry_after_secs } => {
            return Ok(CodeOutcome::Throttled { retry_after_secs });
        }
    }
    // Spent only once the code is right: a typo does not cost the proof.
    if !spend_id(&proof.id).is_some_and(|id| {
        accounts
            .upstreams
            .seal
            .spend(id, proof.at + PROOF_TTL_SECS, client.now)
    }) {
        return Ok(CodeOutcome::NoProof);
    }
    let opened_with = OpenedWith::Upstream {
        name: proof.upstream.clone(),
        totp: true,
    };
    Ok(
        match sign_in(accounts, &user, proof.epoch, opened_with, &previous, client)? {
            Some((user, token, session)) => CodeOutcome::SignedIn {
                user: Box::new(user),
                token,
                session,
                rd: proof.rd,
            },
            None => CodeOutcome::NoProof,
        },
    )
}

/// The providers, for the sign-in page's buttons: name and label.
pub fn buttons(accounts: &Accounts) -> Result<Vec<(String, String)>, Trouble> {
    if accounts.settings.public_url.is_none() {
        return Ok(Vec::new());
    }
    Ok(accounts
        .db
        .upstreams()?
        .into_iter()
        .map(|u| (u.name, u.label))
        .collect())
}

/// The account's connected sign-ins.
pub fn links(accounts: &Accounts, user_id: i64) -> Result<Vec<Link>, Trouble> {
    Ok(accounts.db.links_of(user_id)?)
}

/// How disconnecting ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Disconnected {
    Done,
    NotConnected,
    /// It is the account's last way in.
    LastWayIn,
}

/// Disconnects a provider from the account, unless it is its last way in.
pub fn disconnect(
    accounts: &Accounts,
    user: &User,
    upstream: &str,
    client: &Client,
) -> Result<Disconnected, Trouble> {
    Ok(match accounts.db.remove_link(user.id, upstream)? {
        None => Disconnected::NotConnected,
        Some(false) => Disconnected::LastWayIn,
        Some(true) => {
            accounts.record_detail(
                AuthEvent::UpstreamUnlinked,
                Some(user.id),
                Some(&user.username),
                &format!("upstream {upstream}"),
                client,
            );
            accounts.notify(user, Change::UpstreamDisconnected(upstream), client);
            Disconnected::Done
        }
    })
}

/// What the operator gives to add a provider.
pub struct NewUpstream<'a> {
    pub name: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub label: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub link_by_email: bool,
    pub create_accounts: bool,
    pub allowed_domains: &'a [String],
}

/// Adds a provider; `Err` names what is wrong, for the operator.
pub fn add(
    accounts: &Accounts,
    new: &NewUpstream,
    client: &Client,
) -> Result<Result<Upstream, String>, Trouble> {
    let name_ok = (1..=32).contains(&new.name.len())
        && new
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && new.name.as_bytes()[0].is_ascii_alphanumeric();
    if !name_ok {
        return Ok(Err(
            "the name must be 1 to 32 lower-case letters, digits or '-'".into(),
        ));
    }
    let issuer = new.issuer.trim_end_matches('/');
    match Url::parse(issuer) {
        Ok(url) if secure(&url) && url.query.is_none() && url.fragment.is_none() => {}
        _ => return Ok(Err("the issuer must be an https URL (http only for a loopback host), without query or fragment".into())),
    }
    if new.client_id.is_empty() || new.client_secret.is_empty() {
        return Ok(Err("the client id and secret must not be empty".into()));
    }
    let scope = new.scope.unwrap_or(DEFAULT_SCOPE).trim();
    if !scope.split(' ').any(|s| s == "openid") {
        return Ok(Err("the scope must include openid".into()));
    }
    let label = new.label.map(str::trim).filter(|l| !l.is_empty());
    let upstream = Upstream {
        name: new.name.to_string(),
        issuer: new.issuer.to_string(),
        client_id: new.client_id.to_string(),
        client_secret: new.client_secret.to_string(),
        label: label.map_or_else(|| format!("Sign in with {}", new.name), str::to_string),
        scope: scope.to_string(),
        link_by_email: new.link_by_email,
        create_accounts: new.create_accounts,
        allowed_domains: new
            .allowed_domains
            .iter()
            .map(|d| d.trim().to_ascii_lowercase())
            .collect(),
        created_at: client.now,
    };
    if !accounts.db.insert_upstream(&upstream)? {
        return Ok(Err(format!("a provider named {} exists", new.name)));
    }
    accounts.record_detail(
        AuthEvent::AdminUpstreamAdded,
        None,
        None,
        &format!("upstream {}", upstream.name),
        client,
    );
    Ok(Ok(upstream))
}

/// The providers, for the operator.
pub fn list(accounts: &Accounts) -> Result<Vec<Upstream>, Trouble> {
    Ok(accounts.db.upstreams()?)
}

/// Removes a provider; its links stay, for when it is added back.
pub fn remove(accounts: &Accounts, name: &str, client: &Client) -> Result<bool, Trouble> {
    let removed = accounts.db.remove_upstream(name)?;
    if removed {
        accounts.record_detail(
            AuthEvent::AdminUpstreamRemoved,
            None,
            None,
            &format!("upstream {name}"),
            client,
        );
    }
    Ok(removed)
}

/// Whether the provider's discovery document and keys can be fetched now
/// (for the operator, after adding one): `Err` says why not.
pub fn check_reachable(
    accounts: &Accounts,
    name: &str,
    now: i64,
) -> Result<Result<(), String>, Trouble> {
    let Some(upstream) = accounts.db.upstream(name)? else {
        return Ok(Err(format!("no provider named {name}")));
    };
    Ok(provider(accounts, &upstream, now, false)
        .map(|_| ())
        .map_err(|refusal| refusal.detail().to_string()))
}
