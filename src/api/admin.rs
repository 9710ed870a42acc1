//! The administrators' API, under `/api/admin/`: people, invitations, apps
//! and the audit trail, as the `admin` command has them
//! (`accounts::operator`, `accounts::invites`). Every handler takes an
//! [`Admin`] (a member of `ADMIN_GROUP` signed in with a second factor) or,
//! for what cannot be undone, a [`FreshAdmin`]; every change is recorded
//! with the administrator as its `actor`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::common::registration_refused;
use crate::api::doc::{Answer, BUSY, Doc, INVALID, ok, refusal};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::handler::{Admin, FreshAdmin};
use crate::api::schema::{Describe, reply_body};
use auth_core::accounts::invites::{self, DEFAULT_HOURS, InviteRequest};
use auth_core::accounts::oidc::{self, valid_redirect_uri};
use auth_core::accounts::{Client, User, operator, unlock};
use auth_core::auth::access::group_problem;
use auth_core::auth::jose::Alg;
use auth_core::support::clock::Rfc3339;
use auth_core::support::form;

/// A page of the user list is at most this long.
const MAX_LIMIT: u32 = 200;

reply_body! {
    /// An account as an administrator sees it (never a hash or a secret).
    #[schema {"additionalProperties": false}]
    pub struct AdminUser as "AdminUser" {
        pub id: i64,
        pub username: String,
        pub email: String,
        pub email_verified: bool,
        pub disabled: bool,
        pub groups: Vec<String>,
        pub totp_enabled: bool,
        /// How many passkeys the account has.
        pub passkeys: i64,
        /// RFC 3339, UTC
        pub created_at: Rfc3339,
        pub last_login_at: Option<Rfc3339>,
    }
}

fn admin_user(user: User, passkeys: i64) -> AdminUser {
    AdminUser {
        totp_enabled: user.totp_enabled(),
        id: user.id,
        username: user.username,
        email: user.email,
        email_verified: user.email_verified,
        disabled: user.disabled,
        groups: user.groups,
        passkeys,
        created_at: Rfc3339(user.created_at),
        last_login_at: user.last_login_at.map(Rfc3339),
    }
}

reply_body! {
    pub struct UserPage {
        pub users: Vec<AdminUser>,
        /// How many accounts match, over every page.
        pub total: i64,
    }
}

reply_body! {
    pub struct OneUser {
        pub user: AdminUser,
    }
}

reply_body! {
    pub struct CreatedUser {
        pub user: AdminUser,
        /// A one-time link to choose a password (the bare token without
        /// PUBLIC_URL), to hand over; valid for RESET_TOKEN_TTL_SECS.
        pub reset_url: String,
    }
}

reply_body! {
    pub struct ResetLink {
        pub reset_url: String,
    }
}

reply_body! {
    #[schema {"additionalProperties": false}]
    pub struct InviteInfo as "Invite" {
        pub id: i64,
        pub groups: Vec<String>,
        pub email: Option<String>,
        /// open, used, withdrawn or expired
        pub state: &'static str = {"enum": ["open", "used", "withdrawn", "expired"]},
        pub created_at: Rfc3339,
        pub expires_at: Rfc3339,
        /// The id of the account it made.
        pub used_by: Option<i64>,
    }
}

reply_body! {
    pub struct InviteList {
        pub invites: Vec<InviteInfo>,
    }
}

reply_body! {
    pub struct NewInvite {
        pub id: i64,
        /// PUBLIC_URL/register?invite=TOKEN (a path without PUBLIC_URL):
        /// the token is shown only now.
        pub url: String,
        pub expires_at: Rfc3339,
        /// Whether it was mailed to `email` (mail on, and the command took
        /// it).
        pub mailed: bool,
    }
}

reply_body! {
    #[schema {"additionalProperties": false}]
    pub struct AppInfo as "OidcClient" {
        pub client_id: String,
        pub name: String,
        /// A public client has no secret and must use PKCE.
        pub public: bool,
        pub redirect_uris: Vec<String>,
        pub allowed_groups: Vec<String>,
        pub alg: String,
        pub created_at: Rfc3339,
    }
}

reply_body! {
    pub struct AppList {
        pub clients: Vec<AppInfo>,
    }
}

reply_body! {
    pub struct NewApp {
        pub client_id: String,
        /// Shown only now (stored as a hash); null for a public client.
        pub client_secret: Option<String>,
    }
}

reply_body! {
    #[schema {"additionalProperties": false}]
    pub struct AuditEvent as "AuditEvent" {
        pub at: Rfc3339,
        pub event: String,
        /// The account's id, when the event is about one.
        pub user_id: Option<i64>,
        /// The name or address it names (as typed, for a failed sign-in).
        pub user: Option<String>,
        /// The administrator who acted, when one did.
        pub actor: Option<i64>,
        /// The client's address.
        pub client: Option<String>,
        pub detail: Option<String>,
    }
}

reply_body! {
    pub struct AuditList {
        pub events: Vec<AuditEvent>,
    }
}

request_body! {
    pub struct CreateUserRequest {
        pub username: String,
        pub email: String,
        pub groups: Option<Vec<String>>,
    }
}

request_body! {
    /// Only what is sent changes.
    pub struct UpdateUserRequest {
        /// Disabling ends every session of the account at once.
        pub disabled: Option<bool>,
        /// The account's groups, all of them.
        pub groups: Option<Vec<String>>,
        pub email_verified: Option<bool>,
    }
}

request_body! {
    pub struct InviteBody {
        /// Given to the account the invitation makes.
        pub groups: Option<Vec<String>>,
        /// 1 to 720; 72 when left out.
        pub expires_in_hours: Option<u32> = {"minimum": 1, "maximum": 720},
        /// The account must use this address (it counts as verified); the
        /// invitation is mailed to it when mail is on.
        pub email: Option<String>,
    }
}

request_body! {
    pub struct AddAppRequest {
        pub name: String = {"minLength": 1, "maxLength": 100},
        /// Exact redirect URIs: https (http only to a loopback address or
        /// localhost), no fragment, no user@.
        pub redirect_uris: Vec<String> = {"minItems": 1},
        /// A public client (no secret, PKCE).
        pub public: bool = {"default": false},
        /// Who may sign in to it; none: anyone signed in.
        pub allowed_groups: Option<Vec<String>>,
        pub alg: Option<String> = {"enum": ["RS256", "ES256"], "default": "RS256"},
    }
}

/// The client of an administrator's request: every event it causes names
/// the administrator as its actor.
fn acting<'c>(cx: &'c Context, admin: &Admin) -> Client<'c> {
    cx.client().acting_as(admin.id())
}

/// A path's numeric `{id}` (anything else names nothing: 404).
fn numeric_id(cx: &Context) -> Result<i64, ApiError> {
    cx.parameter
        .and_then(|id| id.parse::<i64>().ok())
        .ok_or(ApiError::NotFound)
}

/// The account a path's `{id}` names.
fn target(app: &App, cx: &Context) -> Result<User, ApiError> {
    operator::user_by_id(&app.accounts, numeric_id(cx)?)?.ok_or(ApiError::NotFound)
}

/// The query string's parameters (a bad one: 400, naming it).
fn query(cx: &Context, known: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let text = cx.request.query.as_deref().unwrap_or("");
    let pairs = form::parse(text).ok_or_else(|| {
        ApiError::field(
            "query",
            "must be name=value pairs, each name once, percent-encoded",
        )
    })?;
    if let Some(unknown) = pairs.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::field(unknown, "is not a known parameter"));
    }
    Ok(pairs)
}

/// A number parameter: its default when absent, else 0 to `max`.
fn number(
    pairs: &BTreeMap<String, String>,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match pairs.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| ApiError::field(name, "must be a whole number in range")),
    }
}

/// The account as it is now, as the list shows it.
fn fresh_user(app: &App, id: i64) -> Result<AdminUser, ApiError> {
    let user = operator::user_by_id(&app.accounts, id)?.ok_or(ApiError::NotFound)?;
    let passkeys = operator::passkey_count(&app.accounts, id)?;
    Ok(admin_user(user, passkeys))
}

const fn admin_doc(id: &'static str, summary: &'static str, answers: &'static [Answer]) -> Doc {
    Doc {
        id,
        tag: "admin",
        summary,
        answers,
        ..Doc::PLAIN
    }
}

const NO_USER: Answer = refusal("No account has this id.", &[ApiError::NotFound]);
const SELF: Answer = refusal(
    "An administrator's own account: not from here.",
    &[ApiError::Conflict("")],
);

fn id_parameter(what: &str) -> Value {
    json!({ "parameters": [{
        "name": "id", "in": "path", "required": true,
        "description": what, "schema": { "type": "string" },
    }] })
}

fn query_parameters(names: &[(&str, &str)]) -> Value {
    let parameters: Vec<Value> = names
        .iter()
        .map(|(name, says)| {
            json!({ "name": name, "in": "query", "required": false,
                    "description": says, "schema": { "type": "string" } })
        })
        .collect();
    json!({ "parameters": parameters })
}

pub const LIST_USERS: Doc = Doc {
    more: Some(|| {
        query_parameters(&[
            ("query", "Part of a username or address, any case."),
            ("limit", "At most 200; 50 when left out."),
            ("offset", "How many matches to skip."),
        ])
    }),
    ..admin_doc(
        "adminListUsers",
        "The accounts, a page at a time, oldest first",
        &[
            ok(200, "A page, and how many match.", Some(UserPage::describe)),
            refusal(
                "A query parameter that is unknown or out of range.",
                INVALID,
            ),
        ],
    )
};

pub fn list_users(app: &App, cx: &Context, _: Admin) -> Result<Reply, ApiError> {
    let pairs = query(cx, &["query", "limit", "offset"])?;
    let limit = number(&pairs, "limit", 50, MAX_LIMIT)?;
    let offset = number(&pairs, "offset", 0, u32::MAX)?;
    let text = pairs.get("query").map_or("", String::as_str);
    let (page, total) = operator::search_users(&app.accounts, text, limit, offset)?;
    let users = page
        .into_iter()
        .map(|(user, passkeys)| admin_user(user, passkeys))
        .collect();
    Reply::ok("ok").with_data(UserPage { users, total })
}

pub const CREATE_USER: Doc = admin_doc(
    "adminCreateUser",
    "Make an account, with a one-time link to choose its password",
    &[
        ok(201, "Made.", Some(CreatedUser::describe)),
        refusal(
            "The username or email is taken.",
            &[ApiError::UsernameTaken, ApiError::EmailTaken],
        ),
        refusal("Busy: the bcrypt queue.", BUSY),
    ],
);

pub fn create_user(
    app: &App,
    cx: &Context,
    admin: Admin,
    body: Body<CreateUserRequest>,
) -> Result<Reply, ApiError> {
    let CreateUserRequest {
        username,
        email,
        groups,
    } = body.read()?;
    let groups = groups.unwrap_or_default();
    let client = acting(cx, &admin);
    let (user, reset_url) =
        operator::create_user(&app.accounts, &username, &email, &groups, &client)?
            .map_err(registration_refused)?;
    Reply::ok("Account made. Hand over the link so they choose a password.")
        .with_status(201)
        .with_data(CreatedUser {
            user: admin_user(user, 0),
            reset_url,
        })
}

pub const UPDATE_USER: Doc = Doc {
    more: Some(|| id_parameter("The account's id.")),
    ..admin_doc(
        "adminUpdateUser",
        "Disable or enable an account, set its groups, or mark its address",
        &[ok(200, "Changed.", Some(OneUser::describe)), NO_USER, SELF],
    )
};

pub fn update_user(
    app: &App,
    cx: &Context,
    admin: Admin,
    body: Body<UpdateUserRequest>,
) -> Result<Reply, ApiError> {
    let user = target(app, cx)?;
    let UpdateUserRequest {
        disabled,
        groups,
        email_verified,
    } = body.read()?;
    if let Some(problem) = groups.as_deref().and_then(group_problem) {
        return Err(ApiError::field("groups", &problem));
    }
    let client = acting(cx, &admin);
    if disabled == Some(true) && operator::is_self(&client, &user) {
        return Err(ApiError::Conflict(
            "You cannot disable your own account: ask another administrator.",
        ));
    }
    if let Some(disabled) = disabled.filter(|d| *d != user.disabled) {
        operator::set_disabled(&app.accounts, &user, disabled, &client)?;
    }
    if let Some(groups) = groups {
        operator::set_groups(&app.accounts, &user, &groups, &client)?;
    }
    if let Some(verified) = email_verified.filter(|v| *v != user.email_verified) {
        operator::set_email_verified(&app.accounts, &user, verified, &client)?;
    }
    Reply::ok("Saved.").with_data(OneUser {
        user: fresh_user(app, user.id)?,
    })
}

pub const DELETE_USER: Doc = Doc {
    more: Some(|| id_parameter("The account's id.")),
    ..admin_doc(
        "adminDeleteUser",
        "Delete an account and everything of it",
        &[ok(200, "Deleted.", None), NO_USER, SELF],
    )
};

pub fn delete_user(app: &App, cx: &Context, admin: FreshAdmin) -> Result<Reply, ApiError> {
    let user = target(app, cx)?;
    let client = acting(cx, &admin.0);
    if operator::is_self(&client, &user) {
        return Err(ApiError::Conflict(
            "You cannot delete your own account from here: ask another administrator.",
        ));
    }
    operator::delete(&app.accounts, &user, &client)?;
    Ok(Reply::ok("Deleted."))
}

pub const RESET_LINK: Doc = Doc {
    more: Some(|| id_parameter("The account's id.")),
    ..admin_doc(
        "adminResetLink",
        "A one-time link to choose a new password, to hand over",
        &[ok(200, "The link.", Some(ResetLink::describe)), NO_USER],
    )
};

pub fn reset_link(app: &App, cx: &Context, admin: Admin) -> Result<Reply, ApiError> {
    let user = target(app, cx)?;
    let reset_url = operator::reset_link(&app.accounts, &user, &acting(cx, &admin))
        .map_err(|cause| ApiError::Internal { cause })?;
    Reply::ok("Hand this link over; it works once.").with_data(ResetLink { reset_url })
}

pub const UNLOCK: Doc = Doc {
    more: Some(|| id_parameter("The account's id.")),
    ..admin_doc(
        "adminUnlock",
        "Lift the account's sign-in lockout",
        &[ok(200, "Lifted (within two seconds).", None), NO_USER],
    )
};

pub fn unlock(app: &App, cx: &Context, admin: Admin) -> Result<Reply, ApiError> {
    let user = target(app, cx)?;
    unlock::unlock_account(&app.accounts, &user, &acting(cx, &admin))?;
    Ok(Reply::ok("The lockout is lifted."))
}

pub const REVOKE_SESSIONS: Doc = Doc {
    more: Some(|| id_parameter("The account's id.")),
    ..admin_doc(
        "adminRevokeSessions",
        "Sign the account out everywhere",
        &[ok(200, "Every session ended.", None), NO_USER],
    )
};

pub fn revoke_sessions(app: &App, cx: &Context, admin: Admin) -> Result<Reply, ApiError> {
    let user = target(app, cx)?;
    operator::revoke_sessions(&app.accounts, &user, &acting(cx, &admin))?;
    Ok(Reply::ok("Signed out everywhere."))
}

pub const LIST_INVITES: Doc = admin_doc(
    "adminListInvites",
    "Every invitation, newest first",
    &[ok(200, "The list.", Some(InviteList::describe))],
);

pub fn list_invites(app: &App, cx: &Context, _: Admin) -> Result<Reply, ApiError> {
    let invites = invites::list(&app.accounts)?
        .into_iter()
        .map(|invite| InviteInfo {
            state: invite.state(cx.now).as_str(),
            id: invite.id,
            groups: invite.groups,
            email: invite.email,
            created_at: Rfc3339(invite.created_at),
            expires_at: Rfc3339(invite.expires_at),
            used_by: invite.used_by,
        })
        .collect();
    Reply::ok("ok").with_data(InviteList { invites })
}

pub const CREATE_INVITE: Doc = admin_doc(
    "adminCreateInvite",
    "Invite someone: a single-use link to register",
    &[ok(
        201,
        "The link (shown only now).",
        Some(NewInvite::describe),
    )],
);

pub fn create_invite(
    app: &App,
    cx: &Context,
    admin: Admin,
    body: Body<InviteBody>,
) -> Result<Reply, ApiError> {
    let InviteBody {
        groups,
        expires_in_hours,
        email,
    } = body.read()?;
    let groups = groups.unwrap_or_default();
    let request = InviteRequest {
        groups: &groups,
        hours: expires_in_hours.unwrap_or(DEFAULT_HOURS),
        email: email.as_deref(),
    };
    let made = invites::create(&app.accounts, &request, &acting(cx, &admin))?
        .map_err(crate::api::common::invalid)?;
    Reply::ok("Invitation made.")
        .with_status(201)
        .with_data(NewInvite {
            id: made.invite.id,
            url: made.url,
            expires_at: Rfc3339(made.invite.expires_at),
            mailed: made.mailed,
        })
}

pub const WITHDRAW_INVITE: Doc = Doc {
    more: Some(|| id_parameter("The invitation's id.")),
    ..admin_doc(
        "adminWithdrawInvite",
        "Withdraw an open invitation",
        &[
            ok(200, "Withdrawn: its link no longer works.", None),
            refusal("No open invitation has this id.", &[ApiError::NotFound]),
        ],
    )
};

pub fn withdraw_invite(app: &App, cx: &Context, admin: Admin) -> Result<Reply, ApiError> {
    match invites::withdraw(&app.accounts, numeric_id(cx)?, &acting(cx, &admin))? {
        true => Ok(Reply::ok("Withdrawn.")),
        false => Err(ApiError::NotFound),
    }
}

pub const LIST_APPS: Doc = admin_doc(
    "adminListOidcClients",
    "The apps registered with the OpenID provider",
    &[ok(200, "The list.", Some(AppList::describe))],
);

pub fn list_apps(app: &App, _: &Context, _: Admin) -> Result<Reply, ApiError> {
    let clients = operator::oidc_clients(&app.accounts)?
        .into_iter()
        .map(|client| AppInfo {
            public: client.secret_hash.is_none(),
            client_id: client.client_id,
            name: client.name,
            redirect_uris: client.redirect_uris,
            allowed_groups: client.allowed_groups,
            alg: client.alg,
            created_at: Rfc3339(client.created_at),
        })
        .collect();
    Reply::ok("ok").with_data(AppList { clients })
}

pub const ADD_APP: Doc = admin_doc(
    "adminAddOidcClient",
    "Register an app with the OpenID provider",
    &[
        ok(
            201,
            "Registered; the secret is shown only now.",
            Some(NewApp::describe),
        ),
        refusal(
            "PUBLIC_URL is not set: it is the issuer every app checks.",
            &[ApiError::Conflict("")],
        ),
    ],
);

pub fn add_app(
    app: &App,
    cx: &Context,
    admin: Admin,
    body: Body<AddAppRequest>,
) -> Result<Reply, ApiError> {
    let AddAppRequest {
        name,
        redirect_uris,
        public,
        allowed_groups,
        alg,
    } = body.read_checked(|given| {
        let mut problems = Vec::new();
        if given.given_string("name").is_some_and(|name| {
            name.trim().is_empty()
                || name.chars().count() > 100
                || name.chars().any(char::is_control)
        }) {
            problems.push(("name", "must be 1-100 printable characters".to_string()));
        }
        if given
            .given_string("alg")
            .is_some_and(|alg| Alg::parse(alg).is_none())
        {
            problems.push(("alg", "must be RS256 or ES256".to_string()));
        }
        problems
    })?;
    if let Some(bad) = redirect_uris.iter().find(|uri| !valid_redirect_uri(uri)) {
        return Err(ApiError::field(
            "redirect_uris",
            &format!(
                "{bad:?} is refused: https (http only to localhost or a loopback address), no #fragment, no user@"
            ),
        ));
    }
    if redirect_uris.is_empty() {
        return Err(ApiError::field(
            "redirect_uris",
            "must name at least one URI",
        ));
    }
    let allowed_groups = allowed_groups.unwrap_or_default();
    if let Some(problem) = group_problem(&allowed_groups) {
        return Err(ApiError::field("allowed_groups", &problem));
    }
    if app.settings().public_url.is_none() {
        return Err(ApiError::Conflict(
            "Set PUBLIC_URL first: it is the issuer every app checks.",
        ));
    }
    let alg = alg.as_deref().and_then(Alg::parse).unwrap_or(Alg::Rs256);
    let made = oidc::add_client(
        &app.accounts,
        &name,
        &redirect_uris,
        public,
        &allowed_groups,
        alg,
        &acting(cx, &admin),
    )?;
    Reply::ok("App registered.")
        .with_status(201)
        .with_data(NewApp {
            client_id: made.client_id,
            client_secret: made.secret,
        })
}

pub const REMOVE_APP: Doc = Doc {
    more: Some(|| id_parameter("The app's client_id.")),
    ..admin_doc(
        "adminRemoveOidcClient",
        "Remove an app; its codes and tokens stop working",
        &[
            ok(200, "Removed.", None),
            refusal("No app has this client_id.", &[ApiError::NotFound]),
        ],
    )
};

pub fn remove_app(app: &App, cx: &Context, admin: FreshAdmin) -> Result<Reply, ApiError> {
    let client_id = cx.parameter.ok_or(ApiError::NotFound)?;
    match operator::remove_oidc_client(&app.accounts, client_id, &acting(cx, &admin.0))? {
        true => Ok(Reply::ok("Removed.")),
        false => Err(ApiError::NotFound),
    }
}

pub const AUDIT: Doc = Doc {
    more: Some(|| {
        query_parameters(&[
            (
                "user",
                "A username or address: only events of that account.",
            ),
            ("event", "One kind of event, such as login_failed."),
            ("limit", "At most 500; 100 when left out."),
        ])
    }),
    ..admin_doc(
        "adminAudit",
        "The audit trail, newest first",
        &[
            ok(200, "The events.", Some(AuditList::describe)),
            refusal(
                "A query parameter that is unknown or out of range.",
                INVALID,
            ),
        ],
    )
};

pub fn audit(app: &App, cx: &Context, _: Admin) -> Result<Reply, ApiError> {
    let pairs = query(cx, &["user", "event", "limit"])?;
    let limit = number(&pairs, "limit", 100, 500)?;
    let user_id = match pairs.get("user").filter(|name| !name.is_empty()) {
        None => None,
        // An unknown name has no events: an empty list, not every event.
        Some(name) => Some(operator::find(&app.accounts, name)?.map_or(-1, |user| user.id)),
    };
    let kind = pairs
        .get("event")
        .map(String::as_str)
        .filter(|k| !k.is_empty());
    let events = operator::events(&app.accounts, user_id, kind, limit)?
        .into_iter()
        .map(|event| AuditEvent {
            at: Rfc3339(event.at),
            event: event.event,
            user_id: event.user_id,
            user: event.identifier,
            actor: event.actor,
            client: event.ip,
            detail: event.detail,
        })
        .collect();
    Reply::ok("ok").with_data(AuditList { events })
}
