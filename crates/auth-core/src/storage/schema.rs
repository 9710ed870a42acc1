//! The schema: `schema.sql` for a new file, and the steps that bring an
//! older file up to date, in place, in one transaction.

use rusqlite::Connection;

/// The schema of a new database, embedded in the binary.
const SCHEMA: &str = include_str!("../../../../schema.sql");
/// The version `SCHEMA` creates; `PRAGMA user_version` holds a file's version.
pub const SCHEMA_VERSION: i64 = 13;

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
    (
        8,
        "ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '';
         ALTER TABLE sessions ADD COLUMN opened_with TEXT NOT NULL DEFAULT 'password';",
    ),
    (
        9,
        "ALTER TABLE users ADD COLUMN passkey_handle BLOB;
         CREATE UNIQUE INDEX users_passkey_handle ON users (passkey_handle);
         CREATE TABLE passkeys (
             credential_id BLOB PRIMARY KEY,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             public_key BLOB NOT NULL, algorithm INTEGER NOT NULL,
             sign_count INTEGER NOT NULL, name TEXT NOT NULL,
             created_at INTEGER NOT NULL, last_used_at INTEGER,
             backed_up INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX passkeys_user ON passkeys (user_id);",
    ),
    (
        10,
        "ALTER TABLE users ADD COLUMN oidc_subject TEXT;
         CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);
         CREATE TABLE oidc_clients (
             client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash BLOB,
             redirect_uris TEXT NOT NULL, allowed_groups TEXT NOT NULL DEFAULT '',
             alg TEXT NOT NULL, created_at INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE TABLE oidc_keys (
             kid TEXT PRIMARY KEY, alg TEXT NOT NULL, secret BLOB NOT NULL,
             created_at INTEGER NOT NULL, retired_at INTEGER
         ) WITHOUT ROWID;
         CREATE TABLE oidc_grants (
             token_hash BLOB PRIMARY KEY, kind TEXT NOT NULL,
             client_id TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             auth_epoch INTEGER NOT NULL, family BLOB NOT NULL, scope TEXT NOT NULL,
             nonce TEXT, redirect_uri TEXT, code_challenge TEXT, auth_time INTEGER NOT NULL,
             amr TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX oidc_grants_family ON oidc_grants (family);
         CREATE INDEX oidc_grants_user ON oidc_grants (user_id);
         CREATE INDEX oidc_grants_client ON oidc_grants (client_id);",
    ),
    (
        11,
        // An audit row can say more than who and from where: an access
        // refusal's host, path, rule and decision. A session remembers its
        // last proof (a stored session's sign-in is its first). A queued
        // security notice carries its text. A grant knows when its family
        // began (its sign-in is the closest earlier time for old ones). An
        // operator's unlocks wait for the server in a table of their own.
        "ALTER TABLE auth_events ADD COLUMN detail TEXT;
         ALTER TABLE sessions ADD COLUMN proved_at INTEGER NOT NULL DEFAULT 0;
         UPDATE sessions SET proved_at = created_at;
         ALTER TABLE outbox ADD COLUMN notice TEXT;
         ALTER TABLE outbox ADD COLUMN last_error TEXT;
         ALTER TABLE oidc_grants ADD COLUMN issued_at INTEGER NOT NULL DEFAULT 0;
         UPDATE oidc_grants SET issued_at = auth_time;
         CREATE TABLE unlock_requests (
             id INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL);",
    ),
    (
        12,
        // An audit row names the administrator who acted (the admin page);
        // invitations to join a server whose sign-up wants one.
        "ALTER TABLE auth_events ADD COLUMN actor INTEGER;
         CREATE TABLE invites (
             id INTEGER PRIMARY KEY AUTOINCREMENT, token_hash BLOB NOT NULL UNIQUE,
             groups TEXT NOT NULL DEFAULT '', email TEXT, created_by INTEGER,
             created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
             used_at INTEGER, used_by INTEGER, withdrawn_at INTEGER);",
    ),
    (
        13,
        // Signing in through upstream OpenID providers, and who is whom.
        "CREATE TABLE upstreams (
             name TEXT PRIMARY KEY, issuer TEXT NOT NULL, client_id TEXT NOT NULL,
             client_secret TEXT NOT NULL, label TEXT NOT NULL, scope TEXT NOT NULL,
             link_by_email INTEGER NOT NULL DEFAULT 0, create_accounts INTEGER NOT NULL DEFAULT 0,
             allowed_domains TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
         CREATE TABLE upstream_links (
             issuer TEXT NOT NULL, subject TEXT NOT NULL,
             user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
             upstream TEXT NOT NULL, email TEXT, created_at INTEGER NOT NULL, last_used_at INTEGER,
             PRIMARY KEY (issuer, subject)) WITHOUT ROWID;
         CREATE INDEX upstream_links_user ON upstream_links (user_id);",
    ),
];

/// Creates the schema in a new file, or upgrades an older one step by step,
/// in one transaction so a crash leaves the old version intact.
pub(super) fn migrate(connection: &Connection) -> rusqlite::Result<()> {
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
    use crate::storage::Database;
    use crate::storage::*;
    use crate::support::lock::lock;

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

    #[test]
    fn a_change_waits_for_another_process_to_finish_writing() {
        let dir = std::env::temp_dir().join(format!("auth-server-busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let server = Database::open(&path).unwrap();
        let alice = server
            .insert_user("alice", "a@example.com", "h", 1)
            .unwrap();
        // The admin command's own connection, holding the write lock for a
        // moment, as a second process would.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            other.execute_batch("COMMIT").unwrap();
        });
        // Reads the groups, then writes them: it must wait for the lock, not
        // fail with "database is locked".
        let groups = server
            .change_groups(alice.id, &["admins".to_string()], true)
            .unwrap();
        assert_eq!(groups, ["admins"]);
        release.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
