//! What several endpoints share: the user object, the session cookie, the
//! signed-in check behind a request's cookies, and the form problems of a
//! use case turned into field errors.

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::cookies;
use crate::api::error::ApiError;
use auth_core::accounts::check::{self, Refused, SignedIn};
use auth_core::auth::sessions::Session;
use auth_core::auth::token::Token;
use auth_core::storage::User;
use auth_core::support::clock::Rfc3339;

/// The user object of the contract. Never the hash. It borrows from the
/// account rather than copying it into a `serde_json::Value`: this is the
/// answer of every session check.
#[derive(Serialize)]
pub struct UserJson<'a> {
    id: i64,
    username: &'a str,
    email: &'a str,
    created_at: Rfc3339,
    last_login_at: Option<Rfc3339>,
    email_verified: bool,
    totp_enabled: bool,
    groups: &'a [String],
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
        groups: &user.groups,
    }
}

/// `{"user": …}`: the `data` of the answers that are just the account.
#[derive(Serialize)]
pub struct JustUser<'a> {
    user: UserJson<'a>,
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

/// The answer to a successful sign-in (password or passkey): `data` (the
/// user, and whatever else the flow adds), where the sign-in page may send
/// the browser next (the URL only when it passes the open-redirect check,
/// else null), and the session's cookie.
pub fn signed_in_reply(
    app: &App,
    cx: &Context,
    mut data: Value,
    redirect: Option<String>,
    (token, session): (&Token, &Session),
) -> Result<Reply, ApiError> {
    if let Some(url) = redirect {
        data["redirect"] = json!(app.accounts.approved_redirect(&url));
    }
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
