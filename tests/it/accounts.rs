//! The account life cycle (docs/api.md), the admin CLI, the
//! audit trail and the schema migration, against the real binary.

use crate::common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{PASSWORD, Reply, Server};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn with_cookie<'a>(cookie: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("Cookie", cookie), ("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    headers
}

fn change_password(server: &Server, cookie: &str, current: &str, new: &str) -> Reply {
    let body = json!({"current_password": current, "new_password": new}).to_string();
    server.request(
        "POST",
        "/api/user/password",
        &with_cookie(cookie, &[]),
        &body,
    )
}

fn sessions(server: &Server, cookie: &str) -> Vec<Value> {
    let reply = server.get("/api/sessions", Some(cookie));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"]["sessions"].as_array().unwrap().clone()
}

/// Runs `auth-server admin ...` on the server's database.
fn admin(server: &Server, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    common::admin(&server.dir, args, stdin)
}

#[test]
fn account_routes_need_a_session() {
    let server = Server::start();
    for (method, path) in [
        ("POST", "/api/user/password"),
        ("GET", "/api/sessions"),
        ("DELETE", "/api/sessions/0123456789abcdef"),
        ("POST", "/api/logout-all"),
        ("DELETE", "/api/user"),
    ] {
        let reply = server.request(method, path, &[("Content-Type", "application/json")], "{}");
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (401, "unauthenticated"),
            "{method} {path}"
        );
    }
}

#[test]
fn changing_the_password_ends_other_sessions_and_rotates_the_callers() {
    let server = Server::start();
    let mine = server.signed_in_user("alice");
    let other = server.login("alice", PASSWORD);

    let reply = change_password(&server, &mine, PASSWORD, NEW_PASSWORD);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let rotated = reply.session_cookie().expect("a new cookie");
    assert_ne!(rotated, mine);
    assert_eq!(
        server.get("/api/user", Some(&rotated)).status,
        200,
        "the caller stays signed in"
    );
    assert_eq!(
        server.get("/api/user", Some(&mine)).status,
        401,
        "under a new token"
    );
    assert_eq!(
        server.get("/api/user", Some(&other)).status,
        401,
        "every other session ended"
    );

    let old = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
        None,
    );
    assert_eq!(old.status, 401);
    server.login("alice", NEW_PASSWORD);
}

#[test]
fn the_new_password_follows_the_rules() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    for (new, problem) in [
        (PASSWORD, "differ"),
        ("short", "at least"),
        ("qwerty123456", "common"),
        ("alice@example.com", "username or email"),
    ] {
        let reply = change_password(&server, &cookie, PASSWORD, new);
        assert_eq!(reply.code(), "validation_error", "{new}");
        let text = reply.json()["error"]["fields"]["new_password"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains(problem), "{new}: {text}");
    }
    let reply = server.request(
        "POST",
        "/api/user/password",
        &with_cookie(&cookie, &[]),
        r#"{"new_password": 5}"#,
    );
    let fields = &reply.json()["error"]["fields"];
    assert_eq!(fields["current_password"], "is required");
    assert_eq!(fields["new_password"], "must be a string");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "nothing changed"
    );
}

#[test]
fn a_wrong_current_password_is_a_failed_login() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    for _ in 0..5 {
        let reply = change_password(&server, &cookie, "not my password", NEW_PASSWORD);
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (401, "invalid_credentials")
        );
    }
    // Five failures for (alice, this address): the next attempt, even a
    // login with the right password, is throttled.
    assert_eq!(
        change_password(&server, &cookie, PASSWORD, NEW_PASSWORD).status,
        429
    );
    let login = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
        None,
    );
    assert_eq!(login.status, 429);
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "the session itself is untouched"
    );
}

#[test]
fn sessions_are_listed_without_tokens_and_one_is_current() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let body = json!({"username": "alice", "password": PASSWORD}).to_string();
    let phone = server
        .request(
            "POST",
            "/api/login",
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "Phone/1.0"),
            ],
            &body,
        )
        .session_cookie()
        .unwrap();
    let laptop = server.login("alice", PASSWORD);
    let listed = sessions(&server, &laptop);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    let mut ids = HashSet::new();
    for session in &listed {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "ip",
            "user_agent",
            "current",
        ] {
            assert!(session.get(field).is_some(), "{field} in {session}");
        }
        let id = session["id"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        assert!(
            !phone.contains(id) && !laptop.contains(id),
            "the id is not the token"
        );
        assert_eq!(session["ip"], "127.0.0.1");
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s["user_agent"] == "Phone/1.0" && s["current"] == false)
    );
}

#[test]
fn revoking_a_session_ends_it_and_only_the_owner_can() {
    let server = Server::start();
    let alice_laptop = server.signed_in_user("alice");
    let alice_phone = server.login("alice", PASSWORD);
    let bob = server.signed_in_user("bobby");
    let phone_id = sessions(&server, &alice_laptop)
        .into_iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = |cookie: &str, id: &str| {
        server.request(
            "DELETE",
            &format!("/api/sessions/{id}"),
            &[("Cookie", cookie)],
            "",
        )
    };

    // Another user's session id is simply not found.
    assert_eq!(revoke(&bob, &phone_id).code(), "not_found");
    assert_eq!(server.get("/api/user", Some(&alice_phone)).status, 200);
    for junk in ["nothex", "0123456789ABCDEZ", "1", &"f".repeat(17)] {
        assert_eq!(revoke(&alice_laptop, junk).status, 404, "{junk}");
    }

    let reply = revoke(&alice_laptop, &phone_id);
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("Set-Cookie").is_none(),
        "the caller's own cookie stays"
    );
    assert_eq!(server.get("/api/user", Some(&alice_phone)).status, 401);
    assert_eq!(revoke(&alice_laptop, &phone_id).status, 404, "already gone");

    // Revoking the current session also clears its cookie.
    let own_id = sessions(&server, &alice_laptop)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = revoke(&alice_laptop, &own_id);
    assert_eq!(
        reply.header("Set-Cookie").map(|c| c.contains("Max-Age=0")),
        Some(true)
    );
    assert_eq!(server.get("/api/user", Some(&alice_laptop)).status, 401);
}

#[test]
fn logout_everywhere_ends_every_session() {
    let server = Server::start();
    let a = server.signed_in_user("alice");
    let b = server.login("alice", PASSWORD);
    let bob = server.signed_in_user("bobby");
    let reply = server.post("/api/logout-all", "", Some(&a));
    assert_eq!(reply.status, 200);
    assert!(reply.header("Set-Cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(server.get("/api/user", Some(&a)).status, 401);
    assert_eq!(server.get("/api/user", Some(&b)).status, 401);
    assert_eq!(
        server.get("/api/user", Some(&bob)).status,
        200,
        "other users are untouched"
    );
}

#[test]
fn deleting_the_account_needs_the_password_and_frees_the_names() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let other = server.login("alice", PASSWORD);
    let delete = |password: &str| {
        server.request(
            "DELETE",
            "/api/user",
            &with_cookie(&cookie, &[]),
            &json!({ "password": password }).to_string(),
        )
    };
    let wrong = delete("not my password");
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (401, "invalid_credentials")
    );
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);
    let missing = server.request("DELETE", "/api/user", &with_cookie(&cookie, &[]), "{}");
    assert_eq!(missing.code(), "validation_error");

    let reply = delete(PASSWORD);
    assert_eq!(reply.status, 200);
    assert!(reply.header("Set-Cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    assert_eq!(server.get("/api/user", Some(&other)).status, 401);
    let login = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
        None,
    );
    assert_eq!(login.status, 401);
    assert_eq!(
        server.register("alice", PASSWORD).status,
        201,
        "username and email are free again"
    );
}

#[test]
fn admin_commands_reach_live_sessions_at_once() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    server.register("bobby", PASSWORD);

    let (code, out, _) = admin(&server, &["users"], "");
    assert_eq!(code, Some(0));
    assert!(out.starts_with("id\tusername\temail"));
    assert!(
        out.contains("\talice\talice@example.com\t") && out.contains("\tbobby\t"),
        "{out}"
    );
    let (code, out, _) = admin(&server, &["user", "ALICE@example.com"], "");
    assert_eq!(code, Some(0));
    assert!(
        out.contains("username: alice")
            && out.contains("login_count: 1")
            && out.contains("status: active"),
        "{out}"
    );
    assert!(!out.contains("$2b$"), "never the hash");

    // Disable: the live session dies at once, and logging in looks exactly
    // like a wrong password.
    assert_eq!(admin(&server, &["disable", "alice"], "").0, Some(0));
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    let disabled = server.post(
        "/api/login",
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
        None,
    );
    let wrong = server.post(
        "/api/login",
        &json!({"username": "bobby", "password": "wrong password!"}).to_string(),
        None,
    );
    assert_eq!((disabled.status, &disabled.body), (401, &wrong.body));
    assert_eq!(admin(&server, &["enable", "alice"], "").0, Some(0));
    let cookie = server.login("alice", PASSWORD);

    // set-password reads stdin, applies the rules, ends the sessions.
    let (code, _, err) = admin(&server, &["set-password", "alice"], "short\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("at least"), "{err}");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "a refused change changes nothing"
    );
    assert_eq!(
        admin(
            &server,
            &["set-password", "alice"],
            &format!("{NEW_PASSWORD}\r\n")
        )
        .0,
        Some(0)
    );
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    let cookie = server.login("alice", NEW_PASSWORD);

    assert_eq!(admin(&server, &["delete", "alice"], "").0, Some(0));
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    assert_eq!(admin(&server, &["user", "alice"], "").0, Some(1), "gone");
}

#[test]
fn admin_usage_and_errors_have_their_exit_codes() {
    let server = Server::start();
    assert_eq!(admin(&server, &["disable", "nobody"], "").0, Some(1));
    assert_eq!(admin(&server, &["frobnicate"], "").0, Some(2));
    assert_eq!(admin(&server, &["user"], "").0, Some(2));
    assert_eq!(
        admin(&server, &["events", "--limit", "zero"], "").0,
        Some(2)
    );
    assert_eq!(
        admin(&server, &["events", "--user", "nobody"], "").0,
        Some(1)
    );
    for flag in ["--help", "--version"] {
        let output = Command::new(common::binary()).arg(flag).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&output.stdout).contains("auth-server"));
    }
    assert_eq!(
        Command::new(common::binary())
            .arg("--bogus")
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn the_audit_trail_records_events_and_never_secrets() {
    let mut server = Server::start();
    let cookie = server.signed_in_user("alice");
    let body = |password: &str| json!({"username": "alice", "password": password}).to_string();
    for _ in 0..5 {
        server.post("/api/login", &body("wrong guess 77"), None);
    }
    for _ in 0..7 {
        assert_eq!(
            server
                .post("/api/login", &body("wrong guess 77"), None)
                .status,
            429
        );
    }
    server.post("/api/logout", "", Some(&cookie));
    // Throttled attempts are written when the server stops (or each minute).
    assert_eq!(
        server
            .signal_and_wait("TERM", Duration::from_secs(10))
            .unwrap()
            .code(),
        Some(0)
    );

    let (code, out, _) = admin(&server, &["events", "--limit", "100"], "");
    assert_eq!(code, Some(0));
    for event in [
        "registered",
        "login_ok",
        "login_failed",
        "login_throttled",
        "logout",
    ] {
        assert!(out.contains(&format!("\t{event}\t")), "{event} in {out}");
    }
    let throttled: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("\tlogin_throttled\t"))
        .collect();
    assert_eq!(throttled.len(), 1, "aggregated into one row: {throttled:?}");
    assert!(throttled[0].ends_with("\t7\t-"), "{}", throttled[0]);
    let (_, only_alice, _) = admin(&server, &["events", "--user", "alice", "--limit", "2"], "");
    assert_eq!(
        only_alice.lines().count(),
        3,
        "header and two rows: {only_alice}"
    );

    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let dump: String = connection
        .prepare(
            "SELECT coalesce(identifier,'') || coalesce(user_agent,'') || event FROM auth_events",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for secret in [PASSWORD, "wrong guess 77", "$2b$", "sid="] {
        assert!(!dump.contains(secret), "{secret} in the audit trail");
    }
}

#[test]
fn a_version_1_database_migrates_in_place() {
    let dir = common::temp_dir();
    let path = dir.join("auth.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(include_str!("../fixtures/schema-v1.sql"))
            .unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        connection
            .execute(
                "INSERT INTO users (username, email, password_hash, created_at, login_count) VALUES ('old', 'old@example.com', ?1, 1700000000, 3)",
                [hash],
            )
            .unwrap();
    }
    let server = Server::start_in(dir, &[]);
    let cookie = server.login("old", PASSWORD);
    let board = server.get("/api/dashboard", Some(&cookie)).json();
    assert_eq!(board["data"]["user"]["created_at"], "2023-11-14T22:13:20Z");
    assert_eq!(board["data"]["stats"]["login_count"], 4, "kept its history");
    assert_eq!(
        change_password(&server, &cookie, PASSWORD, NEW_PASSWORD).status,
        200,
        "the new columns work"
    );

    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, auth_core::storage::SCHEMA_VERSION);
    let events: i64 = connection
        .query_row("SELECT count(*) FROM auth_events", [], |r| r.get(0))
        .unwrap();
    assert!(events >= 2, "login_ok and password_changed recorded");
}

#[test]
fn a_version_2_database_migrates_and_never_reuses_an_id() {
    let dir = common::temp_dir();
    let path = dir.join("auth.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(include_str!("../fixtures/schema-v2.sql"))
            .unwrap();
        connection.pragma_update(None, "user_version", 2).unwrap();
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        for (id, name) in [(1, "kept"), (3, "newest")] {
            connection
                .execute(
                    "INSERT INTO users (id, username, email, password_hash, created_at) VALUES (?1, ?2, ?2 || '@example.com', ?3, 1700000000)",
                    rusqlite::params![id, name, hash],
                )
                .unwrap();
        }
        // Account 5 existed once: only the audit trail remembers it.
        connection
            .execute(
                "INSERT INTO auth_events (at, event, user_id) VALUES (1, 'account_deleted', 5)",
                [],
            )
            .unwrap();
    }
    let server = Server::start_in(dir, &[]);
    let cookie = server.login("kept", PASSWORD);
    assert_eq!(
        server.get("/api/user", Some(&cookie)).json()["data"]["user"]["id"],
        1
    );
    // Deleting the newest account does not free its id.
    let (code, _, _) = admin(&server, &["delete", "newest", "--yes"], "");
    assert_eq!(code, Some(0));
    let created = server.register("fresh", PASSWORD).json();
    assert_eq!(created["data"]["user"]["id"], 6, "past every id ever used");

    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, auth_core::storage::SCHEMA_VERSION);
}

#[test]
fn signing_in_many_times_ends_your_own_sessions_not_someone_elses() {
    let server = Server::start_with(&[("MAX_SESSIONS", "6"), ("MAX_SESSIONS_PER_USER", "3")]);
    let victim = server.signed_in_user("alice");
    for name in ["mallory", "trudy"] {
        assert_eq!(server.register(name, PASSWORD).status, 201);
    }
    // Ten logins each: each holds its own three; the store is full at six
    // and takes from the heaviest holder, never from alice's one.
    let mut last = String::new();
    for _ in 0..10 {
        for name in ["mallory", "trudy"] {
            last = server.login(name, PASSWORD);
        }
    }
    assert_eq!(server.get("/api/user", Some(&victim)).status, 200);
    assert_eq!(server.get("/api/user", Some(&last)).status, 200);
    let listed = server.get("/api/sessions", Some(&last));
    assert!(listed.json()["data"]["sessions"].as_array().unwrap().len() <= 3);
}
