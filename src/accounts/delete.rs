//! Deleting an account, by its owner (signed in, password confirmed).
//! The row goes with its sessions, tokens and codes; the username and
//! email become free, and no id is ever given to another account.

use crate::accounts::check::{self, PasswordCheck, SignedIn};
use crate::accounts::{Accounts, Client, Trouble};
use crate::storage::audit::AuthEvent;

pub enum DeleteOutcome {
    Deleted,
    WrongPassword,
    /// The account changed while this request waited for bcrypt (a
    /// password change, say): nothing was deleted.
    NoLongerSignedIn,
    Throttled {
        retry_after_secs: u64,
    },
    Busy {
        retry_after_secs: u64,
    },
}

pub fn delete(
    accounts: &Accounts,
    me: &SignedIn,
    password: &str,
    client: &Client,
) -> Result<DeleteOutcome, Trouble> {
    let user = &me.user;
    match check::password(accounts, &user.username, Some(user), password, client)? {
        PasswordCheck::Right(reservation) => accounts.throttle.login_succeeded(reservation),
        PasswordCheck::Wrong => return Ok(DeleteOutcome::WrongPassword),
        PasswordCheck::Throttled { retry_after_secs } => {
            return Ok(DeleteOutcome::Throttled { retry_after_secs });
        }
        PasswordCheck::Busy { retry_after_secs } => {
            return Ok(DeleteOutcome::Busy { retry_after_secs });
        }
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
