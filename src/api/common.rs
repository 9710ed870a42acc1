//! What several endpoints share: the user object, the session cookie, the
//! signed-in check behind a request's cookies, and the form problems of a
//! use case turned into field errors.

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::cookies;
use crate::api::error::ApiError;
use crate::api::schema::{Describe, reply_body};
use auth_core::accounts::User;
use auth_core::accounts::check::{self, Refused, SignedIn};
use auth_core::accounts::register::RegisterOutcome;
use auth_core::auth::sessions::Session;
use auth_core::auth::token::Token;
use auth_core::support::clock::Rfc3339;

reply_body! {
    /// The user object of the contract. Never the hash. It borrows from
    /// the account rather than copying it: this is the answer of every
    /// session check.
    #[schema {"additionalProperties": false}]
    pub struct UserJson<'a> as "User" {
        pub id: i64,
        pub username: &'a str,
        pub email: &'a str,
        /// RFC 3339, UTC
        pub created_at: Rfc3339,
        /// The most recent successful login.
        pub last_login_at: Option<Rfc3339>,
        /// Whether the owner proved they read mail at this address (a
        /// verification link, a password reset, or an operator).
        pub email_verified: bool,
        /// Whether logins need a code from an authenticator app (or a
        /// recovery code).
        pub totp_enabled: bool,
        /// Whether the account has a password. One made by a first sign-in
        /// through an upstream provider has none until a reset link sets
        /// one.
        pub has_password: bool,
        /// The groups the user belongs to (set with `auth-server admin
        /// group add`), sorted; access rules name them.
        pub groups: &'a [String] = {"items": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"}},
    }
}

pub fn user_json(user: &User) -> UserJson<'_> {
    UserJson {
        id: user.id,
        username: &user.username,
        email: &user.email,
        created_at: Rfc3339(user.created_at),
        last_login_at: user.last_login_at.map(Rfc3339),
        email_verified: user.email_verified,
        totp_enabled: user.totp_enabled(),
        has_password: user.has_password(),
        groups: &user.groups,
    }
}

reply_body! {
    /// `{"user": …}`: the `data` of the answers that are just the account.
    pub struct JustUser<'a> {
        pub user: UserJson<'a>,
    }
}

pub fn just_user(user: &User) -> JustUser<'_> {
    JustUser {
        user: user_json(user),
    }
}

pub fn too_many(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs }
}

/// A password check's "no" as the client hears it.
pub fn refused(refused: Refused) -> ApiError {
    match refused {
        Refused::InvalidCredentials => ApiError::InvalidCredentials,
        Refused::Throttled { retry_after_secs } => too_many(retry_after_secs),
        Refused::Busy { retry_after_secs } => hash_queue_busy(retry_after_secs),
    }
}

/// The bcrypt queue could not take the request in time.
pub fn hash_queue_busy(retry_after_secs: u64) -> ApiError {
    ApiError::ServiceUnavailable {
        retry_after_secs,
        cause: "the bcrypt queue is full".into(),
    }
}

/// A registration that made no account, as the client hears it.
pub fn registration_refused(outcome: RegisterOutcome) -> ApiError {
    match outcome {
        RegisterOutcome::Invalid(problems) => invalid(problems),
        RegisterOutcome::UsernameTaken => ApiError::UsernameTaken,
        RegisterOutcome::EmailTaken => ApiError::EmailTaken,
        RegisterOutcome::Closed => ApiError::RegistrationClosed,
        RegisterOutcome::InviteRequired => ApiError::InviteRequired,
        RegisterOutcome::InvalidInvite => ApiError::InvalidInvite,
        RegisterOutcome::Throttled { retry_after_secs } => too_many(retry_after_secs),
        RegisterOutcome::Busy { retry_after_secs } => hash_queue_busy(retry_after_secs),
        RegisterOutcome::Registered(_) => ApiError::Internal {
            cause: "a registration that made an account was taken for a refusal".into(),
        },
    }
}

/// A use case's field problems as the validation error.
pub fn invalid(problems: Vec<(&'static str, String)>) -> ApiError {
    ApiError::Validation(
        problems
            .into_iter()
            .map(|(field, problem)| (field.to_string(), problem))
            .collect(),
    )
}

/// The `Set-Cookie` for a session: persistent (`Max-Age` = what is left of
/// its life) only for "remember me".
pub fn session_cookie(app: &App, token: &Token, session: &Session, now: i64) -> String {
    let max_age = session.remember.then(|| session.absolute_end - now);
    app.cookies.set(token, max_age)
}

/// The cookie that goes with a change that rotated the caller's session:
/// the new token, or a cleared cookie when the caller's session had ended.
pub fn successor_cookie(app: &App, successor: &Option<(Token, Session)>, now: i64) -> String {
    match successor {
        Some((token, session)) => session_cookie(app, token, session, now),
        None => app.cookies.clear(),
    }
}

/// What a sign-in (password or passkey) answers in `data`.
#[derive(Serialize)]
pub struct SignedInJson<'a> {
    pub user: UserJson<'a>,
    /// Only after a recovery code was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_left: Option<i64>,
    /// Only when the sign-in asked for one: the URL when it passes the
    /// open-redirect check, else null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Option<String>>,
}

impl Describe for SignedInJson<'_> {
    fn describe() -> Value {
        json!({
            "type": "object",
            "required": ["user"],
            "properties": {
                "user": UserJson::describe(),
                "recovery_codes_left": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Only after a recovery code was used: the unused ones left.",
                },
                "redirect": {
                    "type": ["string", "null"],
                    "description": "Only when the body had redirect: the URL when it passes the open-redirect check (a host of FORWARD_AUTH_HOSTS, or this server under PUBLIC_URL), else null.",
                },
            },
        })
    }
}

/// The answer to a successful sign-in (password or passkey): the user,
/// where the sign-in page may send the browser next (when asked; the URL
/// only when it passes the open-redirect check, else null), and the
/// session's cookie.
pub fn signed_in_reply(
    app: &App,
    cx: &Context,
    user: &User,
    recovery_codes_left: Option<i64>,
    redirect: Option<String>,
    (token, session): (&Token, &Session),
) -> Result<Reply, ApiError> {
    let data = SignedInJson {
        user: user_json(user),
        recovery_codes_left,
        redirect: redirect.map(|url| app.accounts.approved_redirect(&url)),
    };
    Ok(Reply::ok("Signed in.")
        .with_data(data)?
        .with_cookie(session_cookie(app, token, session, cx.now)))
}

/// The signed-in user behind the request's cookies (`accounts::check`),
/// or 401.
pub fn signed_in(app: &App, cx: &Context) -> Result<SignedIn, ApiError> {
    check::signed_in(&app.accounts, cookies::session_tokens(cx.request), cx.now)?
        .ok_or(ApiError::Unauthenticated)
}

/// `uri` with `params` appended to its query, each value percent-encoded.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(name);
        out.push('=');
        out.push_str(&auth_core::support::text::percent_encode(value));
        separator = '&';
    }
    out
}

/// A 302 to `location`, with no body.
pub fn redirect(location: String) -> Reply {
    Reply::document(crate::api::app::Document {
        content_type: "text/plain; charset=utf-8",
        body: Vec::new(),
        content_security_policy: None,
    })
    .with_status(302)
    .with_header("Location", location)
}
