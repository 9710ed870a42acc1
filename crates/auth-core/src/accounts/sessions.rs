//! The sessions and their durable copy: `auth::sessions` is the map in
//! memory; this keeps the `sessions` table in step with it when
//! `SESSION_PERSIST=true`, so a restart signs nobody out.
//!
//! Every session a client is told about and every explicit ending is
//! written through at once (a login's session in the login's own
//! transaction: [`Sessions::row`], then the flow's database write, then
//! [`Sessions::admit`]); the last-seen times the hot path updates are
//! written behind, in batches, by [`Sessions::flush`], so `GET /api/user`
//! never writes. Sessions that expire in memory are deleted from the copy
//! by the same flush.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::accounts::Trouble;
use crate::auth::sessions::{NewSession, OpenedWith, Session, SessionStore};
use crate::auth::token::{Token, TokenHash};
use crate::storage::sessions::SessionRow;
use crate::storage::{self, Storage};

pub struct Sessions {
    store: SessionStore,
    /// The durable copy, when sessions are persisted.
    db: Option<Arc<dyn Storage>>,
}

/// The stored form of a session.
fn to_row(hash: &TokenHash, session: &Session) -> SessionRow {
    SessionRow {
        token_hash: hash.0,
        public_id: session.public_id,
        user_id: session.user_id,
        auth_epoch: session.auth_epoch,
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        absolute_end: session.absolute_end,
        idle_secs: session.idle_secs,
        remember: session.remember,
        previous_login_at: session.previous_login_at,
        ip: session.ip.to_string(),
        user_agent: session.user_agent.clone(),
        opened_with: session.opened_with.as_str(),
        proved_at: session.proved_at,
    }
}

fn from_row(row: SessionRow) -> (TokenHash, Session) {
    let session = Session {
        user_id: row.user_id,
        public_id: row.public_id,
        auth_epoch: row.auth_epoch,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        absolute_end: row.absolute_end,
        idle_secs: row.idle_secs,
        remember: row.remember,
        previous_login_at: row.previous_login_at,
        // Written by this module from an IpAddr; anything else shows as
        // 0.0.0.0 rather than stopping the load.
        ip: row.ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        user_agent: row.user_agent,
        opened_with: OpenedWith::parse(&row.opened_with),
        proved_at: row.proved_at,
    };
    (TokenHash(row.token_hash), session)
}

impl Sessions {
    /// With `db`, every change also reaches the durable copy.
    pub fn new(store: SessionStore, db: Option<Arc<dyn Storage>>) -> Sessions {
        Sessions { store, db }
    }

    /// The map itself, for what only reads or touches memory.
    pub fn store(&self) -> &SessionStore {
        &self.store
    }

    /// Before the first request: loads the live sessions of the durable
    /// copy (after it has deleted its expired and orphaned ones); how many.
    pub fn load(&self, now: i64) -> storage::Result<usize> {
        let Some(db) = &self.db else {
            return Ok(0);
        };
        let rows = db.load_sessions(now)?;
        let count = rows.len();
        self.store
            .restore(rows.into_iter().map(from_row).collect(), now);
        // Caps may have dropped a few; their rows go now.
        self.write_dropped()?;
        Ok(count)
    }

    /// The row to store for a session about to be admitted, when sessions
    /// are persisted: the caller writes it in its own transaction (a login
    /// with its login, a password change with the change).
    pub fn row(&self, token: &Token, session: &Session) -> Option<SessionRow> {
        self.db.as_ref().map(|_| to_row(&token.hash(), session))
    }

    /// Deletes the rows of the sessions the map dropped on its own.
    fn write_dropped(&self) -> storage::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let dropped = self.store.take_dropped();
        let hashes: Vec<[u8; 32]> = dropped.iter().map(|h| h.0).collect();
        db.delete_sessions(&hashes).inspect_err(|_| {
            // Kept for the next flush: a row left behind would come back
            // at the next start.
            self.store.keep_dropped(dropped);
        })
    }

    /// The batched write-behind, run every few seconds by a background
    /// thread and at a clean stop: last-seen times of the sessions used
    /// since the last flush, and the rows of the sessions that expired.
    pub fn flush(&self) -> storage::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let seen: Vec<([u8; 32], i64)> = self
            .store
            .take_touched()
            .into_iter()
            .map(|(hash, at)| (hash.0, at))
            .collect();
        db.touch_sessions(&seen)?;
        self.write_dropped()
    }

    /// See [`SessionStore::prepare`].
    pub fn prepare(&self, new: NewSession, now: i64) -> Result<(Token, Session), getrandom::Error> {
        self.store.prepare(new, now)
    }

    /// Puts a prepared session (its row already stored) in the map; the
    /// sessions the caps end are deleted from the copy at once.
    pub fn admit(&self, token: &Token, session: Session, now: i64) -> storage::Result<()> {
        self.store.admit(token, session, now);
        self.write_dropped()
    }

    /// A proof shown by a signed-in session (the password or a code again,
    /// or a second factor: `stepped_up`), recorded on the session under a
    /// new token: the old token ends, so a copy of it taken before the
    /// proof never gains what the proof brings (OWASP ASVS 5.0
    /// v5.0.0-7.2.4; OWASP Session Management Cheat Sheet, "Renew the
    /// Session ID After Any Privilege Level Change"). Memory and the
    /// durable copy change together; `None` if the old token is not live.
    pub fn renew(
        &self,
        old: &Token,
        stepped_up: Option<OpenedWith>,
        now: i64,
    ) -> Result<Option<(Token, Session)>, Trouble> {
        let Some((token, mut session)) = self.store.successor(old, now).map_err(Trouble::random)?
        else {
            return Ok(None);
        };
        if let Some(opened_with) = stepped_up {
            session.opened_with = opened_with;
        }
        if let Some(db) = &self.db {
            db.replace_session(&old.hash().0, &to_row(&token.hash(), &session))?;
        }
        self.store.end(&old.hash());
        self.admit(&token, session.clone(), now)?;
        Ok(Some((token, session)))
    }

    /// Ends a session in memory at once; the hash of its row, when
    /// sessions are stored, for the caller's transaction to delete.
    pub fn end_in_memory(&self, token: &Token) -> Option<[u8; 32]> {
        let hash = token.hash();
        self.store.end(&hash);
        self.db.as_ref().map(|_| hash.0)
    }

    /// Room for one more session of `user_id`: the hashes of the rows of
    /// the sessions that made way (and of any the map dropped before), for
    /// the sign-in's transaction to delete.
    pub fn make_room(&self, user_id: i64, now: i64) -> Vec<[u8; 32]> {
        let dropped = self.store.make_room(user_id, now);
        dropped.iter().map(|hash| hash.0).collect()
    }

    /// Deletes stored sessions' rows that a sign-in could not (see
    /// [`Sessions::end_in_memory`], [`Sessions::make_room`]); on failure
    /// they wait in the dropped list for the next flush, so none comes
    /// back at the next start.
    pub fn delete_rows(&self, hashes: &[[u8; 32]]) -> storage::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        db.delete_sessions(hashes).inspect_err(|_| {
            self.store
                .keep_dropped(hashes.iter().map(|hash| TokenHash(*hash)).collect());
        })
    }

    /// Ends a session at once, in memory and in the durable copy.
    pub fn end(&self, token: &Token) -> storage::Result<()> {
        let hash = token.hash();
        self.store.end(&hash);
        match &self.db {
            Some(db) => db.delete_sessions(&[hash.0]),
            None => Ok(()),
        }
    }

    /// Ends every session of a user but `keep`, in memory and on disk; how
    /// many ended in memory.
    pub fn end_all_for_user(&self, user_id: i64, keep: Option<&Token>) -> storage::Result<usize> {
        let keep = keep.map(Token::hash);
        let ended = self.store.end_all_for_user(user_id, keep.as_ref());
        if let Some(db) = &self.db {
            db.delete_sessions_of_user(user_id, keep.as_ref().map(|k| &k.0))?;
        }
        Ok(ended)
    }

    /// Ends the user's session with that public id; the hash of the one
    /// ended, `None` if the user holds no live session by that id.
    pub fn end_by_public_id(
        &self,
        user_id: i64,
        public_id: u64,
        now: i64,
    ) -> storage::Result<Option<TokenHash>> {
        let found = self.store.end_by_public_id(user_id, public_id, now);
        if let (Some(db), Some(hash)) = (&self.db, &found) {
            db.delete_sessions(&[hash.0])?;
        }
        Ok(found)
    }
}
