//! An operator lifts a lockout: `auth-server admin unlock NAME` (the
//! account's username and email, each a login identifier with its own
//! counters) or `--address ADDR`. The throttle's windows are the server's
//! memory, so the request travels through the database and the server
//! applies it within seconds ([`Accounts::apply_unlocks`]); the lockout
//! would have ended by itself (NIST SP 800-63B §5.2.2: throttling, never a
//! permanent lock), this only ends it sooner for someone the operator
//! knows.

use std::net::IpAddr;

use crate::accounts::audit::AuthEvent;
use crate::accounts::{Accounts, Client, Trouble};
use crate::storage::User;
use crate::storage::unlocks::Unlock;

/// Queues the unlock of `user`'s login identifiers, and records it.
pub fn unlock_account(accounts: &Accounts, user: &User, client: &Client) -> Result<(), Trouble> {
    for identifier in [&user.username, &user.email] {
        accounts
            .db
            .request_unlock(&Unlock::Identifier(identifier.clone()), client.now)?;
    }
    accounts.record(
        AuthEvent::AdminUnlocked,
        Some(user.id),
        Some(&user.username),
        client,
    );
    Ok(())
}

/// Queues the unlock of an address group, and records it.
pub fn unlock_address(accounts: &Accounts, group: IpAddr, client: &Client) -> Result<(), Trouble> {
    accounts
        .db
        .request_unlock(&Unlock::Address(group.to_string()), client.now)?;
    accounts.record_detail(
        AuthEvent::AdminUnlocked,
        None,
        None,
        &format!("address={group}"),
        client,
    );
    Ok(())
}

impl Accounts {
    /// Applies the unlocks the admin command queued (run every two seconds
    /// by a thread of the server's), each with a log line.
    pub fn apply_unlocks(&self) {
        let unlocks = match self.db.take_unlocks() {
            Ok(unlocks) => unlocks,
            Err(error) => {
                self.log_error(&format!("cannot read the unlock requests: {error}"));
                return;
            }
        };
        for unlock in unlocks {
            let (what, lifted) = match &unlock {
                Unlock::Identifier(identifier) => (
                    identifier.clone(),
                    self.throttle.unlock_identifier(identifier),
                ),
                Unlock::Address(address) => match address.parse::<IpAddr>() {
                    Ok(ip) => (address.clone(), self.throttle.unlock_address(ip)),
                    Err(_) => (address.clone(), false),
                },
            };
            self.log
                .line("unlocked", &[("what", &what), ("was_locked", &lifted)]);
        }
    }
}
