//! Forgotten passwords and verified addresses: `POST /api/password/forgot`,
//! `/api/password/reset`, `/api/email/verify`, `/api/email/verify/resend`
//! (`accounts::recovery`).

use crate::api::app::{App, Context, Reply};
use crate::api::common::{hash_queue_busy, just_user, too_many};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::recovery::{
    self, ForgotOutcome, ResendOutcome, ResetOutcome, VerifyOutcome,
};
use auth_core::auth::validation;

/// Always 202 with the same body, whether or not an account uses the
/// address, answered before any look-up (see `accounts::recovery::forgot`).
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
    // Only where the sign-in page may send a browser anyway.
    let return_to = redirect.and_then(|url| app.accounts.approved_redirect(&url));
    match recovery::forgot(&app.accounts, email, return_to, &cx.client()) {
        ForgotOutcome::Accepted => Ok(Reply::ok(
            "If an account uses that address, a link to reset its password is on its way.",
        )
        .with_status(202)),
        ForgotOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        ForgotOutcome::Busy => Err(ApiError::busy("too many reset requests waiting")),
    }
}

pub fn reset(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let token = fields.required_string("token");
    let new_password = fields.required_string("new_password");
    let (token, new_password) = fields.finish(&["token", "new_password"], (token, new_password))?;

    match recovery::reset(&app.accounts, &token, &new_password, &cx.client())? {
        ResetOutcome::Reset(_) => Ok(Reply::ok(
            "Your password is changed. Sign in with the new one.",
        )),
        ResetOutcome::InvalidToken => Err(ApiError::InvalidToken),
        ResetOutcome::Rejected(problem) => Err(ApiError::field("new_password", &problem)),
        ResetOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        ResetOutcome::Busy { retry_after_secs } => Err(hash_queue_busy(retry_after_secs)),
    }
}

pub fn verify(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let token = fields.required_string("token");
    let token = fields.finish(&["token"], token)?;

    match recovery::verify(&app.accounts, &token, &cx.client())? {
        VerifyOutcome::Verified(user) => {
            Reply::ok("Your email address is confirmed.").with_data(just_user(&user))
        }
        VerifyOutcome::InvalidToken => Err(ApiError::InvalidToken),
        VerifyOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
    }
}

pub fn resend(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    // The body is optional; `redirect` is where the link's page returns.
    let redirect = match cx.request.body.is_empty() {
        true => None,
        false => {
            let mut fields = Fields::parse(&cx.request.body)?;
            let redirect = fields.optional_string("redirect");
            fields.finish(&["redirect"], ())?;
            redirect
        }
    };
    let return_to = redirect.and_then(|url| app.accounts.approved_redirect(&url));
    match recovery::resend(&app.accounts, &me.user, return_to.as_deref(), &cx.client())? {
        ResendOutcome::AlreadyVerified => Ok(Reply::ok("Your email address is already confirmed.")),
        ResendOutcome::Queued => {
            Ok(Reply::ok("A confirmation link is on its way to your address.").with_status(202))
        }
        ResendOutcome::MailNotConfigured => Err(ApiError::MailNotConfigured),
    }
}
