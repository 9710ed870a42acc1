//! The rows the hot paths need, in memory, so they read no database: the
//! user rows of session checks (every signed-in request and forward auth)
//! and the access tokens of userinfo, with their client.
//!
//! How an entry stays true:
//! - **Changes made here** are seen where they are made. SQLite's update
//!   hook on the writing connection names every `users` row a statement
//!   changes; the grants table has no row ids for the hook to name (it is
//!   `WITHOUT ROWID`), so each write that can end an access token (a
//!   revocation, a replayed family, sign out everywhere, a removed client,
//!   the daily prune) marks the tokens dirty itself. When the writer's lock
//!   guard goes (after the commit) the dirty entries are dropped
//!   ([`RowCache::forget_dirty`]): the named users, every access token.
//! - **Changes made by another process** (`auth-server admin`): `PRAGMA
//!   data_version` on the writing connection changes whenever another
//!   connection commits; it is read at most every [`CHECK_INTERVAL`] and,
//!   when it moved, every entry is dropped. The read is skipped while the
//!   writer is busy, but never for longer than [`MAX_STALENESS`].
//! - **A read that raced a change** is not kept: each forget bumps a
//!   version, and a row read from the database is stored only if the
//!   version is still the one seen before the read began.
//!
//! So an admin change reaches a running server within
//! `CHECK_INTERVAL` (2 ms) of its commit when the writer is idle, and
//! within `MAX_STALENESS` (50 ms) when it is busy; a change made here,
//! at once. An access token's own end (`expires_at`) and its account's
//! (disabled, a new auth epoch) are checked at each use, from these rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::User;
use super::oidc::AccessGrant;
use crate::support::lock::lock;

/// How often another process's commits are looked for, at most.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(2);
/// How long a busy writer may put the look off.
pub const MAX_STALENESS: Duration = Duration::from_millis(50);
/// Entries kept at most, of each kind: past it that kind starts again
/// empty. Accounts with a live session are at most `MAX_SESSIONS`
/// (100,000 by default); access tokens live ten minutes.
pub const MAX_ENTRIES: usize = 100_000;

pub struct RowCache {
    inner: Mutex<Inner>,
    /// What the writer changed since its lock was taken.
    pub(super) dirty: Arc<Mutex<Dirty>>,
}

/// What the writer changed since its lock was taken.
#[derive(Default)]
pub(super) struct Dirty {
    /// `users` rows, named by the update hook.
    pub users: Vec<i64>,
    /// Some access token may have ended.
    pub grants: bool,
}

struct Inner {
    users: HashMap<i64, Arc<User>>,
    /// By the SHA-256 of the token, as stored.
    access: HashMap<[u8; 32], Arc<AccessGrant>>,
    /// Bumped by every forget: a read begun before it is not stored.
    version: u64,
    /// The writer's `PRAGMA data_version` when last read, and when.
    data_version: Option<i64>,
    read_at: Instant,
    /// When a thread last took the look on (read it or found the writer
    /// busy).
    tried_at: Instant,
}

impl Default for RowCache {
    fn default() -> RowCache {
        RowCache {
            inner: Mutex::new(Inner {
                users: HashMap::new(),
                access: HashMap::new(),
                version: 0,
                data_version: None,
                read_at: Instant::now(),
                tried_at: Instant::now(),
            }),
            dirty: Arc::new(Mutex::new(Dirty::default())),
        }
    }
}

impl RowCache {
    /// The cached row, and the version to store a fresh read under.
    #[inline]
    pub fn get(&self, id: i64) -> (Option<Arc<User>>, u64) {
        let inner = lock(&self.inner);
        (inner.users.get(&id).cloned(), inner.version)
    }

    /// Stores a row read from the database, unless something was forgotten
    /// since the read began (`version`).
    pub fn put(&self, user: Arc<User>, version: u64) {
        let mut inner = lock(&self.inner);
        if inner.version != version {
            return;
        }
        if inner.users.len() >= MAX_ENTRIES {
            inner.users.clear();
        }
        inner.users.insert(user.id, user);
    }

    /// The cached access token, and the version to store a fresh read
    /// under.
    pub fn access(&self, hash: &[u8; 32]) -> (Option<Arc<AccessGrant>>, u64) {
        let inner = lock(&self.inner);
        (inner.access.get(hash).cloned(), inner.version)
    }

    /// Stores an access token read from the database, as [`RowCache::put`].
    pub fn put_access(&self, grant: Arc<AccessGrant>, version: u64) {
        let mut inner = lock(&self.inner);
        if inner.version != version {
            return;
        }
        if inner.access.len() >= MAX_ENTRIES {
            inner.access.clear();
        }
        inner.access.insert(grant.grant.hash, grant);
    }

    /// Drops what the writer changed (called once its lock is released).
    pub fn forget_dirty(&self) {
        let Dirty { users, grants } = std::mem::take(&mut *lock(&self.dirty));
        if users.is_empty() && !grants {
            return;
        }
        let mut inner = lock(&self.inner);
        inner.version += 1;
        for id in users {
            inner.users.remove(&id);
        }
        if grants {
            inner.access.clear();
        }
    }

    /// Marks every access token dirty: the write under way may end some.
    pub(super) fn grants_changed(&self) {
        lock(&self.dirty).grants = true;
    }

    /// Whether it is time to look for other processes' commits; if so the
    /// look is claimed (one thread takes it) and the answer is how long ago
    /// the data version was last read.
    #[inline]
    pub fn due(&self, now: Instant) -> Option<Duration> {
        let mut inner = lock(&self.inner);
        if now.duration_since(inner.tried_at) < CHECK_INTERVAL && inner.data_version.is_some() {
            return None;
        }
        inner.tried_at = now;
        Some(now.duration_since(inner.read_at))
    }

    /// The writer's data version as just read: a change drops every entry.
    pub fn saw_data_version(&self, data_version: i64, now: Instant) {
        let mut inner = lock(&self.inner);
        inner.read_at = now;
        if inner.data_version != Some(data_version) {
            if inner.data_version.is_some() {
                inner.users.clear();
                inner.access.clear();
                inner.version += 1;
            }
            inner.data_version = Some(data_version);
        }
    }

    /// Cached users (the access tokens aside).
    pub fn len(&self) -> usize {
        lock(&self.inner).users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Database;
    use crate::storage::*;
    use std::path::Path;

    fn user(id: i64) -> Arc<User> {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let made = db.insert_user(
            &format!("u{id}"),
            &format!("u{id}@example.com"),
            "$2b$04$x",
            0,
        );
        let mut user = made.ok().unwrap();
        user.id = id;
        Arc::new(user)
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let cache = RowCache::default();
        let (_, version) = cache.get(1);
        // The writer changes user 1 and releases its lock meanwhile.
        lock(&cache.dirty).users.push(1);
        cache.forget_dirty();
        cache.put(user(1), version);
        assert!(cache.get(1).0.is_none(), "a stale read stays out");
        let (_, version) = cache.get(1);
        cache.put(user(1), version);
        assert!(cache.get(1).0.is_some());
        lock(&cache.dirty).users.push(1);
        cache.forget_dirty();
        assert!(cache.get(1).0.is_none(), "a change drops the entry");
    }

    #[test]
    fn another_process_commit_drops_everything_and_looks_are_rationed() {
        let cache = RowCache::default();
        let start = Instant::now();
        assert!(cache.due(start).is_some(), "the first look is due");
        cache.saw_data_version(7, start);
        let (_, version) = cache.get(2);
        cache.put(user(2), version);
        assert!(cache.due(start).is_none(), "not again within the interval");
        let later = start + CHECK_INTERVAL;
        assert!(cache.due(later).is_some());
        cache.saw_data_version(7, later);
        assert_eq!(cache.len(), 1, "the same version keeps the entries");
        cache.saw_data_version(8, later);
        assert!(cache.is_empty(), "another commit drops them");
    }
}
