//! Mail without a mail library, the Unix way: each message is piped to a
//! sendmail-compatible command (`MAIL_COMMAND`, run with `sh -c`), such as
//! msmtp, ssmtp or Postfix's `sendmail -t -i`.
//!
//! Nothing is sent on a request path. A request puts a row in the outbox
//! (see `storage::mail`) and wakes the mailer thread, which builds the
//! message (minting the link's token only then, so the database never
//! holds a usable link), runs the command, and deletes the row when the
//! command exits 0. Anything else, or no exit within [`COMMAND_TIMEOUT`],
//! is retried with growing delays for [`GIVE_UP_AFTER_SECS`], then given up
//! and logged. A crash loses nothing: the outbox is read again at start.

use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::accounts::audit::{Audit, AuthEvent, EventRecord};
use crate::auth::token::Token;
use crate::storage::mail::{Content, Purpose, Queued};
use crate::storage::{self, Storage};
use crate::support::base64;
use crate::support::clock;
use crate::support::config::Settings;
use crate::support::lock::lock;
use crate::support::log::Logger;
use crate::support::metrics::Metrics;
use crate::support::text::percent_encode;

/// How long the command may take to accept one message.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a message is retried before it is given up.
pub const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;
/// The longest pause between two attempts of one message.
const MAX_RETRY_DELAY_SECS: i64 = 3600;
/// How often the outbox is looked at when nothing wakes the mailer.
const POLL: Duration = Duration::from_secs(1);
/// Reset requests waiting for the mailer thread's look-up, at most; the
/// per-address limit keeps real traffic far below it.
const MAX_PENDING_RESETS: usize = 1000;
/// Reset mails one account may be sent in an hour.
pub const MAILS_PER_ACCOUNT_PER_HOUR: i64 = 3;

/// A password-reset request as the API took it: the look-up of the address
/// happens on the mailer thread, after the client has its answer.
pub struct ResetRequest {
    pub email: String,
    /// An approved `rd` for the reset page to return to afterwards.
    pub return_to: Option<String>,
    pub ip: IpAddr,
    pub user_agent: String,
    pub request_id: String,
    pub at: i64,
}

pub struct Mailer {
    command: Option<String>,
    /// `SITE_NAME`, in every subject and body.
    site_name: String,
    from: String,
    public_url: Option<String>,
    reset_ttl_secs: i64,
    verify_ttl_secs: i64,
    db: Arc<dyn Storage>,
    log: Logger,
    /// Counts each attempt's outcome, when metrics are on.
    metrics: Option<Arc<Metrics>>,
    /// Set when something was queued; the mailer thread waits on it.
    wake: (Mutex<bool>, Condvar),
    /// Reset requests still to be looked up.
    resets: Mutex<VecDeque<ResetRequest>>,
}

impl Mailer {
    pub fn new(
        settings: &Settings,
        db: Arc<dyn Storage>,
        log: Logger,
        metrics: Option<Arc<Metrics>>,
    ) -> Mailer {
        Mailer {
            command: settings.mail_command.clone(),
            site_name: settings.site_name.clone(),
            from: settings.mail_from.clone(),
            public_url: settings.public_url.clone(),
            reset_ttl_secs: settings.reset_token_ttl_secs,
            verify_ttl_secs: settings.verify_token_ttl_secs,
            db,
            log,
            metrics,
            wake: (Mutex::new(false), Condvar::new()),
            resets: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a password-reset request for the mailer thread to look up and
    /// answer with a mail if the address has an enabled account. The API
    /// answers 202 before any per-account work, so an address with an
    /// account and one without take the same time (OWASP Forgot Password
    /// Cheat Sheet: "consistent ... response times").
    /// `false` when too many are waiting (the request is dropped).
    pub fn request_reset(&self, request: ResetRequest) -> bool {
        let mut resets = lock(&self.resets);
        if resets.len() >= MAX_PENDING_RESETS {
            return false;
        }
        resets.push_back(request);
        drop(resets);
        self.notify();
        true
    }

    /// Looks up each waiting reset request and queues its mail.
    fn take_resets(&self) {
        loop {
            let Some(request) = lock(&self.resets).pop_front() else {
                return;
            };
            if let Err(error) = self.queue_reset(&request) {
                self.error(&format!("mail: cannot queue a reset: {error}"));
            }
        }
    }

    fn queue_reset(&self, request: &ResetRequest) -> storage::Result<()> {
        let Some(user) = self.db.user_by_email(&request.email)? else {
            return Ok(());
        };
        let recent = self.db.count_events(
            Some(user.id),
            AuthEvent::PasswordResetRequested.as_str(),
            request.at - 3600,
        )?;
        if user.disabled || recent >= MAILS_PER_ACCOUNT_PER_HOUR {
            return Ok(());
        }
        self.db.queue_mail(
            user.id,
            Purpose::Reset,
            &user.email,
            request.return_to.as_deref(),
            request.at,
        )?;
        let event = EventRecord {
            kind: AuthEvent::PasswordResetRequested,
            user_id: Some(user.id),
            identifier: Some(&user.username),
            ip: Some(request.ip),
            user_agent: Some(&request.user_agent),
            request_id: Some(&request.request_id),
            detail: None,
            actor: None,
        };
        Audit::default().record(self.db.as_ref(), &self.log, &event, request.at);
        Ok(())
    }

    /// Whether mail is sent at all (`MAIL_COMMAND` is set).
    pub fn enabled(&self) -> bool {
        self.command.is_some()
    }

    /// Something was queued: send it now rather than at the next poll.
    pub fn notify(&self) {
        *lock(&self.wake.0) = true;
        self.wake.1.notify_one();
    }

    /// The mailer thread's loop: send what is due, then wait for a
    /// notification or the next poll. Never returns.
    pub fn run(&self) {
        loop {
            self.take_resets();
            self.send_due(clock::now());
            let woken = lock(&self.wake.0);
            let (mut woken, _) = self
                .wake
                .1
                .wait_timeout_while(woken, POLL, |woken| !*woken)
                .unwrap_or_else(PoisonError::into_inner);
            *woken = false;
        }
    }

    /// Makes a new token for `user_id` (replacing the previous one of its
    /// purpose) and returns it; only its hash is stored.
    pub fn mint(&self, user_id: i64, purpose: Purpose, now: i64) -> Result<Token, String> {
        let token = Token::generate().map_err(|error| format!("random source: {error}"))?;
        let ttl = match purpose {
            Purpose::Reset => self.reset_ttl_secs,
            Purpose::Verify => self.verify_ttl_secs,
        };
        self.db
            .store_email_token(user_id, purpose, &token.hash().0, now + ttl)
            .map_err(|error| format!("database: {error}"))?;
        Ok(token)
    }

    /// The link a person opens: the token rides in the fragment, which a
    /// browser never sends to a server, so it reaches no log and no
    /// `Referer`; `return_to` (an approved `rd`) in the query, for the page
    /// to go back to afterwards. Without `PUBLIC_URL`, the bare token.
    pub fn link(&self, purpose: Purpose, token: &Token, return_to: Option<&str>) -> String {
        let page = match purpose {
            Purpose::Reset => "reset-password",
            Purpose::Verify => "verify-email",
        };
        let query = return_to.map_or(String::new(), |rd| format!("?rd={}", percent_encode(rd)));
        match &self.public_url {
            Some(base) => format!("{base}/{page}{query}#token={}", token.encode()),
            None => token.encode(),
        }
    }

    /// Sends every message that is due, one after another.
    fn send_due(&self, now: i64) {
        let due = match self.db.due_mail(now, 50) {
            Ok(due) => due,
            Err(error) => {
                self.error(&format!("mail: cannot read the outbox: {error}"));
                return;
            }
        };
        for queued in due {
            self.attempt(&queued, clock::now());
        }
    }

    fn attempt(&self, queued: &Queued, now: i64) {
        let result = self.build(queued, now).and_then(|message| match message {
            Some(message) => self
                .run_command(&message)
                .map_err(|failure| failure.to_string()),
            None => Ok(()), // nothing to send any more (already verified)
        });
        let counted = match &result {
            Ok(()) => "sent",
            Err(_) if now - queued.created_at >= GIVE_UP_AFTER_SECS => "given_up",
            Err(_) => "failed",
        };
        if let Some(metrics) = &self.metrics {
            metrics.mail(counted);
        }
        let outcome = match result {
            Ok(()) => {
                let kind = match queued.content {
                    Content::Link(Purpose::Reset) => AuthEvent::PasswordResetMailSent,
                    Content::Link(Purpose::Verify) => AuthEvent::EmailVerificationSent,
                    Content::Notice(_) => AuthEvent::SecurityNoticeSent,
                };
                self.event(kind, queued.user_id, now);
                self.db.remove_mail(queued.id)
            }
            Err(why) if now - queued.created_at >= GIVE_UP_AFTER_SECS => {
                self.log.line(
                    "error",
                    &[
                        (
                            "message",
                            &format!(
                                "mail: giving up after {} attempts: {why}",
                                queued.attempts + 1
                            ),
                        ),
                        ("mail_id", &queued.id),
                    ],
                );
                self.event(AuthEvent::MailFailed, queued.user_id, now);
                self.db.remove_mail(queued.id)
            }
            Err(why) => {
                let delay = retry_delay(queued.attempts + 1);
                self.log.line(
                    "warning",
                    &[
                        ("message", &format!("mail: attempt failed: {why}")),
                        ("mail_id", &queued.id),
                        ("retry_in_secs", &delay),
                    ],
                );
                self.db.retry_mail(queued.id, now + delay, &why)
            }
        };
        if let Err(error) = outcome {
            self.error(&format!("mail: cannot update the outbox: {error}"));
        }
    }

    /// The complete message, or `None` when there is nothing to send any
    /// more (a verification for an address verified meanwhile).
    fn build(&self, queued: &Queued, now: i64) -> Result<Option<String>, String> {
        let user = self
            .db
            .user_by_id(queued.user_id)
            .map_err(|error| format!("database: {error}"))?
            .ok_or("the account is gone")?;
        let site = &self.site_name;
        let purpose = match &queued.content {
            Content::Link(purpose) => *purpose,
            Content::Notice(text) => {
                let (subject, body) = self.notice(&user.username, text);
                return Ok(Some(message(
                    &self.from,
                    &queued.recipient,
                    &subject,
                    &body,
                )));
            }
        };
        if purpose == Purpose::Verify && user.email_verified {
            return Ok(None);
        }
        let token = self.mint(user.id, purpose, now)?;
        let link = self.link(purpose, &token, queued.return_to.as_deref());
        let (subject, body) = match purpose {
            Purpose::Reset => (
                format!("Reset your {site} password"),
                format!(
                    "Someone, hopefully you, asked to reset the password of the {site}\n\
                     account \"{}\".\n\nTo choose a new password, open this link within {}:\n\n{link}\n\n\
                     If you did not ask for this, ignore this message: your password\n\
                     stays as it is.\n\n-- \n{site}\n",
                    user.username,
                    duration_words(self.reset_ttl_secs)
                ),
            ),
            Purpose::Verify => (
                format!("Confirm your email address for {site}"),
                format!(
                    "Welcome to {site}, {}.\n\nTo confirm that this address is yours, open this link within {}:\n\n\
                     {link}\n\nIf you did not create an account, ignore this message.\n\n-- \n{site}\n",
                    user.username,
                    duration_words(self.verify_ttl_secs)
                ),
            ),
        };
        Ok(Some(message(
            &self.from,
            &queued.recipient,
            &subject,
            &body,
        )))
    }

    /// A security notice's subject and body: what changed, when and from
    /// where (written when it happened), and what to do if it was not the
    /// account's owner, with the account page's address.
    fn notice(&self, username: &str, text: &str) -> (String, String) {
        let site = &self.site_name;
        let account = self
            .public_url
            .as_deref()
            .map_or(String::new(), |base| format!("\n{base}/account\n"));
        (
            format!("Security notice for your {site} account"),
            format!(
                "Hello {username},\n\n{text}\n\nIf this was you, there is nothing to do.\n\n\
                 If this wasn't you, someone else may be signed in to your account:\n\
                 reset your password (\"Forgot your password?\" on the sign-in page),\n\
                 then on your account page sign out everywhere and remove any\n\
                 passkey you do not know:\n{account}\n-- \n{site}\n"
            ),
        )
    }

    /// Queues a security notice to `user`'s address, when mail is sent at
    /// all; the text says what changed, when and from where.
    pub fn queue_notice(
        &self,
        user_id: i64,
        email: &str,
        text: &str,
        now: i64,
    ) -> storage::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        self.db.queue_notice(user_id, email, text, now)?;
        self.notify();
        Ok(())
    }

    /// The message `admin mail-test` sends: the site's name, the time,
    /// and what sent it.
    pub fn test_message(&self, to: &str, now: i64) -> String {
        let site = &self.site_name;
        message(
            &self.from,
            to,
            &format!("Test message from {site}"),
            &format!(
                "This is a test of {site}'s mail, sent at {} (UTC) by auth-server's\n\
                 mail test (auth-server admin mail-test). If it reached you, reset\n\
                 links, address confirmations and security notices will too.\n\n-- \n{site}\n",
                clock::rfc3339(now).replace('T', " ").trim_end_matches('Z')
            ),
        )
    }

    /// An invitation to join: the link (sent at once, never queued: the
    /// outbox holds no token) and when it stops working.
    pub fn invitation(&self, to: &str, url: &str, expires_at: &str) -> String {
        let site = &self.site_name;
        message(
            &self.from,
            to,
            &format!("You are invited to {site}"),
            &format!(
                "Hello,

an administrator of {site} invites you to make an account.
                 Open this link to choose a username and a password:

{url}

                 The link works once, until {} (UTC). If you did not expect it,
                 ignore this message: nothing happens without the link.

-- 
{site}
",
                expires_at.replace('T', " ").trim_end_matches('Z')
            ),
        )
    }

    /// Pipes `message` to the command now and waits for it (the admin
    /// command's mail test, outside the outbox).
    pub fn send_now(&self, message: &str) -> Result<(), CommandFailure> {
        self.run_command(message)
    }

    /// Pipes `message` to the command; `Ok` only for exit code 0 within the
    /// time limit. What the command wrote to stderr is kept (its first
    /// lines, bounded) to say why it failed.
    fn run_command(&self, message: &str) -> Result<(), CommandFailure> {
        let failure = |why: String| CommandFailure {
            why,
            status: None,
            stderr: String::new(),
        };
        let command = self
            .command
            .as_deref()
            .ok_or_else(|| failure("MAIL_COMMAND is not set".into()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| failure(format!("cannot start the mail command: {error}")))?;
        // Read on a thread of its own, so a chatty command can never fill
        // the pipe and stall; only the start is kept.
        let stderr = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut kept = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut pipe, &mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < STDERR_KEPT_BYTES {
                        kept.extend_from_slice(&chunk[..n.min(STDERR_KEPT_BYTES - kept.len())]);
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading closes the pipe; its exit
            // code then says what happened.
            let _ = stdin.write_all(message.as_bytes());
        }
        let started = Instant::now();
        let ended = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() >= COMMAND_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err("the mail command did not finish within 30 s".to_string());
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(error) => break Err(format!("cannot wait for the mail command: {error}")),
            }
        };
        let stderr = stderr
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        match ended {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(CommandFailure {
                why: format!("the mail command exited with {status}"),
                status: status.code(),
                stderr,
            }),
            Err(why) => Err(CommandFailure {
                why,
                status: None,
                stderr,
            }),
        }
    }

    fn event(&self, kind: AuthEvent, user_id: i64, now: i64) {
        let event = EventRecord {
            kind,
            user_id: Some(user_id),
            identifier: None,
            ip: None,
            user_agent: None,
            request_id: None,
            detail: None,
            actor: None,
        };
        Audit::default().record(self.db.as_ref(), &self.log, &event, now);
    }

    fn error(&self, message: &str) {
        self.log.line("error", &[("message", &message)]);
    }
}

/// The most of the mail command's stderr kept, for the log and the outbox.
const STDERR_KEPT_BYTES: usize = 4096;

/// Why the mail command did not take a message: what happened, its exit
/// status when it exited, and the start of what it wrote to stderr.
#[derive(Debug)]
pub struct CommandFailure {
    pub why: String,
    pub status: Option<i32>,
    pub stderr: String,
}

/// One line: what happened and stderr's first line (what `admin outbox`
/// shows as the last error).
impl std::fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)?;
        match self
            .stderr
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
        {
            Some(line) => write!(f, ": {}", line.chars().take(200).collect::<String>()),
            None => Ok(()),
        }
    }
}

/// A header value as it may travel: ASCII as it is, anything else as an
/// RFC 2047 encoded word (`=?UTF-8?B?…?=`), since a site name may be
/// "Famille Dupré" and 8-bit headers are not for every relay.
fn encoded_word(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let mut out = String::from("=?UTF-8?B?");
    out.push_str(&base64::encode(text.as_bytes()));
    out.push_str("?=");
    out
}

/// Seconds to wait after the `attempt`-th failure: 1, 2, 4, … up to an hour.
fn retry_delay(attempt: i64) -> i64 {
    let exponent = (attempt - 1).clamp(0, 20) as u32;
    (1i64 << exponent).min(MAX_RETRY_DELAY_SECS)
}

/// "1 hour", "24 hours", "30 minutes": a lifetime for a person to read.
fn duration_words(secs: i64) -> String {
    let (n, unit) = if secs % 3600 == 0 {
        (secs / 3600, "hour")
    } else if secs % 60 == 0 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// An RFC 5322 message with plain UTF-8 text. Every header value is either
/// fixed here or was validated to hold no CR, LF or markup (`MAIL_FROM` at
/// start-up, the recipient at registration, `SITE_NAME` at start-up), so no
/// input can add a header. Lines end in LF, as a local sendmail expects.
fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    let subject = encoded_word(subject);
    let date = httpdate::fmt_http_date(SystemTime::now()).replace(" GMT", " +0000");
    let domain = from.rsplit('@').next().unwrap_or("localhost");
    let id = Token::generate().map_or_else(|_| clock::now().to_string(), |t| t.encode());
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: {date}\nMessage-ID: <{id}@{domain}>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stop_at_an_hour() {
        let delays: Vec<i64> = (1..=14).map(retry_delay).collect();
        assert_eq!(&delays[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(delays[13], 3600);
    }

    #[test]
    fn non_ascii_subjects_are_encoded_words() {
        assert_eq!(encoded_word("Reset your password"), "Reset your password");
        // RFC 4648 §10 vectors inside the word.
        assert_eq!(encoded_word("é"), "=?UTF-8?B?w6k=?=");
        assert_eq!(encoded_word("Dupré"), "=?UTF-8?B?RHVwcsOp?=");
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(86_400), "24 hours");
        assert_eq!(duration_words(1800), "30 minutes");
        assert_eq!(duration_words(5), "5 seconds");
    }

    #[test]
    fn messages_have_the_headers_and_no_more() {
        let text = message("a@example.com", "b@example.com", "Hi", "body\n");
        let (head, body) = text.split_once("\n\n").unwrap();
        let names: Vec<&str> = head.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "Content-Type",
                "Content-Transfer-Encoding"
            ]
        );
        assert!(head.contains("Date: ") && head.contains(" +0000"));
        assert_eq!(body, "body\n");
    }
}
