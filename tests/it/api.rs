//! The auth contract (openapi.json and docs/api.md), end to end against the real
//! binary: register, login, sessions, logout, user, dashboard, health,
//! routing, envelopes and headers.

use crate::common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{PASSWORD, Reply, Server};
use serde_json::json;

fn register_body(username: &str, email: &str, password: &str) -> String {
    json!({ "username": username, "email": email, "password": password }).to_string()
}

// ---- register ----------------------------------------------------------

#[test]
fn register_returns_the_user_and_does_not_log_in() {
    let server = Server::start();
    let reply = server.post(
        "/api/register",
        &register_body("Alice", " Alice@Example.COM ", PASSWORD),
        None,
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["success"], true);
    assert!(body["message"].is_string());
    let user = &body["data"]["user"];
    assert_eq!(user["username"], "Alice");
    assert_eq!(
        user["email"], "alice@example.com",
        "trimmed and lower-cased"
    );
    assert!(user["id"].is_i64());
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(user["last_login_at"], serde_json::Value::Null);
    let keys: HashSet<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "username",
            "email",
            "created_at",
            "last_login_at",
            "email_verified",
            "totp_enabled",
            "has_password",
            "groups"
        ])
    );
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["has_password"], true);
    assert!(
        reply.header("Set-Cookie").is_none(),
        "registering does not log in"
    );
}

#[test]
fn every_invalid_field_is_reported_at_once() {
    let server = Server::start();
    let reply = server.post(
        "/api/register",
        &register_body("a", "not-an-email", "short"),
        None,
    );
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "validation_error");
    let fields = &reply.json()["error"]["fields"];
    for field in ["username", "email", "password"] {
        assert!(fields[field].is_string(), "{field} missing from {fields}");
    }

    let reply = server.post(
        "/api/register",
        r#"{"username": 5, "email": null, "is_admin": true}"#,
        None,
    );
    assert_eq!(reply.code(), "validation_error");
    let fields = &reply.json()["error"]["fields"];
    assert_eq!(fields["username"], "must be a string");
    assert_eq!(fields["email"], "must be a string");
    assert_eq!(fields["password"], "is required");
    assert_eq!(fields["is_admin"], "is not a known field");
}

#[test]
fn bodies_that_are_not_one_json_object_are_invalid_json() {
    let server = Server::start();
    for body in [
        "",
        "not json",
        "[]",
        "\"text\"",
        "{\"username\":",
        "{} []",
        r#"{"a":1,"a":2}"#,
    ] {
        let reply = server.request(
            "POST",
            "/api/register",
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (400, "invalid_json"),
            "{body:?}"
        );
    }
}

#[test]
fn usernames_and_emails_are_unique_ignoring_case() {
    let server = Server::start();
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let reply = server.post(
        "/api/register",
        &register_body("ALICE", "other@example.com", PASSWORD),
        None,
    );
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (409, "username_taken")
    );
    let reply = server.post(
        "/api/register",
        &register_body("bob", "Alice@EXAMPLE.com", PASSWORD),
        None,
    );
    assert_eq!((reply.status, reply.code().as_str()), (409, "email_taken"));
}

#[test]
fn a_registration_race_has_one_winner_and_409s() {
    // Default hash workers at a cost where the 24 hashes really queue: all
    // are admitted and wait their turn (no 503), and the database decides.
    let server = Server::start_with(&[("REGISTRATIONS_PER_HOUR", "0"), ("BCRYPT_COST", "10")]);
    let statuses: Vec<u16> = thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let body = register_body("racer", &format!("racer{i}@example.com"), PASSWORD);
                    server.post("/api/register", &body, None).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        23,
        "{statuses:?}"
    );
}

#[test]
fn password_rules() {
    let server = Server::start();
    let attempt = |name: &str, password: &str| {
        server.post(
            "/api/register",
            &register_body(name, &format!("{name}@example.com"), password),
            None,
        )
    };
    let password_problem = |reply: &Reply| {
        reply.json()["error"]["fields"]["password"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };

    // Minimum length counts code points, not bytes (12 by default).
    assert_eq!(attempt("user1", &"é".repeat(11)).status, 400);
    assert_eq!(attempt("user2", &"é".repeat(12)).status, 201);
    // No composition rules; spaces and emoji are fine.
    assert_eq!(attempt("user3", "pässwörd 🙂 horse battery").status, 201);
    // 72 bytes is the most bcrypt reads: accepted in full, and one more is refused.
    let exactly_72 = "abc defg ".repeat(8);
    assert_eq!(attempt("user4", &exactly_72).status, 201);
    assert_eq!(
        server
            .post(
                "/api/login",
                &json!({"username": "user4", "password": exactly_72}).to_string(),
                None
            )
            .status,
        200
    );
    let changed_last = format!("{}X", &exactly_72[..71]);
    assert_eq!(
        server
            .post(
                "/api/login",
                &json!({"username": "user4", "password": changed_last}).to_string(),
                None
            )
            .status,
        401
    );
    let reply = attempt("user5", &format!("{}X", "a".repeat(72)));
    assert_eq!(reply.status, 400);
    assert!(
        password_problem(&reply).contains("72 bytes"),
        "{}",
        password_problem(&reply)
    );
    // Common passwords, in any case.
    let reply = attempt("user6", "QWERTY123456");
    assert!(
        password_problem(&reply).contains("common"),
        "{}",
        reply.text()
    );
    // Not the username or the email.
    let reply = attempt("alicewonderland1", "alicewonderland1");
    assert!(
        password_problem(&reply).contains("username"),
        "{}",
        reply.text()
    );
    let reply = server.post(
        "/api/register",
        &register_body(
            "user7",
            "longaddress@example.com",
            "LongAddress@Example.com",
        ),
        None,
    );
    assert_eq!(reply.status, 400);
    // Never trimmed: the spaces are part of the password.
    assert_eq!(attempt("user8", "  padded password  ").status, 201);
    assert_eq!(
        server
            .post(
                "/api/login",
                &json!({"username": "user8", "password": "padded password"}).to_string(),
                None
            )
            .status,
        401
    );
}

#[test]
fn the_common_list_is_checked() {
    // An entry of the shipped list that meets the 12-character minimum.
    let server = Server::start();
    let common = include_str!("../../data/common-passwords.txt")
        .lines()
        .find(|l| l.chars().count() >= 12)
        .unwrap();
    for candidate in [common.to_string(), common.to_uppercase()] {
        let reply = server.post(
            "/api/register",
            &register_body("someone", "someone@example.com", &candidate),
            None,
        );
        assert_eq!(reply.status, 400, "{candidate}");
    }
}

// ---- login ---------------------------------------------------------------

#[test]
fn login_by_username_or_email_sets_a_fresh_http_only_cookie() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    for identifier in [
        json!({"username": "ALICE"}),
        json!({"username": "Alice@Example.com"}),
        json!({"email": "alice@example.com"}),
    ] {
        let mut body = identifier.clone();
        body["password"] = json!(PASSWORD);
        let reply = server.post("/api/login", &body.to_string(), None);
        assert_eq!(reply.status, 200, "{identifier}: {}", reply.text());
        assert_eq!(reply.json()["data"]["user"]["username"], "alice");
        let set_cookie = reply.header("Set-Cookie").unwrap();
        let token = set_cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("sid=")
            .unwrap();
        assert_eq!(token.len(), 43, "256 bits in base64url");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            set_cookie,
            format!("sid={token}; HttpOnly; Path=/; SameSite=Lax")
        );
        assert!(
            !reply.text().contains(token),
            "the token is only in the cookie"
        );
    }
}

#[test]
fn tokens_are_distinct_and_unpatterned() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let tokens: Vec<String> = (0..30).map(|_| server.login("alice", PASSWORD)).collect();
    let unique: HashSet<&String> = tokens.iter().collect();
    assert_eq!(unique.len(), tokens.len());
    let prefixes: HashSet<&str> = tokens.iter().map(|t| &t[4..8]).collect();
    assert!(prefixes.len() > 20, "no shared prefix");
    assert!(tokens.iter().all(|t| !t.contains("alice")));
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let wrong = server.post(
        "/api/login",
        &json!({"username": "alice", "password": "wrong password!"}).to_string(),
        None,
    );
    let unknown = server.post(
        "/api/login",
        &json!({"username": "nobody_7f3a", "password": "wrong password!"}).to_string(),
        None,
    );
    let unknown_email = server.post(
        "/api/login",
        &json!({"email": "no@where.com", "password": "x"}).to_string(),
        None,
    );
    for reply in [&wrong, &unknown, &unknown_email] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.code(), "invalid_credentials");
        assert!(reply.header("Set-Cookie").is_none());
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, unknown_email.body);
}

#[test]
fn login_validation_and_query_strings() {
    let server = Server::start();
    let reply = server.post(
        "/api/login",
        r#"{"username": "a", "email": "a@b.com", "password": "x"}"#,
        None,
    );
    assert_eq!(reply.code(), "validation_error");
    let reply = server.post("/api/login", r#"{"password": "x"}"#, None);
    assert_eq!(
        reply.json()["error"]["fields"]["username"],
        "username or email is required"
    );
    let reply = server.post(
        "/api/login",
        r#"{"username": "a", "password": "x", "remember": "yes"}"#,
        None,
    );
    assert_eq!(
        reply.json()["error"]["fields"]["remember"],
        "must be true or false"
    );
    // Credentials in the URL are not credentials.
    let reply = server.request(
        "POST",
        "/api/login?username=a&password=b",
        &[("Content-Type", "application/json")],
        "",
    );
    assert_eq!(reply.status, 400);
}

#[test]
fn remember_me_and_cookie_settings() {
    let server = Server::start_with(&[
        ("REMEMBER_ME_TIMEOUT_SECS", "86400"),
        ("COOKIE_SECURE", "true"),
        ("COOKIE_SAMESITE", "Strict"),
    ]);
    server.register("alice", PASSWORD);
    let remembered = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD, "remember": true}).to_string(),
        None,
    );
    let cookie = remembered.header("Set-Cookie").unwrap();
    assert!(
        cookie.ends_with("; HttpOnly; Path=/; SameSite=Strict; Secure; Max-Age=86400"),
        "{cookie}"
    );
    let plain = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD, "remember": false}).to_string(),
        None,
    );
    let cookie = plain.header("Set-Cookie").unwrap();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(cookie.contains("; Secure"));
    let session = server
        .get("/api/dashboard", remembered.session_cookie().as_deref())
        .json();
    let session = &session["data"]["session"];
    assert_ne!(session["expires_at"], session["created_at"]);
}

#[test]
fn a_login_ends_the_session_it_was_sent_with() {
    let server = Server::start();
    let alice = server.signed_in_user("alice");
    server.register("bob", PASSWORD);
    let reply = server.post(
        "/api/login",
        &json!({"username": "bob", "password": PASSWORD}).to_string(),
        Some(&alice),
    );
    let bob = reply.session_cookie().unwrap();
    assert_ne!(bob, alice);
    assert_eq!(
        server.get("/api/user", Some(&alice)).status,
        401,
        "the old token is dead"
    );
    assert_eq!(
        server.get("/api/user", Some(&bob)).json()["data"]["user"]["username"],
        "bob"
    );
}

// ---- sessions --------------------------------------------------------------

#[test]
fn logout_kills_the_token_and_clears_the_cookie() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);
    let reply = server.post("/api/logout", "", Some(&cookie));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Set-Cookie"),
        Some("sid=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0")
    );
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    // Again, and with no session at all: still 200.
    assert_eq!(server.post("/api/logout", "", Some(&cookie)).status, 200);
    assert_eq!(server.post("/api/logout", "", None).status, 200);
}

#[test]
fn protected_routes_need_a_live_issued_session() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let token = cookie.strip_prefix("sid=").unwrap();
    let mut flipped = token.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("sid={}", String::from_utf8(flipped).unwrap());
    let never_issued = format!("sid={}", "A".repeat(43));
    for bad in [
        None,
        Some("sid="),
        Some("sid=garbage"),
        Some(flipped.as_str()),
        Some(never_issued.as_str()),
        Some("sid=é"),
    ] {
        for path in ["/api/user", "/api/dashboard"] {
            let reply = server.get(path, bad);
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (401, "unauthenticated"),
                "{path} {bad:?}"
            );
        }
    }
    // The real one among others still works.
    let mixed = format!("theme=dark; sid=junk; {cookie}");
    assert_eq!(server.get("/api/user", Some(&mixed)).status, 200);
}

#[test]
fn dashboard_shows_the_session_and_the_previous_login() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let first = server.login("alice", PASSWORD);
    let board = server.get("/api/dashboard", Some(&first)).json();
    let data = &board["data"];
    assert_eq!(data["user"]["username"], "alice");
    assert_eq!(data["stats"]["login_count"], 1);
    assert_eq!(
        data["stats"]["last_login_at"],
        serde_json::Value::Null,
        "first login"
    );
    assert_eq!(data["stats"]["active_sessions"], 1);
    assert!(data["session"]["created_at"].is_string());
    // Idle end: 30 minutes after now, within the 12 h absolute end.
    assert!(
        data["session"]["expires_at"].as_str().unwrap()
            > data["session"]["created_at"].as_str().unwrap()
    );

    let first_login_at = data["user"]["last_login_at"].clone();
    let second = server.login("alice", PASSWORD);
    let board = server.get("/api/dashboard", Some(&second)).json();
    assert_eq!(board["data"]["stats"]["login_count"], 2);
    assert_eq!(board["data"]["stats"]["last_login_at"], first_login_at);
    assert_eq!(board["data"]["stats"]["active_sessions"], 2);
}

#[test]
fn idle_sessions_die_and_activity_keeps_them_alive() {
    // A timeout five times the pause between uses, so a loaded machine's
    // late wake-ups do not end the kept session; the one left alone is
    // idle at least 7 x 0.9 s, whatever the load.
    let server = Server::start_with(&[("SESSION_IDLE_TIMEOUT_SECS", "5")]);
    let kept = server.signed_in_user("alice");
    let left = server.login("alice", PASSWORD);
    for _ in 0..7 {
        thread::sleep(Duration::from_millis(900));
        assert_eq!(
            server.get("/api/user", Some(&kept)).status,
            200,
            "activity extends the idle timer"
        );
    }
    assert_eq!(
        server.get("/api/user", Some(&left)).status,
        401,
        "idle for 6.3 s or more with a 5 s timeout"
    );
}

#[test]
fn absolute_timeout_ends_even_an_active_session() {
    let server = Server::start_with(&[
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "3"),
        ("SESSION_IDLE_TIMEOUT_SECS", "60"),
    ]);
    // Times are whole seconds: a session made in second T ends at T + 3,
    // at least two seconds after the clock below started.
    let started = Instant::now();
    let cookie = server.signed_in_user("alice");
    while server.get("/api/user", Some(&cookie)).status == 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "never expired");
        thread::sleep(Duration::from_millis(250));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "ended early: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_user_holds_at_most_max_sessions_per_user() {
    let server = Server::start_with(&[("MAX_SESSIONS_PER_USER", "20")]);
    server.register("alice", PASSWORD);
    let cookies: Vec<String> = (0..21).map(|_| server.login("alice", PASSWORD)).collect();
    assert_eq!(
        server.get("/api/user", Some(&cookies[0])).status,
        401,
        "the least recently used ended"
    );
    assert_eq!(server.get("/api/user", Some(&cookies[1])).status, 200);
    let board = server.get("/api/dashboard", Some(&cookies[20])).json();
    assert_eq!(board["data"]["stats"]["active_sessions"], 20);
}

#[test]
fn the_store_holds_at_most_max_sessions() {
    let server = Server::start_with(&[("MAX_SESSIONS", "3")]);
    // Session times are whole seconds: b is the oldest by a clear second.
    let b = server.signed_in_user("bobby");
    thread::sleep(Duration::from_millis(1100));
    let a = server.signed_in_user("alice");
    let c = server.signed_in_user("carol");
    let _d = server.signed_in_user("dave1");
    assert_eq!(server.get("/api/user", Some(&b)).status, 401);
    assert_eq!(server.get("/api/user", Some(&a)).status, 200);
    assert_eq!(server.get("/api/user", Some(&c)).status, 200);
}

// ---- health, routing, headers ----------------------------------------------

#[test]
fn health_reports_the_database() {
    let server = Server::start();
    let reply = server.get("/api/health", None);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"success": true, "message": "ok", "data": {"database": "ok"}})
    );
}

#[test]
fn unknown_routes_404_and_wrong_methods_405_with_allow() {
    let server = Server::start();
    for path in ["/", "/api/nope", "/api/user/", "/index.html"] {
        let reply = server.get(path, None);
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (404, "not_found"),
            "{path}"
        );
    }
    let reply = server.request("PUT", "/api/login", &[], "");
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(reply.header("Allow"), Some("POST, OPTIONS"));
    let reply = server.request("TRACE", "/api/user", &[], "");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    // Logging out is never a GET, so a link cannot log anyone out.
    let cookie = server.signed_in_user("alice");
    assert_eq!(server.get("/api/logout", Some(&cookie)).status, 405);
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);
}

#[test]
fn bodies_must_be_json() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let reply = server.request(
            "POST",
            "/api/logout",
            &[("Content-Type", content_type), ("Cookie", &cookie)],
            "{}",
        );
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (415, "unsupported_media_type"),
            "{content_type}"
        );
    }
    let reply = server.request("POST", "/api/logout", &[("Cookie", &cookie)], "{}");
    assert_eq!(reply.status, 415, "a body without a Content-Type");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "the session survived"
    );
    let reply = server.request(
        "POST",
        "/api/login",
        &[("Content-Type", "Application/JSON; charset=utf-8")],
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
    );
    assert_eq!(reply.status, 200, "parameters and case do not matter");
}

#[test]
fn every_response_carries_the_security_headers() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let replies = [
        server.get("/api/user", Some(&cookie)),
        server.get("/api/user", None),
        server.get("/api/nope", None),
        server.request("POST", "/api/login", &[("Content-Type", "text/plain")], "x"),
        server.post("/api/login", "{}", None),
        server.post(
            "/api/login",
            &json!({"username": "alice", "password": PASSWORD}).to_string(),
            None,
        ),
        server.request(
            "OPTIONS",
            "/api/login",
            &[("Origin", "http://localhost:3000")],
            "",
        ),
    ];
    let mut ids = HashSet::new();
    for reply in &replies {
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        assert_eq!(
            reply.header("Content-Security-Policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(reply.header("X-Frame-Options"), Some("DENY"));
        assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
        assert_eq!(reply.header("Vary"), Some("Origin"));
        assert!(reply.header("Server").is_none() && reply.header("X-Powered-By").is_none());
        if !reply.body.is_empty() {
            assert_eq!(reply.header("Content-Type"), Some("application/json"));
            let text = reply.text();
            for leak in [
                "panicked", "sqlite", "rusqlite", "serde", "/src/", ".rs:", "$2b$",
            ] {
                assert!(!text.contains(leak), "{leak} in {text}");
            }
        }
        ids.insert(reply.header("X-Request-Id").unwrap().to_string());
    }
    assert_eq!(ids.len(), replies.len(), "request ids are unique");
}

// ---- cross-origin ------------------------------------------------------------

#[test]
fn allowed_origins_get_exact_credentialed_cors() {
    let server = Server::start_with(&[("CORS_ORIGINS", "https://app.example.com")]);
    let origin = [("Origin", "https://app.example.com")];
    for reply in [
        server.request("GET", "/api/health", &origin, ""),
        server.request("GET", "/api/user", &origin, ""),
    ] {
        assert_eq!(
            reply.header("Access-Control-Allow-Origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            reply.header("Access-Control-Allow-Credentials"),
            Some("true")
        );
        assert_eq!(reply.header("Vary"), Some("Origin"));
    }
    // CORS is not authentication.
    assert_eq!(server.request("GET", "/api/user", &origin, "").status, 401);

    let preflight = server.request(
        "OPTIONS",
        "/api/login",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Credentials"),
        Some("true")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Methods"),
        Some("POST, OPTIONS")
    );
    assert_eq!(
        preflight.header("Access-Control-Allow-Headers"),
        Some("Content-Type")
    );
    assert_eq!(preflight.header("Access-Control-Max-Age"), Some("600"));
}

#[test]
fn other_origins_get_nothing_and_cannot_change_state() {
    let server = Server::start_with(&[("CORS_ORIGINS", "https://app.example.com")]);
    let cookie = server.signed_in_user("alice");
    for evil in [
        "https://evil.example",
        "https://app.example.com.evil.net",
        "http://app.example.com",
        "null",
    ] {
        let origin = [("Origin", evil)];
        let read = server.request("GET", "/api/health", &origin, "");
        assert_eq!(read.status, 200);
        assert!(
            read.headers
                .iter()
                .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-")),
            "{evil}"
        );
        let preflight = server.request("OPTIONS", "/api/login", &origin, "");
        assert!(
            preflight
                .headers
                .iter()
                .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-"))
        );

        let logout = server.request(
            "POST",
            "/api/logout",
            &[("Origin", evil), ("Cookie", &cookie)],
            "",
        );
        assert_eq!(
            (logout.status, logout.code().as_str()),
            (403, "origin_not_allowed"),
            "{evil}"
        );
        assert_eq!(logout.header("Vary"), Some("Origin"));
        let register = server.request(
            "POST",
            "/api/register",
            &[("Origin", evil), ("Content-Type", "application/json")],
            &register_body("mallory", "m@example.com", PASSWORD),
        );
        assert_eq!(register.status, 403);
        let login = server.request(
            "POST",
            "/api/login",
            &[("Origin", evil), ("Content-Type", "application/json")],
            &json!({"username": "alice", "password": PASSWORD}).to_string(),
        );
        assert_eq!(login.status, 403);
        assert!(login.header("Set-Cookie").is_none());
    }
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "no logout happened"
    );
    let mallory = server.post(
        "/api/login",
        &json!({"username": "mallory", "password": PASSWORD}).to_string(),
        None,
    );
    assert_eq!(
        mallory.status, 401,
        "the cross-origin registration created nobody"
    );
}

// ---- the OpenAPI document -----------------------------------------------------

#[test]
fn the_openapi_document_is_served_and_matches_the_router_both_ways() {
    let server = Server::start();
    let reply = server.get("/api/openapi.json", None);
    assert_eq!(reply.status, 200);
    let served = reply.json();
    let file: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    assert_eq!(served, file, "the file at the top level is what is served");
    assert_eq!(served["openapi"], "3.1.0");

    let documented: HashSet<(String, String)> = served["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    // A route for any method (`*`) is documented under each method.
    let routed: HashSet<(String, String)> = auth_server::api::router::ROUTES
        .iter()
        .flat_map(|route| {
            let methods = if route.method == "*" {
                vec!["GET", "POST", "PUT", "PATCH", "DELETE"]
            } else {
                vec![route.method]
            };
            methods
                .into_iter()
                .map(move |m| (m.to_string(), route.path.to_string()))
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );

    // Every error code the server can send is in the document's enum.
    let codes: HashSet<&str> = served["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // (Field names of the error object, such as retry_after, are
    // documented as its properties.)
    let fields = served["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
        .as_object()
        .unwrap();
    let api = include_str!("../../src/api/error.rs");
    for code in api
        .split('"')
        .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_') && s.contains('_'))
        .filter(|s| !fields.contains_key(*s))
    {
        assert!(codes.contains(code), "{code} is not documented");
    }
}
