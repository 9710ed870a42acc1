//! The passkey ceremonies' challenges: each one random, good for one use
//! within five minutes (W3C WebAuthn Level 3 §13.4.3: a challenge the
//! server generated, kept until the ceremony ends, so a recorded response
//! cannot be played again).
//!
//! Adding a passkey: [`Challenges`], a table in memory, each challenge
//! issued to the signed-in session that asked. Bounded like every table
//! here: a session holds at most [`PER_OWNER`] (a sixth pushes out its
//! oldest), the table [`MAX_CHALLENGES`], past which expired ones go first
//! and then the oldest.
//!
//! Signing in: [`SignInTickets`]. Nobody is signed in yet, so a table keyed
//! by address could be filled by anyone with enough addresses, pushing out
//! the challenge of a real sign-in under way. Instead the browser holds its
//! own challenge, in a short-lived `HttpOnly` cookie with an HMAC-SHA256 tag
//! (RFC 2104) under a key of this process: only this server can make one,
//! and a flood of option requests costs no memory at all. Single use is a
//! small set of the challenges spent, each kept until it would have
//! expired anyway.
//!
//! A restart forgets them all (a new key), which only restarts ceremonies.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::auth::token::TokenHash;
use crate::auth::webauthn::CHALLENGE_BYTES;
use crate::support::base64;
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

/// The sign-in cookie that holds the browser's challenge. Set without
/// `Path`, so it goes back only to the passkey sign-in path (its default
/// path, RFC 6265 §5.1.4), under any proxy prefix.
pub const TICKET_COOKIE: &str = "passkey_challenge";
/// Challenges spent in the last five minutes, at most: past it (a flood of
/// real tickets being spent) a sign-in is refused rather than a challenge
/// forgotten, which would let a response be replayed.
pub const MAX_SPENT: usize = 100_000;
/// The HMAC tag's length in the ticket.
const TAG_BYTES: usize = 32;

/// What a browser holds for this server, sealed: base64url(body ‖ tag),
/// the tag an HMAC-SHA256 (RFC 2104) under a key of this process, so only
/// this server can make one and nobody can change one; and the set of
/// those already spent, each kept until it would have expired anyway.
#[derive(Default)]
pub struct Seal {
    /// Made at first use: SHA-256's block size, HMAC's natural key length
    /// (RFC 2104 §3).
    key: OnceLock<[u8; 64]>,
    /// Spent ids and when each would have expired.
    spent: Mutex<HashMap<[u8; CHALLENGE_BYTES], i64>>,
}

impl Seal {
    fn key(&self) -> Result<&[u8; 64], getrandom::Error> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let mut fresh = [0u8; 64];
        getrandom::fill(&mut fresh)?;
        Ok(self.key.get_or_init(|| fresh))
    }

    /// `purpose` keeps a seal made for one use from being accepted by
    /// another.
    fn tag(key: &[u8; 64], purpose: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*key).into());
        mac.update(purpose);
        mac.update(body);
        mac
    }

    /// `body`, sealed for `purpose`.
    pub fn seal(&self, purpose: &[u8], body: &[u8]) -> Result<String, getrandom::Error> {
        let mut sealed = body.to_vec();
        sealed.extend_from_slice(
            &Self::tag(self.key()?, purpose, body)
                .finalize()
                .into_bytes(),
        );
        Ok(base64::encode_url(&sealed))
    }

    /// The body of a seal this process made for `purpose`; `None` for
    /// anything else.
    pub fn open(&self, purpose: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let (key, bytes) = (self.key.get()?, base64::decode_url(sealed)?);
        let split = bytes.len().checked_sub(TAG_BYTES)?;
        let (body, tag) = bytes.split_at(split);
        // Constant time (hmac's verify): a forged tag learns nothing.
        Self::tag(key, purpose, body).verify_slice(tag).ok()?;
        Some(body.to_vec())
    }

    /// Spends `id`, good until `expires_at`: `false` if it was spent
    /// before, or if [`MAX_SPENT`] unexpired ones are held (refusing is
    /// safe; forgetting one would let it be spent twice).
    pub fn spend(&self, id: [u8; CHALLENGE_BYTES], expires_at: i64, now: i64) -> bool {
        let mut spent = lock(&self.spent);
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, expires| *expires > now);
        }
        if spent.len() >= MAX_SPENT || spent.contains_key(&id) {
            return false;
        }
        spent.insert(id, expires_at);
        true
    }
}

/// Sign-in challenges held by the browser (see the module's note).
#[derive(Default)]
pub struct SignInTickets {
    seal: Seal,
}

const TICKET_PURPOSE: &[u8] = b"passkey sign-in ";

impl SignInTickets {
    /// A new challenge, and the cookie value that carries it:
    /// base64url(challenge ‖ issued at ‖ HMAC tag).
    pub fn issue(&self, now: i64) -> Result<([u8; CHALLENGE_BYTES], String), getrandom::Error> {
        let mut challenge = [0u8; CHALLENGE_BYTES];
        getrandom::fill(&mut challenge)?;
        let mut ticket = challenge.to_vec();
        ticket.extend_from_slice(&now.to_be_bytes());
        Ok((challenge, self.seal.seal(TICKET_PURPOSE, &ticket)?))
    }

    /// Whether `ticket` is one this process issued less than five minutes
    /// ago, for `challenge` (the one the browser signed), spent now and
    /// never before.
    pub fn redeem(&self, ticket: &str, challenge: &[u8], now: i64) -> bool {
        let Some(body) = self.seal.open(TICKET_PURPOSE, ticket) else {
            return false;
        };
        if body.len() != CHALLENGE_BYTES + 8 {
            return false;
        }
        let (issued, at) = body.split_at(CHALLENGE_BYTES);
        let Ok(at) = <[u8; 8]>::try_from(at).map(i64::from_be_bytes) else {
            return false;
        };
        let fresh = (0..CHALLENGE_TTL_SECS).contains(&(now - at));
        if !fresh || issued != challenge {
            return false;
        }
        let Ok(issued) = <[u8; CHALLENGE_BYTES]>::try_from(issued) else {
            return false;
        };
        self.seal.spend(issued, at + CHALLENGE_TTL_SECS, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> Owner {
        Owner::Session(TokenHash([last; 32]))
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
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let owner = Owner::Session(TokenHash(hash));
            many.issue(owner, 1000).unwrap();
        }
        assert_eq!(many.len(), MAX_CHALLENGES);
    }

    #[test]
    fn a_ticket_is_this_servers_own_for_its_challenge_once_and_while_fresh() {
        let tickets = SignInTickets::default();
        let (challenge, ticket) = tickets.issue(1000).unwrap();
        let (other, _) = tickets.issue(1000).unwrap();
        assert!(!tickets.redeem(&ticket, &other, 1001), "another challenge");
        assert!(tickets.redeem(&ticket, &challenge, 1001));
        assert!(!tickets.redeem(&ticket, &challenge, 1002), "spent once");
        let (challenge, ticket) = tickets.issue(1000).unwrap();
        assert!(
            !tickets.redeem(&ticket, &challenge, 1000 + CHALLENGE_TTL_SECS),
            "stale"
        );
        // A changed byte anywhere, or another process's key: refused.
        let (challenge, ticket) = tickets.issue(1000).unwrap();
        let mut bytes = base64::decode_url(&ticket).unwrap();
        for at in [0, CHALLENGE_BYTES + 7, bytes.len() - 1] {
            bytes[at] ^= 1;
            assert!(
                !tickets.redeem(&base64::encode_url(&bytes), &challenge, 1001),
                "byte {at}"
            );
            bytes[at] ^= 1;
        }
        let elsewhere = SignInTickets::default();
        elsewhere.issue(1000).unwrap();
        assert!(!elsewhere.redeem(&ticket, &challenge, 1001));
        assert!(!tickets.redeem("", &challenge, 1001));
        assert!(!tickets.redeem("%%%", &challenge, 1001));
        assert!(tickets.redeem(&ticket, &challenge, 1001));
    }
}
