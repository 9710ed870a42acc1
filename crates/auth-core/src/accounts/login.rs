//! Signing in: what happens, in order, when someone logs in with a
//! username (or email) and a password, and a second factor when the
//! account has two-factor login.
//!
//! 1. The account is looked up; a failure slot is reserved for the pair of
//!    identifier and client address (or the login is throttled), then the
//!    password is verified on the bcrypt queue, against a dummy hash when
//!    there is no account ([`check::password`]).
//! 2. Only then are the account's other conditions told: an unverified
//!    address (with `REQUIRE_VERIFIED_EMAIL`), a second factor wanted or
//!    wrong. A wrong code counts as a failed login.
//! 3. The stored hash is upgraded while the password is at hand.
//! 4. Whatever session the browser brought ends, and a new one is written
//!    in the same transaction as the login, only if the account is still
//!    the one whose password was checked (same auth epoch).

use crate::accounts::audit::{AuthEvent, EventRecord};
use crate::accounts::check::{self, Refused, SecondFactor};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::sessions::{NewSession, OpenedWith, Session};
use crate::auth::token::Token;
use crate::storage;
use crate::storage::User;
use crate::storage::{Event, SignInWrite};
use crate::support::metrics::LoginResult;

/// What the person sent.
pub struct LoginRequest<'a> {
    /// A username or an email address.
    pub identifier: &'a str,
    pub password: &'a str,
    /// "Keep me signed in": a persistent cookie and a longer life.
    pub remember: bool,
    pub second_factor: Option<SecondFactor>,
    /// The sessions the browser already had, which end (session fixation).
    pub previous: Vec<Token>,
}

/// How a login ended. Every case is one answer the person gets.
pub enum LoginOutcome {
    SignedIn {
        user: Box<User>,
        token: Token,
        session: Session,
        /// After a recovery code: how many are left.
        recovery_codes_left: Option<i64>,
    },
    /// No: wrong credentials (alike for a wrong password, an unknown name
    /// or a disabled account), throttled, or the bcrypt queue busy.
    Refused(Refused),
    /// The right password; the account wants a code as well.
    SecondFactorRequired,
    /// The right password and a wrong, stale or replayed code.
    InvalidSecondFactor,
    /// The right password for an address not yet verified.
    EmailNotVerified,
}

impl LoginOutcome {
    /// The outcome as the metrics count it.
    pub fn result(&self) -> LoginResult {
        match self {
            LoginOutcome::SignedIn { .. } => LoginResult::Ok,
            LoginOutcome::Refused(Refused::InvalidCredentials) => LoginResult::InvalidCredentials,
            LoginOutcome::Refused(Refused::Throttled { .. }) => LoginResult::Throttled,
            LoginOutcome::Refused(Refused::Busy { .. }) => LoginResult::RefusedBusy,
            LoginOutcome::SecondFactorRequired => LoginResult::TotpRequired,
            LoginOutcome::InvalidSecondFactor => LoginResult::InvalidTotp,
            LoginOutcome::EmailNotVerified => LoginResult::EmailNotVerified,
        }
    }
}

pub fn login(
    accounts: &Accounts,
    request: LoginRequest,
    client: &Client,
) -> Result<LoginOutcome, Trouble> {
    let user = accounts.db.user_by_identifier(request.identifier)?;
    let reservation = match check::password(
        accounts,
        request.identifier,
        user.as_ref(),
        request.password,
        client,
    )? {
        Ok(reservation) => reservation,
        Err(refused) => return Ok(LoginOutcome::Refused(refused)),
    };
    let Some(user) = user else {
        // A right password always has an account; kept for the compiler.
        accounts.throttle.login_failed(reservation);
        return Ok(LoginOutcome::Refused(Refused::InvalidCredentials));
    };

    // Told only after the password, so they say nothing to someone without it.
    if accounts.settings.require_verified_email && !user.email_verified {
        accounts.throttle.login_succeeded(reservation);
        return Ok(LoginOutcome::EmailNotVerified);
    }
    let (checked_epoch, recovery_codes_left) = if user.totp_enabled() {
        let Some(given) = &request.second_factor else {
            // The password was right and no code has failed yet; but
            // nothing succeeded either, so the pair's failures stand (a
            // code-less login between wrong codes must not wipe them).
            accounts.throttle.release(reservation);
            return Ok(LoginOutcome::SecondFactorRequired);
        };
        match check::second_factor(accounts, &user, given, client) {
            Ok(Some(accepted)) => {
                if accepted.recovery_codes_left.is_some() {
                    // A recovery code ended every session of the account.
                    accounts.sessions.store().forget_user(user.id);
                }
                (accepted.epoch, accepted.recovery_codes_left)
            }
            Ok(None) => {
                // A wrong code keeps the failure slot: it counts as a
                // failed login in every throttle window.
                accounts.throttle.login_failed(reservation);
                accounts.record(
                    AuthEvent::TotpFailed,
                    Some(user.id),
                    Some(&user.username),
                    client,
                );
                return Ok(LoginOutcome::InvalidSecondFactor);
            }
            Err(trouble) => {
                accounts.throttle.release(reservation);
                return Err(trouble);
            }
        }
    } else {
        (user.auth_epoch, None)
    };
    accounts.throttle.login_succeeded(reservation);

    // Upgraded while the password is at hand, so raising BCRYPT_COST
    // reaches every active user; never over a password changed meanwhile.
    if accounts.passwords.needs_rehash(&user.password_hash)
        && let Ok(hash) = accounts.passwords.hash(request.password, client.group)
    {
        accounts
            .db
            .rehash_password(user.id, user.checked(), &hash)?;
    }

    let opened_with = match (&request.second_factor, user.totp_enabled()) {
        (Some(SecondFactor::Totp(_)), true) => OpenedWith::PasswordTotp,
        (Some(SecondFactor::Recovery(_)), true) => OpenedWith::RecoveryCode,
        _ => OpenedWith::Password,
    };
    let new_session = NewSession {
        user_id: user.id,
        auth_epoch: checked_epoch,
        remember: request.remember,
        ip: client.ip,
        user_agent: client.user_agent.to_string(),
        opened_with,
    };
    // Only if the account is still the one checked: deleted, disabled or
    // its password changed since the hash was read, and this login fails
    // exactly like a wrong password.
    let event = accounts.event_for_write(
        AuthEvent::LoginOk,
        Some(user.id),
        Some(&user.username),
        None,
        client,
    );
    let opened = open_session(
        accounts,
        new_session,
        &request.previous,
        event,
        client.now,
        |write| {
            accounts
                .db
                .record_login(user.id, checked_epoch, client.now, write)
        },
    )?;
    let Some((user, token, session)) = opened else {
        return Ok(LoginOutcome::Refused(Refused::InvalidCredentials));
    };
    Ok(LoginOutcome::SignedIn {
        user: Box::new(user),
        token,
        session,
        recovery_codes_left,
    })
}

/// Opens the session of a sign-in whose credentials were just checked.
/// Whatever session the browser brought ends and a fresh token is issued:
/// an attacker who planted a token learns nothing (session fixation; OWASP
/// ASVS 4.0.3 V3.2.1). `commit` records the login in the database, given
/// what to write in the same transaction: the session's row (so a session
/// the client is told about survives a crash the instant after), the rows
/// of the sessions it ends, and `event` for the audit trail (its line is
/// logged once committed). It answers `None` when the account is no longer
/// as checked, and then no session opens.
pub(crate) fn open_session(
    accounts: &Accounts,
    new_session: NewSession,
    previous: &[Token],
    (event, line): (Event, EventRecord<'_>),
    now: i64,
    commit: impl FnOnce(SignInWrite) -> storage::Result<Option<(User, Option<i64>)>>,
) -> Result<Option<(User, Token, Session)>, Trouble> {
    // Ended in memory now, with those that make way under the caps; their
    // rows go in the sign-in's own commit.
    let mut ended: Vec<[u8; 32]> = previous
        .iter()
        .filter_map(|token| accounts.sessions.end_in_memory(token))
        .collect();
    ended.extend(accounts.sessions.make_room(new_session.user_id, now));
    let (token, mut session) = accounts
        .sessions
        .prepare(new_session, now)
        .map_err(Trouble::random)?;
    let write = SignInWrite {
        session: accounts.sessions.row(&token, &session),
        ended: ended.clone(),
        event: Some(event),
    };
    let (user, previous_login_at) = match commit(write) {
        Ok(Some(committed)) => committed,
        // Nothing was stored: the ended sessions' rows go on their own,
        // so none comes back at the next start.
        Ok(None) => {
            accounts.sessions.delete_rows(&ended)?;
            return Ok(None);
        }
        Err(error) => {
            let _ = accounts.sessions.delete_rows(&ended);
            return Err(error.into());
        }
    };
    accounts.log_event(&line);
    session.previous_login_at = previous_login_at;
    accounts.sessions.admit(&token, session.clone(), now)?;
    Ok(Some((user, token, session)))
}
