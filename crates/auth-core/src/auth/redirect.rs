//! Which URLs the sign-in may send a browser back to.
//!
//! An open redirect turns a trusted sign-in page into a phishing tool: a
//! link to `/login?rd=https://evil.example` would hand the user, signed in,
//! to anyone (OWASP Unvalidated Redirects and Forwards Cheat Sheet; ASVS
//! 5.0 v5.0.0-3.7.2 and v5.0.0-10.4.1's exact-match spirit). So a URL is
//! approved only when it parses as an absolute `https` URL (or `http` to a
//! loopback host) with [`Url`], whose strict reading refuses what browsers
//! would read differently (a backslash, a scheme-relative `//host`,
//! `user@host`, `127.1`), and its host matches `FORWARD_AUTH_HOSTS`
//! exactly or as a subdomain of a `*.` pattern.

use crate::support::url::{Host, Scheme, Url};

/// The longest URL approved; anything longer is not a link a person made.
const MAX_URL_BYTES: usize = 2048;

/// The URL, parsed, if it may be redirected to, given the allowed host
/// patterns.
///
/// ```
/// use auth_core::auth::redirect::approve;
/// let allowed = ["*.example.com".to_string()];
/// assert!(approve("https://wiki.example.com/page?x=1", &allowed).is_some());
/// assert!(approve("https://example.com.evil.example/", &allowed).is_none());
/// assert!(approve("//wiki.example.com/", &allowed).is_none());
/// ```
pub fn approve(url: &str, allowed: &[String]) -> Option<Url> {
    if url.len() > MAX_URL_BYTES {
        return None;
    }
    let parsed = Url::parse(url).ok()?;
    let host = &parsed.authority.host;
    // A trailing dot names the same server but another origin to the
    // browser; a link a person made has none.
    if matches!(host, Host::Name(name) if name.ends_with('.')) || !host.matches_any(allowed) {
        return None;
    }
    match parsed.scheme {
        Scheme::Https => Some(parsed),
        // Plain HTTP only where nothing travels over a network.
        Scheme::Http => host.is_loopback().then_some(parsed),
    }
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
            assert!(approve(url, &allowed()).is_some(), "{url}");
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
            assert!(approve(url, &allowed()).is_none(), "{url:?}");
        }
        assert!(
            approve("https://anything.example/", &[]).is_none(),
            "none allowed"
        );
    }

    /// Found by fuzzing against WHATWG's parser (`fuzz/fuzz_targets/url.rs`):
    /// an `xn--` label is compared as the ASCII it is, which is what a
    /// browser sends to DNS. One that is not valid IDNA (`xn--cl`) is
    /// approved here and refused by the browser, which then goes nowhere;
    /// no spelling reaches another host than the one compared.
    #[test]
    fn an_internationalised_label_is_compared_as_the_ascii_a_browser_sends() {
        let allowed = ["*.example.com".to_string()];
        let approved = approve("https://XN--Cl.example.com/", &allowed).unwrap();
        assert_eq!(approved.authority.host.key(), "xn--cl.example.com");
        assert!(approve("https://xn--cl.example.com.evil.example/", &allowed).is_none());
    }
}
