//! OpenID Connect, the provider's endpoints (`accounts::oidc` tells the
//! story): discovery, the keys, authorize, token, userinfo, revoke and
//! logout. They speak OAuth's own formats, not this API's envelope: form
//! bodies in, `{"error", "error_description"}` out (RFC 6749 §5.2), and
//! redirects and small pages for the browser.

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::app::{App, Context, Document, Reply};
use crate::api::common::{redirect, signed_in, with_query};
use crate::api::cookies;
use crate::api::doc::{Answer, Doc, refusal};
use crate::api::error::ApiError;
use crate::api::handler::Anyone;
use crate::api::pages::PAGE_POLICY;
use crate::api::schema::{Describe, reference, reply_body};
use auth_core::accounts::oidc::{
    self, AuthorizationRequest, AuthorizeOutcome, BadClient, ClientCredentials, OAuthError, Params,
    TokenOutcome, TokenRequest,
};
use auth_core::support::base64;
use auth_core::support::form;
use auth_core::support::text::{html_escape, percent_encode};

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core
/// §3.1.3.3).
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl Describe for TokenResponse {
    fn describe() -> Value {
        reference("TokenResponse")
    }
    fn component() -> Option<(&'static str, Value)> {
        Some((
            "TokenResponse",
            json!({
                "type": "object",
                "required": ["access_token", "token_type", "expires_in", "id_token", "scope"],
                "properties": {
                    "access_token": { "type": "string" },
                    "token_type": { "const": "Bearer" },
                    "expires_in": { "type": "integer" },
                    "id_token": { "type": "string", "description": "A JWS (RS256 or ES256, kid in the header)." },
                    "refresh_token": { "type": "string", "description": "With offline_access; rotated on every use." },
                    "scope": { "type": "string" },
                },
            }),
        ))
    }
}

reply_body! {
    /// An OAuth error body (RFC 6749 §5.2).
    pub struct OAuthErrorJson<'a> as "OAuthError" {
        pub error: &'a str,
        pub error_description: &'a str,
    }
}

/// The forms and queries OAuth's endpoints read, for openapi.json.
pub fn form_schemas() -> Vec<(&'static str, Value)> {
    let strings = |names: &[&str]| -> Value {
        names
            .iter()
            .map(|name| (name.to_string(), json!({ "type": "string" })))
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    vec![
        (
            "AuthorizeParameters",
            json!({
                "type": "object",
                "description": "OpenID Connect Core §3.1.2.1; each parameter once.",
                "properties": strings(&["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt"]),
            }),
        ),
        (
            "TokenRequest",
            json!({
                "type": "object",
                "description": "RFC 6749 §4.1.3 and §6; client credentials in Authorization: Basic, or client_id (+ client_secret) here.",
                "required": ["grant_type"],
                "properties": strings(&["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret"]),
            }),
        ),
        (
            "RevokeRequest",
            json!({
                "type": "object",
                "required": ["token"],
                "properties": strings(&["token", "token_type_hint", "client_id", "client_secret"]),
            }),
        ),
        (
            "LogoutParameters",
            json!({
                "type": "object",
                "properties": strings(&["id_token_hint", "post_logout_redirect_uri", "state", "client_id"]),
            }),
        ),
    ]
}

/// A form body of a schema of [`form_schemas`].
fn form_body(name: &str, required: bool) -> Value {
    json!({ "requestBody": {
        "required": required,
        "content": { "application/x-www-form-urlencoded": { "schema": reference(name) } },
    } })
}

/// Query parameters, all strings but those given.
fn query(names: &[&str], special: Value) -> Value {
    let parameters: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut parameter = json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } });
            if let (Some(Value::Object(more)), Some(parameter)) =
                (special.get(name), parameter.as_object_mut())
            {
                parameter.extend(more.clone());
            }
            parameter
        })
        .collect();
    json!({ "parameters": parameters })
}

fn html() -> Value {
    json!({ "type": "string" })
}

const HTML: &str = "text/html; charset=utf-8";

/// Without `PUBLIC_URL` there is no provider.
const NO_PROVIDER: Answer = refusal("No provider: PUBLIC_URL is not set.", &[ApiError::NotFound]);

const fn oauth_json(
    status: u16,
    says: &'static str,
    schema: fn() -> Value,
    headers: &'static [&'static str],
) -> Answer {
    Answer::Other {
        status,
        says,
        content: Some(("application/json", schema)),
        headers,
    }
}

fn oauth_error_schema() -> Value {
    reference("OAuthError")
}

pub const DISCOVERY: Doc = Doc {
    id: "oidcDiscovery",
    tag: "openid-connect",
    summary: "OpenID Connect Discovery 1.0 metadata",
    answers: &[
        oauth_json(
            200,
            "The provider's metadata; issuer = PUBLIC_URL.",
            || json!({ "type": "object", "required": ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"] }),
            &[],
        ),
        NO_PROVIDER,
    ],
    ..Doc::PLAIN
};

pub const JWKS: Doc = Doc {
    id: "oidcJwks",
    tag: "openid-connect",
    summary: "The public signing keys (RFC 7517), rotated ones for a day after",
    answers: &[
        oauth_json(
            200,
            "The key set.",
            || json!({ "type": "object", "required": ["keys"], "properties": { "keys": { "type": "array", "items": { "type": "object" } } } }),
            &[],
        ),
        NO_PROVIDER,
    ],
    ..Doc::PLAIN
};

const AUTHORIZE_SAYS: &str = "An unconfirmed address is signed out here when REQUIRE_VERIFIED_EMAIL is on. The client's --allowed-group and an access rule matching the redirect URI (a * rule included) decide; they are asked again at every refresh and userinfo call.";

const AUTHORIZE_ANSWERS: &[Answer] = &[
    Answer::Other {
        status: 302,
        says: "To redirect_uri with code, state and iss (RFC 9207), or with error (access_denied, login_required, invalid_request, invalid_scope, unsupported_response_type); or, signed out, to the sign-in page with rd back to this request.",
        content: None,
        headers: &["Location"],
    },
    Answer::Other {
        status: 400,
        says: "An unknown client or an unregistered redirect_uri (never redirected to), or unreadable parameters: a page saying so.",
        content: Some((HTML, html)),
        headers: &[],
    },
    NO_PROVIDER,
];

pub const AUTHORIZE_GET: Doc = Doc {
    id: "oidcAuthorizeGet",
    tag: "openid-connect",
    summary: "Authorization request (code flow)",
    description: AUTHORIZE_SAYS,
    answers: AUTHORIZE_ANSWERS,
    more: Some(|| {
        query(
            &[
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
                "prompt",
                "max_age",
            ],
            json!({
                "prompt": { "description": "none: never show a page (signed out or too old: error=login_required); with any other value: invalid_request. login: sign in again, even when signed in (the sign-in page shows its form). consent and select_account are accepted and do nothing (no consent screen)." },
                "max_age": { "description": "Seconds: a sign-in older than this is asked again (0 is prompt=login). The ID token always carries auth_time.", "schema": { "type": "integer", "minimum": 0 } },
            }),
        )
    }),
    ..Doc::PLAIN
};

pub const AUTHORIZE_POST: Doc = Doc {
    id: "oidcAuthorizePost",
    tag: "openid-connect",
    summary: "Authorization request as a form post",
    description: AUTHORIZE_SAYS,
    answers: AUTHORIZE_ANSWERS,
    more: Some(|| form_body("AuthorizeParameters", false)),
    ..Doc::PLAIN
};

pub const TOKEN: Doc = Doc {
    id: "oidcToken",
    tag: "openid-connect",
    summary: "Exchange a code, or a refresh token, for tokens",
    description: "Refresh: invalid_grant when the family is older than OIDC_REFRESH_MAX_DAYS, or the client's groups or the access rules no longer let the account in. A code or refresh token used twice revokes its family.",
    answers: &[
        oauth_json(
            200,
            "Tokens; Cache-Control: no-store.",
            TokenResponse::describe,
            &["Pragma"],
        ),
        oauth_json(
            400,
            "invalid_request, invalid_grant (unknown, expired, used, another client's, wrong redirect_uri or code_verifier, account changed), unsupported_grant_type.",
            oauth_error_schema,
            &[],
        ),
        oauth_json(
            401,
            "invalid_client, with WWW-Authenticate: Basic.",
            oauth_error_schema,
            &["WWW-Authenticate"],
        ),
        NO_PROVIDER,
    ],
    more: Some(|| form_body("TokenRequest", true)),
    ..Doc::PLAIN
};

const USERINFO_ANSWERS: &[Answer] = &[
    oauth_json(
        200,
        "The claims of the token's scopes: sub, and preferred_username, name, email (verified only), email_verified, groups.",
        || json!({ "type": "object", "required": ["sub"] }),
        &[],
    ),
    oauth_json(
        401,
        "No, an unknown, expired or revoked token: WWW-Authenticate: Bearer error=\"invalid_token\".",
        oauth_error_schema,
        &["WWW-Authenticate"],
    ),
    NO_PROVIDER,
];

pub const USERINFO_GET: Doc = Doc {
    id: "oidcUserinfoGet",
    tag: "openid-connect",
    summary: "The signed-in user's claims (Bearer access token)",
    description: "401 also when the client's groups or the access rules no longer let the account in.",
    answers: USERINFO_ANSWERS,
    ..Doc::PLAIN
};

pub const USERINFO_POST: Doc = Doc {
    id: "oidcUserinfoPost",
    tag: "openid-connect",
    summary: "The same, by POST",
    description: "401 also when the client's groups or the access rules no longer let the account in.",
    answers: USERINFO_ANSWERS,
    ..Doc::PLAIN
};

pub const REVOKE: Doc = Doc {
    id: "oidcRevoke",
    tag: "openid-connect",
    summary: "Revoke an access or refresh token and its family (RFC 7009)",
    answers: &[
        oauth_json(
            200,
            "Revoked, or there was no such token (the same answer).",
            || json!({ "type": "object" }),
            &[],
        ),
        oauth_json(400, "No token.", oauth_error_schema, &[]),
        oauth_json(
            401,
            "invalid_client.",
            oauth_error_schema,
            &["WWW-Authenticate"],
        ),
        NO_PROVIDER,
    ],
    more: Some(|| form_body("RevokeRequest", true)),
    ..Doc::PLAIN
};

const LOGOUT_SAYS: &str = "RP-initiated logout: the session ends without asking only when id_token_hint is the signed-in account's own ID token (its sub) for a client whose redirect URIs include post_logout_redirect_uri; otherwise a 'Sign out of SITE_NAME?' page asks (a POST from it signs out).";

const LOGOUT_ANSWERS: &[Answer] = &[
    Answer::Other {
        status: 200,
        says: "Without a valid id_token_hint and one of that app's redirect URIs: a page that asks (GET), or says the session ended (POST).",
        content: Some((HTML, html)),
        headers: &[],
    },
    Answer::Other {
        status: 302,
        says: "With them: the session ends and the browser goes to post_logout_redirect_uri (with state).",
        content: None,
        headers: &["Location"],
    },
    Answer::Other {
        status: 400,
        says: "Unreadable parameters.",
        content: Some((HTML, html)),
        headers: &[],
    },
];

pub const LOGOUT_GET: Doc = Doc {
    id: "oidcLogoutGet",
    tag: "openid-connect",
    summary: "RP-initiated logout",
    description: LOGOUT_SAYS,
    answers: LOGOUT_ANSWERS,
    more: Some(|| {
        query(
            &[
                "id_token_hint",
                "post_logout_redirect_uri",
                "state",
                "client_id",
            ],
            json!({}),
        )
    }),
    ..Doc::PLAIN
};

pub const LOGOUT_POST: Doc = Doc {
    id: "oidcLogoutPost",
    tag: "openid-connect",
    summary: "RP-initiated logout, confirmed",
    description: LOGOUT_SAYS,
    answers: LOGOUT_ANSWERS,
    more: Some(|| form_body("LogoutParameters", false)),
    ..Doc::PLAIN
};

/// A JSON document outside the envelope, with `status`.
fn json_document(status: u16, body: &impl Serialize) -> Reply {
    Reply::document(Document {
        content_type: "application/json",
        body: serde_json::to_vec(body).unwrap_or_default(),
        content_security_policy: None,
    })
    .with_status(status)
}

/// An OAuth error as the token, revocation and userinfo endpoints answer
/// it (RFC 6749 §5.2, RFC 6750 §3.1): its status, and for a client or a
/// token that did not prove itself, the scheme to use.
fn oauth_error(error: OAuthError) -> Reply {
    let status = match error {
        OAuthError::InvalidClient | OAuthError::InvalidToken => 401,
        _ => 400,
    };
    let reply = json_document(
        status,
        &OAuthErrorJson {
            error: error.code(),
            error_description: error.description(),
        },
    );
    match error {
        OAuthError::InvalidClient => {
            reply.with_header("WWW-Authenticate", "Basic realm=\"auth-server\"".into())
        }
        OAuthError::InvalidToken => {
            reply.with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"".into())
        }
        _ => reply,
    }
}

/// `redirect_uri` with `params` added to its query.
/// What the page says to a browser whose app cannot be answered.
fn bad_client_words(why: BadClient) -> &'static str {
    match why {
        BadClient::NoClient => "The request names no client.",
        BadClient::UnknownClient => "This app is not registered here.",
        BadClient::UnregisteredRedirect => {
            "This app asked to be sent to an address not registered for it."
        }
    }
}

/// A small page in the sign-in page's style.
fn page(app: &App, status: u16, title: &str, body: &str) -> Reply {
    let site = html_escape(&app.settings().site_name);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · {site}</title>\n<link rel=\"stylesheet\" href=\"../login.css\">\n</head>\n\
         <body>\n<main class=\"card\">\n<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    );
    Reply::document(Document {
        content_type: "text/html; charset=utf-8",
        body: html.into_bytes(),
        content_security_policy: Some(PAGE_POLICY),
    })
    .with_status(status)
}

/// The issuer: `PUBLIC_URL`, without which there is no provider.
fn issuer(app: &App) -> Result<&str, ApiError> {
    app.settings()
        .public_url
        .as_deref()
        .ok_or(ApiError::NotFound)
}

/// OpenID Connect Discovery 1.0 §3: exactly what is implemented.
pub fn discovery(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let issuer = issuer(app)?;
    Ok(json_document(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/oauth2/jwks"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": oidc::SCOPES,
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr",
                "azp", "preferred_username", "name", "email", "email_verified", "groups"],
            "subject_types_supported": ["public"],
            "authorization_response_iss_parameter_supported": true,
        }),
    ))
}

pub fn jwks(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    issuer(app)?;
    let keys: Vec<Value> = oidc::keys(&app.accounts, cx.now)?
        .iter()
        .map(|(key, _)| key.jwk())
        .collect();
    Ok(json_document(200, &json!({ "keys": keys })))
}

/// The parameters of a request: the query of a GET, the form of a POST.
fn params(cx: &Context) -> Option<Params> {
    if cx.request.method == "POST" {
        form::parse(std::str::from_utf8(&cx.request.body).ok()?)
    } else {
        form::parse(cx.request.query.as_deref().unwrap_or(""))
    }
}

pub fn authorize(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let issuer = issuer(app)?.to_string();
    let Some(params) = params(cx) else {
        return Ok(page(
            app,
            400,
            "This sign-in link is broken",
            "<p>The app sent a request this server cannot read (a parameter twice, or bad encoding). Go back to the app and try again.</p>",
        ));
    };
    // Signed out is an answer; a storage failure is not. An unconfirmed
    // address, when REQUIRE_VERIFIED_EMAIL, is signed out here as in
    // forward auth: the sign-in page says why.
    let me = match signed_in(app, cx) {
        Ok(me) if me.user.email_verified || !app.settings().require_verified_email => Some(me),
        Ok(_) | Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    let request = AuthorizationRequest::read(&params);
    match oidc::authorize(&app.accounts, &request, me.as_ref(), &cx.client())? {
        AuthorizeOutcome::Answer {
            redirect_uri,
            state,
            issuer,
            result,
        } => {
            let mut query: Vec<(&str, &str)> = match &result {
                Ok(code) => vec![("code", code)],
                Err(error) => vec![
                    ("error", error.code()),
                    ("error_description", error.description()),
                ],
            };
            if let Some(state) = &state {
                query.push(("state", state));
            }
            query.push(("iss", &issuer));
            Ok(redirect(with_query(&redirect_uri, &query)))
        }
        AuthorizeOutcome::BadClient(why) => {
            let why = bad_client_words(why);
            // The page stays generic; the operator's log says which client
            // and which address were asked for, to set the app up right.
            let asked = |name: &str| params.get(name).map(String::as_str);
            app.accounts.log().line(
                "oidc_authorize_refused",
                &[
                    ("request_id", &cx.request_id),
                    ("client_id", &asked("client_id")),
                    ("redirect_uri", &asked("redirect_uri")),
                    ("reason", &why),
                ],
            );
            Ok(page(
                app,
                400,
                "This app cannot sign you in here",
                &format!(
                    "<p>{}</p><p>Tell the app's operator; it must be registered with <code>auth-server admin oidc-client add</code>.</p>",
                    html_escape(why)
                ),
            ))
        }
        AuthorizeOutcome::SignIn { again } => {
            // Back to this very request (as a GET) once signed in. The
            // sign-in made there is new, so prompt and max_age (which may
            // have asked for it) are done with; `reauth_from` names the
            // session that was too old, so only another one goes on.
            let mut query: Vec<String> = params
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "prompt" | "max_age" | "reauth_from"))
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            if let Some(session) = &again {
                query.push(format!("reauth_from={session}"));
            }
            let back = format!("{issuer}/oauth2/authorize?{}", query.join("&"));
            // `prompt=login`: the sign-in page shows its form even to a
            // browser that is signed in.
            let form = if again.is_some() { "&prompt=login" } else { "" };
            Ok(redirect(format!(
                "{issuer}/login?rd={}{form}",
                percent_encode(&back)
            )))
        }
    }
}

/// The client's credentials: `client_secret_basic` (RFC 6749 §2.3.1, each
/// part form-encoded inside the Basic header), `client_secret_post`, or a
/// public client's bare `client_id`; both ways at once is refused.
fn credentials(cx: &Context, params: &Params) -> Option<ClientCredentials> {
    let basic = cx
        .request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .map(|encoded| {
            let decoded = base64::decode(encoded.trim())?;
            let text = String::from_utf8(decoded).ok()?;
            let (id, secret) = text.split_once(':')?;
            let pairs = form::parse(&format!("i={id}&s={secret}"))?;
            Some((pairs.get("i")?.clone(), pairs.get("s")?.clone()))
        });
    match (basic, params.get("client_secret")) {
        (Some(Some((client_id, secret))), None) => {
            if params.get("client_id").is_some_and(|id| *id != client_id) {
                return None;
            }
            Some(ClientCredentials {
                client_id,
                secret: Some(secret),
            })
        }
        (Some(_), _) => None,
        (None, secret) => Some(ClientCredentials {
            client_id: params.get("client_id")?.clone(),
            secret: secret.cloned(),
        }),
    }
}

/// A client's request to the token or revocation endpoint: its form and
/// its credentials.
type ClientRequest = (Params, ClientCredentials);

/// The client's request, or the error answer to it.
fn client_request(app: &App, cx: &Context) -> Result<Result<ClientRequest, Reply>, ApiError> {
    issuer(app)?;
    let Some(params) = params(cx) else {
        return Ok(Err(oauth_error(OAuthError::InvalidRequest(
            "a form body, each parameter once",
        ))));
    };
    let Some(credentials) = credentials(cx, &params) else {
        return Ok(Err(oauth_error(OAuthError::InvalidClient)));
    };
    Ok(Ok((params, credentials)))
}

pub fn token(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let (params, credentials) = match client_request(app, cx)? {
        Ok(request) => request,
        Err(answer) => return Ok(answer),
    };
    let request = match TokenRequest::read(&params) {
        Ok(request) => request,
        Err(error) => return Ok(oauth_error(error)),
    };
    match oidc::token(&app.accounts, &credentials, &request, &cx.client())? {
        TokenOutcome::Issued(tokens) => {
            let body = TokenResponse {
                access_token: tokens.access_token,
                token_type: "Bearer",
                expires_in: oidc::ACCESS_TOKEN_TTL_SECS,
                id_token: tokens.id_token,
                refresh_token: tokens.refresh_token,
                scope: tokens.scope,
            };
            Ok(json_document(200, &body).with_header("Pragma", "no-cache".into()))
        }
        TokenOutcome::BadClient => Ok(oauth_error(OAuthError::InvalidClient)),
        TokenOutcome::Refused(error) => Ok(oauth_error(error)),
    }
}

pub fn userinfo(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    issuer(app)?;
    let token = cx
        .request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let claims = match token {
        Some(token) => oidc::userinfo(&app.accounts, token, &cx.client())?,
        None => None,
    };
    match claims {
        Some(claims) => Ok(json_document(200, &claims)),
        // RFC 6750 §3.1.
        None => Ok(oauth_error(OAuthError::InvalidToken)),
    }
}

pub fn revoke(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let (params, credentials) = match client_request(app, cx)? {
        Ok(request) => request,
        Err(answer) => return Ok(answer),
    };
    let Some(token) = params.get("token") else {
        return Ok(oauth_error(OAuthError::InvalidRequest("token is required")));
    };
    match oidc::revoke(&app.accounts, &credentials, token)? {
        Some(()) => Ok(json_document(200, &json!({}))),
        None => Ok(oauth_error(OAuthError::InvalidClient)),
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): with an
/// ID token this server issued and one of that app's redirect URIs, the
/// session ends and the browser goes there; otherwise a page asks first
/// (a link alone must not sign anyone out).
pub fn logout(app: &App, cx: &Context, _: Anyone) -> Result<Reply, ApiError> {
    let Some(params) = params(cx) else {
        return Ok(page(
            app,
            400,
            "This sign-out link is broken",
            "<p>Go back to the app.</p>",
        ));
    };
    let get = |name: &str| params.get(name).map(String::as_str);
    let me = match signed_in(app, cx) {
        Ok(me) => Some(me),
        Err(ApiError::Unauthenticated) => None,
        Err(error) => return Err(error),
    };
    // Without asking only when the hint is the signed-in account's own ID
    // token for that app (and its redirect URI is registered); signed out,
    // there is nobody to sign out.
    let back = match (get("id_token_hint"), get("post_logout_redirect_uri"), &me) {
        (Some(hint), Some(uri), Some(me)) => {
            oidc::hinted_client(&app.accounts, hint, &me.user, cx.now)?
                .filter(|client| client.redirect_uris.iter().any(|r| r == uri))
                .map(|_| match get("state") {
                    Some(state) => format!(
                        "{uri}{}state={}",
                        if uri.contains('?') { '&' } else { '?' },
                        percent_encode(state)
                    ),
                    None => uri.to_string(),
                })
        }
        _ => None,
    };
    if back.is_none() && cx.request.method == "GET" {
        let hidden: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    html_escape(k),
                    html_escape(v)
                )
            })
            .collect();
        let site = html_escape(&app.settings().site_name);
        return Ok(page(
            app,
            200,
            &format!("Sign out of {site}?"),
            &format!(
                "<p>An app asked to sign you out of {site}. If you did not ask for this, close this page.</p>\
                 <form method=\"post\" action=\"logout\">{hidden}<button type=\"submit\">Sign out</button></form>"
            ),
        ));
    }
    auth_core::accounts::logout::logout(
        &app.accounts,
        &cookies::session_tokens(cx.request),
        &cx.client(),
    )?;
    let reply = match back {
        Some(location) => redirect(location),
        None => page(
            app,
            200,
            "You are signed out",
            "<p>You can close this page.</p>",
        ),
    };
    Ok(reply.with_cookie(app.cookies.clear()))
}
