//! The response a handler returns, and how it is written on the wire.

use std::borrow::Cow;
use std::time::SystemTime;

/// A header's name or value: most are fixed text, which costs no copy.
pub type HeaderText = Cow<'static, str>;

/// A response: a status, the handler's headers, and a body.
///
/// The layer owns the framing: it writes `Date`, `Content-Length` and
/// `Connection` itself and drops any of those (or `Transfer-Encoding`) that a
/// handler sets, so a handler can never make the framing lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(HeaderText, HeaderText)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(
        mut self,
        name: impl Into<HeaderText>,
        value: impl Into<HeaderText>,
    ) -> Response {
        self.add_header(name, value);
        self
    }

    /// Adds a header to a response that is already built.
    pub fn add_header(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        self.headers.push((name.into(), value.into()));
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The first header of that name the handler set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Headers only the layer may write.
const FRAMING_HEADERS: [&str; 4] = ["content-length", "transfer-encoding", "connection", "date"];

/// Whether every header can be written as is: a name that is an RFC 9110
/// token, and a value without CR, LF or NUL. A CR or LF in a value would let
/// whoever controls it add headers or a second response (response splitting).
pub(crate) fn headers_are_writable(response: &Response) -> bool {
    response.headers.iter().all(|(name, value)| {
        !name.is_empty()
            && name.bytes().all(is_token_byte)
            && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Serialises a response. `include_body` is false for HEAD, which gets the
/// headers of the GET (with its `Content-Length`) and no body.
pub(crate) fn encode(response: &Response, include_body: bool, connection: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.body.len());
    let status = response.status;
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    push_header(
        &mut out,
        "Date",
        &httpdate::fmt_http_date(SystemTime::now()),
    );
    // 1xx and 204 have no body and must not carry Content-Length (RFC 9110
    // §8.6); every other response is framed by it.
    let bodiless = status == 204 || (100..200).contains(&status);
    if !bodiless {
        push_header(&mut out, "Content-Length", &response.body.len().to_string());
    }
    if let Some(value) = connection {
        push_header(&mut out, "Connection", value);
    }
    for (name, value) in &response.headers {
        if !FRAMING_HEADERS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            push_header(&mut out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    if include_body && !bodiless {
        out.extend_from_slice(&response.body);
    }
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// RFC 9110 §15 reason phrases for the statuses an API like this sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_framing_and_drops_handler_framing_headers() {
        let response = Response::new(200)
            .with_header("Content-Length", "999")
            .with_header("X-A", "b")
            .with_body("hi");
        let text = String::from_utf8(encode(&response, true, Some("close"))).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(text.contains("\r\nContent-Length: 2\r\n"));
        assert!(!text.contains("999"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("\r\nX-A: b\r\n\r\nhi"));
    }

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let response = Response::new(200).with_body("hello");
        let text = String::from_utf8(encode(&response, false, None)).unwrap();
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn header_injection_is_detected() {
        assert!(headers_are_writable(
            &Response::new(200).with_header("X-A", "ok value")
        ));
        assert!(!headers_are_writable(
            &Response::new(200).with_header("X-A", "a\r\nSet-Cookie: x")
        ));
        assert!(!headers_are_writable(
            &Response::new(200).with_header("X-A", "a\nb")
        ));
        assert!(!headers_are_writable(
            &Response::new(200).with_header("Bad Name", "v")
        ));
    }
}
