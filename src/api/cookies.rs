//! The session cookie: reading `sid` from `Cookie` headers and writing the
//! `Set-Cookie` that sets or clears it; and the passkey sign-in ticket.

use crate::http::Request;
use auth_core::auth::challenges::{CHALLENGE_TTL_SECS, TICKET_COOKIE};
use auth_core::auth::token::Token;
use auth_core::support::config::SameSite;

/// A short, generic name that says nothing about the software behind it
/// (OWASP Session Management Cheat Sheet, "Session ID Name Fingerprinting").
pub const SESSION_COOKIE: &str = "sid";

/// How the cookie is written; from the settings.
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    pub secure: bool,
    pub same_site: SameSite,
    /// `COOKIE_DOMAIN`: shared with every subdomain when set.
    pub domain: Option<String>,
}

impl CookiePolicy {
    /// `HttpOnly` keeps the token from page scripts (an XSS cannot read
    /// it); `Path=/` with no `Domain` keeps it on this host; `SameSite` is
    /// always explicit (OWASP ASVS 4.0.3 V3.4.2–V3.4.5). `Max-Age` only
    /// for "remember me": otherwise the browser forgets it when closed.
    pub fn set(&self, token: &Token, max_age_secs: Option<i64>) -> String {
        let mut cookie = format!("{SESSION_COOKIE}={}; {}", token.encode(), self.attributes());
        if let Some(max_age) = max_age_secs {
            cookie.push_str(&format!("; Max-Age={max_age}"));
        }
        cookie
    }

    /// The passkey sign-in ticket: `HttpOnly`, as long as a ceremony
    /// lasts, on this host only and, without `Path`, only for the sign-in's
    /// own path (RFC 6265 §5.1.4's default path), under any proxy prefix.
    pub fn ticket(&self, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{TICKET_COOKIE}={value}; HttpOnly; SameSite={}{secure}; Max-Age={CHALLENGE_TTL_SECS}",
            self.same_site.as_str()
        )
    }

    /// A short-lived `HttpOnly` cookie for one path: a sign-in through an
    /// upstream provider under way. `SameSite=Lax` whatever the session
    /// cookie's, since the provider sends the browser back with a
    /// cross-site navigation, which a `Strict` cookie would not go with.
    pub fn scoped(&self, name: &str, value: &str, path: &str, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; HttpOnly; Path={path}; SameSite=Lax{secure}; Max-Age={max_age_secs}"
        )
    }

    /// An empty cookie that expires at once.
    pub fn clear(&self) -> String {
        format!("{SESSION_COOKIE}=; {}; Max-Age=0", self.attributes())
    }

    fn attributes(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        // A Domain attribute shares the cookie with every subdomain (one
        // sign-in for all apps behind the proxy); without it the cookie is
        // host-only (RFC 6265 §5.3).
        let domain = self
            .domain
            .as_deref()
            .map(|d| format!("; Domain={d}"))
            .unwrap_or_default();
        format!(
            "HttpOnly; Path=/; SameSite={}{secure}{domain}",
            self.same_site.as_str()
        )
    }
}

/// Every `sid` value that is shaped like a token, in the order sent. A cookie
/// is untrusted input: anything else, however long or odd, is ignored, and
/// the server never adopts a token it did not issue (OWASP Session
/// Management Cheat Sheet).
pub fn session_tokens(request: &Request) -> Vec<Token> {
    request
        .header_values("cookie")
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .filter_map(|(_, value)| Token::decode(value.trim_matches('"')))
        .collect()
}

/// The passkey sign-in ticket, if the browser sent one of a sane size.
pub fn ticket(request: &Request) -> Option<String> {
    named(request, TICKET_COOKIE, 256)
}

/// The first cookie called `wanted` of 1 to `max_len` bytes.
pub fn named(request: &Request, wanted: &str, max_len: usize) -> Option<String> {
    request
        .header_values("cookie")
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && (1..=max_len).contains(&value.len()))
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_cookies(values: &[&[u8]]) -> Request {
        Request::new(
            "GET",
            "/",
            values
                .iter()
                .map(|v| ("cookie".to_string(), v.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn set_and_clear_have_the_contract_attributes() {
        let policy = CookiePolicy {
            secure: false,
            same_site: SameSite::Lax,
            domain: None,
        };
        let token = Token::decode(&"A".repeat(43)).unwrap();
        assert_eq!(
            policy.set(&token, None),
            format!("sid={}; HttpOnly; Path=/; SameSite=Lax", "A".repeat(43))
        );
        let secure = CookiePolicy {
            secure: true,
            same_site: SameSite::None,
            domain: None,
        };
        assert!(
            secure
                .set(&token, Some(60))
                .ends_with("; SameSite=None; Secure; Max-Age=60")
        );
        assert_eq!(
            policy.clear(),
            "sid=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn finds_tokens_among_other_cookies_and_ignores_junk() {
        let good = format!("{}E", "A".repeat(42));
        let header = format!("theme=dark; sid=short; sid={good}; other=1");
        let tokens = session_tokens(&request_with_cookies(&[
            header.as_bytes(),
            b"sid=\xff\xfe",
            b"sid=",
        ]));
        assert_eq!(tokens, vec![Token::decode(&good).unwrap()]);
        let huge = format!("sid={}", "C".repeat(70_000));
        assert!(session_tokens(&request_with_cookies(&[huge.as_bytes()])).is_empty());
    }
}
