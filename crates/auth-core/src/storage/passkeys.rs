//! The `passkeys` table and each account's WebAuthn user handle. A
//! passkey's public key and counter are written only after the ceremony's
//! checks (`auth::webauthn`); its sign-in moves the counter in the same
//! transaction that records the login, so two sign-ins with one signature
//! cannot both succeed.

use rusqlite::{OptionalExtension, Row, params};

use super::error::Result;
use super::users::SignInWrite;
use super::users::record_login_in;
use super::{Database, User};

/// A stored passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passkey {
    pub credential_id: Vec<u8>,
    pub user_id: i64,
    /// The COSE key as the device sent it.
    pub public_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub backed_up: bool,
}

/// Why a passkey was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// The account is gone or changed since its session was checked.
    NoSuchAccount,
    /// The credential id is registered already (to this account or another).
    AlreadyRegistered,
    /// The account has `limit` passkeys already.
    TooMany,
}

/// Passkeys and their handles.
pub trait PasskeyStore {
    /// The account's user handle, made from `fresh` the first time it is
    /// asked for and the same ever after; `None` if the account is gone.
    fn passkey_handle(&self, user_id: i64, fresh: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Stores a checked new passkey, only while the account is as its
    /// session was checked (same auth epoch) and has fewer than `limit`.
    fn add_passkey(
        &self,
        passkey: &Passkey,
        checked_epoch: i64,
        limit: usize,
    ) -> Result<std::result::Result<(), AddError>>;

    /// The account's passkeys, oldest first.
    fn passkeys_of(&self, user_id: i64) -> Result<Vec<Passkey>>;

    fn passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>>;

    /// Renames one of the account's passkeys; `false` if it has no such one.
    fn rename_passkey(&self, user_id: i64, credential_id: &[u8], name: &str) -> Result<bool>;

    /// Removes one of the account's passkeys; `false` if it has no such one.
    fn remove_passkey(&self, user_id: i64, credential_id: &[u8]) -> Result<Option<String>>;

    /// Records a passkey sign-in: moves the passkey's counter from the
    /// value checked to `new_count` (so of two sign-ins that both read one
    /// counter, a cloned device's and the real one's, only one succeeds)
    /// and records the login as
    /// [`Database::record_login`] does, in one transaction. `None` if the
    /// passkey is gone or was used meanwhile, or the account changed.
    fn record_passkey_login(
        &self,
        passkey: &Passkey,
        new_count: u32,
        backed_up: bool,
        checked_epoch: i64,
        now: i64,
        write: SignInWrite,
    ) -> Result<Option<(User, Option<i64>)>>;
}

impl PasskeyStore for Database {
    fn passkey_handle(&self, user_id: i64, fresh: &[u8]) -> Result<Option<Vec<u8>>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached(
                "UPDATE users SET passkey_handle = coalesce(passkey_handle, ?2)
                 WHERE id = ?1 RETURNING passkey_handle",
            )?
            .query_row(params![user_id, fresh], |row| row.get(0))
            .optional()?)
    }

    fn add_passkey(
        &self,
        passkey: &Passkey,
        checked_epoch: i64,
        limit: usize,
    ) -> Result<std::result::Result<(), AddError>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let count: Option<i64> = transaction
            .prepare_cached(
                "SELECT (SELECT count(*) FROM passkeys WHERE user_id = ?1)
                 FROM users WHERE id = ?1 AND auth_epoch = ?2",
            )?
            .query_row(params![passkey.user_id, checked_epoch], |row| row.get(0))
            .optional()?;
        let Some(count) = count else {
            return Ok(Err(AddError::NoSuchAccount));
        };
        if count >= limit as i64 {
            return Ok(Err(AddError::TooMany));
        }
        let inserted = transaction
            .prepare_cached(
                "INSERT INTO passkeys (credential_id, user_id, public_key, algorithm, sign_count,
                                       name, created_at, last_used_at, backed_up)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)
                 ON CONFLICT (credential_id) DO NOTHING",
            )?
            .execute(params![
                passkey.credential_id,
                passkey.user_id,
                passkey.public_key,
                passkey.algorithm,
                passkey.sign_count,
                passkey.name,
                passkey.created_at,
                passkey.backed_up,
            ])?;
        if inserted == 0 {
            return Ok(Err(AddError::AlreadyRegistered));
        }
        transaction.commit()?;
        Ok(Ok(()))
    }

    fn passkeys_of(&self, user_id: i64) -> Result<Vec<Passkey>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(
            "SELECT * FROM passkeys WHERE user_id = ?1 ORDER BY created_at, credential_id",
        )?;
        statement
            .query_map([user_id], passkey_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn passkey(&self, credential_id: &[u8]) -> Result<Option<Passkey>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached("SELECT * FROM passkeys WHERE credential_id = ?1")?
            .query_row([credential_id], passkey_from_row)
            .optional()?)
    }

    fn rename_passkey(&self, user_id: i64, credential_id: &[u8], name: &str) -> Result<bool> {
        let connection = self.writer();
        let changed = connection
            .prepare_cached(
                "UPDATE passkeys SET name = ?3 WHERE user_id = ?1 AND credential_id = ?2",
            )?
            .execute(params![user_id, credential_id, name])?;
        Ok(changed == 1)
    }

    fn remove_passkey(&self, user_id: i64, credential_id: &[u8]) -> Result<Option<String>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached(
                "DELETE FROM passkeys WHERE user_id = ?1 AND credential_id = ?2 RETURNING name",
            )?
            .query_row(params![user_id, credential_id], |row| row.get(0))
            .optional()?)
    }

    fn record_passkey_login(
        &self,
        passkey: &Passkey,
        new_count: u32,
        backed_up: bool,
        checked_epoch: i64,
        now: i64,
        write: SignInWrite,
    ) -> Result<Option<(User, Option<i64>)>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let moved = transaction
            .prepare_cached(
                "UPDATE passkeys SET sign_count = ?4, last_used_at = ?5, backed_up = ?6
                 WHERE credential_id = ?1 AND user_id = ?2 AND sign_count = ?3",
            )?
            .execute(params![
                passkey.credential_id,
                passkey.user_id,
                passkey.sign_count,
                new_count,
                now,
                backed_up,
            ])?;
        if moved != 1 {
            return Ok(None);
        }
        let recorded = record_login_in(&transaction, passkey.user_id, checked_epoch, now, write)?;
        if recorded.is_some() {
            transaction.commit()?;
        }
        Ok(recorded)
    }
}

fn passkey_from_row(row: &Row<'_>) -> rusqlite::Result<Passkey> {
    Ok(Passkey {
        credential_id: row.get("credential_id")?,
        user_id: row.get("user_id")?,
        public_key: row.get("public_key")?,
        algorithm: row.get("algorithm")?,
        sign_count: row.get("sign_count")?,
        name: row.get("name")?,
        created_at: row.get("created_at")?,
        last_used_at: row.get("last_used_at")?,
        backed_up: row.get("backed_up")?,
    })
}
