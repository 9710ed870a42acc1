//! The application as the HTTP layer sees it: shared state, and the path
//! every request takes through it.
//!
//! `handle` is the whole pipeline in order: check the origin, route, check
//! the body's type, call the endpoint, then add the headers every response
//! carries and log one line.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use crate::audit::{Audit, AuthEvent};
use crate::config::Settings;
use crate::cookies::CookiePolicy;
use crate::cors::{Cors, Origin};
use crate::error::ApiError;
use crate::handlers;
use crate::http::{Refusal, Request, Response, Service};
use crate::log::Logger;
use crate::passwords::PasswordHasher;
use crate::router::{self, Resolved};
use crate::sessions::{Lifetimes, SessionStore};
use crate::storage::Database;
use crate::throttle::Throttle;
use crate::{client_ip, clock};

/// Everything a handler may use, built once at start-up and shared by all
/// connection threads.
pub struct App {
    pub settings: Settings,
    pub db: Database,
    pub sessions: SessionStore,
    pub passwords: PasswordHasher,
    pub cookies: CookiePolicy,
    pub cors: Cors,
    pub throttle: Throttle,
    pub audit: Audit,
    pub log: Logger,
}

/// Hashes that may wait for a bcrypt worker, per worker. Short on purpose:
/// a login that would wait seconds is better refused with 503 at once.
const HASH_QUEUE_PER_WORKER: usize = 2;

impl App {
    pub fn new(settings: Settings, db: Database, log: Logger) -> App {
        let lifetimes = Lifetimes {
            idle_secs: settings.session_idle_timeout_secs,
            absolute_secs: settings.session_absolute_timeout_secs,
            remember_secs: settings.remember_me_timeout_secs,
        };
        App {
            sessions: SessionStore::new(lifetimes, settings.max_sessions),
            passwords: PasswordHasher::new(
                settings.bcrypt_cost,
                settings.hash_workers,
                settings.hash_workers * HASH_QUEUE_PER_WORKER,
            ),
            throttle: Throttle::new(
                settings.login_failures_per_ip,
                settings.registrations_per_hour,
            ),
            cookies: CookiePolicy {
                secure: settings.cookie_secure,
                same_site: settings.cookie_same_site,
            },
            cors: Cors::new(settings.cors_origins.clone()),
            audit: Audit::default(),
            settings,
            db,
            log,
        }
    }
}

impl App {
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
        };
        self.audit.record(&self.db, &self.log, &event, cx.now);
    }

    /// Periodic upkeep, run by a background thread: writes the counted
    /// throttled attempts and prunes old audit rows.
    pub fn maintain(&self, prune: bool) {
        let now = clock::now();
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
    /// The value of the route's `{name}` segment, if it has one.
    pub parameter: Option<&'r str>,
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
    /// A JSON document sent as it is, outside the envelope (the OpenAPI
    /// description, which tools read directly).
    pub document: Option<&'static str>,
}

impl Reply {
    pub fn ok(message: &'static str) -> Reply {
        Reply {
            status: 200,
            message,
            data: None,
            set_cookie: None,
            document: None,
        }
    }

    pub fn document(json_text: &'static str) -> Reply {
        Reply {
            document: Some(json_text),
            ..Reply::ok("")
        }
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

    fn into_response(self) -> Response {
        if let Some(document) = self.document {
            return json_response(self.status, document);
        }
        let mut body = json!({ "success": true, "message": self.message });
        if let Some(data) = self.data {
            body["data"] = data;
        }
        let mut response = json_response(self.status, body.to_string());
        if let Some(cookie) = self.set_cookie {
            response.add_header("Set-Cookie", cookie);
        }
        response
    }
}

fn json_response(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::new(status)
        .with_header("Content-Type", "application/json")
        .with_body(body)
}

fn error_response(error: &ApiError) -> Response {
    let mut response = json_response(error.parts().0, error.body().to_string());
    response.headers.extend(error.headers());
    response
}

impl App {
    /// Parse, check, act: everything that decides the response.
    fn respond(
        &self,
        request: &Request,
        origin: &Origin,
        client_ip: IpAddr,
    ) -> Result<Response, ApiError> {
        if Cors::forbids(origin, &request.method) {
            return Err(ApiError::OriginNotAllowed);
        }
        let (endpoint, parameter) = match router::resolve(&request.method, &request.path)? {
            Resolved::Options(allow) => return Ok(Cors::preflight(origin, &allow)),
            Resolved::Endpoint(endpoint, parameter) => (endpoint, parameter),
        };
        // A JSON content type cannot be sent cross-origin without a
        // preflight, so refusing every other type closes the "simple
        // request" route around CORS (OWASP CSRF Prevention Cheat Sheet).
        if !request.body.is_empty() && !is_json(request) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let context = Context {
            request,
            now: clock::now(),
            client_ip,
            parameter,
        };
        handlers::dispatch(self, endpoint, &context).map(Reply::into_response)
    }

    /// The headers on every response, errors and refusals included.
    /// Returns the request id it assigned.
    fn finish(&self, response: &mut Response, origin: &Origin) -> String {
        Cors::add_headers(origin, response);
        // A JSON API is never a page: nothing may render, frame, cache or
        // sniff it (OWASP REST Security and HTTP Headers cheat sheets).
        for (name, value) in [
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
            (
                "Content-Security-Policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
        ] {
            response.add_header(name, value);
        }
        let request_id = new_request_id();
        response.add_header("X-Request-Id", request_id.clone());
        request_id
    }
}

/// 64 bits in hex, unique per process and unpredictable: a counter passed
/// through a hash keyed with the process's random seed (no system call per
/// request). Unlike a bare counter it says nothing about how busy the server
/// is.
fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", KEY.get_or_init(RandomState::new).hash_one(n))
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(request: &Request) -> bool {
    request.header("content-type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/json")
    })
}

impl Service for App {
    fn handle(&self, request: &Request) -> Response {
        let started = Instant::now();
        let origin = self.cors.origin(request);
        let client = client_ip::client_ip(request, self.settings.trust_proxy);
        let mut response = self
            .respond(request, &origin, client)
            .unwrap_or_else(|error| error_response(&error));
        let request_id = self.finish(&mut response, &origin);
        // The path only: a query string may carry what should never be
        // logged (OWASP ASVS 4.0.3 V7.1.1).
        self.log.line(
            "request",
            &[
                ("method", json!(request.method)),
                ("path", json!(request.path)),
                ("status", json!(response.status)),
                (
                    "duration_ms",
                    json!((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
                ),
                ("request_id", json!(request_id)),
                ("client", json!(client.to_string())),
            ],
        );
        response
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        let mut response = error_response(&ApiError::Http(refusal));
        let request_id = self.finish(&mut response, &Origin::Absent);
        self.log.line(
            "refused",
            &[
                ("status", json!(response.status)),
                ("request_id", json!(request_id)),
            ],
        );
        response
    }

    fn log_error(&self, message: &str) {
        self.log.line("error", &[("message", json!(message))]);
    }
}
