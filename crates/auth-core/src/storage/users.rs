//! The `users` table: accounts, their credentials and auth epochs. Every
//! change made after a credential check is guarded by [`Checked`].

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::audit::{Event, insert_event_in};
use super::error::{Result, StorageError};
use super::sessions::{self, SessionRow};
use super::{Database, DatabaseFile};

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
    /// Sorted; each a group name (`auth::access::is_group_name`).
    pub groups: Vec<String>,
    /// The WebAuthn user handle, once a passkey was first set up.
    pub passkey_handle: Option<Vec<u8>>,
    /// The subject apps know the account by, from its first sign-in to one
    /// (OpenID Connect Core §8).
    pub oidc_subject: Option<String>,
}

impl User {
    pub fn totp_enabled(&self) -> bool {
        self.totp_secret.is_some()
    }

    /// Whether a password can sign this account in: its hash is bcrypt's
    /// (`$2…`), not the placeholder of an account a provider made.
    pub fn has_password(&self) -> bool {
        self.password_hash.starts_with("$2")
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
/// account is still as it was, compared in the changing statement itself:
/// a session revoked, a password changed or two-factor login turned off
/// by someone else while this request waited for bcrypt makes the change
/// fail instead of undoing theirs. The admin
/// command, which checks no credential, passes `None`.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    pub epoch: i64,
    pub password_hash: &'a str,
}

/// The statement parameters ?2 and ?3 of a guarded change.
pub(crate) fn guard(checked: Option<Checked<'_>>) -> (Option<i64>, Option<&str>) {
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

/// Why a new user could not be stored.
#[derive(Debug)]
pub enum InsertError {
    UsernameTaken,
    EmailTaken,
    /// The invitation was used, withdrawn or expired meanwhile (another
    /// registration won the race for it).
    InviteGone,
    Storage(StorageError),
}

/// The accounts: finding, adding and changing them.
pub trait UserStore {
    /// Stores a new user. Uniqueness is the database's to decide, so two
    /// simultaneous registrations of one name have exactly one winner. Its
    /// auth epoch starts at a random value, so its sessions belong to it
    /// alone (see schema.sql).
    fn insert_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> std::result::Result<User, InsertError>;

    fn user_by_id(&self, id: i64) -> Result<Option<User>>;

    /// Case-insensitive, like the uniqueness rule.
    fn user_by_username(&self, username: &str) -> Result<Option<User>>;

    /// `email` is expected lower-case, as stored.
    fn user_by_email(&self, email: &str) -> Result<Option<User>>;

    /// The account a person means by `identifier`: an email when it has an
    /// `@` (usernames cannot contain one), otherwise a username. The one
    /// lookup both the login and the admin command use.
    fn user_by_identifier(&self, identifier: &str) -> Result<Option<User>>;

    /// Records a successful login and returns the user as it now is, with
    /// the time of the login before this one, but only if the account is
    /// still the one whose password was checked: same id and the same
    /// `auth_epoch` as read with the hash. A password change, a disable or
    /// a deletion in between makes this `None`, so a login checked against
    /// an old password can never open a session that outlives the change.
    ///
    /// `write` (the new session's row with the previous login time filled
    /// in, the sessions it ends, its audit event) goes in the same
    /// transaction, so a session the client was told about survives a
    /// crash the instant after, and all of it is one commit.
    fn record_login(
        &self,
        id: i64,
        checked_epoch: i64,
        now: i64,
        write: SignInWrite,
    ) -> Result<Option<(User, Option<i64>)>>;

    /// Replaces a hash with one of the same password at the configured
    /// cost, only if the account is as checked: a rehash must never put
    /// back a password that was changed meanwhile.
    fn rehash_password(&self, id: i64, checked: Checked<'_>, password_hash: &str) -> Result<()>;

    /// Sets a new password hash and ends every session of the user by
    /// bumping the epoch. Returns the new epoch, or `None` if the user is
    /// gone or no longer as `checked`.
    ///
    /// Every stored session of the user goes too, and `keep` (the caller's
    /// session under its new token, when sessions are stored) is written in
    /// the same transaction under the new epoch.
    fn change_password(
        &self,
        id: i64,
        checked: Option<Checked<'_>>,
        password_hash: &str,
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>>;

    /// Disables or enables an account; either way its sessions end, in
    /// memory (the epoch) and on disk (the rows).
    fn set_disabled(&self, id: i64, disabled: bool) -> Result<bool>;

    /// Deletes an account; its username and email are free again, and
    /// (secure_delete, then a checkpoint) no longer readable in the files.
    /// Its id is never given to another account (AUTOINCREMENT). `false`
    /// if the user is gone or no longer as `checked`.
    fn delete_user(&self, id: i64, checked: Option<Checked<'_>>) -> Result<bool>;

    /// Adds (`add`) or removes groups of a user, in one transaction; the
    /// user's groups after, sorted. Group changes take effect on the next
    /// request (the row every session check reads holds them) and end no
    /// session.
    fn change_groups(&self, user_id: i64, groups: &[String], add: bool) -> Result<Vec<String>>;

    /// The usernames of a group's members, sorted.
    fn group_members(&self, group: &str) -> Result<Vec<String>>;

    fn list_users(&self) -> Result<Vec<User>>;

    /// One page of the accounts whose username or email contains `query`
    /// (any case), oldest first, each with its number of passkeys; and how
    /// many match in all.
    fn search_users(&self, query: &str, limit: u32, offset: u32)
    -> Result<(Vec<(User, i64)>, i64)>;

    /// Marks the address verified or not (an administrator's correction).
    fn set_email_verified_to(&self, id: i64, verified: bool) -> Result<bool>;
}

impl UserStore for Database {
    fn insert_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> std::result::Result<User, InsertError> {
        let connection = self.writer();
        insert_user_in(&connection, username, email, password_hash, now, &[], false)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(self.query_user("SELECT * FROM users WHERE id = ?1", &id)?)
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.query_user(
            "SELECT * FROM users WHERE username = ?1 COLLATE NOCASE",
            &username,
        )?)
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(self.query_user(
            "SELECT * FROM users WHERE email = ?1 COLLATE NOCASE",
            &email,
        )?)
    }

    fn user_by_identifier(&self, identifier: &str) -> Result<Option<User>> {
        if identifier.contains('@') {
            self.user_by_email(&identifier.trim().to_lowercase())
        } else {
            self.user_by_username(identifier)
        }
    }

    fn record_login(
        &self,
        id: i64,
        checked_epoch: i64,
        now: i64,
        write: SignInWrite,
    ) -> Result<Option<(User, Option<i64>)>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let recorded = record_login_in(&transaction, id, checked_epoch, now, write)?;
        if recorded.is_some() {
            transaction.commit()?;
        }
        Ok(recorded)
    }

    fn rehash_password(&self, id: i64, checked: Checked<'_>, password_hash: &str) -> Result<()> {
        let (epoch, old_hash) = guard(Some(checked));
        let connection = self.writer();
        connection
            .prepare_cached(concat!(
                "UPDATE users SET password_hash = ?4 WHERE id = ?1 AND ",
                unchanged!()
            ))?
            .execute(params![id, epoch, old_hash, password_hash])?;
        Ok(())
    }

    fn change_password(
        &self,
        id: i64,
        checked: Option<Checked<'_>>,
        password_hash: &str,
        keep: Option<SessionRow>,
    ) -> Result<Option<i64>> {
        let (epoch, old_hash) = guard(checked);
        let connection = self.writer();
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

    fn set_disabled(&self, id: i64, disabled: bool) -> Result<bool> {
        let connection = self.writer();
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

    fn delete_user(&self, id: i64, checked: Option<Checked<'_>>) -> Result<bool> {
        let (epoch, old_hash) = guard(checked);
        let deleted = {
            let connection = self.writer();
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

    fn change_groups(&self, user_id: i64, groups: &[String], add: bool) -> Result<Vec<String>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let column: String = transaction
            .prepare_cached("SELECT groups FROM users WHERE id = ?1")?
            .query_row([user_id], |row| row.get(0))?;
        let mut now: Vec<String> = split_groups(&column);
        for group in groups {
            if add && !now.contains(group) {
                now.push(group.clone());
            } else if !add {
                now.retain(|g| g != group);
            }
        }
        now.sort();
        transaction
            .prepare_cached("UPDATE users SET groups = ?2 WHERE id = ?1")?
            .execute(params![user_id, now.join(",")])?;
        transaction.commit()?;
        Ok(now)
    }

    fn group_members(&self, group: &str) -> Result<Vec<String>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(
            "SELECT username FROM users WHERE ',' || groups || ',' LIKE '%,' || ?1 || ',%' ESCAPE '\\'
             ORDER BY username",
        )?;
        // Group names hold no LIKE wildcard but `_`: escaped.
        let pattern = group.replace('_', "\\_");
        statement
            .query_map([pattern], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn search_users(
        &self,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<(User, i64)>, i64)> {
        // The query is data, never SQL: LIKE's wildcards in it are escaped.
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        Ok(self.query_user_page(&format!("%{escaped}%"), limit, offset)?)
    }

    fn set_email_verified_to(&self, id: i64, verified: bool) -> Result<bool> {
        let changed = self
            .writer()
            .prepare_cached("UPDATE users SET email_verified = ?2 WHERE id = ?1")?
            .execute(params![id, verified])?;
        Ok(changed == 1)
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached("SELECT * FROM users ORDER BY id")?;
        statement
            .query_map([], user_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }
}

impl Database {
    fn query_user_page(
        &self,
        pattern: &str,
        limit: u32,
        offset: u32,
    ) -> rusqlite::Result<(Vec<(User, i64)>, i64)> {
        self.read(|connection| Self::user_page_in(connection, pattern, limit, offset))
    }

    fn user_page_in(
        connection: &Connection,
        pattern: &str,
        limit: u32,
        offset: u32,
    ) -> rusqlite::Result<(Vec<(User, i64)>, i64)> {
        let total = connection
            .prepare_cached(
                "SELECT count(*) FROM users
                 WHERE username LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\'",
            )?
            .query_row([pattern], |row| row.get(0))?;
        let mut statement = connection.prepare_cached(
            "SELECT *, (SELECT count(*) FROM passkeys WHERE passkeys.user_id = users.id) AS passkey_count
             FROM users WHERE username LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\'
             ORDER BY id LIMIT ?2 OFFSET ?3",
        )?;
        let page = statement
            .query_map(params![pattern, limit, offset], |row| {
                Ok((user_from_row(row)?, row.get("passkey_count")?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((page, total))
    }

    fn query_user(&self, sql: &str, key: &dyn rusqlite::ToSql) -> rusqlite::Result<Option<User>> {
        let connection = self.writer();
        let mut statement = connection.prepare_cached(sql)?;
        statement.query_row([key], user_from_row).optional()
    }
}

/// A random starting epoch (63 bits, positive), so that no two accounts
/// ever share an (id, epoch) pair by counting up from the same start.
fn initial_epoch() -> rusqlite::Result<i64> {
    getrandom::u64()
        .map(|n| (n >> 1) as i64)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
}

/// Stores a new account in `connection` (a transaction, when the caller
/// does more in the same one): with `groups` and, when an invitation named
/// the address, the address counted as verified.
pub(crate) fn insert_user_in(
    connection: &Connection,
    username: &str,
    email: &str,
    password_hash: &str,
    now: i64,
    groups: &[String],
    email_verified: bool,
) -> std::result::Result<User, InsertError> {
    let auth_epoch = initial_epoch().map_err(|e| InsertError::Storage(e.into()))?;
    let inserted = connection
        .prepare_cached(
            "INSERT INTO users (username, email, password_hash, created_at, auth_epoch, groups, email_verified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                username,
                email,
                password_hash,
                now,
                auth_epoch,
                groups.join(","),
                email_verified
            ])
        });
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
            email_verified,
            totp_secret: None,
            totp_pending: None,
            groups: groups.to_vec(),
            passkey_handle: None,
            oidc_subject: None,
        }),
        Err(error) => Err(classify_insert_error(error)),
    }
}

/// What a sign-in stores in the transaction that records it, so that all of
/// it commits at once or none of it does: one commit, one `fsync`.
#[derive(Debug, Default)]
pub struct SignInWrite {
    /// The new session's row, when sessions are stored.
    pub session: Option<SessionRow>,
    /// The rows of the sessions the browser brought, which it ends.
    pub ended: Vec<[u8; 32]>,
    /// The audit event that tells of it.
    pub event: Option<Event>,
}

/// [`Database::record_login`]'s work inside a transaction the caller
/// commits (a passkey sign-in also moves the passkey's counter in it).
pub(crate) fn record_login_in(
    transaction: &Connection,
    id: i64,
    checked_epoch: i64,
    now: i64,
    write: SignInWrite,
) -> Result<Option<(User, Option<i64>)>> {
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
    if let Some(mut row) = write.session {
        row.previous_login_at = previous;
        sessions::insert(transaction, &row)?;
    }
    sessions::delete(transaction, &write.ended)?;
    if let Some(event) = &write.event {
        insert_event_in(transaction, event)?;
    }
    Ok(Some((user, previous)))
}

/// Whether the account is still as a check read it: there, at `epoch`, and
/// not disabled. A change made after a credential check asks this in its
/// own transaction, so it commits only if the account is as it was.
pub(crate) fn as_read(connection: &Connection, user_id: i64, epoch: i64) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1 AND auth_epoch = ?2 AND disabled = 0")?
        .exists(params![user_id, epoch])
}

pub(crate) fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
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
        groups: split_groups(&row.get::<_, String>("groups")?),
        passkey_handle: row.get("passkey_handle")?,
        oidc_subject: row.get("oidc_subject")?,
    })
}

/// The column's form: sorted, comma-separated.
pub(crate) fn split_groups(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
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
    InsertError::Storage(error.into())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::storage::*;

    fn database() -> Database {
        Database::open(Path::new(":memory:")).unwrap()
    }

    #[test]
    fn groups_are_added_removed_sorted_and_listed() {
        let db = database();
        let alice = db.insert_user("alice", "a@example.com", "h", 1).unwrap();
        let bob = db.insert_user("bob", "b@example.com", "h", 1).unwrap();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            db.change_groups(alice.id, &names(&["media", "admins", "media"]), true)
                .unwrap(),
            names(&["admins", "media"])
        );
        db.change_groups(bob.id, &names(&["media_x"]), true)
            .unwrap();
        assert_eq!(db.group_members("media").unwrap(), names(&["alice"]));
        assert_eq!(db.group_members("media_x").unwrap(), names(&["bob"]));
        assert_eq!(
            db.group_members("mediax").unwrap(),
            names(&[]),
            "_ is no wildcard"
        );
        assert_eq!(
            db.change_groups(alice.id, &names(&["media"]), false)
                .unwrap(),
            names(&["admins"])
        );
        assert_eq!(
            db.user_by_id(alice.id).unwrap().unwrap().groups,
            names(&["admins"])
        );
        let epoch = alice.auth_epoch;
        assert_eq!(
            db.user_by_id(alice.id).unwrap().unwrap().auth_epoch,
            epoch,
            "no sign-out"
        );
    }

    #[test]
    fn a_search_matches_names_and_addresses_and_treats_wildcards_as_text() {
        let db = database();
        for name in ["alice", "bob", "al_x"] {
            db.insert_user(name, &format!("{name}@example.com"), "h", 1)
                .unwrap();
        }
        let names = |query: &str, limit, offset| {
            let (page, total) = db.search_users(query, limit, offset).unwrap();
            let names: Vec<String> = page.into_iter().map(|(u, _)| u.username).collect();
            (names, total)
        };
        assert_eq!(names("AL", 10, 0), (vec!["alice".into(), "al_x".into()], 2));
        assert_eq!(names("_", 10, 0), (vec!["al_x".into()], 1));
        assert_eq!(names("%", 10, 0), (vec![], 0));
        assert_eq!(names("example", 1, 1), (vec!["bob".into()], 3));
        assert_eq!(names("", 10, 0).1, 3);
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
        let (after_first, previous) = db
            .record_login(user.id, epoch, 10, SignInWrite::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            (after_first.login_count, after_first.last_login_at, previous),
            (1, Some(10), None)
        );
        let (after_second, previous) = db
            .record_login(user.id, epoch, 20, SignInWrite::default())
            .unwrap()
            .unwrap();
        assert_eq!((after_second.login_count, previous), (2, Some(10)));
        assert!(
            db.record_login(999, epoch, 30, SignInWrite::default())
                .unwrap()
                .is_none()
        );
        // Changed since the password was checked: no login.
        db.change_password(user.id, None, "h2", None).unwrap();
        assert!(
            db.record_login(user.id, epoch, 40, SignInWrite::default())
                .unwrap()
                .is_none()
        );
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
}
