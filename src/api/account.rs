//! The signed-in account: `GET /api/user`, `GET /api/dashboard`,
//! `POST /api/user/password`, `DELETE /api/user`.

use serde_json::json;

use crate::api::app::{App, Context, Reply};
use crate::api::common::{
    SignedIn, check_new_password, check_password, end_other_sessions, signed_in, successor_cookie,
    user_json,
};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::support::clock;

pub fn current_user(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let signed_in = signed_in(app, cx)?;
    Ok(Reply::ok("ok").with_data(json!({ "user": user_json(&signed_in.user) })))
}

pub fn dashboard(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { session, user, .. } = signed_in(app, cx)?;
    Ok(Reply::ok("ok").with_data(json!({
        "user": user_json(&user),
        "session": {
            "created_at": clock::rfc3339(session.created_at),
            "expires_at": clock::rfc3339(session.expires_at()),
        },
        "stats": {
            "login_count": user.login_count,
            "last_login_at": session.previous_login_at.map(clock::rfc3339),
            "active_sessions": app.sessions.count_for_user(user.id, cx.now),
        },
    })))
}

/// Changing the password ends every other session (whoever stole one is
/// out) and keeps the caller signed in under a new token (OWASP ASVS 4.0.3
/// V2.1.6, V3.3.3; OWASP Authentication Cheat Sheet, "Change Password").
pub fn change_password(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { token, user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let current = fields.required_string("current_password");
    let new = fields.required_string("new_password");
    if let Some(new) = &new {
        check_new_password(
            app,
            &mut fields,
            "new_password",
            new,
            &user.username,
            &user.email,
        );
        if current.as_ref() == Some(new) {
            fields.reject("new_password", "must differ from the current password");
        }
    }
    let (current, new) = fields.finish(&["current_password", "new_password"], (current, new))?;

    check_password(app, cx, &user.username, Some(&user), &current)?;
    let hash = app.passwords.hash(&new, cx.client_group)?;
    // The caller's session goes on under a new token; the database loses
    // every other session of the account and gains this one in the same
    // transaction as the new hash.
    let successor = end_other_sessions(app, cx, &token, user.id, |keep| {
        app.db
            .change_password(user.id, Some(user.checked()), &hash, keep)
    })?;
    app.event("password_changed", Some(user.id), None, cx);
    Ok(
        Reply::ok("Password changed. Your other sessions have been signed out.")
            .with_cookie(successor_cookie(app, &successor, cx.now)),
    )
}

pub fn delete_account(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let SignedIn { user, .. } = signed_in(app, cx)?;
    let mut fields = Fields::parse(&cx.request.body)?;
    let password = fields.required_string("password");
    let password = fields.finish(&["password"], password)?;

    check_password(app, cx, &user.username, Some(&user), &password)?;
    // Only the account as checked: a password change or sign-out
    // everywhere while this request waited for bcrypt wins.
    if !app.db.delete_user(user.id, Some(user.checked()))? {
        return Err(ApiError::Unauthenticated);
    }
    app.sessions.forget_user(user.id);
    app.event("account_deleted", Some(user.id), Some(&user.username), cx);
    Ok(Reply::ok("Account deleted.").with_cookie(app.cookies.clear()))
}
