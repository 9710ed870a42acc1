//! What several endpoints share: the user object, the session cookie, the
//! signed-in check, and the one place a password is checked.

use serde_json::{Value, json};

use crate::api::app::{App, Context};
use crate::api::cookies;
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::redirect::approve;
use crate::auth::sessions::{Session, Token};
use crate::auth::throttle::Reservation;
use crate::auth::validation;
use crate::storage::User;
use crate::storage::mail::Purpose;
use crate::storage::sessions::SessionRow;
use crate::support::clock;

/// The user object of the contract. Never the hash.
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "created_at": clock::rfc3339(user.created_at),
        "last_login_at": user.last_login_at.map(clock::rfc3339),
        "email_verified": user.email_verified,
        "totp_enabled": user.totp_enabled(),
    })
}

pub fn too_many(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs }
}

/// Checks a new password against the registration rules, recording the
/// problem on `field`.
pub fn check_new_password(
    app: &App,
    fields: &mut Fields,
    field: &str,
    password: &str,
    username: &str,
    email: &str,
) {
    let min = app.settings.password_min_length;
    if let Err(problem) = validation::check_new_password(password, min, username, email) {
        fields.reject(field, &problem);
    }
}

/// The `Set-Cookie` for a session: persistent (`Max-Age` = what is left of
/// its life) only for "remember me".
pub fn session_cookie(app: &App, token: &Token, session: &Session, now: i64) -> String {
    let max_age = session.remember.then(|| session.absolute_end - now);
    app.cookies.set(token, max_age)
}

/// The one place a password is checked: a failure slot reserved first (or
/// 429), then verified (against a dummy hash when there is no account), and
/// the slot kept for a failure, given back for a success. A wrong password,
/// an unknown name and a disabled account get the same answer after the
/// same amount of bcrypt work.
pub fn check_password(
    app: &App,
    cx: &Context,
    identifier: &str,
    user: Option<&User>,
    password: &str,
) -> Result<(), ApiError> {
    let reservation = check_password_holding_slot(app, cx, identifier, user, password)?;
    app.throttle.login_succeeded(reservation);
    Ok(())
}

/// [`check_password`] for a caller with a second check to make (a TOTP
/// code): a right password returns the failure slot still reserved, for
/// the caller to give back (`login_succeeded`) or keep (a wrong code counts
/// as a failed login).
pub fn check_password_holding_slot(
    app: &App,
    cx: &Context,
    identifier: &str,
    user: Option<&User>,
    password: &str,
) -> Result<Reservation, ApiError> {
    let reservation = match app
        .throttle
        .reserve_login(identifier, cx.client_group, cx.now)
    {
        Ok(reservation) => reservation,
        Err(retry_after_secs) => {
            let label = app
                .audit
                .identifier_label(identifier, user.map(|u| u.username.as_str()));
            app.audit.count_throttled(&label, cx.client_ip);
            return Err(too_many(retry_after_secs));
        }
    };
    let stored_hash = user.map(|u| u.password_hash.as_str());
    let matches = match app.passwords.verify(password, stored_hash, cx.client_group) {
        Ok(matches) => matches,
        Err(error) => {
            // Not checked (the queue was full): not a failure either.
            app.throttle.release(reservation);
            return Err(error.into());
        }
    };
    if matches && user.is_some_and(|u| !u.disabled) {
        return Ok(reservation);
    }
    app.throttle.login_failed(reservation);
    let label = app
        .audit
        .identifier_label(identifier, user.map(|u| u.username.as_str()));
    app.event("login_failed", user.map(|u| u.id), Some(&label), cx);
    Err(ApiError::InvalidCredentials)
}

/// Ends every other session of the signed-in caller while keeping the
/// caller signed in under a new token (OWASP ASVS 4.0.3 V3.3.3: a change to
/// how the account authenticates ends the others). `change` is the
/// database change, given the caller's session as a row to store under the
/// new epoch in the same transaction (when sessions are stored); it returns
/// that epoch, or `None` if the account is gone. The answer is the new
/// token and session, or `None` if the caller's own session expired
/// meanwhile (the change stands; the browser signs in again).
pub fn end_other_sessions(
    app: &App,
    cx: &Context,
    token: &Token,
    user_id: i64,
    change: impl FnOnce(Option<SessionRow>) -> rusqlite::Result<Option<i64>>,
) -> Result<Option<(Token, Session)>, ApiError> {
    let successor = app
        .sessions
        .successor(token, cx.now)
        .map_err(|error| ApiError::busy(format!("random source: {error}")))?;
    let keep = successor
        .as_ref()
        .and_then(|(new_token, session)| app.sessions.row(new_token, session));
    let Some(epoch) = change(keep)? else {
        return Err(ApiError::Unauthenticated);
    };
    app.sessions.forget_user(user_id);
    match successor {
        Some((new_token, mut session)) => {
            session.auth_epoch = epoch;
            app.sessions.admit(&new_token, session.clone(), cx.now)?;
            Ok(Some((new_token, session)))
        }
        None => Ok(None),
    }
}

/// The cookie that goes with [`end_other_sessions`]'s answer: the new
/// token, or a cleared cookie when the caller's session had ended.
pub fn successor_cookie(app: &App, successor: &Option<(Token, Session)>, now: i64) -> String {
    match successor {
        Some((token, session)) => session_cookie(app, token, session, now),
        None => app.cookies.clear(),
    }
}

/// `url` if the sign-in may send a browser there (`auth::redirect`), else
/// `None`.
pub fn approved_redirect(app: &App, url: &str) -> Option<String> {
    approve(url, &app.settings.forward_auth_hosts).then(|| url.to_string())
}

/// The signed-in user behind a request.
pub struct SignedIn {
    pub token: Token,
    pub session: Session,
    pub user: User,
}

/// The first cookie token that names a live session of an existing,
/// enabled user whose account has not changed since the login (same auth
/// epoch); otherwise 401. Each success restarts the session's idle timer.
pub fn signed_in(app: &App, cx: &Context) -> Result<SignedIn, ApiError> {
    for token in cookies::session_tokens(cx.request) {
        let Some(session) = app.sessions.authenticate(&token, cx.now) else {
            continue;
        };
        match app.db.user_by_id(session.user_id)? {
            Some(user) if !user.disabled && user.auth_epoch == session.auth_epoch => {
                return Ok(SignedIn {
                    token,
                    session,
                    user,
                });
            }
            // Deleted, disabled, or changed (perhaps by another process):
            // this session is over. Should its row outlive a failed delete,
            // the start-up load drops it for the same reason.
            _ => {
                let _ = app.sessions.end(&token);
            }
        }
    }
    Err(ApiError::Unauthenticated)
}

/// Queues the verification mail of a new account, when mail is on;
/// `return_to` (already approved) is where its page returns afterwards.
pub fn queue_verification(app: &App, cx: &Context, user: &User, return_to: Option<&str>) {
    if !app.mailer.enabled() {
        return;
    }
    let (user_id, username) = (user.id, user.username.as_str());
    match app
        .db
        .queue_mail(user_id, Purpose::Verify, &user.email, return_to, cx.now)
    {
        Ok(()) => {
            app.mailer.notify();
            app.event(
                "email_verification_requested",
                Some(user_id),
                Some(username),
                cx,
            );
        }
        // The account exists; the user can ask for the mail again.
        Err(error) => app.log.line(
            "error",
            &[(
                "message",
                json!(format!("mail: cannot queue a verification: {error}")),
            )],
        ),
    }
}
