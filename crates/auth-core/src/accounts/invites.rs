//! Invitations: an administrator (the admin page, or `admin invite` at a
//! shell) makes a single-use link to join, with groups for the new account
//! and perhaps the address it must use; the registration that uses it is in
//! `register`. The token is 256 random bits, stored only as its SHA-256,
//! like every other token here (OWASP ASVS 5.0 V7.2.3: unpredictable
//! reference tokens), and it expires (72 hours unless told otherwise).

use crate::accounts::audit::AuthEvent;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::group_problem;
use crate::auth::token::Token;
use crate::auth::validation;
use crate::storage::invites::{Invite, InviteState, NewInvite};
use crate::support::clock;

/// How long an invitation lasts unless told otherwise.
pub const DEFAULT_HOURS: u32 = 72;
/// The longest an invitation may last: a link that waits for a month in a
/// mailbox is a link someone else may find.
pub const MAX_HOURS: u32 = 720;

/// What an invitation is asked for.
pub struct InviteRequest<'a> {
    pub groups: &'a [String],
    pub hours: u32,
    pub email: Option<&'a str>,
}

/// A new invitation: its row, the link to hand over (the token is in it
/// and nowhere else), and whether it was mailed.
#[derive(Debug)]
pub struct Invitation {
    pub invite: Invite,
    pub url: String,
    pub mailed: bool,
}

/// What is wrong with a request, field by field.
pub type Problems = Vec<(&'static str, String)>;

/// Checks the request, makes the invitation, records it and, when it names
/// an address and mail is on, mails the link.
pub fn create(
    accounts: &Accounts,
    request: &InviteRequest,
    client: &Client,
) -> Result<Result<Invitation, Problems>, Trouble> {
    let mut problems = Vec::new();
    if let Some(problem) = group_problem(request.groups) {
        problems.push(("groups", problem));
    }
    if !(1..=MAX_HOURS).contains(&request.hours) {
        problems.push(("expires_in_hours", format!("must be 1 to {MAX_HOURS}")));
    }
    let email = match request.email.map(validation::normalize_email) {
        None => None,
        Some(Ok(email)) => Some(email),
        Some(Err(problem)) => {
            problems.push(("email", problem.to_string()));
            None
        }
    };
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let token = Token::generate().map_err(Trouble::random)?;
    let mut groups = request.groups.to_vec();
    groups.sort();
    groups.dedup();
    let invite = accounts.db.insert_invite(&NewInvite {
        token_hash: &token.hash().0,
        groups: &groups,
        email: email.as_deref(),
        created_by: client.actor,
        now: client.now,
        expires_at: client.now + i64::from(request.hours) * 3600,
    })?;
    accounts.record_detail(
        AuthEvent::InviteCreated,
        None,
        email.as_deref(),
        &format!("invite {}", invite.id),
        client,
    );
    let url = link(accounts, &token);
    let mailed = match &email {
        Some(to) if accounts.mailer.enabled() => mail(accounts, to, &url, &invite),
        _ => false,
    };
    Ok(Ok(Invitation {
        invite,
        url,
        mailed,
    }))
}

/// The link a person opens: the registration page with the token. Without
/// `PUBLIC_URL`, the path (the admin page makes it whole from its own
/// address).
pub fn link(accounts: &Accounts, token: &Token) -> String {
    let base = accounts.settings.public_url.as_deref().unwrap_or("");
    format!("{base}/register?invite={}", token.encode())
}

/// Sends the link at once (an administrator is waiting for the answer);
/// whether the mail command took it. The link is never queued: the outbox
/// would then hold a token.
fn mail(accounts: &Accounts, to: &str, url: &str, invite: &Invite) -> bool {
    let message = accounts
        .mailer
        .invitation(to, url, &clock::rfc3339(invite.expires_at));
    match accounts.mailer.send_now(&message) {
        Ok(()) => true,
        Err(failure) => {
            accounts.log_error(&format!(
                "mail: the invitation {} could not be sent: {failure}",
                invite.id
            ));
            false
        }
    }
}

/// Every invitation, newest first.
pub fn list(accounts: &Accounts) -> Result<Vec<Invite>, Trouble> {
    Ok(accounts.db.invites()?)
}

/// Withdraws an open invitation; whether there was one.
pub fn withdraw(accounts: &Accounts, id: i64, client: &Client) -> Result<bool, Trouble> {
    let withdrawn = accounts.db.withdraw_invite(id, client.now)?;
    if withdrawn {
        accounts.record_detail(
            AuthEvent::InviteWithdrawn,
            None,
            None,
            &format!("invite {id}"),
            client,
        );
    }
    Ok(withdrawn)
}

/// Why an invitation cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Unknown, used, withdrawn or expired: one answer for all, so a token
    /// cannot be probed.
    Invalid,
    /// It names another address than the form's.
    OtherAddress,
}

/// The open invitation a token names, for an account at `email`.
pub fn usable(
    accounts: &Accounts,
    token: &str,
    email: &str,
    now: i64,
) -> Result<Result<Invite, Unusable>, Trouble> {
    let Some(token) = Token::decode(token) else {
        return Ok(Err(Unusable::Invalid));
    };
    let Some(invite) = accounts.db.invite_by_token(&token.hash().0)? else {
        return Ok(Err(Unusable::Invalid));
    };
    if invite.state(now) != InviteState::Open {
        return Ok(Err(Unusable::Invalid));
    }
    if invite
        .email
        .as_deref()
        .is_some_and(|wanted| !wanted.eq_ignore_ascii_case(email))
    {
        return Ok(Err(Unusable::OtherAddress));
    }
    Ok(Ok(invite))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_is_checked_recorded_and_withdrawn_once() {
        let accounts = Accounts::for_tests(&[("PUBLIC_URL", "https://auth.example.com")]);
        let shell = Client::shell(100).acting_as(7);
        let bad = InviteRequest {
            groups: &["Family".into()],
            hours: 0,
            email: Some("nope"),
        };
        let problems = create(&accounts, &bad, &shell).unwrap().unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["groups", "expires_in_hours", "email"]);
        let good = InviteRequest {
            groups: &["family".into(), "family".into()],
            hours: 1,
            email: Some("Kim@Example.com"),
        };
        let made = create(&accounts, &good, &shell).unwrap().unwrap();
        assert!(
            made.url
                .starts_with("https://auth.example.com/register?invite=")
        );
        assert_eq!(made.invite.groups, ["family"]);
        assert_eq!(made.invite.email.as_deref(), Some("kim@example.com"));
        assert_eq!(made.invite.created_by, Some(7));
        assert_eq!(made.invite.expires_at, 3700);
        assert!(!made.mailed);
        let token = made.url.rsplit('=').next().unwrap();
        assert!(
            usable(&accounts, token, "kim@example.com", 101)
                .unwrap()
                .is_ok()
        );
        assert_eq!(
            usable(&accounts, token, "eve@example.com", 101).unwrap(),
            Err(Unusable::OtherAddress)
        );
        assert_eq!(
            usable(&accounts, token, "kim@example.com", 3700).unwrap(),
            Err(Unusable::Invalid)
        );
        assert_eq!(
            usable(&accounts, "not-a-token", "kim@example.com", 101).unwrap(),
            Err(Unusable::Invalid)
        );
        assert!(withdraw(&accounts, made.invite.id, &shell).unwrap());
        assert!(!withdraw(&accounts, made.invite.id, &shell).unwrap());
        assert_eq!(
            usable(&accounts, token, "kim@example.com", 101).unwrap(),
            Err(Unusable::Invalid)
        );
    }
}
