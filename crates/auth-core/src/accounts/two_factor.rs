//! Two-factor login with an authenticator app: setting it up (two steps,
//! so a mistyped secret cannot lock anyone out), turning it on, and off.
//! Set-up stores a pending secret and shows it; only a code made from it
//! turns it on. Turning it on or off ends every other session of the
//! account (OWASP ASVS 4.0.3 V2.8, V3.3.3). The login's side is in
//! `login.rs`.

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::{self, Refused, SecondFactor, SignedIn};
use crate::accounts::notices::Change;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::sessions::Session;
use crate::auth::token::Token;
use crate::auth::totp;
use crate::storage::{Checked, User};

/// How many recovery codes the user has left; `None` without two-factor
/// login.
pub fn codes_left(accounts: &Accounts, user: &User) -> Result<Option<i64>, Trouble> {
    if !user.totp_enabled() {
        return Ok(None);
    }
    Ok(Some(accounts.db.recovery_codes_left(user.id)?))
}

pub enum SetupOutcome {
    /// The pending secret, its `otpauth://` URI and that URI as an SVG QR
    /// code.
    Pending {
        secret: String,
        uri: String,
        /// `None` if the URI is too long for a QR code.
        qr_svg: Option<String>,
    },
    AlreadyOn,
    /// The password check said no (wrong, throttled, or busy).
    Refused(Refused),
    NoLongerSignedIn,
}

pub fn setup(
    accounts: &Accounts,
    me: &SignedIn,
    password: &str,
    client: &Client,
) -> Result<SetupOutcome, Trouble> {
    let user = &me.user;
    if user.totp_enabled() {
        return Ok(SetupOutcome::AlreadyOn);
    }
    let reservation = match check::password(accounts, &user.username, Some(user), password, client)?
    {
        Ok(reservation) => reservation,
        Err(refused) => return Ok(SetupOutcome::Refused(refused)),
    };
    accounts.throttle.login_succeeded(reservation);
    let secret = totp::new_secret().map_err(Trouble::random)?;
    if !accounts
        .db
        .set_totp_pending(user.id, user.checked(), &secret)?
    {
        return Ok(SetupOutcome::NoLongerSignedIn);
    }
    let uri = totp::otpauth_uri(&accounts.settings.totp_issuer, &user.username, &secret);
    Ok(SetupOutcome::Pending {
        secret: totp::base32(&secret),
        qr_svg: totp::qr_svg(&uri),
        uri,
    })
}

// Returned once per request and matched at once: boxing the session would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum EnableOutcome {
    /// On: the ten recovery codes (shown only now) and the caller's
    /// session under a new token.
    On {
        recovery_codes: Vec<String>,
        successor: Option<(Token, Session)>,
    },
    AlreadyOn,
    /// Not a current code of the pending secret (or nothing pending).
    WrongCode,
    NoLongerSignedIn,
}

pub fn enable(
    accounts: &Accounts,
    me: &SignedIn,
    code: &str,
    client: &Client,
) -> Result<EnableOutcome, Trouble> {
    let user = &me.user;
    if user.totp_enabled() {
        return Ok(EnableOutcome::AlreadyOn);
    }
    let Some(pending) = user.totp_pending.as_deref() else {
        return Ok(EnableOutcome::WrongCode);
    };
    let Some(step) = totp::matching_step(pending, code, client.now) else {
        return Ok(EnableOutcome::WrongCode);
    };
    let codes = totp::new_recovery_codes().map_err(Trouble::random)?;
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let changed = accounts.end_other_sessions(&me.token, user.id, client.now, |keep| {
        accounts
            .db
            .enable_totp(user.id, user.checked(), pending, step, &hashes, keep)
    })?;
    let Some(successor) = changed else {
        return Ok(EnableOutcome::NoLongerSignedIn);
    };
    accounts.record(AuthEvent::TotpEnabled, Some(user.id), None, client);
    accounts.notify(user, Change::TwoFactorOn, client);
    Ok(EnableOutcome::On {
        recovery_codes: codes,
        successor,
    })
}

pub enum DisableOutcome {
    Off(Option<(Token, Session)>),
    NotOn,
    /// The password check said no (wrong, throttled, or busy).
    Refused(Refused),
    WrongCode,
    NoLongerSignedIn,
}

pub fn disable(
    accounts: &Accounts,
    me: &SignedIn,
    password: &str,
    code: &str,
    client: &Client,
) -> Result<DisableOutcome, Trouble> {
    let user = &me.user;
    if !user.totp_enabled() {
        return Ok(DisableOutcome::NotOn);
    }
    // The password's failure slot is held through the code check: a wrong
    // code here counts as a failed login, as at sign-in.
    let reservation = match check::password(accounts, &user.username, Some(user), password, client)?
    {
        Ok(reservation) => reservation,
        Err(refused) => return Ok(DisableOutcome::Refused(refused)),
    };
    let accepted = match check::second_factor(accounts, user, &SecondFactor::either(code), client) {
        Ok(Some(accepted)) => {
            accounts.throttle.login_succeeded(reservation);
            accepted
        }
        Ok(None) => {
            accounts.throttle.login_failed(reservation);
            accounts.record(AuthEvent::TotpFailed, Some(user.id), None, client);
            return Ok(DisableOutcome::WrongCode);
        }
        Err(trouble) => {
            accounts.throttle.release(reservation);
            return Err(trouble);
        }
    };
    // A recovery code has moved the epoch itself; the disable is guarded
    // by the epoch it left.
    let checked = Checked {
        epoch: accepted.epoch,
        password_hash: &user.password_hash,
    };
    let changed = accounts.end_other_sessions(&me.token, user.id, client.now, |keep| {
        accounts.db.disable_totp(user.id, Some(checked), keep)
    })?;
    let Some(successor) = changed else {
        return Ok(DisableOutcome::NoLongerSignedIn);
    };
    accounts.record(AuthEvent::TotpDisabled, Some(user.id), None, client);
    accounts.notify(user, Change::TwoFactorOff, client);
    Ok(DisableOutcome::Off(successor))
}
