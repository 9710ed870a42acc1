//! OpenID Connect in the database: the clients the operator registered,
//! the ID-token signing keys, each account's subject identifier, and the
//! grants (authorization codes, access and refresh tokens), each stored
//! only as the SHA-256 of its random value.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Row, params};

use super::Database;
use super::audit::{Event, insert_event_in};
use super::error::Result;
use super::users::as_read;

/// A registered client (relying party).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcClient {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client, which must use
    /// PKCE instead.
    pub secret_hash: Option<Vec<u8>>,
    /// Matched exactly (no prefix, no wildcard).
    pub redirect_uris: Vec<String>,
    /// Empty: anyone signed in (the access rules aside).
    pub allowed_groups: Vec<String>,
    /// `RS256` or `ES256`: how its ID tokens are signed.
    pub alg: String,
    pub created_at: i64,
}

/// A stored signing key.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
    /// When a newer key of its algorithm took over.
    pub retired_at: Option<i64>,
}

/// What a grant's kind is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    Code,
    Access,
    Refresh,
}

impl GrantKind {
    fn as_str(self) -> &'static str {
        match self {
            GrantKind::Code => "code",
            GrantKind::Access => "access",
            GrantKind::Refresh => "refresh",
        }
    }
}

/// A code or token: who, for which client, with what, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub hash: [u8; 32],
    pub kind: GrantKind,
    pub client_id: String,
    pub user_id: i64,
    /// The account's auth epoch when granted: a password change, disable,
    /// revoke-sessions or deletion ends every grant with the sessions.
    pub auth_epoch: i64,
    /// Every token issued from one code shares it.
    pub family: [u8; 32],
    pub scope: String,
    pub nonce: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
    /// When the family's code was issued: a refresh token family's
    /// absolute lifetime counts from here.
    pub issued_at: i64,
}

/// An access token as userinfo reads it: the grant and its client, kept in
/// memory once read (`cache.rs`).
#[derive(Debug)]
pub struct AccessGrant {
    pub grant: Grant,
    pub client: OidcClient,
}

/// What exchanging a code or refresh token did.
#[derive(Debug, PartialEq, Eq)]
pub enum Exchanged {
    /// Spent, and the new grants and the event stored, in one commit.
    Done,
    /// Spent by another request since it was read: nothing was stored.
    SpentMeanwhile,
    /// The account was disabled or changed its auth epoch since it was
    /// read: nothing was stored.
    AccountChanged,
}

/// What spending a single-use grant found.
#[derive(Debug, PartialEq, Eq)]
pub enum Spent {
    /// Unused until now; now used.
    Fresh(Box<Grant>),
    /// Used before: its whole family, of this account and client, has
    /// just been revoked (RFC 6749 §4.1.2, §10.4).
    Replayed {
        user_id: i64,
        client_id: String,
    },
    Unknown,
}

/// OpenID Connect clients, keys, subjects and grants.
pub trait OidcStore {
    fn add_oidc_client(&self, client: &OidcClient) -> Result<()>;

    fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>>;

    fn oidc_clients(&self) -> Result<Vec<OidcClient>>;

    /// Removes a client and (by the foreign key) every code and token it
    /// holds; `false` if there is no such client.
    fn remove_oidc_client(&self, client_id: &str) -> Result<bool>;

    /// Every key, newest first (RS256 before ES256 of the same age).
    fn oidc_keys(&self) -> Result<Vec<StoredKey>>;

    /// Adds a key of its algorithm and retires the ones before it, in one
    /// transaction; keys retired before `forget_before` are deleted.
    fn add_oidc_key(&self, key: &StoredKey, forget_before: i64) -> Result<()>;

    /// Gives the account the subject `fresh` unless it has one already (two
    /// first sign-ins at once agree); the subject it has, `None` if the
    /// account is gone.
    fn set_oidc_subject(&self, user_id: i64, fresh: &str) -> Result<Option<String>>;

    /// Stores a grant and the audit event that tells of it, in one commit.
    fn add_grant(&self, grant: &Grant, event: &Event) -> Result<()>;

    /// Spends a code or refresh token: `Fresh` the first time; a second
    /// use revokes every grant of its family and is `Replayed`.
    fn spend_grant(&self, hash: &[u8; 32], kind: GrantKind, now: i64) -> Result<Spent>;

    /// An unspent grant of `kind` by its hash.
    fn grant(&self, hash: &[u8; 32], kind: GrantKind) -> Result<Option<Grant>>;

    /// A stored access token and its client, from memory when it can be:
    /// no database read on userinfo's hot path (`cache.rs` says how it
    /// stays true).
    fn access_grant(&self, hash: &[u8; 32]) -> Result<Option<Arc<AccessGrant>>>;

    /// The token endpoint's write, in one transaction and one commit:
    /// spends the code or refresh token read before (unless another request
    /// spent it meanwhile), checks that its account is still as it was when
    /// read (`user_id` at `auth_epoch`, not disabled: a change made after
    /// a check commits only if the account is as it was), stores the new
    /// grants and the audit event.
    fn exchange_grant(
        &self,
        hash: &[u8; 32],
        kind: GrantKind,
        now: i64,
        account: (i64, i64),
        issued: &[Grant],
        event: Option<&Event>,
    ) -> Result<Exchanged>;

    /// Revokes a token and every grant of its family (RFC 7009 §2.1: a
    /// revoked refresh token takes its access tokens with it); `false` if
    /// there was no such token of that client.
    fn revoke_grant(&self, hash: &[u8; 32], client_id: &str) -> Result<bool>;

    /// Ends every grant of an account (sign out everywhere).
    fn revoke_user_grants(&self, user_id: i64) -> Result<()>;

    /// Forgets grants expired for a day (a used code or token is kept until
    /// then, so a replay is still recognised).
    fn prune_grants(&self, now: i64) -> Result<usize>;

    fn count_oidc_clients(&self) -> Result<i64>;
}

impl OidcStore for Database {
    fn add_oidc_client(&self, client: &OidcClient) -> Result<()> {
        let connection = self.writer();
        connection
            .prepare_cached(
                "INSERT INTO oidc_clients (client_id, name, secret_hash, redirect_uris,
                                           allowed_groups, alg, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                client.client_id,
                client.name,
                client.secret_hash,
                client.redirect_uris.join("\n"),
                client.allowed_groups.join(","),
                client.alg,
                client.created_at,
            ])?;
        Ok(())
    }

    fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached("SELECT * FROM oidc_clients WHERE client_id = ?1")?
            .query_row([client_id], client_from_row)
            .optional()?)
    }

    fn oidc_clients(&self) -> Result<Vec<OidcClient>> {
        let connection = self.writer();
        let mut statement = connection
            .prepare_cached("SELECT * FROM oidc_clients ORDER BY created_at, client_id")?;
        statement
            .query_map([], client_from_row)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn remove_oidc_client(&self, client_id: &str) -> Result<bool> {
        let connection = self.writer();
        let removed = connection
            .prepare_cached("DELETE FROM oidc_clients WHERE client_id = ?1")?
            .execute([client_id])?;
        // Its tokens went with it (the foreign key).
        self.rows.grants_changed();
        Ok(removed == 1)
    }

    fn oidc_keys(&self) -> Result<Vec<StoredKey>> {
        let connection = self.writer();
        let mut statement = connection
            .prepare_cached("SELECT * FROM oidc_keys ORDER BY created_at DESC, alg DESC, kid")?;
        statement
            .query_map([], |row| {
                Ok(StoredKey {
                    kid: row.get("kid")?,
                    alg: row.get("alg")?,
                    secret: row.get("secret")?,
                    created_at: row.get("created_at")?,
                    retired_at: row.get("retired_at")?,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    fn add_oidc_key(&self, key: &StoredKey, forget_before: i64) -> Result<()> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        transaction
            .prepare_cached(
                "UPDATE oidc_keys SET retired_at = ?2 WHERE alg = ?1 AND retired_at IS NULL",
            )?
            .execute(params![key.alg, key.created_at])?;
        transaction
            .prepare_cached("DELETE FROM oidc_keys WHERE retired_at < ?1")?
            .execute([forget_before])?;
        transaction
            .prepare_cached(
                "INSERT INTO oidc_keys (kid, alg, secret, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![key.kid, key.alg, key.secret, key.created_at])?;
        Ok(transaction.commit()?)
    }

    fn set_oidc_subject(&self, user_id: i64, fresh: &str) -> Result<Option<String>> {
        Ok(self
            .writer()
            .prepare_cached(
                "UPDATE users SET oidc_subject = coalesce(oidc_subject, ?2)
                 WHERE id = ?1 RETURNING oidc_subject",
            )?
            .query_row(params![user_id, fresh], |row| row.get(0))
            .optional()?)
    }

    fn add_grant(&self, grant: &Grant, event: &Event) -> Result<()> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        insert_grant(&transaction, grant)?;
        insert_event_in(&transaction, event)?;
        Ok(transaction.commit()?)
    }

    fn exchange_grant(
        &self,
        hash: &[u8; 32],
        kind: GrantKind,
        now: i64,
        (user_id, auth_epoch): (i64, i64),
        issued: &[Grant],
        event: Option<&Event>,
    ) -> Result<Exchanged> {
        let connection = self.writer();
        let transaction = connection.unchecked_transaction()?;
        let spent = transaction
            .prepare_cached(
                "UPDATE oidc_grants SET used_at = ?3
                 WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL",
            )?
            .execute(params![hash, kind.as_str(), now])?;
        if spent == 0 {
            return Ok(Exchanged::SpentMeanwhile);
        }
        if !as_read(&transaction, user_id, auth_epoch)? {
            return Ok(Exchanged::AccountChanged);
        }
        for grant in issued {
            insert_grant(&transaction, grant)?;
        }
        if let Some(event) = event {
            insert_event_in(&transaction, event)?;
        }
        transaction.commit()?;
        Ok(Exchanged::Done)
    }

    fn access_grant(&self, hash: &[u8; 32]) -> Result<Option<Arc<AccessGrant>>> {
        self.notice_other_writers()?;
        let (cached, version) = self.rows.access(hash);
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.read(|connection| {
            let grant = connection
                .prepare_cached(
                    "SELECT * FROM oidc_grants
                     WHERE token_hash = ?1 AND kind = 'access' AND used_at IS NULL",
                )?
                .query_row([hash], grant_from_row)
                .optional()?;
            let Some(grant) = grant else {
                return Ok(None);
            };
            let client = connection
                .prepare_cached("SELECT * FROM oidc_clients WHERE client_id = ?1")?
                .query_row([&grant.client_id], client_from_row)
                .optional()?;
            Ok(client.map(|client| Arc::new(AccessGrant { grant, client })))
        })?;
        if let Some(found) = &found {
            self.rows.put_access(Arc::clone(found), version);
        }
        Ok(found)
    }

    fn spend_grant(&self, hash: &[u8; 32], kind: GrantKind, now: i64) -> Result<Spent> {
        let connection = self.writer();
        let fresh = connection
            .prepare_cached(
                "UPDATE oidc_grants SET used_at = ?3
                 WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL RETURNING *",
            )?
            .query_row(params![hash, kind.as_str(), now], grant_from_row)
            .optional()?;
        if let Some(grant) = fresh {
            return Ok(Spent::Fresh(Box::new(grant)));
        }
        let spent: Option<([u8; 32], i64, String)> = connection
            .prepare_cached(
                "SELECT family, user_id, client_id FROM oidc_grants WHERE token_hash = ?1 AND kind = ?2",
            )?
            .query_row(params![hash, kind.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        let Some((family, user_id, client_id)) = spent else {
            return Ok(Spent::Unknown);
        };
        connection
            .prepare_cached("DELETE FROM oidc_grants WHERE family = ?1")?
            .execute([family])?;
        self.rows.grants_changed();
        Ok(Spent::Replayed { user_id, client_id })
    }

    fn grant(&self, hash: &[u8; 32], kind: GrantKind) -> Result<Option<Grant>> {
        let connection = self.writer();
        Ok(connection
            .prepare_cached(
                "SELECT * FROM oidc_grants WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL",
            )?
            .query_row(params![hash, kind.as_str()], grant_from_row)
            .optional()?)
    }

    fn revoke_grant(&self, hash: &[u8; 32], client_id: &str) -> Result<bool> {
        let connection = self.writer();
        let family: Option<[u8; 32]> = connection
            .prepare_cached(
                "SELECT family FROM oidc_grants WHERE token_hash = ?1 AND client_id = ?2",
            )?
            .query_row(params![hash, client_id], |row| row.get(0))
            .optional()?;
        let Some(family) = family else {
            return Ok(false);
        };
        connection
            .prepare_cached("DELETE FROM oidc_grants WHERE family = ?1")?
            .execute([family])?;
        self.rows.grants_changed();
        Ok(true)
    }

    fn revoke_user_grants(&self, user_id: i64) -> Result<()> {
        let connection = self.writer();
        connection
            .prepare_cached("DELETE FROM oidc_grants WHERE user_id = ?1")?
            .execute([user_id])?;
        self.rows.grants_changed();
        Ok(())
    }

    fn prune_grants(&self, now: i64) -> Result<usize> {
        let connection = self.writer();
        let pruned = connection
            .prepare_cached("DELETE FROM oidc_grants WHERE expires_at < ?1")?
            .execute([now - 86_400])?;
        // Only what expired is pruned, and expiry is checked at each use:
        // the cached copies go only to free their memory, not every run.
        if pruned > 0 {
            self.rows.grants_changed();
        }
        Ok(pruned)
    }

    fn count_oidc_clients(&self) -> Result<i64> {
        let connection = self.writer();
        Ok(connection.query_row("SELECT count(*) FROM oidc_clients", [], |row| row.get(0))?)
    }
}

/// Stores one grant with `connection`, in its transaction if one is open.
fn insert_grant(connection: &rusqlite::Connection, grant: &Grant) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO oidc_grants (token_hash, kind, client_id, user_id, auth_epoch, family,
                                      scope, nonce, redirect_uri, code_challenge, auth_time,
                                      amr, expires_at, issued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            grant.hash,
            grant.kind.as_str(),
            grant.client_id,
            grant.user_id,
            grant.auth_epoch,
            grant.family,
            grant.scope,
            grant.nonce,
            grant.redirect_uri,
            grant.code_challenge,
            grant.auth_time,
            grant.amr,
            grant.expires_at,
            grant.issued_at,
        ])?;
    Ok(())
}

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<OidcClient> {
    let lines = |text: String, separator: char| -> Vec<String> {
        text.split(separator)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(OidcClient {
        client_id: row.get("client_id")?,
        name: row.get("name")?,
        secret_hash: row.get("secret_hash")?,
        redirect_uris: lines(row.get("redirect_uris")?, '\n'),
        allowed_groups: lines(row.get("allowed_groups")?, ','),
        alg: row.get("alg")?,
        created_at: row.get("created_at")?,
    })
}

fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<Grant> {
    let kind = match row.get::<_, String>("kind")?.as_str() {
        "code" => GrantKind::Code,
        "access" => GrantKind::Access,
        _ => GrantKind::Refresh,
    };
    Ok(Grant {
        hash: row.get("token_hash")?,
        kind,
        client_id: row.get("client_id")?,
        user_id: row.get("user_id")?,
        auth_epoch: row.get("auth_epoch")?,
        family: row.get("family")?,
        scope: row.get("scope")?,
        nonce: row.get("nonce")?,
        redirect_uri: row.get("redirect_uri")?,
        code_challenge: row.get("code_challenge")?,
        auth_time: row.get("auth_time")?,
        amr: row.get("amr")?,
        issued_at: row.get("issued_at")?,
        expires_at: row.get("expires_at")?,
    })
}
