//! Server-side sessions: a map from a random token to who is signed in, in
//! memory, behind one mutex.
//!
//! The cookie holds only the token; everything that matters (who, since when,
//! until when) stays here, so the server alone decides when a session ends
//! (NIST SP 800-63B §7.1; OWASP Session Management Cheat Sheet). Nothing
//! outside this module knows how sessions are stored, so the map could be
//! swapped for a shared store without touching the handlers.
//!
//! This module is the map alone and knows no database. The durable copy
//! (`SESSION_PERSIST=true`, the default) is kept one layer up, by
//! `accounts::sessions`, from what this map reports: the sessions it
//! dropped on its own and the ones used since the last flush.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::auth::token::{Token, TokenHash};
use crate::support::lock::lock;

/// Sessions one user may hold unless set (`MAX_SESSIONS_PER_USER`); a login
/// beyond it ends their least recently used one (documented per OWASP ASVS
/// 5.0 V7.1.2).
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 32;
/// Longest user agent kept per session, so a client cannot make its session
/// cost kilobytes.
const MAX_USER_AGENT_CHARS: usize = 200;
/// How often, at most, the whole map is swept for expired sessions.
const SWEEP_INTERVAL_SECS: i64 = 60;

/// How long sessions live.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    pub idle_secs: i64,
    pub absolute_secs: i64,
    /// Both idle and absolute lifetime of a "remember me" session.
    pub remember_secs: i64,
}

/// How a session was opened; an access rule's `two_factor` wants a second
/// factor (NIST SP 800-63B §4.2: authenticator assurance level 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenedWith {
    Password,
    /// The password and a code from the authenticator app (at sign-in, or
    /// shown later: step-up).
    PasswordTotp,
    /// The password and a recovery code.
    RecoveryCode,
    /// A passkey with user verification: something the person has and
    /// something they are or know, in one (NIST SP 800-63B §5.1.8).
    Passkey,
    /// An upstream OpenID provider vouched for the person (`name`). What it
    /// asked of them is its business, so it counts as one factor; a code
    /// from this account's app (`totp`) adds the second.
    Upstream {
        name: String,
        totp: bool,
    },
}

impl OpenedWith {
    /// The stored and shown name: `password`, `password+totp`,
    /// `recovery_code`, `passkey`, `upstream:NAME`, `upstream:NAME+totp`.
    pub fn as_str(&self) -> String {
        match self {
            OpenedWith::Password => "password".into(),
            OpenedWith::PasswordTotp => "password+totp".into(),
            OpenedWith::RecoveryCode => "recovery_code".into(),
            OpenedWith::Passkey => "passkey".into(),
            OpenedWith::Upstream { name, totp: false } => format!("upstream:{name}"),
            OpenedWith::Upstream { name, totp: true } => format!("upstream:{name}+totp"),
        }
    }

    /// A stored name back; anything unknown counts as the password alone.
    pub fn parse(text: &str) -> OpenedWith {
        match text {
            "password+totp" => OpenedWith::PasswordTotp,
            "recovery_code" => OpenedWith::RecoveryCode,
            "passkey" => OpenedWith::Passkey,
            _ => match text.strip_prefix("upstream:") {
                Some(rest) => match rest.strip_suffix("+totp") {
                    Some(name) => OpenedWith::Upstream {
                        name: name.into(),
                        totp: true,
                    },
                    None => OpenedWith::Upstream {
                        name: rest.into(),
                        totp: false,
                    },
                },
                None => OpenedWith::Password,
            },
        }
    }

    pub fn second_factor(&self) -> bool {
        match self {
            OpenedWith::Password => false,
            OpenedWith::Upstream { totp, .. } => *totp,
            _ => true,
        }
    }

    /// The same sign-in once a code from the app was shown (a step-up).
    pub fn with_app_code(&self) -> OpenedWith {
        match self {
            OpenedWith::Upstream { name, .. } => OpenedWith::Upstream {
                name: name.clone(),
                totp: true,
            },
            _ => OpenedWith::PasswordTotp,
        }
    }
}

/// One signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    /// A random handle the user sees in their session list, so a session can
    /// be named and revoked without ever showing its token.
    pub public_id: u64,
    /// The user's auth epoch at login (see schema.sql).
    pub auth_epoch: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The end no activity can extend.
    pub absolute_end: i64,
    pub idle_secs: i64,
    pub remember: bool,
    /// The user's login before the one that made this session.
    pub previous_login_at: Option<i64>,
    pub ip: IpAddr,
    pub user_agent: String,
    pub opened_with: OpenedWith,
    /// When this session last proved who it is: its sign-in, a password
    /// change, a step-up code, or `POST /api/user/reauth`. A new
    /// credential wants a recent one ("sudo mode").
    pub proved_at: i64,
}

impl Session {
    /// When the session dies if left idle from now on; never past its
    /// absolute end.
    pub fn expires_at(&self) -> i64 {
        (self.last_seen_at + self.idle_secs).min(self.absolute_end)
    }

    #[inline]
    fn is_live(&self, now: i64) -> bool {
        now < self.expires_at()
    }
}

/// What a login knows about the session it is opening.
pub struct NewSession {
    pub user_id: i64,
    pub auth_epoch: i64,
    pub remember: bool,
    pub ip: IpAddr,
    pub user_agent: String,
    pub opened_with: OpenedWith,
}

pub struct SessionStore {
    lifetimes: Lifetimes,
    max_sessions: usize,
    max_per_user: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<TokenHash, Session>,
    /// The tokens of each user, so per-user limits and counts need not scan
    /// every session.
    by_user: HashMap<i64, Vec<TokenHash>>,
    last_sweep: i64,
    /// Whether the two lists below are kept (only with a durable copy).
    persist: bool,
    /// Sessions this map dropped on its own (expiry, sweeps, caps) whose
    /// rows are still to be deleted.
    dropped: Vec<TokenHash>,
    /// Sessions seen since the last flush, whose last-seen time is still to
    /// be written.
    touched: HashSet<TokenHash>,
}

impl SessionStore {
    /// A store; with `persist` it keeps the lists a durable copy needs
    /// (sessions it dropped on its own, sessions used since the last
    /// [`SessionStore::take_touched`]).
    pub fn new(lifetimes: Lifetimes, max_sessions: usize, persist: bool) -> SessionStore {
        SessionStore {
            lifetimes,
            max_sessions: max_sessions.max(1),
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            inner: Mutex::new(Inner {
                persist,
                ..Inner::default()
            }),
        }
    }

    /// Sets how many sessions one user may hold (at least one).
    pub fn with_max_per_user(mut self, max_per_user: usize) -> SessionStore {
        self.max_per_user = max_per_user.max(1);
        self
    }

    fn caps(&self) -> (usize, usize) {
        (self.max_sessions, self.max_per_user)
    }

    /// Puts sessions read back from a durable copy in the map, as they
    /// were (the caps apply; what they drop is in the dropped list).
    pub fn restore(&self, sessions: Vec<(TokenHash, Session)>, now: i64) {
        let mut inner = lock(&self.inner);
        inner.sessions.reserve(sessions.len());
        for (hash, session) in sessions {
            inner.insert(hash, session, self.caps(), now);
        }
    }

    /// The sessions the map dropped on its own (expiry, sweeps, caps) since
    /// the last call, whose durable rows are to go.
    pub fn take_dropped(&self) -> Vec<TokenHash> {
        std::mem::take(&mut lock(&self.inner).dropped)
    }

    /// Puts back what [`SessionStore::take_dropped`] gave when writing it
    /// failed, for the next try.
    pub fn keep_dropped(&self, dropped: Vec<TokenHash>) {
        lock(&self.inner).dropped.extend(dropped);
    }

    /// The sessions used since the last call, with their last-seen times.
    pub fn take_touched(&self) -> Vec<(TokenHash, i64)> {
        let mut inner = lock(&self.inner);
        let touched = std::mem::take(&mut inner.touched);
        touched
            .into_iter()
            .filter_map(|hash| inner.sessions.get(&hash).map(|s| (hash, s.last_seen_at)))
            .collect()
    }

    /// A new session with its token, not yet admitted: the caller stores it
    /// where it must (a durable copy), then calls [`SessionStore::admit`].
    pub fn prepare(&self, new: NewSession, now: i64) -> Result<(Token, Session), getrandom::Error> {
        let token = Token::generate()?;
        let public_id = getrandom::u64()?;
        let lifetime = if new.remember {
            (self.lifetimes.remember_secs, self.lifetimes.remember_secs)
        } else {
            (self.lifetimes.idle_secs, self.lifetimes.absolute_secs)
        };
        let session = Session {
            user_id: new.user_id,
            public_id,
            auth_epoch: new.auth_epoch,
            created_at: now,
            last_seen_at: now,
            absolute_end: now.saturating_add(lifetime.1),
            idle_secs: lifetime.0,
            remember: new.remember,
            previous_login_at: None,
            ip: new.ip,
            user_agent: new.user_agent.chars().take(MAX_USER_AGENT_CHARS).collect(),
            opened_with: new.opened_with,
            proved_at: now,
        };
        Ok((token, session))
    }

    /// Puts a prepared session in the map. The user's least recently used
    /// session is ended if they hold too many, and if the store is full the
    /// least recently used of whoever holds the most; those endings go to
    /// the dropped list.
    pub fn admit(&self, token: &Token, session: Session, now: i64) {
        lock(&self.inner).insert(token.hash(), session, self.caps(), now);
    }

    /// Makes room for a session of `user_id` about to be admitted (the caps
    /// of [`SessionStore::admit`]), and hands over the whole dropped list:
    /// a sign-in deletes those rows in its own transaction instead of a
    /// second one after it.
    pub fn make_room(&self, user_id: i64, now: i64) -> Vec<TokenHash> {
        let mut inner = lock(&self.inner);
        inner.make_room(user_id, self.caps(), now);
        std::mem::take(&mut inner.dropped)
    }

    /// The same session under a new token, keeping everything else (its
    /// age, its absolute end), not yet admitted: a password change keeps
    /// the caller signed in while every old token dies. `None` if the old
    /// token is not live.
    pub fn successor(
        &self,
        old: &Token,
        now: i64,
    ) -> Result<Option<(Token, Session)>, getrandom::Error> {
        let token = Token::generate()?;
        let inner = lock(&self.inner);
        let Some(mut session) = inner
            .sessions
            .get(&old.hash())
            .filter(|s| s.is_live(now))
            .cloned()
        else {
            return Ok(None);
        };
        session.last_seen_at = now;
        // Its caller checked the password to get here.
        session.proved_at = now;
        Ok(Some((token, session)))
    }

    /// Removes a user's sessions from the map only: for a caller that has
    /// already deleted their rows in its own transaction.
    pub fn forget_user(&self, user_id: i64) {
        let mut inner = lock(&self.inner);
        let doomed: Vec<TokenHash> = inner.by_user.get(&user_id).cloned().unwrap_or_default();
        for hash in &doomed {
            inner.remove_quietly(hash);
        }
    }

    /// The live session behind a token, with its idle timer restarted; an
    /// expired session is removed and `None`. (`#[inline]`, as the few
    /// calls below it: every request makes it, and this crate is built for
    /// size, so it is compiled into the caller at full speed.)
    #[inline]
    pub fn authenticate(&self, token: &Token, now: i64) -> Option<Session> {
        let key = token.hash();
        let mut inner = lock(&self.inner);
        inner.sweep_if_due(now);
        if !inner.sessions.get(&key)?.is_live(now) {
            inner.remove(&key);
            return None;
        }
        let session = inner.sessions.get_mut(&key)?;
        session.last_seen_at = now;
        let session = session.clone();
        if inner.persist {
            inner.touched.insert(key);
        }
        Some(session)
    }

    /// Ends a session in the map; unknown tokens are ignored.
    pub fn end(&self, token: &TokenHash) {
        lock(&self.inner).remove_quietly(token);
    }

    /// Ends every session of a user except `keep` in the map; how many.
    pub fn end_all_for_user(&self, user_id: i64, keep: Option<&TokenHash>) -> usize {
        let mut inner = lock(&self.inner);
        let doomed: Vec<TokenHash> = inner
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter(|t| Some(*t) != keep)
            .copied()
            .collect();
        for token in &doomed {
            inner.remove_quietly(token);
        }
        doomed.len()
    }

    /// Ends the user's live session with that public id in the map; its
    /// token hash, or `None` if the user holds no such session.
    pub fn end_by_public_id(&self, user_id: i64, public_id: u64, now: i64) -> Option<TokenHash> {
        let mut inner = lock(&self.inner);
        let found = inner.by_user.get(&user_id).and_then(|tokens| {
            tokens.iter().copied().find(|t| {
                inner
                    .sessions
                    .get(t)
                    .is_some_and(|s| s.public_id == public_id && s.is_live(now))
            })
        });
        if let Some(hash) = &found {
            inner.remove_quietly(hash);
        }
        found
    }

    /// The user's live sessions, oldest first, with their token hashes (for
    /// the caller to tell which one is its own; nothing of a token ever
    /// leaves the server).
    pub fn live_for_user(&self, user_id: i64, now: i64) -> Vec<(TokenHash, Session)> {
        let inner = lock(&self.inner);
        let mut sessions: Vec<(TokenHash, Session)> = inner
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                inner
                    .sessions
                    .get(t)
                    .filter(|s| s.is_live(now))
                    .map(|s| (*t, s.clone()))
            })
            .collect();
        sessions.sort_by_key(|(_, s)| s.created_at);
        sessions
    }

    /// How many live sessions the user holds.
    pub fn count_for_user(&self, user_id: i64, now: i64) -> usize {
        let inner = lock(&self.inner);
        inner
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter(|t| inner.sessions.get(t).is_some_and(|s| s.is_live(now)))
            .count()
    }

    /// All sessions held, live or not yet swept.
    pub fn len(&self) -> usize {
        lock(&self.inner).sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Adds a session, first making room: the user's least recently used
    /// session goes if they hold too many; and if the store is full, the
    /// least recently used session of whoever holds the most. So nobody can
    /// sign another out by signing in many times: their own sessions go
    /// first, and to reach a user with one session, every other account
    /// must be down to one too.
    fn insert(&mut self, token: TokenHash, session: Session, caps: (usize, usize), now: i64) {
        let user_id = session.user_id;
        self.make_room(user_id, caps, now);
        self.sessions.insert(token, session);
        self.by_user.entry(user_id).or_default().push(token);
    }

    /// Room for one more session of `user_id` (see [`Inner::insert`]); what
    /// goes is in the dropped list.
    fn make_room(&mut self, user_id: i64, caps: (usize, usize), now: i64) {
        let (max_sessions, max_per_user) = caps;
        self.sweep_if_due(now);
        self.drop_expired_of_user(user_id, now);
        while self.by_user.get(&user_id).map_or(0, Vec::len) >= max_per_user {
            let Some(oldest) =
                self.least_recently_used(self.by_user.get(&user_id).into_iter().flatten())
            else {
                break;
            };
            self.remove(&oldest);
        }
        if self.sessions.len() >= max_sessions {
            self.sweep(now);
        }
        while self.sessions.len() >= max_sessions {
            // The least recently used session among the accounts holding
            // the most.
            let most = self.by_user.values().map(Vec::len).max().unwrap_or(0);
            let heaviest = self
                .by_user
                .values()
                .filter(|tokens| tokens.len() == most)
                .flatten();
            let Some(oldest) = self.least_recently_used(heaviest) else {
                break;
            };
            self.remove(&oldest);
        }
    }

    /// Removes a session the map drops on its own (expiry, a cap): its row
    /// is deleted by the next write of the dropped list.
    fn remove(&mut self, token: &TokenHash) {
        if self.remove_quietly(token) && self.persist {
            self.dropped.push(*token);
        }
    }

    /// Removes a session from the map only (its row is the caller's
    /// business); whether it was there.
    fn remove_quietly(&mut self, token: &TokenHash) -> bool {
        self.touched.remove(token);
        let Some(session) = self.sessions.remove(token) else {
            return false;
        };
        if let Some(tokens) = self.by_user.get_mut(&session.user_id) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
        true
    }

    fn least_recently_used<'a>(
        &self,
        tokens: impl Iterator<Item = &'a TokenHash>,
    ) -> Option<TokenHash> {
        tokens
            .filter_map(|t| self.sessions.get(t).map(|s| (s.last_seen_at, *t)))
            .min_by_key(|(last_seen, _)| *last_seen)
            .map(|(_, t)| t)
    }

    fn drop_expired_of_user(&mut self, user_id: i64, now: i64) {
        let expired: Vec<TokenHash> = self
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter(|t| self.sessions.get(t).is_none_or(|s| !s.is_live(now)))
            .copied()
            .collect();
        for token in expired {
            self.remove(&token);
        }
    }

    /// Expired sessions would otherwise stay in memory until their token was
    /// presented again, which for an abandoned browser is never.
    #[inline]
    fn sweep_if_due(&mut self, now: i64) {
        if now - self.last_sweep >= SWEEP_INTERVAL_SECS {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: i64) {
        let persist = self.persist;
        let (dropped, touched) = (&mut self.dropped, &mut self.touched);
        self.sessions.retain(|hash, s| {
            let live = s.is_live(now);
            if !live && persist {
                dropped.push(*hash);
                touched.remove(hash);
            }
            live
        });
        let sessions = &self.sessions;
        self.by_user.retain(|_, tokens| {
            tokens.retain(|t| sessions.contains_key(t));
            !tokens.is_empty()
        });
        self.last_sweep = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIMES: Lifetimes = Lifetimes {
        idle_secs: 100,
        absolute_secs: 1000,
        remember_secs: 5000,
    };

    fn login(store: &SessionStore, user_id: i64, now: i64) -> Token {
        let new = NewSession {
            user_id,
            auth_epoch: 0,
            remember: false,
            ip: "127.0.0.1".parse().unwrap(),
            user_agent: "test".into(),
            opened_with: OpenedWith::Password,
        };
        let (token, session) = store.prepare(new, now).unwrap();
        store.admit(&token, session, now);
        token
    }

    #[test]
    fn the_map_is_keyed_by_the_tokens_hash_never_the_token() {
        let store = SessionStore::new(LIFETIMES, 100, false);
        let token = login(&store, 1, 0);
        let inner = lock(&store.inner);
        assert!(inner.sessions.contains_key(&token.hash()));
        assert!(inner.sessions.keys().all(|key| key.0 != token.bytes()));
        assert_ne!(token.hash().0, token.bytes());
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let store = SessionStore::new(LIFETIMES, 100, false);
        let token = login(&store, 1, 0);
        assert!(store.authenticate(&token, 99).is_some());
        // Activity at 99 moved the idle end to 199.
        assert!(store.authenticate(&token, 198).is_some());
        assert!(store.authenticate(&token, 298).is_none());

        let token = login(&store, 1, 0);
        for now in (50..1000).step_by(50) {
            assert!(store.authenticate(&token, now).is_some(), "alive at {now}");
        }
        assert!(
            store.authenticate(&token, 1000).is_none(),
            "absolute end reached"
        );
    }

    #[test]
    fn a_login_beyond_the_per_user_cap_ends_the_least_recently_used() {
        let store = SessionStore::new(LIFETIMES, 1000, false).with_max_per_user(20);
        let tokens: Vec<Token> = (0..20).map(|i| login(&store, 7, i)).collect();
        // Use the first so that the second becomes the least recently used.
        store.authenticate(&tokens[0], 30).unwrap();
        login(&store, 7, 31);
        assert_eq!(store.count_for_user(7, 31), 20);
        assert!(store.authenticate(&tokens[1], 32).is_none());
        assert!(store.authenticate(&tokens[0], 32).is_some());
    }

    #[test]
    fn a_full_store_ends_its_least_recently_used() {
        let store = SessionStore::new(LIFETIMES, 3, false);
        let a = login(&store, 1, 0);
        let b = login(&store, 2, 1);
        let c = login(&store, 3, 2);
        store.authenticate(&a, 3).unwrap();
        login(&store, 4, 4);
        assert_eq!(store.len(), 3);
        assert!(store.authenticate(&b, 5).is_none());
        assert!(store.authenticate(&a, 5).is_some());
        assert!(store.authenticate(&c, 5).is_some());
    }

    #[test]
    fn a_full_store_takes_from_whoever_holds_the_most() {
        let store = SessionStore::new(LIFETIMES, 4, false);
        let alice = login(&store, 1, 0);
        let mallory: Vec<Token> = (1..4).map(|i| login(&store, 2, i)).collect();
        // Alice's is the least recently used, but mallory holds three.
        login(&store, 3, 10);
        assert!(store.authenticate(&alice, 11).is_some());
        assert!(store.authenticate(&mallory[0], 11).is_none());
    }

    #[test]
    fn rotation_keeps_the_session_under_a_new_token() {
        let store = SessionStore::new(LIFETIMES, 100, false);
        let old = login(&store, 1, 0);
        let other = login(&store, 1, 0);
        let before = store.authenticate(&old, 5).unwrap();
        assert_eq!(store.end_all_for_user(1, Some(&old.hash())), 1);
        assert!(store.authenticate(&other, 6).is_none());
        let (new, mut after) = store.successor(&old, 8).unwrap().unwrap();
        after.auth_epoch = 7;
        store.forget_user(1);
        store.admit(&new, after.clone(), 8);
        assert_ne!(new, old);
        assert!(store.authenticate(&old, 9).is_none());
        assert_eq!(
            (after.created_at, after.absolute_end, after.public_id),
            (before.created_at, before.absolute_end, before.public_id)
        );
        assert_eq!(store.authenticate(&new, 9).unwrap().auth_epoch, 7);
    }

    #[test]
    fn sessions_are_listed_and_revoked_by_public_id_of_their_owner_only() {
        let store = SessionStore::new(LIFETIMES, 100, false);
        let mine = login(&store, 1, 0);
        let theirs = login(&store, 2, 1);
        let listed = store.live_for_user(1, 2);
        assert_eq!(listed.len(), 1);
        let their_id = store.live_for_user(2, 2)[0].1.public_id;
        assert_eq!(
            store.end_by_public_id(1, their_id, 3),
            None,
            "not mine to end"
        );
        assert!(store.authenticate(&theirs, 3).is_some());
        assert_eq!(
            store.end_by_public_id(1, listed[0].1.public_id, 3),
            Some(mine.hash())
        );
        assert!(store.live_for_user(1, 3).is_empty());
    }

    #[test]
    fn ending_and_sweeping_remove_sessions() {
        let store = SessionStore::new(LIFETIMES, 100, false);
        let token = login(&store, 1, 0);
        store.end(&token.hash());
        assert!(store.authenticate(&token, 1).is_none());
        login(&store, 2, 0);
        // The next call after the sweep interval removes what has expired.
        assert!(store.authenticate(&token, 500).is_none());
        assert!(store.is_empty());
    }
}
