//! Login and registration throttling, in memory.
//!
//! Each limit is a sliding window: the times of the last few events under a
//! key, and a key at its limit is refused until the oldest of them leaves the
//! window, which is also the `Retry-After` a client is told. Locks therefore
//! end by themselves; nothing here is permanent (NIST SP 800-63B §5.2.2;
//! OWASP Authentication Cheat Sheet, "Login Throttling").
//!
//! Logins are keyed on the identifier as typed (lower-cased), never on
//! whether it names an account: an unknown name is throttled exactly like a
//! real one, so a 429 says nothing about who exists. The price is that an
//! account has two identifiers (username and email), each with its own
//! counters.
//!
//! Every table is bounded ([`MAX_KEYS`]). When one is full, expired entries
//! are dropped first, then the entry idle the longest. Memory stays bounded
//! whatever an attacker invents; forgetting a counter early needs that many
//! fresh keys within the window, which the per-address limit makes costly.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::support::lock::lock;

/// Failures one identifier may have from one address per window.
pub const PAIR_FAILURES: usize = 5;
pub const PAIR_WINDOW_SECS: i64 = 15 * 60;
/// Failures one address may have over all identifiers: `LOGIN_FAILURES_PER_IP`.
pub const ADDRESS_WINDOW_SECS: i64 = 15 * 60;
/// Failures one identifier may have over all addresses per hour.
pub const IDENTIFIER_FAILURES: usize = 100;
pub const IDENTIFIER_WINDOW_SECS: i64 = 60 * 60;
pub const REGISTRATION_WINDOW_SECS: i64 = 60 * 60;
/// Keys each table holds at most.
pub const MAX_KEYS: usize = 50_000;
const SWEEP_INTERVAL_SECS: i64 = 60;

/// A sliding-window limit: at most `limit` events per `window_secs` per key.
pub struct Window<K> {
    limit: usize,
    window_secs: i64,
    max_keys: usize,
    events: HashMap<K, VecDeque<i64>>,
    last_sweep: i64,
}

impl<K: Hash + Eq + Clone> Window<K> {
    /// A limit below 1 is taken as 1: a window that allows nothing would
    /// have no event whose expiry frees a slot (and no `Retry-After` to
    /// give). A limit that is off is a window not built, or not asked.
    pub fn new(limit: usize, window_secs: i64, max_keys: usize) -> Window<K> {
        Window {
            limit: limit.max(1),
            window_secs,
            max_keys: max_keys.max(1),
            events: HashMap::new(),
            last_sweep: 0,
        }
    }

    /// `Err(seconds)` while `key` is at its limit: how long until the oldest
    /// event in the window expires and frees a slot.
    pub fn check(&self, key: &K, now: i64) -> Result<(), u64> {
        let Some(times) = self.events.get(key) else {
            return Ok(());
        };
        let recent: Vec<i64> = times
            .iter()
            .copied()
            .filter(|&t| t > now - self.window_secs)
            .collect();
        if recent.len() < self.limit {
            return Ok(());
        }
        // The slot frees when the event `limit` places from the newest leaves.
        let blocking = recent[recent.len() - self.limit];
        Err((blocking + self.window_secs - now).max(1) as u64)
    }

    pub fn record(&mut self, key: K, now: i64) {
        if now - self.last_sweep >= SWEEP_INTERVAL_SECS {
            self.sweep(now);
        }
        if !self.events.contains_key(&key) && self.events.len() >= self.max_keys {
            self.sweep(now);
            if self.events.len() >= self.max_keys {
                self.forget_least_recent();
            }
        }
        let times = self.events.entry(key).or_default();
        times.push_back(now);
        // Only the newest `limit` events can ever matter.
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    pub fn clear(&mut self, key: &K) {
        self.events.remove(key);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn sweep(&mut self, now: i64) {
        let cutoff = now - self.window_secs;
        self.events
            .retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
        self.last_sweep = now;
    }

    fn forget_least_recent(&mut self) {
        let oldest = self
            .events
            .iter()
            .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            self.events.remove(&key);
        }
    }
}

/// An identifier as a fixed-size key: a keyed hash of its lower-cased form,
/// so a 16 KiB "username" costs the table eight bytes, and nobody who does
/// not know the process's random key can make two identifiers collide.
type IdentifierKey = u64;

struct Tables {
    pairs: Window<(IdentifierKey, IpAddr)>,
    addresses: Window<IpAddr>,
    identifiers: Window<IdentifierKey>,
    registrations: Window<IpAddr>,
}

pub struct Throttle {
    hasher: RandomState,
    registrations_enabled: bool,
    tables: Mutex<Tables>,
}

impl Throttle {
    /// `registrations_per_hour` 0 turns the registration limit off.
    pub fn new(login_failures_per_address: u32, registrations_per_hour: u32) -> Throttle {
        Throttle {
            hasher: RandomState::new(),
            registrations_enabled: registrations_per_hour > 0,
            tables: Mutex::new(Tables {
                pairs: Window::new(PAIR_FAILURES, PAIR_WINDOW_SECS, MAX_KEYS),
                addresses: Window::new(
                    login_failures_per_address as usize,
                    ADDRESS_WINDOW_SECS,
                    MAX_KEYS,
                ),
                identifiers: Window::new(IDENTIFIER_FAILURES, IDENTIFIER_WINDOW_SECS, MAX_KEYS),
                registrations: Window::new(
                    registrations_per_hour as usize,
                    REGISTRATION_WINDOW_SECS,
                    MAX_KEYS,
                ),
            }),
        }
    }

    fn key(&self, identifier: &str) -> IdentifierKey {
        self.hasher.hash_one(identifier.trim().to_lowercase())
    }

    /// Whether a login for `identifier` from `address` may be tried now;
    /// `Err(retry_after_secs)` if any of its three limits is reached. The
    /// right password is refused too while locked: otherwise the lock would
    /// only slow the attacker down until the guess that succeeds.
    pub fn check_login(&self, identifier: &str, address: IpAddr, now: i64) -> Result<(), u64> {
        let key = self.key(identifier);
        let tables = lock(&self.tables);
        let waits = [
            tables.pairs.check(&(key, address), now),
            tables.addresses.check(&address, now),
            tables.identifiers.check(&key, now),
        ];
        match waits.iter().filter_map(|w| w.err()).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_login_failure(&self, identifier: &str, address: IpAddr, now: i64) {
        let key = self.key(identifier);
        let mut tables = lock(&self.tables);
        tables.pairs.record((key, address), now);
        tables.addresses.record(address, now);
        tables.identifiers.record(key, now);
    }

    /// A success forgets that pair's failures (NIST SP 800-63B §5.2.2 lets a
    /// verifier disregard earlier failures once one succeeds); the address
    /// and identifier totals stand, so one good login cannot launder many
    /// bad ones elsewhere.
    pub fn record_login_success(&self, identifier: &str, address: IpAddr) {
        let key = self.key(identifier);
        lock(&self.tables).pairs.clear(&(key, address));
    }

    /// Counts a registration attempt from `address`, or refuses it with the
    /// seconds to wait. Attempts count whether they end in 201 or 409, so
    /// registration cannot be used to test names in a loop either.
    pub fn register_attempt(&self, address: IpAddr, now: i64) -> Result<(), u64> {
        if !self.registrations_enabled {
            return Ok(());
        }
        let mut tables = lock(&self.tables);
        tables.registrations.check(&address, now)?;
        tables.registrations.record(address, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_is_one_and_never_panics() {
        let mut window: Window<u8> = Window::new(0, 60, 10);
        assert_eq!(window.check(&1, 100), Ok(()));
        window.record(1, 100);
        assert_eq!(window.check(&1, 110), Err(50));
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_window_locks_at_its_limit_and_frees_as_events_age() {
        let mut window = Window::new(3, 100, 10);
        for t in [0, 10, 20] {
            assert!(window.check(&"k", t).is_ok());
            window.record("k", t);
        }
        assert_eq!(
            window.check(&"k", 30),
            Err(70),
            "until the event at 0 leaves"
        );
        assert_eq!(window.check(&"k", 99), Err(1));
        assert!(
            window.check(&"k", 100).is_ok(),
            "temporary: one slot is free again"
        );
        window.record("k", 100);
        assert_eq!(window.check(&"k", 100), Err(10));
    }

    #[test]
    fn five_failures_lock_the_pair_even_for_the_right_password() {
        let throttle = Throttle::new(100, 20);
        let a = ip("192.0.2.1");
        for t in 0..5 {
            assert!(throttle.check_login("alice", a, t).is_ok());
            throttle.record_login_failure("alice", a, t);
        }
        assert_eq!(
            throttle.check_login("ALICE", a, 5),
            Err(PAIR_WINDOW_SECS as u64 - 5)
        );
        assert!(
            throttle.check_login("alice", ip("192.0.2.2"), 5).is_ok(),
            "another address is a new pair"
        );
        assert!(
            throttle.check_login("alice", a, PAIR_WINDOW_SECS).is_ok(),
            "the lock ends by itself"
        );
    }

    #[test]
    fn a_success_clears_only_its_pair() {
        let throttle = Throttle::new(6, 20);
        let a = ip("192.0.2.1");
        for t in 0..4 {
            throttle.record_login_failure("alice", a, t);
        }
        throttle.record_login_success("alice", a);
        for t in 4..6 {
            throttle.record_login_failure("alice", a, t);
        }
        // Pair: 2 since the success. Address: 6 of 6, so still locked.
        assert!(throttle.check_login("alice", a, 7).is_err());
        assert!(throttle.check_login("alice", ip("192.0.2.9"), 7).is_ok());
    }

    #[test]
    fn the_address_and_identifier_totals_apply() {
        let throttle = Throttle::new(10, 20);
        let a = ip("192.0.2.1");
        for n in 0..10 {
            throttle.record_login_failure(&format!("user{n}"), a, 1);
        }
        assert!(
            throttle.check_login("someone-new", a, 2).is_err(),
            "password spraying from one address"
        );

        let throttle = Throttle::new(1000, 20);
        for n in 0..IDENTIFIER_FAILURES {
            throttle.record_login_failure(
                "target",
                IpAddr::from([10, 0, (n / 256) as u8, n as u8]),
                1,
            );
        }
        assert!(
            throttle
                .check_login("target", ip("203.0.113.7"), 2)
                .is_err(),
            "spread over many addresses"
        );
    }

    #[test]
    fn registrations_are_limited_per_address_unless_off() {
        let throttle = Throttle::new(100, 2);
        let a = ip("192.0.2.1");
        assert!(throttle.register_attempt(a, 0).is_ok());
        assert!(throttle.register_attempt(a, 1).is_ok());
        assert_eq!(
            throttle.register_attempt(a, 2),
            Err(REGISTRATION_WINDOW_SECS as u64 - 2)
        );
        assert!(throttle.register_attempt(ip("192.0.2.2"), 2).is_ok());
        let off = Throttle::new(100, 0);
        for t in 0..100 {
            assert!(off.register_attempt(a, t).is_ok());
        }
    }

    #[test]
    fn tables_stay_bounded_and_forget_the_least_recent() {
        let mut window = Window::new(5, 1000, 100);
        for n in 0..10_000u32 {
            window.record(n, i64::from(n));
        }
        assert_eq!(window.len(), 100);
        assert!(window.events.contains_key(&9_999));
        assert!(!window.events.contains_key(&0));
    }
}
