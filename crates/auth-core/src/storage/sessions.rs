//! The durable copy of the sessions: one row per live session, keyed by the
//! SHA-256 of its token (the token itself is never stored), so a restart or
//! an upgrade signs nobody out. The in-memory store in `auth::sessions`
//! stays the live one; these queries are how it writes through and how it
//! is loaded at start-up.

use rusqlite::{Connection, Row, params};

use super::Database;
use super::error::Result;

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    pub public_id: u64,
    pub user_id: i64,
    /// The account binding: the user's auth epoch at login.
    pub auth_epoch: i64,
    pub created_at: i64,
    /// Written behind, in batches: after a crash it may be up to one flush
    /// interval older than the last request, so the session looks idle
    /// longer and can only end sooner, never later.
    pub last_seen_at: i64,
    pub absolute_end: i64,
    pub idle_secs: i64,
    pub remember: bool,
    pub previous_login_at: Option<i64>,
    pub ip: String,
    pub user_agent: String,
    /// `password`, `password+totp`, `recovery_code` or `passkey`.
    pub opened_with: String,
    /// When the session last proved who it is (Unix seconds).
    pub proved_at: i64,
}

fn row_from(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        token_hash: row.get("token_hash")?,
        // Stored as SQLite's signed 64-bit integer, bit for bit.
        public_id: row.get::<_, i64>("public_id")? as u64,
        user_id: row.get("user_id")?,
        auth_epoch: row.get("auth_epoch")?,
        created_at: row.get("created_at")?,
        last_seen_at: row.get("last_seen_at")?,
        absolute_end: row.get("absolute_end")?,
        idle_secs: row.get("idle_secs")?,
        remember: row.get("remember")?,
        previous_login_at: row.get("previous_login_at")?,
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
        opened_with: row.get("opened_with")?,
        proved_at: row.get("proved_at")?,
    })
}

/// Inserts `row`, inside the caller's transaction.
pub(super) fn insert(connection: &Connection, row: &SessionRow) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO sessions (token_hash, public_id, user_id, auth_epoch, created_at,
                 last_seen_at, absolute_end, idle_secs, remember, previous_login_at, ip, user_agent,
                 opened_with, proved_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            row.token_hash,
            row.public_id as i64,
            row.user_id,
            row.auth_epoch,
            row.created_at,
            row.last_seen_at,
            row.absolute_end,
            row.idle_secs,
            row.remember,
            row.previous_login_at,
            row.ip,
            row.user_agent,
            row.opened_with,
            row.proved_at,
        ])?;
    Ok(())
}

/// Removes every session of a user, inside the caller's transaction.
/// Deletes sessions by token hash with `connection`, in its transaction.
pub(super) fn delete(connection: &Connection, hashes: &[[u8; 32]]) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?;
    for hash in hashes {
        statement.execute([hash])?;
    }
    Ok(())
}

pub(super) fn delete_for_user(connection: &Connection, user_id: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
        .execute([user_id])?;
    Ok(())
}

/// A session is still good at `now` when neither its idle nor its absolute
/// deadline has passed, measured as the memory store measures it.
const LIVE: &str = "min(last_seen_at + idle_secs, absolute_end) > ?1";

/// The sessions' durable copy.
pub trait SessionRows {
    /// Moves a stored session to a new token in one transaction: the old
    /// row goes, the new one is stored (a proof shown renews the token).
    fn replace_session(&self, old_hash: &[u8; 32], new: &SessionRow) -> Result<()>;

    /// Deletes what can no longer be used (expired, or its account gone,
    /// disabled or changed since), then returns every live session: what
    /// the server loads at start-up.
    fn load_sessions(&self, now: i64) -> Result<Vec<SessionRow>>;

    /// Deletes every stored session: with `SESSION_PERSIST=false` the table
    /// is not kept up to date, so what is in it must never come back.
    fn delete_all_sessions(&self) -> Result<usize>;

    /// Deletes sessions by token hash, in one transaction.
    fn delete_sessions(&self, hashes: &[[u8; 32]]) -> Result<()>;

    /// Deletes every session of a user but `keep`.
    fn delete_sessions_of_user(&self, user_id: i64, keep: Option<&[u8; 32]>) -> Result<()>;

    /// Writes last-seen times, in one transaction: the batched write-behind
    /// that keeps the hot path free of database writes.
    fn touch_sessions(&self, seen: &[([u8; 32], i64)]) -> Result<()>;

    /// A user's stored sessions, oldest first (for `admin sessions`).
    fn sessions_of_user(&self, user_id: i64) -> Result<Vec<SessionRow>>;

    /// Ends every session of a user wherever it lives: the epoch moves (so
    /// a running server drops them on their next request) and the rows go
    /// (so a restarted one never loads them).
    fn revoke_sessions(&self, user_id: i64) -> Result<bool>;
}

impl SessionRows for Database {
    fn replace_session(&self, old_hash: &[u8; 32], new: &SessionRow) -> Result<()> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        transaction
            .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
            .execute([old_hash])?;
        insert(&transaction, new)?;
        transaction.commit()?;
        Ok(())
    }

    fn load_sessions(&self, now: i64) -> Result<Vec<SessionRow>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        transaction.execute(
            &format!(
                "DELETE FROM sessions WHERE NOT ({LIVE}) OR NOT EXISTS (
                     SELECT 1 FROM users u WHERE u.id = sessions.user_id
                         AND u.auth_epoch = sessions.auth_epoch AND u.disabled = 0)"
            ),
            [now],
        )?;
        let rows = transaction
            .prepare("SELECT * FROM sessions")?
            .query_map([], row_from)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        transaction.commit()?;
        Ok(rows)
    }

    fn delete_all_sessions(&self) -> Result<usize> {
        Ok(self.writer().execute("DELETE FROM sessions", [])?)
    }

    fn delete_sessions(&self, hashes: &[[u8; 32]]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        delete(&transaction, hashes)?;
        Ok(transaction.commit()?)
    }

    fn delete_sessions_of_user(&self, user_id: i64, keep: Option<&[u8; 32]>) -> Result<()> {
        self.writer()
            .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2")?
            .execute(params![user_id, keep])?;
        Ok(())
    }

    fn touch_sessions(&self, seen: &[([u8; 32], i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        {
            let mut statement = transaction.prepare_cached(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE token_hash = ?1",
            )?;
            for (hash, at) in seen {
                statement.execute(params![hash, at])?;
            }
        }
        Ok(transaction.commit()?)
    }

    fn sessions_of_user(&self, user_id: i64) -> Result<Vec<SessionRow>> {
        let connection = self.writer();
        let mut statement = connection
            .prepare_cached("SELECT * FROM sessions WHERE user_id = ?1 ORDER BY created_at")?;
        statement
            .query_map([user_id], row_from)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn revoke_sessions(&self, user_id: i64) -> Result<bool> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let changed = transaction
            .prepare_cached("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = ?1")?
            .execute([user_id])?;
        delete_for_user(&transaction, user_id)?;
        transaction.commit()?;
        Ok(changed == 1)
    }
}
