//! Forward auth: before each request to an app it guards, a reverse proxy
//! (nginx `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`)
//! asks whether the visitor may pass. The story has three steps:
//!
//! 1. **describe**: the request the proxy describes becomes one
//!    [`Target`], parsed and normalised once (`support::url`). What
//!    cannot be described is refused, never let through: a gate that
//!    answers "allowed" to what it could not read is no gate.
//! 2. **decide**: the access rules decide for the target's host and
//!    normalised path ([`Accounts::decide_forward`]).
//! 3. **answer** is the API's: 200 with who it is, 401, 403 or the way to
//!    the sign-in page. Every refusal by a rule is logged and recorded.
//!
//! Which headers describe the request: Caddy and Traefik send
//! `X-Forwarded-Proto`, `-Host` and `-Uri`; the shipped nginx
//! configuration sends `X-Original-URL`. Caddy (and Traefik unless told
//! otherwise) also copies the client's own headers into the question, so
//! a client can add an `X-Original-URL` of its choosing. So
//! `X-Original-URL` counts only when no `X-Forwarded-Host` or `-Uri` came
//! with it, and when both forms came and name different requests the
//! question is refused.

use crate::accounts::audit::AuthEvent;
use crate::accounts::check::SignedIn;
use crate::accounts::{Accounts, Client};
use crate::auth::access::{Decision, Verdict};
use crate::storage::User;
use crate::support::url::{
    Authority, Host, Scheme, Url, UrlError, check_characters, normalize_path,
};

/// What a proxy sent about the request it guards, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProxyHeaders<'a> {
    /// `X-Forwarded-Proto`.
    pub proto: Option<&'a str>,
    /// `X-Forwarded-Host`.
    pub host: Option<&'a str>,
    /// `X-Forwarded-Uri`: the path and query as the client sent them.
    pub uri: Option<&'a str>,
    /// `X-Original-URL`: the whole URL (nginx).
    pub original_url: Option<&'a str>,
}

/// The guarded request as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `None` when the proxy named no host: only a `*` rule matches it.
    pub host: Option<Host>,
    /// The path, normalised (`/` when none was sent).
    pub path: String,
    /// The URL as the browser asked for it, when scheme, host and path are
    /// all known: where the sign-in page sends the browser back to.
    pub url: Option<Url>,
    /// Described by `X-Original-URL` (nginx, which follows only a 401).
    pub from_original_url: bool,
}

/// Why a proxy's description cannot be read. Each is a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undescribable {
    /// `X-Forwarded-Proto` is not `http` or `https`.
    Proto,
    Host(UrlError),
    Uri(UrlError),
    OriginalUrl(UrlError),
    /// `X-Original-URL` names another request than `X-Forwarded-*`.
    Conflict,
}

impl std::fmt::Display for Undescribable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undescribable::Proto => f.write_str("X-Forwarded-Proto is not http or https"),
            Undescribable::Host(e) => write!(f, "X-Forwarded-Host: {e}"),
            Undescribable::Uri(e) => write!(f, "X-Forwarded-Uri: {e}"),
            Undescribable::OriginalUrl(e) => write!(f, "X-Original-URL: {e}"),
            Undescribable::Conflict => {
                f.write_str("X-Original-URL and X-Forwarded-* describe different requests")
            }
        }
    }
}

/// Step 1: one description of the guarded request, or why there is none.
/// Nothing described at all (a direct call) is the root of no host.
pub fn describe(headers: &ProxyHeaders) -> Result<Target, Undescribable> {
    let original = match headers.original_url {
        Some(text) => {
            let url = Url::parse(text).map_err(Undescribable::OriginalUrl)?;
            let path = url.normalized_path().map_err(Undescribable::OriginalUrl)?;
            Some((url, path))
        }
        None => None,
    };
    if headers.host.is_none() && headers.uri.is_none() {
        return Ok(match original {
            Some((url, path)) => Target {
                host: Some(url.authority.host.clone()),
                path,
                url: Some(url),
                from_original_url: true,
            },
            None => Target {
                host: None,
                path: "/".to_string(),
                url: None,
                from_original_url: false,
            },
        });
    }
    let scheme = match headers.proto {
        Some(proto) => {
            Some(Scheme::parse(&proto.to_ascii_lowercase()).map_err(|_| Undescribable::Proto)?)
        }
        None => None,
    };
    let authority = match headers.host {
        Some(host) => Some(Authority::parse(host).map_err(Undescribable::Host)?),
        None => None,
    };
    let uri = headers.uri.unwrap_or("");
    check_characters(uri).map_err(Undescribable::Uri)?;
    let raw_path = uri.split(['?', '#']).next().unwrap_or("");
    let path = normalize_path(raw_path).map_err(Undescribable::Uri)?;
    let url = match (scheme, &authority) {
        (Some(scheme), Some(authority)) => {
            let text = format!("{}://{authority}{uri}", scheme.as_str());
            Some(Url::parse(&text).map_err(Undescribable::Uri)?)
        }
        _ => None,
    };
    let target = Target {
        host: authority.map(|a| a.host),
        path,
        url,
        from_original_url: false,
    };
    if let Some((url, path)) = original {
        let same_host = target
            .host
            .as_ref()
            .is_some_and(|host| host.key() == url.authority.host.key());
        if !same_host || path != target.path {
            return Err(Undescribable::Conflict);
        }
    }
    Ok(target)
}

impl Target {
    /// The host as rules compare it.
    pub fn host_key(&self) -> Option<String> {
        self.host.as_ref().map(Host::key)
    }
}

impl Accounts {
    /// Step 2: what the rules say about `me` (`None`: signed out) using
    /// the target. A refusal is logged and recorded as `access_denied`.
    pub fn decide_forward(
        &self,
        me: Option<&SignedIn>,
        target: &Target,
        client: &Client,
    ) -> Verdict {
        let host = target.host_key();
        let verdict = self.decide(me, host.as_deref(), &target.path);
        let user = me.map(|me| &*me.user);
        self.record_refusal(user, host.as_deref(), &target.path, &verdict, client);
        verdict
    }

    /// Logs (one line: request id, user, host, path, the deciding rule's
    /// line and the decision) and records a rule's refusal of a signed-in
    /// visitor, so that "why can't I get in?" has an answer in the log
    /// (OWASP ASVS 5.0 v5.0.0-16.3.2: failed authorization decisions are
    /// logged). A signed-out visitor sent to sign in is not a refusal.
    pub fn record_refusal(
        &self,
        user: Option<&User>,
        host: Option<&str>,
        path: &str,
        verdict: &Verdict,
        client: &Client,
    ) {
        let Some(user) = user else {
            return;
        };
        if !matches!(verdict.decision, Decision::Forbidden | Decision::StepUp) {
            return;
        }
        let rule = verdict
            .line
            .map_or_else(|| "none".to_string(), |line| format!("line {line}"));
        let detail = format!(
            "host={} path={path} rule={rule} decision={}",
            host.unwrap_or("(none)"),
            verdict.decision.as_str()
        );
        self.record_detail(
            AuthEvent::AccessDenied,
            Some(user.id),
            Some(&user.username),
            &detail,
            client,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(
        proto: Option<&'a str>,
        host: Option<&'a str>,
        uri: Option<&'a str>,
        original_url: Option<&'a str>,
    ) -> ProxyHeaders<'a> {
        ProxyHeaders {
            proto,
            host,
            uri,
            original_url,
        }
    }

    fn described(h: ProxyHeaders) -> (Option<String>, String) {
        let target = describe(&h).unwrap_or_else(|e| panic!("{h:?}: {e}"));
        (target.host_key(), target.path)
    }

    #[test]
    fn every_description_is_one_normalised_target() {
        let https = Some("https");
        let grafana = Some("grafana.example.com");
        for (h, host, path) in [
            (
                headers(https, grafana, Some("//api/admin"), None),
                Some("grafana.example.com"),
                "/api/admin",
            ),
            (
                headers(https, grafana, Some("/%61dmin?x=1"), None),
                Some("grafana.example.com"),
                "/admin",
            ),
            (
                headers(https, grafana, None, None),
                Some("grafana.example.com"),
                "/",
            ),
            (
                headers(https, grafana, Some(""), None),
                Some("grafana.example.com"),
                "/",
            ),
            (
                headers(None, grafana, Some("/x"), None),
                Some("grafana.example.com"),
                "/x",
            ),
            (headers(https, None, Some("/x"), None), None, "/x"),
            (headers(None, None, None, None), None, "/"),
            (
                headers(
                    Some("HTTPS"),
                    Some("Grafana.Example.com.:443"),
                    Some("/"),
                    None,
                ),
                Some("grafana.example.com"),
                "/",
            ),
            (
                headers(None, None, None, Some("https://wiki.example.com/a/../b")),
                Some("wiki.example.com"),
                "/b",
            ),
            (
                headers(
                    https,
                    grafana,
                    Some("/x/./y"),
                    Some("https://grafana.example.com/x/y"),
                ),
                Some("grafana.example.com"),
                "/x/y",
            ),
        ] {
            assert_eq!(
                described(h),
                (host.map(str::to_string), path.to_string()),
                "{h:?}"
            );
        }
        let caddy = describe(&headers(https, grafana, Some("/a?b=c"), None)).unwrap();
        assert!(!caddy.from_original_url);
        assert_eq!(
            caddy.url.map(|u| u.origin() + &u.path),
            Some("https://grafana.example.com/a".to_string())
        );
        let nginx = describe(&headers(None, None, None, Some("https://w.example.com/"))).unwrap();
        assert!(nginx.from_original_url);
        assert!(
            describe(&headers(None, grafana, None, None))
                .unwrap()
                .url
                .is_none()
        );
    }

    #[test]
    fn what_cannot_be_described_is_refused() {
        let https = Some("https");
        let grafana = Some("grafana.example.com");
        for (h, why) in [
            (
                headers(Some("ftp"), grafana, Some("/"), None),
                Undescribable::Proto,
            ),
            (
                headers(https, Some("a b"), Some("/"), None),
                Undescribable::Host(UrlError::ForbiddenCharacter),
            ),
            (
                headers(https, Some("x.example, y.example"), Some("/"), None),
                Undescribable::Host(UrlError::ForbiddenCharacter),
            ),
            (
                headers(https, Some("u@x.example"), Some("/"), None),
                Undescribable::Host(UrlError::Userinfo),
            ),
            (
                headers(https, grafana, Some("admin"), None),
                Undescribable::Uri(UrlError::NotAbsolutePath),
            ),
            (
                headers(https, grafana, Some("/admin%2fusers"), None),
                Undescribable::Uri(UrlError::EncodedSeparator),
            ),
            (
                headers(https, grafana, Some("/a%00"), None),
                Undescribable::Uri(UrlError::EncodedNul),
            ),
            (
                headers(https, grafana, Some("/a%zz"), None),
                Undescribable::Uri(UrlError::MalformedEscape),
            ),
            (
                headers(https, grafana, Some("/a\\b"), None),
                Undescribable::Uri(UrlError::ForbiddenCharacter),
            ),
            (
                headers(None, None, None, Some("//grafana.example.com/")),
                Undescribable::OriginalUrl(UrlError::Scheme),
            ),
            (
                headers(None, None, None, Some("https://x.example/%2e%2e%2f")),
                Undescribable::OriginalUrl(UrlError::EncodedSeparator),
            ),
            (
                headers(
                    https,
                    grafana,
                    Some("/"),
                    Some("https://status.example.com/"),
                ),
                Undescribable::Conflict,
            ),
            (
                headers(
                    https,
                    Some("media.example.com"),
                    Some("/"),
                    Some("https://media.example.com/admin/users"),
                ),
                Undescribable::Conflict,
            ),
            (
                headers(None, None, Some("/"), Some("https://status.example.com/")),
                Undescribable::Conflict,
            ),
        ] {
            assert_eq!(describe(&h), Err(why), "{h:?}");
        }
    }
}
