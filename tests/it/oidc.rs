//! The OpenID Provider against the real binary: clients from the admin
//! command, the code flow with PKCE, ID tokens verified against the JWKS
//! with RustCrypto (RS256 and ES256), userinfo, refresh rotation, replayed
//! codes and refresh tokens, revocation, and what ends grants.

use crate::common;

use common::{PASSWORD, Reply, Server};
use rsa::BoxedUint;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use auth_core::support::base64::{decode_url, encode, encode_url};
use auth_core::support::text::percent_encode;

const ISSUER: &str = "https://auth.example.com";
const CALLBACK: &str = "https://app.example.com/callback";

/// The admin command with the server's PUBLIC_URL (the issuer).
fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    common::admin_with(dir, &[("PUBLIC_URL", ISSUER)], args, stdin)
}

fn start() -> Server {
    Server::start_with(&[("PUBLIC_URL", ISSUER)])
}

struct App {
    id: String,
    secret: Option<String>,
}

fn add_client(server: &Server, args: &[&str]) -> App {
    let mut all = vec!["oidc-client", "add", "app", "--redirect-uri", CALLBACK];
    all.extend_from_slice(args);
    let (code, out, err) = admin(&server.dir, &all, "");
    assert_eq!(code, Some(0), "{out}{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::to_string)
    };
    App {
        id: field("client_id").expect("a client id"),
        secret: field("client_secret"),
    }
}

const VERIFIER: &str = "a-code-verifier-of-at-least-forty-three-characters-123";

fn challenge() -> String {
    encode_url(&Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_path(app: &App, extra: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s-1&nonce=n-1&code_challenge={}&code_challenge_method=S256{extra}",
        app.id,
        percent_encode(CALLBACK),
        percent_encode("openid profile email groups offline_access"),
        challenge()
    )
}

/// The query parameters of a redirect's `Location`.
fn location_params(reply: &Reply) -> std::collections::BTreeMap<String, String> {
    let location = reply.header("location").expect("a Location");
    let query = location.split_once('?').map_or("", |(_, q)| q);
    auth_core::support::form::parse(query).unwrap()
}

fn code_for(server: &Server, app: &App, cookie: &str) -> String {
    let reply = server.get(&authorize_path(app, ""), Some(cookie));
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert!(reply.header("location").unwrap().starts_with(CALLBACK));
    let params = location_params(&reply);
    assert_eq!(params["state"], "s-1");
    assert_eq!(params["iss"], ISSUER);
    params["code"].clone()
}

fn form_post(server: &Server, path: &str, app: &App, form: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let basic;
    if let Some(secret) = &app.secret {
        basic = format!(
            "Basic {}",
            encode(format!("{}:{secret}", app.id).as_bytes())
        );
        headers.push(("Authorization", &basic));
    }
    server.request("POST", path, &headers, &body.join("&"))
}

fn exchange(server: &Server, app: &App, code: &str) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    if app.secret.is_none() {
        form.push(("client_id", &app.id));
    }
    form_post(server, "/oauth2/token", app, &form)
}

/// The ID token's claims, after checking its signature against the JWKS.
fn verified_claims(server: &Server, id_token: &str) -> Value {
    let parts: Vec<&str> = id_token.split('.').collect();
    let header: Value = serde_json::from_slice(&decode_url(parts[0]).unwrap()).unwrap();
    let jwks = server.get("/oauth2/jwks", None).json();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published")
        .clone();
    let input = format!("{}.{}", parts[0], parts[1]);
    let signature = decode_url(parts[2]).unwrap();
    let bytes = |name: &str| decode_url(jwk[name].as_str().unwrap()).unwrap();
    match header["alg"].as_str().unwrap() {
        "RS256" => {
            use rsa::signature::Verifier;
            let n = BoxedUint::from_be_slice_vartime(&bytes("n"));
            let e = BoxedUint::from_be_slice_vartime(&bytes("e"));
            let key =
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(rsa::PublicKey::new(n, e).unwrap());
            let signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
            key.verify(input.as_bytes(), &signature)
                .expect("an RS256 signature");
        }
        "ES256" => {
            use p256::ecdsa::signature::Verifier;
            let point = [&[4u8][..], &bytes("x"), &bytes("y")].concat();
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            key.verify(input.as_bytes(), &signature)
                .expect("an ES256 signature");
        }
        other => panic!("alg {other}"),
    }
    serde_json::from_slice(&decode_url(parts[1]).unwrap()).unwrap()
}

fn userinfo(server: &Server, access_token: &str) -> Reply {
    server.request(
        "GET",
        "/oauth2/userinfo",
        &[("Authorization", &format!("Bearer {access_token}"))],
        "",
    )
}

#[test]
fn discovery_lists_what_is_implemented() {
    let server = start();
    let doc = server.get("/.well-known/openid-configuration", None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/oauth2/jwks"));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{ISSUER}/oauth2/logout")
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    // No client yet: no key either; reading the key set makes none (keys
    // are made with the first client, at start-up, or by rotate-keys).
    let keys = server.get("/oauth2/jwks", None).json();
    assert_eq!(keys["keys"], json!([]));
    add_client(&server, &[]);
    let keys = server.get("/oauth2/jwks", None).json();
    let kinds: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["RSA", "EC"]);
    // Without PUBLIC_URL there is no provider.
    let plain = Server::start();
    assert_eq!(
        plain.get("/.well-known/openid-configuration", None).status,
        404
    );
}

#[test]
fn the_code_flow_issues_verified_tokens_with_the_claims_of_each_scope() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let (code, _, err) = admin(&server.dir, &["group", "add", "alice", "staff"], "");
    assert_eq!(code, Some(0), "{err}");
    let code = code_for(&server, &app, &cookie);
    let tokens = exchange(&server, &app, &code);
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    let claims = verified_claims(&server, tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], app.id.as_str());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], json!(["staff"]));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["email_verified"], false);
    assert!(
        claims.get("email").is_none(),
        "an unverified address is not sent"
    );
    let sub = claims["sub"].as_str().unwrap().to_string();
    assert!(
        sub.len() >= 32 && !sub.chars().all(|c| c.is_ascii_digit()),
        "{sub}"
    );
    let exp = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(exp, 300);

    let info = userinfo(&server, tokens["access_token"].as_str().unwrap());
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["sub"], sub.as_str());
    assert_eq!(info.json()["preferred_username"], "alice");

    // The subject stays the same on the next sign-in.
    let again = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    assert_eq!(
        verified_claims(&server, again["id_token"].as_str().unwrap())["sub"],
        sub.as_str()
    );

    // A refresh rotates: the new one works, the old one is refused and its
    // family (every token from that code) is revoked.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let refreshed = form_post(&server, "/oauth2/token", &app, &form);
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let refreshed = refreshed.json();
    assert!(refreshed["refresh_token"].as_str().unwrap() != refresh);
    assert!(
        verified_claims(&server, refreshed["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
    let reused = form_post(&server, "/oauth2/token", &app, &form);
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");
    assert_eq!(
        userinfo(&server, refreshed["access_token"].as_str().unwrap()).status,
        401
    );
    let next = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            refreshed["refresh_token"].as_str().unwrap(),
        ),
    ];
    assert_eq!(form_post(&server, "/oauth2/token", &app, &next).status, 400);
}

#[test]
fn a_code_is_used_once_and_a_second_use_revokes_what_it_gave() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let code = code_for(&server, &app, &cookie);
    let first = exchange(&server, &app, &code).json();
    let second = exchange(&server, &app, &code);
    assert_eq!(second.status, 400);
    assert_eq!(second.json()["error"], "invalid_grant");
    let denied = userinfo(&server, first["access_token"].as_str().unwrap());
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );

    // The code is bound to the verifier, the redirect URI and the client.
    let code = code_for(&server, &app, &cookie);
    let wrong = form_post(
        &server,
        "/oauth2/token",
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "x".repeat(43).as_str()),
        ],
    );
    assert_eq!(wrong.json()["error"], "invalid_grant");
    let code = code_for(&server, &app, &cookie);
    let other = add_client(&server, &[]);
    assert_eq!(
        exchange(&server, &other, &code).json()["error"],
        "invalid_grant"
    );
    let bad_secret = App {
        id: app.id.clone(),
        secret: Some("nope".into()),
    };
    let refused = exchange(&server, &bad_secret, &code_for(&server, &app, &cookie));
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "invalid_client");
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
}

#[test]
fn authorize_refuses_without_redirecting_to_what_is_not_registered() {
    let server = start();
    let app = add_client(&server, &["--allowed-group", "admins"]);
    let cookie = server.signed_in_user("alice");

    let unknown = server.get(
        &authorize_path(
            &App {
                id: "nobody".into(),
                secret: None,
            },
            "",
        ),
        Some(&cookie),
    );
    assert_eq!(unknown.status, 400);
    assert!(unknown.header("location").is_none());
    assert!(unknown.text().contains("not registered"));
    assert!(
        server.log_shows("client_id=nobody")
            && server.log_shows(&format!("redirect_uri={CALLBACK}")),
        "the log names what was asked for: {}",
        server.log_text()
    );
    let path = authorize_path(&app, "").replace(
        &percent_encode(CALLBACK),
        &percent_encode("https://evil.example/cb"),
    );
    let evil = server.get(&path, Some(&cookie));
    assert_eq!(evil.status, 400);
    assert!(evil.header("location").is_none());
    assert!(server.log_shows("redirect_uri=https://evil.example/cb"));

    // Signed out: to the sign-in page and back to this request; with
    // prompt=none, login_required.
    let signed_out = server.get(&authorize_path(&app, ""), None);
    assert_eq!(signed_out.status, 302);
    let location = signed_out.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{ISSUER}/login?rd=")),
        "{location}"
    );
    let back = &auth_core::support::form::parse(location.split_once('?').unwrap().1).unwrap()["rd"];
    assert!(
        back.starts_with(&format!("{ISSUER}/oauth2/authorize?")),
        "{back}"
    );
    let none = server.get(&authorize_path(&app, "&prompt=none"), None);
    assert_eq!(location_params(&none)["error"], "login_required");

    // Not in the allowed group: access_denied, to the app.
    let denied = server.get(&authorize_path(&app, ""), Some(&cookie));
    assert_eq!(location_params(&denied)["error"], "access_denied");
    assert_eq!(location_params(&denied)["state"], "s-1");
    admin(&server.dir, &["group", "add", "alice", "admins"], "");
    assert!(
        location_params(&server.get(&authorize_path(&app, ""), Some(&cookie))).contains_key("code")
    );

    // No openid scope; not code.
    let path = authorize_path(&app, "").replace("scope=openid", "scope=profile");
    assert_eq!(
        location_params(&server.get(&path, Some(&cookie)))["error"],
        "invalid_scope"
    );
    let path = authorize_path(&app, "").replace("response_type=code", "response_type=token");
    assert_eq!(
        location_params(&server.get(&path, Some(&cookie)))["error"],
        "unsupported_response_type"
    );
}

#[test]
fn a_public_client_must_use_pkce_and_an_es256_client_gets_es256_tokens() {
    let server = start();
    let app = add_client(&server, &["--public", "--alg", "ES256"]);
    assert!(app.secret.is_none());
    let cookie = server.signed_in_user("alice");
    let path = authorize_path(&app, "").replace(
        &format!("&code_challenge={}&code_challenge_method=S256", challenge()),
        "",
    );
    let refused = server.get(&path, Some(&cookie));
    assert_eq!(location_params(&refused)["error"], "invalid_request");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie));
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let id_token = tokens.json()["id_token"].as_str().unwrap().to_string();
    let header: Value =
        serde_json::from_slice(&decode_url(id_token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    verified_claims(&server, &id_token);
}

#[test]
fn grants_end_with_the_sessions_and_keys_rotate() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    // Sign out everywhere revokes them.
    let out = server.post("/api/logout-all", "", Some(&cookie));
    assert_eq!(out.status, 200);
    assert_eq!(
        form_post(&server, "/oauth2/token", &app, &refresh).json()["error"],
        "invalid_grant"
    );
    assert_eq!(
        userinfo(&server, tokens["access_token"].as_str().unwrap()).status,
        401
    );

    // A password change by the admin does too (the epoch moved).
    let cookie = server.login("alice", PASSWORD);
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let (code, _, err) = admin(
        &server.dir,
        &["set-password", "alice"],
        "another long passphrase\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        userinfo(&server, tokens["access_token"].as_str().unwrap()).status,
        401
    );

    // Rotation: new keys sign, the old stay published.
    let before = server.get("/oauth2/jwks", None).json()["keys"]
        .as_array()
        .unwrap()
        .len();
    let (code, out, _) = admin(&server.dir, &["oidc", "rotate-keys"], "");
    assert_eq!(code, Some(0));
    let jwks = server.get("/oauth2/jwks", None).json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), before + 2);
    let cookie = server.login("alice", "another long passphrase");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let id_token = tokens["id_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&decode_url(id_token.split('.').next().unwrap()).unwrap()).unwrap();
    assert!(
        out.contains(header["kid"].as_str().unwrap()),
        "signed with the new key"
    );
    verified_claims(&server, id_token);

    // Removing the client revokes its tokens.
    let (code, _, _) = admin(&server.dir, &["oidc-client", "remove", &app.id], "");
    assert_eq!(code, Some(0));
    assert_eq!(
        userinfo(&server, tokens["access_token"].as_str().unwrap()).status,
        401
    );
}

/// Userinfo answers from memory once a token was read; each way a token
/// ends must reach that memory at once, here or from the admin command.
#[test]
fn an_access_token_read_before_ends_at_once_however_it_is_revoked() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let fresh = |cookie: &str| -> (String, String) {
        let code = code_for(&server, &app, cookie);
        let tokens = exchange(&server, &app, &code).json();
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(userinfo(&server, &access).status, 200, "read once, kept");
        assert_eq!(userinfo(&server, &access).status, 200);
        (
            access,
            tokens["refresh_token"].as_str().unwrap().to_string(),
        )
    };

    // Revoking the refresh token takes the family's access tokens.
    let (access, refresh_token) = fresh(&cookie);
    let revoked = form_post(
        &server,
        "/oauth2/revoke",
        &app,
        &[("token", &refresh_token)],
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(userinfo(&server, &access).status, 401, "revoked");

    // A replayed refresh token revokes its family.
    let (access, refresh_token) = fresh(&cookie);
    assert_eq!(refresh(&server, &app, &refresh_token).status, 200);
    assert_eq!(refresh(&server, &app, &refresh_token).status, 400);
    assert_eq!(userinfo(&server, &access).status, 401, "replayed");

    // Sign out everywhere.
    let (access, _) = fresh(&cookie);
    assert_eq!(
        server.post("/api/logout-all", "", Some(&cookie)).status,
        200
    );
    assert_eq!(userinfo(&server, &access).status, 401, "signed out");

    // The admin command disables the account, then removes the client.
    let cookie = server.login("alice", PASSWORD);
    let (access, _) = fresh(&cookie);
    let (code, _, err) = admin(&server.dir, &["disable", "alice"], "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(userinfo(&server, &access).status, 401, "disabled");
    let (code, _, err) = admin(&server.dir, &["enable", "alice"], "");
    assert_eq!(code, Some(0), "{err}");
    let cookie = server.login("alice", PASSWORD);
    let (access, _) = fresh(&cookie);
    let (code, _, err) = admin(&server.dir, &["oidc-client", "remove", &app.id], "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(userinfo(&server, &access).status, 401, "client removed");
}

/// Requests racing with one code: one gets tokens, the others are
/// replays, and a replay revokes what the winner got (RFC 6749 §4.1.2).
#[test]
fn of_requests_racing_with_one_code_one_wins_and_its_tokens_are_revoked() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let code = code_for(&server, &app, &cookie);
    let start = std::sync::Barrier::new(6);
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    exchange(&server, &app, &code)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one wins");
    for lost in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(lost.status, 400);
        assert_eq!(lost.json()["error"], "invalid_grant");
    }
    let access = won[0].json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        userinfo(&server, &access).status,
        401,
        "revoked by a replay"
    );
}

#[test]
fn logout_with_a_hint_redirects_and_without_one_asks() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let asks = server.get("/oauth2/logout", Some(&cookie));
    assert_eq!(asks.status, 200);
    assert!(asks.text().contains("<form method=\"post\""));
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "a link alone signs nobody out"
    );
    let path = format!(
        "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        tokens["id_token"].as_str().unwrap(),
        percent_encode(CALLBACK)
    );
    let out = server.get(&path, Some(&cookie));
    assert_eq!(out.status, 302, "{}", out.text());
    assert_eq!(
        out.header("location").unwrap(),
        format!("{CALLBACK}?state=bye")
    );
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
}

#[test]
fn clients_need_public_url_and_take_effect_without_a_restart() {
    let server = start();
    let dir = server.stop_keeping_dir();
    let mut env_server = Server::start_in(dir.clone(), &[("PUBLIC_URL", ISSUER)]);
    let app = add_client(&env_server, &[]);
    // Added while running: it works at once.
    let cookie = env_server.signed_in_user("alice");
    assert!(
        location_params(&env_server.get(&authorize_path(&app, ""), Some(&cookie)))
            .contains_key("code")
    );
    let dir = {
        let _ = env_server.signal_and_wait("TERM", std::time::Duration::from_secs(5));
        env_server.dir.clone()
    };
    let mut command = std::process::Command::new(common::binary());
    command
        .env_clear()
        .env("DATABASE_PATH", dir.join("auth.db"))
        .env("PORT", "0")
        .env("BCRYPT_COST", "4");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PUBLIC_URL"));
}

#[test]
fn a_catch_all_deny_rule_decides_oidc_sign_ins_and_the_refusal_is_explained() {
    let dir = common::temp_dir();
    let rules = dir.join("rules");
    // The callback's host is named by no rule but the catch-all.
    std::fs::write(&rules, "wiki.example.com signed_in\n* deny\n").unwrap();
    let server = Server::start_in(
        dir,
        &[
            ("PUBLIC_URL", ISSUER),
            ("ACCESS_RULES_FILE", rules.to_str().unwrap()),
        ],
    );
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let denied = server.get(&authorize_path(&app, ""), Some(&cookie));
    assert_eq!(location_params(&denied)["error"], "access_denied");
    let request_id = format!("request_id={}", denied.header("X-Request-Id").unwrap());
    let log = server.log_through(&denied);
    let line = log
        .lines()
        .find(|l| l.contains("access_denied") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("an access_denied line in {log}"));
    assert!(
        line.contains("identifier=alice")
            && line.contains("rule=line 2")
            && line.contains("decision=forbidden"),
        "{line}"
    );
    // Let the callback's host in, and the same sign-in gets a code (the
    // file is re-read within seconds of an edit).
    let callback_host = CALLBACK
        .split('/')
        .nth(2)
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    std::fs::write(&rules, format!("{callback_host} signed_in\n* deny\n")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let reply = server.get(&authorize_path(&app, ""), Some(&cookie));
        if location_params(&reply).contains_key("code") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the edit never took");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn refresh(server: &Server, app: &App, refresh_token: &str) -> Reply {
    form_post(
        server,
        "/oauth2/token",
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

#[test]
fn refresh_and_userinfo_follow_the_groups_and_rules_in_force() {
    let server = start();
    let app = add_client(&server, &["--allowed-group", "family"]);
    let cookie = server.signed_in_user("kid");
    admin(&server.dir, &["group", "add", "kid", "family"], "");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let access = tokens["access_token"].as_str().unwrap();
    let refreshed = refresh(&server, &app, tokens["refresh_token"].as_str().unwrap());
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let refresh_token = refreshed.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(userinfo(&server, access).status, 200);

    let (code, _, err) = admin(&server.dir, &["group", "remove", "kid", "family"], "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(userinfo(&server, access).status, 401);
    let refused = refresh(&server, &app, &refresh_token);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_grant");
    let (_, events, _) = admin(&server.dir, &["events", "--user", "kid"], "");
    for event in ["oidc_code_issued", "oidc_refresh", "oidc_client_denied"] {
        assert!(
            events.contains(&format!("\t{event}\t")),
            "{event} in {events}"
        );
    }

    // An access rule that names the app's host, edited after the grant.
    let dir = common::temp_dir();
    let rules = dir.join("rules");
    std::fs::write(&rules, "app.example.com signed_in\n").unwrap();
    let server = Server::start_in(
        dir,
        &[
            ("PUBLIC_URL", ISSUER),
            ("ACCESS_RULES_FILE", rules.to_str().unwrap()),
        ],
    );
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("eve");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).status, 200);
    std::fs::write(&rules, "app.example.com groups=admins\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while userinfo(&server, access).status == 200 {
        assert!(std::time::Instant::now() < deadline, "the edit never took");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(userinfo(&server, access).status, 401);
    let refused = refresh(&server, &app, tokens["refresh_token"].as_str().unwrap());
    assert_eq!(refused.json()["error"], "invalid_grant");
}

#[test]
fn a_refresh_token_family_ends_at_its_absolute_lifetime() {
    let server = Server::start_with(&[("PUBLIC_URL", ISSUER), ("OIDC_REFRESH_MAX_DAYS", "2")]);
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let tokens = exchange(&server, &app, &code_for(&server, &app, &cookie)).json();
    let refreshed = refresh(&server, &app, tokens["refresh_token"].as_str().unwrap());
    assert_eq!(refreshed.status, 200);
    // The family began two days ago (as if refreshed daily since).
    let db = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    db.execute(
        "UPDATE oidc_grants SET issued_at = issued_at - 2 * 86400",
        [],
    )
    .unwrap();
    let refused = refresh(
        &server,
        &app,
        refreshed.json()["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"], "invalid_grant");
}

/// The sign-in page's address and the way back it carries.
fn sign_in_and_back(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 302, "{}", reply.text());
    let location = reply.header("location").unwrap().to_string();
    let query = location.split_once('?').unwrap().1;
    let back = auth_core::support::form::parse(query).unwrap()["rd"].clone();
    let path = back.strip_prefix(ISSUER).unwrap().to_string();
    (location, path)
}

#[test]
fn prompt_login_and_max_age_ask_for_a_new_sign_in_and_prompt_none_never_shows_a_page() {
    let server = start();
    let app = add_client(&server, &[]);
    let old = server.signed_in_user("alice");
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    for extra in ["&prompt=login", "&max_age=0", "&prompt=consent%20login"] {
        let (location, back) =
            sign_in_and_back(&server.get(&authorize_path(&app, extra), Some(&old)));
        assert!(
            location.starts_with(&format!("{ISSUER}/login?rd=")),
            "{location}"
        );
        assert!(
            location.ends_with("&prompt=login"),
            "the form, though signed in: {location}"
        );
        assert!(
            back.contains("reauth_from=") && !back.contains("prompt=") && !back.contains("max_age"),
            "{back}"
        );
        // The same old session coming back is sent to sign in again.
        let (_, again) = sign_in_and_back(&server.get(&back, Some(&old)));
        assert_eq!(again, back);
    }
    // A sign-in newer than max_age is enough.
    let fine = server.get(&authorize_path(&app, "&max_age=3600"), Some(&old));
    assert!(location_params(&fine).contains_key("code"));
    // prompt=none never shows a page.
    let none = server.get(&authorize_path(&app, "&prompt=none&max_age=0"), Some(&old));
    assert_eq!(location_params(&none)["error"], "login_required");
    let mixed = server.get(&authorize_path(&app, "&prompt=none%20login"), Some(&old));
    assert_eq!(location_params(&mixed)["error"], "invalid_request");
    assert_eq!(location_params(&mixed)["state"], "s-1");
    let quiet = server.get(&authorize_path(&app, "&prompt=none"), Some(&old));
    assert!(location_params(&quiet).contains_key("code"));

    // A new sign-in goes on, and the ID token's auth_time is its time.
    let (_, back) =
        sign_in_and_back(&server.get(&authorize_path(&app, "&prompt=login"), Some(&old)));
    let new = server.login("alice", PASSWORD);
    let done = server.get(&back, Some(&new));
    let params = location_params(&done);
    let tokens = exchange(&server, &app, &params["code"]).json();
    let claims = verified_claims(&server, tokens["id_token"].as_str().unwrap());
    let old_sessions = server.get("/api/sessions", Some(&new)).json();
    let newest = old_sessions["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["created_at"]
        .clone();
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert_eq!(
        auth_core::support::clock::rfc3339(auth_time),
        newest.as_str().unwrap(),
        "auth_time is the new sign-in"
    );
}

#[test]
fn logout_without_asking_only_with_the_signed_in_accounts_own_id_token() {
    let server = start();
    let app = add_client(&server, &[]);
    let eve = server.signed_in_user("eve");
    let eve_tokens = exchange(&server, &app, &code_for(&server, &app, &eve)).json();
    let kid = server.signed_in_user("kid");
    let kid_tokens = exchange(&server, &app, &code_for(&server, &app, &kid)).json();
    let logout = |tokens: &Value| {
        format!(
            "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}",
            tokens["id_token"].as_str().unwrap(),
            percent_encode(CALLBACK)
        )
    };
    // eve's own ID token, in kid's browser: a page that asks.
    let asks = server.get(&logout(&eve_tokens), Some(&kid));
    assert_eq!(asks.status, 200);
    assert!(asks.text().contains("Sign out of"), "{}", asks.text());
    assert!(asks.header("Content-Security-Policy").is_some());
    assert_eq!(
        server.get("/api/user", Some(&kid)).status,
        200,
        "kid is still signed in"
    );
    // kid's own: signed out, back to the app.
    let out = server.get(&logout(&kid_tokens), Some(&kid));
    assert_eq!(out.status, 302);
    assert_eq!(server.get("/api/user", Some(&kid)).status, 401);
}

#[test]
fn redirect_uris_must_be_https_but_for_loopback() {
    let server = start();
    for refused in [
        "http://app.example.com/cb",
        "https://user@app.example.com/cb",
        "app://cb",
    ] {
        let (code, _, err) = admin(
            &server.dir,
            &["oidc-client", "add", "x", "--redirect-uri", refused],
            "",
        );
        assert_eq!(code, Some(2), "{refused}: {err}");
        assert!(err.contains(refused), "names the URI: {err}");
    }
    for fine in [
        "http://127.0.0.1:8400/cb",
        "http://[::1]/cb",
        "http://app.localhost:3000/cb",
        "http://localhost/cb",
    ] {
        let (code, _, err) = admin(
            &server.dir,
            &["oidc-client", "add", "x", "--redirect-uri", fine],
            "",
        );
        assert_eq!(code, Some(0), "{fine}: {err}");
    }
}

#[test]
fn an_unconfirmed_address_is_signed_out_at_authorize_when_verification_is_required() {
    let server = start();
    let app = add_client(&server, &[]);
    let cookie = server.signed_in_user("alice");
    let dir = server.stop_keeping_dir();
    let server = Server::start_in(
        dir,
        &[("PUBLIC_URL", ISSUER), ("REQUIRE_VERIFIED_EMAIL", "true")],
    );
    let reply = server.get(&authorize_path(&app, ""), Some(&cookie));
    assert_eq!(reply.status, 302);
    assert!(
        reply
            .header("location")
            .unwrap()
            .starts_with(&format!("{ISSUER}/login?rd=")),
        "to the sign-in page, not the app"
    );
    let none = server.get(&authorize_path(&app, "&prompt=none"), Some(&cookie));
    assert_eq!(location_params(&none)["error"], "login_required");
}

/// A database with clients and no signing key (its keys were made lazily,
/// or lost): the server makes them as it starts, before any request.
#[test]
fn keys_missing_at_start_up_are_made_before_any_request() {
    let server = start();
    add_client(&server, &[]);
    let dir = server.stop_keeping_dir();
    let connection = rusqlite::Connection::open(dir.join("auth.db")).unwrap();
    connection.execute("DELETE FROM oidc_keys", []).unwrap();
    drop(connection);
    let server = Server::start_in(dir, &[("PUBLIC_URL", ISSUER)]);
    let keys = server.get("/oauth2/jwks", None).json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
}
