//! The checks every flow builds on: is this request signed in, is this the
//! account's password, is this a good second factor. Each is written once.

use std::sync::Arc;

use crate::accounts::audit::AuthEvent;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::passwords::HashError;
use crate::auth::sessions::Session;
use crate::auth::throttle::Reservation;
use crate::auth::token::Token;
use crate::auth::totp;
use crate::storage::User;

/// The signed-in user behind a request.
pub struct SignedIn {
    pub token: Token,
    pub session: Session,
    /// As the session check found it (from memory: `storage::cache`).
    pub user: Arc<User>,
}

/// The first token that names a live session of an existing, enabled user
/// whose account has not changed since the login (same auth epoch); `None`
/// otherwise. Each success restarts the session's idle timer.
#[inline]
pub fn signed_in(
    accounts: &Accounts,
    tokens: impl IntoIterator<Item = Token>,
    now: i64,
) -> Result<Option<SignedIn>, Trouble> {
    for token in tokens {
        let Some(session) = accounts.sessions.store().authenticate(&token, now) else {
            continue;
        };
        // No database read when the account is in memory (storage::cache).
        match accounts.db.session_user(session.user_id)? {
            Some(user) if !user.disabled && user.auth_epoch == session.auth_epoch => {
                return Ok(Some(SignedIn {
                    token,
                    session,
                    user,
                }));
            }
            // Deleted, disabled, or changed (perhaps by another process):
            // this session is over. Should its row outlive a failed delete,
            // the start-up load drops it for the same reason.
            _ => {
                let _ = accounts.sessions.end(&token);
            }
        }
    }
    Ok(None)
}

/// Why a password check lets a flow go no further.
#[derive(Debug)]
pub enum Refused {
    /// A wrong password, an unknown name or a disabled account: one answer,
    /// after the same bcrypt work.
    InvalidCredentials,
    Throttled {
        retry_after_secs: u64,
    },
    /// The bcrypt queue could not take it in time.
    Busy {
        retry_after_secs: u64,
    },
}

/// The one place a password is checked: a failure slot reserved first (or
/// throttled), then verified (against a dummy hash when there is no
/// account), and a failure counted and recorded. A wrong password, an
/// unknown name and a disabled account get the same answer after the same
/// amount of bcrypt work. The right password of a usable account answers
/// with the failure slot still held: the caller settles it
/// (`login_succeeded`, `release`, or `login_failed` when a second factor
/// then fails).
pub fn password(
    accounts: &Accounts,
    identifier: &str,
    user: Option<&User>,
    password: &str,
    client: &Client,
) -> Result<Result<Reservation, Refused>, Trouble> {
    let label = || {
        accounts
            .audit
            .identifier_label(identifier, user.map(|u| u.username.as_str()))
    };
    let reservation = match accounts
        .throttle
        .reserve_login(identifier, client.group, client.now)
    {
        Ok(reservation) => reservation,
        Err(retry_after_secs) => {
            accounts.audit.count_throttled(&label(), client.ip);
            return Ok(Err(Refused::Throttled { retry_after_secs }));
        }
    };
    let stored_hash = user.map(|u| u.password_hash.as_str());
    let matches = match accounts
        .passwords
        .verify(password, stored_hash, client.group)
    {
        Ok(matches) => matches,
        // Not checked: not a failure either.
        Err(HashError::Busy { retry_after_secs }) => {
            accounts.throttle.release(reservation);
            return Ok(Err(Refused::Busy { retry_after_secs }));
        }
        Err(error) => {
            accounts.throttle.release(reservation);
            return Err(error.into());
        }
    };
    if matches && user.is_some_and(|u| !u.disabled) {
        return Ok(Ok(reservation));
    }
    accounts.throttle.login_failed(reservation);
    accounts.record(
        AuthEvent::LoginFailed,
        user.map(|u| u.id),
        Some(&label()),
        client,
    );
    Ok(Err(Refused::InvalidCredentials))
}

/// What a login (or turning two-factor login off) brought beside the
/// password.
#[derive(Clone, Debug)]
pub enum SecondFactor {
    Totp(String),
    Recovery(String),
}

impl SecondFactor {
    /// One field that may hold either: six digits are an app's code.
    pub fn either(code: &str) -> SecondFactor {
        let code = code.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            SecondFactor::Totp(code.to_string())
        } else {
            SecondFactor::Recovery(code.to_string())
        }
    }
}

/// An accepted second factor: the account's auth epoch after it (a
/// recovery code, used up, ends every other session and so moves it) and,
/// after a recovery code, how many are left.
pub struct Accepted {
    pub epoch: i64,
    pub recovery_codes_left: Option<i64>,
}

/// A TOTP code for the current step (or one either side) that was never
/// accepted before, or an unused recovery code of the account, which is
/// used up (only if the account is still as `user` was read). `None` for a
/// wrong, stale or replayed code; the caller counts and records it.
pub fn second_factor(
    accounts: &Accounts,
    user: &User,
    given: &SecondFactor,
    client: &Client,
) -> Result<Option<Accepted>, Trouble> {
    let Some(secret) = user.totp_secret.as_deref() else {
        return Ok(None);
    };
    match given {
        SecondFactor::Totp(code) => match totp::matching_step(secret, code, client.now) {
            Some(step) if accounts.db.accept_totp_step(user.id, step)? => Ok(Some(Accepted {
                epoch: user.auth_epoch,
                recovery_codes_left: None,
            })),
            _ => Ok(None),
        },
        SecondFactor::Recovery(code) => {
            let hash = totp::recovery_code_hash(code);
            let used = accounts
                .db
                .use_recovery_code(user.id, user.checked(), &hash, client.now)?;
            let Some((epoch, left)) = used else {
                return Ok(None);
            };
            // Every other session of the account has ended in the
            // database; the caller drops them from memory as its flow
            // requires.
            accounts.record(
                AuthEvent::RecoveryCodeUsed,
                Some(user.id),
                Some(&user.username),
                client,
            );
            Ok(Some(Accepted {
                epoch,
                recovery_codes_left: Some(left),
            }))
        }
    }
}

/// What a current code from the authenticator app of a signed-in account
/// came to.
pub enum AppCode {
    Accepted,
    /// The account has no two-factor login.
    NotOn,
    /// Wrong, stale or replayed: counted as a failed login, and recorded.
    Wrong,
    Throttled {
        retry_after_secs: u64,
    },
}

/// A signed-in account shows a code from its authenticator app (a step-up,
/// or a fresh proof): a failure slot reserved as for a login, the code
/// checked (never twice), the slot settled. App codes only: a recovery code
/// ends every session, so it belongs to a fresh sign-in.
pub fn app_code(
    accounts: &Accounts,
    user: &User,
    code: &str,
    client: &Client,
) -> Result<AppCode, Trouble> {
    if !user.totp_enabled() {
        return Ok(AppCode::NotOn);
    }
    let reservation =
        match accounts
            .throttle
            .reserve_login(&user.username, client.group, client.now)
        {
            Ok(reservation) => reservation,
            Err(retry_after_secs) => return Ok(AppCode::Throttled { retry_after_secs }),
        };
    let given = SecondFactor::Totp(code.trim().to_string());
    match second_factor(accounts, user, &given, client) {
        Ok(Some(Accepted { .. })) => {
            accounts.throttle.login_succeeded(reservation);
            Ok(AppCode::Accepted)
        }
        Ok(None) => {
            accounts.throttle.login_failed(reservation);
            accounts.record(AuthEvent::TotpFailed, Some(user.id), None, client);
            Ok(AppCode::Wrong)
        }
        Err(trouble) => {
            accounts.throttle.release(reservation);
            Err(trouble)
        }
    }
}
