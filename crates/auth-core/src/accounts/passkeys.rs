//! Passkeys: adding one to a signed-in account (two steps, options then
//! the device's answer), listing, renaming and removing them, and signing
//! in with one (two steps as well). The checks of each ceremony are in
//! `auth::webauthn`; this file is the story around them: whose challenge
//! it is, which account, the throttle, the counter, the session, the audit.
//!
//! Neither ceremony touches bcrypt or the hash queue: a passkey sign-in
//! costs one signature check.

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::SignedIn;
use crate::accounts::login::open_session;
use crate::accounts::notices::Change;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::challenges::Owner;
use crate::auth::sessions::{NewSession, OpenedWith, Session};
use crate::auth::token::Token;
use crate::auth::webauthn::{
    self, Assertion, CHALLENGE_BYTES, Failure, NewCredential, Registration,
};
use crate::storage::User;
use crate::storage::passkeys::{AddError, Passkey};
use crate::support::metrics::LoginResult;

/// Passkeys one account may have: enough for every device a person owns.
pub const MAX_PASSKEYS_PER_ACCOUNT: usize = 20;
/// The longest label, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The label of a passkey added without one.
pub const DEFAULT_NAME: &str = "Passkey";

/// What the browser needs to create a passkey for this account.
pub struct CreationOptions {
    pub challenge: [u8; CHALLENGE_BYTES],
    /// The account's user handle (random, fixed).
    pub user_handle: Vec<u8>,
    /// The account's passkeys, which the device must not create again.
    pub exclude: Vec<Vec<u8>>,
}

/// Step one of adding a passkey: a challenge bound to this session.
pub fn creation_options(
    accounts: &Accounts,
    me: &SignedIn,
    client: &Client,
) -> Result<Option<CreationOptions>, Trouble> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(Trouble::random)?;
    let Some(user_handle) = accounts.db.passkey_handle(me.user.id, &fresh)? else {
        return Ok(None);
    };
    let exclude = accounts
        .db
        .passkeys_of(me.user.id)?
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    let challenge = accounts
        .challenges
        .issue(Owner::Session(me.token.hash()), client.now)
        .map_err(Trouble::random)?;
    Ok(Some(CreationOptions {
        challenge,
        user_handle,
        exclude,
    }))
}

pub enum AddOutcome {
    Added(Passkey),
    /// A check failed: which one.
    Invalid(Failure),
    AlreadyRegistered,
    TooMany,
    /// The label is empty or over [`MAX_NAME_CHARS`].
    BadName,
    NoLongerSignedIn,
}

/// Step two: the device's answer, checked (`webauthn::verify_registration`)
/// against the challenge this session was given, then stored.
pub fn add(
    accounts: &Accounts,
    me: &SignedIn,
    response: &Registration,
    name: Option<&str>,
    client: &Client,
) -> Result<AddOutcome, Trouble> {
    let Some(name) = label(name.unwrap_or(DEFAULT_NAME)) else {
        return Ok(AddOutcome::BadName);
    };
    // The challenge is spent whatever happens next.
    let challenge = match webauthn::challenge_of(&response.client_data_json) {
        Ok(challenge) => challenge,
        Err(failure) => return Ok(AddOutcome::Invalid(failure)),
    };
    if accounts.challenges.take(&challenge, client.now) != Some(Owner::Session(me.token.hash())) {
        return Ok(AddOutcome::Invalid(Failure::UnknownChallenge));
    }
    let credential: NewCredential =
        match webauthn::verify_registration(&accounts.relying_party, &challenge, response) {
            Ok(credential) => credential,
            Err(failure) => return Ok(AddOutcome::Invalid(failure)),
        };
    let passkey = Passkey {
        credential_id: credential.id,
        user_id: me.user.id,
        public_key: credential.public_key,
        algorithm: credential.algorithm,
        sign_count: credential.sign_count,
        name,
        created_at: client.now,
        last_used_at: None,
        backed_up: credential.backed_up,
    };
    match accounts
        .db
        .add_passkey(&passkey, me.user.auth_epoch, MAX_PASSKEYS_PER_ACCOUNT)?
    {
        Ok(()) => {}
        Err(AddError::NoSuchAccount) => return Ok(AddOutcome::NoLongerSignedIn),
        Err(AddError::AlreadyRegistered) => return Ok(AddOutcome::AlreadyRegistered),
        Err(AddError::TooMany) => return Ok(AddOutcome::TooMany),
    }
    accounts.record(AuthEvent::PasskeyAdded, Some(me.user.id), None, client);
    accounts.notify(&me.user, Change::PasskeyAdded(&passkey.name), client);
    Ok(AddOutcome::Added(passkey))
}

/// A label as stored: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no
/// control characters (it is shown on a page and in the admin listing).
pub fn label(name: &str) -> Option<String> {
    let name = name.trim();
    ((1..=MAX_NAME_CHARS).contains(&name.chars().count()) && !name.chars().any(char::is_control))
        .then(|| name.to_string())
}

pub fn list(accounts: &Accounts, user_id: i64) -> Result<Vec<Passkey>, Trouble> {
    Ok(accounts.db.passkeys_of(user_id)?)
}

pub enum RenameOutcome {
    Renamed(Passkey),
    NotFound,
    BadName,
}

/// Renames one of the account's passkeys.
pub fn rename(
    accounts: &Accounts,
    user_id: i64,
    credential_id: &[u8],
    name: &str,
) -> Result<RenameOutcome, Trouble> {
    let Some(name) = label(name) else {
        return Ok(RenameOutcome::BadName);
    };
    if !accounts.db.rename_passkey(user_id, credential_id, &name)? {
        return Ok(RenameOutcome::NotFound);
    }
    match accounts.db.passkey(credential_id)? {
        Some(passkey) if passkey.user_id == user_id => Ok(RenameOutcome::Renamed(passkey)),
        _ => Ok(RenameOutcome::NotFound),
    }
}

/// Removes one of the account's passkeys (from the account page or the
/// admin command); `false` if it has no such one. Sessions opened with it
/// stay: ending them is what "sign out everywhere" is for.
pub fn remove(
    accounts: &Accounts,
    user: &User,
    credential_id: &[u8],
    client: &Client,
) -> Result<bool, Trouble> {
    let Some(name) = accounts.db.remove_passkey(user.id, credential_id)? else {
        return Ok(false);
    };
    accounts.record(AuthEvent::PasskeyRemoved, Some(user.id), None, client);
    accounts.notify(user, Change::PasskeyRemoved(&name), client);
    Ok(true)
}

/// Step one of signing in: a challenge, and the ticket (a cookie) that
/// holds it in this browser, so no flood of other requests can push it
/// out (`auth::challenges`). No account is named: the browser offers the
/// person's discoverable passkeys, so the answer says nothing about who
/// exists or has a passkey. `Err(seconds)`: this network asked too often.
pub fn request_options(
    accounts: &Accounts,
    client: &Client,
) -> Result<Result<([u8; CHALLENGE_BYTES], String), u64>, Trouble> {
    if let Err(retry_after_secs) = accounts.throttle.passkey_options(client.group, client.now) {
        return Ok(Err(retry_after_secs));
    }
    accounts
        .sign_in_tickets
        .issue(client.now)
        .map(Ok)
        .map_err(Trouble::random)
}

pub enum SignInOutcome {
    SignedIn {
        user: Box<User>,
        token: Token,
        session: Session,
    },
    /// Any check failed: which, for the log. The person hears one answer
    /// for all, like a wrong password.
    Refused(&'static str),
    Throttled {
        retry_after_secs: u64,
    },
    /// A good passkey for an address not yet verified, when
    /// `REQUIRE_VERIFIED_EMAIL` is on.
    EmailNotVerified,
}

impl SignInOutcome {
    /// The outcome as the metrics count it (with password sign-ins).
    pub fn result(&self) -> LoginResult {
        match self {
            SignInOutcome::SignedIn { .. } => LoginResult::Ok,
            SignInOutcome::Refused(_) => LoginResult::InvalidCredentials,
            SignInOutcome::Throttled { .. } => LoginResult::Throttled,
            SignInOutcome::EmailNotVerified => LoginResult::EmailNotVerified,
        }
    }
}

/// Step two: the device's assertion, checked against a challenge this
/// server issued for signing in and the stored passkey it names. Every
/// failure counts in the address's login-failure window (as a wrong
/// password does), so passkey guesses cost as much as password guesses.
pub fn sign_in(
    accounts: &Accounts,
    assertion: &Assertion,
    ticket: Option<&str>,
    remember: bool,
    previous: &[Token],
    client: &Client,
) -> Result<SignInOutcome, Trouble> {
    let guess = match accounts
        .throttle
        .reserve_token_guess(client.group, client.now)
    {
        Ok(guess) => guess,
        Err(retry_after_secs) => return Ok(SignInOutcome::Throttled { retry_after_secs }),
    };
    let (passkey, user, verified) = match check_assertion(accounts, assertion, ticket, client)? {
        Ok(good) => good,
        Err((reason, user_id)) => {
            accounts.log.line(
                "passkey_refused",
                &[("reason", &reason), ("request_id", &client.request_id)],
            );
            accounts.record(AuthEvent::PasskeyFailed, user_id, None, client);
            return Ok(SignInOutcome::Refused(reason));
        }
    };
    accounts.throttle.token_accepted(guess);
    if accounts.settings.require_verified_email && !user.email_verified {
        return Ok(SignInOutcome::EmailNotVerified);
    }
    let new_session = NewSession {
        user_id: user.id,
        auth_epoch: user.auth_epoch,
        remember,
        ip: client.ip,
        user_agent: client.user_agent.to_string(),
        opened_with: OpenedWith::Passkey,
    };
    // Only if the passkey's counter is still the one checked and the
    // account is as it was read (not disabled, deleted or changed since).
    let event = accounts.event_for_write(
        AuthEvent::PasskeyLogin,
        Some(user.id),
        Some(&user.username),
        None,
        client,
    );
    let opened = open_session(
        accounts,
        new_session,
        previous,
        event,
        client.now,
        |write| {
            accounts.db.record_passkey_login(
                &passkey,
                verified.sign_count,
                verified.backed_up,
                user.auth_epoch,
                client.now,
                write,
            )
        },
    )?;
    let Some((user, token, session)) = opened else {
        return Ok(SignInOutcome::Refused(
            "the account or passkey changed meanwhile",
        ));
    };
    Ok(SignInOutcome::SignedIn {
        user: Box::new(user),
        token,
        session,
    })
}

/// Why a sign-in was refused, and whose passkey it named if known.
type Refusal = (&'static str, Option<i64>);

/// The checks of a sign-in, in the order of W3C WebAuthn Level 3 §7.2: the
/// challenge, the passkey and its account, the signed data, the counter.
fn check_assertion(
    accounts: &Accounts,
    assertion: &Assertion,
    ticket: Option<&str>,
    client: &Client,
) -> Result<Result<(Passkey, User, webauthn::Verified), Refusal>, Trouble> {
    let challenge = match webauthn::challenge_of(&assertion.client_data_json) {
        Ok(challenge) => challenge,
        Err(failure) => return Ok(Err((failure.message(), None))),
    };
    // The challenge this browser's ticket holds, issued by this server for
    // signing in, unused: one issued to a session for adding a passkey, or
    // to another browser, is refused here.
    let redeemed = ticket.is_some_and(|ticket| {
        accounts
            .sign_in_tickets
            .redeem(ticket, &challenge, client.now)
    });
    if !redeemed {
        return Ok(Err((Failure::UnknownChallenge.message(), None)));
    }
    let Some(passkey) = accounts.db.passkey(&assertion.credential_id)? else {
        return Ok(Err(("no such passkey", None)));
    };
    let Some(user) = accounts.db.user_by_id(passkey.user_id)? else {
        return Ok(Err(("no such passkey", None)));
    };
    let refused = |reason: &'static str| Ok(Err((reason, Some(user.id))));
    // §7.2 step 6: the device names the account; it must be the passkey's.
    if assertion.user_handle.is_none() || assertion.user_handle != user.passkey_handle {
        return refused("the user handle is not the passkey's account");
    }
    let verified = match webauthn::verify_assertion(
        &accounts.relying_party,
        &challenge,
        &passkey.public_key,
        assertion,
    ) {
        Ok(verified) => verified,
        Err(failure) => return refused(failure.message()),
    };
    if webauthn::counter_regressed(passkey.sign_count, verified.sign_count) {
        accounts.record(
            AuthEvent::PasskeyCounterRegressed,
            Some(user.id),
            Some(&user.username),
            client,
        );
        return refused("the sign counter did not grow: a cloned device?");
    }
    if user.disabled {
        return refused("the account is disabled");
    }
    Ok(Ok((passkey, user, verified)))
}
