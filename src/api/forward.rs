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
use crate::api::common::{just_user, signed_in};
use crate::api::error::ApiError;
use crate::api::fields::Fields;
use crate::auth::access::{Decision, Who};
use crate::auth::redirect::{host_matches, host_of, scheme_and_authority};
use crate::support::text::percent_encode;

/// What the proxy said about the request it guards: the original URL and
/// its host and path, and whether it was a page load.
struct Described {
    url: String,
    host: String,
    path: String,
    /// A GET or HEAD a browser made to show a page: its `Accept` does not
    /// ask for JSON and it carries no `X-Requested-With`. Anything else is
    /// an API call, answered with JSON and never redirected (a script
    /// cannot follow a sign-in page).
    page_load: bool,
    /// nginx (`X-Original-URL`): it follows only a 401's `Location`.
    nginx: bool,
}

/// The path of an absolute URL whose authority is `authority`, without
/// query or fragment; `/` when there is none.
fn path_of<'a>(url: &'a str, authority: &str) -> &'a str {
    let after = url
        .find(authority)
        .map_or("", |at| &url[at + authority.len()..]);
    after
        .split(['?', '#'])
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
}

fn described(cx: &Context) -> Option<Described> {
    let header = |name| cx.request.header(name).map(str::trim);
    let method_ok = header("x-forwarded-method")
        .is_none_or(|m| m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD"));
    let wants_json = header("accept").is_some_and(|a| a.contains("application/json"))
        || header("x-requested-with").is_some();
    let (url, nginx) = match header("x-original-url") {
        Some(original) => (original.to_string(), true),
        None => {
            let (proto, host, uri) = (
                header("x-forwarded-proto")?,
                header("x-forwarded-host")?,
                header("x-forwarded-uri")?,
            );
            if !uri.starts_with('/') || uri.starts_with("//") {
                return None;
            }
            (format!("{proto}://{host}{uri}"), false)
        }
    };
    let (_, authority) = scheme_and_authority(&url)?;
    Some(Described {
        host: host_of(authority).to_string(),
        path: path_of(&url, authority).to_string(),
        page_load: method_ok && !wants_json,
        nginx,
        url,
    })
}

pub fn check(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let me = match signed_in(app, cx) {
        Ok(me) if me.user.email_verified || !app.settings().require_verified_email => Some(me),
        Ok(_) | Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    let described = described(cx);
    // Without a description (a direct call) the question is only "signed
    // in?"; with one, the access rules decide for its host and path.
    let decision = match &described {
        Some(d) => app.accounts.decide(me.as_ref(), &d.host, &d.path),
        None if me.is_some() => Decision::Allow { public: false },
        None => Decision::SignInFirst,
    };
    match (decision, me) {
        (Decision::Allow { public: true }, _) => Ok(Reply::ok("ok")),
        (Decision::Allow { public: false }, Some(me)) => who(&me),
        (Decision::SignInFirst, _) | (Decision::Allow { .. }, None) => Err(to_sign_in(
            app,
            described.as_ref(),
            ApiError::Unauthenticated,
        )),
        // Signed in but not allowed, or without the second factor the rule
        // wants: an API call hears 403; a page load goes to the sign-in
        // page, which says why (or asks for the code) from
        // `POST /api/auth/redirect`.
        (Decision::Forbidden | Decision::StepUp, _) => {
            Err(to_sign_in(app, described.as_ref(), ApiError::Forbidden))
        }
    }
}

/// 200 with who it is, for the proxy to pass to the app.
fn who(me: &SignedIn) -> Result<Reply, ApiError> {
    let user = &me.user;
    let mut reply = Reply::ok("ok")
        .with_data(just_user(user))?
        .with_header("Remote-User", user.username.clone())
        .with_header("Remote-Name", user.username.clone())
        .with_header("Remote-User-Id", user.id.to_string());
    // Apps trust this header as the visitor's address. With open sign-up
    // anyone can type any address, so only one its owner proved (a link
    // mailed to it) is asserted (second review, finding 3).
    if user.email_verified {
        reply = reply.with_header("Remote-Email", user.email.clone());
    }
    if !user.groups.is_empty() {
        reply = reply.with_header("Remote-Groups", user.groups.join(","));
    }
    Ok(reply)
}

/// The answer that sends a page load to the sign-in page, with the original
/// URL in `rd`, when the URL is on a guarded host: a 302 for proxies that
/// pass it on (Caddy, Traefik), or for nginx, whose `auth_request` follows
/// only a 401, a 401 that carries the address in `Location` (for
/// `error_page 401 =302`). Anything else: `otherwise`.
fn to_sign_in(app: &App, described: Option<&Described>, otherwise: ApiError) -> ApiError {
    let Some(d) = described.filter(|d| d.page_load) else {
        return otherwise;
    };
    match sign_in_location(app, &d.url) {
        Some(location) if d.nginx => ApiError::SignInAt { location },
        Some(location) => ApiError::SignInFirst { location },
        None => otherwise,
    }
}

/// `POST /api/auth/redirect` `{"redirect"}`: `data.redirect` is the URL if
/// the sign-in may send a browser there, else `null`; the same check a
/// login with `redirect` makes, for a page whose visitor is already signed
/// in. With it, `data.access`: what the access rules say about the visitor
/// and that URL (`allowed`, `forbidden`, `step_up` or `signed_out`; `null`
/// when the URL is not approved), so the sign-in page can say why it was
/// shown.
pub fn check_redirect(app: &App, cx: &Context) -> Result<Reply, ApiError> {
    let mut fields = Fields::parse(&cx.request.body)?;
    let redirect = fields.required_string("redirect");
    let redirect = fields.finish(&["redirect"], redirect)?;
    let approved = app.accounts.approved_redirect(&redirect);
    let me = match signed_in(app, cx) {
        Ok(me) => Some(me),
        Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    let mut data = json!({ "redirect": approved, "access": null });
    if let Some((_, authority)) = approved.as_deref().and_then(scheme_and_authority) {
        let (host, path) = (host_of(authority), path_of(&redirect, authority));
        data["access"] = json!(match app.accounts.decide(me.as_ref(), host, path) {
            Decision::Allow { .. } => "allowed",
            Decision::SignInFirst => "signed_out",
            Decision::StepUp => "step_up",
            Decision::Forbidden => "forbidden",
        });
        // For "this app is for admins": the groups a rule names are no
        // secret to someone it turned away; usernames are.
        let rules = app.accounts.rules.current();
        if let Some(Who::Groups(groups)) = rules.rule_for(host, path).map(|rule| &rule.who) {
            data["groups"] = json!(groups);
        }
    }
    Reply::ok("ok").with_data(data)
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
