//! Signing in through upstream OpenID providers (`accounts::upstream`):
//! the browser's two navigations (`GET /auth/upstream/{name}` to the
//! provider, and its callback back), the code step for an account with
//! two-factor login, the sign-in page's buttons, and the account page's
//! connected sign-ins. The HTTPS client the flow fetches with is
//! [`Outbound`].

use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::common::{redirect, signed_in_reply, too_many, with_query};
use crate::api::cookies;
use crate::api::doc::{Answer, BUSY, Doc, THROTTLED, ok, ok_with_cookie, refusal};
use crate::api::error::ApiError;
use crate::api::fields::{Body, request_body};
use crate::api::handler::{Anyone, Fresh};
use crate::api::schema::{Describe, reply_body};
use crate::http::client::{Client as HttpClient, Target};
use auth_core::accounts::check::{self, SignedIn};
use auth_core::accounts::upstream::{
    self, Callback, CodeOutcome, Disconnected, Fetch, Finished, PROOF_COOKIE, PROOF_TTL_SECS,
    Refusal, STATE_COOKIE, STATE_TTL_SECS, StartRequest,
};
use auth_core::support::clock;
use auth_core::support::form;
use auth_core::support::url::{Host, Scheme, Url};

/// The flow's way to the network: the server's HTTPS client.
pub struct Outbound(pub HttpClient);

impl Fetch for Outbound {
    fn fetch(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let host = match &url.authority.host {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        let path = if url.path.is_empty() {
            "/"
        } else {
            url.path.as_str()
        };
        let path_and_query = match &url.query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        };
        let target = Target {
            https: url.scheme == Scheme::Https,
            host: &host,
            port: url.port(),
            path_and_query: &path_and_query,
        };
        self.0
            .send(method, target, headers, body)
            .map(|reply| (reply.status, reply.body))
            .map_err(|error| error.to_string())
    }
}

/// The largest sealed cookie read back (a state with a long `rd`).
const MAX_COOKIE_BYTES: usize = 4096;

request_body! {
    pub struct UpstreamCodeRequest {
        /// The six digits the authenticator app shows now.
        pub code: String,
    }
}

reply_body! {
    pub struct UpstreamButton {
        pub name: String,
        /// The button's words ("Sign in with Example").
        pub label: String,
        /// Where the button goes (add `rd` to come back).
        pub url: String,
    }
}

reply_body! {
    pub struct UpstreamButtons {
        pub providers: Vec<UpstreamButton>,
    }
}

reply_body! {
    pub struct ConnectedSignIn {
        pub name: String,
        pub label: String,
        pub connected: bool,
        /// The address the provider gave when connected.
        pub email: Option<String>,
        pub connected_at: Option<String> = {"format": "date-time"},
        pub last_used_at: Option<String> = {"format": "date-time"},
    }
}

reply_body! {
    pub struct ConnectedSignIns {
        pub providers: Vec<ConnectedSignIn>,
    }
}

reply_body! {
    pub struct ConnectStart {
        /// Where to send the browser: the provider's sign-in.
        pub location: String,
    }
}

const NAVIGATION: &[Answer] = &[Answer::Other {
    status: 302,
    says: "To the provider's authorization endpoint (state, nonce, PKCE S256), with the sealed state cookie (upstream_state; HttpOnly; SameSite=Lax; ten minutes); or, when the provider is unknown or unreachable, to the sign-in page with upstream_error.",
    content: None,
    headers: &["Location", "Set-Cookie"],
}];

pub const START: Doc = Doc {
    id: "upstreamStart",
    tag: "sign-in page",
    summary: "Sign in through an upstream OpenID provider: off to the provider",
    description: "A navigation (the sign-in page's button). rd: where to go after, if the open-redirect check approves it; invite: an invitation, for a new account when REGISTRATION=invite.",
    answers: NAVIGATION,
    more: Some(|| parameters(&["rd", "invite"])),
    ..Doc::PLAIN
};

pub const CALLBACK: Doc = Doc {
    id: "upstreamCallback",
    tag: "sign-in page",
    summary: "Where the provider sends the browser back",
    description: "Checks the state against the cookie (single use), iss (RFC 9207), exchanges the code (client_secret_basic, PKCE), verifies the ID token (RS256 or ES256 from the provider's keys; iss, aud, azp, exp, iat, nonce), and finds the account by its link, or links one by a verified address, or makes one, as the provider allows.",
    answers: &[Answer::Other {
        status: 302,
        says: "Signed in: to rd (or the account page) with the session cookie. Two-factor login on: to the sign-in page (upstream_code=NAME) with the proof cookie, to ask for the code. Connected: to the account page (connected=NAME). Refused: to the sign-in page (or the account page, when connecting) with upstream_error, one of unknown_provider, unavailable, state, cancelled, rejected, no_account, email_unverified, domain, registration_closed, email_taken, disabled, email_not_verified, linked_elsewhere, not_signed_in.",
        content: None,
        headers: &["Location", "Set-Cookie"],
    }],
    more: Some(|| parameters(&["code", "state", "iss", "error", "error_description"])),
    ..Doc::PLAIN
};

pub const CODE: Doc = Doc {
    id: "upstreamCode",
    tag: "authentication",
    summary: "The authenticator app's code after a provider vouched for the person",
    description: "For an account with two-factor login: the provider's proof rides in the upstream_proof cookie (five minutes); a right code opens the session as upstream:NAME+totp.",
    answers: &[
        ok_with_cookie(
            200,
            "Signed in; redirect is where to go next.",
            Some(crate::api::common::SignedInJson::describe),
        ),
        refusal("A wrong code.", &[ApiError::InvalidTotp]),
        refusal(
            "No proof, or a stale or used one: sign in through the provider again.",
            &[ApiError::Unauthenticated],
        ),
        refusal("Too many wrong codes.", &[THROTTLED]),
    ],
    ..Doc::PLAIN
};

pub const BUTTONS: Doc = Doc {
    id: "upstreamList",
    tag: "authentication",
    summary: "The upstream providers one may sign in through (the sign-in page's buttons)",
    answers: &[ok(
        200,
        "The providers, by name; none without PUBLIC_URL.",
        Some(UpstreamButtons::describe),
    )],
    ..Doc::PLAIN
};

pub const CONNECTED: Doc = Doc {
    id: "connectedSignIns",
    tag: "account",
    summary: "The providers, and which are connected to this account",
    answers: &[ok(
        200,
        "Every provider, connected or not.",
        Some(ConnectedSignIns::describe),
    )],
    ..Doc::PLAIN
};

pub const CONNECT: Doc = Doc {
    id: "connectSignIn",
    tag: "account",
    summary: "Start connecting a provider to this account",
    description: "Needs a fresh proof (it adds a way in). The answer's location is the provider's sign-in; its callback links the identity to this account.",
    answers: &[
        ok_with_cookie(200, "Go to location.", Some(ConnectStart::describe)),
        refusal("No such provider.", &[ApiError::NotFound]),
        refusal(
            "The provider cannot be reached now (Retry-After: 30).",
            BUSY,
        ),
    ],
    more: Some(|| parameters(&[])),
    ..Doc::PLAIN
};

pub const DISCONNECT: Doc = Doc {
    id: "disconnectSignIn",
    tag: "account",
    summary: "Disconnect a provider from this account",
    answers: &[
        ok(200, "Disconnected.", None),
        refusal("Not connected.", &[ApiError::NotFound]),
        refusal(
            "It is the account's last way in: set a password or add a passkey first (conflict).",
            &[ApiError::Conflict("")],
        ),
    ],
    more: Some(|| parameters(&[])),
    ..Doc::PLAIN
};

/// The provider's name in the path, and the query parameters `names`.
fn parameters(names: &[&str]) -> Value {
    let provider = json!({
        "name": "name", "in": "path", "required": true,
        "description": "The provider's name, as `admin upstream add` gave it.",
        "schema": { "type": "string" },
    });
    let query = names
        .iter()
        .map(|name| json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } }));
    json!({ "parameters": std::iter::once(provider).chain(query).collect::<Vec<_>>() })
}

/// `PUBLIC_URL` and its path: where the pages and callbacks live.
fn public(app: &App) -> Option<(String, String)> {
    let base = app.settings().public_url.clone()?;
    let path = Url::parse(&base)
        .ok()?
        .path
        .trim_end_matches('/')
        .to_string();
    Some((base.trim_end_matches('/').to_string(), path))
}

/// The request's query as a map (an unreadable one is empty).
fn query(cx: &Context) -> std::collections::BTreeMap<String, String> {
    form::parse(cx.request.query.as_deref().unwrap_or("")).unwrap_or_default()
}

/// Back to the sign-in page (or the account page), saying why.
fn refused_to(app: &App, page: &str, refusal: &Refusal, rd: Option<&str>) -> Reply {
    let base = public(app).map(|(base, _)| base).unwrap_or_default();
    let mut params = vec![("upstream_error", refusal.code())];
    if let Some(rd) = rd {
        params.push(("rd", rd));
    }
    redirect(with_query(&format!("{base}/{page}"), &params))
}

/// `GET /auth/upstream/{name}`: off to the provider.
pub fn start(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let name = cx.parameter.unwrap_or("");
    let query = query(cx);
    let rd = query.get("rd").map(String::as_str);
    let request = StartRequest {
        name,
        rd,
        invite: query.get("invite").map(String::as_str),
        connect: None,
    };
    let Some((_, path)) = public(app) else {
        return Ok(refused_to(app, "login", &Refusal::UnknownProvider, rd));
    };
    match upstream::start(&app.accounts, &request, &cx.client())? {
        Ok(started) => Ok(redirect(started.location).with_cookie(app.cookies.scoped(
            STATE_COOKIE,
            &started.cookie,
            &format!("{path}/auth/upstream"),
            STATE_TTL_SECS,
        ))),
        Err(refusal) => {
            log_refusal(app, cx, name, &refusal);
            Ok(refused_to(app, "login", &refusal, rd))
        }
    }
}

fn log_refusal(app: &App, cx: &Context, name: &str, refusal: &Refusal) {
    app.accounts.log().line(
        "upstream_unavailable",
        &[
            ("request_id", &cx.request_id),
            ("upstream", &name),
            ("refused", &refusal.code()),
            ("why", &refusal.detail()),
        ],
    );
}

/// `GET /auth/upstream/{name}/callback`: the provider's answer.
pub fn callback(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let name = cx.parameter.unwrap_or("");
    let query = query(cx);
    let get = |key: &str| query.get(key).map(String::as_str);
    let cookie = cookies::named(cx.request, STATE_COOKIE, MAX_COOKIE_BYTES);
    let previous = cookies::session_tokens(cx.request);
    let me = check::signed_in(&app.accounts, previous.clone(), cx.now)?;
    let Some((base, path)) = public(app) else {
        return Ok(refused_to(app, "login", &Refusal::UnknownProvider, None));
    };
    let connecting = me.is_some();
    let callback = Callback {
        name,
        code: get("code"),
        state: get("state"),
        iss: get("iss"),
        error: get("error"),
        cookie: cookie.as_deref(),
        signed_in: me.as_ref(),
        previous,
    };
    Ok(
        match upstream::finish(&app.accounts, callback, &cx.client())? {
            Ok(Finished::SignedIn {
                token, session, rd, ..
            }) => {
                let to = rd.unwrap_or_else(|| format!("{base}/account"));
                redirect(to).with_cookie(crate::api::common::session_cookie(
                    app, &token, &session, cx.now,
                ))
            }
            Ok(Finished::CodeNeeded { proof, rd }) => {
                let mut params = vec![("upstream_code", name)];
                if let Some(rd) = rd.as_deref() {
                    params.push(("rd", rd));
                }
                redirect(with_query(&format!("{base}/login"), &params)).with_cookie(
                    app.cookies.scoped(
                        PROOF_COOKIE,
                        &proof,
                        &format!("{path}/api/login/upstream"),
                        PROOF_TTL_SECS,
                    ),
                )
            }
            Ok(Finished::Connected { upstream }) => redirect(with_query(
                &format!("{base}/account"),
                &[("connected", &upstream)],
            )),
            // A signed-in browser that asked to connect hears of it on the
            // account page; any other refusal on the sign-in page.
            Err(refusal @ (Refusal::LinkedElsewhere | Refusal::NotSignedIn)) => {
                refused_to(app, "account", &refusal, None)
            }
            Err(refusal) if connecting && refusal != Refusal::State => {
                refused_to(app, "account", &refusal, None)
            }
            Err(refusal) => refused_to(app, "login", &refusal, None),
        },
    )
}

/// `POST /api/login/upstream`: the app's code after a provider's proof.
pub fn code(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<UpstreamCodeRequest>,
) -> Result<Reply, ApiError> {
    let UpstreamCodeRequest { code } = body.read()?;
    let proof = cookies::named(cx.request, PROOF_COOKIE, MAX_COOKIE_BYTES);
    let previous = cookies::session_tokens(cx.request);
    match upstream::finish_code(
        &app.accounts,
        proof.as_deref(),
        &code,
        previous,
        &cx.client(),
    )? {
        CodeOutcome::SignedIn {
            user,
            token,
            session,
            rd,
        } => signed_in_reply(
            app,
            cx,
            &user,
            None,
            Some(rd.unwrap_or_default()),
            (&token, &session),
        ),
        CodeOutcome::NoProof => Err(ApiError::Unauthenticated),
        CodeOutcome::WrongCode => Err(ApiError::InvalidTotp),
        CodeOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
    }
}

/// `GET /api/upstreams`: the sign-in page's buttons.
pub fn buttons(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let base = public(app).map(|(base, _)| base).unwrap_or_default();
    let providers = upstream::buttons(&app.accounts)?
        .into_iter()
        .map(|(name, label)| UpstreamButton {
            url: format!("{base}/auth/upstream/{name}"),
            name,
            label,
        })
        .collect();
    Reply::ok("ok").with_data(UpstreamButtons { providers })
}

/// `GET /api/user/upstreams`: every provider, and which are connected.
pub fn connected(app: &App, _: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let links = upstream::links(&app.accounts, me.user.id)?;
    let time = |at: Option<i64>| at.map(clock::rfc3339);
    let providers = upstream::buttons(&app.accounts)?
        .into_iter()
        .map(|(name, label)| {
            let link = links.iter().find(|l| l.upstream == name);
            ConnectedSignIn {
                connected: link.is_some(),
                email: link.and_then(|l| l.email.clone()),
                connected_at: time(link.map(|l| l.created_at)),
                last_used_at: time(link.and_then(|l| l.last_used_at)),
                name,
                label,
            }
        })
        .collect();
    Reply::ok("ok").with_data(ConnectedSignIns { providers })
}

/// `POST /api/user/upstreams/{name}`: start connecting a provider.
pub fn connect(app: &App, cx: &Context, me: Fresh) -> Result<Reply, ApiError> {
    let name = cx.parameter.unwrap_or("");
    let Some((_, path)) = public(app) else {
        return Err(ApiError::NotFound);
    };
    let request = StartRequest {
        name,
        rd: None,
        invite: None,
        connect: Some(&me.0.user),
    };
    match upstream::start(&app.accounts, &request, &cx.client())? {
        Ok(started) => Ok(Reply::ok("Go to the provider.")
            .with_data(ConnectStart {
                location: started.location,
            })?
            .with_cookie(app.cookies.scoped(
                STATE_COOKIE,
                &started.cookie,
                &format!("{path}/auth/upstream"),
                STATE_TTL_SECS,
            ))),
        Err(Refusal::UnknownProvider) => Err(ApiError::NotFound),
        Err(refusal) => Err(ApiError::ServiceUnavailable {
            retry_after_secs: 30,
            cause: format!("upstream {name}: {}", refusal.detail()),
        }),
    }
}

/// `DELETE /api/user/upstreams/{name}`.
pub fn disconnect(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let name = cx.parameter.unwrap_or("");
    match upstream::disconnect(&app.accounts, &me.user, name, &cx.client())? {
        Disconnected::Done => Ok(Reply::ok("Disconnected.")),
        Disconnected::NotConnected => Err(ApiError::NotFound),
        Disconnected::LastWayIn => Err(ApiError::Conflict(
            "This is the account's only way in: set a password or add a passkey first.",
        )),
    }
}
