//! Passkeys: `POST /api/user/passkeys/options` and `POST /api/user/passkeys`
//! (adding one), `GET /api/user/passkeys`, `PATCH` and `DELETE
//! /api/user/passkeys/{id}`, and signing in with one: `POST
//! /api/login/passkey/options`, `POST /api/login/passkey`
//! (`accounts::passkeys`).
//!
//! The JSON is WebAuthn Level 3's own serialisation
//! (`PublicKeyCredentialCreationOptionsJSON`, `RegistrationResponseJSON`,
//! …): every binary value base64url without padding, so a page can hand it
//! to `PublicKeyCredential.parseCreationOptionsFromJSON` as it is.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::app::{App, Context, Reply};
use crate::api::common::{SignedInJson, signed_in_reply, too_many};
use crate::api::cookies;
use crate::api::doc::{Answer, Doc, THROTTLED, ok, ok_with_cookie, refusal, throttled};
use crate::api::error::ApiError;
use crate::api::fields::{Body, Object, request_body};
use crate::api::handler::{Anyone, Fresh};
use crate::api::schema::{Describe, reply_body};
use auth_core::accounts::Passkey;
use auth_core::accounts::Trouble;
use auth_core::accounts::check::SignedIn;
use auth_core::accounts::passkeys::{self, AddOutcome, RenameOutcome, SignInOutcome};
use auth_core::auth::challenges::CHALLENGE_TTL_SECS;
use auth_core::auth::webauthn::{ALGORITHMS, Assertion, Failure, Registration};
use auth_core::support::base64;
use auth_core::support::clock::Rfc3339;
use auth_core::support::metrics::LoginResult;

/// The ceremony's `timeout`, in milliseconds: the challenge's lifetime.
const TIMEOUT_MS: i64 = CHALLENGE_TTL_SECS * 1000;

reply_body! {
    pub struct PasskeyJson as "Passkey" {
        /// The credential id, base64url without padding; the {id} of PATCH
        /// and DELETE.
        pub id: String,
        pub name: String = {"minLength": 1, "maxLength": 64},
        pub created_at: Rfc3339,
        pub last_used_at: Option<Rfc3339>,
        /// Synced to other devices (the BS flag).
        pub backed_up: bool,
    }
}

/// A passkey as the API shows it; `id` is its credential id, base64url.
fn passkey_json(passkey: &Passkey) -> PasskeyJson {
    PasskeyJson {
        id: base64::encode_url(&passkey.credential_id),
        name: passkey.name.clone(),
        created_at: Rfc3339(passkey.created_at),
        last_used_at: passkey.last_used_at.map(Rfc3339),
        backed_up: passkey.backed_up,
    }
}

reply_body! {
    pub struct OnePasskey {
        pub passkey: PasskeyJson,
    }
}

reply_body! {
    pub struct PasskeyList {
        pub passkeys: Vec<PasskeyJson>,
    }
}

/// `{"publicKey": …}`: a ceremony's options in WebAuthn Level 3's own JSON,
/// which the docs describe in words.
#[derive(Serialize)]
pub struct PublicKeyJson {
    #[serde(rename = "publicKey")]
    pub public_key: Value,
}

impl Describe for PublicKeyJson {
    fn describe() -> Value {
        json!({
            "type": "object",
            "required": ["publicKey"],
            "properties": { "publicKey": { "type": "object" } },
        })
    }
}

/// The `{id}` of a passkey's path.
fn passkey_id_parameter() -> Value {
    json!({ "parameters": [{
        "name": "id",
        "in": "path",
        "required": true,
        "description": "A passkey id from GET /api/user/passkeys.",
        "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$" },
    }] })
}

pub const CREATION_OPTIONS: Doc = Doc {
    id: "passkeyCreationOptions",
    tag: "passkeys",
    summary: "Start adding a passkey: PublicKeyCredentialCreationOptionsJSON",
    description: "A 32-byte challenge bound to this session, good once for 5 minutes (at most 5 outstanding per session). Hand data.publicKey to PublicKeyCredential.parseCreationOptionsFromJSON. Needs a proof made on this session within REAUTH_SECS (the sign-in, or POST /api/user/reauth); otherwise 403 reauthentication_required.",
    answers: &[ok(
        200,
        "The creation options: challenge, rp {id, name}, user {id: the account's fixed random handle, name, displayName}, pubKeyCredParams [-7, -8, -257], authenticatorSelection {residentKey: required, userVerification: required}, excludeCredentials, attestation none, timeout 300000.",
        Some(PublicKeyJson::describe),
    )],
    ..Doc::PLAIN
};

pub const ADD: Doc = Doc {
    id: "addPasskey",
    tag: "passkeys",
    summary: "Finish adding a passkey",
    description: "Checked: the challenge was issued to this session less than 5 minutes ago and is used once; type webauthn.create; origin in PASSKEY_ORIGINS; rpIdHash; user present and verified; an offered algorithm; a credential id not registered to anyone. Attestation is not verified. Needs a proof made on this session within REAUTH_SECS (the sign-in, or POST /api/user/reauth); otherwise 403 reauthentication_required.",
    answers: &[
        ok(201, "Added.", Some(OnePasskey::describe)),
        refusal(
            "Malformed body, or a check failed: the message names which; nothing is stored.",
            &[ApiError::InvalidPasskey("")],
        ),
    ],
    ..Doc::PLAIN
};

pub const LIST: Doc = Doc {
    id: "listPasskeys",
    tag: "passkeys",
    summary: "The caller's passkeys, oldest first",
    answers: &[ok(200, "The passkeys.", Some(PasskeyList::describe))],
    ..Doc::PLAIN
};

pub const RENAME: Doc = Doc {
    id: "renamePasskey",
    tag: "passkeys",
    summary: "Rename one of the caller's passkeys",
    answers: &[
        ok(200, "Renamed.", Some(OnePasskey::describe)),
        refusal(
            "No such passkey of the caller's (another account's is 404 too).",
            &[ApiError::NotFound],
        ),
    ],
    more: Some(passkey_id_parameter),
    ..Doc::PLAIN
};

pub const REMOVE: Doc = Doc {
    id: "removePasskey",
    tag: "passkeys",
    summary: "Remove one of the caller's passkeys",
    description: "The session is enough. Sessions the passkey opened stay; POST /api/logout-all ends them.",
    answers: &[
        ok(200, "Removed.", None),
        refusal("No such passkey of the caller's.", &[ApiError::NotFound]),
    ],
    more: Some(passkey_id_parameter),
    ..Doc::PLAIN
};

pub const REQUEST_OPTIONS: Doc = Doc {
    id: "passkeyRequestOptions",
    tag: "passkeys",
    summary: "Start signing in with a passkey: PublicKeyCredentialRequestOptionsJSON",
    description: "No session needed. allowCredentials is always empty (discoverable credentials), whatever username is given: the answer never tells whether an account exists or has passkeys. The challenge is also set, with an HMAC tag, in a short-lived HttpOnly cookie (passkey_challenge, 5 minutes, no Path: sent back only to the sign-in path), so that no flood of other requests can push out a sign-in under way; POST /api/login/passkey must carry it. One network (IPv4 /24, IPv6 /64) may ask PASSKEY_OPTIONS_PER_MINUTE times a minute.",
    answers: &[
        Answer::Ok {
            status: 200,
            says: "challenge, rpId, userVerification required, allowCredentials [], timeout 300000.",
            data: Some(PublicKeyJson::describe),
            headers: &["Set-Cookie-Passkey-Challenge"],
        },
        refusal(
            "This network asked for sign-in options too often.",
            &[THROTTLED],
        ),
    ],
    ..Doc::PLAIN
};

pub const SIGN_IN: Doc = Doc {
    id: "passkeySignIn",
    tag: "passkeys",
    summary: "Sign in with a passkey",
    description: "Exactly the answer of a successful POST /api/login; the session is opened by passkey, which satisfies two-factor login and any two_factor access rule. Checked: the challenge (the one this browser's passkey_challenge cookie holds, issued for signing in, unexpired, single-use), type webauthn.get, origin, rpIdHash, user present and verified, the signature with the stored key, userHandle is the credential's account, the account enabled, the sign counter grew (or both are 0). No bcrypt, no hash queue.",
    answers: &[
        ok_with_cookie(200, "Signed in.", Some(SignedInJson::describe)),
        refusal(
            "Any failed check: one answer for all, counted in the address's login-failure window.",
            &[ApiError::PasskeyRefused],
        ),
        refusal(
            "REQUIRE_VERIFIED_EMAIL and the address is not verified.",
            &[ApiError::EmailNotVerified],
        ),
        throttled(),
    ],
    ..Doc::PLAIN
};

request_body! {
    /// {} (no fields).
    pub struct EmptyRequest {}
}

request_body! {
    pub struct AddPasskeyRequest {
        /// The RegistrationResponseJSON of navigator.credentials.create()
        /// (W3C WebAuthn Level 3 §5.1.8): id, rawId, type,
        /// response.clientDataJSON, response.attestationObject; base64url
        /// without padding.
        pub credential: Object,
        /// A label; "Passkey" when absent.
        pub name: Option<String> = {"minLength": 1, "maxLength": 64},
    }
}

request_body! {
    pub struct RenamePasskeyRequest {
        pub name: String = {"minLength": 1, "maxLength": 64},
    }
}

request_body! {
    pub struct PasskeyOptionsRequest {
        /// Accepted and ignored: the answer is the same for every name.
        pub username: Option<String>,
    }
}

request_body! {
    pub struct PasskeySignInRequest {
        /// The AuthenticationResponseJSON of navigator.credentials.get():
        /// id, rawId, type, response.clientDataJSON,
        /// response.authenticatorData, response.signature,
        /// response.userHandle; base64url without padding.
        pub credential: Object,
        pub remember: bool,
        /// As for POST /api/login.
        pub redirect: Option<String>,
    }
}

fn credential_descriptor(id: &[u8]) -> Value {
    json!({ "type": "public-key", "id": base64::encode_url(id) })
}

/// A passkey outlives a password change and meets `two_factor` rules: a
/// session adds one only with a recent proof (`Fresh`).
pub fn creation_options(
    app: &App,
    cx: &Context,
    Fresh(me): Fresh,
    body: Body<EmptyRequest>,
) -> Result<Reply, ApiError> {
    body.read()?;
    let options = passkeys::creation_options(&app.accounts, &me, &cx.client())?
        .ok_or(ApiError::Unauthenticated)?;
    let rp = app.accounts.relying_party();
    let params: Vec<Value> = ALGORITHMS
        .iter()
        .map(|alg| json!({ "type": "public-key", "alg": alg }))
        .collect();
    let exclude: Vec<Value> = options
        .exclude
        .iter()
        .map(|id| credential_descriptor(id))
        .collect();
    Reply::ok("Create the passkey on your device.").with_data(PublicKeyJson {
        public_key: json!({
                "challenge": base64::encode_url(&options.challenge),
                "rp": { "id": rp.id, "name": app.settings().site_name },
                "user": {
                    "id": base64::encode_url(&options.user_handle),
                    "name": me.user.username,
                    "displayName": me.user.username,
                },
                "pubKeyCredParams": params,
                // A discoverable credential that verifies the user: a passkey,
                // not a second-factor-only security key.
                "authenticatorSelection": {
                    "residentKey": "required",
                    "requireResidentKey": true,
                    "userVerification": "required",
                },
                "excludeCredentials": exclude,
                "attestation": "none",
                "timeout": TIMEOUT_MS,
        }),
    })
}

/// `RegistrationResponseJSON`: the fields the checks use.
#[derive(Deserialize)]
struct RegistrationJson {
    id: String,
    #[serde(rename = "rawId")]
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: AttestationJson,
}

#[derive(Deserialize)]
struct AttestationJson {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "attestationObject")]
    attestation_object: String,
}

/// `AuthenticationResponseJSON`: the fields the checks use.
#[derive(Deserialize)]
struct AuthenticationJson {
    id: String,
    #[serde(rename = "rawId")]
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: AssertionJson,
}

#[derive(Deserialize)]
struct AssertionJson {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "authenticatorData")]
    authenticator_data: String,
    signature: String,
    #[serde(rename = "userHandle")]
    user_handle: Option<String>,
}

/// A `public-key` credential whose `id` and `rawId` agree: the raw id.
fn credential_id(id: &str, raw_id: &str, kind: &str) -> Option<Vec<u8>> {
    (kind == "public-key" && id == raw_id)
        .then(|| base64::decode_url(raw_id))
        .flatten()
}

fn registration(value: Value) -> Option<Registration> {
    let json: RegistrationJson = serde_json::from_value(value).ok()?;
    Some(Registration {
        credential_id: credential_id(&json.id, &json.raw_id, &json.kind)?,
        client_data_json: base64::decode_url(&json.response.client_data_json)?,
        attestation_object: base64::decode_url(&json.response.attestation_object)?,
    })
}

fn assertion(value: Value) -> Option<Assertion> {
    let json: AuthenticationJson = serde_json::from_value(value).ok()?;
    let user_handle = match json.response.user_handle.as_deref() {
        None | Some("") => None,
        Some(handle) => Some(base64::decode_url(handle)?),
    };
    Some(Assertion {
        credential_id: credential_id(&json.id, &json.raw_id, &json.kind)?,
        client_data_json: base64::decode_url(&json.response.client_data_json)?,
        authenticator_data: base64::decode_url(&json.response.authenticator_data)?,
        signature: base64::decode_url(&json.response.signature)?,
        user_handle,
    })
}

pub fn add(
    app: &App,
    cx: &Context,
    Fresh(me): Fresh,
    body: Body<AddPasskeyRequest>,
) -> Result<Reply, ApiError> {
    let AddPasskeyRequest {
        credential: Object(credential),
        name,
    } = body.read()?;
    let response = registration(credential).ok_or(ApiError::InvalidPasskey(
        Failure::Malformed("credential").message(),
    ))?;

    match passkeys::add(&app.accounts, &me, &response, name.as_deref(), &cx.client())? {
        AddOutcome::Added(passkey) => {
            Reply::ok("Passkey added.")
                .with_status(201)
                .with_data(OnePasskey {
                    passkey: passkey_json(&passkey),
                })
        }
        AddOutcome::Invalid(failure) => Err(ApiError::InvalidPasskey(failure.message())),
        AddOutcome::AlreadyRegistered => Err(ApiError::InvalidPasskey(
            "This passkey is registered already.",
        )),
        AddOutcome::TooMany => Err(ApiError::InvalidPasskey(
            "This account has as many passkeys as it may have; remove one first.",
        )),
        AddOutcome::BadName => Err(ApiError::field("name", "must be 1 to 64 characters")),
        AddOutcome::NoLongerSignedIn => Err(ApiError::Unauthenticated),
    }
}

pub fn list(app: &App, _: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let passkeys = passkeys::list(&app.accounts, me.user.id)?
        .iter()
        .map(passkey_json)
        .collect();
    Reply::ok("Your passkeys.").with_data(PasskeyList { passkeys })
}

/// The `{id}` of the path: a credential id in base64url; anything else
/// names no passkey (404, like another account's).
fn path_id(cx: &Context) -> Result<Vec<u8>, ApiError> {
    cx.parameter
        .and_then(base64::decode_url)
        .ok_or(ApiError::NotFound)
}

pub fn rename(
    app: &App,
    cx: &Context,
    me: SignedIn,
    body: Body<RenamePasskeyRequest>,
) -> Result<Reply, ApiError> {
    let id = path_id(cx)?;
    let RenamePasskeyRequest { name } = body.read()?;
    match passkeys::rename(&app.accounts, me.user.id, &id, &name)? {
        RenameOutcome::Renamed(passkey) => Reply::ok("Passkey renamed.").with_data(OnePasskey {
            passkey: passkey_json(&passkey),
        }),
        RenameOutcome::NotFound => Err(ApiError::NotFound),
        RenameOutcome::BadName => Err(ApiError::field("name", "must be 1 to 64 characters")),
    }
}

pub fn remove(app: &App, cx: &Context, me: SignedIn) -> Result<Reply, ApiError> {
    let id = path_id(cx)?;
    if !passkeys::remove(&app.accounts, &me.user, &id, &cx.client())? {
        return Err(ApiError::NotFound);
    }
    Ok(Reply::ok("Passkey removed."))
}

pub fn request_options(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<PasskeyOptionsRequest>,
) -> Result<Reply, ApiError> {
    // `username` is accepted and not used: the answer is the same for
    // every name, so it cannot tell who has an account or a passkey.
    body.read()?;
    let (challenge, ticket) =
        passkeys::request_options(&app.accounts, &cx.client())?.map_err(too_many)?;
    Reply::ok("Choose a passkey on your device.")
        .with_cookie(app.cookies.ticket(&ticket))
        .with_data(PublicKeyJson {
            public_key: json!({
                "challenge": base64::encode_url(&challenge),
                "rpId": app.accounts.relying_party().id,
                "userVerification": "required",
                "allowCredentials": [],
                "timeout": TIMEOUT_MS,
            }),
        })
}

pub fn sign_in(
    app: &App,
    cx: &Context,
    _: Anyone,
    body: Body<PasskeySignInRequest>,
) -> Result<Reply, ApiError> {
    let PasskeySignInRequest {
        credential: Object(credential),
        remember,
        redirect,
    } = body
        .read()
        .inspect_err(|_| app.count_login(LoginResult::Other))?;
    let Some(response) = assertion(credential) else {
        app.count_login(LoginResult::InvalidCredentials);
        return Err(ApiError::PasskeyRefused);
    };

    let previous = cookies::session_tokens(cx.request);
    // The challenge this browser was given rides in its ticket cookie (it
    // expires with the ceremony; spent, it is good for nothing).
    let ticket = cookies::ticket(cx.request);
    let outcome = passkeys::sign_in(
        &app.accounts,
        &response,
        ticket.as_deref(),
        remember,
        &previous,
        &cx.client(),
    );
    app.count_login(match &outcome {
        Ok(outcome) => outcome.result(),
        Err(Trouble::Internal(_)) => LoginResult::Other,
        Err(_) => LoginResult::RefusedBusy,
    });
    match outcome? {
        SignInOutcome::SignedIn {
            user,
            token,
            session,
        } => signed_in_reply(app, cx, &user, None, redirect, (&token, &session)),
        SignInOutcome::Refused(_) => Err(ApiError::PasskeyRefused),
        SignInOutcome::Throttled { retry_after_secs } => Err(too_many(retry_after_secs)),
        SignInOutcome::EmailNotVerified => Err(ApiError::EmailNotVerified),
    }
}
