//! The ID tokens' signing keys: one RS256 and one ES256 in force, and the
//! ones retired less than a day ago still published, for tokens signed
//! before a rotation. Keys are made at start-up (when there are clients to
//! sign for), when a client is added, or by `admin oidc rotate-keys`; never
//! while answering a request, so no GET waits on key generation or writes.

use std::sync::Arc;

use crate::accounts::oidc::RETIRED_KEY_SECS;
use crate::accounts::{Accounts, Trouble};
use crate::auth::jose::{Alg, Key, Published, Stored};
use crate::storage::oidc::StoredKey;

/// The keys to publish: those in force and those retired less than a day
/// ago. Read from the database each time, so `admin oidc rotate-keys` in
/// another process counts at once; parsed again only when the set changed.
pub fn keys(accounts: &Accounts, now: i64) -> Result<Vec<Published>, Trouble> {
    let mut stored = accounts.db.oidc_keys()?;
    stored.retain(|k| k.retired_at.is_none_or(|at| now - at < RETIRED_KEY_SECS));
    let stored: Vec<Stored> = stored
        .iter()
        .map(|k| Stored {
            kid: &k.kid,
            alg: &k.alg,
            secret: &k.secret,
            retired_at: k.retired_at,
        })
        .collect();
    Ok(accounts.oidc_keys.keys(&stored))
}

/// Makes a key of each algorithm that has none in force.
pub fn ensure_keys(accounts: &Accounts, now: i64) -> Result<(), Trouble> {
    let stored = accounts.db.oidc_keys()?;
    for alg in [Alg::Rs256, Alg::Es256] {
        let in_force = |k: &StoredKey| k.alg == alg.as_str() && k.retired_at.is_none();
        if !stored.iter().any(in_force) {
            add_key(accounts, alg, now)?;
        }
    }
    Ok(())
}

/// The key that signs for `alg` now.
pub(crate) fn signer(accounts: &Accounts, alg: Alg, now: i64) -> Result<Arc<Key>, Trouble> {
    keys(accounts, now)?
        .into_iter()
        .find(|(key, retired)| key.alg() == alg && retired.is_none())
        .map(|(key, _)| key)
        .ok_or_else(|| {
            Trouble::Internal(format!(
                "no {} key in force: run auth-server admin oidc rotate-keys",
                alg.as_str()
            ))
        })
}

/// Makes a key of `alg` the one that signs, retiring the one before.
pub fn add_key(accounts: &Accounts, alg: Alg, now: i64) -> Result<String, Trouble> {
    let (key, secret) = Key::generate(alg).map_err(|e| Trouble::busy(format!("key: {}", e.0)))?;
    accounts.db.add_oidc_key(
        &StoredKey {
            kid: key.kid.clone(),
            alg: alg.as_str().to_string(),
            secret,
            created_at: now,
            retired_at: None,
        },
        now - RETIRED_KEY_SECS,
    )?;
    Ok(key.kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_keys_makes_none_and_a_rotation_keeps_the_old_one_a_day() {
        let accounts = Accounts::for_tests(&[]);
        assert!(
            keys(&accounts, 0).unwrap().is_empty(),
            "a read makes no key"
        );
        assert!(signer(&accounts, Alg::Es256, 0).is_err());
        ensure_keys(&accounts, 0).unwrap();
        ensure_keys(&accounts, 0).unwrap();
        assert_eq!(keys(&accounts, 0).unwrap().len(), 2, "one of each, once");
        let first = signer(&accounts, Alg::Es256, 0).unwrap().kid.clone();
        let second = add_key(&accounts, Alg::Es256, 10).unwrap();
        assert_eq!(signer(&accounts, Alg::Es256, 10).unwrap().kid, second);
        let published = |now| -> Vec<String> {
            keys(&accounts, now)
                .unwrap()
                .iter()
                .map(|(key, _)| key.kid.clone())
                .collect()
        };
        assert!(published(10).contains(&first));
        assert!(!published(10 + RETIRED_KEY_SECS).contains(&first));
    }
}
