//! The `upstreams` table (OpenID providers people may sign in through) and
//! `upstream_links` (which upstream identity is which account).

use rusqlite::{OptionalExtension, Row, params};

use super::Database;
use super::error::Result;
use super::invites::{InvitedUser, insert_invited_user_in};
use super::users::{InsertError, User, as_read, insert_user_in, user_from_row};

/// An upstream provider as the operator added it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// In the URLs: `/auth/upstream/NAME`.
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Sent to the upstream's token endpoint, so stored as it is (the file
    /// is the owner's alone, as for every secret here).
    pub client_secret: String,
    /// The sign-in button's words.
    pub label: String,
    pub scope: String,
    pub link_by_email: bool,
    pub create_accounts: bool,
    /// Lower case; empty: any.
    pub allowed_domains: Vec<String>,
    pub created_at: i64,
}

/// One upstream identity, the account it signs in to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub user_id: i64,
    /// The upstream's name when linked.
    pub upstream: String,
    pub issuer: String,
    /// The upstream's `sub`: with the issuer, the identity (OpenID Connect
    /// Core §5.7: the only claims that identify a person for good).
    pub subject: String,
    /// The address the upstream gave when linked, for the person to see.
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// An account made by a first sign-in through an upstream.
pub struct UpstreamUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    /// Not a bcrypt hash: no password matches it.
    pub password_hash: &'a str,
    pub link: &'a Link,
    /// The invitation it uses up (in the same transaction), if any.
    pub invite_id: Option<i64>,
}

/// Upstreams and links: added, listed, removed.
pub trait UpstreamStore {
    /// `false` when the name is taken.
    fn insert_upstream(&self, upstream: &Upstream) -> Result<bool>;
    fn upstreams(&self) -> Result<Vec<Upstream>>;
    fn upstream(&self, name: &str) -> Result<Option<Upstream>>;
    /// Links stay (keyed by issuer): adding the provider back restores them.
    fn remove_upstream(&self, name: &str) -> Result<bool>;

    fn link_of(&self, issuer: &str, subject: &str) -> Result<Option<Link>>;
    fn links_of(&self, user_id: i64) -> Result<Vec<Link>>;
    /// Links an identity to an account only if the account is still at
    /// `epoch` (unchanged since the proof that allows it): `Ok(None)` when
    /// it changed or is gone, `Ok(Some(false))` when the identity is linked
    /// already.
    fn insert_link(&self, link: &Link, epoch: i64) -> Result<Option<bool>>;
    fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<()>;
    /// Removes the account's link to `upstream` unless it is the account's
    /// last way in (no password, no passkey, no other link), in one
    /// statement so two racing removals cannot both pass. `None`: no such
    /// link; `Some(false)`: it is the last way in.
    fn remove_link(&self, user_id: i64, upstream: &str) -> Result<Option<bool>>;
    /// Makes the account and its link in one transaction.
    fn insert_upstream_user(
        &self,
        user: &UpstreamUser,
        now: i64,
    ) -> std::result::Result<User, InsertError>;
}

const UPSTREAM_COLUMNS: &str = "name, issuer, client_id, client_secret, label, scope, \
     link_by_email, create_accounts, allowed_domains, created_at";
const LINK_COLUMNS: &str = "user_id, upstream, issuer, subject, email, created_at, last_used_at";

fn upstream_from_row(row: &Row<'_>) -> rusqlite::Result<Upstream> {
    Ok(Upstream {
        name: row.get(0)?,
        issuer: row.get(1)?,
        client_id: row.get(2)?,
        client_secret: row.get(3)?,
        label: row.get(4)?,
        scope: row.get(5)?,
        link_by_email: row.get(6)?,
        create_accounts: row.get(7)?,
        allowed_domains: row
            .get::<_, String>(8)?
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: row.get(9)?,
    })
}

fn link_from_row(row: &Row<'_>) -> rusqlite::Result<Link> {
    Ok(Link {
        user_id: row.get(0)?,
        upstream: row.get(1)?,
        issuer: row.get(2)?,
        subject: row.get(3)?,
        email: row.get(4)?,
        created_at: row.get(5)?,
        last_used_at: row.get(6)?,
    })
}

fn insert_link_in(connection: &rusqlite::Connection, link: &Link) -> rusqlite::Result<bool> {
    let sql = format!(
        "INSERT OR IGNORE INTO upstream_links ({LINK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    );
    let added = connection.prepare_cached(&sql)?.execute(params![
        link.user_id,
        link.upstream,
        link.issuer,
        link.subject,
        link.email,
        link.created_at,
        link.last_used_at
    ])?;
    Ok(added == 1)
}

impl UpstreamStore for Database {
    fn insert_upstream(&self, upstream: &Upstream) -> Result<bool> {
        let sql = format!(
            "INSERT OR IGNORE INTO upstreams ({UPSTREAM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        );
        let added = self.writer().prepare_cached(&sql)?.execute(params![
            upstream.name,
            upstream.issuer,
            upstream.client_id,
            upstream.client_secret,
            upstream.label,
            upstream.scope,
            upstream.link_by_email,
            upstream.create_accounts,
            upstream.allowed_domains.join(","),
            upstream.created_at
        ])?;
        Ok(added == 1)
    }

    fn upstreams(&self) -> Result<Vec<Upstream>> {
        let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams ORDER BY name");
        Ok(self.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_map([], upstream_from_row)?
                .collect()
        })?)
    }

    fn upstream(&self, name: &str) -> Result<Option<Upstream>> {
        let sql = format!("SELECT {UPSTREAM_COLUMNS} FROM upstreams WHERE name = ?1");
        Ok(self.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_row([name], upstream_from_row)
                .optional()
        })?)
    }

    fn remove_upstream(&self, name: &str) -> Result<bool> {
        let removed = self
            .writer()
            .prepare_cached("DELETE FROM upstreams WHERE name = ?1")?
            .execute([name])?;
        Ok(removed == 1)
    }

    fn link_of(&self, issuer: &str, subject: &str) -> Result<Option<Link>> {
        let sql =
            format!("SELECT {LINK_COLUMNS} FROM upstream_links WHERE issuer = ?1 AND subject = ?2");
        Ok(self
            .writer()
            .prepare_cached(&sql)?
            .query_row([issuer, subject], link_from_row)
            .optional()?)
    }

    fn links_of(&self, user_id: i64) -> Result<Vec<Link>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM upstream_links WHERE user_id = ?1 ORDER BY upstream"
        );
        let connection = self.writer();
        let mut statement = connection.prepare_cached(&sql)?;
        Ok(statement
            .query_map([user_id], link_from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn insert_link(&self, link: &Link, epoch: i64) -> Result<Option<bool>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        if !as_read(&transaction, link.user_id, epoch)? {
            return Ok(None);
        }
        let added = insert_link_in(&transaction, link)?;
        transaction.commit()?;
        Ok(Some(added))
    }

    fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<()> {
        self.writer()
            .prepare_cached(
                "UPDATE upstream_links SET last_used_at = ?3 WHERE issuer = ?1 AND subject = ?2",
            )?
            .execute(params![issuer, subject, now])?;
        Ok(())
    }

    fn remove_link(&self, user_id: i64, upstream: &str) -> Result<Option<bool>> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let exists = transaction
            .prepare_cached("SELECT 1 FROM upstream_links WHERE user_id = ?1 AND upstream = ?2")?
            .exists(params![user_id, upstream])?;
        if !exists {
            return Ok(None);
        }
        // Another way in: a password (a bcrypt hash starts with `$2`), a
        // passkey, or a second link.
        let other_way: bool = transaction
            .prepare_cached(
                "SELECT (SELECT password_hash LIKE '$2%' FROM users WHERE id = ?1)
                     OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?1)
                     OR EXISTS (SELECT 1 FROM upstream_links WHERE user_id = ?1 AND upstream <> ?2)",
            )?
            .query_row(params![user_id, upstream], |row| row.get(0))?;
        if !other_way {
            return Ok(Some(false));
        }
        transaction
            .prepare_cached("DELETE FROM upstream_links WHERE user_id = ?1 AND upstream = ?2")?
            .execute(params![user_id, upstream])?;
        transaction.commit()?;
        Ok(Some(true))
    }

    fn insert_upstream_user(
        &self,
        user: &UpstreamUser,
        now: i64,
    ) -> std::result::Result<User, InsertError> {
        let storage = |error: rusqlite::Error| InsertError::Storage(error.into());
        let connection = self.writer();
        let transaction = connection.unchecked_transaction().map_err(storage)?;
        let made = match user.invite_id {
            None => insert_user_in(
                &transaction,
                user.username,
                user.email,
                user.password_hash,
                now,
                &[],
                user.email_verified,
            )?,
            Some(invite_id) => {
                let invited = InvitedUser {
                    username: user.username,
                    email: user.email,
                    password_hash: user.password_hash,
                    now,
                };
                let made = insert_invited_user_in(&transaction, invite_id, &invited)?;
                if user.email_verified {
                    transaction
                        .prepare_cached("UPDATE users SET email_verified = 1 WHERE id = ?1")
                        .and_then(|mut s| s.execute([made.id]))
                        .map_err(storage)?;
                }
                made
            }
        };
        let link = Link {
            user_id: made.id,
            ..user.link.clone()
        };
        if !insert_link_in(&transaction, &link).map_err(storage)? {
            // Linked meanwhile by another sign-in: that one stands.
            return Err(InsertError::Storage(super::StorageError::Internal(
                "the identity was linked meanwhile".into(),
            )));
        }
        let stored = transaction
            .prepare_cached("SELECT * FROM users WHERE id = ?1")
            .and_then(|mut s| s.query_row([made.id], user_from_row))
            .map_err(storage)?;
        transaction.commit().map_err(storage)?;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn link(user_id: i64, upstream: &str, subject: &str) -> Link {
        Link {
            user_id,
            upstream: upstream.into(),
            issuer: format!("https://{upstream}.example"),
            subject: subject.into(),
            email: None,
            created_at: 1,
            last_used_at: None,
        }
    }

    #[test]
    fn a_link_is_not_removed_when_it_is_the_last_way_in() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let made = db
            .insert_upstream_user(
                &UpstreamUser {
                    username: "ann",
                    email: "ann@example.com",
                    email_verified: true,
                    password_hash: "!",
                    link: &link(0, "one", "s1"),
                    invite_id: None,
                },
                1,
            )
            .unwrap();
        assert_eq!(
            db.link_of("https://one.example", "s1")
                .unwrap()
                .unwrap()
                .user_id,
            made.id
        );
        assert_eq!(db.remove_link(made.id, "one").unwrap(), Some(false));
        assert_eq!(
            db.insert_link(&link(made.id, "two", "s2"), made.auth_epoch)
                .unwrap(),
            Some(true)
        );
        assert_eq!(
            db.insert_link(&link(made.id, "two", "s2"), made.auth_epoch)
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            db.insert_link(&link(made.id, "three", "s3"), made.auth_epoch + 1)
                .unwrap(),
            None
        );
        assert_eq!(db.remove_link(made.id, "one").unwrap(), Some(true));
        assert_eq!(db.remove_link(made.id, "one").unwrap(), None);
        assert_eq!(db.remove_link(made.id, "two").unwrap(), Some(false));
    }
}
