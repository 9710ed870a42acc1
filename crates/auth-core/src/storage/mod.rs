//! SQLite: the connection and what concerns the whole file (opening,
//! permissions, checkpoints, backups, statistics); one file per table
//! below it (`users`, `audit`, `sessions`, `mail`, `totp`, `passkeys`, `oidc`,
//! `invites`, `upstreams`) and the schema
//! with its migrations (`schema`). Every query is a prepared statement with
//! bound parameters (no SQL is ever built from input, OWASP ASVS 4.0.3
//! V5.3.4).
//!
//! One connection behind a mutex: SQLite writes one transaction at a time
//! anyway, each query here takes microseconds, and the slow work (bcrypt)
//! never happens while the lock is held.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::hooks::Action;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

pub mod audit;
pub mod cache;
pub mod error;
pub mod invites;
pub mod mail;
pub mod oidc;
pub mod passkeys;
mod schema;
pub mod sessions;
pub mod totp;
pub mod unlocks;
pub mod upstreams;
mod users;

pub use audit::{AuditStore, Event};
pub use error::{Result, StorageError};
pub use invites::InviteStore;
pub use mail::MailStore;
pub use oidc::OidcStore;
pub use passkeys::PasskeyStore;
pub use schema::SCHEMA_VERSION;
pub use sessions::SessionRows;
pub use totp::TotpStore;
pub use unlocks::UnlockStore;
pub use upstreams::UpstreamStore;
pub use users::UserStore;
pub use users::{Checked, InsertError, SignInWrite, User};
pub(crate) use users::{guard, unchanged, user_from_row};

use crate::support::lock::lock;
use cache::RowCache;

/// The seam between the use cases and the database: every question and
/// change the flows put to storage, table by table, with storage's own
/// error. [`Database`] (SQLite) is the one engine; a second (PostgreSQL,
/// for several instances behind one name) would implement these traits,
/// and no flow would change.
pub trait Storage:
    UserStore
    + SessionRows
    + AuditStore
    + MailStore
    + OidcStore
    + PasskeyStore
    + TotpStore
    + UnlockStore
    + InviteStore
    + UpstreamStore
    + DatabaseFile
    + Send
    + Sync
{
}

impl<T> Storage for T where
    T: UserStore
        + SessionRows
        + AuditStore
        + MailStore
        + OidcStore
        + PasskeyStore
        + TotpStore
        + UnlockStore
        + InviteStore
        + UpstreamStore
        + DatabaseFile
        + Send
        + Sync
{
}

/// What `admin stats` shows.
#[derive(Debug)]
pub struct Stats {
    pub users: i64,
    pub disabled: i64,
    pub verified: i64,
    pub sessions: i64,
    /// Kind and count, alphabetically.
    pub events: Vec<(String, i64)>,
}

pub struct Database {
    /// The one connection that writes (and the reads of the flows). Taken
    /// through [`Database::writer`], whose guard tells the user cache what
    /// changed once it is released.
    connection: Mutex<Connection>,
    /// A read-only connection for session checks that miss the cache, so
    /// they never wait behind a write (WAL lets it read while the writer
    /// writes); `None` for an in-memory database, which has one connection.
    reader: Option<Mutex<Connection>>,
    /// The user rows of session checks and the access tokens of userinfo
    /// (`cache.rs`).
    rows: RowCache,
}

/// The writer's lock; dropping it (after any commit: every transaction here
/// ends before its guard) drops the cached rows it changed (`cache.rs`).
pub(crate) struct Writer<'a> {
    guard: MutexGuard<'a, Connection>,
    rows: &'a RowCache,
}

impl std::ops::Deref for Writer<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.guard
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.rows.forget_dirty();
    }
}

impl Database {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date.
    pub fn open(path: &Path) -> rusqlite::Result<Database> {
        restrict_permissions(path).map_err(|error| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot make {} private: {error}", path.display())),
            )
        })?;
        Database::configure(Connection::open(path)?, path)
    }

    /// Opens a database file that must already exist (the admin command:
    /// a mistyped path must not become a new empty database that then
    /// "succeeds"); SQLite's `CANTOPEN` when there is none.
    pub fn open_existing(path: &Path) -> rusqlite::Result<Database> {
        let flags = OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE;
        Database::configure(Connection::open_with_flags(path, flags)?, path)
    }

    fn configure(mut connection: Connection, path: &Path) -> rusqlite::Result<Database> {
        // WAL lets readers (and the admin CLI) work while the server writes;
        // synchronous=FULL makes a committed registration survive power loss
        // or kill -9 before the 201 is sent (SQLite docs, "PRAGMA synchronous").
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows are overwritten with zeros, not left readable in free
        // pages (a deleted account's email; OWASP ASVS 4.0.3 V8.3.8).
        connection.pragma_update(None, "secure_delete", "ON")?;
        connection.busy_timeout(Duration::from_secs(5))?;
        // Every transaction on this connection writes, so it takes the write
        // lock when it begins. A deferred one that reads first and then writes
        // while another process (the server, or the admin command) holds the
        // lock fails at once with "database is locked": SQLite cannot wait
        // for it without risking a deadlock, so the busy timeout never
        // applies (SQLite docs, "BEGIN TRANSACTION" and "sqlite3_busy_timeout").
        connection.set_transaction_behavior(TransactionBehavior::Immediate);
        schema::migrate(&connection)?;
        let rows = RowCache::default();
        // Every users row this connection changes, for the cache.
        let dirty = Arc::clone(&rows.dirty);
        connection.update_hook(Some(
            move |action: Action, _: &str, table: &str, id: i64| {
                if table == "users" {
                    let mut dirty = lock(&dirty);
                    dirty.users.push(id);
                    // A deleted account's tokens go with it (the foreign key).
                    dirty.grants |= action == Action::SQLITE_DELETE;
                }
            },
        ))?;
        let reader = if path.as_os_str() == ":memory:" {
            None
        } else {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let reader = Connection::open_with_flags(path, flags)?;
            reader.busy_timeout(Duration::from_secs(5))?;
            Some(Mutex::new(reader))
        };
        Ok(Database {
            connection: Mutex::new(connection),
            reader,
            rows,
        })
    }

    /// The writer's lock (see [`Writer`]).
    pub(crate) fn writer(&self) -> Writer<'_> {
        Writer {
            guard: lock(&self.connection),
            rows: &self.rows,
        }
    }

    /// Looks for commits by other processes (the admin command), at most
    /// every `cache::CHECK_INTERVAL`; skipped while the writer is busy for
    /// up to `cache::MAX_STALENESS`.
    fn notice_other_writers(&self) -> rusqlite::Result<()> {
        let now = Instant::now();
        let Some(since) = self.rows.due(now) else {
            return Ok(());
        };
        let guard = match self.connection.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) if since < cache::MAX_STALENESS => return Ok(()),
            Err(TryLockError::WouldBlock) => lock(&self.connection),
        };
        let data_version: i64 = guard.query_row("PRAGMA data_version", [], |row| row.get(0))?;
        drop(guard);
        self.rows.saw_data_version(data_version, now);
        Ok(())
    }
}

/// What concerns the whole file, and the user rows session checks read
/// (through the cache).
pub trait DatabaseFile {
    /// The account behind a session, from memory when it can be: no
    /// database read on the hot path (`cache.rs` says how it stays true).
    fn session_user(&self, id: i64) -> Result<Option<Arc<User>>>;

    /// Copies every change in the write-ahead log into the database file and
    /// empties the log, so the file alone is a complete copy (after a clean
    /// stop) and deleted data leaves the log too. Best effort: with a reader
    /// in another process the log may stay, which is still correct.
    fn checkpoint(&self) -> Result<()>;

    /// A consistent copy of the live database in a new file at `path`,
    /// through SQLite's online backup API: pages are copied in steps while
    /// the server goes on reading and writing, and the copy is of one
    /// moment. The copy is then checked with `PRAGMA integrity_check`.
    fn backup_to(&self, path: &Path) -> Result<()>;

    /// Figures for `admin stats`: users (total, disabled, verified), stored
    /// sessions, and audit events since `since` by kind.
    fn stats(&self, since: i64) -> Result<Stats>;

    /// A read that touches the file, for the health check.
    fn check(&self) -> Result<()>;
}

impl Database {
    /// Runs a read on the read-only connection when there is one (a file),
    /// so a long read (an administrator's search over every account) never
    /// holds up a sign-in's write; on the writer otherwise (in memory).
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        match &self.reader {
            Some(reader) => read(&lock(reader)),
            None => read(&self.writer()),
        }
    }
}

impl DatabaseFile for Database {
    fn session_user(&self, id: i64) -> Result<Option<Arc<User>>> {
        self.notice_other_writers()?;
        let (cached, version) = self.rows.get(id);
        if cached.is_some() {
            return Ok(cached);
        }
        let user = match &self.reader {
            Some(reader) => lock(reader)
                .prepare_cached("SELECT * FROM users WHERE id = ?1")?
                .query_row([id], user_from_row)
                .optional()?,
            None => self.user_by_id(id)?,
        };
        let user = user.map(Arc::new);
        if let Some(user) = &user {
            self.rows.put(Arc::clone(user), version);
        }
        Ok(user)
    }
    fn checkpoint(&self) -> Result<()> {
        let connection = self.writer();
        Ok(connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
    }
    fn backup_to(&self, path: &Path) -> Result<()> {
        use rusqlite::backup::Backup;
        use std::os::unix::fs::OpenOptionsExt;
        // A new file, as private as the original (it holds the same hashes
        // and secrets). create_new is O_CREAT|O_EXCL, which fails on any
        // existing name, a dangling symlink included: a link planted at the
        // target cannot send the copy elsewhere.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|error| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create {}: {error}", path.display())),
                )
            })?;
        let flags = (OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE)
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut copy = Connection::open_with_flags(path, flags)?;
        {
            let source = self.writer();
            let backup = Backup::new(&source, &mut copy)?;
            // Every page in one step, under one read transaction: the copy is
            // of one moment, and a writer in another process (the server)
            // cannot make the step start over.
            backup.run_to_completion(i32::MAX, Duration::from_millis(0), None)?;
        }
        let verdict: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if verdict != "ok" {
            return Err(StorageError::Internal(format!(
                "the copy failed its integrity check: {verdict}"
            )));
        }
        Ok(())
    }
    fn stats(&self, since: i64) -> Result<Stats> {
        let connection = self.writer();
        let (users, disabled, verified) = connection.query_row(
            "SELECT count(*), coalesce(sum(disabled), 0), coalesce(sum(email_verified), 0) FROM users",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        let sessions =
            connection.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0))?;
        let mut statement = connection.prepare_cached(
            "SELECT event, sum(count) FROM auth_events WHERE at >= ?1 GROUP BY event ORDER BY event",
        )?;
        let events = statement
            .query_map([since], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
        Ok(Stats {
            users,
            disabled,
            verified,
            sessions,
            events,
        })
    }
    fn check(&self) -> Result<()> {
        let connection = self.writer();
        connection
            .prepare_cached("SELECT count(*) FROM users")?
            .query_row([], |row| row.get::<_, i64>(0))?;
        Ok(())
    }
}

/// Creates the database file readable and writable by its owner only
/// (0600), or takes those rights away from others on an existing one and
/// its `-wal`/`-shm` companions, before SQLite writes anything: it holds
/// password hashes and emails. SQLite creates the companions with the
/// main file's permissions.
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut companions = path.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm"] {
        companions.clear();
        companions.push(path.as_os_str());
        companions.push(suffix);
        let file = Path::new(&companions);
        match std::fs::metadata(file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            }
            _ => {}
        }
    }
    Ok(())
}
