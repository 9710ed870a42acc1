//! `/api/auth/forward`: a reverse proxy asks, for every request to an app
//! it guards, whether the visitor is signed in (nginx `auth_request`,
//! Caddy `forward_auth`, Traefik `ForwardAuth`).
//!
//! Signed in: 200, with who it is in `Remote-User`, `Remote-Name`,
//! `Remote-User-Id` and, once the address is verified, `Remote-Email`, for
//! the proxy to pass to the app.
//! Signed out: 401; or, when the proxy described the original request
//! (Caddy and Traefik send `X-Forwarded-Proto`, `-Host`, `-Uri`, and
//! `-Method`) and it was a GET or HEAD to a host in `FORWARD_AUTH_HOSTS`,
//! a 302 to the sign-in page with the original URL in `rd`. As fast as
//! `GET /api/user`: a session look-up and a user read, no bcrypt, no write.

use serde_json::json;

use crate::accounts::check::SignedIn;
use crate::api::app::{App, Context, Reply};
use crate::api::common::{signed_in, user_json};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::redirect::{host_matches, host_of, scheme_and_authority};
use crate::support::text::percent_encode;

pub fn check(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let user = match signed_in(app, cx) {
        Ok(SignedIn { user, .. })
            if user.email_verified || !app.settings().require_verified_email =>
        {
            user
        }
        Ok(_) | Err(ApiError::Unauthenticated) => return Err(signed_out(app, cx)),
        Err(error) => return Err(error),
    };
    let reply = Reply::ok("ok")
        .with_data(json!({ "user": user_json(&user) }))
        .with_header("Remote-User", user.username.clone())
        .with_header("Remote-Name", user.username.clone())
        .with_header("Remote-User-Id", user.id.to_string());
    // Apps trust this header as the visitor's address. With open sign-up
    // anyone can type any address, so only one its owner proved (a link
    // mailed to it) is asserted (second review, finding 3).
    Ok(match user.email_verified {
        true => reply.with_header("Remote-Email", user.email.clone()),
        false => reply,
    })
}

/// `POST /api/auth/redirect` `{"redirect"}`: `data.redirect` is the URL if
/// the sign-in may send a browser there, else `null`; the same check a
/// login with `redirect` makes, for a page whose visitor is already signed
/// in.
pub fn check_redirect(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let redirect = fields.required_string("redirect");
    let redirect = fields.finish(&["redirect"], redirect)?;
    Ok(Reply::ok("ok").with_data(json!({ "redirect": app.accounts.approved_redirect(&redirect) })))
}

/// 302 to the sign-in page when the proxy said where the browser was going
/// and it may be sent back there; otherwise 401. nginx's `auth_request`
/// treats any answer but 2xx, 401 and 403 as an error, so for it (the
/// original URL in `X-Original-URL`) the answer is a 401 that carries the
/// sign-in address in `Location`, for `error_page 401 =302` to follow.
fn signed_out(app: &App, cx: &Context) -> ApiError {
    let header = |name| cx.request.header(name).map(str::trim);
    if let Some(original) = header("x-original-url")
        && let Some(location) = sign_in_location(app, original)
    {
        return ApiError::SignInAt { location };
    }
    let (Some(proto), Some(host), Some(uri)) = (
        header("x-forwarded-proto"),
        header("x-forwarded-host"),
        header("x-forwarded-uri"),
    ) else {
        return ApiError::Unauthenticated;
    };
    // Only a page load can be sent to a sign-in page and back.
    let page_load = header("x-forwarded-method")
        .is_none_or(|m| m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD"))
        && uri.starts_with('/')
        && !uri.starts_with("//");
    match sign_in_location(app, &format!("{proto}://{host}{uri}")) {
        Some(location) if page_load => ApiError::SignInFirst { location },
        _ => ApiError::Unauthenticated,
    }
}

/// The sign-in address for an original URL, if it is an http(s) URL on a
/// guarded host (no userinfo, no backslash).
fn sign_in_location(app: &App, original: &str) -> Option<String> {
    let (scheme, authority) = scheme_and_authority(original)?;
    let ok = matches!(scheme, "http" | "https")
        && !authority.contains(['@', '\\'])
        && host_matches(host_of(authority), &app.settings().forward_auth_hosts);
    ok.then(|| login_with_rd(app, original))
}

/// `LOGIN_URL` with `rd` = the percent-encoded original URL. A `LOGIN_URL`
/// that is a path (the sign-in page on the guarded host itself, under the
/// proxy) is made absolute on the original URL's origin: nginx follows only
/// an absolute URL as a redirect, and treats a path as an internal one.
fn login_with_rd(app: &App, original: &str) -> String {
    let login = &app.settings().login_url;
    let separator = if login.contains('?') { '&' } else { '?' };
    let origin = match scheme_and_authority(original) {
        Some((scheme, authority)) if login.starts_with('/') => format!("{scheme}://{authority}"),
        _ => String::new(),
    };
    format!("{origin}{login}{separator}rd={}", percent_encode(original))
}
