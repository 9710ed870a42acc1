//! The use cases: what happens when someone registers, signs in or out,
//! changes or resets a password, turns two-factor login on or off, or
//! deletes the account, or adds a passkey and signs in with it. One file per flow, each a function from plain
//! inputs (what the person typed, who is asking, the time) to a typed
//! outcome the caller must handle case by case.
//!
//! A flow owns everything its story needs: the throttle reservation, the
//! bcrypt queue, the database writes (conditional on the account being as
//! checked), the audit event and the sessions' durable copy. Above it,
//! `api/` parses a request and maps the outcome to a response, and `admin`
//! calls the same functions from a shell; below it, `auth/` knows the
//! rules and `storage/` the tables.

pub mod access;
pub mod audit;
pub mod check;
pub mod delete;
pub mod forward;
pub mod invites;
pub mod login;
pub mod logout;
pub mod mailer;
pub mod notices;
pub mod oidc;
pub mod operator;
pub mod passkeys;
pub mod password;
pub mod reauth;
pub mod recovery;
pub mod register;
pub mod sessions;
pub mod two_factor;
pub mod unlock;
pub mod upstream;

/// The account and a passkey, as the flows hand them out (their rows, read
/// by storage).
pub use crate::storage::User;
pub use crate::storage::passkeys::Passkey;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::audit::{Audit, AuthEvent, EventRecord};
use crate::accounts::mailer::Mailer;
use crate::accounts::sessions::Sessions;
use crate::accounts::upstream::Upstreams;
use crate::auth::access::RuleBook;
use crate::auth::challenges::{Challenges, SignInTickets};
use crate::auth::jose::KeyRing;
use crate::auth::passwords::{HashError, PasswordHasher};
use crate::auth::redirect::approve;
use crate::auth::sessions::{Lifetimes, Session, SessionStore};
use crate::auth::throttle::Throttle;
use crate::auth::token::Token;
use crate::auth::token::TokenHash;
use crate::auth::validation::PasswordPolicy;
use crate::auth::webauthn::RelyingParty;
use crate::storage;
use crate::storage::sessions::SessionRow;
use crate::storage::{Event, Storage, StorageError};
use crate::support::clock;
use crate::support::config::Settings;
use crate::support::log::Logger;
use crate::support::metrics::Metrics;
use crate::support::url::Url;

/// What the flows share: settings, the database, the sessions, the bcrypt
/// queue, the throttle, the audit trail, the log and the mailer. Built once
/// at start-up.
pub struct Accounts {
    pub(crate) settings: Settings,
    pub(crate) db: Arc<dyn Storage>,
    pub(crate) sessions: Sessions,
    pub(crate) passwords: PasswordHasher,
    pub(crate) throttle: Throttle,
    pub(crate) audit: Audit,
    pub(crate) log: Logger,
    /// Sends mail from its own thread (started by `main`).
    pub(crate) mailer: Arc<Mailer>,
    /// `ACCESS_RULES_FILE`'s rules, in memory.
    pub(crate) rules: RuleBook,
    /// The outstanding challenges of passkeys being added.
    pub(crate) challenges: Challenges,
    /// Passkey sign-in challenges, held by the browsers.
    pub(crate) sign_in_tickets: SignInTickets,
    /// Who this server is to a passkey: `PASSKEY_RP_ID`, `PASSKEY_ORIGINS`.
    pub(crate) relying_party: RelyingParty,
    /// The OpenID Connect signing keys, parsed (`accounts::oidc::keys`).
    pub(crate) oidc_keys: KeyRing,
    /// Signing in through upstream providers: their documents and keys.
    pub(crate) upstreams: Upstreams,
}

/// Who is asking, as every flow records it and keys its limits on.
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    pub ip: IpAddr,
    /// The address group (IPv6 by /64), the key of every per-client rule.
    pub group: IpAddr,
    pub user_agent: &'a str,
    /// The request's id, for its log lines; `None` from the shell.
    pub request_id: Option<&'a str>,
    /// One clock reading per request, so every check in it agrees.
    pub now: i64,
    /// The administrator acting on someone else's account (the admin
    /// page), recorded with every event the request causes; `None` when
    /// people act on their own account, and from the shell.
    pub actor: Option<i64>,
}

impl Client<'_> {
    /// The same client, acting as the administrator `actor`.
    pub fn acting_as(self, actor: i64) -> Self {
        Client {
            actor: Some(actor),
            ..self
        }
    }
}

impl Client<'static> {
    /// The operator at a shell (`auth-server admin`): no address (recorded
    /// as none), and the loopback address as the key of the bcrypt queue.
    pub fn shell(now: i64) -> Client<'static> {
        Client {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            group: IpAddr::V4(Ipv4Addr::LOCALHOST),
            user_agent: "auth-server admin",
            request_id: None,
            now,
            actor: None,
        }
    }
}

/// Why a flow could not finish through no fault of the person asking. It
/// says what kind of trouble it is; the caller picks what to answer (the
/// API: 503 with a `Retry-After` of its choosing, or 500) and logs the
/// cause, none of which reaches the client.
#[derive(Debug)]
pub enum Trouble {
    /// Overloaded for a moment (the bcrypt queue, a locked database, no
    /// randomness yet): the same request may well succeed soon.
    /// `expected_wait_secs` is the bcrypt queue's own estimate, when it
    /// made one.
    Busy {
        expected_wait_secs: Option<u64>,
        cause: String,
    },
    /// Storage failing (disk full, read-only, I/O): an operator must act.
    Unavailable(String),
    /// A bug or corruption.
    Internal(String),
}

impl std::fmt::Display for Trouble {
    /// The cause, for the log (never for a client).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Busy { cause, .. }
            | Trouble::Unavailable(cause)
            | Trouble::Internal(cause) => f.write_str(cause),
        }
    }
}

impl Trouble {
    pub fn busy(cause: impl Into<String>) -> Trouble {
        Trouble::Busy {
            expected_wait_secs: None,
            cause: cause.into(),
        }
    }

    pub fn random(error: getrandom::Error) -> Trouble {
        Trouble::busy(format!("random source: {error}"))
    }
}

impl From<StorageError> for Trouble {
    /// What can pass by itself (busy) or once an operator acts (a full
    /// disk) is "try again later": the request did not happen. Anything
    /// else is internal. Either way storage's text is the cause.
    fn from(error: StorageError) -> Trouble {
        match error {
            StorageError::Busy(cause) => Trouble::busy(cause),
            StorageError::Unavailable(cause) => Trouble::Unavailable(cause),
            StorageError::Internal(cause) => Trouble::Internal(cause),
        }
    }
}

impl From<HashError> for Trouble {
    /// A full bcrypt queue is the service being busy: the client may retry.
    fn from(error: HashError) -> Trouble {
        match error {
            HashError::Busy { retry_after_secs } => Trouble::Busy {
                expected_wait_secs: Some(retry_after_secs),
                cause: "the bcrypt queue is full".into(),
            },
            HashError::Failed(cause) => Trouble::Internal(format!("bcrypt: {cause}")),
        }
    }
}

impl Accounts {
    /// Everything the flows need, from the settings; `metrics`, when on,
    /// counts the bcrypt queue's waits and hash times.
    pub fn new(
        settings: Settings,
        db: Arc<dyn Storage>,
        log: Logger,
        metrics: Option<Arc<Metrics>>,
    ) -> Accounts {
        let lifetimes = Lifetimes {
            idle_secs: settings.session_idle_timeout_secs,
            absolute_secs: settings.session_absolute_timeout_secs,
            remember_secs: settings.remember_me_timeout_secs,
        };
        let store = SessionStore::new(lifetimes, settings.max_sessions, settings.session_persist)
            .with_max_per_user(settings.max_sessions_per_user);
        let budget = Duration::from_secs(settings.hash_queue_wait_secs);
        let mail_metrics = metrics.clone();
        Accounts {
            sessions: Sessions::new(store, settings.session_persist.then(|| Arc::clone(&db))),
            passwords: PasswordHasher::with_metrics(
                settings.bcrypt_cost,
                settings.hash_workers,
                budget,
                metrics,
            ),
            throttle: Throttle::new(
                settings.login_failures_per_ip,
                settings.registrations_per_hour,
            )
            .with_reset_requests_per_hour(settings.password_resets_per_hour)
            .with_passkey_options_per_minute(settings.passkey_options_per_minute)
            .with_patience(budget),
            mailer: Arc::new(Mailer::new(&settings, Arc::clone(&db), log, mail_metrics)),
            audit: Audit::default(),
            rules: RuleBook::default(),
            challenges: Challenges::default(),
            sign_in_tickets: SignInTickets::default(),
            oidc_keys: KeyRing::default(),
            upstreams: Upstreams::default(),
            relying_party: RelyingParty {
                id: settings.passkey_rp_id.clone(),
                origins: settings.passkey_origins.clone(),
            },
            settings,
            db,
            log,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What a new password is checked against (`auth::validation`).
    pub fn password_policy(&self) -> PasswordPolicy<'_> {
        PasswordPolicy {
            min_chars: self.settings.password_min_length,
            site_name: &self.settings.site_name,
        }
    }

    /// The log every flow writes to, for the server's own lines.
    pub fn log(&self) -> &Logger {
        &self.log
    }

    /// The mailer: whether mail goes out, and the outbox's thread (started
    /// by `main`).
    pub fn mailer(&self) -> &Arc<Mailer> {
        &self.mailer
    }

    /// Signing in through upstream providers (`main` gives it its HTTPS
    /// client).
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Who this server is to a passkey.
    pub fn relying_party(&self) -> &RelyingParty {
        &self.relying_party
    }

    /// Whether storage answers a read (the health check).
    pub fn check_storage(&self) -> Result<(), Trouble> {
        Ok(self.db.check()?)
    }

    /// Writes the database's log into its file (at a clean stop), so the
    /// file alone is a complete copy.
    pub fn checkpoint(&self) -> Result<(), Trouble> {
        Ok(self.db.checkpoint()?)
    }

    /// Whether any app is registered with the OpenID provider.
    pub fn has_oidc_clients(&self) -> Result<bool, Trouble> {
        Ok(self.db.count_oidc_clients()? > 0)
    }

    /// Sessions live in memory now.
    pub fn live_sessions(&self) -> usize {
        self.sessions.store().len()
    }

    /// An account's live sessions, oldest first, each with its token's
    /// hash (to tell the caller's own).
    pub fn live_sessions_of(&self, user_id: i64, now: i64) -> Vec<(TokenHash, Session)> {
        self.sessions.store().live_for_user(user_id, now)
    }

    /// How many requests wait for a bcrypt worker.
    pub fn hash_queue_depth(&self) -> usize {
        self.passwords.queue_depth()
    }

    /// Runs one hash, so the first sign-in does not pay for warming up.
    pub fn warm_up_hashing(&self) {
        self.passwords.warm_up();
    }

    /// Before the first request: the sessions that survived the last run;
    /// how many. With `SESSION_PERSIST=false` none, and the stored ones are
    /// deleted: the table was not kept up to date while persistence was
    /// off, so sessions ended then must not come back when it is turned on
    /// again.
    pub fn load_sessions(&self, now: i64) -> Result<usize, Trouble> {
        if !self.settings.session_persist {
            self.db.delete_all_sessions()?;
            return Ok(0);
        }
        Ok(self.sessions.load(now)?)
    }

    /// Periodic upkeep, run by a background thread (and once at a clean
    /// stop): writes the sessions' last-seen times and the counted throttled
    /// attempts, and prunes old audit rows.
    pub fn maintain(&self, prune: bool) {
        let now = clock::now();
        if let Err(error) = self.sessions.flush() {
            self.log_error(&format!("sessions: cannot write behind: {error}"));
        }
        self.audit.flush(self.db.as_ref(), &self.log, now);
        if let Err(error) = self.db.prune_grants(now) {
            self.log_error(&format!("oidc: cannot prune expired grants: {error}"));
        }
        if prune {
            self.audit.prune(
                self.db.as_ref(),
                &self.log,
                self.settings.audit_retention_days,
                now,
            );
        }
    }

    /// `url` if the sign-in may send a browser there (`auth::redirect`):
    /// an http(s) URL on a host of `FORWARD_AUTH_HOSTS`, or a page of this
    /// server under `PUBLIC_URL`'s origin; else `None`.
    pub fn approved_redirect(&self, url: &str) -> Option<String> {
        // The server's own pages (the account page) under PUBLIC_URL, too.
        let own = self.settings.public_origin().is_some_and(|origin| {
            Url::parse(url).is_ok_and(|url| url.origin() == origin && url.path.starts_with('/'))
        });
        (own || approve(url, &self.settings.forward_auth_hosts).is_some()).then(|| url.to_string())
    }

    /// Records an event (log line and audit row) about `client`'s request.
    pub fn record(
        &self,
        kind: AuthEvent,
        user_id: Option<i64>,
        identifier: Option<&str>,
        client: &Client,
    ) {
        self.record_event(kind, user_id, identifier, None, client);
    }

    /// Records an event with a detail that explains it.
    pub fn record_detail(
        &self,
        kind: AuthEvent,
        user_id: Option<i64>,
        identifier: Option<&str>,
        detail: &str,
        client: &Client,
    ) {
        self.record_event(kind, user_id, identifier, Some(detail), client);
    }

    fn record_event(
        &self,
        kind: AuthEvent,
        user_id: Option<i64>,
        identifier: Option<&str>,
        detail: Option<&str>,
        client: &Client,
    ) {
        let event = event_record(kind, user_id, identifier, detail, client);
        self.audit
            .record(self.db.as_ref(), &self.log, &event, client.now);
    }

    /// An event for a write that stores it in its own transaction
    /// ([`Audit::row`]), and the line to log once that write committed.
    pub(crate) fn event_for_write<'a>(
        &self,
        kind: AuthEvent,
        user_id: Option<i64>,
        identifier: Option<&'a str>,
        detail: Option<&'a str>,
        client: &'a Client,
    ) -> (Event, EventRecord<'a>) {
        let event = event_record(kind, user_id, identifier, detail, client);
        (self.audit.row(&event, client.now), event)
    }

    /// The log line of an event whose row a write stored itself.
    pub(crate) fn log_event(&self, event: &EventRecord) {
        self.audit.log(&self.log, event);
    }

    /// An error line in the log (a failure nobody is waiting for).
    pub fn log_error(&self, message: &str) {
        self.log.line("error", &[("message", &message)]);
    }

    /// Ends every other session of the signed-in caller while keeping the
    /// caller signed in under a new token (OWASP ASVS 4.0.3 V3.3.3: a
    /// change to how the account authenticates ends the others). `change`
    /// is the database change, given the caller's session as a row to
    /// store under the new epoch in the same transaction (when sessions are
    /// stored); it returns that epoch, or `None` if the account is gone or
    /// no longer as checked. The answer: `None` when the change did not
    /// happen; else the new token and session, or no successor if the
    /// caller's own session expired meanwhile (the change stands).
    pub fn end_other_sessions(
        &self,
        token: &Token,
        user_id: i64,
        now: i64,
        change: impl FnOnce(Option<SessionRow>) -> storage::Result<Option<i64>>,
    ) -> Result<Option<Option<(Token, Session)>>, Trouble> {
        let successor = self
            .sessions
            .store()
            .successor(token, now)
            .map_err(Trouble::random)?;
        let keep = successor
            .as_ref()
            .and_then(|(new_token, session)| self.sessions.row(new_token, session));
        let Some(epoch) = change(keep)? else {
            return Ok(None);
        };
        self.sessions.store().forget_user(user_id);
        Ok(Some(match successor {
            Some((new_token, mut session)) => {
                session.auth_epoch = epoch;
                self.sessions.admit(&new_token, session.clone(), now)?;
                Some((new_token, session))
            }
            None => None,
        }))
    }
}

/// What an event says of who and where, from the request's client.
fn event_record<'a>(
    kind: AuthEvent,
    user_id: Option<i64>,
    identifier: Option<&'a str>,
    detail: Option<&'a str>,
    client: &'a Client,
) -> EventRecord<'a> {
    EventRecord {
        kind,
        user_id,
        identifier,
        // The shell has no address (see [`Client::shell`]).
        ip: Some(client.ip).filter(|ip| !ip.is_unspecified()),
        user_agent: Some(client.user_agent),
        request_id: client.request_id,
        detail,
        actor: client.actor,
    }
}

#[cfg(test)]
impl Accounts {
    /// The flows' state for a unit test: these settings over the
    /// defaults, an in-memory database, a silent log.
    pub(crate) fn for_tests(settings: &[(&str, &str)]) -> Accounts {
        let settings: std::collections::HashMap<String, String> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("BCRYPT_COST".to_string(), "4".to_string())])
            .collect();
        let settings = Settings::from_lookup(|name| settings.get(name).cloned())
            .unwrap_or_else(|problem| panic!("test settings: {problem:?}"));
        let db: Arc<dyn Storage> = Arc::new(
            crate::storage::Database::open(std::path::Path::new(":memory:"))
                .expect("an in-memory database"),
        );
        Accounts::new(settings, db, Logger::silent(), None)
    }

    /// An account for a unit test (its password hash is not a real one).
    pub(crate) fn user_for_tests(&self, username: &str) -> crate::storage::User {
        self.db
            .insert_user(
                username,
                &format!("{username}@example.com"),
                "$2b$04$none",
                0,
            )
            .unwrap_or_else(|_| panic!("cannot add {username}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_that_can_recover_is_trouble_to_retry_and_the_rest_internal() {
        assert!(matches!(
            Trouble::from(StorageError::Unavailable("disk full".into())),
            Trouble::Unavailable(_)
        ));
        assert!(matches!(
            Trouble::from(StorageError::Busy("locked".into())),
            Trouble::Busy {
                expected_wait_secs: None,
                ..
            }
        ));
        let Trouble::Internal(cause) = Trouble::from(StorageError::Internal("corrupt".into()))
        else {
            panic!("corruption is internal");
        };
        assert_eq!(cause, "corrupt");
    }
}
