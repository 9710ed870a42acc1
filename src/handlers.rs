//! The endpoints. Each is a plain function from the shared state and one
//! request to a reply or an error, in the same order: parse, check, act,
//! respond.

use serde_json::{Value, json};

use crate::app::{App, Context, Reply};
use crate::clock;
use crate::cookies;
use crate::error::ApiError;
use crate::router::Endpoint;
use crate::sessions::{NewSession, Session, Token};
use crate::storage::{InsertError, User};
use crate::validation::{self, Fields};

pub fn dispatch(app: &App, endpoint: Endpoint, cx: &Context) -> Result<Reply, ApiError> {
    match endpoint {
        Endpoint::Register => register(app, cx),
        Endpoint::Login => login(app, cx),
        Endpoint::Logout => logout(app, cx),
        Endpoint::User => current_user(app, cx),
        Endpoint::Dashboard => dashboard(app, cx),
        Endpoint::Health => health(app),
        Endpoint::ChangePassword => change_password(app, cx),
        Endpoint::ListSessions => list_sessions(app, cx),
        Endpoint::RevokeSession => revoke_session(app, cx),
        Endpoint::LogoutAll => logout_all(app, cx),
        Endpoint::DeleteAccount => delete_account(app, cx),
        Endpoint::OpenApi => Ok(Reply::document(OPENAPI)),
    }
}

/// The OpenAPI 3.1 description of this API (`openapi.json` at the top level).
const OPENAPI: &str = include_str!("../openapi.json");

/// The user object of the contract. Never the hash.
fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "created_at": clock::rfc3339(user.created_at),
        "last_login_at": user.last_login_at.map(clock::rfc3339),
    })
}

fn too_many(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs }
}

/// Checks a new password against the registration rules, recording the
/// problem on `field`.
fn check_new_password(
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

fn register(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let username = fields.required_string("username");
    let email = fields.required_string("email");
    let password = fields.required_string("password");

    let username = username.filter(|u| match validation::check_username(u) {
        Ok(()) => true,
        Err(problem) => {
            fields.reject("username", problem);
            false
        }
    });
    let email = email.and_then(|e| match validation::normalize_email(&e) {
        Ok(normalized) => Some(normalized),
        Err(problem) => {
            fields.reject("email", problem);
            None
        }
    });
    if let Some(password) = &password {
        let name = username.as_deref().unwrap_or("");
        let address = email.as_deref().unwrap_or("");
        check_new_password(app, &mut fields, "password", password, name, address);
    }
    fields.finish(&["username", "email", "password"])?;
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        // finish() has already reported whichever was missing.
        return Err(ApiError::Internal);
    };

    // Counted only once the form is valid, so a typo costs no quota; and
    // before bcrypt, so a refused attempt costs the server nothing.
    app.throttle
        .register_attempt(cx.client_ip, cx.now)
        .map_err(too_many)?;
    let hash = app.passwords.hash(&password)?;
    let user = match app.db.insert_user(&username, &email, &hash, cx.now) {
        Ok(user) => user,
        Err(InsertError::UsernameTaken) => return Err(ApiError::UsernameTaken),
        Err(InsertError::EmailTaken) => return Err(ApiError::EmailTaken),
        Err(InsertError::Database(error)) => return Err(error.into()),
    };
    app.event("registered", Some(user.id), Some(&user.username), cx);
    Ok(Reply::ok("Registered. You can now sign in.")
        .with_status(201)
        .with_data(json!({ "user": user_json(&user) })))
}

/// The one place a password is checked: throttled first, then verified
/// (against a dummy hash when there is no account), and counted either way.
/// A wrong password, an unknown name and a disabled account get the same
/// answer after the same amount of bcrypt work.
fn check_password(
    app: &App,
    cx: &Context,
    identifier: &str,
    user: Option<&User>,
    password: &str,
) -> Result<(), ApiError> {
    if let Err(retry_after_secs) = app.throttle.check_login(identifier, cx.client_ip, cx.now) {
        app.audit.count_throttled(identifier, cx.client_ip);
        return Err(too_many(retry_after_secs));
    }
    let stored_hash = user.map(|u| u.password_hash.as_str());
    let matches = app.passwords.verify(password, stored_hash)?;
    if matches && user.is_some_and(|u| !u.disabled) {
        app.throttle.record_login_success(identifier, cx.client_ip);
        return Ok(());
    }
    app.throttle
        .record_login_failure(identifier, cx.client_ip, cx.now);
    app.event("login_failed", user.map(|u| u.id), Some(identifier), cx);
    Err(ApiError::InvalidCredentials)
}

fn login(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let identifier = match (
        fields.optional_string("username"),
        fields.optional_string("email"),
    ) {
        (Some(identifier), None) | (None, Some(identifier)) => Some(identifier),
        (Some(_), Some(_)) => {
            fields.reject("username", "give a username or an email, not both");
            None
        }
        (None, None) => {
            fields.required_string("username");
            None
        }
    };
    let password = fields.required_string("password");
    let remember = fields.optional_bool("remember");
    fields.finish(&["username", "email", "password", "remember"])?;
    let (Some(identifier), Some(password)) = (identifier, password) else {
        return Err(ApiError::Internal);
    };

    // A value with '@' can only be an email: usernames cannot contain one.
    let user = if identifier.contains('@') {
        app.db.user_by_email(&identifier.trim().to_lowercase())?
    } else {
        app.db.user_by_username(&identifier)?
    };
    check_password(app, cx, &identifier, user.as_ref(), &password)?;
    let Some(user) = user else {
        return Err(ApiError::InvalidCredentials);
    };

    // The stored hash is upgraded while the password is at hand, so raising
    // BCRYPT_COST reaches every active user.
    if app.passwords.needs_rehash(&user.password_hash)
        && let Ok(hash) = app.passwords.hash(&password)
    {
        app.db.set_password_hash(user.id, &hash)?;
    }

    // Whatever session the browser brought is ended, and a fresh token
    // issued: an attacker who planted a token learns nothing (session
    // fixation; OWASP ASVS 4.0.3 V3.2.1).
    for token in cookies::session_tokens(cx.request) {
        app.sessions.end(&token);
    }
    let Some((user, previous_login_at)) = app.db.record_login(user.id, cx.now)? else {
        // Deleted between the check and now.
        return Err(ApiError::InvalidCredentials);
    };
    let new_session = NewSession {
        user_id: user.id,
        auth_epoch: user.auth_epoch,
        remember,
        previous_login_at,
        ip: cx.client_ip,
        user_agent: cx.user_agent().to_string(),
    };
    let (token, session) =
        app.sessions
            .create(new_session, cx.now)
            .map_err(|_| ApiError::ServiceUnavailable {
                retry_after_secs: 1,
            })?;
    app.event("login_ok", Some(user.id), Some(&identifier), cx);
    Ok(Reply::ok("Signed in.")
        .with_data(json!({ "user": user_json(&user) }))
        .with_cookie(session_cookie(app, &token, &session, cx.now)))
}

/// The `Set-Cookie` for a session: persistent (`Max-Age` = what is left of
/// its life) only for "remember me".
fn session_cookie(app: &App, token: &Token, session: &Session, now: i64) -> String {
    let max_age = session.remember.then(|| session.absolute_end - now);
    app.cookies.set(token, max_age)
}

fn logout(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    for token in cookies::session_tokens(cx.request) {
        if let Some(session) = app.sessions.authenticate(&token, cx.now) {
            app.event("logout", Some(session.user_id), None, cx);
        }
        app.sessions.end(&token);
    }
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}

/// The signed-in user behind a request.
struct SignedIn {
    token: Token,
    session: Session,
    user: User,
}

/// The first cookie token that names a live session of an existing,
/// enabled user whose account has not changed since the login (same auth
/// epoch); otherwise 401. Each success restarts the session's idle timer.
fn signed_in(app: &App, cx: &Context) -> Result<SignedIn, ApiError> {
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
            // this session is over.
            _ => app.sessions.end(&token),
        }
    }
    Err(ApiError::Unauthenticated)
}

fn current_user(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let signed_in = signed_in(app, cx)?;
    Ok(Reply::ok("ok").with_data(json!({ "user": user_json(&signed_in.user) })))
}

fn dashboard(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { session, user, .. } = signed_in(app, cx)?;
    Ok(Reply::ok("ok").with_data(json!({
        "user": user_json(&user),
        "session": {
            "created_at": clock::rfc3339(session.created_at),
            "expires_at": clock::rfc3339(session.expires_at()),
        },
        "stats": {
            "login_count": user.login_count,
            "last_login_at": session.previous_login_at.map(clock::rfc3339),
            "active_sessions": app.sessions.count_for_user(user.id, cx.now),
        },
    })))
}

fn health(app: &App) -> Result<Reply, ApiError> {
    app.db.check().map_err(|_| ApiError::ServiceUnavailable {
        retry_after_secs: 5,
    })?;
    Ok(Reply::ok("ok").with_data(json!({ "database": "ok" })))
}

/// Changing the password ends every other session (whoever stole one is
/// out) and keeps the caller signed in under a new token (OWASP ASVS 4.0.3
/// V2.1.6, V3.3.3; OWASP Authentication Cheat Sheet, "Change Password").
fn change_password(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { token, user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let current = fields.required_string("current_password");
    let new = fields.required_string("new_password");
    if let Some(new) = &new {
        check_new_password(
            app,
            &mut fields,
            "new_password",
            new,
            &user.username,
            &user.email,
        );
        if current.as_ref() == Some(new) {
            fields.reject("new_password", "must differ from the current password");
        }
    }
    fields.finish(&["current_password", "new_password"])?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::Internal);
    };

    check_password(app, cx, &user.username, Some(&user), &current)?;
    let hash = app.passwords.hash(&new)?;
    let Some(epoch) = app.db.change_password(user.id, &hash)? else {
        return Err(ApiError::Unauthenticated);
    };
    app.sessions.end_all_for_user(user.id, Some(&token));
    let rotated =
        app.sessions
            .rotate(&token, epoch, cx.now)
            .map_err(|_| ApiError::ServiceUnavailable {
                retry_after_secs: 1,
            })?;
    app.event("password_changed", Some(user.id), None, cx);
    let reply = Reply::ok("Password changed. Your other sessions have been signed out.");
    Ok(match rotated {
        Some((new_token, session)) => {
            reply.with_cookie(session_cookie(app, &new_token, &session, cx.now))
        }
        // The session expired in the meantime: the password is changed, and
        // the browser must sign in again.
        None => reply.with_cookie(app.cookies.clear()),
    })
}

/// The public handle of a session: 16 hex digits.
fn public_id_text(public_id: u64) -> String {
    format!("{public_id:016x}")
}

fn list_sessions(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn {
        token: current,
        user,
        ..
    } = signed_in(app, cx)?;
    let sessions: Vec<Value> = app
        .sessions
        .live_for_user(user.id, cx.now)
        .into_iter()
        .map(|(token, session)| {
            json!({
                "id": public_id_text(session.public_id),
                "created_at": clock::rfc3339(session.created_at),
                "last_seen_at": clock::rfc3339(session.last_seen_at),
                "expires_at": clock::rfc3339(session.expires_at()),
                "ip": session.ip.to_string(),
                "user_agent": session.user_agent,
                "current": token == current,
            })
        })
        .collect();
    Ok(Reply::ok("ok").with_data(json!({ "sessions": sessions })))
}

fn revoke_session(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn {
        token: current,
        user,
        ..
    } = signed_in(app, cx)?;
    // Anything that is not 16 hex digits names no session: 404, like an id
    // of someone else's session, so ids cannot be probed.
    let public_id = cx
        .parameter
        .filter(|id| id.len() == 16)
        .and_then(|id| u64::from_str_radix(id, 16).ok())
        .ok_or(ApiError::NotFound)?;
    let ended = app
        .sessions
        .end_by_public_id(user.id, public_id, cx.now)
        .ok_or(ApiError::NotFound)?;
    app.event("session_revoked", Some(user.id), None, cx);
    let reply = Reply::ok("Session ended.");
    Ok(if ended == current {
        reply.with_cookie(app.cookies.clear())
    } else {
        reply
    })
}

fn logout_all(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { user, .. } = signed_in(app, cx)?;
    app.sessions.end_all_for_user(user.id, None);
    app.event("logged_out_everywhere", Some(user.id), None, cx);
    Ok(Reply::ok("Signed out everywhere.").with_cookie(app.cookies.clear()))
}

fn delete_account(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.required_string("password");
    fields.finish(&["password"])?;
    let Some(password) = password else {
        return Err(ApiError::Internal);
    };

    check_password(app, cx, &user.username, Some(&user), &password)?;
    app.db.delete_user(user.id)?;
    app.sessions.end_all_for_user(user.id, None);
    app.event("account_deleted", Some(user.id), Some(&user.username), cx);
    Ok(Reply::ok("Account deleted.").with_cookie(app.cookies.clear()))
}
