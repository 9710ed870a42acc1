//! The account's sessions: `GET /api/sessions`, `DELETE /api/sessions/{id}`,
//! `POST /api/logout-all` (`accounts::logout`).

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::doc::{Doc, ok, ok_with_cookie, refusal};
use crate::api::error::ApiError;
use crate::api::schema::{Describe, reply_body};
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::logout;
use auth_core::support::clock::Rfc3339;

/// The public handle of a session: 16 hex digits.
fn public_id_text(public_id: u64) -> String {
    format!("{public_id:016x}")
}

reply_body! {
    #[schema {"additionalProperties": false}]
    pub struct SessionInfo as "SessionInfo" {
        /// A public handle, never the token.
        pub id: String = {"pattern": "^[0-9a-f]{16}$"},
        /// RFC 3339, UTC
        pub created_at: Rfc3339,
        /// RFC 3339, UTC
        pub last_seen_at: Rfc3339,
        /// RFC 3339, UTC
        pub expires_at: Rfc3339,
        pub ip: String,
        pub user_agent: String,
        pub current: bool,
        /// How the session was opened (a code shown later by step-up
        /// counts as password+totp).
        pub opened_with: String = {"description": "password, password+totp, recovery_code, passkey, upstream:NAME or upstream:NAME+totp"},
    }
}

reply_body! {
    pub struct SessionList {
        pub sessions: Vec<SessionInfo>,
    }
}

pub const LIST_SESSIONS: Doc = Doc {
    id: "listSessions",
    tag: "account",
    summary: "The caller's live sessions",
    answers: &[ok(200, "Oldest first.", Some(SessionList::describe))],
    ..Doc::PLAIN
};

pub fn list_sessions(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let current = me.token.hash();
    let sessions = app
        .accounts
        .live_sessions_of(me.user.id, cx.now)
        .into_iter()
        .map(|(hash, session)| SessionInfo {
            id: public_id_text(session.public_id),
            created_at: Rfc3339(session.created_at),
            last_seen_at: Rfc3339(session.last_seen_at),
            expires_at: Rfc3339(session.expires_at()),
            ip: session.ip.to_string(),
            user_agent: session.user_agent,
            opened_with: session.opened_with.as_str(),
            current: hash == current,
        })
        .collect();
    Reply::ok("ok").with_data(SessionList { sessions })
}

pub const REVOKE_SESSION: Doc = Doc {
    id: "revokeSession",
    tag: "account",
    summary: "End one of the caller's sessions",
    answers: &[
        ok(
            200,
            "Ended (the cookie is cleared when it was the caller's own session).",
            None,
        ),
        refusal(
            "Not one of the caller's live sessions.",
            &[ApiError::NotFound],
        ),
    ],
    more: Some(|| {
        json!({ "parameters": [{
            "name": "id",
            "in": "path",
            "required": true,
            "description": "A session id from GET /api/sessions.",
            "schema": { "type": "string", "pattern": "^[0-9a-f]{16}$" },
        }] })
    }),
    ..Doc::PLAIN
};

pub fn revoke_session(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    // Anything that is not 16 hex digits names no session: 404, like an id
    // of someone else's session, so ids cannot be probed.
    let public_id = cx
        .parameter
        .filter(|id| id.len() == 16)
        .and_then(|id| u64::from_str_radix(id, 16).ok())
        .ok_or(ApiError::NotFound)?;
    let ended =
        logout::revoke(&app.accounts, &me, public_id, &cx.client())?.ok_or(ApiError::NotFound)?;
    let reply = Reply::ok("Session ended.");
    Ok(if ended == me.token.hash() {
        reply.with_cookie(app.cookies.clear())
    } else {
        reply
    })
}

pub const LOGOUT_ALL: Doc = Doc {
    id: "logoutAll",
    tag: "account",
    summary: "End every session of the user, this one included",
    answers: &[ok_with_cookie(
        200,
        "Signed out everywhere; the cookie is cleared.",
        None,
    )],
    ..Doc::PLAIN
};

pub fn logout_all(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    logout::everywhere(&app.accounts, &me, &cx.client())?;
    Ok(Reply::ok("Signed out everywhere.").with_cookie(app.cookies.clear()))
}
