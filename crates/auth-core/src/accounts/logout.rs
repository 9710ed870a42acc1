//! Signing out: this browser, one session by its public id (a lost
//! phone), or every session at once.

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::SignedIn;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::token::{Token, TokenHash};

/// Ends the sessions behind `tokens` (the browser's cookies); always
/// succeeds for the person, known session or not.
pub fn logout(accounts: &Accounts, tokens: &[Token], client: &Client) -> Result<(), Trouble> {
    for token in tokens {
        if let Some(session) = accounts.sessions.store().authenticate(token, client.now) {
            accounts.record(AuthEvent::Logout, Some(session.user_id), None, client);
        }
        accounts.sessions.end(token)?;
    }
    Ok(())
}

/// Ends the signed-in user's session with that public id; the hash of the
/// one ended, or `None` when the user holds no such session (someone
/// else's looks the same).
pub fn revoke(
    accounts: &Accounts,
    me: &SignedIn,
    public_id: u64,
    client: &Client,
) -> Result<Option<TokenHash>, Trouble> {
    let ended = accounts
        .sessions
        .end_by_public_id(me.user.id, public_id, client.now)?;
    if ended.is_some() {
        accounts.record(AuthEvent::SessionRevoked, Some(me.user.id), None, client);
    }
    Ok(ended)
}

/// Ends every session of the signed-in user, this one included.
pub fn everywhere(accounts: &Accounts, me: &SignedIn, client: &Client) -> Result<(), Trouble> {
    accounts.sessions.end_all_for_user(me.user.id, None)?;
    // Apps signed in through OpenID Connect lose their tokens too.
    accounts.db.revoke_user_grants(me.user.id)?;
    accounts.record(
        AuthEvent::LoggedOutEverywhere,
        Some(me.user.id),
        None,
        client,
    );
    Ok(())
}
