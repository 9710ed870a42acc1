//! Who may use which app (`ACCESS_RULES_FILE`): the rules in memory,
//! re-read when the file changes, the decision for a request forward auth
//! describes, and the step-up that adds a second factor to a session a
//! rule wants one for.

use crate::accounts::check::{self, AppCode, SignedIn};
use crate::accounts::{Accounts, Client, Trouble};
use crate::auth::access::{Verdict, Visitor, Who};
use crate::auth::sessions::Session;
use crate::auth::token::Token;

impl Accounts {
    /// At start-up: the rules of `ACCESS_RULES_FILE`, if set; an error
    /// (a bad line) stops the server.
    pub fn load_rules(&self) -> Result<usize, String> {
        match &self.settings.access_rules_file {
            Some(path) => self.rules.load(path),
            None => Ok(0),
        }
    }

    /// Re-reads the rules file if it changed since it was last read (run
    /// every two seconds by a thread of its own). A bad file keeps the old
    /// rules, and says why in the log.
    pub fn reload_rules_if_changed(&self) {
        let Some(path) = &self.settings.access_rules_file else {
            return;
        };
        match self.rules.reload_if_changed(path) {
            None => {}
            Some(Ok(count)) => {
                self.log.line("access_rules_loaded", &[("rules", &count)]);
            }
            Some(Err(problem)) => self.log.line(
                "warning",
                &[(
                    "message",
                    &format!("access rules not reloaded, the old ones stay: {problem}"),
                )],
            ),
        }
    }

    /// What the rules say about `me` (or a signed-out visitor) using the
    /// app at `host` (`None`: not described) + `path` (normalised). No database: the user row in hand holds the
    /// groups, the session how it was opened.
    pub fn decide(&self, me: Option<&SignedIn>, host: Option<&str>, path: &str) -> Verdict {
        let visitor = me.map(|me| Visitor {
            username: &me.user.username,
            groups: &me.user.groups,
            second_factor: me.session.opened_with.second_factor(),
        });
        self.rules.current().decide(host, path, visitor.as_ref())
    }

    /// The groups the rule that decides `host` + `path` names, when it is
    /// a `groups=` rule: no secret to someone it turned away ("this app
    /// is for admins"), unlike a `users=` rule's names.
    pub fn rule_groups(&self, host: Option<&str>, path: &str) -> Option<Vec<String>> {
        match self
            .rules
            .current()
            .rule_for(host, path)
            .map(|rule| &rule.who)
        {
            Some(Who::Groups(groups)) => Some(groups.clone()),
            _ => None,
        }
    }
}

pub enum StepUpOutcome {
    /// The session now counts as opened with a second factor, under a new
    /// token (none if it ended meanwhile).
    SteppedUp(Option<(Token, Session)>),
    /// The account has no two-factor login to show.
    NotOn,
    WrongCode,
    Throttled {
        retry_after_secs: u64,
    },
}

/// A signed-in session shows a current code from the authenticator app,
/// for an app whose rule wants a second factor. A wrong code counts as a
/// failed login, as at sign-in. Only app codes: a recovery code ends every
/// session, so it belongs to a fresh sign-in, not to a step-up.
pub fn step_up(
    accounts: &Accounts,
    me: &SignedIn,
    code: &str,
    client: &Client,
) -> Result<StepUpOutcome, Trouble> {
    Ok(match check::app_code(accounts, &me.user, code, client)? {
        AppCode::Accepted => StepUpOutcome::SteppedUp(accounts.sessions.renew(
            &me.token,
            Some(me.session.opened_with.with_app_code()),
            client.now,
        )?),
        AppCode::NotOn => StepUpOutcome::NotOn,
        AppCode::Wrong => StepUpOutcome::WrongCode,
        AppCode::Throttled { retry_after_secs } => StepUpOutcome::Throttled { retry_after_secs },
    })
}
