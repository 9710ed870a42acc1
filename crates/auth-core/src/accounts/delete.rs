//! Deleting an account, by its owner (signed in, password confirmed).
//! The row goes with its sessions, tokens and codes; the username and
//! email become free, and no id is ever given to another account.

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::{self, Refused, SignedIn};
use crate::accounts::{Accounts, Client, Trouble};

pub enum DeleteOutcome {
    Deleted,
    /// The password check said no (wrong, throttled, or busy).
    Refused(Refused),
    /// The account changed while this request waited for bcrypt (a
    /// password change, say): nothing was deleted.
    NoLongerSignedIn,
}

pub fn delete(
    accounts: &Accounts,
    me: &SignedIn,
    password: &str,
    client: &Client,
) -> Result<DeleteOutcome, Trouble> {
    let user = &me.user;
    match check::password(accounts, &user.username, Some(user), password, client)? {
        Ok(reservation) => accounts.throttle.login_succeeded(reservation),
        Err(refused) => return Ok(DeleteOutcome::Refused(refused)),
    }
    // Only the account as checked: a password change or sign-out
    // everywhere while this request waited for bcrypt wins.
    if !accounts.db.delete_user(user.id, Some(user.checked()))? {
        return Ok(DeleteOutcome::NoLongerSignedIn);
    }
    accounts.sessions.store().forget_user(user.id);
    accounts.record(
        AuthEvent::AccountDeleted,
        Some(user.id),
        Some(&user.username),
        client,
    );
    Ok(DeleteOutcome::Deleted)
}
