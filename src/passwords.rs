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

use std::sync::OnceLock;

/// The most bytes of UTF-8 bcrypt reads.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// A password that is never anyone's, hashed once to give unknown users a
/// hash to be checked against.
const DUMMY_PASSWORD: &str = "not a real password, only here for timing";

pub struct PasswordHasher {
    cost: u32,
    dummy_hash: OnceLock<String>,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> PasswordHasher {
        PasswordHasher {
            cost,
            dummy_hash: OnceLock::new(),
        }
    }

    /// A salted bcrypt hash at the configured cost.
    pub fn hash(&self, password: &str) -> Result<String, bcrypt::BcryptError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(bcrypt::BcryptError::Truncation(password.len()));
        }
        bcrypt::hash(password, self.cost)
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// user) a dummy hash of the same cost is checked anyway and the answer
    /// is no, so the time taken does not tell whether the account exists
    /// (OWASP Authentication Cheat Sheet, "Authentication Responses").
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        // Too long to have been registered: no stored hash can match it,
        // known user or not, so both answer at once.
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let hash = stored.unwrap_or_else(|| self.dummy_hash());
        // A malformed stored hash is a mismatch, never an error page.
        let matches = bcrypt::verify(password, hash).unwrap_or(false);
        matches && stored.is_some()
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
        // Hashing a short ASCII string at a valid cost fails only if the OS
        // random source does; the empty string then simply never verifies.
        self.dummy_hash
            .get_or_init(|| self.hash(DUMMY_PASSWORD).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_refuses() {
        let hasher = PasswordHasher::new(4);
        let hash = hasher.hash("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse battery staple", Some(&hash)));
        assert!(!hasher.verify("correct horse battery stapl", Some(&hash)));
        assert!(
            !hasher.verify(DUMMY_PASSWORD, None),
            "the dummy never admits anyone"
        );
        assert!(!hasher.verify("x", Some("not a hash")));
    }

    #[test]
    fn never_truncates() {
        let hasher = PasswordHasher::new(4);
        assert!(hasher.hash(&"a".repeat(73)).is_err());
        let hash = hasher.hash(&"a".repeat(72)).unwrap();
        assert!(hasher.verify(&"a".repeat(72), Some(&hash)));
        assert!(!hasher.verify(&format!("{}X", "a".repeat(72)), Some(&hash)));
        // All 72 bytes count: the last one changes the hash.
        let other = hasher.hash(&format!("{}b", "a".repeat(71))).unwrap();
        assert!(!hasher.verify(&"a".repeat(72), Some(&other)));
    }

    #[test]
    fn same_password_different_salts() {
        let hasher = PasswordHasher::new(4);
        assert_ne!(
            hasher.hash("same password").unwrap(),
            hasher.hash("same password").unwrap()
        );
    }

    #[test]
    fn rehash_when_cost_differs() {
        let old = PasswordHasher::new(4).hash("pw").unwrap();
        assert!(PasswordHasher::new(5).needs_rehash(&old));
        assert!(!PasswordHasher::new(4).needs_rehash(&old));
    }
}
