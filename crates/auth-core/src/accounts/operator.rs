//! What an operator does: look accounts up, make them, disable, delete,
//! change their groups, end their sessions, reset their second factor,
//! mint a reset link, and tend the outbox, the registered apps and the
//! database file. The admin command and the admin page call these; each
//! change is recorded in the audit trail as the operator's (`admin_*`
//! events), with the operator's `Client` (whose `actor` names the
//! administrator on the page).

use std::path::Path;

use crate::accounts::audit::AuthEvent;
use crate::accounts::notices::Change;
use crate::accounts::register::{self, Channel, RegisterOutcome, Registration};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::group_problem;
use crate::auth::token::Token;
use crate::storage::audit::Event;
use crate::storage::mail::{Purpose, Waiting};
use crate::storage::oidc::OidcClient;
use crate::storage::sessions::SessionRow;
use crate::storage::{Stats, User};

/// The account a username names, or an email (a name with `@`).
pub fn find(accounts: &Accounts, name: &str) -> Result<Option<User>, Trouble> {
    Ok(accounts.db.user_by_identifier(name)?)
}

pub fn list_users(accounts: &Accounts) -> Result<Vec<User>, Trouble> {
    Ok(accounts.db.list_users()?)
}

pub fn user_by_id(accounts: &Accounts, id: i64) -> Result<Option<User>, Trouble> {
    Ok(accounts.db.user_by_id(id)?)
}

/// One page of the accounts whose name or address contains `query`, each
/// with its number of passkeys, and how many match in all.
pub fn search_users(
    accounts: &Accounts,
    query: &str,
    limit: u32,
    offset: u32,
) -> Result<(Vec<(User, i64)>, i64), Trouble> {
    Ok(accounts.db.search_users(query, limit, offset)?)
}

/// Whether the administrator behind `client` would be acting on their own
/// account: nobody may disable or delete themself from the admin page, so
/// a server is never left without the administrator who was using it.
pub fn is_self(client: &Client, user: &User) -> bool {
    client.actor == Some(user.id)
}

/// An account made by an administrator, with no password anyone knows (a
/// random one, hashed like any other) and a one-time reset link to hand
/// over, so the person chooses their own. `Err` with the registration's
/// refusal (invalid fields, a taken name, a busy hash queue).
pub fn create_user(
    accounts: &Accounts,
    username: &str,
    email: &str,
    groups: &[String],
    client: &Client,
) -> Result<Result<(User, String), RegisterOutcome>, Trouble> {
    if let Some(problem) = group_problem(groups) {
        return Ok(Err(RegisterOutcome::Invalid(vec![("groups", problem)])));
    }
    let password = Token::generate().map_err(Trouble::random)?.encode();
    let form = Registration {
        username,
        email,
        password: &password,
        return_to: None,
        invite: None,
    };
    let mut user = match register::register(accounts, form, Channel::Admin, client)? {
        RegisterOutcome::Registered(user) => *user,
        refused => return Ok(Err(refused)),
    };
    if !groups.is_empty() {
        user.groups = change_groups(accounts, &user, groups, true, client)?;
    }
    let link = reset_link(accounts, &user, client).map_err(Trouble::Internal)?;
    Ok(Ok((user, link)))
}

/// Sets the account's groups to exactly `groups`; the groups as they now
/// are.
pub fn set_groups(
    accounts: &Accounts,
    user: &User,
    groups: &[String],
    client: &Client,
) -> Result<Vec<String>, Trouble> {
    let gone: Vec<String> = user
        .groups
        .iter()
        .filter(|g| !groups.contains(g))
        .cloned()
        .collect();
    accounts.db.change_groups(user.id, &gone, false)?;
    let now = accounts.db.change_groups(user.id, groups, true)?;
    accounts.record_detail(
        AuthEvent::AdminGroupsSet,
        Some(user.id),
        Some(&user.username),
        &format!("groups={}", now.join(",")),
        client,
    );
    Ok(now)
}

fn record(accounts: &Accounts, kind: AuthEvent, user: &User, client: &Client) {
    accounts.record(kind, Some(user.id), Some(&user.username), client);
}

/// Disables (every session ends: the epoch moves) or enables an account.
pub fn set_disabled(
    accounts: &Accounts,
    user: &User,
    disabled: bool,
    client: &Client,
) -> Result<(), Trouble> {
    accounts.db.set_disabled(user.id, disabled)?;
    let kind = match disabled {
        true => AuthEvent::AdminDisabled,
        false => AuthEvent::AdminEnabled,
    };
    record(accounts, kind, user, client);
    Ok(())
}

/// Deletes an account and everything of it; its sessions end.
pub fn delete(accounts: &Accounts, user: &User, client: &Client) -> Result<(), Trouble> {
    accounts.db.delete_user(user.id, None)?;
    record(accounts, AuthEvent::AdminDeleted, user, client);
    Ok(())
}

/// Adds or removes groups; the account's groups as they now are. The
/// groups are part of the row every session check reads, so the change is
/// in force at the account's next request, and nobody is signed out.
pub fn change_groups(
    accounts: &Accounts,
    user: &User,
    groups: &[String],
    add: bool,
    client: &Client,
) -> Result<Vec<String>, Trouble> {
    let now = accounts.db.change_groups(user.id, groups, add)?;
    let kind = match add {
        true => AuthEvent::GroupAdded,
        false => AuthEvent::GroupRemoved,
    };
    accounts.record(kind, Some(user.id), Some(&groups.join(",")), client);
    Ok(now)
}

pub fn group_members(accounts: &Accounts, group: &str) -> Result<Vec<String>, Trouble> {
    Ok(accounts.db.group_members(group)?)
}

/// A reset link for a host without mail, passed on by some other channel
/// (without `PUBLIC_URL`, the bare token for the front end's reset page);
/// `Err` with why a token could not be made.
pub fn reset_link(accounts: &Accounts, user: &User, client: &Client) -> Result<String, String> {
    let token = accounts.mailer.mint(user.id, Purpose::Reset, client.now)?;
    record(accounts, AuthEvent::AdminResetLink, user, client);
    Ok(accounts.mailer.link(Purpose::Reset, &token, None))
}

/// For a user who lost the authenticator: two-factor login off, its secret
/// and recovery codes forgotten, every session ended, the owner told.
pub fn reset_totp(accounts: &Accounts, user: &User, client: &Client) -> Result<(), Trouble> {
    accounts.db.disable_totp(user.id, None, None)?;
    record(accounts, AuthEvent::AdminTotpReset, user, client);
    accounts.notify(user, Change::TwoFactorOff, client);
    Ok(())
}

pub fn verify_email(accounts: &Accounts, user: &User, client: &Client) -> Result<(), Trouble> {
    set_email_verified(accounts, user, true, client)
}

/// Marks the address verified, or not (an address typed wrong, say).
pub fn set_email_verified(
    accounts: &Accounts,
    user: &User,
    verified: bool,
    client: &Client,
) -> Result<(), Trouble> {
    accounts.db.set_email_verified_to(user.id, verified)?;
    let kind = match verified {
        true => AuthEvent::AdminEmailVerified,
        false => AuthEvent::AdminEmailUnverified,
    };
    record(accounts, kind, user, client);
    Ok(())
}

/// The account's stored sessions (never a token: a public id, times,
/// address, user agent).
pub fn stored_sessions(accounts: &Accounts, user: &User) -> Result<Vec<SessionRow>, Trouble> {
    Ok(accounts.db.sessions_of_user(user.id)?)
}

/// Ends every session of an account, in a running server (the epoch moves)
/// and in the stored copy (the rows go), so a restart cannot bring one back.
pub fn revoke_sessions(accounts: &Accounts, user: &User, client: &Client) -> Result<(), Trouble> {
    accounts.db.revoke_sessions(user.id)?;
    record(accounts, AuthEvent::AdminSessionsRevoked, user, client);
    Ok(())
}

/// The outbox (or its failed messages), oldest first.
pub fn outbox(accounts: &Accounts, failed_only: bool) -> Result<Vec<Waiting>, Trouble> {
    Ok(accounts.db.outbox(failed_only)?)
}

/// Drops a message unsent; whether there was one.
pub fn drop_mail(accounts: &Accounts, id: i64) -> Result<bool, Trouble> {
    Ok(accounts.db.drop_mail(id)?)
}

/// Makes one message (or all) due now; how many. The server's mailer looks
/// at the outbox every second.
pub fn retry_mail(accounts: &Accounts, id: Option<i64>, now: i64) -> Result<usize, Trouble> {
    Ok(accounts.db.retry_mail_now(id, now)?)
}

pub fn oidc_clients(accounts: &Accounts) -> Result<Vec<OidcClient>, Trouble> {
    Ok(accounts.db.oidc_clients()?)
}

/// How many passkeys the account has.
pub fn passkey_count(accounts: &Accounts, user_id: i64) -> Result<i64, Trouble> {
    Ok(accounts.db.passkeys_of(user_id)?.len() as i64)
}

/// Removes a registered app (its grants go with it); whether there was one.
pub fn remove_oidc_client(
    accounts: &Accounts,
    client_id: &str,
    client: &Client,
) -> Result<bool, Trouble> {
    let removed = accounts.db.remove_oidc_client(client_id)?;
    if removed {
        accounts.record_detail(
            AuthEvent::AdminOidcClientRemoved,
            None,
            None,
            &format!("client_id={client_id}"),
            client,
        );
    }
    Ok(removed)
}

/// Counts of accounts and sessions, and of each event since `since`.
pub fn stats(accounts: &Accounts, since: i64) -> Result<Stats, Trouble> {
    Ok(accounts.db.stats(since)?)
}

/// A copy of the live database, safe while the server runs and writes,
/// checked for integrity.
pub fn backup(accounts: &Accounts, path: &Path) -> Result<(), Trouble> {
    Ok(accounts.db.backup_to(path)?)
}

/// The newest events first, of one account or of all, of one kind or of
/// all.
pub fn events(
    accounts: &Accounts,
    user_id: Option<i64>,
    kind: Option<&str>,
    limit: u32,
) -> Result<Vec<Event>, Trouble> {
    Ok(accounts.db.find_events(user_id, kind, limit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_is_made_and_recorded_as_the_operators() {
        let accounts = Accounts::for_tests(&[]);
        let alice = accounts.user_for_tests("alice");
        let shell = Client::shell(0);
        set_disabled(&accounts, &alice, true, &shell).unwrap();
        assert!(find(&accounts, "alice").unwrap().unwrap().disabled);
        let groups = change_groups(&accounts, &alice, &["staff".into()], true, &shell).unwrap();
        assert_eq!(groups, ["staff"]);
        assert_eq!(group_members(&accounts, "staff").unwrap(), ["alice"]);
        verify_email(&accounts, &alice, &shell).unwrap();
        assert!(
            find(&accounts, "alice@example.com")
                .unwrap()
                .unwrap()
                .email_verified
        );
        delete(&accounts, &alice, &shell).unwrap();
        assert!(find(&accounts, "alice").unwrap().is_none());
        accounts.audit.flush(accounts.db.as_ref(), &accounts.log, 0);
        let kinds: Vec<String> = events(&accounts, None, None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        for kind in [
            "admin_disabled",
            "group_added",
            "admin_email_verified",
            "admin_deleted",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }
    }
}
