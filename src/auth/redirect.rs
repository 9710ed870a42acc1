//! Which URLs the sign-in may send a browser back to.
//!
//! An open redirect turns a trusted sign-in page into a phishing tool: a
//! link to `/login?rd=https://evil.example` would hand the user, signed in,
//! to anyone (OWASP Unvalidated Redirects and Forwards Cheat Sheet; ASVS
//! 4.0.3 V5.1.5). So a URL is approved only when it is absolute, `https`
//! (or `http` to a loopback host), has no user information, no backslash,
//! no whitespace or control character, and its host matches
//! `FORWARD_AUTH_HOSTS` exactly or as a subdomain of a `*.` pattern. What
//! browsers would read differently from this parser (a backslash, a
//! scheme-relative `//host`, `user@host`) is refused, not interpreted.

use std::net::IpAddr;

/// The longest URL approved; anything longer is not a link a person made.
const MAX_URL_BYTES: usize = 2048;

/// Whether `url` may be redirected to, given the allowed host patterns.
///
/// ```
/// use auth_server::auth::redirect::approve;
/// let allowed = ["*.example.com".to_string()];
/// assert!(approve("https://wiki.example.com/page?x=1", &allowed));
/// assert!(!approve("https://example.com.evil.example/", &allowed));
/// assert!(!approve("//wiki.example.com/", &allowed));
/// ```
pub fn approve(url: &str, allowed: &[String]) -> bool {
    if url.len() > MAX_URL_BYTES
        || url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    let Some((scheme, authority)) = scheme_and_authority(url) else {
        return false;
    };
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.parse::<u16>().is_err()) {
        return false;
    }
    let host = host.to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !host.ends_with('.');
    if !host_ok || !host_matches(&host, allowed) {
        return false;
    }
    match scheme {
        "https" => true,
        // Plain HTTP only where nothing travels over a network.
        "http" => is_loopback(&host),
        _ => false,
    }
}

/// The scheme and the authority (`host[:port]`, with any userinfo) of an
/// absolute URL; `None` without `://`.
pub fn scheme_and_authority(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((
        scheme,
        &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())],
    ))
}

/// The host of an authority, without its port.
pub fn host_of(authority: &str) -> &str {
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// `host` is a pattern exactly, or a subdomain of a `*.` pattern's domain.
pub fn host_matches(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == *pattern,
        })
}

/// `localhost`, a `*.localhost` name (RFC 6761 §6.3), or a loopback address.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "*.example.com".into(),
            "exact.example.org".into(),
            "app.localhost".into(),
        ]
    }

    #[test]
    fn approved_urls() {
        for url in [
            "https://wiki.example.com/",
            "https://a.b.example.com:8443/x?y=1#z",
            "https://exact.example.org",
            "https://WIKI.Example.com/Page",
            "http://app.localhost:8080/",
        ] {
            assert!(approve(url, &allowed()), "{url}");
        }
    }

    #[test]
    fn open_redirects_are_refused() {
        for url in [
            "//evil.example",
            "//wiki.example.com/",
            "https://example.com.evil.example/",
            "https://evil.example\\@wiki.example.com/",
            "https://evil.example\\wiki.example.com",
            "https://user@wiki.example.com/",
            "https://user:pw@wiki.example.com/",
            "https://example.com/",
            "https://evilexample.com/",
            "http://wiki.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://wiki.example.com/",
            "HTTPS://wiki.example.com/",
            "https://wiki.example.com.:443/",
            "https://wiki.example.com:99999/",
            "https:// wiki.example.com/",
            "https://wiki.example.com/\n",
            "/relative/path",
            "",
        ] {
            assert!(!approve(url, &allowed()), "{url:?}");
        }
        assert!(!approve("https://anything.example/", &[]), "none allowed");
    }
}
