//! `/api/auth/forward`: a reverse proxy asks, for every request to an app
//! it guards, whether the visitor may pass (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `ForwardAuth`). This file maps the proxy's
//! headers in and the verdict out; `accounts::forward` describes the
//! request once and lets the access rules decide.
//!
//! Allowed: 200, with who it is in `Remote-User`, `Remote-Name`,
//! `Remote-User-Id`, `Remote-Groups` and, once the address is verified,
//! `Remote-Email`, for the proxy to pass to the app. A description that
//! cannot be read: 400, never "allowed". Signed out: 401; or, for a page
//! load to a host in `FORWARD_AUTH_HOSTS`, the way to the sign-in page
//! with the original URL in `rd` (a 302, or for nginx a 401 naming it).
//! Turned away by a rule: 403, or the sign-in page, which says why. As
//! fast as `GET /api/user` plus the description: a session look-up from
//! memory, no bcrypt, no write (but for a refusal's audit row).

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::common::{JustUser, just_user, signed_in};
use crate::api::doc::{Answer, Doc, ok};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::handler::Anyone;
use crate::api::schema::Describe;
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::forward::{ProxyHeaders, Target, describe};
use auth_core::auth::access::Decision;
use auth_core::support::text::percent_encode;
use auth_core::support::url::Url;

/// Whether the guarded request was a page load: a GET or HEAD a browser
/// made to show a page, whose `Accept` does not ask for JSON and which
/// carries no `X-Requested-With`. Anything else is an API call, answered
/// with JSON and never redirected (a script cannot follow a sign-in page).
fn page_load(cx: &Context) -> bool {
    let header = |name| cx.request.header(name).map(str::trim);
    let method_ok = header("x-forwarded-method")
        .is_none_or(|m| m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD"));
    let wants_json = header("accept").is_some_and(|a| a.contains("application/json"))
        || header("x-requested-with").is_some();
    method_ok && !wants_json
}

/// The headers the proxy describes the guarded request with.
fn proxy_headers() -> Value {
    let header = |name: &str| json!({ "name": name, "in": "header", "required": false, "schema": { "type": "string" } });
    let mut original = header("X-Original-URL");
    original["description"] = json!(
        "nginx: the whole original URL; a signed-out answer is then 401 with Location naming the sign-in page."
    );
    json!({ "parameters": [
        header("X-Forwarded-Proto"),
        header("X-Forwarded-Host"),
        header("X-Forwarded-Uri"),
        header("X-Forwarded-Method"),
        original,
    ] })
}

pub const CHECK: Doc = Doc {
    id: "forwardAuth",
    tag: "forward-auth",
    summary: "Forward auth: is the visitor signed in? (any method, body ignored)",
    description: "For nginx auth_request, Caddy forward_auth, Traefik ForwardAuth. The guarded request is described by X-Forwarded-Proto/-Host/-Uri (Caddy, Traefik) or, only when no X-Forwarded-Host or -Uri is sent, by X-Original-URL (nginx). Its path is normalised (percent-encoded unreserved characters decoded, dot segments removed, // collapsed, ;parameters dropped) before ACCESS_RULES_FILE decides; with a rules file every request is decided by the rules (no host described: only * rules match). Signed in and allowed: 200 with Remote-* headers. Signed out: 401, or 302 to LOGIN_URL?rd=… for a page load to a host in FORWARD_AUTH_HOSTS. A description that cannot be read (an encoded / or \\, NUL, a malformed escape, a path without a leading /, a bad host or proto) or two that disagree: 400 invalid_forwarded_request.",
    answers: &[
        Answer::Ok {
            status: 200,
            says: "Signed in.",
            data: Some(JustUser::describe),
            headers: &[
                "Remote-User",
                "Remote-Name",
                "Remote-Email",
                "Remote-User-Id",
                "Remote-Groups",
            ],
        },
        Answer::Refused {
            says: "Signed out, on a guarded host: to the sign-in page.",
            errors: &[ApiError::SignInFirst {
                location: String::new(),
            }],
            headers: &["Location"],
        },
        Answer::Refused {
            says: "The proxy's description of the request cannot be read, or X-Original-URL and X-Forwarded-* describe different requests (error.code invalid_forwarded_request). Never allowed.",
            errors: &[ApiError::UndescribedRequest],
            headers: &[],
        },
        Answer::Refused {
            says: "Signed out (with Location when X-Original-URL names a guarded host).",
            errors: &[ApiError::Unauthenticated],
            headers: &["Location"],
        },
        Answer::Refused {
            says: "Signed in, but the access rules do not let this user use the app, or want a second factor this session has not shown (error.code forbidden). A page load is sent to the sign-in page instead (302, or for nginx a 401 with Location).",
            errors: &[ApiError::Forbidden],
            headers: &[],
        },
    ],
    more: Some(proxy_headers),
    ..Doc::PLAIN
};

/// Parse, decide, answer: the headers in, the use case's verdict out.
pub fn check(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let header = |name| cx.request.header(name).map(str::trim);
    let headers = ProxyHeaders {
        proto: header("x-forwarded-proto"),
        host: header("x-forwarded-host"),
        uri: header("x-forwarded-uri"),
        original_url: header("x-original-url"),
    };
    let target = match describe(&headers) {
        Ok(target) => target,
        Err(why) => {
            app.accounts.log().line(
                "forward_auth_refused",
                &[("request_id", &cx.request_id), ("reason", &why.to_string())],
            );
            return Err(ApiError::UndescribedRequest);
        }
    };
    let me = match signed_in(app, cx) {
        Ok(me) if me.user.email_verified || !app.settings().require_verified_email => Some(me),
        Ok(_) | Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    let verdict = app
        .accounts
        .decide_forward(me.as_ref(), &target, &cx.client());
    let page_load = page_load(cx);
    match (verdict.decision, me) {
        (Decision::Allow { public: true }, _) => Ok(Reply::ok("ok")),
        (Decision::Allow { public: false }, Some(me)) => who(&me),
        (Decision::SignInFirst, _) | (Decision::Allow { .. }, None) => Err(to_sign_in(
            app,
            &target,
            page_load,
            ApiError::Unauthenticated,
        )),
        // Signed in but not allowed, or without the second factor the rule
        // wants: an API call hears 403; a page load goes to the sign-in
        // page, which says why (or asks for the code) from
        // `POST /api/auth/redirect`.
        (Decision::Forbidden | Decision::StepUp, _) => {
            Err(to_sign_in(app, &target, page_load, ApiError::Forbidden))
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
    // mailed to it) is asserted.
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
fn to_sign_in(app: &App, target: &Target, page_load: bool, otherwise: ApiError) -> ApiError {
    let Some(url) = target.url.as_ref().filter(|_| page_load) else {
        return otherwise;
    };
    if !url
        .authority
        .host
        .matches_any(&app.settings().forward_auth_hosts)
    {
        return otherwise;
    }
    let location = login_with_rd(app, url);
    if target.from_original_url {
        ApiError::SignInAt { location }
    } else {
        ApiError::SignInFirst { location }
    }
}

request_body! {
    pub struct RedirectRequest {
        pub redirect: String,
    }
}

/// What `POST /api/auth/redirect` answers: `redirect` and `access`
/// always, `groups` only for a groups rule's refusal.
#[derive(Serialize)]
pub struct RedirectCheck {
    pub redirect: Option<String>,
    pub access: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl Describe for RedirectCheck {
    fn describe() -> Value {
        json!({
            "type": "object",
            "required": ["redirect", "access"],
            "properties": {
                "redirect": { "type": ["string", "null"] },
                "access": {
                    "type": ["string", "null"],
                    "enum": ["allowed", "forbidden", "step_up", "signed_out", null],
                    "description": "What the access rules say about the visitor and the approved URL; null when the URL is not approved.",
                },
                "groups": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": "When access is forbidden by a groups= rule: the groups it names (\"this app is for admins\").",
                },
            },
        })
    }
}

pub const CHECK_REDIRECT: Doc = Doc {
    id: "checkRedirect",
    tag: "forward-auth",
    summary: "Whether the sign-in may send a browser to a URL",
    answers: &[ok(
        200,
        "data.redirect: the URL if approved, else null; data.access: what the access rules say about it.",
        Some(RedirectCheck::describe),
    )],
    ..Doc::PLAIN
};

/// `POST /api/auth/redirect` `{"redirect"}`: `data.redirect` is the URL if
/// the sign-in may send a browser there, else `null`; the same check a
/// login with `redirect` makes, for a page whose visitor is already signed
/// in. With it, `data.access`: what the access rules say about the visitor
/// and that URL (`allowed`, `forbidden`, `step_up` or `signed_out`; `null`
/// when the URL is not approved), so the sign-in page can say why it was
/// shown.
pub fn check_redirect(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<RedirectRequest>,
) -> Result<Reply, ApiError> {
    let RedirectRequest { redirect } = body.read()?;
    let approved = app.accounts.approved_redirect(&redirect);
    let me = match signed_in(app, cx) {
        Ok(me) => Some(me),
        Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    let mut data = RedirectCheck {
        redirect: approved.clone(),
        access: None,
        groups: None,
    };
    // What the gate would decide for it (nothing, for a path the gate
    // would refuse to describe).
    let parsed = approved.as_deref().and_then(|url| Url::parse(url).ok());
    let described = parsed.and_then(|url| {
        let path = url.normalized_path().ok()?;
        Some((url.authority.host.key(), path))
    });
    if let Some((host, path)) = described {
        let verdict = app.accounts.decide(me.as_ref(), Some(&host), &path);
        data.access = Some(match verdict.decision {
            Decision::Allow { .. } => "allowed",
            Decision::SignInFirst => "signed_out",
            Decision::StepUp => "step_up",
            Decision::Forbidden => "forbidden",
        });
        // For "this app is for admins": the groups a rule names are no
        // secret to someone it turned away; usernames are.
        data.groups = app.accounts.rule_groups(Some(&host), &path);
    }
    Reply::ok("ok").with_data(data)
}

/// `LOGIN_URL` with `rd` = the percent-encoded original URL. A `LOGIN_URL`
/// that is a path (the sign-in page on the guarded host itself, under the
/// proxy) is made absolute on the original URL's origin: nginx follows only
/// an absolute URL as a redirect, and treats a path as an internal one.
fn login_with_rd(app: &App, original: &Url) -> String {
    let login = &app.settings().login_url;
    let separator = if login.contains('?') { '&' } else { '?' };
    let origin = if login.starts_with('/') {
        format!("{}://{}", original.scheme.as_str(), original.authority)
    } else {
        String::new()
    };
    format!(
        "{origin}{login}{separator}rd={}",
        percent_encode(&original.to_string())
    )
}
