//! The route table: which method and path reach which endpoint.
//!
//! One table, read top to bottom, is the whole API surface; 404 and 405 (with
//! the `Allow` header) fall out of it, and so does the answer to `OPTIONS`.

use crate::api::doc::Doc;
use crate::api::error::ApiError;
use crate::api::handler::{Call, CallWith, Handler};
use crate::api::{
    account, admin, auth, forward, health, oidc, pages, passkeys, recovery, sessions, totp,
    upstream,
};

/// One endpoint: where it is, its handler (whose signature says who may
/// call it and what body it reads; `api::handler`), which bodies it takes
/// and whether the Origin check applies. The pipeline reads the row and
/// does what it says, in order (origin, content type, caller), so a handler
/// starts with what it was promised.
pub struct Route {
    pub method: &'static str,
    /// A `{name}` segment matches one non-empty path segment and is handed
    /// to the handler as `Context::parameter`.
    pub path: &'static str,
    pub serve: &'static dyn Handler,
    /// What openapi.json says of it, beyond what the types say.
    pub doc: &'static Doc,
    pub accepts: Accepts,
    /// `false` for the endpoints exempt from the Origin check: forward auth
    /// (the proxy asks about another request); an authorization request (a
    /// navigation from the app's site, answered with a redirect any GET
    /// would get); and the endpoints an app's server calls with its own
    /// credentials or a bearer token, never the cookie, so no cross-site
    /// request can borrow one.
    pub same_origin: bool,
}

/// The request bodies an endpoint takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accepts {
    /// None, or `application/json` (a JSON content type cannot be sent
    /// cross-origin without a preflight, so refusing every other type
    /// closes the "simple request" route around CORS; OWASP CSRF
    /// Prevention Cheat Sheet).
    Json,
    /// JSON or `application/x-www-form-urlencoded`: OAuth speaks forms (RFC
    /// 6749 §3.2, §4.1.3), and so do the pages' logout form.
    JsonOrForm,
    /// Anything: forward auth is the proxy asking about the request it
    /// guards, whose body is not for this server.
    Anything,
}

/// The methods `*` stands for: every method an HTTP request to an app may
/// carry. TRACE, CONNECT and anything unknown stay 405 everywhere.
pub const ANY_METHOD: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A browser's endpoint: JSON in, Origin checked.
const fn route(
    method: &'static str,
    path: &'static str,
    serve: &'static dyn Handler,
    doc: &'static Doc,
) -> Route {
    Route {
        method,
        path,
        serve,
        doc,
        accepts: Accepts::Json,
        same_origin: true,
    }
}

/// A browser's endpoint that also takes a form (OAuth's logout).
const fn form(
    method: &'static str,
    path: &'static str,
    serve: &'static dyn Handler,
    doc: &'static Doc,
) -> Route {
    Route {
        accepts: Accepts::JsonOrForm,
        ..route(method, path, serve, doc)
    }
}

/// An OAuth endpoint an app calls: forms, no Origin check.
const fn oauth(
    method: &'static str,
    path: &'static str,
    serve: &'static dyn Handler,
    doc: &'static Doc,
) -> Route {
    Route {
        same_origin: false,
        ..form(method, path, serve, doc)
    }
}

/// The reverse proxy asking about another request: any body, no Origin
/// check.
const fn proxy(
    method: &'static str,
    path: &'static str,
    serve: &'static dyn Handler,
    doc: &'static Doc,
) -> Route {
    Route {
        accepts: Accepts::Anything,
        same_origin: false,
        ..route(method, path, serve, doc)
    }
}

/// The whole API surface, read top to bottom: 404 and 405 (with the
/// `Allow` header) fall out of it, and so does the answer to `OPTIONS`.
/// The method `*` stands for [`ANY_METHOD`] (`OPTIONS` included, so no
/// preflight answer can stand in for the endpoint's own).
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route("POST",   "/api/register",                     &CallWith(auth::register),                 &auth::REGISTER),
    route("POST",   "/api/login",                        &CallWith(auth::login),                    &auth::LOGIN),
    route("POST",   "/api/logout",                       &Call(auth::logout),                       &auth::LOGOUT),
    route("GET",    "/api/user",                         &Call(account::current_user),              &account::CURRENT_USER),
    route("GET",    "/api/dashboard",                    &Call(account::dashboard),                 &account::DASHBOARD),
    route("GET",    "/api/health",                       &Call(health::health),                     &health::HEALTH),
    route("DELETE", "/api/user",                         &CallWith(account::delete_account),        &account::DELETE_ACCOUNT),
    route("POST",   "/api/user/password",                &CallWith(account::change_password),       &account::CHANGE_PASSWORD),
    route("GET",    "/api/sessions",                     &Call(sessions::list_sessions),            &sessions::LIST_SESSIONS),
    route("DELETE", "/api/sessions/{id}",                &Call(sessions::revoke_session),           &sessions::REVOKE_SESSION),
    route("POST",   "/api/logout-all",                   &Call(sessions::logout_all),               &sessions::LOGOUT_ALL),
    route("GET",    "/api/openapi.json",                 &Call(health::openapi),                    &health::OPENAPI),
    route("POST",   "/api/password/forgot",              &CallWith(recovery::forgot),               &recovery::FORGOT),
    route("POST",   "/api/password/reset",               &CallWith(recovery::reset),                &recovery::RESET),
    route("POST",   "/api/email/verify",                 &CallWith(recovery::verify),               &recovery::VERIFY),
    route("POST",   "/api/email/verify/resend",          &CallWith(recovery::resend),               &recovery::RESEND),
    route("POST",   "/api/user/totp/setup",              &CallWith(totp::setup),                    &totp::SETUP),
    route("POST",   "/api/user/totp/enable",             &CallWith(totp::enable),                   &totp::ENABLE),
    route("POST",   "/api/user/totp/disable",            &CallWith(totp::disable),                  &totp::DISABLE),
    route("POST",   "/api/user/passkeys/options",        &CallWith(passkeys::creation_options),     &passkeys::CREATION_OPTIONS),
    route("POST",   "/api/user/passkeys",                &CallWith(passkeys::add),                  &passkeys::ADD),
    route("GET",    "/api/user/passkeys",                &Call(passkeys::list),                     &passkeys::LIST),
    route("PATCH",  "/api/user/passkeys/{id}",           &CallWith(passkeys::rename),               &passkeys::RENAME),
    route("DELETE", "/api/user/passkeys/{id}",           &Call(passkeys::remove),                   &passkeys::REMOVE),
    route("POST",   "/api/login/passkey/options",        &CallWith(passkeys::request_options),      &passkeys::REQUEST_OPTIONS),
    route("POST",   "/api/login/passkey",                &CallWith(passkeys::sign_in),              &passkeys::SIGN_IN),
    // OpenID Connect (api/oidc.rs): the provider's endpoints. An app's server
    // calls token, userinfo and revoke with its own credentials or a bearer
    // token, and authorize is a navigation: none of them is origin-checked.
    route("GET",    "/.well-known/openid-configuration", &Call(oidc::discovery),                    &oidc::DISCOVERY),
    route("GET",    "/oauth2/jwks",                      &Call(oidc::jwks),                         &oidc::JWKS),
    oauth("GET",    "/oauth2/authorize",                 &Call(oidc::authorize),                    &oidc::AUTHORIZE_GET),
    oauth("POST",   "/oauth2/authorize",                 &Call(oidc::authorize),                    &oidc::AUTHORIZE_POST),
    oauth("POST",   "/oauth2/token",                     &Call(oidc::token),                        &oidc::TOKEN),
    oauth("GET",    "/oauth2/userinfo",                  &Call(oidc::userinfo),                     &oidc::USERINFO_GET),
    oauth("POST",   "/oauth2/userinfo",                  &Call(oidc::userinfo),                     &oidc::USERINFO_POST),
    oauth("POST",   "/oauth2/revoke",                    &Call(oidc::revoke),                       &oidc::REVOKE),
    // RP-initiated logout: a browser's, so origin-checked like the rest.
    form("GET",     "/oauth2/logout",                    &Call(oidc::logout),                       &oidc::LOGOUT_GET),
    form("POST",    "/oauth2/logout",                    &Call(oidc::logout),                       &oidc::LOGOUT_POST),
    // Any method: the proxy asks with the method of the request it guards,
    // about another request; nothing of it (origin, body) is for this server.
    proxy("*",      "/api/auth/forward",                 &Call(forward::check),                     &forward::CHECK),
    route("POST",   "/api/auth/redirect",                &CallWith(forward::check_redirect),        &forward::CHECK_REDIRECT),
    route("POST",   "/api/auth/step-up",                 &CallWith(totp::step_up),                  &totp::STEP_UP),
    route("POST",   "/api/user/reauth",                  &CallWith(account::reauthenticate),        &account::REAUTHENTICATE),
    // Signing in through an upstream OpenID provider (api/upstream.rs): two
    // navigations, the code step after it, and the account's connections.
    route("GET",    "/auth/upstream/{name}",             &Call(upstream::start),                    &upstream::START),
    route("GET",    "/auth/upstream/{name}/callback",    &Call(upstream::callback),                 &upstream::CALLBACK),
    route("POST",   "/api/login/upstream",               &CallWith(upstream::code),                 &upstream::CODE),
    route("GET",    "/api/upstreams",                    &Call(upstream::buttons),                  &upstream::BUTTONS),
    route("GET",    "/api/user/upstreams",               &Call(upstream::connected),                &upstream::CONNECTED),
    route("POST",   "/api/user/upstreams/{name}",        &Call(upstream::connect),                  &upstream::CONNECT),
    route("DELETE", "/api/user/upstreams/{name}",        &Call(upstream::disconnect),               &upstream::DISCONNECT),
    // The built-in sign-in page, which also opens mailed links.
    route("GET",    "/login",                            &Call(pages::sign_in),                     &pages::SIGN_IN),
    route("GET",    "/reset-password",                   &Call(pages::sign_in),                     &pages::RESET_PASSWORD),
    route("GET",    "/verify-email",                     &Call(pages::sign_in),                     &pages::VERIFY_EMAIL),
    route("GET",    "/login.css",                        &Call(pages::style),                       &pages::STYLE),
    route("GET",    "/login.js",                         &Call(pages::script),                      &pages::SCRIPT),
    // The account page: what a signed-in user can do, without curl.
    route("GET",    "/account",                          &Call(pages::account),                     &pages::ACCOUNT),
    route("GET",    "/account.css",                      &Call(pages::account_style),               &pages::ACCOUNT_STYLE),
    route("GET",    "/account.js",                       &Call(pages::account_script),              &pages::ACCOUNT_SCRIPT),
    // Joining with an invitation (or an open sign-up).
    route("GET",    "/register",                         &Call(pages::register),                    &pages::REGISTER),
    route("GET",    "/register.js",                      &Call(pages::register_script),             &pages::REGISTER_SCRIPT),
    // The administrators' page and API (api/admin.rs): ADMIN_GROUP, signed
    // in with a second factor; what cannot be undone wants a fresh proof.
    route("GET",    "/admin",                            &Call(pages::admin),                       &pages::ADMIN),
    route("GET",    "/admin.css",                        &Call(pages::admin_style),                 &pages::ADMIN_STYLE),
    route("GET",    "/admin.js",                         &Call(pages::admin_script),                &pages::ADMIN_SCRIPT),
    route("GET",    "/api/admin/users",                  &Call(admin::list_users),                  &admin::LIST_USERS),
    route("POST",   "/api/admin/users",                  &CallWith(admin::create_user),             &admin::CREATE_USER),
    route("PATCH",  "/api/admin/users/{id}",             &CallWith(admin::update_user),             &admin::UPDATE_USER),
    route("DELETE", "/api/admin/users/{id}",             &Call(admin::delete_user),                 &admin::DELETE_USER),
    route("POST",   "/api/admin/users/{id}/reset-link",  &Call(admin::reset_link),                  &admin::RESET_LINK),
    route("POST",   "/api/admin/users/{id}/unlock",      &Call(admin::unlock),                      &admin::UNLOCK),
    route("DELETE", "/api/admin/users/{id}/sessions",    &Call(admin::revoke_sessions),             &admin::REVOKE_SESSIONS),
    route("GET",    "/api/admin/invites",                &Call(admin::list_invites),                &admin::LIST_INVITES),
    route("POST",   "/api/admin/invites",                &CallWith(admin::create_invite),           &admin::CREATE_INVITE),
    route("DELETE", "/api/admin/invites/{id}",           &Call(admin::withdraw_invite),             &admin::WITHDRAW_INVITE),
    route("GET",    "/api/admin/oidc-clients",           &Call(admin::list_apps),                   &admin::LIST_APPS),
    route("POST",   "/api/admin/oidc-clients",           &CallWith(admin::add_app),                 &admin::ADD_APP),
    route("DELETE", "/api/admin/oidc-clients/{id}",      &Call(admin::remove_app),                  &admin::REMOVE_APP),
    route("GET",    "/api/admin/audit",                  &Call(admin::audit),                       &admin::AUDIT),
];

/// Where a request goes.
pub enum Resolved<'p> {
    /// A route, with the value of its `{name}` segment if it has one.
    Route(&'static Route, Option<&'p str>),
    /// `OPTIONS` on a known path: the methods it allows.
    Options(String),
}

/// Resolves a request. `HEAD` is served by the `GET` route (the HTTP layer
/// drops the body), and unsafe methods the table does not list, TRACE
/// included, are 405 (OWASP ASVS 4.0.3 V14.5.1).
///
/// ```
/// use auth_server::api::router::{resolve, Resolved};
/// let Ok(Resolved::Route(route, None)) = resolve("GET", "/api/user") else { panic!() };
/// assert_eq!(route.path, "/api/user");
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
        .any(|route| route.path == path && !route.path.contains('{'));
    let mut allowed: Vec<&str> = Vec::new();
    for route in ROUTES {
        let (route_method, pattern) = (route.method, route.path);
        if literal && pattern != path {
            continue;
        }
        let Some(parameter) = match_pattern(pattern, path) else {
            continue;
        };
        let any = route_method == "*" && ANY_METHOD.contains(&method);
        if route_method == lookup_method || any {
            return Ok(Resolved::Route(route, parameter));
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

    /// The route a request reaches, by method and pattern, and its
    /// parameter; or the error.
    fn reaches<'p>(
        method: &str,
        path: &'p str,
    ) -> Result<(&'static str, &'static str, Option<&'p str>), ApiError> {
        match resolve(method, path)? {
            Resolved::Route(route, parameter) => Ok((route.method, route.path, parameter)),
            Resolved::Options(allow) => panic!("OPTIONS {allow}"),
        }
    }

    fn allows(method: &str, path: &str) -> Result<String, ApiError> {
        match resolve(method, path)? {
            Resolved::Options(allow) => Ok(allow),
            Resolved::Route(route, _) => panic!("reached {} {}", route.method, route.path),
        }
    }

    #[test]
    fn finds_each_route() {
        for route in ROUTES
            .iter()
            .filter(|r| !r.path.contains('{') && r.method != "*")
        {
            assert_eq!(
                reaches(route.method, route.path),
                Ok((route.method, route.path, None))
            );
        }
        assert_eq!(
            reaches("DELETE", "/api/sessions/0123456789abcdef"),
            Ok(("DELETE", "/api/sessions/{id}", Some("0123456789abcdef")))
        );
        assert_eq!(reaches("HEAD", "/api/user"), Ok(("GET", "/api/user", None)));
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
            assert_eq!(reaches("GET", path), Err(ApiError::NotFound), "{path}");
        }
        assert_eq!(
            reaches("PUT", "/api/login"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            reaches("GET", "/api/logout"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            reaches("TRACE", "/api/user"),
            Err(ApiError::MethodNotAllowed(
                "GET, HEAD, DELETE, OPTIONS".into()
            ))
        );
        assert_eq!(
            reaches("get", "/api/dashboard"),
            Err(ApiError::MethodNotAllowed("GET, HEAD, OPTIONS".into()))
        );
        assert_eq!(
            reaches("GET", "/api/sessions/abc"),
            Err(ApiError::MethodNotAllowed("DELETE, OPTIONS".into()))
        );
    }

    #[test]
    fn any_method_means_the_usual_ones() {
        for method in ANY_METHOD {
            assert_eq!(
                reaches(method, "/api/auth/forward"),
                Ok(("*", "/api/auth/forward", None)),
                "{method}"
            );
        }
        assert_eq!(
            reaches("TRACE", "/api/auth/forward"),
            Err(ApiError::MethodNotAllowed(
                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into()
            ))
        );
    }

    #[test]
    fn a_literal_path_is_never_a_parameter_of_another() {
        assert_eq!(
            allows("OPTIONS", "/api/user/passkeys/options"),
            Ok("POST, OPTIONS".into())
        );
        assert_eq!(
            reaches("DELETE", "/api/user/passkeys/options"),
            Err(ApiError::MethodNotAllowed("POST, OPTIONS".into()))
        );
        assert_eq!(
            reaches("DELETE", "/api/user/passkeys/abc"),
            Ok(("DELETE", "/api/user/passkeys/{id}", Some("abc")))
        );
    }

    #[test]
    fn options_lists_the_methods() {
        assert_eq!(allows("OPTIONS", "/api/login"), Ok("POST, OPTIONS".into()));
        assert_eq!(allows("OPTIONS", "/nope"), Err(ApiError::NotFound));
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
