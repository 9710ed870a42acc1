//! Signing up, and the operator's `admin create`: the same rules, one
//! place. The form is checked (every problem at once), the invitation if
//! there is one (`REGISTRATION=invite` wants one), then counted against the
//! address's registration limit (sign-up only), hashed on the bcrypt queue,
//! and stored; the database picks the one winner of a race for a name, or
//! for an invitation. Sign-up then queues the verification mail, unless the
//! invitation named the address (it was read there).

use crate::accounts::audit::AuthEvent;
use crate::accounts::invites::{self, Unusable};
use crate::accounts::recovery::queue_verification;
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::passwords::HashError;
use crate::auth::validation::{self, PasswordPolicy};
use crate::storage::invites::InvitedUser;
use crate::storage::{InsertError, User};
use crate::support::config::Registration as Mode;
use crate::support::metrics::RegistrationResult;

/// Who is making the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The person, through `POST /api/register`.
    SignUp,
    /// The operator, through `auth-server admin create` (closed sign-up).
    Admin,
}

pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// An approved `rd` for the verification mail's page to return to.
    pub return_to: Option<&'a str>,
    /// An invitation's token, from its link.
    pub invite: Option<&'a str>,
}

pub enum RegisterOutcome {
    Registered(Box<User>),
    /// Field name → what is wrong with it, every problem at once.
    Invalid(Vec<(&'static str, String)>),
    UsernameTaken,
    EmailTaken,
    /// `REGISTRATION=closed`: accounts come from the operator.
    Closed,
    /// `REGISTRATION=invite`, and no invitation.
    InviteRequired,
    /// An invitation that is unknown, used, withdrawn or expired.
    InvalidInvite,
    Throttled {
        retry_after_secs: u64,
    },
    Busy {
        retry_after_secs: u64,
    },
}

impl RegisterOutcome {
    /// The outcome as the metrics count it.
    pub fn result(&self) -> RegistrationResult {
        match self {
            RegisterOutcome::Registered(_) => RegistrationResult::Created,
            RegisterOutcome::Invalid(_) => RegistrationResult::Invalid,
            RegisterOutcome::UsernameTaken | RegisterOutcome::EmailTaken => {
                RegistrationResult::Taken
            }
            RegisterOutcome::Closed | RegisterOutcome::InviteRequired => RegistrationResult::Closed,
            RegisterOutcome::InvalidInvite => RegistrationResult::Invalid,
            RegisterOutcome::Throttled { .. } => RegistrationResult::Throttled,
            RegisterOutcome::Busy { .. } => RegistrationResult::RefusedBusy,
        }
    }
}

/// The form's rules, for whatever fields are present: the username's, the
/// email's (the address normalised when it passes), and the password's
/// against both names (NIST SP 800-63B §5.1.1.2).
pub fn form_problems(
    policy: PasswordPolicy,
    username: Option<&str>,
    email: Option<&str>,
    password: Option<&str>,
) -> (Option<String>, Vec<(&'static str, String)>) {
    let mut problems = Vec::new();
    let username = username.filter(|u| match validation::check_username(u) {
        Ok(()) => true,
        Err(problem) => {
            problems.push(("username", problem.to_string()));
            false
        }
    });
    let email = email.and_then(|e| match validation::normalize_email(e) {
        Ok(normalized) => Some(normalized),
        Err(problem) => {
            problems.push(("email", problem.to_string()));
            None
        }
    });
    if let Some(password) = password {
        let name = username.unwrap_or("");
        let address = email.as_deref().unwrap_or("");
        if let Err(problem) = validation::check_new_password(password, policy, name, address) {
            problems.push(("password", problem));
        }
    }
    (email, problems)
}

pub fn register(
    accounts: &Accounts,
    form: Registration,
    channel: Channel,
    client: &Client,
) -> Result<RegisterOutcome, Trouble> {
    if channel == Channel::SignUp {
        match (accounts.settings.registration, form.invite) {
            (Mode::Closed, _) => return Ok(RegisterOutcome::Closed),
            (Mode::Invite, None) => return Ok(RegisterOutcome::InviteRequired),
            _ => {}
        }
    }
    let (email, problems) = form_problems(
        accounts.password_policy(),
        Some(form.username),
        Some(form.email),
        Some(form.password),
    );
    let Some(email) = email.filter(|_| problems.is_empty()) else {
        return Ok(RegisterOutcome::Invalid(problems));
    };
    // Checked before any work is spent; used up only with the account.
    let invite = match form.invite {
        None => None,
        Some(token) => match invites::usable(accounts, token, &email, client.now)? {
            Ok(invite) => Some(invite),
            Err(Unusable::Invalid) => return Ok(RegisterOutcome::InvalidInvite),
            Err(Unusable::OtherAddress) => {
                return Ok(RegisterOutcome::Invalid(vec![(
                    "email",
                    "must be the address the invitation was sent to".into(),
                )]));
            }
        },
    };
    // Counted only once the form is valid, so a typo costs no quota; and
    // before bcrypt, so a refused attempt costs the server nothing.
    if channel == Channel::SignUp
        && let Err(retry_after_secs) = accounts.throttle.register_attempt(client.group, client.now)
    {
        return Ok(RegisterOutcome::Throttled { retry_after_secs });
    }
    let hash = match accounts.passwords.hash(form.password, client.group) {
        Ok(hash) => hash,
        Err(HashError::Busy { retry_after_secs }) => {
            return Ok(RegisterOutcome::Busy { retry_after_secs });
        }
        Err(error) => return Err(error.into()),
    };
    let inserted = match &invite {
        None => accounts
            .db
            .insert_user(form.username, &email, &hash, client.now),
        Some(invite) => accounts.db.insert_invited_user(
            invite.id,
            &InvitedUser {
                username: form.username,
                email: &email,
                password_hash: &hash,
                now: client.now,
            },
        ),
    };
    let user = match inserted {
        Ok(user) => user,
        Err(InsertError::UsernameTaken) => return Ok(RegisterOutcome::UsernameTaken),
        Err(InsertError::EmailTaken) => return Ok(RegisterOutcome::EmailTaken),
        Err(InsertError::InviteGone) => return Ok(RegisterOutcome::InvalidInvite),
        Err(InsertError::Storage(error)) => return Err(error.into()),
    };
    let event = match channel {
        Channel::SignUp => AuthEvent::Registered,
        Channel::Admin => AuthEvent::AdminCreated,
    };
    match &invite {
        Some(invite) => accounts.record_detail(
            event,
            Some(user.id),
            Some(&user.username),
            &format!("invite {}", invite.id),
            client,
        ),
        None => accounts.record(event, Some(user.id), Some(&user.username), client),
    }
    if channel == Channel::SignUp && !user.email_verified {
        queue_verification(accounts, &user, form.return_to, client);
    }
    Ok(RegisterOutcome::Registered(Box::new(user)))
}
