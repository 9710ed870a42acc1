//! Sessions that survive restarts: the same database across a clean stop
//! and a crash, endings that stay ended, expiry that holds while the server
//! is down, no token in the files, and SESSION_PERSIST=false as before.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{PASSWORD, Server, admin};
use serde_json::{Value, json};

fn user_status(server: &Server, cookie: &str) -> u16 {
    server.get("/api/user", Some(cookie)).status
}

fn sessions(server: &Server, cookie: &str) -> Vec<Value> {
    let reply = server.get("/api/sessions", Some(cookie));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["data"]["sessions"].as_array().unwrap().clone()
}

#[test]
fn a_session_survives_a_clean_restart_and_a_crash() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let listed = sessions(&server, &cookie);
    let server = Server::start_in(server.stop_keeping_dir(), &[]);
    assert!(
        server.log_text().contains("sessions_loaded=1"),
        "{}",
        server.log_text()
    );
    assert_eq!(user_status(&server, &cookie), 200);
    let after = sessions(&server, &cookie);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], listed[0]["id"]);
    assert_eq!(after[0]["created_at"], listed[0]["created_at"]);
    assert_eq!(after[0]["current"], true);

    // kill -9 the instant after a login's response.
    let second = server.login("alice", PASSWORD);
    let server = Server::start_in(server.kill_keeping_dir(), &[]);
    assert_eq!(user_status(&server, &second), 200);
    assert_eq!(user_status(&server, &cookie), 200);
}

#[test]
fn ended_sessions_stay_ended_after_a_restart() {
    let server = Server::start();
    let logged_out = server.signed_in_user("alice");
    let revoked = server.login("alice", PASSWORD);
    let keeper = server.login("alice", PASSWORD);
    assert_eq!(
        server.post("/api/logout", "", Some(&logged_out)).status,
        200
    );
    let id = sessions(&server, &revoked)
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server.request(
        "DELETE",
        &format!("/api/sessions/{id}"),
        &[("Cookie", &keeper)],
        "",
    );
    assert_eq!(reply.status, 200);

    let server = Server::start_in(server.kill_keeping_dir(), &[]);
    assert_eq!(user_status(&server, &logged_out), 401);
    assert_eq!(user_status(&server, &revoked), 401);
    assert_eq!(user_status(&server, &keeper), 200);
}

/// A sign-in ends the session the browser brought and, at the per-user cap,
/// the least recently used one; both endings are in the sign-in's own
/// commit, so neither session comes back after a crash.
#[test]
fn sessions_a_sign_in_ended_stay_ended_after_a_crash() {
    let server = Server::start_with(&[("MAX_SESSIONS_PER_USER", "2")]);
    let oldest = server.signed_in_user("alice");
    let replaced = server.login("alice", PASSWORD);
    let body = serde_json::json!({ "username": "alice", "password": PASSWORD }).to_string();
    let again = server.request(
        "POST",
        "/api/login",
        &[("Cookie", &replaced), ("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(again.status, 200, "{}", again.text());
    let kept = again.session_cookie().unwrap();
    let newest = server.login("alice", PASSWORD);

    let server = Server::start_in(server.kill_keeping_dir(), &[]);
    assert_eq!(
        user_status(&server, &replaced),
        401,
        "replaced by a sign-in"
    );
    assert_eq!(user_status(&server, &oldest), 401, "made way under the cap");
    assert_eq!(user_status(&server, &kept), 200);
    assert_eq!(user_status(&server, &newest), 200);
}

#[test]
fn logout_everywhere_and_a_password_change_hold_across_a_restart() {
    let server = Server::start();
    server.signed_in_user("alice");
    let a = server.login("alice", PASSWORD);
    let b = server.login("alice", PASSWORD);
    assert_eq!(server.post("/api/logout-all", "", Some(&a)).status, 200);

    server.signed_in_user("bob");
    let other = server.login("bob", PASSWORD);
    let changer = server.login("bob", PASSWORD);
    let body =
        json!({ "current_password": PASSWORD, "new_password": "a completely new passphrase" });
    let changed = server.post("/api/user/password", &body.to_string(), Some(&changer));
    assert_eq!(changed.status, 200);
    let rotated = changed.session_cookie().unwrap();

    let server = Server::start_in(server.kill_keeping_dir(), &[]);
    for cookie in [&a, &b, &other, &changer] {
        assert_eq!(user_status(&server, cookie), 401);
    }
    assert_eq!(
        user_status(&server, &rotated),
        200,
        "the changer's new token"
    );
}

#[test]
fn an_idle_timeout_that_passes_while_the_server_is_down_ends_the_session() {
    let env = [("SESSION_IDLE_TIMEOUT_SECS", "2")];
    let server = Server::start_with(&env);
    let cookie = server.signed_in_user("alice");
    let dir = server.stop_keeping_dir();
    std::thread::sleep(Duration::from_millis(3100));
    let server = Server::start_in(dir, &env);
    assert_eq!(user_status(&server, &cookie), 401);
    assert!(server.log_text().contains("sessions_loaded=0"));
}

#[test]
fn admin_commands_end_sessions_while_the_server_is_down() {
    let server = Server::start();
    let alice = server.signed_in_user("alice");
    let bob = server.signed_in_user("bob");
    let carol = server.signed_in_user("carol");
    let dave = server.signed_in_user("dave");
    let dir = server.stop_keeping_dir();

    let (code, out, _) = common::admin(&dir, &["sessions", "alice"], "");
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 2, "a header and one session: {out}");
    let token_text = alice.trim_start_matches("sid=");
    assert!(!out.contains(token_text));

    assert_eq!(
        common::admin(&dir, &["revoke-sessions", "alice"], "").0,
        Some(0)
    );
    assert_eq!(common::admin(&dir, &["disable", "bob"], "").0, Some(0));
    assert_eq!(
        common::admin(&dir, &["delete", "carol", "--yes"], "").0,
        Some(0)
    );
    let (code, _, _) = common::admin(&dir, &["set-password", "dave"], "another long passphrase\n");
    assert_eq!(code, Some(0));

    let server = Server::start_in(dir, &[]);
    for cookie in [&alice, &bob, &carol, &dave] {
        assert_eq!(user_status(&server, cookie), 401);
    }
    let (_, out, _) = admin(&server.dir, &["sessions", "alice"], "");
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
}

/// Decodes the unpadded base64url of a cookie token.
fn token_bytes(cookie: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in cookie.trim_start_matches("sid=").bytes() {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["auth.db", "auth.db-wal", "auth.db-shm"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read(dir.join(f)).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn the_token_appears_nowhere_in_the_database_files() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let raw = token_bytes(&cookie);
    assert_eq!(raw.len(), 32);
    let text = cookie.trim_start_matches("sid=").as_bytes().to_vec();
    // While running (the row is in the log) and after a stop (checkpointed).
    for (file, bytes) in database_files(&server.dir) {
        assert!(
            !contains(&bytes, &raw) && !contains(&bytes, &text),
            "{file}"
        );
    }
    let dir = server.stop_keeping_dir();
    let connection = rusqlite::Connection::open(dir.join("auth.db")).unwrap();
    let stored: i64 = connection
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1, "the session is there, by its hash");
    for (file, bytes) in database_files(&dir) {
        assert!(
            !contains(&bytes, &raw) && !contains(&bytes, &text),
            "{file}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn session_persist_false_keeps_sessions_in_memory_only() {
    let env = [("SESSION_PERSIST", "false")];
    let server = Server::start_with(&env);
    let cookie = server.signed_in_user("alice");
    let server = Server::start_in(server.stop_keeping_dir(), &env);
    assert_eq!(user_status(&server, &cookie), 401);
    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let stored: i64 = connection
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);
}

#[test]
fn last_seen_is_written_behind_never_later_than_the_truth() {
    // A session used after login, then a clean stop: the stored last-seen
    // time is the last use (the stop flushes), and a crash can only leave
    // an older one.
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(user_status(&server, &cookie), 200);
    let seen = sessions(&server, &cookie)[0]["last_seen_at"].clone();
    let dir = server.stop_keeping_dir();
    let (_, out, _) = common::admin(&dir, &["sessions", "alice"], "");
    let stored = out
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(2)
        .unwrap()
        .to_string();
    assert_eq!(json!(stored), seen, "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_session_ended_while_persistence_was_off_stays_ended_when_it_is_on_again() {
    // Stored with persistence on, signed out with it off (the table is not
    // written then): it must not come back when persistence is on again.
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let off = [("SESSION_PERSIST", "false")];
    let server = Server::start_in(server.stop_keeping_dir(), &off);
    let signed_out = server.post("/api/logout", "{}", Some(&cookie));
    assert_eq!(signed_out.status, 200);
    let server = Server::start_in(server.stop_keeping_dir(), &[]);
    assert_eq!(user_status(&server, &cookie), 401);
}
