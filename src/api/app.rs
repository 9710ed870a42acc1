//! What every endpoint is given: the shared state ([`App`]), the request in
//! hand ([`Context`]), and the shape of a successful answer ([`Reply`]).
//!
//! Built once at start-up and shared by all connection threads. Nothing
//! here routes or writes responses; that is `pipeline`, one layer up.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::cookies::CookiePolicy;
use crate::api::cors::Cors;
use crate::api::router::ROUTES;
use crate::auth::mailer::Mailer;
use crate::auth::passwords::PasswordHasher;
use crate::auth::sessions::{Lifetimes, SessionStore};
use crate::auth::throttle::Throttle;
use crate::http::Request;
use crate::storage::Database;
use crate::storage::audit::{Audit, AuthEvent};
use crate::support::clock;
use crate::support::config::Settings;
use crate::support::log::Logger;
use crate::support::metrics::Metrics;

/// Everything a handler may use.
pub struct App {
    pub settings: Settings,
    pub db: Arc<Database>,
    pub sessions: SessionStore,
    pub passwords: PasswordHasher,
    pub cookies: CookiePolicy,
    pub cors: Cors,
    pub throttle: Throttle,
    pub audit: Audit,
    pub log: Logger,
    /// Sends mail from its own thread (started by `main`).
    pub mailer: Arc<Mailer>,
    /// Counters for Prometheus, when `METRICS_ADDR` is set.
    pub metrics: Option<Arc<Metrics>>,
    /// When the process started (Unix seconds), for the metrics.
    pub started_at: i64,
}

impl App {
    pub fn new(settings: Settings, db: Arc<Database>, log: Logger) -> App {
        let lifetimes = Lifetimes {
            idle_secs: settings.session_idle_timeout_secs,
            absolute_secs: settings.session_absolute_timeout_secs,
            remember_secs: settings.remember_me_timeout_secs,
        };
        let metrics = settings.metrics_addr.map(|_| {
            let routes: Vec<&'static str> = ROUTES.iter().map(|(_, pattern, _)| *pattern).collect();
            Arc::new(Metrics::new(&routes))
        });
        App {
            sessions: SessionStore::new(
                lifetimes,
                settings.max_sessions,
                settings.session_persist.then(|| Arc::clone(&db)),
            )
            .with_max_per_user(settings.max_sessions_per_user),
            passwords: PasswordHasher::with_metrics(
                settings.bcrypt_cost,
                settings.hash_workers,
                Duration::from_secs(settings.hash_queue_wait_secs),
                metrics.clone(),
            ),
            throttle: Throttle::new(
                settings.login_failures_per_ip,
                settings.registrations_per_hour,
            )
            .with_reset_requests_per_hour(settings.password_resets_per_hour)
            .with_patience(Duration::from_secs(settings.hash_queue_wait_secs)),
            mailer: Arc::new(Mailer::new(&settings, Arc::clone(&db), log)),
            metrics,
            started_at: clock::now(),
            cookies: CookiePolicy {
                secure: settings.cookie_secure,
                same_site: settings.cookie_same_site,
                domain: settings.cookie_domain.clone(),
            },
            cors: Cors::new(settings.cors_origins.clone(), settings.public_origin()),
            audit: Audit::default(),
            settings,
            db,
            log,
        }
    }

    /// Before the first request: the sessions that survived the last run;
    /// how many. With `SESSION_PERSIST=false` none, and the stored ones are
    /// deleted: the table was not kept up to date while persistence was
    /// off, so sessions ended then must not come back when it is turned on
    /// again (second review).
    pub fn load_sessions(&self, now: i64) -> rusqlite::Result<usize> {
        if !self.settings.session_persist {
            self.db.delete_all_sessions()?;
            return Ok(0);
        }
        self.sessions.load(now)
    }

    /// Records an auth event (log line and audit row) about this request.
    pub fn event(
        &self,
        kind: &'static str,
        user_id: Option<i64>,
        identifier: Option<&str>,
        cx: &Context,
    ) {
        let event = AuthEvent {
            kind,
            user_id,
            identifier,
            ip: Some(cx.client_ip),
            user_agent: Some(cx.user_agent()),
            request_id: Some(cx.request_id),
        };
        self.audit.record(&self.db, &self.log, &event, cx.now);
    }

    /// An error line in the log (for the metrics listener's HTTP layer).
    pub fn log_error(&self, message: &str) {
        self.log.line("error", &[("message", json!(message))]);
    }

    /// Periodic upkeep, run by a background thread (and once at a clean
    /// stop): writes the sessions' last-seen times and the counted throttled
    /// attempts, and prunes old audit rows.
    pub fn maintain(&self, prune: bool) {
        let now = clock::now();
        if let Err(error) = self.sessions.flush() {
            self.log.line(
                "error",
                &[(
                    "message",
                    json!(format!("sessions: cannot write behind: {error}")),
                )],
            );
        }
        self.audit.flush(&self.db, &self.log, now);
        if prune {
            self.audit
                .prune(&self.db, &self.log, self.settings.audit_retention_days, now);
        }
    }
}

/// What an endpoint gets besides the shared state.
pub struct Context<'r> {
    pub request: &'r Request,
    /// One clock reading per request, so every check in it agrees.
    pub now: i64,
    pub client_ip: IpAddr,
    /// The client's address group (`http::address_group`: IPv6 by /64), the
    /// key of every per-client rule: throttling and the hash queue's turns.
    pub client_group: IpAddr,
    /// The value of the route's `{name}` segment, if it has one.
    pub parameter: Option<&'r str>,
    /// This request's id (the `X-Request-Id` header), for its log lines.
    pub request_id: &'r str,
}

impl Context<'_> {
    pub fn user_agent(&self) -> &str {
        self.request.header("user-agent").unwrap_or("")
    }
}

/// A successful answer: `{"success": true, "message", "data"}`.
pub struct Reply {
    pub status: u16,
    pub message: &'static str,
    pub data: Option<Value>,
    pub set_cookie: Option<String>,
    /// More headers (forward auth's `Remote-User` and the like).
    pub headers: Vec<(&'static str, String)>,
    /// A document sent as it is, outside the envelope: the OpenAPI
    /// description (which tools read directly) and the sign-in page.
    pub document: Option<Document>,
}

/// A response body that is not the JSON envelope.
pub struct Document {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Replaces the API's `default-src 'none'` policy (a page needs its
    /// own script and style).
    pub content_security_policy: Option<&'static str>,
}

impl Reply {
    pub fn ok(message: &'static str) -> Reply {
        Reply {
            status: 200,
            message,
            data: None,
            set_cookie: None,
            headers: Vec::new(),
            document: None,
        }
    }

    pub fn document(document: Document) -> Reply {
        Reply {
            document: Some(document),
            ..Reply::ok("")
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    pub fn with_status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    pub fn with_data(mut self, data: Value) -> Reply {
        self.data = Some(data);
        self
    }

    pub fn with_cookie(mut self, set_cookie: String) -> Reply {
        self.set_cookie = Some(set_cookie);
        self
    }
}
