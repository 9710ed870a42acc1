//! The audit trail's table, `auth_events`: rows in, rows out, old rows
//! pruned. What an event is, and when one is recorded, is the use cases'
//! business (`accounts::audit`); this file stores what it is given.

use rusqlite::params;

use crate::storage::Database;
use crate::storage::error::Result;

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub event: String,
    pub user_id: Option<i64>,
    pub identifier: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub count: i64,
    pub detail: Option<String>,
    /// The administrator who made the change, when one did (the admin
    /// page); `None` for the person's own actions and the shell's.
    pub actor: Option<i64>,
}

/// The audit trail's rows.
pub trait AuditStore {
    fn insert_event(&self, event: &Event) -> Result<()>;

    /// The newest events first, of one user or of all.
    fn events(&self, user_id: Option<i64>, limit: u32) -> Result<Vec<Event>> {
        self.find_events(user_id, None, limit)
    }

    /// The newest events first, of one user (or all) and of one kind (or
    /// all).
    fn find_events(
        &self,
        user_id: Option<i64>,
        event: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>>;

    /// Deletes events older than `before`; returns how many.
    fn prune_events(&self, before: i64) -> Result<usize>;

    /// How many events named `event` the account has had since `since`: the
    /// per-account mail limits count the audit trail.
    fn count_events(&self, user_id: Option<i64>, event: &str, since: i64) -> Result<i64>;
}

impl AuditStore for Database {
    fn insert_event(&self, event: &Event) -> Result<()> {
        insert_event_in(&self.writer(), event)
    }

    fn find_events(
        &self,
        user_id: Option<i64>,
        event: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(
            "SELECT at, event, user_id, identifier, ip, user_agent, count, detail, actor FROM auth_events
             WHERE (?1 IS NULL OR user_id = ?1) AND (?3 IS NULL OR event = ?3)
             ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        statement
            .query_map(params![user_id, limit, event], |row| {
                Ok(Event {
                    at: row.get(0)?,
                    event: row.get(1)?,
                    user_id: row.get(2)?,
                    identifier: row.get(3)?,
                    ip: row.get(4)?,
                    user_agent: row.get(5)?,
                    count: row.get(6)?,
                    detail: row.get(7)?,
                    actor: row.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn prune_events(&self, before: i64) -> Result<usize> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached("DELETE FROM auth_events WHERE at < ?1")?
            .execute([before])?)
    }

    fn count_events(&self, user_id: Option<i64>, event: &str, since: i64) -> Result<i64> {
        Ok(self.writer()
            .prepare_cached(
                "SELECT coalesce(sum(count), 0) FROM auth_events WHERE user_id IS ?1 AND event = ?2 AND at >= ?3",
            )?
            .query_row(params![user_id, event, since], |row| row.get(0))?)
    }
}

/// Stores one event with `connection`, in its transaction if one is open
/// (a change and its event commit together).
pub(crate) fn insert_event_in(connection: &rusqlite::Connection, event: &Event) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO auth_events (at, event, user_id, identifier, ip, user_agent, count, detail, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            event.at,
            event.event,
            event.user_id,
            event.identifier,
            event.ip,
            event.user_agent,
            event.count,
            event.detail,
            event.actor
        ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn events_are_listed_newest_first_and_pruned() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        for (at, user_id) in [(10, Some(1)), (20, None), (30, Some(1))] {
            let event = Event {
                at,
                event: "login_failed".into(),
                user_id,
                identifier: Some("alice".into()),
                ip: Some("127.0.0.1".into()),
                user_agent: None,
                count: 1,
                detail: None,
                actor: None,
            };
            db.insert_event(&event).unwrap();
        }
        let all = db.events(None, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [30, 20, 10]);
        assert_eq!(db.events(Some(1), 10).unwrap().len(), 2);
        assert_eq!(db.events(None, 1).unwrap().len(), 1);
        assert_eq!(
            db.find_events(None, Some("login_failed"), 10)
                .unwrap()
                .len(),
            3
        );
        assert!(
            db.find_events(None, Some("login_ok"), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.prune_events(25).unwrap(), 2);
        assert_eq!(db.events(None, 10).unwrap().len(), 1);
    }
}
