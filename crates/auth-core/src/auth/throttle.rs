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
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
pub const RESET_REQUEST_WINDOW_SECS: i64 = 60 * 60;
/// Keys each table holds at most.
pub const MAX_KEYS: usize = 50_000;
const SWEEP_INTERVAL_SECS: i64 = 60;

/// A sliding-window limit: at most `limit` events per `window_secs` per key.
pub struct Window<K> {
    limit: usize,
    window_secs: i64,
    max_keys: usize,
    events: HashMap<K, Times>,
    last_sweep: i64,
}

/// One key's events: how many in each second, oldest first, and their sum.
/// Events of one second share an entry, and entries older than the window
/// go as new ones come, so a key holds at most `window_secs` entries however
/// high its limit (a limit of a million an hour once meant a million
/// timestamps kept per address, a heap that grew for as long as it ran).
#[derive(Default)]
struct Times {
    seconds: VecDeque<(i64, u32)>,
    total: usize,
}

impl Times {
    fn newest(&self) -> Option<i64> {
        self.seconds.back().map(|&(t, _)| t)
    }

    /// Events after `cutoff`.
    fn since(&self, cutoff: i64) -> usize {
        self.seconds
            .iter()
            .rev()
            .take_while(|&&(t, _)| t > cutoff)
            .map(|&(_, n)| n as usize)
            .sum()
    }

    /// Adds an event at `now`, first letting go of the seconds at or
    /// before `cutoff` (out of the window for good).
    fn add(&mut self, now: i64, cutoff: i64) {
        while let Some(&(t, n)) = self.seconds.front()
            && t <= cutoff
        {
            self.seconds.pop_front();
            self.total -= n as usize;
        }
        match self.seconds.back_mut() {
            Some((t, n)) if *t == now => *n += 1,
            _ => self.seconds.push_back((now, 1)),
        }
        self.total += 1;
    }

    /// Takes one event out of entry `i`, and the entry with its last one.
    fn take_one(&mut self, i: usize) {
        if let Some((_, n)) = self.seconds.get_mut(i) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.seconds.remove(i);
            }
        }
    }
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
        let cutoff = now - self.window_secs;
        if times.since(cutoff) < self.limit {
            return Ok(());
        }
        // The slot frees when the event `limit` places from the newest leaves.
        let mut seen = 0;
        for &(t, n) in times.seconds.iter().rev() {
            seen += n as usize;
            if seen >= self.limit {
                return Err((t + self.window_secs - now).max(1) as u64);
            }
        }
        Ok(())
    }

    pub fn record(&mut self, key: K, now: i64) {
        if now - self.last_sweep >= SWEEP_INTERVAL_SECS {
            self.sweep(now);
        }
        if !self.events.contains_key(&key) && self.events.len() >= self.max_keys {
            self.sweep(now);
            if self.events.len() >= self.max_keys && !self.forget_least_counted() {
                // Every key holds a counter worth keeping: the new key goes
                // uncounted rather than let an attacker wipe a near-locked
                // one by inventing keys.
                return;
            }
        }
        let times = self.events.entry(key).or_default();
        times.add(now, now - self.window_secs);
        // Only the newest `limit` events can ever matter.
        while times.total > self.limit {
            times.take_one(0);
        }
    }

    /// Takes back one event recorded at `at` under `key` (a reservation
    /// that turned out not to be a failure).
    pub fn release(&mut self, key: &K, at: i64) {
        let Some(times) = self.events.get_mut(key) else {
            return;
        };
        if let Some(i) = times.seconds.iter().rposition(|&(t, _)| t == at) {
            times.take_one(i);
        }
        if times.seconds.is_empty() {
            self.events.remove(key);
        }
    }

    pub fn clear(&mut self, key: &K) {
        self.events.remove(key);
    }

    /// Forgets every key `doomed` picks out; how many.
    pub fn clear_where(&mut self, doomed: impl Fn(&K) -> bool) -> usize {
        let before = self.events.len();
        self.events.retain(|key, _| !doomed(key));
        before - self.events.len()
    }

    /// Events under `key` still in the window.
    pub fn count(&self, key: &K, now: i64) -> usize {
        self.events
            .get(key)
            .map_or(0, |times| times.since(now - self.window_secs))
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
            .retain(|_, times| times.newest().is_some_and(|t| t > cutoff));
        self.last_sweep = now;
    }

    /// Makes room by forgetting the entry with the fewest events (the one
    /// idle longest among those), but never one at or above half its
    /// limit: flooding a table with fresh keys must not reset the counter
    /// of an account someone is close to locking. `false` if every entry
    /// is worth keeping.
    fn forget_least_counted(&mut self) -> bool {
        let keep_from = self.limit.div_ceil(2);
        let victim = self
            .events
            .iter()
            .filter(|(_, times)| times.total < keep_from)
            .min_by_key(|(_, times)| (times.total, times.newest().unwrap_or(i64::MIN)))
            .map(|(key, _)| key.clone());
        match victim {
            Some(key) => {
                self.events.remove(&key);
                true
            }
            None => false,
        }
    }
}

/// An identifier as a fixed-size key: a keyed hash of its lower-cased form,
/// so a 16 KiB "username" costs the table eight bytes, and nobody who does
/// not know the process's random key can make two identifiers collide.
type IdentifierKey = u64;

/// A failure slot taken by [`Throttle::reserve_login`]: kept when the
/// password is wrong, given back on success or when no check happened.
#[must_use = "a reservation is a counted failure until released"]
#[derive(Debug)]
pub struct Reservation {
    key: IdentifierKey,
    address: IpAddr,
    at: i64,
}

/// A failure slot taken by [`Throttle::reserve_token_guess`]: kept when the
/// token is wrong, given back when it is good.
#[must_use = "a reservation is a counted failure until released"]
#[derive(Debug)]
pub struct TokenGuess {
    address: IpAddr,
    at: i64,
}

struct Tables {
    pairs: Window<(IdentifierKey, IpAddr)>,
    addresses: Window<IpAddr>,
    identifiers: Window<IdentifierKey>,
    registrations: Window<IpAddr>,
    /// Password-reset requests per address (`PASSWORD_RESETS_PER_HOUR`).
    reset_requests: Window<IpAddr>,
    passkey_options: Window<IpAddr>,
    /// Reservations of each pair whose check has not ended yet (an entry
    /// only while there are some: bounded by the requests in flight).
    in_flight: HashMap<(IdentifierKey, IpAddr), usize>,
}

pub struct Throttle {
    hasher: RandomState,
    registrations_enabled: bool,
    passkey_options_limited: bool,
    /// How long a login may wait for the pair's checks in flight to end.
    patience: Duration,
    tables: Mutex<Tables>,
    /// Signalled whenever a reservation ends.
    settled: Condvar,
}

impl Throttle {
    /// `registrations_per_hour` 0 turns the registration limit off.
    pub fn new(login_failures_per_address: u32, registrations_per_hour: u32) -> Throttle {
        Throttle {
            hasher: RandomState::new(),
            registrations_enabled: registrations_per_hour > 0,
            passkey_options_limited: false,
            patience: Duration::ZERO,
            settled: Condvar::new(),
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
                reset_requests: Window::new(10, RESET_REQUEST_WINDOW_SECS, MAX_KEYS),
                passkey_options: Window::new(0, 60, MAX_KEYS),
                in_flight: HashMap::new(),
            }),
        }
    }

    /// Sets how long a login may wait for checks in flight of the same
    /// pair (the hash queue's budget): see [`Throttle::reserve_login`].
    pub fn with_patience(mut self, patience: Duration) -> Throttle {
        self.patience = patience;
        self
    }

    /// Sets how many password-reset requests one address may make an hour.
    pub fn with_reset_requests_per_hour(self, per_hour: u32) -> Throttle {
        lock(&self.tables).reset_requests =
            Window::new(per_hour as usize, RESET_REQUEST_WINDOW_SECS, MAX_KEYS);
        self
    }

    /// Counts a password-reset request from `address`, or refuses it with
    /// the seconds to wait: each one may send a mail, so an address cannot
    /// make the server mail anyone it likes in a loop.
    pub fn reset_request(&self, address: IpAddr, now: i64) -> Result<(), u64> {
        let mut tables = lock(&self.tables);
        tables.reset_requests.check(&address, now)?;
        tables.reset_requests.record(address, now);
        Ok(())
    }

    /// Sets how many passkey sign-in options one network may ask for a
    /// minute (`PASSKEY_OPTIONS_PER_MINUTE`): far more than its people sign
    /// in, far fewer than a flood. 0 turns the limit off.
    pub fn with_passkey_options_per_minute(mut self, per_minute: u32) -> Throttle {
        self.passkey_options_limited = per_minute > 0;
        lock(&self.tables).passkey_options = Window::new(per_minute as usize, 60, MAX_KEYS);
        self
    }

    /// Counts a request for passkey sign-in options from `group`'s network
    /// (an IPv4 /24; an IPv6 group is already its /64), or refuses it with
    /// the seconds to wait.
    pub fn passkey_options(&self, group: IpAddr, now: i64) -> Result<(), u64> {
        if !self.passkey_options_limited {
            return Ok(());
        }
        let network = match group {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
            IpAddr::V6(_) => group,
        };
        let mut tables = lock(&self.tables);
        tables.passkey_options.check(&network, now)?;
        tables.passkey_options.record(network, now);
        Ok(())
    }

    /// Reserves a failure slot in `address`'s login-failure window for a
    /// guess at an emailed token (password reset, verification), the way a
    /// login does: wrong tokens count like wrong passwords, so tokens
    /// cannot be guessed faster than passwords.
    pub fn reserve_token_guess(&self, address: IpAddr, now: i64) -> Result<TokenGuess, u64> {
        let mut tables = lock(&self.tables);
        tables.addresses.check(&address, now)?;
        tables.addresses.record(address, now);
        Ok(TokenGuess { address, at: now })
    }

    /// The token was good: give the slot back.
    pub fn token_accepted(&self, guess: TokenGuess) {
        lock(&self.tables)
            .addresses
            .release(&guess.address, guess.at);
    }

    fn key(&self, identifier: &str) -> IdentifierKey {
        self.hasher.hash_one(identifier.trim().to_lowercase())
    }

    /// Reserves a failure slot for a login of `identifier` from `address`
    /// (an address group) before its password is checked, or refuses it
    /// with the seconds to wait when any of its three limits is reached.
    ///
    /// The slot is counted at once, under the lock, so simultaneous
    /// attempts cannot all see "four failures so far" and all go ahead:
    /// eight wrong passwords at once for one pair give at most five 401s.
    /// The right password is refused too while locked: otherwise the lock
    /// would only slow the attacker down until the guess that succeeds.
    ///
    /// When the pair's slots are held by checks still in flight (not by
    /// failures), the login waits for their outcome, up to the patience
    /// set, instead of being refused: six people behind one address signing
    /// in to one account at once are not "too many attempts" until some
    /// have failed.
    pub fn reserve_login(
        &self,
        identifier: &str,
        address: IpAddr,
        now: i64,
    ) -> Result<Reservation, u64> {
        let key = self.key(identifier);
        let pair = (key, address);
        let deadline = Instant::now() + self.patience;
        let mut tables = lock(&self.tables);
        loop {
            let waits = [
                tables.pairs.check(&pair, now),
                tables.addresses.check(&address, now),
                tables.identifiers.check(&key, now),
            ];
            let Some(wait) = waits.iter().filter_map(|w| w.err()).max() else {
                break;
            };
            let in_flight = tables.in_flight.get(&pair).copied().unwrap_or(0);
            let failures = tables.pairs.count(&pair, now).saturating_sub(in_flight);
            let only_the_pair_refuses = waits[1].is_ok() && waits[2].is_ok();
            let left = deadline.saturating_duration_since(Instant::now());
            if !only_the_pair_refuses || failures >= PAIR_FAILURES || left.is_zero() {
                return Err(wait);
            }
            tables = self
                .settled
                .wait_timeout(tables, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        tables.pairs.record(pair, now);
        tables.addresses.record(address, now);
        tables.identifiers.record(key, now);
        *tables.in_flight.entry(pair).or_default() += 1;
        Ok(Reservation {
            key,
            address,
            at: now,
        })
    }

    /// The check behind `reservation` has ended, one way or another.
    fn settle(&self, tables: &mut Tables, reservation: &Reservation) {
        let pair = (reservation.key, reservation.address);
        if let Some(count) = tables.in_flight.get_mut(&pair) {
            *count -= 1;
            if *count == 0 {
                tables.in_flight.remove(&pair);
            }
        }
        self.settled.notify_all();
    }

    /// The attempt was not a failure after all (it never got to bcrypt, for
    /// example because the hash queue was full, or the password was right
    /// and a second factor is still to come): give the slot back.
    pub fn release(&self, reservation: Reservation) {
        let mut tables = lock(&self.tables);
        self.settle(&mut tables, &reservation);
        let Reservation { key, address, at } = reservation;
        tables.pairs.release(&(key, address), at);
        tables.addresses.release(&address, at);
        tables.identifiers.release(&key, at);
    }

    /// The attempt failed (a wrong password or code): its slot stays
    /// counted in every window.
    pub fn login_failed(&self, reservation: Reservation) {
        let mut tables = lock(&self.tables);
        self.settle(&mut tables, &reservation);
    }

    /// A success forgets that pair's failures (NIST SP 800-63B §5.2.2 lets a
    /// verifier disregard earlier failures once one succeeds) and gives back
    /// its own slot; the address and identifier totals otherwise stand, so
    /// one good login cannot launder many bad ones elsewhere.
    pub fn login_succeeded(&self, reservation: Reservation) {
        let mut tables = lock(&self.tables);
        self.settle(&mut tables, &reservation);
        let Reservation { key, address, at } = reservation;
        tables.pairs.clear(&(key, address));
        tables.addresses.release(&address, at);
        tables.identifiers.release(&key, at);
    }

    /// An operator lifts the lockout of `identifier` (as typed at login:
    /// a username or an email address): its failures from every address,
    /// and over all addresses, are forgotten. Whether there were any.
    pub fn unlock_identifier(&self, identifier: &str) -> bool {
        let key = self.key(identifier);
        let mut tables = lock(&self.tables);
        let pairs = tables.pairs.clear_where(|(k, _)| *k == key);
        let all = tables.identifiers.clear_where(|k| *k == key);
        pairs + all > 0
    }

    /// An operator lifts the lockout of an address (group): its failures
    /// over every identifier, and with each. Whether there were any.
    pub fn unlock_address(&self, address: IpAddr) -> bool {
        let mut tables = lock(&self.tables);
        let pairs = tables.pairs.clear_where(|(_, a)| *a == address);
        let all = tables.addresses.clear_where(|a| *a == address);
        pairs + all > 0
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
    fn a_high_limit_keeps_one_entry_a_second_and_forgets_the_expired() {
        let mut window: Window<u8> = Window::new(1_000_000, 3600, 10);
        for second in 0..7200 {
            for _ in 0..50 {
                window.record(1, second);
            }
        }
        let times = &window.events[&1];
        assert_eq!(
            times.seconds.len(),
            3600,
            "one entry a second, the window's worth"
        );
        assert_eq!(times.total, 3600 * 50);
        assert_eq!(window.count(&1, 7199), 3600 * 50);
        assert_eq!(window.check(&1, 7199), Ok(()));
        let mut tight: Window<u8> = Window::new(3, 60, 10);
        for t in [100, 100, 101] {
            tight.record(2, t);
        }
        assert_eq!(
            tight.check(&2, 101),
            Err(59),
            "the third newest, at 100, frees at 160"
        );
        tight.release(&2, 100);
        assert_eq!(tight.check(&2, 101), Ok(()));
        assert_eq!(tight.count(&2, 101), 2);
    }

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
    fn reservations_are_exact_under_concurrency_and_can_be_given_back() {
        let throttle = Throttle::new(100, 20);
        let a = ip("192.0.2.1");
        let granted: Vec<Reservation> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| throttle.reserve_login("alice", a, 1).ok()))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(granted.len(), PAIR_FAILURES);
        // Given back (no password was checked): the slot is free again.
        for reservation in granted {
            throttle.release(reservation);
        }
        assert!(throttle.reserve_login("alice", a, 2).is_ok());
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
            assert!(throttle.reserve_login("alice", a, t).is_ok());
        }
        assert_eq!(
            throttle.reserve_login("ALICE", a, 5).map(drop),
            Err(PAIR_WINDOW_SECS as u64 - 5)
        );
        assert!(
            throttle.reserve_login("alice", ip("192.0.2.2"), 5).is_ok(),
            "another address is a new pair"
        );
        assert!(
            throttle.reserve_login("alice", a, PAIR_WINDOW_SECS).is_ok(),
            "the lock ends by itself"
        );
    }

    #[test]
    fn a_success_clears_only_its_pair() {
        let throttle = Throttle::new(6, 20);
        let a = ip("192.0.2.1");
        for t in 0..4 {
            let _ = throttle.reserve_login("alice", a, t);
        }
        throttle.login_succeeded(throttle.reserve_login("alice", a, 4).unwrap());
        for t in 4..6 {
            let _ = throttle.reserve_login("alice", a, t);
        }
        // Pair: 2 since the success. Address: 6 of 6, so still locked.
        assert!(throttle.reserve_login("alice", a, 7).is_err());
        assert!(throttle.reserve_login("alice", ip("192.0.2.9"), 7).is_ok());
    }

    #[test]
    fn the_address_and_identifier_totals_apply() {
        let throttle = Throttle::new(10, 20);
        let a = ip("192.0.2.1");
        for n in 0..10 {
            let _ = throttle.reserve_login(&format!("user{n}"), a, 1);
        }
        assert!(
            throttle.reserve_login("someone-new", a, 2).is_err(),
            "password spraying from one address"
        );

        let throttle = Throttle::new(1000, 20);
        for n in 0..IDENTIFIER_FAILURES {
            let _ = throttle.reserve_login(
                "target",
                IpAddr::from([10, 0, (n / 256) as u8, n as u8]),
                1,
            );
        }
        assert!(
            throttle
                .reserve_login("target", ip("203.0.113.7"), 2)
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
    fn a_full_table_never_forgets_a_counter_at_half_its_limit() {
        let mut window = Window::new(4, 1000, 3);
        // A key two failures from locking, then a flood of fresh keys.
        window.record("near", 1);
        window.record("near", 2);
        for n in 0..500 {
            window.record(if n % 2 == 0 { "a" } else { "b" }, 3 + n);
            window.record(["c", "d", "e", "f"][n as usize % 4], 3 + n);
        }
        assert_eq!(window.events["near"].total, 2, "kept");
        assert_eq!(window.len(), 3);
        // Once every entry is worth keeping, a new key is not counted.
        let mut full = Window::new(2, 1000, 2);
        for key in ["x", "y"] {
            full.record(key, 1);
        }
        full.record("z", 2);
        assert_eq!(full.len(), 2);
        assert!(!full.events.contains_key("z"));
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
