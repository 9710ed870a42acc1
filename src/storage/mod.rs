//! Users and auth events in SQLite: the schema, its migrations, and every
//! query, each a prepared statement with bound parameters (no SQL is ever built from input,
//! OWASP ASVS 4.0.3 V5.3.4).
//!
//! One connection behind a mutex: SQLite writes one transaction at a time
//! anyway, each query here takes microseconds, and the slow work (bcrypt)
//! never happens while the lock is held.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

pub mod audit;
pub mod mail;
pub mod sessions;
pub mod totp;

use sessions::SessionRow;

use crate::support::lock::lock;

/// The schema of a new database, embedded in the binary.
const SCHEMA: &str = include_str!("../../schema.sql");
/// The version `SCHEMA` creates; `PRAGMA user_version` holds a file's version.
pub const SCHEMA_VERSION: i64 = 7;

/// How to bring a file from the version before each entry to that entry's
/// version. A new database gets `SCHEMA` directly; an old one runs every
/// step above its version, in order, in one transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        2,
    "ALTER TABLE users ADD COLUMN auth_epoch INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE auth_events (
         id INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL,
         user_id INTEGER, identifier TEXT, ip TEXT, user_agent TEXT,
         count INTEGER NOT NULL DEFAULT 1);
     CREATE INDEX auth_events_at ON auth_events (at);
     CREATE INDEX auth_events_user ON auth_events (user_id, at);",
    ),
    (
        3,
        // AUTOINCREMENT needs the table rebuilt. The counter starts past
        // every id that ever appears, in users or in the audit trail, so no
        // deleted account's id (and its sessions and events) is handed out
        // again.
        "CREATE TABLE users_v3 (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             username TEXT NOT NULL UNIQUE COLLATE NOCASE,
             email TEXT NOT NULL UNIQUE COLLATE NOCASE,
             password_hash TEXT NOT NULL,
             created_at INTEGER NOT NULL,
             last_login_at INTEGER,
             login_count INTEGER NOT NULL DEFAULT 0,
             auth_epoch INTEGER NOT NULL DEFAULT 0,
             disabled INTEGER NOT NULL DEFAULT 0);
         INSERT INTO users_v3 (id, username, email, password_hash, created_at,
                               last_login_at, login_count, auth_epoch, disabled)
             SELECT id, username, email, password_hash, created_at,
                    last_login_at, login_count, auth_epoch, disabled FROM users;
         DROP TABLE users;
         ALTER TABLE users_v3 RENAME TO users;
         INSERT INTO sqlite_sequence (name, seq)
             SELECT 'users', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');
         UPDATE sqlite_sequence SET seq = max(seq,
                 (SELECT coalesce(max(id), 0) FROM users),
                 (SELECT coalesce(max(user_id), 0) FROM auth_events))
             WHERE name = 'users';",
    ),
    (
        4,
        "CREATE TABLE sessions (
             token_hash BLOB PRIMARY KEY, public_id INTEGER NOT NULL,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             auth_epoch INTEGER NOT NULL, created_at INTEGER NOT NULL,
             last_seen_at INTEGER NOT NULL, absolute_end INTEGER NOT NULL,
             idle_secs INTEGER NOT NULL, remember INTEGER NOT NULL,
             previous_login_at INTEGER, ip TEXT NOT NULL, user_agent TEXT NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX sessions_user ON sessions (user_id);",
    ),
    (
        5,
        "ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
         CREATE TABLE email_tokens (
             token_hash BLOB PRIMARY KEY,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             purpose TEXT NOT NULL, expires_at INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
         CREATE TABLE outbox (
             id INTEGER PRIMARY KEY,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             purpose TEXT NOT NULL, recipient TEXT NOT NULL, created_at INTEGER NOT NULL,
             attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL
         );
         CREATE INDEX outbox_due ON outbox (next_attempt_at);",
    ),
    (
        6,
        "ALTER TABLE users ADD COLUMN totp_secret BLOB;
         ALTER TABLE users ADD COLUMN totp_pending BLOB;
         ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
         CREATE TABLE recovery_codes (
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             code_hash BLOB NOT NULL, used_at INTEGER,
             PRIMARY KEY (user_id, code_hash)
         ) WITHOUT ROWID;",
    ),
    (7, "ALTER TABLE outbox ADD COLUMN return_to TEXT;"),
];

/// A user row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub login_count: i64,
    /// Sessions carry the epoch of their login; a different one here means
    /// the account changed since and the session is over.
    pub auth_epoch: i64,
    pub disabled: bool,
    /// The owner proved they read mail at this address (a verification
    /// link, a password reset, or an operator's `admin verify`).
    pub email_verified: bool,
    /// The TOTP secret once two-factor login is on (RFC 6238 needs it to
    /// check codes, so it is stored as it is; never logged or sent again).
    pub totp_secret: Option<Vec<u8>>,
    /// A secret being set up, until a code from it turns it on.
    pub totp_pending: Option<Vec<u8>>,
}

impl User {
    pub fn totp_enabled(&self) -> bool {
        self.totp_secret.is_some()
    }

    /// The account as a credential check of this row saw it.
    pub fn checked(&self) -> Checked<'_> {
        Checked {
            epoch: self.auth_epoch,
            password_hash: &self.password_hash,
        }
    }
}

/// What a password or code check saw of an account: its auth epoch and
/// password hash. A change made after such a check commits only if the
/// account is still as it was, compared in the changing statement itself
/// (second review, finding 1): a session revoked, a password changed or
/// two-factor login turned off by someone else while this request waited
/// for bcrypt makes the change fail instead of undoing theirs. The admin
/// command, which checks no credential, passes `None`.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    pub epoch: i64,
    pub password_hash: &'a str,
}

/// The statement parameters ?2 and ?3 of a guarded change.
fn guard(checked: Option<Checked<'_>>) -> (Option<i64>, Option<&str>) {
    (checked.map(|c| c.epoch), checked.map(|c| c.password_hash))
}

/// The condition of a guarded change on `users`, with ?1 the user's id and
/// ?2, ?3 from [`guard`].
macro_rules! unchanged {
    () => {
        "(?2 IS NULL OR auth_epoch = ?2) AND (?3 IS NULL OR password_hash = ?3)"
    };
}
pub(crate) use unchanged;

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

/// Why a new user could not be stored.
#[derive(Debug)]
pub enum InsertError {
    UsernameTaken,
    EmailTaken,
    Database(rusqlite::Error),
}

pub struct Database {
    connection: Mutex<Connection>,
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
        Database::configure(Connection::open(path)?)
    }

    /// Opens a database file that must already exist (the admin command:
    /// a mistyped path must not become a new empty database that then
    /// "succeeds"); SQLite's `CANTOPEN` when there is none.
    pub fn open_existing(path: &Path) -> rusqlite::Result<Database> {
        let flags = OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE;
        Database::configure(Connection::open_with_flags(path, flags)?)
    }

    fn configure(connection: Connection) -> rusqlite::Result<Database> {
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
        migrate(&connection)?;
        Ok(Database {
            connection: Mutex::new(connection),
        })
    }

    /// Copies every change in the write-ahead log into the database file and
    /// empties the log, so the file alone is a complete copy (after a clean
    /// stop) and deleted data leaves the log too. Best effort: with a reader
    /// in another process the log may stay, which is still correct.
    pub fn checkpoint(&self) -> rusqlite::Result<()> {
        let connection = lock(&self.connection);
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    }

    /// Stores a new user. Uniqueness is the database's to decide, so two
    /// simultaneous registrations of one name have exactly one winner. Its
    /// auth epoch starts at a random value, so its sessions belong to it
    /// alone (see schema.sql).
    pub fn insert_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<User, InsertError> {
        let auth_epoch = initial_epoch().map_err(InsertError::Database)?;
        let connection = lock(&self.connection);
        let inserted = connection
            .prepare_cached("INSERT INTO users (username, email, password_hash, created_at, auth_epoch) VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut statement| statement.execute(params![username, email, password_hash, now, auth_epoch]));
        match inserted {
            Ok(_) => Ok(User {
                id: connection.last_insert_rowid(),
                username: username.to_string(),
                email: email.to_string(),
                password_hash: password_hash.to_string(),
                created_at: now,
                last_login_at: None,
                login_count: 0,
                auth_epoch,
                disabled: false,
                email_verified: false,
                totp_secret: None,
                totp_pending: None,
            }),
            Err(error) => Err(classify_insert_error(error)),
        }
    }

    pub fn user_by_id(&self, id: i64) -> rusqlite::Result<Option<User>> {
        self.query_user("SELECT * FROM users WHERE id = ?1", &id)
    }

    /// Case-insensitive, like the uniqueness rule.
    pub fn user_by_username(&self, username: &str) -> rusqlite::Result<Option<User>> {
        self.query_user(
            "SELECT * FROM users WHERE username = ?1 COLLATE NOCASE",
            &username,
        )
    }

    /// `email` is expected lower-case, as stored.
    pub fn user_by_email(&self, email: &str) -> rusqlite::Result<Option<User>> {
        self.query_user(
            "SELECT * FROM users WHERE email = ?1 COLLATE NOCASE",
            &email,
        )
    }

    /// The account a person means by `identifier`: an email when it has an
    /// `@` (usernames cannot contain one), otherwise a username. The one
    /// lookup both the login and the admin command use.
    pub fn user_by_identifier(&self, identifier: &str) -> rusqlite::Result<Option<User>> {
        if identifier.contains('@') {
            self.user_by_email(&identifier.trim().to_lowercase())
        } else {
            self.user_by_username(identifier)
        }
    }

    fn query_user(&self, sql: &str, key: &dyn rusqlite::ToSql) -> rusqlite::Result<Option<User>> {
        let connection = lock(&self.connection);
        let mut statement = connection.prepare_cached(sql)?;
        statement.query_row([key], user_from_row).optional()
    }

    /// Records a successful login and returns the user as it now is, with
    /// the time of the login before this one, but only if the account is
    /// still the one whose password was checked: same id and the same
    /// `auth_epoch` as read with the hash. A password change, a disable or
    /// a deletion in between makes this `None`, so a login checked against
    /// an old password can never open a session that outlives the change.
    ///
    /// `session`, when sessions are stored, is written in the same
    /// transaction (with the previous login time filled in), so a session
    /// the client was told about survives a crash the instant after.
    pub fn record_login(
        &self,
        id: i64,
        checked_epoch: i64,
        now: i64,
        session: Option<SessionRow>,
    ) -> rusqlite::Result<Option<(User, Option<i64>)>> {
        let connection = lock(&self.connection);
        let transaction = connection.unchecked_transaction()?;
        let previous: Option<Option<i64>> = transaction
            .prepare_cached("SELECT last_login_at FROM users WHERE id = ?1 AND auth_epoch = ?2")?
            .query_row(params![id, checked_epoch], |row| row.get(0))
            .optional()?;
        let Some(previous) = previous else {
            return Ok(None);
        };
        let user = transaction
            .prepare_cached(
                "UPDATE users SET last_login_at = ?3, login_count = login_count + 1
                 WHERE id = ?1 AND auth_epoch = ?2 RETURNING *",
            )?
            .query_row(params![id, checked_epoch, now], user_from_row)
            .optional()?;
        let Some(user) = user else {
            return Ok(None);
        };
        if let Some(mut row) = session {
            row.previous_login_at = previous;
            sessions::insert(&transaction, &row)?;
        }
        transaction.commit()?;
        Ok(Some((user, previous)))
    }

    /// Replaces a hash with one of the same password at the configured
    /// cost, only if the account is as checked: a rehash must never put
    /// back a password that was changed meanwhile.
    pub fn rehash_password(
        &self,
        id: i64,
        checked: Checked<'_>,
        password_hash: &str,
    ) -> rusqlite::Result<()> {
        let (epoch, old_hash) = guard(Some(checked));
        let connection = lock(&self.connection);
        connection
            .prepare_cached(concat!(
                "UPDATE users SET password_hash = ?4 WHERE id = ?1 AND ",
                unchanged!()
            ))?
            .execute(params![id, epoch, old_hash, password_hash])?;
        Ok(())
    }

    /// Sets a new password hash and ends every session of the user by
    /// bumping the epoch. Returns the new epoch, or `None` if the user is
    /// gone or no longer as `checked`.
    ///
    /// Every stored session of the user goes too, and `keep` (the caller's
    /// session under its new token, when sessions are stored) is written in
    /// the same transaction under the new epoch.
    pub fn change_password(
        &self,
        id: i64,
        checked: Option<Checked<'_>>,
        password_hash: &str,
        keep: Option<SessionRow>,
    ) -> rusqlite::Result<Option<i64>> {
        let (epoch, old_hash) = guard(checked);
        let connection = lock(&self.connection);
        let transaction = connection.unchecked_transaction()?;
        let epoch: Option<i64> = transaction
            .prepare_cached(concat!(
                "UPDATE users SET password_hash = ?4, auth_epoch = auth_epoch + 1 WHERE id = ?1 AND ",
                unchanged!(),
                " RETURNING auth_epoch"
            ))?
            .query_row(params![id, epoch, old_hash, password_hash], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(epoch) = epoch else {
            return Ok(None);
        };
        sessions::delete_for_user(&transaction, id)?;
        if let Some(mut row) = keep {
            row.auth_epoch = epoch;
            sessions::insert(&transaction, &row)?;
        }
        transaction.commit()?;
        Ok(Some(epoch))
    }

    /// Disables or enables an account; either way its sessions end, in
    /// memory (the epoch) and on disk (the rows).
    pub fn set_disabled(&self, id: i64, disabled: bool) -> rusqlite::Result<bool> {
        let connection = lock(&self.connection);
        let transaction = connection.unchecked_transaction()?;
        let changed = transaction
            .prepare_cached(
                "UPDATE users SET disabled = ?2, auth_epoch = auth_epoch + 1 WHERE id = ?1",
            )?
            .execute(params![id, disabled])?;
        sessions::delete_for_user(&transaction, id)?;
        transaction.commit()?;
        Ok(changed == 1)
    }

    /// Deletes an account; its username and email are free again, and
    /// (secure_delete, then a checkpoint) no longer readable in the files.
    /// Its id is never given to another account (AUTOINCREMENT). `false`
    /// if the user is gone or no longer as `checked`.
    pub fn delete_user(&self, id: i64, checked: Option<Checked<'_>>) -> rusqlite::Result<bool> {
        let (epoch, old_hash) = guard(checked);
        let deleted = {
            let connection = lock(&self.connection);
            let transaction = connection.unchecked_transaction()?;
            let deleted = transaction
                .prepare_cached(concat!(
                    "DELETE FROM users WHERE id = ?1 AND ",
                    unchanged!()
                ))?
                .execute(params![id, epoch, old_hash])?;
            if deleted != 1 {
                return Ok(false);
            }
            sessions::delete_for_user(&transaction, id)?;
            transaction.commit()?;
            deleted
        };
        // The deleted row's earlier versions are still in the log until it
        // is checkpointed; a failed checkpoint leaves them for the next one.
        let _ = self.checkpoint();
        Ok(deleted == 1)
    }

    pub fn list_users(&self) -> rusqlite::Result<Vec<User>> {
        let connection = lock(&self.connection);
        let mut statement = connection.prepare_cached("SELECT * FROM users ORDER BY id")?;
        statement.query_map([], user_from_row)?.collect()
    }

    pub fn insert_event(&self, event: &Event) -> rusqlite::Result<()> {
        let connection = lock(&self.connection);
        connection
            .prepare_cached(
                "INSERT INTO auth_events (at, event, user_id, identifier, ip, user_agent, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                event.at,
                event.event,
                event.user_id,
                event.identifier,
                event.ip,
                event.user_agent,
                event.count
            ])?;
        Ok(())
    }

    /// The newest events first, of one user or of all.
    pub fn events(&self, user_id: Option<i64>, limit: u32) -> rusqlite::Result<Vec<Event>> {
        let connection = lock(&self.connection);
        let mut statement = connection.prepare_cached(
            "SELECT at, event, user_id, identifier, ip, user_agent, count FROM auth_events
             WHERE ?1 IS NULL OR user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        statement
            .query_map(params![user_id, limit], |row| {
                Ok(Event {
                    at: row.get(0)?,
                    event: row.get(1)?,
                    user_id: row.get(2)?,
                    identifier: row.get(3)?,
                    ip: row.get(4)?,
                    user_agent: row.get(5)?,
                    count: row.get(6)?,
                })
            })?
            .collect()
    }

    /// Deletes events older than `before`; returns how many.
    pub fn prune_events(&self, before: i64) -> rusqlite::Result<usize> {
        let connection = lock(&self.connection);
        connection
            .prepare_cached("DELETE FROM auth_events WHERE at < ?1")?
            .execute([before])
    }

    /// A consistent copy of the live database in a new file at `path`,
    /// through SQLite's online backup API: pages are copied in steps while
    /// the server goes on reading and writing, and the copy is of one
    /// moment. The copy is then checked with `PRAGMA integrity_check`.
    pub fn backup_to(&self, path: &Path) -> rusqlite::Result<()> {
        use rusqlite::backup::Backup;
        use std::os::unix::fs::OpenOptionsExt;
        // A new file, as private as the original (it holds the same hashes
        // and secrets). create_new is O_CREAT|O_EXCL, which fails on any
        // existing name, a dangling symlink included: a link planted at the
        // target cannot send the copy elsewhere (second review).
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
            let source = lock(&self.connection);
            let backup = Backup::new(&source, &mut copy)?;
            // Every page in one step, under one read transaction: the copy is
            // of one moment, and a writer in another process (the server)
            // cannot make the step start over.
            backup.run_to_completion(i32::MAX, Duration::from_millis(0), None)?;
        }
        let verdict: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if verdict != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("the copy failed its integrity check: {verdict}")),
            ));
        }
        Ok(())
    }

    /// Figures for `admin stats`: users (total, disabled, verified), stored
    /// sessions, and audit events since `since` by kind.
    pub fn stats(&self, since: i64) -> rusqlite::Result<Stats> {
        let connection = lock(&self.connection);
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

    /// A read that touches the file, for the health check.
    pub fn check(&self) -> rusqlite::Result<()> {
        let connection = lock(&self.connection);
        connection
            .prepare_cached("SELECT count(*) FROM users")?
            .query_row([], |row| row.get::<_, i64>(0))?;
        Ok(())
    }
}

/// A random starting epoch (63 bits, positive), so that no two accounts
/// ever share an (id, epoch) pair by counting up from the same start.
fn initial_epoch() -> rusqlite::Result<i64> {
    getrandom::u64()
        .map(|n| (n >> 1) as i64)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
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

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get("id")?,
        username: row.get("username")?,
        email: row.get("email")?,
        password_hash: row.get("password_hash")?,
        created_at: row.get("created_at")?,
        last_login_at: row.get("last_login_at")?,
        login_count: row.get("login_count")?,
        auth_epoch: row.get("auth_epoch")?,
        disabled: row.get("disabled")?,
        email_verified: row.get("email_verified")?,
        totp_secret: row.get("totp_secret")?,
        totp_pending: row.get("totp_pending")?,
    })
}

/// Which unique constraint a failed insert broke, from SQLite's message
/// ("UNIQUE constraint failed: users.username").
fn classify_insert_error(error: rusqlite::Error) -> InsertError {
    if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &error
        && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        if message.contains("users.username") {
            return InsertError::UsernameTaken;
        }
        if message.contains("users.email") {
            return InsertError::EmailTaken;
        }
    }
    InsertError::Database(error)
}

/// Creates the schema in a new file, or upgrades an older one step by step,
/// in one transaction so a crash leaves the old version intact.
fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the database is at schema version {version}, newer than this build's {SCHEMA_VERSION}"
            )),
        ));
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        if version == 0 {
            connection.execute_batch(SCHEMA)?;
        } else {
            for (_, step) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
                connection.execute_batch(step)?;
            }
        }
        connection.pragma_update(None, "user_version", SCHEMA_VERSION)
    })();
    match result {
        Ok(()) => connection.execute_batch("COMMIT"),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Database {
        Database::open(Path::new(":memory:")).unwrap()
    }

    #[test]
    fn usernames_and_emails_are_unique_ignoring_case() {
        let db = database();
        db.insert_user("alice", "alice@example.com", "h", 1)
            .unwrap();
        assert!(matches!(
            db.insert_user("ALICE", "other@example.com", "h", 1),
            Err(InsertError::UsernameTaken)
        ));
        assert!(matches!(
            db.insert_user("bob", "ALICE@example.com", "h", 1),
            Err(InsertError::EmailTaken)
        ));
        assert_eq!(
            db.user_by_username("Alice").unwrap().unwrap().username,
            "alice"
        );
    }

    #[test]
    fn login_records_count_and_previous_time() {
        let db = database();
        let user = db.insert_user("alice", "a@example.com", "h", 1).unwrap();
        let epoch = user.auth_epoch;
        let (after_first, previous) = db.record_login(user.id, epoch, 10, None).unwrap().unwrap();
        assert_eq!(
            (after_first.login_count, after_first.last_login_at, previous),
            (1, Some(10), None)
        );
        let (after_second, previous) = db.record_login(user.id, epoch, 20, None).unwrap().unwrap();
        assert_eq!((after_second.login_count, previous), (2, Some(10)));
        assert!(db.record_login(999, epoch, 30, None).unwrap().is_none());
        // Changed since the password was checked: no login.
        db.change_password(user.id, None, "h2", None).unwrap();
        assert!(db.record_login(user.id, epoch, 40, None).unwrap().is_none());
    }

    #[test]
    fn a_change_after_a_check_commits_only_if_the_account_is_as_checked() {
        let db = database();
        let user = db.insert_user("alice", "a@example.com", "h", 1).unwrap();
        // Someone else changed the password after this request's check.
        db.change_password(user.id, None, "theirs", None).unwrap();
        assert_eq!(
            db.change_password(user.id, Some(user.checked()), "mine", None)
                .unwrap(),
            None
        );
        assert!(!db.delete_user(user.id, Some(user.checked())).unwrap());
        db.rehash_password(user.id, user.checked(), "old-rehashed")
            .unwrap();
        let now = db.user_by_id(user.id).unwrap().unwrap();
        assert_eq!(now.password_hash, "theirs");
        assert!(!db.set_totp_pending(user.id, user.checked(), b"s").unwrap());
        assert_eq!(
            db.disable_totp(user.id, Some(user.checked()), None)
                .unwrap(),
            None
        );
        // As checked: the change goes through.
        assert!(
            db.change_password(user.id, Some(now.checked()), "mine", None)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn epochs_move_on_every_change_that_ends_sessions() {
        let db = database();
        let user = db.insert_user("alice", "a@example.com", "h", 1).unwrap();
        let start = user.auth_epoch;
        assert_eq!(
            db.change_password(user.id, None, "h2", None).unwrap(),
            Some(start + 1)
        );
        assert!(db.set_disabled(user.id, true).unwrap());
        let after = db.user_by_id(user.id).unwrap().unwrap();
        assert_eq!(
            (
                after.auth_epoch,
                after.disabled,
                after.password_hash.as_str()
            ),
            (start + 2, true, "h2")
        );
        assert!(db.delete_user(user.id, None).unwrap());
        assert_eq!(db.change_password(user.id, None, "h3", None).unwrap(), None);
        let again = db
            .insert_user("alice", "a@example.com", "h", 2)
            .expect("name and email free again");
        assert_ne!(again.id, user.id, "an id is never reused");
        assert_ne!(again.auth_epoch, start, "epochs start at random");
    }

    #[test]
    fn events_are_listed_newest_first_and_pruned() {
        let db = database();
        for (at, user_id) in [(10, Some(1)), (20, None), (30, Some(1))] {
            let event = Event {
                at,
                event: "login_failed".into(),
                user_id,
                identifier: Some("alice".into()),
                ip: Some("127.0.0.1".into()),
                user_agent: None,
                count: 1,
            };
            db.insert_event(&event).unwrap();
        }
        let all = db.events(None, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [30, 20, 10]);
        assert_eq!(db.events(Some(1), 10).unwrap().len(), 2);
        assert_eq!(db.events(None, 1).unwrap().len(), 1);
        assert_eq!(db.prune_events(25).unwrap(), 2);
        assert_eq!(db.events(None, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_new_file_is_at_the_current_version_and_reopens() {
        let dir = std::env::temp_dir().join(format!("auth-server-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        Database::open(&path)
            .unwrap()
            .insert_user("alice", "a@example.com", "h", 1)
            .unwrap();
        let reopened = Database::open(&path).unwrap();
        assert!(reopened.user_by_username("alice").unwrap().is_some());
        let version: i64 = lock(&reopened.connection)
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
