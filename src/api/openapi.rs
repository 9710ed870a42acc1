//! openapi.json, made from the route table, the handlers' types, each
//! route's `Doc` and `ApiError`: `auth-server --print-openapi` prints it,
//! the committed file is that output (a test fails when they differ), and
//! `GET /api/openapi.json` serves it. docs/api.md's endpoint table comes
//! from the same rows.
//!
//! What comes from where: the path and method from the row; who may call
//! it from the handler's caller type (a session is `cookieAuth`, and adds
//! 401 `unauthenticated`; a fresh proof adds 403
//! `reauthentication_required`); the request body's schema from its
//! `request_body!` type (and 400 `invalid_json`, `validation_error`); the
//! status of each refusal from `ApiError::parts`; the words and the answers'
//! types from the `Doc`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::api::doc::{Answer, Doc};
use crate::api::error::ApiError;
use crate::api::handler::Needs;
use crate::api::router::{Accepts, ROUTES, Route};
use crate::api::schema::Describe;
use crate::api::{account, admin, common, oidc, passkeys, sessions};

/// The headers every answer carries (`api::pipeline::finish`).
const EVERY_ANSWER: &[&str] = &[
    "X-Request-Id",
    "Vary",
    "Cache-Control",
    "X-Content-Type-Options",
    "Content-Security-Policy",
    "X-Frame-Options",
    "Referrer-Policy",
];

/// The methods a route for any method (`*`) is documented under.
const ANY_METHOD_DOCUMENTED: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The answers' named types, under `components/schemas`.
fn components() -> Vec<(&'static str, Value)> {
    [
        common::UserJson::component(),
        account::Dashboard::component(),
        sessions::SessionInfo::component(),
        passkeys::PasskeyJson::component(),
        oidc::TokenResponse::component(),
        oidc::OAuthErrorJson::component(),
        admin::AdminUser::component(),
        admin::InviteInfo::component(),
        admin::AppInfo::component(),
        admin::AuditEvent::component(),
    ]
    .into_iter()
    .flatten()
    .chain(oidc::form_schemas())
    .collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Success".into(), success_schema());
    schemas.insert("Error".into(), error_schema());
    for (name, schema) in components() {
        schemas.insert(name.into(), schema);
    }
    for route in ROUTES {
        if let Some((name, schema)) = route.serve.request() {
            schemas.insert(name.into(), schema);
        }
        let methods: Vec<&str> = match route.method {
            "*" => ANY_METHOD_DOCUMENTED.to_vec(),
            method => vec![method],
        };
        let shared = methods.len() > 1
            || ROUTES
                .iter()
                .filter(|other| std::ptr::eq(other.doc, route.doc))
                .count()
                > 1;
        for method in methods {
            let operation = operation(route, method, shared);
            let entry = paths
                .entry(route.path.to_string())
                .or_insert_with(|| json!({}));
            entry[method.to_lowercase()] = operation;
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": info(),
        "servers": [{ "url": "/" }],
        "tags": tags(),
        "paths": paths,
        "components": {
            "securitySchemes": security_schemes(),
            "headers": HEADERS.clone(),
            "schemas": schemas,
        },
    })
}

/// The document as the committed file holds it: two-space indents and a
/// final newline.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// docs/api.md's endpoint table: a row per route of the table, in its
/// order, from the same document (so the two cannot disagree).
pub fn endpoint_table() -> String {
    let document = document();
    let mut table = String::from(
        "| method and path | who may call | what | answers | refusals of its own |\n| --- | --- | --- | --- | --- |\n",
    );
    for route in ROUTES {
        let (shown, method) = match route.method {
            "*" => (format!("any `{}`", route.path), "get"),
            method => (format!("`{method} {}`", route.path), ""),
        };
        let method = if method.is_empty() {
            route.method.to_lowercase()
        } else {
            method.to_string()
        };
        let operation = &document["paths"][route.path][&method];
        // What the "who" column and the body already imply is left out.
        let implied = |code: &str| match code {
            "invalid_json" | "validation_error" => route.serve.request().is_some(),
            "unauthenticated" => route.serve.needs().session(),
            "reauthentication_required" => route.serve.needs().fresh_proof(),
            "second_factor_required" => route.serve.needs().admin(),
            "origin_not_allowed" => true,
            _ => false,
        };
        let who = match route.serve.needs() {
            Needs::Nothing => "anyone",
            Needs::Session => "a session",
            Needs::FreshProof => "a session, proved within `REAUTH_SECS`",
            Needs::Admin => "an administrator (`ADMIN_GROUP`, second factor)",
            Needs::FreshAdmin => {
                "an administrator (`ADMIN_GROUP`, second factor), proved within `REAUTH_SECS`"
            }
        };
        let mut answers = Vec::new();
        let mut refusals = Vec::new();
        if let Some(responses) = operation["responses"].as_object() {
            for (status, response) in responses {
                if status == "default" {
                    continue;
                }
                let codes = response["content"]["application/json"]["schema"]["allOf"][1]
                    ["properties"]["error"]["properties"]["code"]["enum"]
                    .as_array()
                    .map(|codes| {
                        codes
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|code| !implied(code))
                            .map(|code| format!("`{code}`"))
                            .collect::<Vec<_>>()
                    });
                match codes {
                    Some(codes) if codes.is_empty() => {}
                    Some(codes) => refusals.push(format!("{status} {}", codes.join(" / "))),
                    None if status.starts_with('2') || status.starts_with('3') => {
                        answers.push(status.clone())
                    }
                    None => refusals.push(status.clone()),
                }
            }
        }
        table.push_str(&format!(
            "| {shown} | {who} | {} | {} | {} |\n",
            operation["summary"].as_str().unwrap_or(""),
            answers.join(", "),
            refusals.join(", "),
        ));
    }
    table
}

/// One method of one route.
fn operation(route: &Route, method: &str, shared: bool) -> Value {
    let doc: &Doc = route.doc;
    let id = if shared {
        let lower = method.to_lowercase();
        let mut chars = lower.chars();
        let capital: String = chars
            .next()
            .into_iter()
            .flat_map(char::to_uppercase)
            .collect();
        format!("{}{capital}{}", doc.id, chars.as_str())
    } else {
        doc.id.to_string()
    };
    let mut operation = json!({
        "operationId": id,
        "summary": doc.summary,
        "tags": [doc.tag],
    });
    if !doc.description.is_empty() {
        operation["description"] = json!(doc.description);
    }
    let needs = route.serve.needs();
    if needs != Needs::Nothing {
        operation["security"] = json!([{ "cookieAuth": [] }]);
    }
    if let Some((name, _)) = route.serve.request() {
        let mut body = json!({
            "required": !doc.body_optional,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } },
        });
        if !doc.body.is_empty() {
            body["description"] = json!(doc.body);
        }
        operation["requestBody"] = body;
    } else if route.accepts == Accepts::Anything && !matches!(method, "GET" | "HEAD" | "OPTIONS") {
        operation["requestBody"] =
            json!({ "required": false, "content": { "*/*": { "schema": {} } } });
    }
    if let Some(more) = doc.more
        && let (Some(operation), Value::Object(more)) = (operation.as_object_mut(), more())
    {
        operation.extend(more);
    }
    operation["responses"] = responses(route, method, doc, needs);
    operation
}

/// The answers: the doc's, with what the table and the types add.
fn responses(route: &Route, method: &str, doc: &Doc, needs: Needs) -> Value {
    let mut refusals = Refusals::default();
    let mut responses = Map::new();
    for answer in doc.answers {
        match answer {
            Answer::Ok {
                status,
                says,
                data,
                headers,
            } => {
                let schema = match data {
                    Some(data) => json!({ "allOf": [
                        { "$ref": "#/components/schemas/Success" },
                        { "type": "object", "required": ["data"], "properties": { "data": data() } },
                    ] }),
                    None => json!({ "$ref": "#/components/schemas/Success" }),
                };
                responses.insert(
                    status.to_string(),
                    response(says, headers, Some(("application/json", schema))),
                );
            }
            Answer::Other {
                status,
                says,
                content,
                headers,
            } => {
                let content = content.map(|(media, schema)| (media, schema()));
                responses.insert(status.to_string(), response(says, headers, content));
            }
            Answer::Refused {
                says,
                errors,
                headers,
            } => {
                let status = errors.first().map_or(500, |e| e.parts().0);
                let codes: Vec<&'static str> = errors.iter().map(|e| e.parts().1).collect();
                assert!(
                    errors.iter().all(|e| e.parts().0 == status),
                    "{}: one answer's errors differ in status",
                    doc.id
                );
                refusals.add(status, says, &codes, headers);
            }
        }
    }
    if route.serve.request().is_some() {
        refusals.add(
            400,
            "The body is not one JSON object (invalid_json) or a field is missing, of the wrong type or invalid (validation_error, with `fields`).",
            &["invalid_json", "validation_error"],
            &[],
        );
    }
    if needs != Needs::Nothing {
        refusals.add(
            401,
            "No live session: no cookie, an unknown, expired or revoked token.",
            &["unauthenticated"],
            &[],
        );
    }
    if needs.admin() {
        refusals.add(
            403,
            "Not a member of ADMIN_GROUP (forbidden), or a session opened without a second factor (second_factor_required).",
            &["forbidden", "second_factor_required"],
            &[],
        );
    }
    if needs.fresh_proof() {
        refusals.add(
            403,
            "The session's last proof is older than REAUTH_SECS: POST /api/user/reauth first.",
            &["reauthentication_required"],
            &[],
        );
    }
    // A browser's request from another origin is 403 too; where the
    // endpoint has a 403 of its own, that answer names both.
    let unsafe_method = !matches!(method, "GET" | "HEAD" | "OPTIONS");
    if route.same_origin && unsafe_method && refusals.has(403) {
        refusals.add(403, "", &["origin_not_allowed"], &[]);
    }
    for (status, says, codes, headers) in refusals.0 {
        let schema = json!({ "allOf": [
            { "$ref": "#/components/schemas/Error" },
            { "type": "object", "properties": { "error": { "type": "object", "properties": { "code": { "enum": codes } } } } },
        ] });
        responses.insert(
            status.to_string(),
            response(&says, &headers, Some(("application/json", schema))),
        );
    }
    responses.insert(
        "default".into(),
        response(
            "Any other refusal in the error envelope: 400 bad_request, 403 origin_not_allowed, 405 method_not_allowed (with Allow), 408, 413, 415, 431, 500, 501, 503 (with Retry-After), 505.",
            &[],
            Some(("application/json", json!({ "$ref": "#/components/schemas/Error" }))),
        ),
    );
    // Retry-After goes with every 429 and 503.
    for (status, answer) in responses.iter_mut() {
        if status == "429" || status == "503" {
            answer["headers"]["Retry-After"] =
                json!({ "$ref": "#/components/headers/Retry-After" });
        }
    }
    Value::Object(responses)
}

/// Refusals by status: what they say, their codes, their headers. The
/// first to name a status gives its words; later ones add codes.
#[derive(Default)]
struct Refusals(Vec<(u16, String, Vec<&'static str>, Vec<&'static str>)>);

impl Refusals {
    fn add(&mut self, status: u16, says: &str, codes: &[&'static str], headers: &[&'static str]) {
        match self.0.iter_mut().find(|(s, ..)| *s == status) {
            Some((_, _, known, _)) => {
                for code in codes {
                    if !known.contains(code) {
                        known.push(code);
                    }
                }
            }
            None => self
                .0
                .push((status, says.to_string(), codes.to_vec(), headers.to_vec())),
        }
    }

    fn has(&self, status: u16) -> bool {
        self.0.iter().any(|(s, ..)| *s == status)
    }
}

/// One answer's entry: what it says, the headers every answer carries and
/// its own, and its body.
fn response(says: &str, headers: &[&str], content: Option<(&str, Value)>) -> Value {
    let page = content
        .as_ref()
        .is_some_and(|(media, _)| media.starts_with("text/"));
    let mut all = Map::new();
    for name in EVERY_ANSWER.iter().chain(headers) {
        // A page's policy is the page's; a second kind of cookie is still
        // a Set-Cookie.
        let (key, component) = match *name {
            "Content-Security-Policy" if page => {
                ("Content-Security-Policy", "Page-Content-Security-Policy")
            }
            name if name.starts_with("Set-Cookie-") => ("Set-Cookie", name),
            name => (name, name),
        };
        let entry = if HEADERS.get(component).is_some() {
            json!({ "$ref": format!("#/components/headers/{component}") })
        } else {
            json!({ "schema": { "type": "string" } })
        };
        all.insert(key.to_string(), entry);
    }
    let mut response = json!({ "description": says, "headers": all });
    if let Some((media, schema)) = content {
        response["content"] = json!({ media: { "schema": schema } });
    }
    response
}

fn success_schema() -> Value {
    json!({
        "type": "object",
        "required": ["success", "message"],
        "properties": {
            "success": { "const": true },
            "message": { "type": "string" },
            "data": { "type": "object" },
        },
    })
}

/// The error envelope, with every code the server can send.
fn error_schema() -> Value {
    let codes: BTreeSet<&str> = ApiError::kinds().iter().map(|e| e.parts().1).collect();
    json!({
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": { "const": false },
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": codes },
                    "message": { "type": "string" },
                    "fields": {
                        "type": "object",
                        "additionalProperties": { "type": "string" },
                        "description": "For validation_error: field name to what is wrong with it.",
                    },
                    "retry_after": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "For too_many_requests: the seconds to wait, as in the Retry-After header.",
                    },
                },
            },
        },
    })
}

/// The fixed parts of the document, as JSON text (read once, when the
/// document is made).
fn fixed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

fn info() -> Value {
    fixed(INFO)
}

fn tags() -> Value {
    fixed(TAGS)
}

fn security_schemes() -> Value {
    fixed(SECURITY_SCHEMES)
}

/// The headers answers carry, by name.
static HEADERS: LazyLock<Value> = LazyLock::new(|| fixed(HEADER_TEXT));

const INFO: &str = r#"{
    "description": "A small, synchronous authentication backend for browser front ends. Every response carries the security headers and X-Request-Id; requests with a body must be application/json (else 415); POST, PUT, PATCH and DELETE from an Origin not in CORS_ORIGINS get 403. See README.md.",
    "title": "auth-server",
    "version": "0.1.0"
}"#;

const TAGS: &str = r#"[
    {
        "name": "auth"
    },
    {
        "name": "account"
    },
    {
        "description": "Passkeys (WebAuthn): adding them, and signing in with one.",
        "name": "passkeys"
    },
    {
        "name": "ops"
    },
    {
        "description": "Forgotten passwords and verified email addresses (mail through MAIL_COMMAND).",
        "name": "recovery"
    },
    {
        "description": "Guarding other apps behind a reverse proxy.",
        "name": "forward-auth"
    },
    {
        "description": "The built-in sign-in page.",
        "name": "sign-in page"
    },
    {
        "description": "The OpenID Provider (authorization code flow with PKCE). Its endpoints speak OAuth's formats, not the API envelope.",
        "name": "openid-connect"
    }
]"#;

const SECURITY_SCHEMES: &str = r#"{
    "cookieAuth": {
        "description": "The session token set by POST /api/login: 43 characters of base64url (256 bits), HttpOnly, Path=/, SameSite from COOKIE_SAMESITE, Secure when COOKIE_SECURE=true, Max-Age only for remember.",
        "in": "cookie",
        "name": "sid",
        "type": "apiKey"
    }
}"#;

const HEADER_TEXT: &str = r#"{
    "Cache-Control": {
        "schema": {
            "const": "no-store"
        }
    },
    "Content-Security-Policy": {
        "schema": {
            "const": "default-src 'none'; frame-ancestors 'none'"
        }
    },
    "Location": {
        "description": "Where to go next.",
        "schema": {
            "type": "string"
        }
    },
    "Page-Content-Security-Policy": {
        "description": "The sign-in page's policy: its own script and style, calls to this origin.",
        "schema": {
            "const": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "type": "string"
        }
    },
    "Referrer-Policy": {
        "schema": {
            "const": "no-referrer"
        }
    },
    "Remote-Email": {
        "description": "The account's email address, only once it is verified (absent otherwise: anyone can type any address at sign-up).",
        "schema": {
            "type": "string"
        }
    },
    "Remote-Groups": {
        "description": "The user's groups, comma-separated; absent when none.",
        "schema": {
            "type": "string"
        }
    },
    "Remote-Name": {
        "description": "The display name (the username).",
        "schema": {
            "type": "string"
        }
    },
    "Remote-User": {
        "description": "The signed-in username, for the proxy to pass to the app.",
        "schema": {
            "type": "string"
        }
    },
    "Remote-User-Id": {
        "description": "The account's id.",
        "schema": {
            "type": "string"
        }
    },
    "Retry-After": {
        "description": "Whole seconds to wait before trying again (at least 1).",
        "schema": {
            "pattern": "^[0-9]+$",
            "type": "string"
        }
    },
    "Set-Cookie": {
        "description": "`sid=<token>; HttpOnly; Path=/; SameSite=<Lax|Strict|None>[; Secure][; Max-Age=<s>]` when signing in, or `sid=; ...; Max-Age=0` when signing out.",
        "schema": {
            "pattern": "^sid=",
            "type": "string"
        }
    },
    "Set-Cookie-Passkey-Challenge": {
        "description": "The passkey sign-in ticket: passkey_challenge=…; HttpOnly; SameSite; Max-Age=300 (no Path: sent back only to the sign-in path).",
        "schema": {
            "pattern": "^passkey_challenge=",
            "type": "string"
        }
    },
    "Vary": {
        "description": "Always includes Origin.",
        "schema": {
            "type": "string"
        }
    },
    "X-Content-Type-Options": {
        "schema": {
            "const": "nosniff"
        }
    },
    "X-Frame-Options": {
        "schema": {
            "const": "DENY"
        }
    },
    "X-Request-Id": {
        "description": "A random id for this request, also in the log.",
        "schema": {
            "type": "string"
        }
    }
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target.clone()),
                        _ => references(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| references(item, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_names_something_in_the_document() {
        let document = document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 100, "only {} references", found.len());
        for target in found {
            let pointer = target.trim_start_matches('#');
            assert!(
                document.pointer(pointer).is_some(),
                "{target} names nothing"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_route_is_there() {
        let document = document();
        let mut ids = BTreeSet::new();
        let mut count = 0;
        for operations in document["paths"].as_object().unwrap().values() {
            for operation in operations.as_object().unwrap().values() {
                count += 1;
                assert!(ids.insert(operation["operationId"].as_str().unwrap().to_string()));
            }
        }
        let expected: usize = ROUTES
            .iter()
            .map(|r| {
                if r.method == "*" {
                    ANY_METHOD_DOCUMENTED.len()
                } else {
                    1
                }
            })
            .sum();
        assert_eq!(count, expected);
    }

    #[test]
    fn what_the_types_add_is_there() {
        let document = document();
        let enable = &document["paths"]["/api/user/totp/enable"]["post"];
        // A session: cookieAuth and 401; a body: its schema and 400.
        assert_eq!(enable["security"][0]["cookieAuth"], json!([]));
        assert_eq!(
            enable["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/TotpEnableRequest"
        );
        let codes = |status: &str| {
            enable["responses"][status]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"].clone()
        };
        assert_eq!(codes("401"), json!(["unauthenticated"]));
        assert_eq!(
            codes("400"),
            json!(["invalid_code", "invalid_json", "validation_error"])
        );
        // A fresh proof: 403 reauthentication_required (and, being a POST
        // from a browser, origin_not_allowed beside it).
        let add = &document["paths"]["/api/user/passkeys"]["post"];
        assert_eq!(
            add["responses"]["403"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                ["error"]["properties"]["code"]["enum"],
            json!(["reauthentication_required", "origin_not_allowed"])
        );
        // Retry-After with every 429.
        assert!(
            document["paths"]["/api/login"]["post"]["responses"]["429"]["headers"]["Retry-After"]
                .is_object()
        );
        // Nothing is needed of the caller of the sign-in.
        assert!(
            document["paths"]["/api/login"]["post"]
                .get("security")
                .is_none()
        );
    }
}
