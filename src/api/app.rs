//! What every endpoint is given: the shared state ([`App`]), the request in
//! hand ([`Context`]), and the shape of a successful answer ([`Reply`]).
//!
//! Built once at start-up and shared by all connection threads. Nothing
//! here routes or writes responses; that is `pipeline`, one layer up.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::api::cookies::CookiePolicy;
use crate::api::cors::Cors;
use crate::api::error::ApiError;
use crate::http::Request;
use auth_core::accounts::{Accounts, Client};
use auth_core::support::clock;
use auth_core::support::config::Settings;
use auth_core::support::metrics::{LoginResult, Metrics, RegistrationResult};

/// Everything a handler may use: the use cases' shared state, and what
/// only HTTP needs (cookies, CORS, metrics).
pub struct App {
    pub accounts: Accounts,
    pub cookies: CookiePolicy,
    pub cors: Cors,
    /// Counters for Prometheus, when `METRICS_ADDR` is set.
    pub metrics: Option<Arc<Metrics>>,
    /// When the process started (Unix seconds), for the metrics.
    pub started_at: i64,
    /// openapi.json, made on first request by what `main` hands in (the
    /// document is made from the route table, which sits above this file).
    openapi: OnceLock<String>,
    make_openapi: fn() -> String,
}

impl App {
    /// The HTTP side around the use cases' state: cookies, CORS and the
    /// metrics from the settings; `make_openapi` makes openapi.json (the
    /// document comes from the route table, above this file, so `main`
    /// hands it in).
    pub fn new(
        accounts: Accounts,
        metrics: Option<Arc<Metrics>>,
        make_openapi: fn() -> String,
    ) -> App {
        let settings = accounts.settings();
        App {
            cookies: CookiePolicy {
                secure: settings.cookie_secure,
                same_site: settings.cookie_same_site,
                domain: settings.cookie_domain.clone(),
            },
            cors: Cors::new(settings.cors_origins.clone(), settings.public_origin()),
            metrics,
            started_at: clock::now(),
            openapi: OnceLock::new(),
            make_openapi,
            accounts,
        }
    }

    /// openapi.json's text.
    pub fn openapi(&self) -> &str {
        self.openapi.get_or_init(self.make_openapi)
    }

    pub fn settings(&self) -> &Settings {
        self.accounts.settings()
    }

    /// Counts a login's outcome, when metrics are on.
    pub fn count_login(&self, result: LoginResult) {
        if let Some(metrics) = &self.metrics {
            metrics.login(result);
        }
    }

    /// Counts a registration's outcome, when metrics are on.
    pub fn count_registration(&self, result: RegistrationResult) {
        if let Some(metrics) = &self.metrics {
            metrics.registration(result);
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

    /// Who is asking, as the use cases take it.
    pub fn client(&self) -> Client<'_> {
        Client {
            ip: self.client_ip,
            group: self.client_group,
            user_agent: self.user_agent(),
            request_id: Some(self.request_id),
            now: self.now,
            actor: None,
        }
    }
}

/// A successful answer: `{"success": true, "message", "data"}`.
pub struct Reply {
    pub status: u16,
    pub message: &'static str,
    /// `data`, already JSON: a handler's struct is written straight into
    /// it, with no `serde_json::Value` tree in between (the session check
    /// answers tens of thousands of times a second).
    pub data: Option<Box<RawValue>>,
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

    /// Serializing the project's own shapes cannot fail (their keys are
    /// strings); were one ever to, that is a 500 with its cause, not a
    /// panic.
    pub fn with_data(mut self, data: impl Serialize) -> Result<Reply, ApiError> {
        let data = serde_json::value::to_raw_value(&data).map_err(|error| ApiError::Internal {
            cause: format!("cannot serialize the reply: {error}"),
        })?;
        self.data = Some(data);
        Ok(self)
    }

    pub fn with_cookie(mut self, set_cookie: String) -> Reply {
        self.set_cookie = Some(set_cookie);
        self
    }
}
