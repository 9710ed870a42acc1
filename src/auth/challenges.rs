//! The passkey ceremonies' challenges, in memory: each one random, issued
//! to one owner (a session adding a passkey, or an address group signing
//! in), good for one use within five minutes (W3C WebAuthn Level 3 §13.4.3:
//! a challenge the server generated, kept until the ceremony ends, so a
//! recorded response cannot be played again).
//!
//! Bounded like every table here: an owner holds at most
//! [`PER_OWNER`] challenges (a sixth pushes out its oldest), and the whole
//! table [`MAX_CHALLENGES`], past which expired ones go first and then the
//! oldest. A restart forgets them all, which only restarts ceremonies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::auth::token::TokenHash;
use crate::auth::webauthn::CHALLENGE_BYTES;
use crate::support::lock::lock;

/// How long a ceremony may take: the `timeout` the options name (300000 ms).
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Outstanding challenges of one owner.
pub const PER_OWNER: usize = 5;
/// Outstanding challenges in all.
pub const MAX_CHALLENGES: usize = 10_000;

/// Who a challenge was issued to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A signed-in session adding a passkey (the hash of its token).
    Session(TokenHash),
    /// Someone signing in, by address group.
    Address(IpAddr),
}

struct Pending {
    owner: Owner,
    issued_at: i64,
    /// Issue order, to find the oldest.
    serial: u64,
}

#[derive(Default)]
struct Table {
    pending: HashMap<[u8; CHALLENGE_BYTES], Pending>,
    /// How many of `pending` each owner has (only owners with some).
    per_owner: HashMap<Owner, usize>,
    next_serial: u64,
}

impl Table {
    fn remove(&mut self, challenge: &[u8; CHALLENGE_BYTES]) -> Option<Pending> {
        let pending = self.pending.remove(challenge)?;
        if let Some(count) = self.per_owner.get_mut(&pending.owner) {
            *count -= 1;
            if *count == 0 {
                self.per_owner.remove(&pending.owner);
            }
        }
        Some(pending)
    }

    /// The oldest challenge among those `keep` selects.
    fn oldest(&self, keep: impl Fn(&Pending) -> bool) -> Option<[u8; CHALLENGE_BYTES]> {
        self.pending
            .iter()
            .filter(|(_, p)| keep(p))
            .min_by_key(|(_, p)| p.serial)
            .map(|(c, _)| *c)
    }
}

#[derive(Default)]
pub struct Challenges {
    table: Mutex<Table>,
}

impl Challenges {
    /// A new challenge for `owner`.
    pub fn issue(&self, owner: Owner, now: i64) -> Result<[u8; CHALLENGE_BYTES], getrandom::Error> {
        let mut challenge = [0u8; CHALLENGE_BYTES];
        getrandom::fill(&mut challenge)?;
        let mut table = lock(&self.table);
        // Scans happen only at a limit: the table is small and bounded.
        if table.per_owner.get(&owner).copied().unwrap_or(0) >= PER_OWNER
            && let Some(oldest) = table.oldest(|p| p.owner == owner)
        {
            table.remove(&oldest);
        }
        if table.pending.len() >= MAX_CHALLENGES {
            let expired: Vec<_> = (table.pending.iter())
                .filter(|(_, p)| now - p.issued_at >= CHALLENGE_TTL_SECS)
                .map(|(c, _)| *c)
                .collect();
            for challenge in &expired {
                table.remove(challenge);
            }
        }
        if table.pending.len() >= MAX_CHALLENGES
            && let Some(oldest) = table.oldest(|_| true)
        {
            table.remove(&oldest);
        }
        let serial = table.next_serial;
        table.next_serial += 1;
        *table.per_owner.entry(owner).or_default() += 1;
        table.pending.insert(
            challenge,
            Pending {
                owner,
                issued_at: now,
                serial,
            },
        );
        Ok(challenge)
    }

    /// Spends `challenge`: its owner if this server issued it less than
    /// five minutes ago and it was not spent before; `None` otherwise. A
    /// challenge is gone after this whatever the ceremony's outcome.
    pub fn take(&self, challenge: &[u8], now: i64) -> Option<Owner> {
        let key: [u8; CHALLENGE_BYTES] = challenge.try_into().ok()?;
        let pending = lock(&self.table).remove(&key)?;
        (now - pending.issued_at < CHALLENGE_TTL_SECS).then_some(pending.owner)
    }

    pub fn len(&self) -> usize {
        lock(&self.table).pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> Owner {
        Owner::Address(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn a_challenge_is_spent_once_and_only_while_fresh() {
        let challenges = Challenges::default();
        let first = challenges.issue(address(1), 1000).unwrap();
        assert_eq!(challenges.take(&first, 1010), Some(address(1)));
        assert_eq!(challenges.take(&first, 1010), None, "used once");
        let stale = challenges.issue(address(1), 1000).unwrap();
        assert_eq!(challenges.take(&stale, 1000 + CHALLENGE_TTL_SECS), None);
        assert_eq!(challenges.take(&[0; 32], 1000), None);
        assert_eq!(challenges.take(b"short", 1000), None);
    }

    #[test]
    fn an_owner_holds_five_and_the_table_stays_bounded() {
        let challenges = Challenges::default();
        let issued: Vec<_> = (0..PER_OWNER + 1)
            .map(|_| challenges.issue(address(1), 1000).unwrap())
            .collect();
        assert_eq!(challenges.len(), PER_OWNER);
        assert_eq!(challenges.take(&issued[0], 1000), None, "the oldest went");
        assert_eq!(challenges.take(&issued[PER_OWNER], 1000), Some(address(1)));

        let many = Challenges::default();
        for i in 0..MAX_CHALLENGES + 10 {
            let owner = Owner::Address(IpAddr::from((i as u128).to_be_bytes()));
            many.issue(owner, 1000).unwrap();
        }
        assert_eq!(many.len(), MAX_CHALLENGES);
    }
}
