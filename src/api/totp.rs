//! Two-factor login with an authenticator app: `POST /api/user/totp/setup`,
//! `/enable`, `/disable` (`accounts::two_factor`), and `POST
//! /api/auth/step-up` (`accounts::access`: a code shown by a signed-in
//! session for an app whose rule wants one). The login's side is in
//! `accounts::login`.

use crate::api::app::{App, Context, Reply};
use crate::api::common::{refused, successor_cookie, too_many};
use crate::api::doc::{BUSY, Doc, THROTTLED, ok, ok_with_cookie, refusal};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::schema::{Describe, reply_body};
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

reply_body! {
    pub struct TotpPending {
        /// Base32, 160 bits, no padding.
        pub secret: String,
        pub otpauth_uri: String,
        /// The URI as an SVG QR code.
        pub qr_svg: Option<String>,
    }
}

reply_body! {
    pub struct RecoveryCodes {
        pub recovery_codes: Vec<String> = {"minItems": 10, "maxItems": 10},
    }
}

pub const SETUP: Doc = Doc {
    id: "totpSetup",
    tag: "account",
    summary: "Start setting up two-factor login: a new pending secret",
    answers: &[
        ok(
            200,
            "A pending secret; confirm it with /enable.",
            Some(TotpPending::describe),
        ),
        refusal(
            "No live session, or a wrong password.",
            &[ApiError::InvalidCredentials],
        ),
        refusal(
            "Two-factor login is already on.",
            &[ApiError::TotpAlreadyEnabled],
        ),
        refusal("Too many failed password checks.", &[THROTTLED]),
        refusal("Busy: the bcrypt queue.", BUSY),
    ],
    ..Doc::PLAIN
};

pub const ENABLE: Doc = Doc {
    id: "totpEnable",
    tag: "account",
    summary: "Turn two-factor login on with a code from the pending secret",
    description: "Ends every other session; the caller gets a new cookie. The recovery codes are shown only here.",
    answers: &[
        ok_with_cookie(
            200,
            "On; ten single-use recovery codes.",
            Some(RecoveryCodes::describe),
        ),
        refusal(
            "Malformed body, or a code that does not match (or no set-up pending).",
            &[ApiError::InvalidCode],
        ),
        refusal("Already on.", &[ApiError::TotpAlreadyEnabled]),
    ],
    ..Doc::PLAIN
};

pub const DISABLE: Doc = Doc {
    id: "totpDisable",
    tag: "account",
    summary: "Turn two-factor login off",
    description: "Needs the password and a current code or an unused recovery code. Ends every other session; the caller gets a new cookie.",
    answers: &[
        ok_with_cookie(200, "Off.", None),
        refusal(
            "No live session, a wrong password, or a wrong code.",
            &[ApiError::InvalidCredentials, ApiError::InvalidTotp],
        ),
        refusal(
            "Two-factor login is off already.",
            &[ApiError::TotpNotEnabled],
        ),
        refusal("Too many failed password checks.", &[THROTTLED]),
        refusal("Busy: the bcrypt queue.", BUSY),
    ],
    ..Doc::PLAIN
};

pub const STEP_UP: Doc = Doc {
    id: "stepUp",
    tag: "account",
    summary: "Show a code from the authenticator app for a session an access rule wants a second factor from",
    answers: &[
        ok_with_cookie(
            200,
            "The session now counts as opened with a second factor, under a new token (the cookie is replaced; the old token ends).",
            None,
        ),
        refusal(
            "No live session, or a wrong code.",
            &[ApiError::InvalidTotp],
        ),
        refusal(
            "Two-factor login is not on for this account (totp_not_enabled).",
            &[ApiError::TotpNotEnabled],
        ),
        refusal("Too many wrong codes.", &[THROTTLED]),
    ],
    ..Doc::PLAIN
};

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
        } => Reply::ok("Scan the code, then confirm with a code from the app.").with_data(
            TotpPending {
                secret,
                otpauth_uri: uri,
                qr_svg,
            },
        ),
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
        .with_data(RecoveryCodes { recovery_codes })?
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
        StepUpOutcome::SteppedUp(successor) => {
            Ok(Reply::ok("Code accepted.").with_cookie(successor_cookie(app, &successor, cx.now)))
        }
        StepUpOutcome::NotOn => Err(ApiError::TotpNotEnabled),
        StepUpOutcome::WrongCode => Err(ApiError::InvalidTotp),
        StepUpOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
    }
}
