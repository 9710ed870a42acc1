//! The signed-in account: `GET /api/user`, `GET /api/dashboard`,
//! `POST /api/user/password` (`accounts::password`), `DELETE /api/user`
//! (`accounts::delete`), `POST /api/user/reauth` (`accounts::reauth`).

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    JustUser, UserJson, hash_queue_busy, invalid, just_user, refused, successor_cookie, too_many,
    user_json,
};
use crate::api::doc::{Doc, THROTTLED, busy_hashing, ok, ok_with_cookie, refusal, throttled};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::schema::{Describe, reply_body};
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::delete::{self, DeleteOutcome};
use auth_core::accounts::password::{self, ChangeOutcome};
use auth_core::accounts::reauth::{self, Proof, ReauthOutcome};
use auth_core::accounts::two_factor;
use auth_core::support::clock::Rfc3339;

pub const CURRENT_USER: Doc = Doc {
    id: "currentUser",
    tag: "auth",
    summary: "The signed-in user",
    answers: &[ok(200, "The user.", Some(JustUser::describe))],
    ..Doc::PLAIN
};

pub fn current_user(_: &App, _: &Context, signed_in: SignedIn) -> Result<Reply, ApiError> {
    Reply::ok("ok").with_data(just_user(&signed_in.user))
}

reply_body! {
    pub struct DashboardSession {
        /// RFC 3339, UTC
        pub created_at: Rfc3339,
        /// When it dies if left idle, never past its absolute end.
        pub expires_at: Rfc3339,
    }
}

reply_body! {
    pub struct DashboardStats {
        pub login_count: i64 = {"minimum": 0},
        /// The login before the one that made this session; null on a
        /// first login.
        pub last_login_at: Option<Rfc3339>,
        pub active_sessions: usize = {"minimum": 0},
    }
}

reply_body! {
    #[schema {"additionalProperties": false}]
    pub struct DashboardTwoFactor {
        /// Unused recovery codes; null when two-factor login is off.
        pub recovery_codes_left: Option<i64>,
    }
}

reply_body! {
    pub struct Dashboard<'a> as "Dashboard" {
        pub user: UserJson<'a>,
        pub session: DashboardSession,
        pub stats: DashboardStats,
        pub two_factor: DashboardTwoFactor,
    }
}

pub const DASHBOARD: Doc = Doc {
    id: "dashboard",
    tag: "auth",
    summary: "The user, this session, and login statistics",
    answers: &[ok(200, "The dashboard.", Some(Dashboard::describe))],
    ..Doc::PLAIN
};

pub fn dashboard(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let SignedIn { session, user, .. } = me;
    let codes_left = two_factor::codes_left(&app.accounts, &user)?;
    Reply::ok("ok").with_data(Dashboard {
        user: user_json(&user),
        session: DashboardSession {
            created_at: Rfc3339(session.created_at),
            expires_at: Rfc3339(session.expires_at()),
        },
        stats: DashboardStats {
            login_count: user.login_count,
            last_login_at: session.previous_login_at.map(Rfc3339),
            active_sessions: app.accounts.live_sessions_of(user.id, cx.now).len(),
        },
        two_factor: DashboardTwoFactor {
            recovery_codes_left: codes_left,
        },
    })
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

pub const CHANGE_PASSWORD: Doc = Doc {
    id: "changePassword",
    tag: "account",
    summary: "Change the password",
    description: "Every other session of the user ends; this one continues under a new token (a new Set-Cookie). A wrong current password counts as a failed login.",
    body: "The current and the new password.",
    answers: &[
        ok_with_cookie(200, "Changed.", None),
        refusal(
            "No session (unauthenticated) or a wrong current password (invalid_credentials).",
            &[ApiError::InvalidCredentials],
        ),
        throttled(),
        busy_hashing(),
    ],
    ..Doc::PLAIN
};

pub fn change_password(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<ChangePasswordRequest>,
) -> Result<Reply, ApiError> {
    let policy = app.accounts.password_policy();
    let ChangePasswordRequest {
        current_password: current,
        new_password: new,
    } = body.read_checked(|given| {
        password::form_problems(
            policy,
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

pub const DELETE_ACCOUNT: Doc = Doc {
    id: "deleteAccount",
    tag: "account",
    summary: "Delete the account (password confirmed)",
    body: "The account's password.",
    answers: &[
        ok_with_cookie(
            200,
            "Deleted; every session ended and the cookie cleared.",
            None,
        ),
        refusal(
            "No session (unauthenticated) or a wrong password (invalid_credentials).",
            &[ApiError::InvalidCredentials],
        ),
        throttled(),
        busy_hashing(),
    ],
    ..Doc::PLAIN
};

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

reply_body! {
    pub struct FreshUntil {
        pub fresh_until: Rfc3339,
    }
}

pub const REAUTHENTICATE: Doc = Doc {
    id: "reauthenticate",
    tag: "account",
    summary: "Prove it is you again (sudo mode): the password or an app code",
    description: "Records a fresh proof on this session, for what wants one within REAUTH_SECS (adding a passkey), and moves it to a new token (the cookie is replaced; the old token ends). A wrong password or code counts as a failed login for the account's throttle.",
    answers: &[
        ok_with_cookie(
            200,
            "The session's proof is fresh until data.fresh_until.",
            Some(FreshUntil::describe),
        ),
        refusal(
            "No live session, a wrong password, or a wrong code.",
            &[ApiError::InvalidCredentials, ApiError::InvalidTotp],
        ),
        refusal(
            "A code, for an account without two-factor login.",
            &[ApiError::TotpNotEnabled],
        ),
        refusal(
            "Too many failed checks for this account or address.",
            &[THROTTLED],
        ),
        busy_hashing(),
    ],
    ..Doc::PLAIN
};

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
        ReauthOutcome::Proved(successor) => Reply::ok("Thanks, that is you.")
            .with_cookie(successor_cookie(app, &successor, cx.now))
            .with_data(FreshUntil {
                fresh_until: Rfc3339(cx.now + app.settings().reauth_secs),
            }),
        ReauthOutcome::Wrong => Err(match proof {
            Proof::Password(_) => ApiError::InvalidCredentials,
            Proof::Code(_) => ApiError::InvalidTotp,
        }),
        ReauthOutcome::NoCodes => Err(ApiError::TotpNotEnabled),
        ReauthOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        ReauthOutcome::Busy { retry_after_secs } => Err(hash_queue_busy(retry_after_secs)),
    }
}
