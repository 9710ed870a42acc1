//! The account's sessions: `GET /api/sessions`, `DELETE /api/sessions/{id}`,
//! `POST /api/logout-all` (`accounts::logout`).

use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::error::ApiError;
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::logout;
use auth_core::support::clock;

/// The public handle of a session: 16 hex digits.
fn public_id_text(public_id: u64) -> String {
    format!("{public_id:016x}")
}

pub fn list_sessions(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let current = me.token.hash();
    let sessions: Vec<Value> = app
        .accounts
        .sessions
        .store()
        .live_for_user(me.user.id, cx.now)
        .into_iter()
        .map(|(hash, session)| {
            json!({
                "id": public_id_text(session.public_id),
                "created_at": clock::rfc3339(session.created_at),
                "last_seen_at": clock::rfc3339(session.last_seen_at),
                "expires_at": clock::rfc3339(session.expires_at()),
                "ip": session.ip.to_string(),
                "user_agent": session.user_agent,
                "opened_with": session.opened_with.as_str(),
                "current": hash == current,
            })
        })
        .collect();
    Reply::ok("ok").with_data(json!({ "sessions": sessions }))
}

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

pub fn logout_all(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    logout::everywhere(&app.accounts, &me, &cx.client())?;
    Ok(Reply::ok("Signed out everywhere.").with_cookie(app.cookies.clear()))
}
