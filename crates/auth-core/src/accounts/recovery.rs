//! Forgotten passwords and verified addresses: asking for a reset link,
//! resetting with it, confirming an address, and mailing that link again.
//!
//! Mail never runs here: a flow writes an outbox row (or hands a reset
//! request to the mailer) and wakes the mailer thread (`accounts::mailer`).
//! Tokens arrive as typed, are looked up by their SHA-256, and a wrong one
//! counts like a wrong password against the address.

use crate::accounts::audit::AuthEvent;
use crate::accounts::mailer::{MAILS_PER_ACCOUNT_PER_HOUR, ResetRequest};
use crate::accounts::notices::Change;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::passwords::HashError;
use crate::auth::token::Token;
use crate::auth::validation;
use crate::storage;
use crate::storage::User;
use crate::storage::mail::Purpose;

/// The token of a link, if it has a token's shape.
fn token_hash(token: &str) -> Option<[u8; 32]> {
    Token::decode(token.trim()).map(|t| t.hash().0)
}

pub enum ForgotOutcome {
    /// The same answer whether or not an account uses the address.
    Accepted,
    Throttled {
        retry_after_secs: u64,
    },
    /// Too many reset requests are waiting for the mailer.
    Busy,
}

/// Asks for a reset link for `email` (already normalised), to return to
/// `return_to` (already approved) afterwards. Answered before anything
/// about the account is looked up: the mailer thread does that after the
/// answer, so both cases take the same time (OWASP Forgot Password Cheat
/// Sheet).
pub fn forgot(
    accounts: &Accounts,
    email: String,
    return_to: Option<String>,
    client: &Client,
) -> ForgotOutcome {
    if let Err(retry_after_secs) = accounts.throttle.reset_request(client.group, client.now) {
        return ForgotOutcome::Throttled { retry_after_secs };
    }
    if !accounts.mailer.enabled() {
        return ForgotOutcome::Accepted;
    }
    let request = ResetRequest {
        email,
        return_to,
        ip: client.ip,
        user_agent: client.user_agent.to_string(),
        request_id: client.request_id.unwrap_or("").to_string(),
        at: client.now,
    };
    match accounts.mailer.request_reset(request) {
        true => ForgotOutcome::Accepted,
        false => ForgotOutcome::Busy,
    }
}

pub enum ResetOutcome {
    /// Every session of the account has ended; nobody is signed in.
    Reset(Box<User>),
    /// Malformed, unknown, used or expired: one answer for all.
    InvalidToken,
    /// The new password breaks a registration rule.
    Rejected(String),
    Throttled {
        retry_after_secs: u64,
    },
    Busy {
        retry_after_secs: u64,
    },
}

pub fn reset(
    accounts: &Accounts,
    token: &str,
    new_password: &str,
    client: &Client,
) -> Result<ResetOutcome, Trouble> {
    let guess = match accounts
        .throttle
        .reserve_token_guess(client.group, client.now)
    {
        Ok(guess) => guess,
        Err(retry_after_secs) => return Ok(ResetOutcome::Throttled { retry_after_secs }),
    };
    let hash = token_hash(token);
    let user = match hash {
        Some(hash) => accounts
            .db
            .email_token_user(Purpose::Reset, &hash, client.now)?,
        None => None,
    };
    let (Some(hash), Some(user)) = (hash, user) else {
        // The failure stays counted.
        return Ok(ResetOutcome::InvalidToken);
    };
    accounts.throttle.token_accepted(guess);

    // The registration rules, against this account's own names.
    if let Err(problem) = validation::check_new_password(
        new_password,
        accounts.password_policy(),
        &user.username,
        &user.email,
    ) {
        return Ok(ResetOutcome::Rejected(problem));
    }
    let password_hash = match accounts.passwords.hash(new_password, client.group) {
        Ok(hash) => hash,
        Err(HashError::Busy { retry_after_secs }) => {
            return Ok(ResetOutcome::Busy { retry_after_secs });
        }
        Err(error) => return Err(error.into()),
    };
    let Some(user) = accounts
        .db
        .reset_password(&hash, &password_hash, client.now)?
    else {
        // Used or expired between the look-up and now.
        return Ok(ResetOutcome::InvalidToken);
    };
    // Whoever held a session (or the old password) is out.
    accounts.sessions.store().forget_user(user.id);
    accounts.record(
        AuthEvent::PasswordReset,
        Some(user.id),
        Some(&user.username),
        client,
    );
    accounts.notify(&user, Change::PasswordReset, client);
    Ok(ResetOutcome::Reset(Box::new(user)))
}

pub enum VerifyOutcome {
    Verified(Box<User>),
    InvalidToken,
    Throttled { retry_after_secs: u64 },
}

pub fn verify(accounts: &Accounts, token: &str, client: &Client) -> Result<VerifyOutcome, Trouble> {
    let guess = match accounts
        .throttle
        .reserve_token_guess(client.group, client.now)
    {
        Ok(guess) => guess,
        Err(retry_after_secs) => return Ok(VerifyOutcome::Throttled { retry_after_secs }),
    };
    let user = match token_hash(token) {
        Some(hash) => accounts.db.verify_email(&hash, client.now)?,
        None => None,
    };
    let Some(user) = user else {
        return Ok(VerifyOutcome::InvalidToken);
    };
    accounts.throttle.token_accepted(guess);
    accounts.record(
        AuthEvent::EmailVerified,
        Some(user.id),
        Some(&user.username),
        client,
    );
    Ok(VerifyOutcome::Verified(Box::new(user)))
}

pub enum ResendOutcome {
    AlreadyVerified,
    /// On its way (or, past three an hour, quietly not).
    Queued,
    MailNotConfigured,
}

/// Mails the signed-in `user`'s verification link again.
pub fn resend(
    accounts: &Accounts,
    user: &User,
    return_to: Option<&str>,
    client: &Client,
) -> Result<ResendOutcome, Trouble> {
    if user.email_verified {
        return Ok(ResendOutcome::AlreadyVerified);
    }
    if !accounts.mailer.enabled() {
        return Ok(ResendOutcome::MailNotConfigured);
    }
    let since = client.now - 3600;
    let recent = accounts.db.count_events(
        Some(user.id),
        AuthEvent::EmailVerificationRequested.as_str(),
        since,
    )?;
    if recent < MAILS_PER_ACCOUNT_PER_HOUR {
        queue_verification_mail(accounts, user, return_to, client)?;
    }
    Ok(ResendOutcome::Queued)
}

/// The verification mail into the outbox, the mailer woken, the event
/// recorded.
fn queue_verification_mail(
    accounts: &Accounts,
    user: &User,
    return_to: Option<&str>,
    client: &Client,
) -> storage::Result<()> {
    accounts
        .db
        .queue_mail(user.id, Purpose::Verify, &user.email, return_to, client.now)?;
    accounts.mailer.notify();
    accounts.record(
        AuthEvent::EmailVerificationRequested,
        Some(user.id),
        Some(&user.username),
        client,
    );
    Ok(())
}

/// Queues the verification mail of a new account, when mail is on. The
/// account exists whatever happens here: a failure is logged, and the user
/// can ask for the mail again.
pub fn queue_verification(
    accounts: &Accounts,
    user: &User,
    return_to: Option<&str>,
    client: &Client,
) {
    if !accounts.mailer.enabled() {
        return;
    }
    if let Err(error) = queue_verification_mail(accounts, user, return_to, client) {
        accounts.log_error(&format!("mail: cannot queue a verification: {error}"));
    }
}
