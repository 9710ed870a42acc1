//! Cross-origin rules for a credentialed browser front end on another origin.
//!
//! An origin either is, exactly, one of `CORS_ORIGINS`, or gets no
//! `Access-Control-Allow-*` header at all: no wildcard, no `null`, no
//! reflection, no suffix matching (OWASP ASVS 4.0.3 V14.5.3; MDN,
//! "Access-Control-Allow-Origin"). CORS only tells browsers what a page may
//! read; it is not authentication, which every protected route still does
//! itself (ASVS 4.0.3 V14.5.2).

use std::sync::atomic::{AtomicI64, Ordering};

use crate::http::{Request, Response};
use auth_core::support::url::{Authority, Url};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

pub struct Cors {
    allowed_origins: Vec<String>,
    /// `PUBLIC_URL`'s origin: the server's own pages, whatever `Host` the
    /// proxy in front passes on.
    own_origin: Option<String>,
    /// When a refused origin was last logged (seconds), to log at most one
    /// a minute however many arrive.
    last_refusal_logged: AtomicI64,
}

/// What the request's `Origin` header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin` header: not a cross-origin browser request (curl, a
    /// same-origin GET).
    Absent,
    /// Exactly one `Origin`, on the allowlist.
    Allowed(String),
    /// This server's own origin: the `Origin`'s host and port are the
    /// request's `Host`, or it is `PUBLIC_URL`'s origin (the built-in
    /// sign-in page, however the server is reached: a proxy may pass its
    /// own `Host`). A browser always sends the page's true origin, so a page
    /// elsewhere cannot pass for it.
    Same,
    /// Present and not allowed (unlisted, `null`, repeated, not UTF-8).
    Other,
}

impl Cors {
    pub fn new(allowed_origins: Vec<String>, own_origin: Option<String>) -> Cors {
        Cors {
            allowed_origins,
            own_origin,
            last_refusal_logged: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether a refusal at `now` should be logged: at most once a minute.
    pub fn log_refusal_now(&self, now: i64) -> bool {
        let last = self.last_refusal_logged.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 60
            && self
                .last_refusal_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    pub fn origin(&self, request: &Request) -> Origin {
        let mut values = request.header_values("origin");
        match (values.next(), values.next()) {
            (None, _) => Origin::Absent,
            (Some(value), None) => match std::str::from_utf8(value) {
                Ok(origin) if self.allowed_origins.iter().any(|o| o == origin) => {
                    Origin::Allowed(origin.to_string())
                }
                Ok(origin) if is_same_origin(origin, request.header("host")) => Origin::Same,
                Ok(origin)
                    if self
                        .own_origin
                        .as_deref()
                        .is_some_and(|own| same_place(origin, own)) =>
                {
                    Origin::Same
                }
                _ => Origin::Other,
            },
            (Some(_), Some(_)) => Origin::Other,
        }
    }

    /// A state-changing request from a page on another, unlisted origin is
    /// refused before any work: this is the server-side CSRF check of the
    /// OWASP CSRF Prevention Cheat Sheet ("Verifying Origin With Standard
    /// Headers"). Requests without `Origin` come from non-browser clients or
    /// same-origin navigations and pass.
    pub fn forbids(origin: &Origin, method: &str) -> bool {
        *origin == Origin::Other && matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// Adds the CORS headers every response carries. `Vary: Origin` is on
    /// all of them, errors included, so a cache never serves one origin's
    /// answer to another (MDN, "CORS and caching").
    pub fn add_headers(origin: &Origin, response: &mut Response) {
        response.add_header("Vary", "Origin");
        if let Origin::Allowed(origin) = origin {
            response.add_header("Access-Control-Allow-Origin", origin.clone());
            response.add_header("Access-Control-Allow-Credentials", "true");
        }
    }

    /// The answer to `OPTIONS`: 204 with `Allow`, and for an allowed origin
    /// the preflight grant for exactly the path's methods and the one header
    /// a JSON client needs (MDN, "Preflighted requests").
    pub fn preflight(origin: &Origin, allow: &str) -> Response {
        let mut response = Response::new(204).with_header("Allow", allow.to_string());
        if matches!(origin, Origin::Allowed(_)) {
            response.add_header("Access-Control-Allow-Methods", allow.to_string());
            response.add_header("Access-Control-Allow-Headers", "Content-Type");
            response.add_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECS.to_string());
        }
        response
    }
}

/// An `Origin` header's value as a URL, if it is an origin
/// (`scheme://host[:port]`, nothing after it).
fn parse_origin(origin: &str) -> Option<Url> {
    Url::parse(origin)
        .ok()
        .filter(|url| url.path.is_empty() && url.query.is_none() && url.fragment.is_none())
}

/// Whether `origin` is `own` (`PUBLIC_URL`'s origin), the default port
/// made explicit and case ignored.
fn same_place(origin: &str, own: &str) -> bool {
    parse_origin(origin).is_some_and(|origin| origin.origin() == own)
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request
/// was sent to, as its `Host` header says: `Host: example.com` and
/// `Origin: https://example.com:443` are the same place.
fn is_same_origin(origin: &str, host: Option<&str>) -> bool {
    let (Some(origin), Some(Ok(host))) = (
        parse_origin(origin),
        host.map(|h| Authority::parse(h.trim())),
    ) else {
        return false;
    };
    origin.authority.host == host.host
        && origin.port() == host.port.unwrap_or(origin.scheme.default_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origins: &[&[u8]]) -> Request {
        Request::new(
            "POST",
            "/api/login",
            origins
                .iter()
                .map(|o| ("origin".to_string(), o.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn only_exact_listed_origins_are_allowed() {
        let cors = Cors::new(vec!["https://app.example.com".into()], None);
        assert_eq!(
            cors.origin(&request(&[b"https://app.example.com"])),
            Origin::Allowed("https://app.example.com".into())
        );
        for other in [
            &b"https://app.example.com.evil.net"[..],
            b"http://app.example.com",
            b"https://app.example.com/",
            b"null",
            b"HTTPS://APP.EXAMPLE.COM",
            b"\xff",
        ] {
            assert_eq!(cors.origin(&request(&[other])), Origin::Other, "{other:?}");
        }
        assert_eq!(cors.origin(&request(&[])), Origin::Absent);
        assert_eq!(
            cors.origin(&request(&[
                b"https://app.example.com",
                b"https://app.example.com"
            ])),
            Origin::Other
        );
    }

    #[test]
    fn only_unsafe_methods_from_other_origins_are_forbidden() {
        assert!(Cors::forbids(&Origin::Other, "POST"));
        assert!(Cors::forbids(&Origin::Other, "DELETE"));
        assert!(!Cors::forbids(&Origin::Other, "GET"));
        assert!(!Cors::forbids(&Origin::Absent, "POST"));
        assert!(!Cors::forbids(&Origin::Allowed("x".into()), "POST"));
    }

    #[test]
    fn other_origins_get_no_allow_headers() {
        let mut response = Response::new(200);
        Cors::add_headers(&Origin::Other, &mut response);
        assert_eq!(response.header("Vary"), Some("Origin"));
        assert!(
            response
                .headers
                .iter()
                .all(|(n, _)| !n.starts_with("Access-Control"))
        );
        let preflight = Cors::preflight(&Origin::Other, "POST, OPTIONS");
        assert!(
            preflight
                .headers
                .iter()
                .all(|(n, _)| !n.starts_with("Access-Control"))
        );
        let preflight = Cors::preflight(&Origin::Allowed("x".into()), "POST, OPTIONS");
        assert_eq!(
            preflight.header("Access-Control-Allow-Methods"),
            Some("POST, OPTIONS")
        );
    }
}
