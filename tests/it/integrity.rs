//! The account's integrity against the real binary: sessions bound to the account (ids never reused), logins
//! that race a password change, escaped admin output, strict emails, no
//! typed identifiers in the log, private and scrubbed database files, a
//! checkpoint at a clean stop, 204 without Content-Length, and an admin
//! command that does not echo passwords or delete without asking.

use crate::common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{PASSWORD, Server, admin};
use serde_json::json;

const NEW_PASSWORD: &str = "a completely new passphrase";

fn login_remember(server: &Server, name: &str) -> String {
    let body = json!({ "username": name, "password": PASSWORD, "remember": true });
    let reply = server.post("/api/login", &body.to_string(), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.session_cookie().unwrap()
}

fn user_id(server: &Server, cookie: &str) -> i64 {
    server.get("/api/user", Some(cookie)).json()["data"]["user"]["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_deleted_accounts_session_never_moves_to_the_next_account() {
    let server = Server::start();
    server.signed_in_user("alice");
    server.register("mallory", PASSWORD);
    let mallory = login_remember(&server, "mallory");
    let mallory_id = user_id(&server, &mallory);
    let (code, _, _) = admin(&server.dir, &["delete", "mallory", "--yes"], "");
    assert_eq!(code, Some(0));

    let victim = server.signed_in_user("victim");
    assert_ne!(
        user_id(&server, &victim),
        mallory_id,
        "ids are never reused"
    );
    assert_eq!(server.get("/api/user", Some(&mallory)).status, 401);
    assert_eq!(server.get("/api/sessions", Some(&mallory)).status, 401);
    // The audit trail of the new account is its own.
    let (_, events, _) = admin(&server.dir, &["events", "--user", "victim"], "");
    assert!(!events.contains("mallory"), "{events}");
}

#[test]
fn deleting_an_account_ends_its_sessions_in_every_process() {
    let first = Server::start();
    first.register("alice", PASSWORD);
    let second = Server::start_in(first.dir.clone(), &[]);
    let in_first = first.login("alice", PASSWORD);
    let in_second = second.login("alice", PASSWORD);
    let body = json!({ "password": PASSWORD }).to_string();
    let deleted = first.request(
        "DELETE",
        "/api/user",
        &[("Content-Type", "application/json"), ("Cookie", &in_first)],
        &body,
    );
    assert_eq!(deleted.status, 200);
    assert_eq!(second.get("/api/user", Some(&in_second)).status, 401);
    // The same name registered again is another account to the second
    // process too.
    assert_eq!(first.register("alice", PASSWORD).status, 201);
    assert_eq!(second.get("/api/user", Some(&in_second)).status, 401);
    second.kill_keeping_dir(); // the directory is the first one's to delete
}

#[test]
fn a_login_checked_against_the_old_password_does_not_survive_its_change() {
    // The attacker logs in with the old password in a loop while the owner
    // changes it; every session the attacker got must be dead afterwards.
    let server = Server::start_with(&[("BCRYPT_COST", "9"), ("LOGIN_FAILURES_PER_IP", "100000")]);
    let owner = server.signed_in_user("alice");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stolen: Vec<String> = thread::scope(|scope| {
        let attackers: Vec<_> = (0..3)
            .map(|n| {
                let (server, stop) = (&server, &stop);
                scope.spawn(move || {
                    let mut cookies = Vec::new();
                    let address = format!("198.51.100.{n}");
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let body = json!({ "username": "alice", "password": PASSWORD });
                        let reply = server.request(
                            "POST",
                            "/api/login",
                            &[
                                ("Content-Type", "application/json"),
                                ("X-Forwarded-For", &address),
                            ],
                            &body.to_string(),
                        );
                        if let Some(cookie) = reply.session_cookie() {
                            cookies.push(cookie);
                        }
                    }
                    cookies
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        let body = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
        let changed = server.request(
            "POST",
            "/api/user/password",
            &[("Content-Type", "application/json"), ("Cookie", &owner)],
            &body.to_string(),
        );
        assert_eq!(changed.status, 200, "{}", changed.text());
        thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        attackers
            .into_iter()
            .flat_map(|a| a.join().unwrap())
            .collect()
    });
    assert!(
        stolen.len() > 3,
        "the attackers logged in: {}",
        stolen.len()
    );
    let alive: Vec<_> = stolen
        .iter()
        .filter(|cookie| server.get("/api/user", Some(cookie)).status == 200)
        .collect();
    assert!(
        alive.is_empty(),
        "{} sessions outlived the change",
        alive.len()
    );
}

#[test]
fn admin_output_escapes_control_and_invisible_characters() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    // A user agent with a bidi override (accepted as obs-text by HTTP).
    let body = json!({ "username": "alice", "password": "wrong password!" });
    server.request(
        "POST",
        "/api/login",
        &[
            ("Content-Type", "application/json"),
            ("User-Agent", "x\u{202e}gpj.exe"),
        ],
        &body.to_string(),
    );
    // And rows as an older version stored them: raw text as typed.
    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    connection
        .execute(
            "INSERT INTO auth_events (at, event, identifier, user_agent) VALUES (1, 'login_failed', ?1, ?2)",
            ["\u{1b}[2J\u{1b}[Hroot logged in", "ua\u{200b}\r\nforged"],
        )
        .unwrap();
    let (code, out, _) = admin(&server.dir, &["events"], "");
    assert_eq!(code, Some(0));
    for raw in ['\u{1b}', '\u{202e}', '\u{200b}', '\r'] {
        assert!(!out.contains(raw), "raw {raw:?} in {out:?}");
    }
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    assert!(out.contains("x\\u{202e}gpj.exe"), "{out}");
    // A header and three rows (registered, login_failed, the old one).
    assert_eq!(out.lines().count(), 4, "one line per row: {out}");
}

#[test]
fn emails_with_markup_or_invisible_characters_are_refused() {
    let server = Server::start();
    for email in [
        "\"x\"<img/src=x>@e<b>.com",
        "alice\u{200b}@example.com",
        "alice@exa_mple.com",
        "alice@-example.com",
    ] {
        let body = json!({ "username": "alice", "email": email, "password": PASSWORD });
        let reply = server.post("/api/register", &body.to_string(), None);
        assert_eq!(reply.status, 400, "{email:?}");
        assert!(reply.json()["error"]["fields"]["email"].is_string());
    }
}

#[test]
fn an_unknown_identifier_is_never_logged_or_stored_as_typed() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let secret = "MySecretPassw0rd!";
    for _ in 0..6 {
        let body = json!({ "username": secret, "password": "whatever it is" });
        server.post("/api/login", &body.to_string(), None);
    }
    let body = json!({ "username": "ALICE", "password": "wrong password!" });
    let last = server.post("/api/login", &body.to_string(), None);
    let log = server.log_through(&last);
    assert!(!log.contains(secret), "{log}");
    assert!(log.contains("identifier=unknown:"), "{log}");
    // A known account is recorded by its username, as stored.
    assert!(log.contains("identifier=alice"), "{log}");
    let stop = server.child.id();
    Command::new("kill")
        .args(["-TERM", &stop.to_string()])
        .status()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    for file in ["auth.db", "auth.db-wal"] {
        let bytes = std::fs::read(server.dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{file} holds the typed identifier"
        );
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_database_files_are_private() {
    let server = Server::start();
    server.signed_in_user("alice");
    for file in ["auth.db", "auth.db-wal", "auth.db-shm"] {
        assert_eq!(mode(&server.dir.join(file)), 0o600, "{file}");
    }
    // An existing file left readable by an older version is made private.
    let dir = common::temp_dir();
    std::fs::write(dir.join("auth.db"), b"").unwrap();
    std::fs::set_permissions(dir.join("auth.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start_in(dir, &[]);
    assert_eq!(mode(&server.dir.join("auth.db")), 0o600);
}

#[test]
fn a_deleted_accounts_email_is_gone_from_the_files() {
    let server = Server::start();
    let email = "unmistakable-address@example.com";
    let body = json!({ "username": "leaver", "email": email, "password": PASSWORD });
    assert_eq!(
        server.post("/api/register", &body.to_string(), None).status,
        201
    );
    let cookie = server.login(email, PASSWORD);
    let body = json!({ "password": PASSWORD }).to_string();
    let reply = server.request(
        "DELETE",
        "/api/user",
        &[("Content-Type", "application/json"), ("Cookie", &cookie)],
        &body,
    );
    assert_eq!(reply.status, 200);
    for file in ["auth.db", "auth.db-wal"] {
        let bytes = std::fs::read(server.dir.join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(email.len()).any(|w| w == email.as_bytes()),
            "{file} still holds the deleted email"
        );
    }
}

#[test]
fn after_a_clean_stop_the_database_file_alone_is_complete() {
    let mut server = Server::start();
    server.signed_in_user("alice");
    let status = server
        .signal_and_wait("TERM", Duration::from_secs(15))
        .unwrap();
    assert!(status.success());
    // Copy only the main file, as a naive backup would.
    let copy = common::temp_dir().join("copy.db");
    std::fs::copy(server.dir.join("auth.db"), &copy).unwrap();
    let connection = rusqlite::Connection::open(&copy).unwrap();
    let users: i64 = connection
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1);
}

#[test]
fn a_204_has_no_content_length() {
    let server = Server::start();
    let mut stream = server.connect();
    stream
        .write_all(
            b"OPTIONS /api/login HTTP/1.1\r\nHost: t\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");
    assert!(!text.to_lowercase().contains("content-length"), "{text}");
}

/// Runs `auth-server admin ARGS` with a terminal as its standard input
/// (util-linux `script` gives it a pseudo-terminal), typing `typed`.
fn admin_on_a_terminal(dir: &std::path::Path, args: &str, typed: &str) -> (bool, String) {
    let command = format!("{} admin {args}", common::binary());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DATABASE_PATH", dir.join("auth.db"))
        .env("BCRYPT_COST", "4")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    thread::sleep(Duration::from_millis(300));
    let _ = stdin.write_all(typed.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_admin_command_never_reads_a_typed_password_and_asks_before_deleting() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let (ok, out) = admin_on_a_terminal(&server.dir, "set-password alice", "typed passphrase\n");
    assert!(!ok);
    assert!(out.contains("pipe it in"), "{out}");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "unchanged"
    );

    let (ok, out) = admin_on_a_terminal(&server.dir, "delete alice", "n\n");
    assert!(!ok);
    assert!(out.contains("[y/N]"), "{out}");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        200,
        "not deleted"
    );
    let (ok, _) = admin_on_a_terminal(&server.dir, "delete alice", "y\n");
    assert!(ok);
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
}

#[test]
fn an_email_with_a_comma_is_refused() {
    let server = Server::start();
    for email in [
        "alice,mallory@example.com",
        "alice;x@example.com",
        "émile@example.com",
    ] {
        let body = json!({ "username": "alice", "email": email, "password": PASSWORD });
        let reply = server.post("/api/register", &body.to_string(), None);
        assert_eq!(reply.status, 400, "{email}");
        assert_eq!(
            reply.json()["error"]["fields"]["email"],
            "is not a valid address"
        );
    }
}
