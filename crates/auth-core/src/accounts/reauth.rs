//! A fresh proof ("sudo mode"): before a signed-in session may add a new
//! credential (a passkey, which outlives a password change and satisfies
//! `two_factor` rules), it must have proved who it is within
//! `REAUTH_SECS`: by its sign-in, or by showing the password or an app
//! code again here. A session cookie held for a moment by someone else is
//! then not enough to plant a lasting way in (OWASP ASVS 5.0
//! v5.0.0-7.5.1: full re-authentication before changes to what
//! authenticates the account; GitHub's "sudo mode", Authelia's elevated
//! session).

use crate::accounts::check::{self, AppCode, Refused, SignedIn};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::sessions::Session;
use crate::auth::token::Token;

/// What the person shows again.
pub enum Proof {
    Password(String),
    /// A current code from the authenticator app.
    Code(String),
}

pub enum ReauthOutcome {
    /// The session's proof is now fresh, under a new token (none if it
    /// ended meanwhile).
    Proved(Option<(Token, Session)>),
    /// A wrong password or code (counted as a failed login).
    Wrong,
    /// A code, for an account without two-factor login.
    NoCodes,
    Throttled {
        retry_after_secs: u64,
    },
    Busy {
        retry_after_secs: u64,
    },
}

/// Whether `me`'s last proof is recent enough for a new credential.
pub fn is_fresh(accounts: &Accounts, me: &SignedIn, now: i64) -> bool {
    now - me.session.proved_at <= accounts.settings.reauth_secs
}

/// The person shows the password or an app code again; on success the
/// session's proof is recorded as made now (in memory and in its stored
/// copy). A wrong one counts toward the account's login failures.
pub fn reauthenticate(
    accounts: &Accounts,
    me: &SignedIn,
    proof: &Proof,
    client: &Client,
) -> Result<ReauthOutcome, Trouble> {
    let user = &me.user;
    let outcome = match proof {
        Proof::Password(password) => {
            match check::password(accounts, &user.username, Some(user), password, client)? {
                Ok(reservation) => {
                    accounts.throttle.login_succeeded(reservation);
                    ReauthOutcome::Proved(None)
                }
                Err(Refused::InvalidCredentials) => ReauthOutcome::Wrong,
                Err(Refused::Throttled { retry_after_secs }) => {
                    ReauthOutcome::Throttled { retry_after_secs }
                }
                Err(Refused::Busy { retry_after_secs }) => ReauthOutcome::Busy { retry_after_secs },
            }
        }
        Proof::Code(code) => match check::app_code(accounts, user, code, client)? {
            AppCode::Accepted => ReauthOutcome::Proved(None),
            AppCode::NotOn => ReauthOutcome::NoCodes,
            AppCode::Wrong => ReauthOutcome::Wrong,
            AppCode::Throttled { retry_after_secs } => {
                ReauthOutcome::Throttled { retry_after_secs }
            }
        },
    };
    if let ReauthOutcome::Proved(_) = outcome {
        return Ok(ReauthOutcome::Proved(
            accounts.sessions.renew(&me.token, None, client.now)?,
        ));
    }
    Ok(outcome)
}
