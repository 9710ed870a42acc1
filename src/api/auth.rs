//! Signing up, in and out: `POST /api/register`, `/api/login`,
//! `/api/logout`.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    approved_redirect, check_new_password, check_password_holding_slot, queue_verification,
    session_cookie, too_many, user_json,
};
use crate::api::cookies;
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::sessions::NewSession;
use crate::auth::totp;
use crate::auth::validation;
use crate::storage::{InsertError, User};

pub fn register(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    if !app.settings.registration_open {
        return Err(ApiError::RegistrationClosed);
    }
    let mut fields = Fields::parse(&cx.request.body)?;
    let username = fields.required_string("username");
    let email = fields.required_string("email");
    let password = fields.required_string("password");
    let redirect = fields.optional_string("redirect");

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
    let (username, email, password) = fields.finish(
        &["username", "email", "password", "redirect"],
        (username, email, password),
    )?;

    // Counted only once the form is valid, so a typo costs no quota; and
    // before bcrypt, so a refused attempt costs the server nothing.
    app.throttle
        .register_attempt(cx.client_group, cx.now)
        .map_err(too_many)?;
    let hash = app.passwords.hash(&password, cx.client_group)?;
    let user = match app.db.insert_user(&username, &email, &hash, cx.now) {
        Ok(user) => user,
        Err(InsertError::UsernameTaken) => return Err(ApiError::UsernameTaken),
        Err(InsertError::EmailTaken) => return Err(ApiError::EmailTaken),
        Err(InsertError::Database(error)) => return Err(error.into()),
    };
    app.event("registered", Some(user.id), Some(&user.username), cx);
    let return_to = redirect.and_then(|url| approved_redirect(app, &url));
    queue_verification(app, cx, &user, return_to.as_deref());
    Ok(Reply::ok("Registered. You can now sign in.")
        .with_status(201)
        .with_data(json!({ "user": user_json(&user) })))
}

pub fn login(app: &App, cx: &Context) -> Result<Reply, ApiError> {
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
            fields.reject("username", "username or email is required");
            None
        }
    };
    let password = fields.required_string("password");
    let remember = fields.optional_bool("remember");
    let redirect = fields.optional_string("redirect");
    let second_factor = match (
        fields.optional_string("totp_code"),
        fields.optional_string("recovery_code"),
    ) {
        (Some(code), None) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::Recovery(code)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            fields.reject("totp_code", "give a code or a recovery code, not both");
            None
        }
    };
    let (identifier, password) = fields.finish(
        &[
            "username",
            "email",
            "password",
            "remember",
            "totp_code",
            "recovery_code",
            "redirect",
        ],
        (identifier, password),
    )?;

    let user = app.db.user_by_identifier(&identifier)?;
    let reservation = check_password_holding_slot(app, cx, &identifier, user.as_ref(), &password)?;
    let Some(user) = user else {
        app.throttle.login_failed(reservation);
        return Err(ApiError::InvalidCredentials);
    };
    // Checked after the password, so they tell nothing to someone without it.
    if app.settings.require_verified_email && !user.email_verified {
        app.throttle.login_succeeded(reservation);
        return Err(ApiError::EmailNotVerified);
    }
    let (checked_epoch, recovery_codes_left) =
        match check_second_factor(app, cx, &user, second_factor) {
            Ok(checked) => checked,
            Err(ApiError::TotpRequired) => {
                // The password was right and no code has failed yet; but
                // nothing succeeded either, so the pair's failures stand
                // (second review, finding 6: a code-less login between wrong
                // codes used to wipe them).
                app.throttle.release(reservation);
                return Err(ApiError::TotpRequired);
            }
            // A wrong code keeps the failure slot: it counts as a failed
            // login in every throttle window.
            Err(ApiError::InvalidTotp) => {
                app.throttle.login_failed(reservation);
                return Err(ApiError::InvalidTotp);
            }
            Err(error) => {
                app.throttle.release(reservation);
                return Err(error);
            }
        };
    app.throttle.login_succeeded(reservation);

    // The stored hash is upgraded while the password is at hand, so raising
    // BCRYPT_COST reaches every active user.
    if app.passwords.needs_rehash(&user.password_hash)
        && let Ok(hash) = app.passwords.hash(&password, cx.client_group)
    {
        app.db.rehash_password(user.id, user.checked(), &hash)?;
    }

    // Whatever session the browser brought is ended, and a fresh token
    // issued: an attacker who planted a token learns nothing (session
    // fixation; OWASP ASVS 4.0.3 V3.2.1).
    for token in cookies::session_tokens(cx.request) {
        app.sessions.end(&token)?;
    }
    let new_session = NewSession {
        user_id: user.id,
        auth_epoch: checked_epoch,
        remember,
        ip: cx.client_ip,
        user_agent: cx.user_agent().to_string(),
    };
    let (token, mut session) = app
        .sessions
        .prepare(new_session, cx.now)
        .map_err(|error| ApiError::busy(format!("random source: {error}")))?;
    // Only if the account is still the one checked: deleted, disabled or
    // its password changed since the hash was read, and this login fails
    // exactly like a wrong password. The session's row is written in the
    // same transaction, so a session the client is told about survives a
    // crash the instant after.
    let row = app.sessions.row(&token, &session);
    let Some((user, previous_login_at)) =
        app.db.record_login(user.id, checked_epoch, cx.now, row)?
    else {
        return Err(ApiError::InvalidCredentials);
    };
    session.previous_login_at = previous_login_at;
    app.sessions.admit(&token, session.clone(), cx.now)?;
    app.event("login_ok", Some(user.id), Some(&user.username), cx);
    let mut data = json!({ "user": user_json(&user) });
    if let Some(left) = recovery_codes_left {
        data["recovery_codes_left"] = json!(left);
    }
    // Where the sign-in page may send the browser next: the URL only when
    // it passes the open-redirect check, else null.
    if let Some(url) = redirect {
        data["redirect"] = json!(approved_redirect(app, &url));
    }
    Ok(Reply::ok("Signed in.")
        .with_data(data)
        .with_cookie(session_cookie(app, &token, &session, cx.now)))
}

/// What a login brought beside the password.
enum SecondFactor {
    Totp(String),
    Recovery(String),
}

/// The second step of a login into an account with two-factor login on: a
/// TOTP code for the current step (or one either side) that was never
/// accepted before, or an unused recovery code, which is used up and ends
/// every other session. Returns the auth epoch the new session must carry
/// and, after a recovery code, how many are left. Accounts without
/// two-factor login pass as they are.
fn check_second_factor(
    app: &App,
    cx: &Context,
    user: &User,
    given: Option<SecondFactor>,
) -> Result<(i64, Option<i64>), ApiError> {
    let Some(secret) = user.totp_secret.as_deref() else {
        return Ok((user.auth_epoch, None));
    };
    let accepted = match given {
        None => return Err(ApiError::TotpRequired),
        Some(SecondFactor::Totp(code)) => match totp::matching_step(secret, &code, cx.now) {
            Some(step) if app.db.accept_totp_step(user.id, step)? => Some((user.auth_epoch, None)),
            _ => None,
        },
        Some(SecondFactor::Recovery(code)) => {
            let hash = totp::recovery_code_hash(&code);
            match app
                .db
                .use_recovery_code(user.id, user.checked(), &hash, cx.now)?
            {
                Some((epoch, left)) => {
                    app.sessions.forget_user(user.id);
                    app.event(
                        "recovery_code_used",
                        Some(user.id),
                        Some(&user.username),
                        cx,
                    );
                    Some((epoch, Some(left)))
                }
                None => None,
            }
        }
    };
    accepted.ok_or_else(|| {
        app.event("totp_failed", Some(user.id), Some(&user.username), cx);
        ApiError::InvalidTotp
    })
}

pub fn logout(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    for token in cookies::session_tokens(cx.request) {
        if let Some(session) = app.sessions.authenticate(&token, cx.now) {
            app.event("logout", Some(session.user_id), None, cx);
        }
        app.sessions.end(&token)?;
    }
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}
