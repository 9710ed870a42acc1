//! bcrypt hashing and verification.
//!
//! bcrypt reads at most 72 bytes of a password and silently ignores the
//! rest, so two long passwords sharing a prefix would be the same password
//! (NIST SP 800-63B §5.1.1.2: truncation SHALL NOT be performed; OWASP
//! Password Storage Cheat Sheet). Every password longer than
//! [`MAX_PASSWORD_BYTES`] is therefore refused here, before bcrypt sees it.
//!
//! Why not the crate's `non_truncating_*` functions: they count bcrypt's
//! terminating NUL and so refuse a password of exactly 72 bytes, which the
//! contract accepts and which bcrypt does use in full. Checking the length
//! here gives the contract's limit with nothing cut.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::auth::hash_queue::{HashQueue, QueueError};
use crate::support::metrics::Metrics;
use std::sync::Arc;

/// The most bytes of UTF-8 bcrypt reads.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// The lowest cost fit for production (OWASP ASVS 4.0.3 V2.4.4 asks for
/// at least 10); lower costs are for tests, and start-up warns.
pub const MIN_PRODUCTION_COST: u32 = 10;

/// A password that is never anyone's, hashed once to give unknown users a
/// hash to be checked against.
const DUMMY_PASSWORD: &str = "not a real password, only here for timing";

/// Why a password could not be hashed or checked.
#[derive(Debug, PartialEq, Eq)]
pub enum HashError {
    /// The wait for a worker would be over the budget: try again in
    /// `retry_after_secs`.
    Busy { retry_after_secs: u64 },
    /// bcrypt failed (the OS random source, or a worker died): why.
    Failed(String),
}

impl From<QueueError> for HashError {
    fn from(error: QueueError) -> HashError {
        match error {
            // Whole seconds, rounded up, at least one (RFC 9110 §10.2.3).
            QueueError::OverBudget { expected_wait } => HashError::Busy {
                retry_after_secs: expected_wait.as_secs_f64().ceil().max(1.0) as u64,
            },
            QueueError::WorkerStopped => HashError::Failed("a hash worker stopped".into()),
        }
    }
}

/// bcrypt at the configured cost, run on the fair queue of
/// [`crate::auth::hash_queue`], so requests that need no hash never wait
/// behind it and a flood from one address cannot starve another.
pub struct PasswordHasher {
    cost: u32,
    dummy_hash: OnceLock<String>,
    queue: HashQueue,
}

/// A first guess of one hash's time before any is measured: bcrypt doubles
/// with each cost step, about 50 µs per unit on a current core (cost 12 ≈
/// 200 ms). The running average replaces it within a few hashes.
fn first_estimate(cost: u32) -> Duration {
    Duration::from_micros(50).saturating_mul(1u32.checked_shl(cost).unwrap_or(u32::MAX))
}

impl PasswordHasher {
    /// `workers` hashing threads; a request waits at most about `budget`
    /// for one of them.
    pub fn new(cost: u32, workers: usize, budget: Duration) -> PasswordHasher {
        PasswordHasher::with_metrics(cost, workers, budget, None)
    }

    /// The same, counting waits and hash times in `metrics`.
    pub fn with_metrics(
        cost: u32,
        workers: usize,
        budget: Duration,
        metrics: Option<Arc<Metrics>>,
    ) -> PasswordHasher {
        PasswordHasher {
            cost,
            dummy_hash: OnceLock::new(),
            queue: HashQueue::new(workers, budget, first_estimate(cost), metrics),
        }
    }

    /// A salted bcrypt hash at the configured cost, computed in `client`'s
    /// turn.
    pub fn hash(&self, password: &str, client: IpAddr) -> Result<String, HashError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(HashError::Failed("a password over 72 bytes".into()));
        }
        let (password, cost) = (password.to_string(), self.cost);
        self.queue
            .run(client, move || bcrypt::hash(password, cost))?
            .map_err(|error| HashError::Failed(error.to_string()))
    }

    /// Whether `password` matches `stored`, checked in `client`'s turn.
    ///
    /// Every answer costs one bcrypt verify at the account's cost, so
    /// neither the time nor the load tells a wrong password from an unknown
    /// account or an overlong password (OWASP Authentication Cheat Sheet,
    /// "Authentication Responses"): with no stored hash a dummy hash of the
    /// configured cost is checked, and a password over 72 bytes, which no
    /// stored hash can match, is replaced by one that cannot match either.
    pub fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
        client: IpAddr,
    ) -> Result<bool, HashError> {
        let can_match = stored.is_some() && password.len() <= MAX_PASSWORD_BYTES;
        let hash = stored.unwrap_or_else(|| self.dummy_hash()).to_string();
        let password = if password.len() <= MAX_PASSWORD_BYTES {
            password.to_string()
        } else {
            DUMMY_PASSWORD.to_string()
        };
        // A malformed stored hash is a mismatch, never an error page.
        let matches = self.queue.run(client, move || {
            bcrypt::verify(password, &hash).unwrap_or(false)
        })?;
        Ok(matches && can_match)
    }

    /// Whether a stored hash was made at another cost and should be
    /// replaced, now that the password is known to be right.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        stored
            .parse::<bcrypt::HashParts>()
            .map_or(true, |parts| parts.get_cost() != self.cost)
    }

    /// Computes the dummy hash ahead of the first unknown-user login, which
    /// would otherwise take twice as long as any other, and uses its time as
    /// the queue's first measured average.
    pub fn warm_up(&self) {
        let started = Instant::now();
        self.dummy_hash();
        self.queue.set_average(started.elapsed());
    }

    /// Jobs waiting for a hash worker now.
    pub fn queue_depth(&self) -> usize {
        self.queue.depth()
    }

    fn dummy_hash(&self) -> &str {
        // Made off the queue, once. Hashing a short ASCII string at a valid
        // cost fails only if the OS random source does; the empty string
        // then simply never verifies.
        self.dummy_hash
            .get_or_init(|| bcrypt::hash(DUMMY_PASSWORD, self.cost).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn hasher(cost: u32) -> PasswordHasher {
        PasswordHasher::new(cost, 2, Duration::from_secs(5))
    }

    #[test]
    fn verifies_and_refuses() {
        let hasher = hasher(4);
        let hash = hasher.hash("correct horse battery staple", ME).unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert_eq!(
            hasher.verify("correct horse battery staple", Some(&hash), ME),
            Ok(true)
        );
        assert_eq!(
            hasher.verify("correct horse battery stapl", Some(&hash), ME),
            Ok(false)
        );
        assert_eq!(
            hasher.verify(DUMMY_PASSWORD, None, ME),
            Ok(false),
            "the dummy never admits anyone"
        );
        assert_eq!(hasher.verify("x", Some("not a hash"), ME), Ok(false));
    }

    #[test]
    fn never_truncates() {
        let hasher = hasher(4);
        assert!(hasher.hash(&"a".repeat(73), ME).is_err());
        let hash = hasher.hash(&"a".repeat(72), ME).unwrap();
        assert_eq!(hasher.verify(&"a".repeat(72), Some(&hash), ME), Ok(true));
        assert_eq!(
            hasher.verify(&format!("{}X", "a".repeat(72)), Some(&hash), ME),
            Ok(false)
        );
        // All 72 bytes count: the last one changes the hash.
        let other = hasher.hash(&format!("{}b", "a".repeat(71)), ME).unwrap();
        assert_eq!(hasher.verify(&"a".repeat(72), Some(&other), ME), Ok(false));
    }

    /// How many bcrypt runs the metrics have seen.
    fn hashes_run(metrics: &Metrics) -> u64 {
        let text = metrics.render(&crate::support::metrics::Gauges {
            hash_queue_depth: 0,
            sessions_live: 0,
            connections_open: 0,
            start_time_secs: 0,
        });
        text.lines()
            .find_map(|line| line.strip_prefix("auth_hash_seconds_count "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn an_overlong_password_costs_a_verify_like_any_other() {
        // Counted, not timed: each answer ran bcrypt exactly once.
        let metrics = Arc::new(Metrics::new(&[]));
        let hasher =
            PasswordHasher::with_metrics(4, 1, Duration::from_secs(5), Some(Arc::clone(&metrics)));
        let hash = hasher.hash("correct horse battery staple", ME).unwrap();
        // The dummy hash for absent accounts is made at its first use.
        assert_eq!(hasher.verify("warm up", None, ME), Ok(false));
        let before = hashes_run(&metrics);
        for password in ["wrong horse battery staple", &"a".repeat(100)] {
            assert_eq!(hasher.verify(password, Some(&hash), ME), Ok(false));
        }
        assert_eq!(hashes_run(&metrics), before + 2);
        // And an account that does not exist costs one too (a dummy hash).
        assert_eq!(hasher.verify("anything", None, ME), Ok(false));
        assert_eq!(hashes_run(&metrics), before + 3);
    }

    #[test]
    fn same_password_different_salts() {
        let hasher = hasher(4);
        assert_ne!(
            hasher.hash("same password", ME).unwrap(),
            hasher.hash("same password", ME).unwrap()
        );
    }

    #[test]
    fn rehash_when_cost_differs() {
        let old = hasher(4).hash("pw", ME).unwrap();
        assert!(hasher(5).needs_rehash(&old));
        assert!(!hasher(4).needs_rehash(&old));
    }

    #[test]
    fn over_the_budget_is_busy_with_whole_seconds() {
        assert_eq!(
            HashError::from(QueueError::OverBudget {
                expected_wait: Duration::from_millis(1200)
            }),
            HashError::Busy {
                retry_after_secs: 2
            }
        );
        assert_eq!(
            HashError::from(QueueError::OverBudget {
                expected_wait: Duration::from_millis(10)
            }),
            HashError::Busy {
                retry_after_secs: 1
            }
        );
    }
}
