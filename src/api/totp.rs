//! Two-factor login with an authenticator app: `POST /api/user/totp/setup`,
//! `/enable`, `/disable` (`accounts::two_factor`), and `POST
//! /api/auth/step-up` (`accounts::access`: a code shown by a signed-in
//! session for an app whose rule wants one). The login's side is in
//! `accounts::login`.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{refused, successor_cookie, too_many};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use auth_core::accounts::access::{self, StepUpOutcome};
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::two_factor::{self, DisableOutcome, EnableOutcome, SetupOutcome};

request_body! {
    pub struct TotpSetupRequest {
        pub password: String,
    }
}

request_body! {
    pub struct TotpEnableRequest {
        /// A current code from the app, made from the pending secret.
        pub code: String,
    }
}

request_body! {
    pub struct TotpDisableRequest {
        pub password: String,
        /// A current code, or an unused recovery code.
        pub code: String,
    }
}

request_body! {
    pub struct StepUpRequest {
        /// The six digits the app shows now.
        pub code: String,
    }
}

pub fn setup(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<TotpSetupRequest>,
) -> Result<Reply, ApiError> {
    let TotpSetupRequest { password } = body.read()?;

    match two_factor::setup(&app.accounts, &me, &password, &cx.client())? {
        SetupOutcome::Pending {
            secret,
            uri,
            qr_svg,
        } => Reply::ok("Scan the code, then confirm with a code from the app.").with_data(json!({
            "secret": secret,
            "otpauth_uri": uri,
            "qr_svg": qr_svg,
        })),
        SetupOutcome::AlreadyOn => Err(ApiError::TotpAlreadyEnabled),
        SetupOutcome::Refused(no) => Err(refused(no)),
        SetupOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

pub fn enable(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<TotpEnableRequest>,
) -> Result<Reply, ApiError> {
    let TotpEnableRequest { code } = body.read()?;

    match two_factor::enable(&app.accounts, &me, &code, &cx.client())? {
        EnableOutcome::On {
            recovery_codes,
            successor,
        } => Ok(Reply::ok(
            "Two-factor login is on. Keep these recovery codes somewhere safe: they are shown only now.",
        )
        .with_data(json!({ "recovery_codes": recovery_codes }))?
        .with_cookie(successor_cookie(app, &successor, cx.now))),
        EnableOutcome::AlreadyOn => Err(ApiError::TotpAlreadyEnabled),
        EnableOutcome::WrongCode => Err(ApiError::InvalidCode),
        EnableOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

pub fn disable(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<TotpDisableRequest>,
) -> Result<Reply, ApiError> {
    let TotpDisableRequest { password, code } = body.read()?;

    match two_factor::disable(&app.accounts, &me, &password, &code, &cx.client())? {
        DisableOutcome::Off(successor) => Ok(Reply::ok("Two-factor login is off.")
            .with_cookie(successor_cookie(app, &successor, cx.now))),
        DisableOutcome::NotOn => Err(ApiError::TotpNotEnabled),
        DisableOutcome::Refused(no) => Err(refused(no)),
        DisableOutcome::WrongCode => Err(ApiError::InvalidTotp),
        DisableOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

pub fn step_up(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<StepUpRequest>,
) -> Result<Reply, ApiError> {
    let StepUpRequest { code } = body.read()?;

    match access::step_up(&app.accounts, &me, &code, &cx.client())? {
        StepUpOutcome::SteppedUp => Ok(Reply::ok("Code accepted.")),
        StepUpOutcome::NotOn => Err(ApiError::TotpNotEnabled),
        StepUpOutcome::WrongCode => Err(ApiError::InvalidTotp),
        StepUpOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
    }
}
