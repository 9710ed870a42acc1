//! Forgotten passwords and verified addresses: `POST /api/password/forgot`,
//! `/api/password/reset`, `/api/email/verify`, `/api/email/verify/resend`.
//!
//! Mail goes through the outbox and the mailer thread (`auth::mailer`),
//! never on the request path. Tokens arrive in the body (the front end
//! reads them from the link's fragment), are looked up by their SHA-256,
//! and a wrong one counts like a wrong password against the address.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{SignedIn, approved_redirect, signed_in, too_many, user_json};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::mailer::{MAILS_PER_ACCOUNT_PER_HOUR, ResetRequest};
use crate::auth::sessions::Token;
use crate::auth::validation;
use crate::storage::mail::Purpose;

/// Always 202 with the same body, whether or not an account uses the
/// address, answered before any look-up, so neither the answer nor its
/// timing tells anybody who has an account (OWASP Forgot Password Cheat
/// Sheet).
pub fn forgot(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let email = fields.required_string("email");
    let redirect = fields.optional_string("redirect");
    let email = email.and_then(|e| match validation::normalize_email(&e) {
        Ok(normalized) => Some(normalized),
        Err(problem) => {
            fields.reject("email", problem);
            None
        }
    });
    let email = fields.finish(&["email", "redirect"], email)?;
    app.throttle
        .reset_request(cx.client_group, cx.now)
        .map_err(too_many)?;

    // Nothing about the account is looked up here: the mailer thread does
    // that after this answer, so both cases take the same time.
    if app.mailer.enabled() {
        let request = ResetRequest {
            email,
            // Only where the sign-in page may send a browser anyway.
            return_to: redirect.and_then(|url| approved_redirect(app, &url)),
            ip: cx.client_ip,
            user_agent: cx.user_agent().to_string(),
            request_id: cx.request_id.to_string(),
            at: cx.now,
        };
        if !app.mailer.request_reset(request) {
            return Err(ApiError::busy("too many reset requests waiting"));
        }
    }
    Ok(
        Reply::ok("If an account uses that address, a link to reset its password is on its way.")
            .with_status(202),
    )
}

/// The token of a body's `token` field, if it has a token's shape.
fn token_hash(token: &str) -> Option<[u8; 32]> {
    Token::decode(token.trim()).map(|t| t.hash().0)
}

pub fn reset(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let token = fields.required_string("token");
    let new_password = fields.required_string("new_password");
    let (token, new_password) = fields.finish(&["token", "new_password"], (token, new_password))?;

    let guess = app
        .throttle
        .reserve_token_guess(cx.client_group, cx.now)
        .map_err(too_many)?;
    let hash = token_hash(&token);
    let user = match hash {
        Some(hash) => app.db.email_token_user(Purpose::Reset, &hash, cx.now)?,
        None => None,
    };
    let (Some(hash), Some(user)) = (hash, user) else {
        // The failure stays counted.
        return Err(ApiError::InvalidToken);
    };
    app.throttle.token_accepted(guess);

    // The registration rules, against this account's own names.
    validation::check_new_password(
        &new_password,
        app.settings.password_min_length,
        &user.username,
        &user.email,
    )
    .map_err(|problem| ApiError::field("new_password", &problem))?;

    let password_hash = app.passwords.hash(&new_password, cx.client_group)?;
    let Some(user) = app.db.reset_password(&hash, &password_hash, cx.now)? else {
        // Used or expired between the look-up and now.
        return Err(ApiError::InvalidToken);
    };
    // Whoever held a session (or the old password) is out.
    app.sessions.forget_user(user.id);
    app.event("password_reset", Some(user.id), Some(&user.username), cx);
    Ok(Reply::ok(
        "Your password is changed. Sign in with the new one.",
    ))
}

pub fn verify(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let token = fields.required_string("token");
    let token = fields.finish(&["token"], token)?;

    let guess = app
        .throttle
        .reserve_token_guess(cx.client_group, cx.now)
        .map_err(too_many)?;
    let user = match token_hash(&token) {
        Some(hash) => app.db.verify_email(&hash, cx.now)?,
        None => None,
    };
    let Some(user) = user else {
        return Err(ApiError::InvalidToken);
    };
    app.throttle.token_accepted(guess);
    app.event("email_verified", Some(user.id), Some(&user.username), cx);
    Ok(
        Reply::ok("Your email address is confirmed.")
            .with_data(json!({ "user": user_json(&user) })),
    )
}

pub fn resend(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { user, .. } = signed_in(app, cx)?;
    // The body is optional; `redirect` is where the link's page returns.
    let return_to = match cx.request.body.is_empty() {
        true => None,
        false => {
            let mut fields = Fields::parse(&cx.request.body)?;
            let redirect = fields.optional_string("redirect");
            fields.finish(&["redirect"], ())?;
            redirect
        }
    }
    .and_then(|url| approved_redirect(app, &url));
    if user.email_verified {
        return Ok(Reply::ok("Your email address is already confirmed."));
    }
    if !app.mailer.enabled() {
        return Err(ApiError::MailNotConfigured);
    }
    let recent =
        app.db
            .count_events(Some(user.id), "email_verification_requested", cx.now - 3600)?;
    if recent < MAILS_PER_ACCOUNT_PER_HOUR {
        app.db.queue_mail(
            user.id,
            Purpose::Verify,
            &user.email,
            return_to.as_deref(),
            cx.now,
        )?;
        app.mailer.notify();
        app.event(
            "email_verification_requested",
            Some(user.id),
            Some(&user.username),
            cx,
        );
    }
    Ok(Reply::ok("A confirmation link is on its way to your address.").with_status(202))
}
