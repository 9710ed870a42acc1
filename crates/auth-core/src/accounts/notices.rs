//! Security notices: when what signs an account in changes (a passkey
//! added or removed, two-factor login on or off, the password changed or
//! reset), its address hears of it, so an owner learns at once of a change
//! they did not make (OWASP ASVS 5.0 v5.0.0-6.3.7: users are notified after
//! updates to authentication details). Only when mail is configured: with
//! no `MAIL_COMMAND` nothing is sent and nothing is queued.

use crate::accounts::{Accounts, Client};
use crate::storage::User;
use crate::support::clock;
use crate::support::text::printable;

/// What changed, in the words of the notice.
pub enum Change<'a> {
    PasskeyAdded(&'a str),
    PasskeyRemoved(&'a str),
    TwoFactorOn,
    TwoFactorOff,
    PasswordChanged,
    /// Through a link mailed to the address.
    PasswordReset,
    /// A sign-in through an upstream provider (its name).
    UpstreamConnected(&'a str),
    UpstreamDisconnected(&'a str),
}

impl Change<'_> {
    fn sentence(&self) -> String {
        match self {
            Change::PasskeyAdded(name) => format!(
                "A passkey (\"{}\") was added to your account. It can sign you in without your password.",
                printable(name)
            ),
            Change::PasskeyRemoved(name) => format!(
                "A passkey (\"{}\") was removed from your account.",
                printable(name)
            ),
            Change::TwoFactorOn => "Two-factor login was turned on for your account.".into(),
            Change::TwoFactorOff => "Two-factor login was turned off for your account.".into(),
            Change::PasswordChanged => "The password of your account was changed.".into(),
            Change::UpstreamConnected(name) => format!(
                "Signing in through \"{}\" was connected to your account. It can sign you in without your password.",
                printable(name)
            ),
            Change::UpstreamDisconnected(name) => format!(
                "Signing in through \"{}\" was disconnected from your account.",
                printable(name)
            ),
            Change::PasswordReset => {
                "The password of your account was reset, through a link mailed to this address."
                    .into()
            }
        }
    }
}

/// "Firefox on Linux": a user agent in a few words, as the account page
/// shows it; the first 60 characters of it when it names neither.
pub fn device_words(agent: &str) -> String {
    const BROWSERS: [(&str, &str); 5] = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(mark, _)| agent.contains(mark))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(system)) => format!("a browser on {system}"),
        (None, None) if agent.is_empty() => "an unknown program".to_string(),
        (None, None) => printable(&agent.chars().take(60).collect::<String>()).into_owned(),
    }
}

impl Accounts {
    /// Queues the notice of `change` to `user`'s address. A notice that
    /// cannot be queued is logged; the change itself stands.
    pub fn notify(&self, user: &User, change: Change, client: &Client) {
        if !self.mailer.enabled() {
            return;
        }
        let from = if client.ip.is_unspecified() {
            "the server's admin command".to_string()
        } else {
            format!("{}, {}", client.ip, device_words(client.user_agent))
        };
        let text = format!(
            "{}\n\nWhen: {} (UTC)\nFrom: {from}",
            change.sentence(),
            clock::rfc3339(client.now)
                .replace('T', " ")
                .trim_end_matches('Z')
        );
        if let Err(error) = self
            .mailer
            .queue_notice(user.id, &user.email, &text, client.now)
        {
            self.log_error(&format!("mail: cannot queue a security notice: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_read_as_a_few_words() {
        for (agent, words) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            ("curl/8.5.0", "curl"),
            ("", "an unknown program"),
            ("MyApp\u{1b}[31m", "MyApp\\u{1b}[31m"),
        ] {
            assert_eq!(device_words(agent), words, "{agent}");
        }
    }
}
