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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use crate::support::lock::lock;

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
    /// Every worker is busy and the queue is full: try again in
    /// `retry_after_secs`.
    Busy { retry_after_secs: u64 },
    /// bcrypt failed (the OS random source, or a worker died): why.
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// bcrypt runs on its own small pool of threads with a short queue.
///
/// bcrypt is slow on purpose (about 200 ms at cost 12 on one core), so a
/// flood of logins could otherwise occupy every core and every connection
/// thread. With the pool, at most `workers` hashes run at once, a few more
/// wait, and the rest are refused at once with 503; requests that need no
/// hash never wait behind it.
pub struct PasswordHasher {
    cost: u32,
    dummy_hash: OnceLock<String>,
    jobs: SyncSender<Job>,
}

impl PasswordHasher {
    /// Starts `workers` hashing threads with room for `queue` waiting jobs.
    pub fn new(cost: u32, workers: usize, queue: usize) -> PasswordHasher {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..workers.max(1) {
            let waiting = Arc::clone(&waiting);
            // If a thread cannot start, the others still serve; with none,
            // every job is answered Busy, never hung.
            let _ = thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || work(&waiting));
        }
        PasswordHasher {
            cost,
            dummy_hash: OnceLock::new(),
            jobs,
        }
    }

    /// Runs `job` on the pool and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (answer, answered) = mpsc::sync_channel(1);
        let wrapped: Job = Box::new(move || {
            let _ = answer.send(job());
        });
        self.jobs.try_send(wrapped).map_err(|_| HashError::Busy {
            retry_after_secs: 1,
        })?;
        answered
            .recv()
            .map_err(|_| HashError::Failed("a hash worker stopped".into()))
    }

    /// A salted bcrypt hash at the configured cost, computed on the pool.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(HashError::Failed("a password over 72 bytes".into()));
        }
        let (password, cost) = (password.to_string(), self.cost);
        self.run(move || bcrypt::hash(password, cost))?
            .map_err(|error| HashError::Failed(error.to_string()))
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// user) a dummy hash of the same cost is checked anyway and the answer
    /// is no, so the time taken does not tell whether the account exists
    /// (OWASP Authentication Cheat Sheet, "Authentication Responses").
    pub fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        // Too long to have been registered: no stored hash can match it,
        // known user or not, so both answer at once.
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let is_real = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash()).to_string();
        let password = password.to_string();
        // A malformed stored hash is a mismatch, never an error page.
        let matches = self.run(move || bcrypt::verify(password, &hash).unwrap_or(false))?;
        Ok(matches && is_real)
    }

    /// Whether a stored hash was made at another cost and should be
    /// replaced, now that the password is known to be right.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        stored
            .parse::<bcrypt::HashParts>()
            .map_or(true, |parts| parts.get_cost() != self.cost)
    }

    /// Computes the dummy hash ahead of the first unknown-user login, which
    /// would otherwise take twice as long as any other.
    pub fn warm_up(&self) {
        self.dummy_hash();
    }

    fn dummy_hash(&self) -> &str {
        // Made off the pool, once. Hashing a short ASCII string at a valid
        // cost fails only if the OS random source does; the empty string
        // then simply never verifies.
        self.dummy_hash
            .get_or_init(|| bcrypt::hash(DUMMY_PASSWORD, self.cost).unwrap_or_default())
    }
}

/// A worker: take the next job, run it, repeat until the hasher is gone.
/// A job that panics loses only its own answer (the caller sees `Failed`).
fn work(waiting: &Mutex<Receiver<Job>>) {
    loop {
        let next = lock(waiting).recv();
        let Ok(job) = next else {
            return;
        };
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(cost: u32) -> PasswordHasher {
        PasswordHasher::new(cost, 2, 4)
    }

    #[test]
    fn verifies_and_refuses() {
        let hasher = hasher(4);
        let hash = hasher.hash("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert_eq!(
            hasher.verify("correct horse battery staple", Some(&hash)),
            Ok(true)
        );
        assert_eq!(
            hasher.verify("correct horse battery stapl", Some(&hash)),
            Ok(false)
        );
        assert_eq!(
            hasher.verify(DUMMY_PASSWORD, None),
            Ok(false),
            "the dummy never admits anyone"
        );
        assert_eq!(hasher.verify("x", Some("not a hash")), Ok(false));
    }

    #[test]
    fn never_truncates() {
        let hasher = hasher(4);
        assert!(hasher.hash(&"a".repeat(73)).is_err());
        let hash = hasher.hash(&"a".repeat(72)).unwrap();
        assert_eq!(hasher.verify(&"a".repeat(72), Some(&hash)), Ok(true));
        assert_eq!(
            hasher.verify(&format!("{}X", "a".repeat(72)), Some(&hash)),
            Ok(false)
        );
        // All 72 bytes count: the last one changes the hash.
        let other = hasher.hash(&format!("{}b", "a".repeat(71))).unwrap();
        assert_eq!(hasher.verify(&"a".repeat(72), Some(&other)), Ok(false));
    }

    #[test]
    fn same_password_different_salts() {
        let hasher = hasher(4);
        assert_ne!(
            hasher.hash("same password").unwrap(),
            hasher.hash("same password").unwrap()
        );
    }

    #[test]
    fn rehash_when_cost_differs() {
        let old = hasher(4).hash("pw").unwrap();
        assert!(hasher(5).needs_rehash(&old));
        assert!(!hasher(4).needs_rehash(&old));
    }

    #[test]
    fn a_full_pool_answers_busy_at_once() {
        // One worker, one queue slot, slow hashes: of eight at once, at most
        // two are taken and the rest are refused without waiting.
        let hasher = PasswordHasher::new(12, 1, 1);
        let answers: Vec<Result<String, HashError>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| hasher.hash("some password")))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let busy = answers
            .iter()
            .filter(|a| matches!(a, Err(HashError::Busy { .. })))
            .count();
        assert!(busy >= 6, "{busy} busy of 8");
        assert!(answers.iter().any(Result::is_ok));
    }
}
