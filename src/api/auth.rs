//! Signing up, in and out: `POST /api/register`, `/api/login`,
//! `/api/logout`. Each handler parses the body, calls its use case
//! (`accounts::register`, `login`, `logout`) and maps the outcome to the
//! answer; the story of each flow is told there.

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    JustUser, SignedInJson, just_user, refused, registration_refused, signed_in_reply,
};
use crate::api::cookies;
use crate::api::doc::{Doc, busy_hashing, ok, ok_with_cookie, refusal, throttled};
use crate::api::error::ApiError;
use crate::api::fields::{Body, Fields, request_body};
use crate::api::handler::Anyone;
use crate::api::schema::Describe;
use auth_core::accounts::Trouble;
use auth_core::accounts::check::SecondFactor;
use auth_core::accounts::login::{self, LoginOutcome};
use auth_core::accounts::logout;
use auth_core::accounts::register::{self, Channel, RegisterOutcome, Registration};
use auth_core::support::config::Registration as Mode;
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
        /// Never trimmed.
        pub password: String = {"minLength": 12},
        /// Where the page the mailed link opens sends the browser
        /// afterwards (as the sign-in page's rd). Kept only if the sign-in
        /// would follow it; otherwise dropped.
        pub redirect: Option<String>,
        /// The token of an invitation (from its link,
        /// `/register?invite=TOKEN`): needed with REGISTRATION=invite; it
        /// gives its groups, and the address it names must be this one.
        pub invite: Option<String>,
    }
}

pub const REGISTER: Doc = Doc {
    id: "register",
    tag: "auth",
    summary: "Create an account (does not log in)",
    body: "Every invalid field is reported at once in error.fields.",
    answers: &[
        ok(201, "Registered.", Some(JustUser::describe)),
        refusal(
            "The username or email is taken (ignoring case).",
            &[ApiError::UsernameTaken, ApiError::EmailTaken],
        ),
        refusal(
            "REGISTRATION=closed (accounts come from the operator), or REGISTRATION=invite and no invitation.",
            &[ApiError::RegistrationClosed, ApiError::InviteRequired],
        ),
        refusal(
            "The invitation is unknown, used, withdrawn or expired.",
            &[ApiError::InvalidInvite],
        ),
        throttled(),
        busy_hashing(),
    ],
    ..Doc::PLAIN
};

pub fn register(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<RegisterRequest>,
) -> Result<Reply, ApiError> {
    // Before the body is read: a closed server says so to any form.
    if app.settings().registration == Mode::Closed {
        app.count_registration(RegistrationResult::Closed);
        return Err(ApiError::RegistrationClosed);
    }
    // Every problem at once, the rules' beside the types'.
    let policy = app.accounts.password_policy();
    let RegisterRequest {
        username,
        email,
        password,
        redirect,
        invite,
    } = body
        .read_checked(|given| {
            let (_, problems) = register::form_problems(
                policy,
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
        invite: invite.as_deref(),
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
        refused => Err(registration_refused(refused)),
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
        /// Where the sign-in page wants to go next; answered as
        /// data.redirect (the URL, or null when not approved).
        pub redirect: Option<String>,
    }
}

pub const LOGIN: Doc = Doc {
    id: "login",
    tag: "auth",
    summary: "Log in by username or email",
    body: "`username` (a username or an email) or `email`, not both.",
    answers: &[
        ok_with_cookie(
            200,
            "Signed in; data.recovery_codes_left when a recovery code was used.",
            Some(SignedInJson::describe),
        ),
        refusal(
            "invalid_credentials (wrong password, unknown or disabled account); totp_required (right password, two-factor login on, no code: send the same body again with totp_code or recovery_code); invalid_totp (a wrong, stale or replayed code, counted as a failed login).",
            &[
                ApiError::InvalidCredentials,
                ApiError::TotpRequired,
                ApiError::InvalidTotp,
            ],
        ),
        refusal(
            "The password is right but the address is not verified, and REQUIRE_VERIFIED_EMAIL is on.",
            &[ApiError::EmailNotVerified],
        ),
        throttled(),
        busy_hashing(),
    ],
    ..Doc::PLAIN
};

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
        } => signed_in_reply(
            app,
            cx,
            &user,
            recovery_codes_left,
            redirect,
            (&token, &session),
        ),
        LoginOutcome::Refused(no) => Err(refused(no)),
        LoginOutcome::SecondFactorRequired => Err(ApiError::TotpRequired),
        LoginOutcome::InvalidSecondFactor => Err(ApiError::InvalidTotp),
        LoginOutcome::EmailNotVerified => Err(ApiError::EmailNotVerified),
    }
}

pub const LOGOUT: Doc = Doc {
    id: "logout",
    tag: "auth",
    summary: "End the session and clear the cookie",
    answers: &[ok_with_cookie(
        200,
        "Signed out (also when there was no session).",
        None,
    )],
    ..Doc::PLAIN
};

pub fn logout(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let tokens = cookies::session_tokens(cx.request);
    logout::logout(&app.accounts, &tokens, &cx.client())?;
    Ok(Reply::ok("Signed out.").with_cookie(app.cookies.clear()))
}
