//! Changing the password, by its owner (signed in, with the current one)
//! or by the operator (`admin set-password`). Either way every other
//! session ends (whoever stole one is out); the owner stays signed in
//! under a new token (OWASP ASVS 4.0.3 V2.1.6, V3.3.3; OWASP
//! Authentication Cheat Sheet, "Change Password").

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::{self, Refused, SignedIn};
use crate::accounts::notices::Change;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::passwords::HashError;
use crate::auth::sessions::Session;
use crate::auth::token::Token;
use crate::auth::validation::{self, PasswordPolicy};
use crate::storage::User;

/// The rules for a new password of `user`, for whatever fields are present:
/// the registration rules, and not the current one.
pub fn form_problems(
    policy: PasswordPolicy,
    user: &User,
    current: Option<&str>,
    new: Option<&str>,
) -> Vec<(&'static str, String)> {
    let Some(new) = new else {
        return Vec::new();
    };
    if let Err(problem) = validation::check_new_password(new, policy, &user.username, &user.email) {
        return vec![("new_password", problem)];
    }
    if current == Some(new) {
        return vec![(
            "new_password",
            "must differ from the current password".to_string(),
        )];
    }
    Vec::new()
}

pub enum ChangeOutcome {
    /// Changed; the caller's session goes on under this token (`None` if
    /// it expired meanwhile: the change stands, the browser signs in again).
    Changed(Option<(Token, Session)>),
    Invalid(Vec<(&'static str, String)>),
    /// The password check said no (wrong, throttled, or busy).
    Refused(Refused),
    /// The account changed while this request waited (another password
    /// change, a sign-out everywhere): nothing changed.
    NoLongerSignedIn,
}

pub fn change(
    accounts: &Accounts,
    me: &SignedIn,
    current: &str,
    new: &str,
    client: &Client,
) -> Result<ChangeOutcome, Trouble> {
    let user = &me.user;
    let problems = form_problems(accounts.password_policy(), user, Some(current), Some(new));
    if !problems.is_empty() {
        return Ok(ChangeOutcome::Invalid(problems));
    }
    match check::password(accounts, &user.username, Some(user), current, client)? {
        Ok(reservation) => accounts.throttle.login_succeeded(reservation),
        Err(refused) => return Ok(ChangeOutcome::Refused(refused)),
    }
    let hash = match accounts.passwords.hash(new, client.group) {
        Ok(hash) => hash,
        Err(HashError::Busy { retry_after_secs }) => {
            return Ok(ChangeOutcome::Refused(Refused::Busy { retry_after_secs }));
        }
        Err(error) => return Err(error.into()),
    };
    // The new hash, the end of every other session and the caller's new
    // session row in one transaction, only if the account is still as the
    // check saw it.
    let changed = accounts.end_other_sessions(&me.token, user.id, client.now, |keep| {
        accounts
            .db
            .change_password(user.id, Some(user.checked()), &hash, keep)
    })?;
    let Some(successor) = changed else {
        return Ok(ChangeOutcome::NoLongerSignedIn);
    };
    accounts.record(AuthEvent::PasswordChanged, Some(user.id), None, client);
    accounts.notify(user, Change::PasswordChanged, client);
    Ok(ChangeOutcome::Changed(successor))
}

/// `admin set-password`: the same rules, no current password, every
/// session of the account ended. `Err(problem)` for a password that breaks
/// a rule.
pub fn set_by_operator(
    accounts: &Accounts,
    user: &User,
    new: &str,
    client: &Client,
) -> Result<Result<(), String>, Trouble> {
    if let Err(problem) =
        validation::check_new_password(new, accounts.password_policy(), &user.username, &user.email)
    {
        return Ok(Err(problem));
    }
    let hash = accounts.passwords.hash(new, client.group)?;
    accounts.db.change_password(user.id, None, &hash, None)?;
    accounts.record(
        AuthEvent::AdminPasswordSet,
        Some(user.id),
        Some(&user.username),
        client,
    );
    accounts.notify(user, Change::PasswordChanged, client);
    Ok(Ok(()))
}
