//! A small, strict HTTP/1.1 server on `std::net`, knowing nothing of the
//! application it serves.
//!
//! # Model
//! - **A thread per connection, bounded.** Blocking I/O is the easiest model
//!   to read; the bound (`Limits::max_connections`) keeps it safe. The
//!   connection past the bound is answered `503` with `Retry-After: 1` at once
//!   and closed: it never waits in silence.
//! - **Deadlines, not idle timers.** The whole head must arrive within
//!   `head_timeout` of its first byte and the whole body within `body_timeout`
//!   of the head; a client trickling one byte at a time gains nothing. An idle
//!   keep-alive connection is closed silently after `idle_timeout`.
//! - **One framing.** `httparse` parses the head; the body is exactly
//!   `Content-Length` bytes or empty. Anything ambiguous (repeated or malformed
//!   lengths, any `Transfer-Encoding`) is refused and the connection closed,
//!   which is what prevents request smuggling (RFC 9112 §6.3, §11.2).
//! - **It never dies.** A panicking handler becomes a 500 on that connection;
//!   accept errors such as running out of file descriptors are logged at most
//!   once a second and retried.
//!
//! # What it deliberately refuses
//! Chunked and every other transfer coding (501), bodies over
//! `max_body_bytes` (413, without reading them), heads over `max_head_bytes`
//! or `max_headers` (431), HTTP versions other than 1.0 and 1.1 (505),
//! absolute-form and `*` targets, `Expect: 100-continue` handshakes (the body
//! is simply read), upgrades and TLS (put a proxy in front).
//!
//! # Using it
//! Implement [`Service`]: `handle` turns a [`Request`] into a [`Response`], and
//! `refusal` says how the layer's own refusals look, so they speak the
//! application's error format without the layer knowing it.

pub mod client;
mod request;
mod response;
mod server;

pub use request::{Head, HeadLimits, Request, Version, parse_head};
pub use response::{Response, reason_phrase};
pub use server::{DEFAULT_MAX_BODY_BYTES, Limits, Server, StopHandle};

use std::net::{IpAddr, Ipv6Addr};

/// The unit every per-client rule counts by: an IPv4 address as it is, an
/// IPv6 address by the /64 network it is in. One subscriber is commonly
/// given a whole /64 (RFC 6177), so counting single IPv6 addresses would
/// let one client act as 2^64 clients. IPv4 addresses written in IPv6
/// (`::ffff:192.0.2.1`) count as the IPv4 address.
///
/// ```
/// use auth_server::http::address_group;
/// let a = address_group("2001:db8:1:2:aaaa::1".parse().unwrap());
/// let b = address_group("2001:db8:1:2:bbbb::2".parse().unwrap());
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "2001:db8:1:2::");
/// assert_eq!(address_group("::ffff:192.0.2.1".parse().unwrap()).to_string(), "192.0.2.1");
/// ```
pub fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// Why the layer answered a request itself instead of calling the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed request or framing (400).
    BadRequest,
    /// The head or body did not arrive before its deadline (408).
    Timeout,
    /// The declared body is over the limit (413).
    PayloadTooLarge,
    /// The head is over the size or header-count limit (431).
    HeadersTooLarge,
    /// A `Transfer-Encoding` was sent (501).
    NotImplemented,
    /// All connection slots are taken (503).
    Overloaded,
    /// An HTTP version other than 1.0 or 1.1 (505).
    VersionNotSupported,
    /// The handler panicked or returned an unwritable response (500).
    InternalError,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest => 400,
            Refusal::Timeout => 408,
            Refusal::PayloadTooLarge => 413,
            Refusal::HeadersTooLarge => 431,
            Refusal::NotImplemented => 501,
            Refusal::Overloaded => 503,
            Refusal::VersionNotSupported => 505,
            Refusal::InternalError => 500,
        }
    }
}

/// The application behind the server.
pub trait Service: Send + Sync + 'static {
    /// Answers one request. A panic here is caught and answered with
    /// `refusal(Refusal::InternalError)`.
    fn handle(&self, request: &Request) -> Response;

    /// The response for a request the layer refuses on its own. `Overloaded`
    /// responses get `Retry-After: 1` from the layer if this sets none.
    fn refusal(&self, refusal: Refusal) -> Response;

    /// Where the layer reports its own trouble (accept errors, panics).
    fn log_error(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// A service shared with other threads (for example a warm-up task) serves
/// just the same.
impl<S: Service> Service for std::sync::Arc<S> {
    fn handle(&self, request: &Request) -> Response {
        (**self).handle(request)
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        (**self).refusal(refusal)
    }

    fn log_error(&self, message: &str) {
        (**self).log_error(message)
    }
}
