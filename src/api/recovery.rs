//! Forgotten passwords and verified addresses: `POST /api/password/forgot`,
//! `/api/password/reset`, `/api/email/verify`, `/api/email/verify/resend`
//! (`accounts::recovery`).

use crate::api::app::{App, Context, Reply};
use crate::api::common::{JustUser, hash_queue_busy, just_user, too_many};
use crate::api::doc::{BUSY, Doc, INVALID, THROTTLED, ok, refusal};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::handler::Anyone;
use crate::api::schema::Describe;
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

pub const FORGOT: Doc = Doc {
    id: "forgotPassword",
    tag: "recovery",
    summary: "Mail a password-reset link to the account using an address",
    description: "Always 202 with the same body whether or not an account uses the address. At most 3 reset mails per account per hour; PASSWORD_RESETS_PER_HOUR requests per client address per hour. The link is {PUBLIC_URL}/reset-password#token={token}.",
    answers: &[
        ok(
            202,
            "Accepted: a link is on its way if an account uses the address.",
            None,
        ),
        refusal("Malformed body or address.", INVALID),
        refusal(
            "Too many reset requests from this address; try again after Retry-After seconds.",
            &[THROTTLED],
        ),
        refusal("Too many reset requests are waiting to be handled.", BUSY),
    ],
    ..Doc::PLAIN
};

pub const RESET: Doc = Doc {
    id: "resetPassword",
    tag: "recovery",
    summary: "Choose a new password with a reset token",
    description: "The token is consumed, every session of the account ends, the address counts as verified; the response does not sign in. A wrong token counts like a failed login against the client address.",
    answers: &[
        ok(200, "The password is changed.", None),
        refusal(
            "A malformed, unknown, used or expired token (invalid_token), or a new password that breaks the rules (validation_error, fields.new_password).",
            &[ApiError::InvalidToken],
        ),
        refusal("Too many failures from this address.", &[THROTTLED]),
        refusal(
            "Busy: the wait for a bcrypt worker would be over HASH_QUEUE_WAIT_SECS, or storage is failing.",
            BUSY,
        ),
    ],
    ..Doc::PLAIN
};

pub const VERIFY: Doc = Doc {
    id: "verifyEmail",
    tag: "recovery",
    summary: "Confirm an email address with a verification token",
    answers: &[
        ok(200, "The address is verified.", Some(JustUser::describe)),
        refusal(
            "A malformed, unknown, used or expired token.",
            &[ApiError::InvalidToken],
        ),
        refusal("Too many failures from this address.", &[THROTTLED]),
    ],
    ..Doc::PLAIN
};

pub const RESEND: Doc = Doc {
    id: "resendVerification",
    tag: "recovery",
    summary: "Mail the verification link again",
    description: "At most 3 mails per account per hour (beyond that, still 202, no mail).",
    body: "Optional; an empty body is fine.",
    body_optional: true,
    answers: &[
        ok(202, "Accepted: a link is on its way.", None),
        ok(
            200,
            "The address is already verified; nothing is sent.",
            None,
        ),
        refusal(
            "This server sends no mail (MAIL_COMMAND is not set).",
            &[ApiError::MailNotConfigured],
        ),
    ],
    ..Doc::PLAIN
};

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
