//! Lockouts an operator lifted from the shell, on their way to the
//! server: the failure counters live in the server's memory, so the admin
//! command (another process) leaves a row here, and the server applies
//! and deletes it within seconds (`accounts::unlock`).

use rusqlite::params;

use super::Database;
use super::error::Result;

/// What to unlock: a login identifier (a username or an email address, as
/// typed at sign-in) or an address group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unlock {
    Identifier(String),
    Address(String),
}

/// Operators' unlock requests for the running server.
pub trait UnlockStore {
    fn request_unlock(&self, unlock: &Unlock, at: i64) -> Result<()>;

    /// Every request waiting, taken out of the table.
    fn take_unlocks(&self) -> Result<Vec<Unlock>>;
}

impl UnlockStore for Database {
    fn request_unlock(&self, unlock: &Unlock, at: i64) -> Result<()> {
        let (kind, value) = match unlock {
            Unlock::Identifier(value) => ("identifier", value),
            Unlock::Address(value) => ("address", value),
        };
        self.writer()
            .prepare_cached("INSERT INTO unlock_requests (kind, value, at) VALUES (?1, ?2, ?3)")?
            .execute(params![kind, value, at])?;
        Ok(())
    }

    fn take_unlocks(&self) -> Result<Vec<Unlock>> {
        let connection = self.writer();
        let mut statement =
            connection.prepare_cached("DELETE FROM unlock_requests RETURNING kind, value")?;
        let rows = statement.query_map([], |row| {
            let kind: String = row.get(0)?;
            let value: String = row.get(1)?;
            Ok(match kind.as_str() {
                "address" => Unlock::Address(value),
                _ => Unlock::Identifier(value),
            })
        })?;
        rows.collect::<rusqlite::Result<_>>().map_err(Into::into)
    }
}
