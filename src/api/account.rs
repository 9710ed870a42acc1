//! The signed-in account: `GET /api/user`, `GET /api/dashboard`,
//! `POST /api/user/password` (`accounts::password`), `DELETE /api/user`
//! (`accounts::delete`), `POST /api/user/reauth` (`accounts::reauth`).

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    hash_queue_busy, invalid, just_user, refused, reject_all, successor_cookie, too_many, user_json,
};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
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

pub fn change_password(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let current = fields.required_string("current_password");
    let new = fields.required_string("new_password");
    let problems = password::form_problems(
        app.settings().password_min_length,
        &me.user,
        current.as_deref(),
        new.as_deref(),
    );
    reject_all(&mut fields, problems);
    let (current, new) = fields.finish(&["current_password", "new_password"], (current, new))?;

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

pub fn delete_account(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.required_string("password");
    let password = fields.finish(&["password"], password)?;

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
pub fn reauthenticate(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.optional_string("password");
    let code = fields.optional_string("code");
    let proof = match (password, code) {
        (Some(password), None) => Some(Proof::Password(password)),
        (None, Some(code)) => Some(Proof::Code(code)),
        (Some(_), Some(_)) => {
            fields.reject("code", "send the password or a code, not both");
            None
        }
        (None, None) => {
            fields.reject("password", "is required (or a code)");
            None
        }
    };
    let proof = fields.finish(&["password", "code"], proof)?;

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
