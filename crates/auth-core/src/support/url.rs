//! URLs as this server meets them, parsed once, in one place: redirect
//! targets, origins, `PUBLIC_URL`, OpenID redirect URIs and the request a
//! reverse proxy describes to forward auth.
//!
//! Every decision about a URL (may the browser go there, which access rule
//! covers it, is it our own origin) is taken on the parsed parts, never on
//! pieces of the text cut by hand: a parser that reads `//admin` or
//! `[::1]` differently from the browser, the proxy or the app is a way
//! around the decision. So this parser is strict. It reads absolute
//! `http`/`https` URLs only (RFC 3986 §3, the subset the WHATWG URL
//! standard reads the same way), and refuses, rather than guesses at,
//! anything another parser could read differently: a backslash, white
//! space or a control character anywhere, user information (`user@host`),
//! an upper-case scheme, a host that is not a DNS name or an IP literal, a
//! numeric last label that is not a plain dotted IPv4 address (browsers
//! read `127.1` as `127.0.0.1`), an empty or out-of-range port.
//!
//! [`normalize_path`] is the gate's view of a path: RFC 3986 §6.2.2
//! (percent-encoded unreserved characters decoded, dot segments removed)
//! plus what apps and proxies treat as the same place (`//` collapsed,
//! `;parameters` dropped), refusing what has no one meaning (an encoded
//! `/` or `\`, NUL, a malformed escape).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longer than any URL a person or a proxy makes; refused before parsing.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Why a text is not a URL (or path) this server acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    TooLong,
    /// A control character, white space or a backslash.
    ForbiddenCharacter,
    /// Not `http://` or `https://` (lower case).
    Scheme,
    /// `user@host` or `user:password@host`.
    Userinfo,
    Host,
    Port,
    /// A path that does not start with `/`.
    NotAbsolutePath,
    /// `%` not followed by two hex digits.
    MalformedEscape,
    /// `%2F` or `%5C`: a separator hidden from the path's structure.
    EncodedSeparator,
    /// `%00`.
    EncodedNul,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::TooLong => "longer than 8 KiB",
            UrlError::ForbiddenCharacter => "a control character, space or backslash",
            UrlError::Scheme => "not an http:// or https:// URL",
            UrlError::Userinfo => "user information before the host",
            UrlError::Host => "not a host name or IP address",
            UrlError::Port => "not a port number",
            UrlError::NotAbsolutePath => "a path that does not start with /",
            UrlError::MalformedEscape => "a % not followed by two hex digits",
            UrlError::EncodedSeparator => "an encoded / or \\",
            UrlError::EncodedNul => "an encoded NUL",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn parse(text: &str) -> Result<Scheme, UrlError> {
        match text {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            _ => Err(UrlError::Scheme),
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A host: a DNS name (lower case, as written, with its trailing dot if it
/// had one) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// A host as it stands in a URL's authority: `example.com`,
    /// `192.0.2.1` or `[2001:db8::1]`.
    pub fn parse(text: &str) -> Result<Host, UrlError> {
        if let Some(inside) = text.strip_prefix('[') {
            // An IPv6 literal (RFC 3986 §3.2.2); no zone identifier.
            let inside = inside.strip_suffix(']').ok_or(UrlError::Host)?;
            return inside
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| UrlError::Host);
        }
        let name = text.to_ascii_lowercase();
        let without_dot = name.strip_suffix('.').unwrap_or(&name);
        let labels: Vec<&str> = without_dot.split('.').collect();
        let labels_ok = !without_dot.is_empty()
            && without_dot.len() <= 253
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !labels_ok {
            return Err(UrlError::Host);
        }
        // A browser reads a name whose last label is a number as an IPv4
        // address in any of several forms (`127.1`, `0x7f.0.0.1`); only
        // the plain dotted form is read here, the rest is refused.
        let last = labels.last().copied().unwrap_or("");
        let numeric = last.bytes().all(|b| b.is_ascii_digit())
            || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        if numeric {
            return match without_dot.parse::<Ipv4Addr>() {
                Ok(ip) if without_dot == name => Ok(Host::Ip(IpAddr::V4(ip))),
                _ => Err(UrlError::Host),
            };
        }
        Ok(Host::Name(name))
    }

    /// The name without a trailing dot, or the address: what access rules
    /// and host patterns compare.
    pub fn key(&self) -> String {
        match self {
            Host::Name(name) => name.strip_suffix('.').unwrap_or(name).to_string(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    /// `localhost`, a `*.localhost` name (RFC 6761 §6.3), or a loopback
    /// address: a host no network stands between.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Name(name) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                name == "localhost" || name.ends_with(".localhost")
            }
            Host::Ip(ip) => ip.is_loopback(),
        }
    }

    /// The host is one of `patterns` exactly, or a subdomain of a `*.`
    /// pattern's domain (not the domain itself). Patterns are lower case.
    pub fn matches_any(&self, patterns: &[String]) -> bool {
        let Host::Name(name) = self else {
            let text = self.to_string();
            return patterns.contains(&text);
        };
        patterns
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => name
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => name == pattern,
            })
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// `host[:port]`, as in a URL or in `Host` / `X-Forwarded-Host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    pub host: Host,
    pub port: Option<u16>,
}

impl Authority {
    pub fn parse(text: &str) -> Result<Authority, UrlError> {
        check_characters(text)?;
        if text.contains('@') {
            return Err(UrlError::Userinfo);
        }
        // The port follows the IPv6 literal's `]`, or else the last colon.
        let split_at = match text.strip_prefix('[') {
            Some(_) => text.find(']').map(|at| at + 1),
            None => text.rfind(':'),
        };
        let (host, port) = match split_at.map(|at| text.split_at(at)) {
            Some((host, "")) => (host, None),
            Some((host, rest)) => (host, Some(rest.strip_prefix(':').ok_or(UrlError::Host)?)),
            None => (text, None),
        };
        let port = match port {
            None => None,
            Some(digits)
                if (1..=5).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(digits.parse::<u16>().map_err(|_| UrlError::Port)?)
            }
            Some(_) => return Err(UrlError::Port),
        };
        Ok(Authority {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// An absolute `http` or `https` URL, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub authority: Authority,
    /// As written: empty, or starting with `/`; not normalised.
    pub path: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        if text.len() > MAX_URL_BYTES {
            return Err(UrlError::TooLong);
        }
        check_characters(text)?;
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::Scheme)?;
        let scheme = Scheme::parse(scheme)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = Authority::parse(&rest[..end])?;
        let (before_fragment, fragment) = match rest[end..].split_once('#') {
            Some((before, fragment)) => (before, Some(fragment.to_string())),
            None => (&rest[end..], None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (before_fragment, None),
        };
        Ok(Url {
            scheme,
            authority,
            path: path.to_string(),
            query,
            fragment,
        })
    }

    /// `scheme://host[:port]`, the default port left out (RFC 6454 §6.2's
    /// serialisation, as browsers send it in `Origin`).
    pub fn origin(&self) -> String {
        let mut origin = format!("{}://{}", self.scheme.as_str(), self.authority.host);
        if let Some(port) = self.port_if_not_default() {
            origin.push_str(&format!(":{port}"));
        }
        origin
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.authority.port.unwrap_or(self.scheme.default_port())
    }

    /// The explicit port, unless it is the scheme's default.
    fn port_if_not_default(&self) -> Option<u16> {
        self.authority
            .port
            .filter(|port| *port != self.scheme.default_port())
    }

    /// The path as the access rules see it ([`normalize_path`]).
    pub fn normalized_path(&self) -> Result<String, UrlError> {
        normalize_path(&self.path)
    }
}

/// The URL written out again: the scheme, the authority as parsed (host in
/// lower case), the path, query and fragment as they were.
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.path
        )?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(fragment) = &self.fragment {
            write!(f, "#{fragment}")?;
        }
        Ok(())
    }
}

/// No control character, white space or backslash: each is read one way
/// by one parser and another way by the next.
pub fn check_characters(text: &str) -> Result<(), UrlError> {
    if text
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(UrlError::ForbiddenCharacter);
    }
    Ok(())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The gate's view of a path (no query: cut it first). Empty is `/`.
///
/// 1. `;parameters` are dropped from each segment (`/admin;x=1` is
///    `/admin`: servlet containers read them so).
/// 2. Escapes of unreserved characters are decoded (`%61` is `a`), every
///    other escape is kept with upper-case hex (RFC 3986 §6.2.2.1-2); an
///    encoded `/`, `\` or NUL, or a malformed escape, is refused.
/// 3. Empty segments are dropped (`//` is `/`), then `.` and `..`
///    segments removed (RFC 3986 §5.2.4; `..` above the root stays at the
///    root). A path that ended with `/`, `.` or `..` keeps a trailing `/`.
///
/// ```
/// use auth_core::support::url::normalize_path;
/// assert_eq!(normalize_path("//x/../%61dmin;v=1/").unwrap(), "/admin/");
/// assert!(normalize_path("/admin%2fusers").is_err());
/// ```
pub fn normalize_path(raw: &str) -> Result<String, UrlError> {
    if raw.is_empty() {
        return Ok("/".to_string());
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    check_characters(raw)?;
    let rest = raw.strip_prefix('/').ok_or(UrlError::NotAbsolutePath)?;
    let mut out: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    for raw_segment in rest.split('/') {
        let without_params = raw_segment.split(';').next().unwrap_or("");
        let segment = decode_unreserved(without_params)?;
        trailing_slash = matches!(segment.as_str(), "" | "." | "..");
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment),
        }
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &out {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(path)
}

/// One segment with unreserved escapes decoded and the others in upper case.
fn decode_unreserved(segment: &str) -> Result<String, UrlError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let next = segment[i..].find('%').map_or(segment.len(), |at| i + at);
            out.push_str(&segment[i..next]);
            i = next;
            continue;
        }
        let hex = |b: u8| (b as char).to_digit(16);
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(UrlError::MalformedEscape);
        };
        let byte = (high * 16 + low) as u8;
        match byte {
            b'/' | b'\\' => return Err(UrlError::EncodedSeparator),
            0 => return Err(UrlError::EncodedNul),
            b if is_unreserved(b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_their_parts() {
        // text, scheme, host, port, path, query
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<u16>,
            &'a str,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            // text, scheme, host, port, path, query
            (
                "https://wiki.example.com",
                "https",
                "wiki.example.com",
                None,
                "",
                None,
            ),
            (
                "https://WIKI.Example.COM/Page",
                "https",
                "wiki.example.com",
                None,
                "/Page",
                None,
            ),
            (
                "http://app.localhost:8080/a?b=c#d",
                "http",
                "app.localhost",
                Some(8080),
                "/a",
                Some("b=c"),
            ),
            (
                "https://[::1]:8443/x",
                "https",
                "[::1]",
                Some(8443),
                "/x",
                None,
            ),
            (
                "https://[2001:db8::1]/",
                "https",
                "[2001:db8::1]",
                None,
                "/",
                None,
            ),
            ("http://127.0.0.1/", "http", "127.0.0.1", None, "/", None),
            (
                "https://wiki.example.com./",
                "https",
                "wiki.example.com.",
                None,
                "/",
                None,
            ),
            (
                "https://a.example?x",
                "https",
                "a.example",
                None,
                "",
                Some("x"),
            ),
            (
                "https://a.example#/path",
                "https",
                "a.example",
                None,
                "",
                None,
            ),
            (
                "https://xn--bcher-kva.example/",
                "https",
                "xn--bcher-kva.example",
                None,
                "/",
                None,
            ),
        ];
        for (text, scheme, host, port, path, query) in cases {
            let url = Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.scheme.as_str(), *scheme, "{text}");
            assert_eq!(url.authority.host.to_string(), *host, "{text}");
            assert_eq!(url.authority.port, *port, "{text}");
            assert_eq!(url.path, *path, "{text}");
            assert_eq!(url.query.as_deref(), *query, "{text}");
            assert_eq!(Url::parse(&url.to_string()).as_ref(), Ok(&url), "{text}");
        }
    }

    #[test]
    fn what_another_parser_could_read_differently_is_refused() {
        for (text, error) in [
            ("//wiki.example.com/", UrlError::Scheme),
            ("HTTPS://wiki.example.com/", UrlError::Scheme),
            ("javascript:alert(1)", UrlError::Scheme),
            ("ftp://wiki.example.com/", UrlError::Scheme),
            ("/relative", UrlError::Scheme),
            ("", UrlError::Scheme),
            ("https://user@wiki.example.com/", UrlError::Userinfo),
            ("https://user:pw@wiki.example.com/", UrlError::Userinfo),
            (
                "https://evil.example\\@wiki.example.com/",
                UrlError::ForbiddenCharacter,
            ),
            ("https:// wiki.example.com/", UrlError::ForbiddenCharacter),
            ("https://wiki.example.com/\n", UrlError::ForbiddenCharacter),
            ("https://wiki.example.com/\0", UrlError::ForbiddenCharacter),
            ("https:///path", UrlError::Host),
            ("https://wiki..example.com/", UrlError::Host),
            ("https://.wiki.example.com/", UrlError::Host),
            ("https://wiki.example.com../", UrlError::Host),
            ("https://-wiki.example.com/", UrlError::Host),
            ("https://wiki_1.example.com/", UrlError::Host),
            ("https://wiki%2eexample.com/", UrlError::Host),
            ("https://bücher.example/", UrlError::Host),
            ("https://127.1/", UrlError::Host),
            ("https://0x7f.0.0.1/", UrlError::Host),
            ("https://1.2.3.4.5/", UrlError::Host),
            ("https://256.0.0.1/", UrlError::Host),
            ("https://127.0.0.1./", UrlError::Host),
            ("https://[::1/", UrlError::Host),
            ("https://[fe80::1%25eth0]/", UrlError::Host),
            ("https://[:/", UrlError::Host),
            ("https://wiki.example.com:/", UrlError::Port),
            ("https://wiki.example.com:99999/", UrlError::Port),
            ("https://wiki.example.com:+80/", UrlError::Port),
            ("https://wiki.example.com:8a/", UrlError::Port),
            ("https://[::1]:x/", UrlError::Port),
        ] {
            assert_eq!(Url::parse(text), Err(error), "{text:?}");
        }
        let long = format!("https://a.example/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(Url::parse(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn origins_leave_out_the_default_port() {
        for (text, origin) in [
            ("https://a.example:443/x", "https://a.example"),
            ("https://a.example:8443/x", "https://a.example:8443"),
            ("http://a.example:80", "http://a.example"),
            ("http://a.example:443", "http://a.example:443"),
            ("http://[::1]:3000/", "http://[::1]:3000"),
        ] {
            assert_eq!(Url::parse(text).unwrap().origin(), origin, "{text}");
        }
    }

    #[test]
    fn host_keys_patterns_and_loopback() {
        let host = |t: &str| Host::parse(t).unwrap();
        assert_eq!(host("Wiki.Example.com.").key(), "wiki.example.com");
        assert_eq!(host("[::1]").key(), "::1");
        let patterns = ["*.example.com".to_string(), "exact.example.org".to_string()];
        assert!(host("a.b.example.com").matches_any(&patterns));
        assert!(host("exact.example.org").matches_any(&patterns));
        assert!(!host("example.com").matches_any(&patterns));
        assert!(!host("evilexample.com").matches_any(&patterns));
        assert!(!host("example.com.evil.example").matches_any(&patterns));
        assert!(
            !host("wiki.example.com.").matches_any(&patterns),
            "as written"
        );
        assert!(host("[::1]").matches_any(&["[::1]".to_string()]));
        for loopback in [
            "localhost",
            "app.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
        ] {
            assert!(host(loopback).is_loopback(), "{loopback}");
        }
        for other in ["localhost.example", "10.0.0.1", "[::2]", "example.com"] {
            assert!(!host(other).is_loopback(), "{other}");
        }
    }

    #[test]
    fn paths_are_normalised_as_the_gate_sees_them() {
        for (raw, normal) in [
            ("", "/"),
            ("/", "/"),
            ("/admin", "/admin"),
            ("//admin", "/admin"),
            ("///admin//users", "/admin/users"),
            ("/./admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/%2e%2e/admin", "/admin"),
            ("/x/%2E%2e/admin", "/admin"),
            ("/x/.%2e/admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/%41dmin", "/Admin"),
            ("/%7euser", "/~user"),
            ("/admin;x=1", "/admin"),
            ("/admin;x=1/users", "/admin/users"),
            ("/public;/../admin", "/admin"),
            ("/admin/", "/admin/"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("/a%3bb", "/a%3Bb"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/ä", "/ä"),
        ] {
            assert_eq!(normalize_path(raw).as_deref(), Ok(normal), "{raw:?}");
            // Normalising twice changes nothing.
            assert_eq!(normalize_path(normal).as_deref(), Ok(normal), "{normal:?}");
        }
        for (raw, error) in [
            ("admin", UrlError::NotAbsolutePath),
            ("*", UrlError::NotAbsolutePath),
            ("http://x/admin", UrlError::NotAbsolutePath),
            ("/admin%2fusers", UrlError::EncodedSeparator),
            ("/admin%2Fusers", UrlError::EncodedSeparator),
            ("/admin%5cusers", UrlError::EncodedSeparator),
            ("/admin%00", UrlError::EncodedNul),
            ("/admin%", UrlError::MalformedEscape),
            ("/admin%4", UrlError::MalformedEscape),
            ("/admin%zz", UrlError::MalformedEscape),
            ("/admin%%41", UrlError::MalformedEscape),
            ("/ad\\min", UrlError::ForbiddenCharacter),
            ("/ad min", UrlError::ForbiddenCharacter),
            ("/admin\u{7f}", UrlError::ForbiddenCharacter),
        ] {
            assert_eq!(normalize_path(raw), Err(error), "{raw:?}");
        }
    }
}
