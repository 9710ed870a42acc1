//! The signed-in account: `GET /api/user`, `GET /api/dashboard`,
//! `POST /api/user/password` (`accounts::password`), `DELETE /api/user`
//! (`accounts::delete`), `POST /api/user/reauth` (`accounts::reauth`).

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    hash_queue_busy, invalid, just_user, refused, successor_cookie, too_many, user_json,
};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::delete::{self, DeleteOutcome};
use auth_core::accounts::password::{self, ChangeOutcome};
use auth_core::accounts::reauth::{self, Proof, ReauthOutcome};
use auth_core::accounts::two_factor;
use auth_core::support::clock;

pub fn current_user(_: &App, _: &Context, signed_in: SignedIn) -> Result<Reply, ApiError> {
    Reply::ok("ok").with_data(just_user(&signed_in.user))
}

pub fn dashboard(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let SignedIn { session, user, .. } = me;
    let sessions = app.accounts.sessions.store();
    let codes_left = two_factor::codes_left(&app.accounts, &user)?;
    Reply::ok("ok").with_data(json!({
        "user": user_json(&user),
        "session": {
            "created_at": clock::rfc3339(session.created_at),
            "expires_at": clock::rfc3339(session.expires_at()),
        },
        "stats": {
            "login_count": user.login_count,
            "last_login_at": session.previous_login_at.map(clock::rfc3339),
            "active_sessions": sessions.count_for_user(user.id, cx.now),
        },
        "two_factor": {
            "recovery_codes_left": codes_left,
        },
    }))
}

request_body! {
    pub struct ChangePasswordRequest {
        pub current_password: String,
        /// The registration rules, and not the current password.
        pub new_password: String = {"minLength": 12},
    }
}

request_body! {
    pub struct DeleteAccountRequest {
        pub password: String,
    }
}

request_body! {
    /// Exactly one of password or code (a current code from the
    /// authenticator app).
    pub struct ReauthRequest {
        pub password: Option<String>,
        pub code: Option<String> = {"pattern": "^[0-9]{6}$"},
    }
}

pub fn change_password(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<ChangePasswordRequest>,
) -> Result<Reply, ApiError> {
    let min_length = app.settings().password_min_length;
    let ChangePasswordRequest {
        current_password: current,
        new_password: new,
    } = body.read_checked(|given| {
        password::form_problems(
            min_length,
            &me.user,
            given.given_string("current_password"),
            given.given_string("new_password"),
        )
    })?;

    match password::change(&app.accounts, &me, &current, &new, &cx.client())? {
        ChangeOutcome::Changed(successor) => Ok(Reply::ok(
            "Password changed. Your other sessions have been signed out.",
        )
        .with_cookie(successor_cookie(app, &successor, cx.now))),
        ChangeOutcome::Invalid(problems) => Err(invalid(problems)),
        ChangeOutcome::Refused(no) => Err(refused(no)),
        ChangeOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

pub fn delete_account(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<DeleteAccountRequest>,
) -> Result<Reply, ApiError> {
    let DeleteAccountRequest { password } = body.read()?;

    match delete::delete(&app.accounts, &me, &password, &cx.client())? {
        DeleteOutcome::Deleted => {
            Ok(Reply::ok("Account deleted.").with_cookie(app.cookies.clear()))
        }
        DeleteOutcome::Refused(no) => Err(refused(no)),
        DeleteOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

/// `{"password"}` or `{"code"}` (exactly one): the session proves itself
/// again, for what wants a recent proof (adding a passkey). A wrong one is
/// a failed login for the account's throttle.
pub fn reauthenticate(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<ReauthRequest>,
) -> Result<Reply, ApiError> {
    let ReauthRequest { password, code } =
        body.read_checked(|given| match (given.has("password"), given.has("code")) {
            (true, true) => vec![("code", "send the password or a code, not both".into())],
            (false, false) => vec![("password", "is required (or a code)".into())],
            _ => Vec::new(),
        })?;
    // The rule above leaves exactly one.
    let proof = match (password, code) {
        (Some(password), _) => Proof::Password(password),
        (None, code) => Proof::Code(code.unwrap_or_default()),
    };

    match reauth::reauthenticate(&app.accounts, &me, &proof, &cx.client())? {
        ReauthOutcome::Proved => Ok(Reply::ok("Thanks, that is you.").with_data(json!({
            "fresh_until": clock::rfc3339(cx.now + app.settings().reauth_secs),
        }))?),
        ReauthOutcome::Wrong => Err(match proof {
            Proof::Password(_) => ApiError::InvalidCredentials,
            Proof::Code(_) => ApiError::InvalidTotp,
        }),
        ReauthOutcome::NoCodes => Err(ApiError::TotpNotEnabled),
        ReauthOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        ReauthOutcome::Busy { retry_after_secs } => Err(hash_queue_busy(retry_after_secs)),
    }
}
