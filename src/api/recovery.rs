//! Forgotten passwords and verified addresses: `POST /api/password/forgot`,
//! `/api/password/reset`, `/api/email/verify`, `/api/email/verify/resend`
//! (`accounts::recovery`).

use crate::api::app::{App, Context, Reply};
use crate::api::common::{hash_queue_busy, just_user, too_many};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::handler::Anyone;
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::recovery::{
    self, ForgotOutcome, ResendOutcome, ResetOutcome, VerifyOutcome,
};
use auth_core::auth::validation;

request_body! {
    pub struct ForgotPasswordRequest {
        pub email: String = {"maxLength": 254},
        /// Where the page the mailed link opens sends the browser
        /// afterwards (as the sign-in page's rd). Kept only if the sign-in
        /// would follow it; otherwise dropped.
        pub redirect: Option<String>,
    }
}

request_body! {
    pub struct ResetPasswordRequest {
        /// From the reset link's fragment: 43 characters of base64url.
        pub token: String,
        pub new_password: String = {"minLength": 12, "maxLength": 72},
    }
}

request_body! {
    pub struct VerifyEmailRequest {
        /// From the verification link's fragment.
        pub token: String,
    }
}

request_body! {
    pub struct ResendVerificationRequest {
        /// Where the page the mailed link opens sends the browser
        /// afterwards (as the sign-in page's rd). Kept only if the sign-in
        /// would follow it; otherwise dropped.
        pub redirect: Option<String>,
    }
}

/// Always 202 with the same body, whether or not an account uses the
/// address, answered before any look-up (see `accounts::recovery::forgot`).
pub fn forgot(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<ForgotPasswordRequest>,
) -> Result<Reply, ApiError> {
    let ForgotPasswordRequest { email, redirect } = body.read_checked(|given| {
        match given.given_string("email").map(validation::normalize_email) {
            Some(Err(problem)) => vec![("email", problem.to_string())],
            _ => Vec::new(),
        }
    })?;
    let email = validation::normalize_email(&email).map_err(|p| ApiError::field("email", p))?;
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

pub fn reset(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<ResetPasswordRequest>,
) -> Result<Reply, ApiError> {
    let ResetPasswordRequest {
        token,
        new_password,
    } = body.read()?;

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

pub fn verify(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<VerifyEmailRequest>,
) -> Result<Reply, ApiError> {
    let VerifyEmailRequest { token } = body.read()?;

    match recovery::verify(&app.accounts, &token, &cx.client())? {
        VerifyOutcome::Verified(user) => {
            Reply::ok("Your email address is confirmed.").with_data(just_user(&user))
        }
        VerifyOutcome::InvalidToken => Err(ApiError::InvalidToken),
        VerifyOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
    }
}

pub fn resend(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<ResendVerificationRequest>,
) -> Result<Reply, ApiError> {
    // The body is optional; `redirect` is where the link's page returns.
    let redirect = body.read_if_sent()?.and_then(|body| body.redirect);
    let return_to = redirect.and_then(|url| app.accounts.approved_redirect(&url));
    match recovery::resend(&app.accounts, &me.user, return_to.as_deref(), &cx.client())? {
        ResendOutcome::AlreadyVerified => Ok(Reply::ok("Your email address is already confirmed.")),
        ResendOutcome::Queued => {
            Ok(Reply::ok("A confirmation link is on its way to your address.").with_status(202))
        }
        ResendOutcome::MailNotConfigured => Err(ApiError::MailNotConfigured),
    }
}
