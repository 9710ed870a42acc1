//! Email tokens (password reset, address verification) and the outbox of
//! mail still to send.
//!
//! A token is stored only as its SHA-256, single-use and expiring; a new
//! token of a kind replaces the account's previous one. The outbox holds
//! what to send (which account, which kind, to which address), never a
//! token: the mailer mints the token when it builds the message, so the
//! database never holds a usable link, and a queued message survives a
//! crash.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::Result;
use super::{Database, User, user_from_row};

/// What a token or a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Reset,
    Verify,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Verify => "verify",
        }
    }

    fn parse(text: &str) -> Option<Purpose> {
        match text {
            "reset" => Some(Purpose::Reset),
            "verify" => Some(Purpose::Verify),
            _ => None,
        }
    }
}

/// What a queued message says: a link (minted when it is sent), or a
/// security notice whose text was written when it was queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Link(Purpose),
    Notice(String),
}

/// A message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub user_id: i64,
    pub content: Content,
    pub recipient: String,
    pub created_at: i64,
    pub attempts: i64,
    /// An approved `rd` for the page the link opens, if one was given.
    pub return_to: Option<String>,
}

/// A queued message as `admin outbox` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub id: i64,
    /// `reset`, `verify` or `notice`.
    pub kind: String,
    pub recipient: String,
    pub queued_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The last failed attempt's exit status and first line of stderr.
    pub last_error: Option<String>,
}

/// Uses up a live token of `purpose`, inside the caller's transaction:
/// the account it belonged to, or `None` for a token that is unknown, of
/// another purpose, used or expired.
fn take_token(
    transaction: &Connection,
    purpose: Purpose,
    token_hash: &[u8; 32],
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    transaction
        .prepare_cached(
            "DELETE FROM email_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3
             RETURNING user_id",
        )?
        .query_row(params![token_hash, purpose.as_str(), now], |row| row.get(0))
        .optional()
}

/// Mailed links' tokens and the outbox.
pub trait MailStore {
    /// Stores a token's hash for `user_id`, replacing the previous token of
    /// the same purpose.
    fn store_email_token(
        &self,
        user_id: i64,
        purpose: Purpose,
        token_hash: &[u8; 32],
        expires_at: i64,
    ) -> Result<()>;

    /// The account a live token of `purpose` belongs to, without using it.
    fn email_token_user(
        &self,
        purpose: Purpose,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<User>>;

    /// Uses a reset token: sets the new hash, ends every session (epoch and
    /// rows), marks the address verified (the user just proved they read
    /// it), and deletes the token, all at once. `None` when the token is
    /// not (or no longer) live.
    fn reset_password(
        &self,
        token_hash: &[u8; 32],
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>>;

    /// Uses a verification token: the account's address is verified.
    fn verify_email(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<User>>;

    /// Marks an address verified (`admin verify`).
    fn set_email_verified(&self, user_id: i64) -> Result<bool>;

    /// Puts a message in the outbox, due at once; `return_to` is where the
    /// page its link opens sends the browser afterwards (already approved).
    fn queue_mail(
        &self,
        user_id: i64,
        purpose: Purpose,
        recipient: &str,
        return_to: Option<&str>,
        now: i64,
    ) -> Result<()>;

    /// Puts a security notice in the outbox, due at once.
    fn queue_notice(&self, user_id: i64, recipient: &str, text: &str, now: i64) -> Result<()>;

    /// The messages due now, oldest first.
    fn due_mail(&self, now: i64, limit: u32) -> Result<Vec<Queued>>;

    /// A message is done with (sent, or given up): out of the outbox.
    fn remove_mail(&self, id: i64) -> Result<()>;

    /// A failed attempt: counted, its error kept for `admin outbox`, and
    /// tried again at `next_attempt_at`.
    fn retry_mail(&self, id: i64, next_attempt_at: i64, error: &str) -> Result<()>;

    /// The outbox as the operator sees it, oldest first: every message, or
    /// only those with a failed attempt.
    fn outbox(&self, failed_only: bool) -> Result<Vec<Waiting>>;

    /// Makes a message (or, with `None`, every message) due now; how many.
    fn retry_mail_now(&self, id: Option<i64>, now: i64) -> Result<usize>;

    /// Takes a message out of the outbox unsent; whether it was there.
    fn drop_mail(&self, id: i64) -> Result<bool>;
}

impl MailStore for Database {
    fn store_email_token(
        &self,
        user_id: i64,
        purpose: Purpose,
        token_hash: &[u8; 32],
        expires_at: i64,
    ) -> Result<()> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        transaction
            .prepare_cached("DELETE FROM email_tokens WHERE user_id = ?1 AND purpose = ?2")?
            .execute(params![user_id, purpose.as_str()])?;
        transaction
            .prepare_cached(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![token_hash, user_id, purpose.as_str(), expires_at])?;
        Ok(transaction.commit()?)
    }

    fn email_token_user(
        &self,
        purpose: Purpose,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<User>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached(
                "SELECT users.* FROM email_tokens JOIN users ON users.id = email_tokens.user_id
                 WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3",
            )?
            .query_row(params![token_hash, purpose.as_str(), now], user_from_row)
            .optional()?)
    }

    fn reset_password(
        &self,
        token_hash: &[u8; 32],
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let Some(user_id) = take_token(&transaction, Purpose::Reset, token_hash, now)? else {
            return Ok(None);
        };
        let user = transaction
            .prepare_cached(
                "UPDATE users SET password_hash = ?2, auth_epoch = auth_epoch + 1, email_verified = 1
                 WHERE id = ?1 RETURNING *",
            )?
            .query_row(params![user_id, password_hash], user_from_row)
            .optional()?;
        super::sessions::delete_for_user(&transaction, user_id)?;
        transaction.commit()?;
        Ok(user)
    }

    fn verify_email(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<User>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let Some(user_id) = take_token(&transaction, Purpose::Verify, token_hash, now)? else {
            return Ok(None);
        };
        let user = transaction
            .prepare_cached("UPDATE users SET email_verified = 1 WHERE id = ?1 RETURNING *")?
            .query_row([user_id], user_from_row)
            .optional()?;
        transaction.commit()?;
        Ok(user)
    }

    fn set_email_verified(&self, user_id: i64) -> Result<bool> {
        let changed = self
            .writer()
            .prepare_cached("UPDATE users SET email_verified = 1 WHERE id = ?1")?
            .execute([user_id])?;
        Ok(changed == 1)
    }

    fn queue_mail(
        &self,
        user_id: i64,
        purpose: Purpose,
        recipient: &str,
        return_to: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.writer()
            .prepare_cached(
                "INSERT INTO outbox (user_id, purpose, recipient, created_at, attempts, next_attempt_at, return_to)
                 VALUES (?1, ?2, ?3, ?4, 0, ?4, ?5)",
            )?
            .execute(params![user_id, purpose.as_str(), recipient, now, return_to])?;
        Ok(())
    }

    fn queue_notice(&self, user_id: i64, recipient: &str, text: &str, now: i64) -> Result<()> {
        self.writer()
            .prepare_cached(
                "INSERT INTO outbox (user_id, purpose, recipient, created_at, attempts, next_attempt_at, notice)
                 VALUES (?1, 'notice', ?2, ?3, 0, ?3, ?4)",
            )?
            .execute(params![user_id, recipient, now, text])?;
        Ok(())
    }

    fn due_mail(&self, now: i64, limit: u32) -> Result<Vec<Queued>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(
            "SELECT id, user_id, purpose, recipient, created_at, attempts, return_to, notice FROM outbox
             WHERE next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now, limit], |row| {
            let purpose: String = row.get(2)?;
            let content = match (purpose.as_str(), row.get::<_, Option<String>>(7)?) {
                ("notice", Some(text)) => Content::Notice(text),
                (other, _) => match Purpose::parse(other) {
                    Some(purpose) => Content::Link(purpose),
                    None => return Ok(None),
                },
            };
            Ok(Some(Queued {
                id: row.get(0)?,
                user_id: row.get(1)?,
                content,
                recipient: row.get(3)?,
                created_at: row.get(4)?,
                attempts: row.get(5)?,
                return_to: row.get(6)?,
            }))
        })?;
        // A purpose this build does not know is left for one that does.
        rows.filter_map(std::result::Result::transpose)
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn remove_mail(&self, id: i64) -> Result<()> {
        self.writer()
            .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    fn retry_mail(&self, id: i64, next_attempt_at: i64, error: &str) -> Result<()> {
        self.writer()
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, next_attempt_at, error])?;
        Ok(())
    }

    fn outbox(&self, failed_only: bool) -> Result<Vec<Waiting>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(
            "SELECT id, purpose, recipient, created_at, attempts, next_attempt_at, last_error
             FROM outbox WHERE ?1 = 0 OR attempts > 0 ORDER BY id",
        )?;
        let rows = statement.query_map([failed_only], |row| {
            Ok(Waiting {
                id: row.get(0)?,
                kind: row.get(1)?,
                recipient: row.get(2)?,
                queued_at: row.get(3)?,
                attempts: row.get(4)?,
                next_attempt_at: row.get(5)?,
                last_error: row.get(6)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
    }

    fn retry_mail_now(&self, id: Option<i64>, now: i64) -> Result<usize> {
        Ok(self
            .writer()
            .prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE ?1 IS NULL OR id = ?1")?
            .execute(params![id, now])?)
    }

    fn drop_mail(&self, id: i64) -> Result<bool> {
        Ok(self
            .writer()
            .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
            .execute([id])?
            == 1)
    }
}
