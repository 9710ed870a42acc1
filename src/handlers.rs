//! The endpoints. Each is a plain function from the shared state and one
//! request to a reply or an error, in the same order: parse, check, act,
//! respond.

use serde_json::{Value, json};

use crate::app::{App, Context, Reply};
use crate::clock;
use crate::cookies;
use crate::error::ApiError;
use crate::router::Endpoint;
use crate::sessions::{NewSession, Session};
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
    }
}

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
        if let Err(problem) = validation::check_new_password(
            password,
            app.settings.password_min_length,
            name,
            address,
        ) {
            fields.reject("password", &problem);
        }
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
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    let hash = app.passwords.hash(&password)?;
    let user = match app.db.insert_user(&username, &email, &hash, cx.now) {
        Ok(user) => user,
        Err(InsertError::UsernameTaken) => return Err(ApiError::UsernameTaken),
        Err(InsertError::EmailTaken) => return Err(ApiError::EmailTaken),
        Err(InsertError::Database(error)) => return Err(error.into()),
    };
    app.log.line(
        "registered",
        &[
            ("user_id", json!(user.id)),
            ("username", json!(user.username)),
            ("client", json!(cx.client_ip.to_string())),
        ],
    );
    Ok(Reply::ok("Registered. You can now sign in.")
        .with_status(201)
        .with_data(json!({ "user": user_json(&user) })))
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

    // Throttled before the account is even looked up: the answer cannot
    // depend on whether it exists.
    if let Err(retry_after_secs) = app.throttle.check_login(&identifier, cx.client_ip, cx.now) {
        app.log.line(
            "login_throttled",
            &[
                ("identifier", json!(identifier)),
                ("client", json!(cx.client_ip.to_string())),
            ],
        );
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }

    // A value with '@' can only be an email: usernames cannot contain one.
    let user = if identifier.contains('@') {
        app.db.user_by_email(&identifier.trim().to_lowercase())?
    } else {
        app.db.user_by_username(&identifier)?
    };
    // Verified against a dummy hash when there is no user, so an unknown
    // name costs the same time and gets the same answer as a wrong password.
    let stored_hash = user.as_ref().map(|u| u.password_hash.as_str());
    let user = match (app.passwords.verify(&password, stored_hash)?, user) {
        (true, Some(user)) => user,
        _ => {
            app.throttle
                .record_login_failure(&identifier, cx.client_ip, cx.now);
            app.log.line(
                "login_failed",
                &[
                    ("identifier", json!(identifier)),
                    ("client", json!(cx.client_ip.to_string())),
                ],
            );
            return Err(ApiError::InvalidCredentials);
        }
    };
    app.throttle.record_login_success(&identifier, cx.client_ip);

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
    app.log.line(
        "login_ok",
        &[
            ("user_id", json!(user.id)),
            ("remember", json!(remember)),
            ("client", json!(cx.client_ip.to_string())),
        ],
    );
    let max_age = remember.then(|| session.absolute_end - session.created_at);
    Ok(Reply::ok("Signed in.")
        .with_data(json!({ "user": user_json(&user) }))
        .with_cookie(app.cookies.set(&token, max_age)))
}

fn logout(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    for token in cookies::session_tokens(cx.request) {
        if let Some(session) = app.sessions.authenticate(&token, cx.now) {
            app.log.line(
                "logout",
                &[
                    ("user_id", json!(session.user_id)),
                    ("client", json!(cx.client_ip.to_string())),
                ],
            );
        }
        app.sessions.end(&token);
    }
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}

/// The signed-in user behind a request.
struct SignedIn {
    session: Session,
    user: User,
}

/// The first cookie token that names a live session of an existing user;
/// otherwise 401. Each success restarts the session's idle timer.
fn signed_in(app: &App, cx: &Context) -> Result<SignedIn, ApiError> {
    for token in cookies::session_tokens(cx.request) {
        let Some(session) = app.sessions.authenticate(&token, cx.now) else {
            continue;
        };
        match app.db.user_by_id(session.user_id)? {
            Some(user) => return Ok(SignedIn { session, user }),
            // The account is gone; so is any session of it.
            None => app.sessions.end(&token),
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
