//! The request a handler sees, and the strict parsing of a request head.
//!
//! Parsing is a pure function of the bytes received so far, so every framing
//! rule here is unit-tested without a socket.

use std::net::SocketAddr;

use super::Refusal;

/// The HTTP versions this server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A complete request: head, body and who sent it.
#[derive(Debug)]
pub struct Request {
    /// The method exactly as sent (methods are case-sensitive, RFC 9110 §9.1).
    pub method: String,
    /// The path of the target, without the query.
    pub path: String,
    /// The query string after `?`, if any (without the `?`).
    pub query: Option<String>,
    pub version: Version,
    /// Header names are lower-cased; values are raw bytes because a client may
    /// send any octet it likes (obs-text), and only the application knows which
    /// headers it cares to decode.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The TCP peer. Behind a proxy this is the proxy; the application decides
    /// whether to believe `X-Forwarded-For`.
    pub peer: SocketAddr,
}

impl Request {
    /// A request built without a socket, for tests and tools: HTTP/1.1, no
    /// query, no body, from 127.0.0.1. Header names must be lower-case.
    pub fn new(method: &str, path: &str, headers: Vec<(String, Vec<u8>)>) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: None,
            version: Version::Http11,
            headers,
            body: Vec::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// The first header of that name, if its value is valid UTF-8.
    /// A value that is not UTF-8 is treated as absent: a handler never sees
    /// bytes it would have to guess the meaning of.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }

    /// Every value of a header that may repeat (such as `Cookie`), as bytes.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// What the connection loop needs to know about a parsed head before it reads
/// the body.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub version: Version,
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body length decided by RFC 9112 §6.3 under this server's rules:
    /// `Content-Length` or nothing.
    pub body_length: u64,
    /// Whether the client allows the connection to stay open afterwards.
    pub keep_alive: bool,
}

/// The most headers any configuration may allow (docs/http.md: 64).
pub const MAX_HEADERS_CEILING: usize = 64;

/// The limits that apply while parsing a head.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

/// Tries to parse a request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((head, n)))` when
/// the head is complete and takes the first `n` bytes, and `Err(refusal)` when
/// the request must be refused and the connection closed. Public for the
/// fuzz targets (`fuzz/`), which call it as the server does.
pub fn parse_head(buf: &[u8], limits: HeadLimits) -> Result<Option<(Head, usize)>, Refusal> {
    // On the stack: this runs for every request, and a heap allocation of
    // this size makes glibc's malloc consolidate its free lists each time.
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS_CEILING];
    let mut parsed =
        httparse::Request::new(&mut slots[..limits.max_headers.min(MAX_HEADERS_CEILING)]);
    let head_length = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // A head that has not ended within the limit never will.
            return if buf.len() >= limits.max_head_bytes {
                Err(Refusal::HeadersTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadersTooLarge),
        Err(httparse::Error::Version) if names_other_http_version(buf) => {
            return Err(Refusal::VersionNotSupported);
        }
        Err(_) => return Err(Refusal::BadRequest),
    };
    if head_length > limits.max_head_bytes {
        return Err(Refusal::HeadersTooLarge);
    }

    // httparse has filled every field of a complete head.
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::BadRequest);
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };

    // Only origin-form (`/path?query`): this server is no proxy, and
    // absolute-form or `*` targets have no meaning for a JSON API.
    if !target.starts_with('/') {
        return Err(Refusal::BadRequest);
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target.to_string(), None),
    };

    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();

    // RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400.
    let hosts = headers.iter().filter(|(n, _)| n == "host").count();
    if version == Version::Http11 && hosts != 1 || hosts > 1 {
        return Err(Refusal::BadRequest);
    }

    let body_length = body_length(&headers)?;
    let keep_alive = wants_keep_alive(version, &headers);

    Ok(Some((
        Head {
            method: method.to_string(),
            path,
            query,
            version,
            headers,
            body_length,
            keep_alive,
        },
        head_length,
    )))
}

/// The body length, RFC 9112 §6.3, narrowed to what a JSON API needs.
///
/// Two framings that disagree are how requests get smuggled past a proxy
/// (RFC 9112 §6.3 and §11.2), so anything ambiguous is refused rather than
/// interpreted: `Transfer-Encoding` of any kind (501, or 400 when a
/// `Content-Length` is also present), and a `Content-Length` that is repeated,
/// empty, signed, a list, or too large for a u64.
fn body_length(headers: &[(String, Vec<u8>)]) -> Result<u64, Refusal> {
    let has_transfer_encoding = headers.iter().any(|(n, _)| n == "transfer-encoding");
    let mut lengths = headers.iter().filter(|(n, _)| n == "content-length");
    let first = lengths.next();
    let repeated = lengths.next().is_some();

    match (has_transfer_encoding, first) {
        (true, Some(_)) => Err(Refusal::BadRequest),
        (true, None) => Err(Refusal::NotImplemented),
        (false, None) => Ok(0),
        (false, Some(_)) if repeated => Err(Refusal::BadRequest),
        (false, Some((_, value))) => parse_content_length(value).ok_or(Refusal::BadRequest),
    }
}

/// `Content-Length = 1*DIGIT`, nothing else; `None` when malformed or when it
/// overflows a u64.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |total, digit| {
        total.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// Persistent by default on 1.1, on 1.0 only when asked (RFC 9112 §9.3).
fn wants_keep_alive(version: Version, headers: &[(String, Vec<u8>)]) -> bool {
    let has_token = |token: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    match version {
        Version::Http11 => !has_token("close"),
        Version::Http10 => has_token("keep-alive"),
    }
}

/// Whether the request line ends in a well-formed `HTTP/x.y` that httparse
/// refused only because it is not 1.0 or 1.1; that deserves 505, not 400.
fn names_other_http_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end].trim_ascii_end();
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head_bytes: 8192,
        max_headers: 64,
    };

    fn parse(text: &str) -> Result<Option<(Head, usize)>, Refusal> {
        parse_head(text.as_bytes(), LIMITS)
    }

    fn refusal(text: &str) -> Refusal {
        match parse(text) {
            Err(r) => r,
            Ok(other) => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_complete_head_and_leaves_the_body() {
        let text = "POST /api/login?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
        let (head, used) = parse(text).unwrap().unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/api/login");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert_eq!(head.body_length, 2);
        assert!(head.keep_alive);
        assert_eq!(&text[used..], "{}");
    }

    #[test]
    fn an_unfinished_head_asks_for_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        assert!(parse("GE").unwrap().is_none());
    }

    #[test]
    fn content_length_must_be_plain_digits_that_fit() {
        for bad in [
            "-1",
            "+3",
            "",
            "1,1",
            "0x10",
            " 5 5",
            "100000000000000000000",
        ] {
            let text = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(refusal(&text), Refusal::BadRequest, "Content-Length: {bad}");
        }
        let text = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000\r\n\r\n";
        assert_eq!(
            parse(text).unwrap().unwrap().0.body_length,
            1_000_000_000_000
        );
    }

    #[test]
    fn repeated_content_length_is_refused_even_when_equal() {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(refusal(text), Refusal::BadRequest);
    }

    #[test]
    fn transfer_encoding_is_not_implemented_and_with_length_is_bad() {
        let chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(refusal(chunked), Refusal::NotImplemented);
        let both =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(refusal(both), Refusal::BadRequest);
    }

    #[test]
    fn missing_or_repeated_host_on_1_1_is_bad() {
        assert_eq!(refusal("GET / HTTP/1.1\r\n\r\n"), Refusal::BadRequest);
        assert_eq!(
            refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Refusal::BadRequest
        );
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn only_origin_form_targets() {
        assert_eq!(
            refusal("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            Refusal::BadRequest
        );
        assert_eq!(
            refusal("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Refusal::BadRequest
        );
    }

    #[test]
    fn other_versions_get_505_and_garbage_gets_400() {
        assert_eq!(
            refusal("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            Refusal::VersionNotSupported
        );
        assert_eq!(
            refusal("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
            Refusal::VersionNotSupported
        );
        assert_eq!(
            refusal("GET / FTP/1.1\r\nHost: a\r\n\r\n"),
            Refusal::BadRequest
        );
        assert_eq!(
            refusal("\x16\x03\x01\x02\x00\x01\r\n\r\n"),
            Refusal::BadRequest
        );
    }

    #[test]
    fn heads_over_the_limits_are_431() {
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(refusal(&long_line[..8500]), Refusal::HeadersTooLarge);
        let many: String = (0..65).map(|i| format!("X-{i}: y\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(refusal(&text), Refusal::HeadersTooLarge);
    }

    #[test]
    fn keep_alive_defaults_follow_the_version() {
        let head = |t: &str| parse(t).unwrap().unwrap().0;
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn header_lookup_ignores_case_and_non_utf8_values() {
        let request = Request::new(
            "GET",
            "/",
            vec![
                ("cookie".into(), b"a=1".to_vec()),
                ("cookie".into(), b"b=2".to_vec()),
                ("x-odd".into(), vec![0xff, 0xfe]),
            ],
        );
        assert_eq!(request.header("Cookie"), Some("a=1"));
        assert_eq!(request.header_values("cookie").count(), 2);
        assert_eq!(request.header("x-odd"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = parse_head(&bytes, LIMITS);
        }

        #[test]
        fn well_formed_heads_round_trip(method in "[A-Z]{1,7}", path in "/[a-z0-9/._-]{0,30}", length in 0u64..1_000_000) {
            let text = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
            let (head, used) = parse(&text).unwrap().unwrap();
            proptest::prop_assert_eq!(head.method, method);
            proptest::prop_assert_eq!(head.path, path);
            proptest::prop_assert_eq!(head.body_length, length);
            proptest::prop_assert_eq!(used, text.len());
        }
    }
}
