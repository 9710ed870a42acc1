//! Two-factor login with an authenticator app: `POST /api/user/totp/setup`,
//! `/enable`, `/disable` (the login's side is in `auth.rs`).
//!
//! Setting up is two steps, so a mistyped secret cannot lock anyone out:
//! set-up stores a pending secret and shows it (as text, an `otpauth://`
//! URI and a QR code); only a code made from it turns it on. Turning it
//! on or off ends every other session of the account (OWASP ASVS 4.0.3
//! V2.8, V3.3.3).

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    SignedIn, check_password, check_password_holding_slot, end_other_sessions, signed_in,
    successor_cookie,
};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::totp;
use crate::storage::{Checked, User};

pub fn setup(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.required_string("password");
    let password = fields.finish(&["password"], password)?;
    if user.totp_enabled() {
        return Err(ApiError::TotpAlreadyEnabled);
    }
    check_password(app, cx, &user.username, Some(&user), &password)?;

    let secret =
        totp::new_secret().map_err(|error| ApiError::busy(format!("random source: {error}")))?;
    if !app.db.set_totp_pending(user.id, user.checked(), &secret)? {
        return Err(ApiError::Unauthenticated);
    }
    let uri = totp::otpauth_uri(&app.settings.totp_issuer, &user.username, &secret);
    Ok(
        Reply::ok("Scan the code, then confirm with a code from the app.").with_data(json!({
            "secret": totp::base32(&secret),
            "otpauth_uri": uri,
            "qr_svg": totp::qr_svg(&uri),
        })),
    )
}

pub fn enable(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { token, user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let code = fields.required_string("code");
    let code = fields.finish(&["code"], code)?;
    if user.totp_enabled() {
        return Err(ApiError::TotpAlreadyEnabled);
    }
    let Some(pending) = user.totp_pending.as_deref() else {
        return Err(ApiError::InvalidCode);
    };
    let step = totp::matching_step(pending, &code, cx.now).ok_or(ApiError::InvalidCode)?;

    let codes = totp::new_recovery_codes()
        .map_err(|error| ApiError::busy(format!("random source: {error}")))?;
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let successor = end_other_sessions(app, cx, &token, user.id, |keep| {
        app.db
            .enable_totp(user.id, user.checked(), pending, step, &hashes, keep)
    })?;
    app.event("totp_enabled", Some(user.id), None, cx);
    Ok(Reply::ok(
        "Two-factor login is on. Keep these recovery codes somewhere safe: they are shown only now.",
    )
    .with_data(json!({ "recovery_codes": codes }))
    .with_cookie(successor_cookie(app, &successor, cx.now)))
}

pub fn disable(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { token, user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.required_string("password");
    let code = fields.required_string("code");
    let (password, code) = fields.finish(&["password", "code"], (password, code))?;
    if !user.totp_enabled() {
        return Err(ApiError::TotpNotEnabled);
    }
    // The password's failure slot is held through the code check: a wrong
    // code here counts as a failed login, as at sign-in (second review,
    // finding 6).
    let reservation = check_password_holding_slot(app, cx, &user.username, Some(&user), &password)?;
    let epoch = match second_factor_ok(app, cx, &user, &code) {
        Ok(Some(epoch)) => {
            app.throttle.login_succeeded(reservation);
            epoch
        }
        Ok(None) => {
            app.throttle.login_failed(reservation);
            app.event("totp_failed", Some(user.id), None, cx);
            return Err(ApiError::InvalidTotp);
        }
        Err(error) => {
            app.throttle.release(reservation);
            return Err(error);
        }
    };
    // A recovery code has moved the epoch itself; the disable is guarded
    // by the epoch it left.
    let checked = Checked {
        epoch,
        password_hash: &user.password_hash,
    };
    let successor = end_other_sessions(app, cx, &token, user.id, |keep| {
        app.db.disable_totp(user.id, Some(checked), keep)
    })?;
    app.event("totp_disabled", Some(user.id), None, cx);
    Ok(
        Reply::ok("Two-factor login is off.")
            .with_cookie(successor_cookie(app, &successor, cx.now)),
    )
}

/// A current, unused TOTP code, or an unused recovery code (which is used
/// up; the caller is about to end the other sessions anyway). The answer is
/// the account's auth epoch after the check, `None` for a wrong code.
fn second_factor_ok(
    app: &App,
    cx: &Context,
    user: &User,
    code: &str,
) -> Result<Option<i64>, ApiError> {
    if let Some(secret) = user.totp_secret.as_deref()
        && let Some(step) = totp::matching_step(secret, code, cx.now)
    {
        let accepted = app.db.accept_totp_step(user.id, step)?;
        return Ok(accepted.then_some(user.auth_epoch));
    }
    let hash = totp::recovery_code_hash(code);
    Ok(app
        .db
        .use_recovery_code(user.id, user.checked(), &hash, cx.now)?
        .map(|(epoch, _)| epoch))
}
