//! Hostile input against the whole server: every endpoint fed malformed or
//! malicious bodies, cookies and headers must answer a 4xx in the
//! contract's envelope, never a 5xx, and keep serving. The log of the whole
//! run must not contain a password, hash or token.

use crate::common;

use std::io::Write;

use common::{PASSWORD, Server, read_reply};
use serde_json::{Value, json};

/// Bodies that are not valid JSON objects, as raw bytes.
fn raw_bodies() -> Vec<Vec<u8>> {
    let deep = format!("{{\"username\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    vec![
        b"{".to_vec(),
        b"null".to_vec(),
        b"[1,2]".to_vec(),
        b"\"string\"".to_vec(),
        b"{\"username\":\"\xff\xfe\"}".to_vec(),
        b"{\"username\":\"a\x00b\"}".to_vec(),
        br#"{"username":"\ud800","password":"x"}"#.to_vec(),
        br#"{"username":"a","username":"b","password":"x"}"#.to_vec(),
        deep.into_bytes(),
        b"\xef\xbb\xbf{}".to_vec(),
    ]
}

/// Objects with hostile values in every field.
fn hostile_values() -> Vec<Value> {
    let long = "x".repeat(3000);
    vec![
        json!(null),
        json!(true),
        json!(123),
        json!(1e308),
        json!(-0.0),
        json!(u64::MAX),
        json!([]),
        json!({}),
        json!(["a"]),
        json!({"$ne": null}),
        json!(long),
        json!("\u{0000}"),
        json!("line\nbreak"),
        json!("\u{202e}gnp.exe"),
        json!("' OR '1'='1"),
        json!("<script>alert(1)</script>"),
        json!("🙂".repeat(40)),
        json!(""),
    ]
}

fn assert_client_error(reply: &common::Reply, what: &str) {
    assert!(
        (400..500).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.text()
    );
    let body = reply.json();
    assert_eq!(body["success"], false, "{what}");
    assert!(body["error"]["code"].is_string(), "{what}");
    let text = reply.text();
    for leak in [
        "panicked", "sqlite", "rusqlite", "serde", "/src/", ".rs:", "thread '", "$2b$",
    ] {
        assert!(!text.contains(leak), "{what}: {leak} in {text}");
    }
}

#[test]
fn hostile_json_gets_4xx_on_every_endpoint_and_the_server_keeps_serving() {
    // No registration or login limits: this test sends hundreds of each.
    let server = Server::start_with(&[
        ("REGISTRATIONS_PER_HOUR", "0"),
        ("LOGIN_FAILURES_PER_IP", "1000000"),
    ]);
    let cookie = server.signed_in_user("alice");
    let endpoints = [
        ("POST", "/api/register"),
        ("POST", "/api/login"),
        ("POST", "/api/logout"),
    ];
    let send = |method: &str, path: &str, body: &[u8]| {
        let mut stream = server.connect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        read_reply(&mut stream, false).expect("a response")
    };

    for (method, path) in endpoints.iter().filter(|(_, p)| *p != "/api/logout") {
        for body in raw_bodies() {
            let reply = send(method, path, &body);
            assert_client_error(
                &reply,
                &format!(
                    "{path} {:?}",
                    String::from_utf8_lossy(&body[..body.len().min(40)])
                ),
            );
        }
        let fields: &[&str] = if *path == "/api/register" {
            &["username", "email", "password"]
        } else {
            &["username", "email", "password", "remember"]
        };
        for field in fields {
            for value in hostile_values() {
                let mut body =
                    json!({"username": "bob_1", "email": "bob@example.com", "password": PASSWORD});
                if *path == "/api/login" {
                    body.as_object_mut().unwrap().remove("email");
                }
                body[*field] = value.clone();
                let reply = send(method, path, body.to_string().as_bytes());
                // A hostile value may happen to be valid (a long password
                // for an unknown user is just a wrong password): anything
                // but a 5xx, and on register no 201 for an invalid field.
                assert!(
                    reply.status < 500,
                    "{path} {field}={value}: {}",
                    reply.status
                );
                if reply.status >= 400 {
                    assert_client_error(&reply, &format!("{path} {field}={value}"));
                }
            }
        }
        // Unknown fields are refused, not ignored.
        let reply = send(
            method,
            path,
            br#"{"username":"bob_2","email":"b2@example.com","password":"x","is_admin":true}"#,
        );
        assert_eq!(reply.status, 400);
    }
    // Logout ignores a JSON body, whatever it holds.
    for body in raw_bodies() {
        assert!(send("POST", "/api/logout", &body).status < 500);
    }
    assert_eq!(server.get("/api/health", None).status, 200);
}

#[test]
fn hostile_cookies_and_headers() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let never_issued = format!("sid={}", "A".repeat(43));
    let many_sids = (0..150)
        .map(|n| format!("sid={n}"))
        .collect::<Vec<_>>()
        .join("; ");
    let huge = format!("sid={}", "a".repeat(70_000));
    for (name, value) in [
        ("Cookie", never_issued.as_str()),
        ("Cookie", many_sids.as_str()),
        ("Cookie", "sid=é; sid=\u{1F600}"),
        ("Cookie", ";;;==;sid"),
        ("Cookie", "sid=\"quoted\""),
        ("Origin", "null"),
        ("Origin", "http://[::1"),
        ("X-Forwarded-For", "1.1.1.1, <script>"),
    ] {
        let reply = server.request("GET", "/api/user", &[(name, value)], "");
        assert_eq!(reply.status, 401, "{name}: {value:?}");
        assert_client_error(&reply, name);
    }
    // A NUL in a header is malformed HTTP: the layer refuses it.
    let reply = server.request(
        "GET",
        "/api/user",
        &[("Content-Type", "application/json; charset=\u{0}")],
        "",
    );
    assert_eq!((reply.status, reply.code().as_str()), (400, "bad_request"));
    // A 70 KB cookie is past the 8 KiB head limit.
    let reply = server.request("GET", "/api/user", &[("Cookie", &huge)], "");
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (431, "headers_too_large")
    );
    // Raw bytes that are not UTF-8 in a cookie.
    let mut stream = server.connect();
    stream
        .write_all(b"GET /api/user HTTP/1.1\r\nHost: t\r\nCookie: sid=\xff\xfe\xfd\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut stream, false).unwrap().status, 401);
    // The real session among junk still works, and the server is fine.
    let mixed = format!("{many_sids}; {cookie}");
    assert_eq!(server.get("/api/user", Some(&mixed)).status, 200);
}

#[test]
fn nothing_secret_reaches_the_log() {
    let server = Server::start_with(&[("LOG_FORMAT", "text")]);
    let password = "a very unique passphrase 9911";
    assert_eq!(server.register("carol", password).status, 201);
    let cookie = server.login("carol", password);
    server.get("/api/dashboard", Some(&cookie));
    server.post(
        "/api/login",
        &json!({"username": "carol", "password": "guess 9911 wrong"}).to_string(),
        None,
    );
    server.post(
        "/api/login",
        &json!({"username": "nobody", "password": "guess 9911 other"}).to_string(),
        None,
    );
    server.post("/api/login?password=querysecret9911", "{}", None);
    let last = server.post("/api/logout", "", Some(&cookie));
    let log = server.log_through(&last);
    assert!(
        log.contains("login_failed") && log.contains("registered"),
        "{log}"
    );
    let token = cookie.strip_prefix("sid=").unwrap();
    let connection = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let hash: String = connection
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    for secret in [
        password,
        "guess 9911",
        "querysecret9911",
        token,
        &hash,
        &hash[7..29],
    ] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}
