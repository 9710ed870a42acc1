//! A small blocking HTTPS client: what signing in through an upstream
//! OpenID provider needs (its discovery document, its keys, the token and
//! userinfo endpoints), and nothing more.
//!
//! # Model
//! - **One request per connection, HTTP/1.0 framing.** The request says
//!   `HTTP/1.0`, so a server answers without chunked coding and ends the body
//!   by closing (RFC 9112 §6.3, §7.1: chunked is for HTTP/1.1 recipients).
//!   The reply is read to its `Content-Length`, or to the close, up to
//!   `MAX_REPLY_BYTES`; `httparse` reads its head. No keep-alive, no
//!   redirects: the few requests a sign-in makes go to URLs a discovery
//!   document named, and a redirect there is a fault to report.
//! - **TLS from rustls, trust from the system.** Certificates are checked
//!   against the host's CA bundle (`UPSTREAM_CA_FILE`, Debian's
//!   `ca-certificates` by default), so the operating system keeps the roots
//!   up to date; nothing is compiled in. Plain `http` only to a loopback
//!   host, for tests and labs: no network stands between.
//! - **Deadlines.** Connecting, each read and each write have a timeout, and
//!   the whole exchange a deadline, so a stalled upstream holds one worker
//!   for seconds, not for ever.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest reply read: discovery documents and key sets are a few KB.
pub const MAX_REPLY_BYTES: usize = 1 << 20;
const MAX_HEADERS: usize = 64;

/// Why a request got no usable reply. Its text is for the log and the
/// operator, never for a visitor.
#[derive(Debug)]
pub enum FetchError {
    /// The URL is not `https`, or `http` to a host other than loopback.
    Insecure,
    /// The host did not resolve, refused, or timed out.
    Connect(String),
    /// The TLS handshake failed (certificate, name, protocol).
    Tls(String),
    /// Reading or writing failed, or the deadline passed.
    Io(String),
    /// The reply was not HTTP, or was over `MAX_REPLY_BYTES`.
    BadReply(&'static str),
    /// No CA bundle to check certificates with.
    NoRoots(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Insecure => f.write_str("only https, or http to a loopback host"),
            FetchError::Connect(why) => write!(f, "could not connect: {why}"),
            FetchError::Tls(why) => write!(f, "TLS: {why}"),
            FetchError::Io(why) => write!(f, "{why}"),
            FetchError::BadReply(why) => write!(f, "bad reply: {why}"),
            FetchError::NoRoots(why) => write!(f, "no CA certificates: {why}"),
        }
    }
}

/// Where a request goes: the parts of an `http` or `https` URL.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub https: bool,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: &'a str,
    pub port: u16,
    /// The path and query, as sent in the request line (`/` at least).
    pub path_and_query: &'a str,
}

/// A reply: its status, its `Content-Type` and its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The client: its TLS settings and its timeouts. Cheap to share.
pub struct Client {
    /// The TLS settings, or why there are none (no CA bundle).
    tls: Result<Arc<rustls::ClientConfig>, String>,
    pub timeout: Duration,
}

impl Client {
    /// A client that trusts the certificates in the PEM file `ca_file`. A
    /// missing or empty file is not an error here: plain loopback requests
    /// still work, and an `https` request says why it cannot be made.
    pub fn new(ca_file: &Path, timeout: Duration) -> Client {
        Client {
            tls: tls_config(ca_file).map(Arc::new),
            timeout,
        }
    }

    /// Why `https` requests cannot be made, if they cannot.
    pub fn roots_problem(&self) -> Option<&str> {
        self.tls.as_ref().err().map(String::as_str)
    }

    /// Sends one request. `headers` are added after `Host`; a body goes
    /// with its `Content-Length`.
    pub fn send(
        &self,
        method: &str,
        target: Target,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, FetchError> {
        let deadline = Instant::now() + self.timeout * 2;
        let tcp = self.connect(target)?;
        let host = match target.host.contains(':') {
            true => format!("[{}]", target.host),
            false => target.host.to_string(),
        };
        let default_port = if target.https { 443 } else { 80 };
        let authority = match target.port == default_port {
            true => host,
            false => format!("{host}:{}", target.port),
        };
        let mut request = format!(
            "{method} {} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: auth-server\r\nConnection: close\r\n",
            target.path_and_query,
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut wire = request.into_bytes();
        wire.extend_from_slice(body);
        let raw = if target.https {
            let config = self.tls.clone().map_err(FetchError::NoRoots)?;
            let name = rustls::pki_types::ServerName::try_from(
                target.host.trim_end_matches('.').to_string(),
            )
            .map_err(|e| FetchError::Tls(e.to_string()))?;
            let connection = rustls::ClientConnection::new(config, name)
                .map_err(|e| FetchError::Tls(e.to_string()))?;
            exchange(rustls::StreamOwned::new(connection, tcp), &wire, deadline)?
        } else {
            exchange(tcp, &wire, deadline)?
        };
        parse_reply(&raw)
    }

    /// A connection to the target; plain `http` only to loopback
    /// addresses, whatever a resolver says a name is (RFC 6761 §6.3).
    fn connect(&self, target: Target) -> Result<TcpStream, FetchError> {
        let addresses: Vec<SocketAddr> = (target.host, target.port)
            .to_socket_addrs()
            .map_err(|e| FetchError::Connect(format!("{}: {e}", target.host)))?
            .filter(|a| target.https || is_loopback(a.ip()))
            .collect();
        if addresses.is_empty() && !target.https {
            return Err(FetchError::Insecure);
        }
        let mut last = format!("{}: no address", target.host);
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.timeout) {
                Ok(stream) => {
                    let timeouts = stream
                        .set_read_timeout(Some(self.timeout))
                        .and_then(|()| stream.set_write_timeout(Some(self.timeout)));
                    timeouts.map_err(|e| FetchError::Connect(e.to_string()))?;
                    return Ok(stream);
                }
                Err(e) => last = format!("{address}: {e}"),
            }
        }
        Err(FetchError::Connect(last))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// TLS 1.3 (the one version built in) with rustls's defaults and ring's primitives,
/// trusting the certificates in `ca_file`.
fn tls_config(ca_file: &Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    for certificate in certificates.flatten() {
        // A certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificates", ca_file.display()));
    }
    // ring has no post-quantum key exchange (rustls marks it deprecated for
    // that); aws-lc-rs has, at about 2 MB more, past this binary's budget.
    // What travels here is short-lived: public documents, a one-time code
    // and tokens that expire in minutes, so recording it now to break it
    // later gains little.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Writes the request and reads until the server closes, the reply is
/// complete by its `Content-Length`, or the deadline or size cap is hit.
fn exchange(
    mut stream: impl Read + Write,
    wire: &[u8],
    deadline: Instant,
) -> Result<Vec<u8>, FetchError> {
    let io = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FetchError::Io("timed out".into()),
        _ => FetchError::Io(e.to_string()),
    };
    stream.write_all(wire).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() > deadline {
            return Err(FetchError::Io("timed out".into()));
        }
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            // A server that closes without TLS's close_notify after a
            // complete, length-framed reply has still sent it all.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && reply_complete(&raw) => 0,
            Err(e) => return Err(io(e)),
        };
        if read == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..read]);
        if raw.len() > MAX_REPLY_BYTES {
            return Err(FetchError::BadReply("over the size limit"));
        }
        if reply_complete(&raw) {
            return Ok(raw);
        }
    }
}

/// Whether `raw` holds a whole head and as many body bytes as its
/// `Content-Length` says.
fn reply_complete(raw: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reply = httparse::Response::new(&mut headers);
    match reply.parse(raw) {
        Ok(httparse::Status::Complete(head)) => {
            content_length(reply.headers).is_some_and(|length| raw.len() - head >= length)
        }
        _ => false,
    }
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    let value = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))?
        .value;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// The status, `Content-Type` and body of a whole reply.
pub fn parse_reply(raw: &[u8]) -> Result<Reply, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reply = httparse::Response::new(&mut headers);
    let head = match reply.parse(raw) {
        Ok(httparse::Status::Complete(head)) => head,
        _ => return Err(FetchError::BadReply("not an HTTP reply")),
    };
    let status = reply.code.ok_or(FetchError::BadReply("no status"))?;
    if reply
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        // An HTTP/1.0 request must not get one (RFC 9112 §6.1).
        return Err(FetchError::BadReply("a transfer coding"));
    }
    let content_type = reply
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .unwrap_or("")
        .to_string();
    let mut body = raw[head..].to_vec();
    if let Some(length) = content_length(reply.headers) {
        if body.len() < length {
            return Err(FetchError::BadReply("shorter than its Content-Length"));
        }
        body.truncate(length);
    }
    Ok(Reply {
        status,
        content_type,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_cut_at_its_length_and_a_transfer_coding_is_refused() {
        let reply = parse_reply(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}junk",
        )
        .unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(reply.content_type, "application/json");
        let closed = parse_reply(b"HTTP/1.0 404 Not Found\r\n\r\nno").unwrap();
        assert_eq!((closed.status, closed.body.as_slice()), (404, &b"no"[..]));
        assert!(
            parse_reply(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
            )
            .is_err()
        );
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
        assert!(parse_reply(b"garbage").is_err());
    }

    #[test]
    fn plain_http_goes_only_to_loopback() {
        let client = Client::new(Path::new("/nonexistent"), Duration::from_secs(1));
        let elsewhere = Target {
            https: false,
            host: "192.0.2.1",
            port: 80,
            path_and_query: "/",
        };
        assert!(matches!(
            client.send("GET", elsewhere, &[], b""),
            Err(FetchError::Insecure)
        ));
        assert!(client.roots_problem().is_some());
        let tls = Target {
            https: true,
            host: "127.0.0.1",
            port: 1,
            path_and_query: "/",
        };
        assert!(client.send("GET", tls, &[], b"").is_err());
    }
}
