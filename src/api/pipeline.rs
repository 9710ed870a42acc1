//! The path every request takes, in order: check the origin, route, check
//! the body's type, call the endpoint, then add the headers every response
//! carries and log one line (and, for a 5xx, one more with its cause).
//!
//! This is the top of the API layer and the only module that implements the
//! HTTP layer's [`Service`]; the handlers below it never see a `Response`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::api::app::{App, Context, Reply};
use crate::api::client_ip;
use crate::api::cors::{Cors, Origin};
use crate::api::error::ApiError;
use crate::api::router::{self, Accepts, Resolved};
use crate::http::{Refusal, Request, Response, Service, address_group};
use auth_core::support::clock;
use auth_core::support::text::printable;

/// A refused origin is most often a proxy that does not pass the browser's
/// `Host` (nginx's default): say what was seen and what would allow it, at
/// most once a minute.
fn log_refused_origin(app: &App, request: &Request) {
    if !app.cors.log_refusal_now(clock::now()) {
        return;
    }
    let seen = |name| request.header(name).map(printable).unwrap_or_default();
    app.accounts.log().line(
        "warning",
        &[
            (
                "message",
                &"refused a state-changing request from another origin; if it is this server's own page, set PUBLIC_URL to that origin (or have the proxy pass the browser's Host); if it is your front end, add it to CORS_ORIGINS",
            ),
            ("origin", &seen("origin")),
            ("host", &seen("host")),
        ],
    );
}

/// Parse, check, act: everything that decides the response. On success,
/// also the route pattern that matched (for the log).
fn respond(
    app: &App,
    request: &Request,
    origin: &Origin,
    client_ip: IpAddr,
    request_id: &str,
    route_pattern: &mut &'static str,
) -> Result<Response, ApiError> {
    let resolved = router::resolve(&request.method, &request.path);
    let same_origin = match &resolved {
        Ok(Resolved::Route(route, _)) => route.same_origin,
        _ => true,
    };
    if same_origin && Cors::forbids(origin, &request.method) {
        log_refused_origin(app, request);
        return Err(ApiError::OriginNotAllowed);
    }
    let (route, parameter) = match resolved? {
        Resolved::Options(allow) => return Ok(Cors::preflight(origin, &allow)),
        Resolved::Route(route, parameter) => (route, parameter),
    };
    *route_pattern = route.path;
    let context = Context {
        request,
        now: clock::now(),
        client_ip,
        client_group: address_group(client_ip),
        parameter,
        request_id,
    };
    check_content_type(route.accepts, request)?;
    // The handler's own signature says who may call it (`api::handler`).
    route.serve.call(app, &context).and_then(into_response)
}

/// A body the route does not take is 415.
fn check_content_type(accepts: Accepts, request: &Request) -> Result<(), ApiError> {
    let fits = match accepts {
        Accepts::Anything => true,
        Accepts::Json => request.body.is_empty() || is_json(request),
        Accepts::JsonOrForm => request.body.is_empty() || is_json(request) || is_form(request),
    };
    if fits {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The JSON envelope of every successful answer.
#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

fn into_response(reply: Reply) -> Result<Response, ApiError> {
    let mut response = match reply.document {
        Some(document) => {
            let mut response = Response::new(reply.status)
                .with_header("Content-Type", document.content_type)
                .with_body(document.body);
            if let Some(policy) = document.content_security_policy {
                response.add_header("Content-Security-Policy", policy);
            }
            response
        }
        None => {
            let envelope = Envelope {
                success: true,
                message: reply.message,
                data: reply.data.as_deref(),
            };
            let body = serde_json::to_vec(&envelope).map_err(|error| ApiError::Internal {
                cause: format!("cannot serialize the reply: {error}"),
            })?;
            json_response(reply.status, body)
        }
    };
    if let Some(cookie) = reply.set_cookie {
        response.add_header("Set-Cookie", cookie);
    }
    for (name, value) in reply.headers {
        response.add_header(name, value);
    }
    Ok(response)
}

fn json_response(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response::new(status)
        .with_header("Content-Type", "application/json")
        .with_body(body)
}

fn error_response(error: &ApiError) -> Response {
    let mut response = json_response(error.parts().0, error.body().to_string());
    for (name, value) in error.headers() {
        response.add_header(name, value);
    }
    response
}

/// The headers on every response, errors and refusals included.
fn finish(response: &mut Response, origin: &Origin, request_id: &str) {
    Cors::add_headers(origin, response);
    // A JSON API is never a page: nothing may render, frame, cache or sniff
    // it (OWASP REST Security and HTTP Headers cheat sheets).
    // The sign-in page brings its own (stricter than nothing, looser than
    // this) Content-Security-Policy; everything else gets this one.
    if response.header("Content-Security-Policy").is_none() {
        response.add_header(
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    for (name, value) in [
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        response.add_header(name, value);
    }
    response.add_header("X-Request-Id", request_id.to_string());
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

/// The metrics label of an HTTP-layer refusal.
fn refusal_reason(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::BadRequest => "bad_request",
        Refusal::Timeout => "timeout",
        Refusal::PayloadTooLarge => "payload_too_large",
        Refusal::HeadersTooLarge => "headers_too_large",
        Refusal::NotImplemented => "not_implemented",
        Refusal::Overloaded => "overloaded",
        Refusal::VersionNotSupported => "version_not_supported",
        Refusal::InternalError => "internal_error",
    }
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(request: &Request) -> bool {
    request.header("content-type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/json")
    })
}

/// `application/x-www-form-urlencoded`, with or without parameters.
fn is_form(request: &Request) -> bool {
    request.header("content-type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

impl Service for App {
    fn handle(&self, request: &Request) -> Response {
        let started = Instant::now();
        let request_id = new_request_id();
        let origin = self.cors.origin(request);
        let client = client_ip::client_ip(request, self.settings().trust_proxy);
        let mut route = "unmatched";
        let outcome = respond(self, request, &origin, client, &request_id, &mut route);
        let mut response = match outcome {
            Ok(response) => response,
            Err(error) => {
                // Every 5xx says why, once, with what ties it to the
                // request: the client only ever sees the fixed message.
                if let Some(cause) = error.cause() {
                    self.accounts.log().line(
                        "error",
                        &[
                            ("request_id", &request_id),
                            ("route", &route),
                            ("status", &error.parts().0),
                            ("cause", &cause),
                        ],
                    );
                }
                error_response(&error)
            }
        };
        finish(&mut response, &origin, &request_id);
        if let Some(metrics) = &self.metrics {
            metrics.request(route, &request.method, response.status, started.elapsed());
        }
        // The path only: a query string may carry what should never be
        // logged (OWASP ASVS 4.0.3 V7.1.1).
        self.accounts.log().line(
            "request",
            &[
                ("method", &request.method),
                ("path", &request.path),
                ("status", &response.status),
                (
                    "duration_ms",
                    &((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
                ),
                ("request_id", &request_id),
                ("client", &client),
            ],
        );
        response
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        if let Some(metrics) = &self.metrics {
            metrics.refusal(refusal_reason(refusal));
        }
        let mut response = error_response(&ApiError::Http(refusal));
        let request_id = new_request_id();
        finish(&mut response, &Origin::Absent, &request_id);
        self.accounts.log().line(
            "refused",
            &[("status", &response.status), ("request_id", &request_id)],
        );
        response
    }

    fn log_error(&self, message: &str) {
        self.accounts.log().line("error", &[("message", &message)]);
    }
}
