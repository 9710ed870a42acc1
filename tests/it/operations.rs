//! Running it like a service: Prometheus metrics on their own listener,
//! online backups under load, stats, and the start and stop lines.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{PASSWORD, Server, admin, free_port, scrape, temp_dir};
use serde_json::json;

#[test]
fn metrics_are_served_on_their_own_listener() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let server = Server::start_with(&[("METRICS_ADDR", &address)]);
    let cookie = server.signed_in_user("alice");
    server.get("/api/user", Some(&cookie));
    server.get("/api/sessions/0123456789abcdef/x", None);
    let wrong = json!({ "username": "alice", "password": "not the password" }).to_string();
    server.post("/api/login", &wrong, None);
    // The API does not serve them.
    assert_eq!(server.get("/metrics", None).status, 404);

    let (status, content_type, body) = scrape(port, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "auth_http_requests_total",
        "auth_http_request_duration_seconds",
        "auth_logins_total",
        "auth_registrations_total",
        "auth_hash_queue_depth",
        "auth_hash_wait_seconds",
        "auth_hash_seconds",
        "auth_sessions_live",
        "auth_connections_open",
        "auth_http_refusals_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    assert!(
        body.contains(r#"auth_http_requests_total{route="/api/user",method="GET",status="200"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"route="unmatched""#),
        "raw paths never become labels"
    );
    assert!(!body.contains("0123456789abcdef"));
    assert!(body.contains(r#"auth_logins_total{result="ok"} 1"#));
    assert!(body.contains(r#"auth_logins_total{result="invalid_credentials"} 1"#));
    assert!(body.contains(r#"auth_registrations_total{result="created"} 1"#));
    assert!(body.contains("auth_sessions_live 1"));
    assert_eq!(scrape(port, "/other").0, 404);
}

#[test]
fn the_metrics_address_may_not_be_the_apis() {
    let port = free_port();
    let output = std::process::Command::new(common::binary())
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_PATH", temp_dir().join("auth.db"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("METRICS_ADDR"));
}

#[test]
fn a_backup_taken_under_load_holds_every_acknowledged_user() {
    let server = Server::start_with(&[("REGISTRATIONS_PER_HOUR", "0")]);
    for n in 0..20 {
        assert_eq!(server.register(&format!("early{n}"), PASSWORD).status, 201);
    }
    let copy = temp_dir().join("backup.db");
    let (code, out, err) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for n in 0..40 {
                server.register(&format!("during{n}"), PASSWORD);
            }
        });
        std::thread::sleep(Duration::from_millis(30));
        let result = admin(&server.dir, &["backup", copy.to_str().unwrap()], "");
        writer.join().unwrap();
        result
    });
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let connection = rusqlite::Connection::open(&copy).unwrap();
    let check: String = connection
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for n in 0..20 {
        let found: i64 = connection
            .query_row(
                "SELECT count(*) FROM users WHERE username = ?1",
                [format!("early{n}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "early{n} was acknowledged before the backup");
    }
    // Never over an existing file.
    let (code, _, err) = admin(&server.dir, &["backup", copy.to_str().unwrap()], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("exists"));
}

#[test]
fn stats_count_users_sessions_and_the_days_events() {
    let server = Server::start();
    server.signed_in_user("alice");
    server.register("bob", PASSWORD);
    admin(&server.dir, &["disable", "bob"], "");
    let (code, out, _) = admin(&server.dir, &["stats"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("users: 2\n"), "{out}");
    assert!(out.contains("users disabled: 1\n"), "{out}");
    assert!(out.contains("users verified: 0\n"), "{out}");
    assert!(out.contains("sessions stored: 1\n"), "{out}");
    assert!(out.contains("  registered: 2\n"), "{out}");
    assert!(out.contains("  login_ok: 1\n"), "{out}");
}

#[test]
fn start_and_stop_each_write_one_line_and_events_carry_their_request_id() {
    let mut server = Server::start();
    let reply = server.register("alice", PASSWORD);
    let request_id = reply.header("X-Request-Id").unwrap().to_string();
    let status = server
        .signal_and_wait("TERM", Duration::from_secs(15))
        .unwrap();
    assert!(status.success());
    // The last line a stopping server writes; the reader may still be on
    // its way to it when the process has exited.
    assert!(server.log_shows(" stopped "), "{}", server.log_text());
    let log = server.log_text();
    let started: Vec<&str> = log.lines().filter(|l| l.contains(" started ")).collect();
    assert_eq!(started.len(), 1, "{log}");
    for field in [
        "address=",
        "database=",
        "schema_version=",
        "cors_origins=",
        "cookie_secure=",
        "bcrypt_cost=",
        "hash_workers=",
        "sessions_loaded=",
    ] {
        assert!(started[0].contains(field), "{field} in {}", started[0]);
    }
    let stopped: Vec<&str> = log.lines().filter(|l| l.contains(" stopped ")).collect();
    assert_eq!(stopped.len(), 1, "{log}");
    assert!(stopped[0].contains("drain_ms=") && stopped[0].contains("sessions_saved="));
    let registered = log.lines().find(|l| l.contains(" registered ")).unwrap();
    assert!(
        registered.contains(&format!("request_id={request_id}")),
        "{registered}"
    );
    assert!(!log.contains("=null"), "absent fields are left out: {log}");
}

#[test]
fn one_peer_cannot_hold_every_metrics_connection() {
    // Without a per-address cap on the metrics listener, one peer holding
    // its sixteen connections would blind the real scraper.
    let port = free_port();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _server = Server::start_with(&[("METRICS_ADDR", &address.to_string())]);
    let _held: Vec<TcpStream> = (0..4)
        .map(|_| common::connect_from("127.0.0.1", address))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = common::connect_from("127.0.0.1", address);
    fifth
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .unwrap();
    let refused = common::read_reply(&mut fifth, false).expect("a response");
    assert_eq!(refused.status, 503);
    let mut other = common::connect_from("127.0.0.2", address);
    other
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        common::read_reply(&mut other, false)
            .expect("a response")
            .status,
        200
    );
}

#[test]
fn admin_without_a_database_exits_2_and_creates_nothing() {
    let dir = common::temp_dir();
    let (code, out, err) = common::admin(&dir, &["create", "alice", "alice@example.com"], "");
    assert_eq!(code, Some(2), "{out}{err}");
    let path = dir.join("auth.db");
    assert!(
        err.contains(&format!("no database at {}", path.display()))
            && err.contains("set DATABASE_PATH or pass --env-file"),
        "{err}"
    );
    assert!(!path.exists(), "an empty database was created");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn admin_names_the_database_it_used() {
    let server = Server::start();
    let (code, _, err) = common::admin(&server.dir, &["users"], "");
    assert_eq!(code, Some(0));
    let path = server.dir.join("auth.db");
    assert!(
        err.contains(&format!("database {}", path.display())),
        "{err}"
    );
}

#[test]
fn a_backup_never_follows_a_link_planted_at_its_target() {
    let server = Server::start();
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let elsewhere = server.dir.join("elsewhere.db");
    let target = server.dir.join("backup.db");
    std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
    let (code, _, err) = common::admin(&server.dir, &["backup", target.to_str().unwrap()], "");
    assert_eq!(code, Some(1), "{err}");
    assert!(!elsewhere.exists(), "the copy went through the link");
}

#[test]
fn an_unknown_user_costs_one_bcrypt_verify_like_a_wrong_password() {
    // Counted, not timed (the times are benches/timing.rs's): a login for
    // an account that does not exist runs bcrypt once, against a dummy
    // hash, as a wrong password does, so its answer takes as long.
    let metrics = free_port();
    let address = format!("127.0.0.1:{metrics}");
    let server = Server::start_with(&[("METRICS_ADDR", &address)]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let login = |name: &str| {
        let body = json!({ "username": name, "password": "wrong password!" });
        server.post("/api/login", &body.to_string(), None).status
    };
    for name in ["alice", "ghost", "someone@nowhere.example"] {
        let before = common::hashes_done(metrics);
        assert_eq!(login(name), 401);
        assert_eq!(common::hashes_done(metrics), before + 1, "{name}");
    }
}
