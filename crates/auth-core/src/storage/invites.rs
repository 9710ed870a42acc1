//! The `invites` table: invitations to join, kept as the SHA-256 of their
//! token, and the registration that uses one up.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Database;
use super::error::Result;
use super::users::{InsertError, User, insert_user_in, split_groups};

/// An invitation as stored (never its token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    /// Given to the account it makes.
    pub groups: Vec<String>,
    /// The address the account must use, when the invitation names one.
    pub email: Option<String>,
    /// The administrator who made it; `None` from the shell.
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The account it made.
    pub used_by: Option<i64>,
    pub withdrawn_at: Option<i64>,
}

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteState {
    Open,
    Used,
    Withdrawn,
    Expired,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteState::Open => "open",
            InviteState::Used => "used",
            InviteState::Withdrawn => "withdrawn",
            InviteState::Expired => "expired",
        }
    }
}

impl Invite {
    pub fn state(&self, now: i64) -> InviteState {
        if self.used_at.is_some() {
            InviteState::Used
        } else if self.withdrawn_at.is_some() {
            InviteState::Withdrawn
        } else if self.expires_at <= now {
            InviteState::Expired
        } else {
            InviteState::Open
        }
    }
}

/// What an invitation is made of.
pub struct NewInvite<'a> {
    pub token_hash: &'a [u8],
    pub groups: &'a [String],
    pub email: Option<&'a str>,
    pub created_by: Option<i64>,
    pub now: i64,
    pub expires_at: i64,
}

/// An account to make with an invitation.
pub struct InvitedUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub now: i64,
}

/// Invitations: made, listed, withdrawn, used.
pub trait InviteStore {
    fn insert_invite(&self, invite: &NewInvite) -> Result<Invite>;

    /// Newest first.
    fn invites(&self) -> Result<Vec<Invite>>;

    fn invite_by_token(&self, token_hash: &[u8]) -> Result<Option<Invite>>;

    /// Withdraws an open invitation; whether there was one to withdraw.
    fn withdraw_invite(&self, id: i64, now: i64) -> Result<bool>;

    /// Makes the account and uses the invitation up, in one transaction:
    /// the invitation is claimed only if still open (so of two racing
    /// registrations with one invitation exactly one wins), and the account
    /// gets its groups and, when it names the address, a verified address.
    fn insert_invited_user(
        &self,
        invite_id: i64,
        user: &InvitedUser,
    ) -> std::result::Result<User, InsertError>;
}

const COLUMNS: &str =
    "id, groups, email, created_by, created_at, expires_at, used_at, used_by, withdrawn_at";

fn invite_from_row(row: &Row<'_>) -> rusqlite::Result<Invite> {
    Ok(Invite {
        id: row.get(0)?,
        groups: split_groups(&row.get::<_, String>(1)?),
        email: row.get(2)?,
        created_by: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        used_at: row.get(6)?,
        used_by: row.get(7)?,
        withdrawn_at: row.get(8)?,
    })
}

impl InviteStore for Database {
    fn insert_invite(&self, invite: &NewInvite) -> Result<Invite> {
        let connection = self.writer();
        let sql = format!(
            "INSERT INTO invites (token_hash, groups, email, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {COLUMNS}"
        );
        Ok(connection.prepare_cached(&sql)?.query_row(
            params![
                invite.token_hash,
                invite.groups.join(","),
                invite.email,
                invite.created_by,
                invite.now,
                invite.expires_at
            ],
            invite_from_row,
        )?)
    }

    fn invites(&self) -> Result<Vec<Invite>> {
        let connection = self.writer();
        let sql = format!("SELECT {COLUMNS} FROM invites ORDER BY id DESC");
        let mut statement = connection.prepare_cached(&sql)?;
        statement
            .query_map([], invite_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn invite_by_token(&self, token_hash: &[u8]) -> Result<Option<Invite>> {
        let connection = self.writer();
        let sql = format!("SELECT {COLUMNS} FROM invites WHERE token_hash = ?1");
        Ok(connection
            .prepare_cached(&sql)?
            .query_row([token_hash], invite_from_row)
            .optional()?)
    }

    fn withdraw_invite(&self, id: i64, now: i64) -> Result<bool> {
        let changed = self
            .writer()
            .prepare_cached(
                "UPDATE invites SET withdrawn_at = ?2
                 WHERE id = ?1 AND used_at IS NULL AND withdrawn_at IS NULL",
            )?
            .execute(params![id, now])?;
        Ok(changed == 1)
    }

    fn insert_invited_user(
        &self,
        invite_id: i64,
        user: &InvitedUser,
    ) -> std::result::Result<User, InsertError> {
        let storage = |error: rusqlite::Error| InsertError::Storage(error.into());
        let connection = self.writer();
        let transaction = connection.unchecked_transaction().map_err(storage)?;
        let made = insert_invited_user_in(&transaction, invite_id, user)?;
        transaction.commit().map_err(storage)?;
        Ok(made)
    }
}

/// [`InviteStore::insert_invited_user`]'s work in a transaction the caller
/// commits (a sign-in through a provider links the account in it too).
pub(crate) fn insert_invited_user_in(
    transaction: &Connection,
    invite_id: i64,
    user: &InvitedUser,
) -> std::result::Result<User, InsertError> {
    let storage = |error: rusqlite::Error| InsertError::Storage(error.into());
    let claimed: Option<(String, Option<String>)> = transaction
        .prepare_cached(
            "UPDATE invites SET used_at = ?2
             WHERE id = ?1 AND used_at IS NULL AND withdrawn_at IS NULL AND expires_at > ?2
             RETURNING groups, email",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![invite_id, user.now], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
        .map_err(storage)?;
    let Some((groups, email)) = claimed else {
        return Err(InsertError::InviteGone);
    };
    // The address the invitation was sent to is the one the person read it
    // at (the caller checked the account uses it).
    let verified = email.is_some_and(|email| email.eq_ignore_ascii_case(user.email));
    let made = insert_user_in(
        transaction,
        user.username,
        user.email,
        user.password_hash,
        user.now,
        &split_groups(&groups),
        verified,
    )?;
    transaction
        .prepare_cached("UPDATE invites SET used_by = ?2 WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![invite_id, made.id]))
        .map_err(storage)?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::UserStore;
    use std::path::Path;

    fn invite(db: &Database, hash: &[u8], expires_at: i64) -> Invite {
        db.insert_invite(&NewInvite {
            token_hash: hash,
            groups: &["family".to_string()],
            email: Some("kim@example.com"),
            created_by: Some(1),
            now: 10,
            expires_at,
        })
        .unwrap()
    }

    fn kim(now: i64) -> InvitedUser<'static> {
        InvitedUser {
            username: "kim",
            email: "kim@example.com",
            password_hash: "h",
            now,
        }
    }

    #[test]
    fn an_invite_makes_one_account_with_its_groups_and_then_is_used() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let made = invite(&db, b"a", 100);
        assert_eq!(made.state(20), InviteState::Open);
        assert_eq!(db.invite_by_token(b"a").unwrap(), Some(made.clone()));
        let user = db.insert_invited_user(made.id, &kim(20)).unwrap();
        assert_eq!(user.groups, ["family"]);
        assert!(user.email_verified);
        let used = db.invite_by_token(b"a").unwrap().unwrap();
        assert_eq!((used.used_at, used.used_by), (Some(20), Some(user.id)));
        assert_eq!(used.state(20), InviteState::Used);
        let second = InvitedUser {
            username: "kim2",
            email: "kim2@example.com",
            ..kim(21)
        };
        assert!(matches!(
            db.insert_invited_user(made.id, &second),
            Err(InsertError::InviteGone)
        ));
        assert!(!db.withdraw_invite(made.id, 30).unwrap());
    }

    #[test]
    fn a_withdrawn_or_expired_invite_makes_nothing() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let withdrawn = invite(&db, b"w", 100);
        assert!(db.withdraw_invite(withdrawn.id, 20).unwrap());
        assert!(matches!(
            db.insert_invited_user(withdrawn.id, &kim(21)),
            Err(InsertError::InviteGone)
        ));
        let expired = invite(&db, b"e", 100);
        assert_eq!(expired.state(100), InviteState::Expired);
        assert!(matches!(
            db.insert_invited_user(expired.id, &kim(100)),
            Err(InsertError::InviteGone)
        ));
        assert!(db.user_by_username("kim").unwrap().is_none());
        assert_eq!(db.invites().unwrap().len(), 2);
    }

    #[test]
    fn a_taken_name_leaves_the_invite_open() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        db.insert_user("kim", "other@example.com", "h", 1).unwrap();
        let made = invite(&db, b"t", 100);
        assert!(matches!(
            db.insert_invited_user(made.id, &kim(20)),
            Err(InsertError::UsernameTaken)
        ));
        assert_eq!(
            db.invite_by_token(b"t").unwrap().unwrap().state(20),
            InviteState::Open
        );
    }
}
