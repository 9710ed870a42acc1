//! Signing up, in and out: `POST /api/register`, `/api/login`,
//! `/api/logout`. Each handler parses the body, calls its use case
//! (`accounts::register`, `login`, `logout`) and maps the outcome to the
//! answer; the story of each flow is told there.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    hash_queue_busy, invalid, just_user, refused, signed_in_reply, too_many, user_json,
};
use crate::api::cookies;
use crate::api::error::ApiError;
use crate::api::fields::{Body, Fields, request_body};
use crate::api::handler::Anyone;
use auth_core::accounts::Trouble;
use auth_core::accounts::check::SecondFactor;
use auth_core::accounts::login::{self, LoginOutcome};
use auth_core::accounts::logout;
use auth_core::accounts::register::{self, Channel, RegisterOutcome, Registration};
use auth_core::support::metrics::{LoginResult, RegistrationResult};

request_body! {
    pub struct RegisterRequest {
        /// Unique ignoring case.
        pub username: String = {"minLength": 3, "maxLength": 32, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
        /// Trimmed, one @, 1-64 characters before it, a domain with a dot;
        /// no spaces or control characters; stored lower-case; unique.
        pub email: String = {"maxLength": 254, "pattern": "^[^@\\s]{1,64}@[^@\\s.]+(\\.[^@\\s.]+)+$"},
        /// At least PASSWORD_MIN_LENGTH (default 12; 8 to 64) code points,
        /// at most 72 bytes of UTF-8, not common, not the username or email.
        pub password: String = {"minLength": 12},
        /// Where the page the mailed verification link opens sends the
        /// browser afterwards (as the sign-in page's rd). Kept only if the
        /// sign-in would follow it; otherwise dropped.
        pub redirect: Option<String>,
    }
}

pub fn register(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<RegisterRequest>,
) -> Result<Reply, ApiError> {
    // Before the body is read: a closed server says so to any form.
    if !app.settings().registration_open {
        app.count_registration(RegistrationResult::Closed);
        return Err(ApiError::RegistrationClosed);
    }
    // Every problem at once, the rules' beside the types'.
    let min_length = app.settings().password_min_length;
    let RegisterRequest {
        username,
        email,
        password,
        redirect,
    } = body
        .read_checked(|given| {
            let (_, problems) = register::form_problems(
                min_length,
                given.given_string("username"),
                given.given_string("email"),
                given.given_string("password"),
            );
            problems
        })
        .inspect_err(|_| app.count_registration(RegistrationResult::Invalid))?;
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

request_body! {
    #[schema {"oneOf": [{"required": ["username"]}, {"required": ["email"]}]}]
    pub struct LoginRequest {
        /// A username, or an email (a value with @).
        pub username: Option<String>,
        pub email: Option<String>,
        pub password: String,
        /// A persistent cookie and a REMEMBER_ME_TIMEOUT_SECS session.
        pub remember: bool = {"default": false},
        /// The 6-digit code of an account with two-factor login on.
        pub totp_code: Option<String> = {"pattern": "^[0-9]{6}$"},
        /// A single-use recovery code, instead of totp_code.
        pub recovery_code: Option<String>,
        /// Where the sign-in page sends the browser next: answered as
        /// data.redirect when it passes the open-redirect check (a host of
        /// FORWARD_AUTH_HOSTS, or this server under PUBLIC_URL), else null.
        pub redirect: Option<String>,
    }
}

/// A login's "one of these, not both" rules.
fn login_problems(given: &Fields) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match (given.has("username"), given.has("email")) {
        (true, true) => problems.push(("username", "give a username or an email, not both".into())),
        (false, false) => problems.push(("username", "username or email is required".into())),
        _ => {}
    }
    if given.has("totp_code") && given.has("recovery_code") {
        problems.push((
            "totp_code",
            "give a code or a recovery code, not both".into(),
        ));
    }
    problems
}

pub fn login(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<LoginRequest>,
) -> Result<Reply, ApiError> {
    let LoginRequest {
        username,
        email,
        password,
        remember,
        totp_code,
        recovery_code,
        redirect,
    } = body
        .read_checked(login_problems)
        .inspect_err(|_| app.count_login(LoginResult::Other))?;
    // The rules above leave exactly one identifier and at most one code.
    let identifier = username.or(email).unwrap_or_default();
    let second_factor = match (totp_code, recovery_code) {
        (Some(code), _) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::Recovery(code)),
        (None, None) => None,
    };

    let request = login::LoginRequest {
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

pub fn logout(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let tokens = cookies::session_tokens(cx.request);
    logout::logout(&app.accounts, &tokens, &cx.client())?;
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}
