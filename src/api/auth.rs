//! Signing up, in and out: `POST /api/register`, `/api/login`,
//! `/api/logout`. Each handler parses the body, calls its use case
//! (`accounts::register`, `login`, `logout`) and maps the outcome to the
//! answer; the story of each flow is told there.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    hash_queue_busy, invalid, just_user, refused, reject_all, signed_in_reply, too_many, user_json,
};
use crate::api::cookies;
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use auth_core::accounts::Trouble;
use auth_core::accounts::check::SecondFactor;
use auth_core::accounts::login::{self, LoginOutcome, LoginRequest};
use auth_core::accounts::logout;
use auth_core::accounts::register::{self, Channel, RegisterOutcome, Registration};
use auth_core::support::metrics::{LoginResult, RegistrationResult};

pub fn register(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    // Before the body is read: a closed server says so to any form.
    if !app.settings().registration_open {
        app.count_registration(RegistrationResult::Closed);
        return Err(ApiError::RegistrationClosed);
    }
    let (username, email, password, redirect) = register_form(app, cx).inspect_err(|_| {
        app.count_registration(RegistrationResult::Invalid);
    })?;
    let return_to = redirect.and_then(|url| app.accounts.approved_redirect(&url));
    let form = Registration {
        username: &username,
        email: &email,
        password: &password,
        return_to: return_to.as_deref(),
    };
    let outcome = register::register(&app.accounts, form, Channel::SignUp, &cx.client());
    app.count_registration(match &outcome {
        Ok(outcome) => outcome.result(),
        Err(Trouble::Internal(_)) => RegistrationResult::Other,
        Err(_) => RegistrationResult::RefusedBusy,
    });
    match outcome? {
        RegisterOutcome::Registered(user) => Reply::ok("Registered. You can now sign in.")
            .with_status(201)
            .with_data(just_user(&user)),
        RegisterOutcome::Invalid(problems) => Err(invalid(problems)),
        RegisterOutcome::UsernameTaken => Err(ApiError::UsernameTaken),
        RegisterOutcome::EmailTaken => Err(ApiError::EmailTaken),
        RegisterOutcome::Closed => Err(ApiError::RegistrationClosed),
        RegisterOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        RegisterOutcome::Busy { retry_after_secs } => Err(hash_queue_busy(retry_after_secs)),
    }
}

/// The sign-up form: username, email, password and an optional redirect,
/// every problem (types and rules) reported at once.
fn register_form(
    app: &App,
    cx: &Context,
) -> Result<(String, String, String, Option<String>), ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let username = fields.required_string("username");
    let email = fields.required_string("email");
    let password = fields.required_string("password");
    let redirect = fields.optional_string("redirect");
    let (_, problems) = register::form_problems(
        app.settings().password_min_length,
        username.as_deref(),
        email.as_deref(),
        password.as_deref(),
    );
    reject_all(&mut fields, problems);
    let (username, email, password) = fields.finish(
        &["username", "email", "password", "redirect"],
        (username, email, password),
    )?;
    Ok((username, email, password, redirect))
}

pub fn login(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body).inspect_err(|_| {
        app.count_login(LoginResult::Other);
    })?;
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
    let (identifier, password) = fields
        .finish(
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
        )
        .inspect_err(|_| app.count_login(LoginResult::Other))?;

    let request = LoginRequest {
        identifier: &identifier,
        password: &password,
        remember,
        second_factor,
        previous: cookies::session_tokens(cx.request),
    };
    let outcome = login::login(&app.accounts, request, &cx.client());
    app.count_login(match &outcome {
        Ok(outcome) => outcome.result(),
        Err(Trouble::Internal(_)) => LoginResult::Other,
        Err(_) => LoginResult::RefusedBusy,
    });
    match outcome? {
        LoginOutcome::SignedIn {
            user,
            token,
            session,
            recovery_codes_left,
        } => {
            let mut data = json!({ "user": user_json(&user) });
            if let Some(left) = recovery_codes_left {
                data["recovery_codes_left"] = json!(left);
            }
            signed_in_reply(app, cx, data, redirect, (&token, &session))
        }
        LoginOutcome::Refused(no) => Err(refused(no)),
        LoginOutcome::SecondFactorRequired => Err(ApiError::TotpRequired),
        LoginOutcome::InvalidSecondFactor => Err(ApiError::InvalidTotp),
        LoginOutcome::EmailNotVerified => Err(ApiError::EmailNotVerified),
    }
}

pub fn logout(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let tokens = cookies::session_tokens(cx.request);
    logout::logout(&app.accounts, &tokens, &cx.client())?;
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}
