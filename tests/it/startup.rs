//! Start-up, settings, the database file, durability and logs, against the
//! real binary.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{PASSWORD, Server};
use serde_json::{Value, json};

/// Runs the binary with `env` and returns its exit code and stderr, for
/// settings that must stop it before it listens.
fn refused_start(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = common::temp_dir();
    let output = Command::new(common::binary())
        .env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATABASE_PATH", dir.join("auth.db"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.stdout.is_empty(), "nothing listened");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_exit_2_naming_the_variable() {
    for (name, value) in [
        ("PORT", "eighty"),
        ("HOST", "not an address"),
        ("BCRYPT_COST", "3"),
        ("PASSWORD_MIN_LENGTH", "100"),
        ("CORS_ORIGINS", "*"),
        ("COOKIE_SAMESITE", "None"),
        ("COOKIE_SECURE", "maybe"),
        ("SESSION_IDLE_TIMEOUT_SECS", "0"),
        ("MAX_CONNECTIONS", "lots"),
        ("LOG_FORMAT", "xml"),
    ] {
        let (code, stderr) = refused_start(&[(name, value)]);
        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(name), "{name} named in {stderr:?}");
    }
    let (_, stderr) = refused_start(&[("CORS_ORIGINS", "*")]);
    assert!(stderr.contains("wildcard"), "{stderr}");
}

#[test]
fn first_start_creates_the_database_with_its_schema() {
    let server = Server::start();
    let db_path = server.dir.join("auth.db");
    assert!(db_path.exists());
    let connection = rusqlite::Connection::open(&db_path).unwrap();
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, auth_core::storage::SCHEMA_VERSION);
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('users')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(columns.contains(&"password_hash".to_string()));
    assert!(
        !columns.iter().any(|c| c == "password"),
        "no plaintext column"
    );
}

#[test]
fn hashes_are_bcrypt_and_salted() {
    let server = Server::start_with(&[("BCRYPT_COST", "10")]);
    server.register("alice", PASSWORD);
    server.register("bobby", PASSWORD);
    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let hashes: Vec<String> = connection
        .prepare("SELECT password_hash FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(
        hashes
            .iter()
            .all(|h| h.starts_with("$2b$10$") && h.len() == 60),
        "{hashes:?}"
    );
    assert_ne!(hashes[0], hashes[1], "same password, different salts");
}

#[test]
fn a_registration_survives_kill_9() {
    let dir = common::temp_dir();
    let mut server = Server::start_in(dir.clone(), &[]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    server
        .signal_and_wait("KILL", Duration::from_secs(5))
        .expect("killed");
    // Keep the directory: dropping `server` would remove it.
    std::mem::forget(server);
    let restarted = Server::start_in(dir, &[]);
    let cookie = restarted.login("alice", PASSWORD);
    assert_eq!(restarted.get("/api/user", Some(&cookie)).status, 200);
}

#[test]
fn low_bcrypt_cost_warns() {
    let server = Server::start();
    server.get("/api/health", None);
    assert!(
        server.log_text().contains("BCRYPT_COST=4 is below 10"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_public_address_with_development_settings_warns_once_each() {
    let server = Server::start_with(&[("HOST", "0.0.0.0")]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let log = server.log_text();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" warning ")).collect();
    assert_eq!(
        warnings
            .iter()
            .filter(|l| l.contains("COOKIE_SECURE=false"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        warnings
            .iter()
            .filter(|l| l.contains("development CORS_ORIGINS"))
            .count(),
        1,
        "{log}"
    );
    let quiet = Server::start_with(&[
        ("HOST", "0.0.0.0"),
        ("COOKIE_SECURE", "true"),
        ("CORS_ORIGINS", "https://app.example.com"),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!quiet.log_text().contains("COOKIE_SECURE=false"));
    assert!(!quiet.log_text().contains("CORS_ORIGINS"));
    let loopback = Server::start();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!loopback.log_text().contains("COOKIE_SECURE=false"));
}

#[test]
fn trusting_a_proxy_on_a_public_address_warns() {
    // Anyone who can connect could then forge X-Forwarded-For; behind a
    // proxy on loopback it is the right choice.
    let public = Server::start_with(&[("HOST", "0.0.0.0"), ("TRUST_PROXY", "true")]);
    let loopback = Server::start_with(&[("TRUST_PROXY", "true")]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        public.log_text().contains("TRUST_PROXY=true: any client"),
        "{}",
        public.log_text()
    );
    assert!(!loopback.log_text().contains("TRUST_PROXY=true: any client"));
}

#[test]
fn logs_have_a_line_per_request_and_event_and_never_a_secret() {
    let server = Server::start_with(&[("LOG_FORMAT", "json")]);
    let secret = "unique secret phrase 4471";
    assert_eq!(server.register("alice", secret).status, 201);
    let cookie = server.login("alice", secret);
    server.post(
        "/api/login",
        &json!({"username": "alice", "password": "wrong guess 4471"}).to_string(),
        None,
    );
    server.get("/api/user?token=abc", Some(&cookie));
    server.post("/api/logout", "", Some(&cookie));
    server.get("/api/health", None);
    std::thread::sleep(Duration::from_millis(200));

    let lines: Vec<Value> = server
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    for kind in ["registered", "login_ok", "login_failed", "logout"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let requests: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "request").collect();
    assert_eq!(requests.len(), 6);
    for request in &requests {
        for field in [
            "method",
            "path",
            "status",
            "duration_ms",
            "request_id",
            "client",
        ] {
            assert!(!request[field].is_null(), "{field} in {request}");
        }
    }
    assert!(
        requests.iter().any(|r| r["path"] == "/api/user"),
        "the path without its query"
    );

    let all = server.log_text();
    let token = cookie.strip_prefix("sid=").unwrap();
    for secret_text in [secret, "wrong guess 4471", token, "$2b$", "token=abc"] {
        assert!(
            !all.contains(secret_text),
            "{secret_text:?} leaked into the log"
        );
    }
}
