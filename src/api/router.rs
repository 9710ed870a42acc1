//! The route table: which method and path reach which endpoint.
//!
//! One table, read top to bottom, is the whole API surface; 404 and 405 (with
//! the `Allow` header) fall out of it, and so does the answer to `OPTIONS`.

use crate::api::error::ApiError;

/// Everything the API does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Register,
    Login,
    Logout,
    User,
    Dashboard,
    Health,
    ChangePassword,
    ListSessions,
    RevokeSession,
    LogoutAll,
    DeleteAccount,
    OpenApi,
    ForgotPassword,
    ResetPassword,
    VerifyEmail,
    ResendVerification,
    TotpSetup,
    TotpEnable,
    TotpDisable,
    ForwardAuth,
    SignInPage,
    SignInStyle,
    SignInScript,
    CheckRedirect,
    StepUp,
    Reauthenticate,
    AccountPage,
    AccountStyle,
    AccountScript,
    PasskeyCreationOptions,
    AddPasskey,
    OidcDiscovery,
    OidcJwks,
    OidcAuthorize,
    OidcToken,
    OidcUserinfo,
    OidcRevoke,
    OidcLogout,
    ListPasskeys,
    RenamePasskey,
    RemovePasskey,
    PasskeyRequestOptions,
    PasskeySignIn,
}

/// The methods `*` stands for: every method an HTTP request to an app may
/// carry. TRACE, CONNECT and anything unknown stay 405 everywhere.
pub const ANY_METHOD: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Method, path pattern, endpoint. A `{name}` segment matches one non-empty
/// path segment and is handed to the endpoint; the method `*` stands for
/// [`ANY_METHOD`] (`OPTIONS` included, so no preflight answer can stand in
/// for the endpoint's own).
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("POST", "/api/register", Endpoint::Register),
    ("POST", "/api/login", Endpoint::Login),
    ("POST", "/api/logout", Endpoint::Logout),
    ("GET", "/api/user", Endpoint::User),
    ("GET", "/api/dashboard", Endpoint::Dashboard),
    ("GET", "/api/health", Endpoint::Health),
    ("DELETE", "/api/user", Endpoint::DeleteAccount),
    ("POST", "/api/user/password", Endpoint::ChangePassword),
    ("GET", "/api/sessions", Endpoint::ListSessions),
    ("DELETE", "/api/sessions/{id}", Endpoint::RevokeSession),
    ("POST", "/api/logout-all", Endpoint::LogoutAll),
    ("GET", "/api/openapi.json", Endpoint::OpenApi),
    ("POST", "/api/password/forgot", Endpoint::ForgotPassword),
    ("POST", "/api/password/reset", Endpoint::ResetPassword),
    ("POST", "/api/email/verify", Endpoint::VerifyEmail),
    (
        "POST",
        "/api/email/verify/resend",
        Endpoint::ResendVerification,
    ),
    ("POST", "/api/user/totp/setup", Endpoint::TotpSetup),
    ("POST", "/api/user/totp/enable", Endpoint::TotpEnable),
    ("POST", "/api/user/totp/disable", Endpoint::TotpDisable),
    (
        "POST",
        "/api/user/passkeys/options",
        Endpoint::PasskeyCreationOptions,
    ),
    ("POST", "/api/user/passkeys", Endpoint::AddPasskey),
    ("GET", "/api/user/passkeys", Endpoint::ListPasskeys),
    ("PATCH", "/api/user/passkeys/{id}", Endpoint::RenamePasskey),
    ("DELETE", "/api/user/passkeys/{id}", Endpoint::RemovePasskey),
    (
        "POST",
        "/api/login/passkey/options",
        Endpoint::PasskeyRequestOptions,
    ),
    ("POST", "/api/login/passkey", Endpoint::PasskeySignIn),
    // OpenID Connect (api/oidc.rs): the provider's endpoints.
    (
        "GET",
        "/.well-known/openid-configuration",
        Endpoint::OidcDiscovery,
    ),
    ("GET", "/oauth2/jwks", Endpoint::OidcJwks),
    ("GET", "/oauth2/authorize", Endpoint::OidcAuthorize),
    ("POST", "/oauth2/authorize", Endpoint::OidcAuthorize),
    ("POST", "/oauth2/token", Endpoint::OidcToken),
    ("GET", "/oauth2/userinfo", Endpoint::OidcUserinfo),
    ("POST", "/oauth2/userinfo", Endpoint::OidcUserinfo),
    ("POST", "/oauth2/revoke", Endpoint::OidcRevoke),
    ("GET", "/oauth2/logout", Endpoint::OidcLogout),
    ("POST", "/oauth2/logout", Endpoint::OidcLogout),
    // Any method: the proxy asks with the method of the request it guards.
    ("*", "/api/auth/forward", Endpoint::ForwardAuth),
    ("POST", "/api/auth/redirect", Endpoint::CheckRedirect),
    ("POST", "/api/auth/step-up", Endpoint::StepUp),
    ("POST", "/api/user/reauth", Endpoint::Reauthenticate),
    // The built-in sign-in page, which also opens mailed links.
    ("GET", "/login", Endpoint::SignInPage),
    ("GET", "/reset-password", Endpoint::SignInPage),
    ("GET", "/verify-email", Endpoint::SignInPage),
    ("GET", "/login.css", Endpoint::SignInStyle),
    ("GET", "/login.js", Endpoint::SignInScript),
    // The account page: what a signed-in user can do, without curl.
    ("GET", "/account", Endpoint::AccountPage),
    ("GET", "/account.css", Endpoint::AccountStyle),
    ("GET", "/account.js", Endpoint::AccountScript),
];

impl Endpoint {
    /// Bodies may be `application/x-www-form-urlencoded`: OAuth speaks
    /// forms (RFC 6749 §3.2, §4.1.3), and so do the pages' logout form.
    pub fn takes_forms(self) -> bool {
        matches!(
            self,
            Endpoint::OidcAuthorize
                | Endpoint::OidcToken
                | Endpoint::OidcUserinfo
                | Endpoint::OidcRevoke
                | Endpoint::OidcLogout
        )
    }

    /// Exempt from the Origin check: forward auth (the proxy asks about
    /// another request); an authorization request (a navigation from the
    /// app's site, answered with a redirect any GET would get); and the
    /// endpoints an app's server calls with its own credentials or a bearer
    /// token, never the cookie, so no cross-site request can borrow one.
    pub fn skips_origin_check(self) -> bool {
        matches!(
            self,
            Endpoint::ForwardAuth
                | Endpoint::OidcAuthorize
                | Endpoint::OidcToken
                | Endpoint::OidcUserinfo
                | Endpoint::OidcRevoke
        )
    }
}

/// The path pattern of an endpoint, as the route table writes it: what the
/// log names instead of the raw path, which may carry anything.
pub fn pattern(endpoint: Endpoint) -> &'static str {
    ROUTES
        .iter()
        .find(|(_, _, e)| *e == endpoint)
        .map_or("unmatched", |(_, pattern, _)| pattern)
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved<'p> {
    /// An endpoint, with the value of its `{name}` segment if it has one.
    Endpoint(Endpoint, Option<&'p str>),
    /// `OPTIONS` on a known path: the methods it allows.
    Options(String),
}

/// Resolves a request. `HEAD` is served by the `GET` route (the HTTP layer
/// drops the body), and unsafe methods the table does not list, TRACE
/// included, are 405 (OWASP ASVS 4.0.3 V14.5.1).
///
/// ```
/// use auth_server::api::router::{resolve, Endpoint, Resolved};
/// assert_eq!(resolve("GET", "/api/user"), Ok(Resolved::Endpoint(Endpoint::User, None)));
/// assert!(resolve("GET", "/api/nope").is_err());
/// ```
pub fn resolve<'p>(method: &str, path: &'p str) -> Result<Resolved<'p>, ApiError> {
    let lookup_method = if method == "HEAD" { "GET" } else { method };
    // A path some literal pattern names is that resource only, never also
    // a `{name}` of another (`/api/user/passkeys/options` is not the
    // passkey "options"), so its 405 and `Allow` list its own methods.
    // (Equality first: it is a length comparison for almost every route,
    // and every request is matched against the whole table.)
    let literal = ROUTES
        .iter()
        .any(|(_, pattern, _)| *pattern == path && !pattern.contains('{'));
    let mut allowed: Vec<&str> = Vec::new();
    for &(route_method, pattern, endpoint) in ROUTES {
        if literal && pattern != path {
            continue;
        }
        let Some(parameter) = match_pattern(pattern, path) else {
            continue;
        };
        let any = route_method == "*" && ANY_METHOD.contains(&method);
        if route_method == lookup_method || any {
            return Ok(Resolved::Endpoint(endpoint, parameter));
        }
        if route_method == "*" {
            allowed.extend(ANY_METHOD.iter().filter(|m| **m != "OPTIONS"));
            continue;
        }
        allowed.push(route_method);
        if route_method == "GET" {
            allowed.push("HEAD");
        }
    }
    if allowed.is_empty() {
        return Err(ApiError::NotFound);
    }
    allowed.push("OPTIONS");
    let allow = allowed.join(", ");
    if method == "OPTIONS" {
        Ok(Resolved::Options(allow))
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

/// `Some(parameter)` when `path` fits `pattern`.
fn match_pattern<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    // Most patterns have no parameter: one comparison, no splitting (every
    // request is matched against the table, so this is on the hot path).
    if !pattern.contains('{') {
        return (pattern == path).then_some(None);
    }
    let mut parameter = None;
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(parameter),
            (Some(p), Some(s)) if p.starts_with('{') && !s.is_empty() => parameter = Some(s),
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_route() {
        for &(method, path, endpoint) in ROUTES.iter().filter(|(_, p, _)| !p.contains('{')) {
            assert_eq!(
                resolve(method, path),
                Ok(Resolved::Endpoint(endpoint, None))
            );
        }
        assert_eq!(
            resolve("DELETE", "/api/sessions/0123456789abcdef"),
            Ok(Resolved::Endpoint(
                Endpoint::RevokeSession,
                Some("0123456789abcdef")
            ))
        );
        assert_eq!(
            resolve("HEAD", "/api/user"),
            Ok(Resolved::Endpoint(Endpoint::User, None))
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        for path in [
            "/",
            "/api",
            "/api/",
            "/api/user/",
            "/api/users",
            "/API/user",
            "/api//user",
        ] {
            assert_eq!(resolve("GET", path), Err(ApiError::NotFound), "{path}");
        }
        assert_eq!(
            resolve("PUT", "/api/login"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            resolve("GET", "/api/logout"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            resolve("TRACE", "/api/user"),
            Err(ApiError::MethodNotAllowed(
                "GET, HEAD, DELETE, OPTIONS".into()
            ))
        );
        assert_eq!(
            resolve("get", "/api/dashboard"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS".into()))
        );
        assert_eq!(
            resolve("GET", "/api/sessions/abc"),
            Err(ApiError::MethodNotAllowed("DELETE, OPTIONS".into()))
        );
    }

    #[test]
    fn any_method_means_the_usual_ones() {
        for method in ANY_METHOD {
            assert_eq!(
                resolve(method, "/api/auth/forward"),
                Ok(Resolved::Endpoint(Endpoint::ForwardAuth, None)),
                "{method}"
            );
        }
        assert_eq!(
            resolve("TRACE", "/api/auth/forward"),
            Err(ApiError::MethodNotAllowed(
                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into()
            ))
        );
    }

    #[test]
    fn a_literal_path_is_never_a_parameter_of_another() {
        assert_eq!(
            resolve("OPTIONS", "/api/user/passkeys/options"),
            Ok(Resolved::Options("POST, OPTIONS".into()))
        );
        assert_eq!(
            resolve("DELETE", "/api/user/passkeys/options"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            resolve("DELETE", "/api/user/passkeys/abc"),
            Ok(Resolved::Endpoint(Endpoint::RemovePasskey, Some("abc")))
        );
    }

    #[test]
    fn options_lists_the_methods() {
        assert_eq!(
            resolve("OPTIONS", "/api/login"),
            Ok(Resolved::Options("POST, OPTIONS".into()))
        );
        assert_eq!(resolve("OPTIONS", "/nope"), Err(ApiError::NotFound));
    }

    #[test]
    fn parameters_match_one_segment() {
        assert_eq!(
            match_pattern("/api/sessions/{id}", "/api/sessions/abc"),
            Some(Some("abc"))
        );
        assert_eq!(match_pattern("/api/sessions/{id}", "/api/sessions/"), None);
        assert_eq!(
            match_pattern("/api/sessions/{id}", "/api/sessions/a/b"),
            None
        );
        assert_eq!(match_pattern("/api/user", "/api/user"), Some(None));
    }
}
