//! Two-factor login in the database: the pending and enabled secrets, the
//! last accepted step, and the recovery codes (as hashes). Every change
//! that turns two-factor login on or off, or uses a recovery code, moves
//! the auth epoch and deletes the stored sessions in the same transaction,
//! so every other session of the account ends.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::Result;
use super::sessions::{self, SessionRow};
use super::{Checked, Database, guard, unchanged};

/// Moves the epoch, deletes the stored sessions, and stores `keep` (the
/// caller's own session under a new token) under the new epoch.
fn end_other_sessions(
    transaction: &Connection,
    user_id: i64,
    keep: Option<SessionRow>,
) -> rusqlite::Result<Option<i64>> {
    let epoch: Option<i64> = transaction
        .prepare_cached(
            "UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = ?1 RETURNING auth_epoch",
        )?
        .query_row([user_id], |row| row.get(0))
        .optional()?;
    let Some(epoch) = epoch else {
        return Ok(None);
    };
    sessions::delete_for_user(transaction, user_id)?;
    if let Some(mut row) = keep {
        row.auth_epoch = epoch;
        sessions::insert(transaction, &row)?;
    }
    Ok(Some(epoch))
}

/// Two-factor secrets, steps and recovery codes.
pub trait TotpStore {
    /// Stores a secret being set up, replacing any earlier pending one;
    /// `false` if the account is no longer as `checked`.
    fn set_totp_pending(&self, user_id: i64, checked: Checked<'_>, secret: &[u8]) -> Result<bool>;

    /// Turns two-factor login on with the pending secret `secret` (checked
    /// by the caller against a code for `step`), with new recovery codes;
    /// returns the new epoch, or `None` if the pending secret changed or
    /// the account is no longer as `checked`.
    fn enable_totp(
        &self,
        user_id: i64,
        checked: Checked<'_>,
        secret: &[u8],
        step: i64,
        code_hashes: &[[u8; 32]],
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>>;

    /// Turns two-factor login off and forgets its secret and codes; returns
    /// the new epoch, or `None` if the user is gone or no longer as
    /// `checked` (the admin command passes `None`).
    fn disable_totp(
        &self,
        user_id: i64,
        checked: Option<Checked<'_>>,
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>>;

    /// How many unused recovery codes the user has.
    fn recovery_codes_left(&self, user_id: i64) -> Result<i64>;

    /// Accepts a code's step if it is later than the last accepted one, so
    /// no code is ever accepted twice, even by two requests at once.
    fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool>;

    /// Uses a recovery code: marks it used, ends every session of the
    /// account (epoch and rows), and returns the new epoch and how many
    /// unused codes remain; `None` if the code is not an unused one of the
    /// account's, or the account is no longer as `checked` (the code then
    /// stays unused).
    fn use_recovery_code(
        &self,
        user_id: i64,
        checked: Checked<'_>,
        code_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(i64, i64)>>;
}

impl TotpStore for Database {
    fn set_totp_pending(&self, user_id: i64, checked: Checked<'_>, secret: &[u8]) -> Result<bool> {
        let (epoch, hash) = guard(Some(checked));
        let changed = self
            .writer()
            .prepare_cached(concat!(
                "UPDATE users SET totp_pending = ?4 WHERE id = ?1 AND totp_secret IS NULL AND ",
                unchanged!()
            ))?
            .execute(params![user_id, epoch, hash, secret])?;
        Ok(changed == 1)
    }

    fn enable_totp(
        &self,
        user_id: i64,
        checked: Checked<'_>,
        secret: &[u8],
        step: i64,
        code_hashes: &[[u8; 32]],
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>> {
        let (epoch, hash) = guard(Some(checked));
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let changed = transaction
            .prepare_cached(concat!(
                "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?5
                 WHERE id = ?1 AND totp_pending = ?4 AND totp_secret IS NULL AND ",
                unchanged!()
            ))?
            .execute(params![user_id, epoch, hash, secret, step])?;
        if changed != 1 {
            return Ok(None);
        }
        transaction
            .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
            .execute([user_id])?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
            )?;
            for hash in code_hashes {
                insert.execute(params![user_id, hash])?;
            }
        }
        let epoch = end_other_sessions(&transaction, user_id, keep)?;
        transaction.commit()?;
        Ok(epoch)
    }

    fn disable_totp(
        &self,
        user_id: i64,
        checked: Option<Checked<'_>>,
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>> {
        let (epoch, hash) = guard(checked);
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let changed = transaction
            .prepare_cached(concat!(
                "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL WHERE id = ?1 AND ",
                unchanged!()
            ))?
            .execute(params![user_id, epoch, hash])?;
        if changed != 1 {
            return Ok(None);
        }
        transaction
            .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
            .execute([user_id])?;
        let epoch = end_other_sessions(&transaction, user_id, keep)?;
        transaction.commit()?;
        Ok(epoch)
    }

    fn recovery_codes_left(&self, user_id: i64) -> Result<i64> {
        Ok(self
            .writer()
            .prepare_cached(
                "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            )?
            .query_row([user_id], |row| row.get(0))?)
    }

    fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let changed = self
            .writer()
            .prepare_cached(
                "UPDATE users SET totp_last_step = ?2
                 WHERE id = ?1 AND totp_secret IS NOT NULL
                   AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            )?
            .execute(params![user_id, step])?;
        Ok(changed == 1)
    }

    fn use_recovery_code(
        &self,
        user_id: i64,
        checked: Checked<'_>,
        code_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(i64, i64)>> {
        let (epoch, hash) = guard(Some(checked));
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let used = transaction
            .prepare_cached(concat!(
                "UPDATE recovery_codes SET used_at = ?5
                 WHERE user_id = ?1 AND code_hash = ?4 AND used_at IS NULL
                   AND EXISTS (SELECT 1 FROM users WHERE id = ?1 AND ",
                unchanged!(),
                ")"
            ))?
            .execute(params![user_id, epoch, hash, code_hash, now])?;
        if used != 1 {
            return Ok(None);
        }
        let Some(epoch) = end_other_sessions(&transaction, user_id, None)? else {
            return Ok(None);
        };
        let left: i64 = transaction
            .prepare_cached(
                "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            )?
            .query_row([user_id], |row| row.get(0))?;
        transaction.commit()?;
        Ok(Some((epoch, left)))
    }
}
