//! Prometheus metrics: counters and histograms kept in atomics (no lock on
//! the request path), written out in the text exposition format 0.0.4.
//!
//! Label values come from small fixed sets (the router's patterns, the
//! methods, the status codes, a few results), never from a request, so
//! no client can make the series grow.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Request-duration buckets, in seconds: sub-millisecond session checks up
/// to multi-second bcrypt waits.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// bcrypt and its queue: tens of milliseconds to the whole wait budget.
const HASH_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];
pub const STATUSES: &[u16] = &[
    200, 201, 202, 204, 302, 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 431, 500, 501, 503,
    505, 0,
];
/// How a login ended, as counted: `auth_logins_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    Ok,
    InvalidCredentials,
    Throttled,
    TotpRequired,
    InvalidTotp,
    EmailNotVerified,
    RefusedBusy,
    /// A malformed request, or a failure of the server's own.
    Other,
}

/// How a registration ended, as counted: `auth_registrations_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationResult {
    Created,
    Taken,
    Invalid,
    Throttled,
    RefusedBusy,
    Closed,
    Other,
}

/// The label of each [`LoginResult`], in its order.
pub const LOGIN_RESULTS: &[&str] = &[
    "ok",
    "invalid_credentials",
    "throttled",
    "totp_required",
    "invalid_totp",
    "email_not_verified",
    "refused_busy",
    "other",
];
/// The label of each [`RegistrationResult`], in its order.
pub const REGISTRATION_RESULTS: &[&str] = &[
    "created",
    "taken",
    "invalid",
    "throttled",
    "refused_busy",
    "closed",
    "other",
];
/// What became of a mail attempt: sent (the command exited 0), failed (to
/// be tried again), given up (its last retry failed).
pub const MAIL_OUTCOMES: &[&str] = &["sent", "failed", "given_up"];
pub const REFUSAL_REASONS: &[&str] = &[
    "bad_request",
    "timeout",
    "payload_too_large",
    "headers_too_large",
    "not_implemented",
    "overloaded",
    "version_not_supported",
    "internal_error",
];

/// A histogram with fixed buckets: a count per bucket, the sum in
/// microseconds, and the total count.
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        // Only the first bucket that holds it; cumulated when written.
        if let Some(i) = self.bounds.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

fn counters(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

/// Everything counted. One per server, shared by every thread.
pub struct Metrics {
    routes: Vec<&'static str>,
    requests: Vec<AtomicU64>,
    durations: Vec<Histogram>,
    logins: Vec<AtomicU64>,
    registrations: Vec<AtomicU64>,
    refusals: Vec<AtomicU64>,
    mail: Vec<AtomicU64>,
    hash_wait: Histogram,
    hash_time: Histogram,
}

/// What is read at scrape time rather than counted.
pub struct Gauges {
    pub hash_queue_depth: usize,
    pub sessions_live: usize,
    pub connections_open: usize,
    pub start_time_secs: i64,
}

impl Metrics {
    /// `routes`: the router's patterns; one more series, `unmatched`, is
    /// added for paths no route matches.
    pub fn new(routes: &[&'static str]) -> Metrics {
        let mut routes = routes.to_vec();
        routes.dedup();
        routes.push("unmatched");
        Metrics {
            requests: counters(routes.len() * METHODS.len() * STATUSES.len()),
            durations: routes
                .iter()
                .map(|_| Histogram::new(REQUEST_BUCKETS))
                .collect(),
            routes,
            logins: counters(LOGIN_RESULTS.len()),
            registrations: counters(REGISTRATION_RESULTS.len()),
            refusals: counters(REFUSAL_REASONS.len()),
            mail: counters(MAIL_OUTCOMES.len()),
            hash_wait: Histogram::new(HASH_BUCKETS),
            hash_time: Histogram::new(HASH_BUCKETS),
        }
    }

    fn route_index(&self, route: &str) -> usize {
        self.routes
            .iter()
            .position(|r| *r == route)
            .unwrap_or(self.routes.len() - 1)
    }

    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let r = self.route_index(route);
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[(r * METHODS.len() + m) * STATUSES.len() + s].fetch_add(1, Ordering::Relaxed);
        self.durations[r].observe(took);
    }

    fn bump(counters: &[AtomicU64], names: &[&str], name: &str) {
        let i = names
            .iter()
            .position(|x| *x == name)
            .unwrap_or(names.len() - 1);
        counters[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn login(&self, result: LoginResult) {
        self.logins[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn registration(&self, result: RegistrationResult) {
        self.registrations[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refusal(&self, reason: &str) {
        Metrics::bump(&self.refusals, REFUSAL_REASONS, reason);
    }

    /// One mail attempt's outcome (one of [`MAIL_OUTCOMES`]).
    pub fn mail(&self, outcome: &str) {
        Metrics::bump(&self.mail, MAIL_OUTCOMES, outcome);
    }

    pub fn hash_waited(&self, took: Duration) {
        self.hash_wait.observe(took);
    }

    pub fn hashed(&self, took: Duration) {
        self.hash_time.observe(took);
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        head(
            &mut out,
            "auth_http_requests_total",
            "counter",
            "HTTP requests answered, by route pattern, method and status.",
        );
        for (r, route) in self.routes.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for (s, status) in STATUSES.iter().enumerate() {
                    let n = self.requests[(r * METHODS.len() + m) * STATUSES.len() + s]
                        .load(Ordering::Relaxed);
                    if n > 0 {
                        let status = if *status == 0 {
                            "other".to_string()
                        } else {
                            status.to_string()
                        };
                        let _ = writeln!(
                            out,
                            "auth_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                        );
                    }
                }
            }
        }
        head(
            &mut out,
            "auth_http_request_duration_seconds",
            "histogram",
            "Time from a parsed request to its response, by route pattern.",
        );
        for (route, histogram) in self.routes.iter().zip(&self.durations) {
            if histogram.count.load(Ordering::Relaxed) > 0 {
                histogram.write(
                    &mut out,
                    "auth_http_request_duration_seconds",
                    &format!("route=\"{route}\""),
                );
            }
        }
        let labelled = |out: &mut String,
                        name: &str,
                        help: &str,
                        label: &str,
                        names: &[&str],
                        values: &[AtomicU64]| {
            head(out, name, "counter", help);
            for (value, counter) in names.iter().zip(values) {
                let _ = writeln!(
                    out,
                    "{name}{{{label}=\"{value}\"}} {}",
                    counter.load(Ordering::Relaxed)
                );
            }
        };
        labelled(
            &mut out,
            "auth_logins_total",
            "Login attempts, by result.",
            "result",
            LOGIN_RESULTS,
            &self.logins,
        );
        labelled(
            &mut out,
            "auth_registrations_total",
            "Registration attempts, by result.",
            "result",
            REGISTRATION_RESULTS,
            &self.registrations,
        );
        labelled(
            &mut out,
            "auth_mail_total",
            "Attempts to hand a message to MAIL_COMMAND, by outcome (given_up: the last retry failed).",
            "outcome",
            MAIL_OUTCOMES,
            &self.mail,
        );
        labelled(
            &mut out,
            "auth_http_refusals_total",
            "Requests the HTTP layer refused itself, by reason.",
            "reason",
            REFUSAL_REASONS,
            &self.refusals,
        );

        head(
            &mut out,
            "auth_hash_queue_depth",
            "gauge",
            "bcrypt jobs waiting for a worker.",
        );
        let _ = writeln!(out, "auth_hash_queue_depth {}", gauges.hash_queue_depth);
        head(
            &mut out,
            "auth_hash_wait_seconds",
            "histogram",
            "Time a bcrypt job waited for a worker.",
        );
        self.hash_wait.write(&mut out, "auth_hash_wait_seconds", "");
        head(
            &mut out,
            "auth_hash_seconds",
            "histogram",
            "Time one bcrypt hash or verify took.",
        );
        self.hash_time.write(&mut out, "auth_hash_seconds", "");
        head(
            &mut out,
            "auth_sessions_live",
            "gauge",
            "Sessions held in memory.",
        );
        let _ = writeln!(out, "auth_sessions_live {}", gauges.sessions_live);
        head(
            &mut out,
            "auth_connections_open",
            "gauge",
            "Open connections to the API.",
        );
        let _ = writeln!(out, "auth_connections_open {}", gauges.connections_open);

        let process = process_figures();
        head(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            process.resident_bytes
        );
        head(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch in seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", gauges.start_time_secs);
        head(
            &mut out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        let _ = writeln!(out, "process_open_fds {}", process.open_fds);
        out
    }
}

struct ProcessFigures {
    resident_bytes: u64,
    open_fds: usize,
}

/// From `/proc/self` (Linux); zeros where it cannot be read.
fn process_figures() -> ProcessFigures {
    let resident_bytes = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024);
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count());
    ProcessFigures {
        resident_bytes,
        open_fds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_labels_follow_the_enums() {
        assert_eq!(LOGIN_RESULTS.len(), LoginResult::Other as usize + 1);
        assert_eq!(
            LOGIN_RESULTS[LoginResult::RefusedBusy as usize],
            "refused_busy"
        );
        assert_eq!(
            REGISTRATION_RESULTS.len(),
            RegistrationResult::Other as usize + 1
        );
        assert_eq!(
            REGISTRATION_RESULTS[RegistrationResult::Closed as usize],
            "closed"
        );
    }

    #[test]
    fn counts_and_writes_the_families() {
        let metrics = Metrics::new(&["/api/user", "/api/login"]);
        metrics.request("/api/user", "GET", 200, Duration::from_micros(300));
        metrics.request("/api/user", "GET", 200, Duration::from_millis(3));
        metrics.request("/nope", "BREW", 999, Duration::from_millis(1));
        metrics.login(LoginResult::Ok);
        metrics.login(LoginResult::Other);
        let text = metrics.render(&Gauges {
            hash_queue_depth: 2,
            sessions_live: 5,
            connections_open: 1,
            start_time_secs: 1_700_000_000,
        });
        assert!(text.contains(
            "auth_http_requests_total{route=\"/api/user\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "auth_http_requests_total{route=\"unmatched\",method=\"other\",status=\"other\"} 1"
        ));
        assert!(text.contains(
            "auth_http_request_duration_seconds_bucket{route=\"/api/user\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "auth_http_request_duration_seconds_bucket{route=\"/api/user\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("auth_logins_total{result=\"ok\"} 1"));
        assert!(text.contains("auth_logins_total{result=\"other\"} 1"));
        assert!(text.contains("auth_sessions_live 5"));
        assert!(text.contains("# TYPE auth_hash_seconds histogram"));
    }
}
