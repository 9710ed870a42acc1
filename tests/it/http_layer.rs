//! The HTTP layer's contract (docs/http.md), checked over raw TCP
//! against the real binary with its real limits and deadlines.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, read_reply, read_to_close};

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n";

fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).unwrap();
}

/// The layer's refusals carry the contract's envelope and headers, and then
/// the connection is closed.
fn assert_refusal(server: &Server, bytes: &[u8], status: u16, code: &str) {
    let mut stream = server.connect();
    send(&mut stream, bytes);
    let reply = read_reply(&mut stream, false).expect("a refusal");
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
    );
    assert_eq!(reply.code(), code);
    assert_eq!(reply.header("Connection"), Some("close"));
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(reply.header("X-Request-Id").is_some());
    assert!(reply.header("Date").is_some());
    assert!(
        read_to_close(&mut stream).is_empty(),
        "closed after the refusal"
    );
}

#[test]
fn a_request_written_one_byte_at_a_time_is_served() {
    let server = Server::start();
    let mut stream = server.connect();
    for byte in HEALTH {
        send(&mut stream, &[*byte]);
        stream.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    let reply = read_reply(&mut stream, false).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["data"]["database"], "ok");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start();
    let mut stream = server.connect();
    let body = r#"{"username":"x","password":"y"}"#;
    let login = format!(
        "POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let batch = [
        &b"GET /api/nope HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        login.as_bytes(),
        b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n",
    ]
    .concat();
    send(&mut stream, &batch);
    let statuses: Vec<u16> = (0..3)
        .map(|_| read_reply(&mut stream, false).unwrap().status)
        .collect();
    assert_eq!(statuses, [404, 401, 200]);
}

#[test]
fn connection_close_and_http_1_0_are_honoured() {
    let server = Server::start();

    let mut stream = server.connect();
    send(
        &mut stream,
        b"GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        read_reply(&mut stream, false).unwrap().header("Connection"),
        Some("close")
    );
    assert!(read_to_close(&mut stream).is_empty());

    let mut stream = server.connect();
    send(&mut stream, b"GET /api/health HTTP/1.0\r\n\r\n");
    let reply = read_reply(&mut stream, false).unwrap();
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (200, Some("close"))
    );
    assert!(read_to_close(&mut stream).is_empty());

    // 1.0 with keep-alive asked for stays open for a second request.
    let mut stream = server.connect();
    let keep = b"GET /api/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    send(&mut stream, keep);
    assert_eq!(
        read_reply(&mut stream, false).unwrap().header("Connection"),
        Some("keep-alive")
    );
    send(&mut stream, keep);
    assert_eq!(read_reply(&mut stream, false).unwrap().status, 200);

    // 1.1 stays open by default.
    let mut stream = server.connect();
    send(&mut stream, HEALTH);
    assert_eq!(
        read_reply(&mut stream, false).unwrap().header("Connection"),
        None
    );
    send(&mut stream, HEALTH);
    assert_eq!(read_reply(&mut stream, false).unwrap().status, 200);
}

#[test]
fn head_is_answered_like_get_without_a_body() {
    let server = Server::start();
    let get = server.get("/api/health", None);
    let mut stream = server.connect();
    // HEAD then GET pipelined: if HEAD carried a body, the GET's response
    // would not start where the HEAD's headers end.
    send(
        &mut stream,
        &[&b"HEAD /api/health HTTP/1.1\r\nHost: t\r\n\r\n"[..], HEALTH].concat(),
    );
    let head = read_reply(&mut stream, true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length").unwrap(),
        get.body.len().to_string()
    );
    let after = read_reply(&mut stream, false).unwrap();
    assert_eq!(after.status, 200);
    assert_eq!(after.body, get.body);
}

#[test]
fn deadlines_idle_head_body_and_write() {
    let server = Server::start();
    thread::scope(|scope| {
        // An idle keep-alive connection is closed after 5 s, silently.
        scope.spawn(|| {
            let mut stream = server.connect();
            send(&mut stream, HEALTH);
            read_reply(&mut stream, false).unwrap();
            let started = Instant::now();
            let rest = read_to_close(&mut stream);
            let waited = started.elapsed();
            assert!(
                rest.is_empty(),
                "no unsolicited response: {:?}",
                String::from_utf8_lossy(&rest)
            );
            // Not before the 5 s deadline (load cannot make it early).
            assert!(waited >= Duration::from_secs(4), "{waited:?}");
        });
        // One byte a second never finishes a head: 408 at the 10 s deadline.
        scope.spawn(|| {
            let mut stream = server.connect();
            let started = Instant::now();
            let head =
                b"GET /api/health HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
            let mut sent = 0;
            stream
                .set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            let reply = loop {
                if sent < head.len() {
                    let _ = stream.write_all(&head[sent..=sent]);
                    sent += 1;
                }
                if let Some(reply) = read_reply(&mut stream, false) {
                    break reply;
                }
                assert!(started.elapsed() < Duration::from_secs(60), "never cut off");
            };
            let elapsed = started.elapsed();
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (408, "request_timeout")
            );
            // Not before the 10 s deadline.
            assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
        });
        // A client that sends requests and never reads the answers: once the
        // socket buffers are full the write stalls, and after 10 s the
        // server gives up on the connection instead of holding its thread.
        scope.spawn(|| {
            let mut stream = server.connect();
            let request = b"GET /api/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n";
            let started = Instant::now();
            stream
                .set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            // Keep pipelining until our own send buffer is full too.
            while stream.write_all(request).is_ok() && started.elapsed() < Duration::from_secs(5) {}
            thread::sleep(Duration::from_secs(13).saturating_sub(started.elapsed()));
            // Now read: the answers that fitted in the buffers, then the end.
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut total = 0;
            let mut chunk = [0u8; 65536];
            // Closed means end of stream, or a reset (the server closed with
            // our unread requests still in its buffer); a timeout means the
            // connection is still open.
            let ending = loop {
                match std::io::Read::read(&mut stream, &mut chunk) {
                    Ok(0) => break None,
                    Ok(n) => total += n,
                    Err(error) => break Some(error.kind()),
                }
            };
            assert!(total > 0, "some answers were written before the stall");
            assert!(
                matches!(ending, None | Some(std::io::ErrorKind::ConnectionReset)),
                "the server closed the stalled connection: {ending:?}"
            );
        });
        // A body that stops arriving: 408 within 10 s of the head.
        scope.spawn(|| {
            let mut stream = server.connect();
            let started = Instant::now();
            send(
                &mut stream,
                b"POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"user",
            );
            let reply = read_reply(&mut stream, false).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(reply.status, 408);
            assert!(elapsed >= Duration::from_secs(9), "not before the deadline: {elapsed:?}");
        });
    });
}

#[test]
fn many_half_sent_heads_do_not_starve_a_new_client() {
    // All from one address, so the per-address cap is lifted to the total.
    let server = Server::start_with(&[("MAX_CONNECTIONS_PER_IP", "512")]);
    let holders: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = server.connect();
            send(&mut stream, b"GET /api/health HTTP/1.1\r\nHo");
            stream
        })
        .collect();
    let started = Instant::now();
    let reply = server.get("/api/health", None);
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(holders);
}

#[test]
fn the_connection_past_the_cap_gets_503_at_once() {
    let server = Server::start_with(&[("MAX_CONNECTIONS", "4")]);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = server.connect();
            // Half a head keeps each connection busy for its 10 s deadline.
            send(&mut stream, b"GET / HTTP/1.1\r\n");
            stream
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    // A 503 while the others still hold their slots (an answer after
    // their deadline would have been a 200).
    let mut stream = server.connect();
    send(&mut stream, HEALTH);
    let reply = read_reply(&mut stream, false).expect("a 503, not silence");
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), "service_unavailable");
    assert_eq!(reply.header("Retry-After"), Some("1"));
    assert_eq!(reply.header("Connection"), Some("close"));
    drop(held);
    // Slots come back once those connections close.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get("/api/health", None).status != 200 {
        assert!(Instant::now() < deadline, "slots never came back");
        thread::sleep(Duration::from_millis(50));
    }
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_huge_declared_body_is_413_at_once_without_reading_it() {
    let server = Server::start();
    server.get("/api/health", None);
    let before = resident_kib(server.child.id());
    for _ in 0..5 {
        let mut stream = server.connect();
        send(
            &mut stream,
            b"POST /api/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{\"a\":",
        );
        let reply = read_reply(&mut stream, false).unwrap();
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (413, "payload_too_large")
        );
        // At once: reading the body would have ended in a 408.
        // The client keeps sending; the lingering close lets it see the 413
        // first, then the connection ends.
        let _ = stream.write_all(&[b'x'; 65536]);
    }
    let after = resident_kib(server.child.id());
    assert!(
        after < before + 4096,
        "memory grew from {before} KiB to {after} KiB"
    );
    assert_eq!(server.get("/api/health", None).status, 200);
}

#[test]
fn ambiguous_framing_is_refused() {
    let server = Server::start();
    let post = |framing: &str| {
        format!(
            "POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{framing}\r\n{{}}"
        )
    };
    for framing in [
        "Content-Length: 100000000000000000000\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +3\r\n",
        "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2, 2\r\n",
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    ] {
        assert_refusal(&server, post(framing).as_bytes(), 400, "bad_request");
    }
    assert_refusal(
        &server,
        post("Transfer-Encoding: chunked\r\n").as_bytes(),
        501,
        "not_implemented",
    );
    assert_refusal(
        &server,
        post("Transfer-Encoding: gzip\r\n").as_bytes(),
        501,
        "not_implemented",
    );
}

#[test]
fn oversized_heads_are_431() {
    let server = Server::start();
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(100_000));
    assert_refusal(&server, long_line.as_bytes(), 431, "headers_too_large");
    let many: String = (0..5000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many_headers = format!("GET /api/health HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    assert_refusal(&server, many_headers.as_bytes(), 431, "headers_too_large");
    assert_eq!(server.get("/api/health", None).status, 200);
}

#[test]
fn garbage_and_other_versions_are_refused() {
    let server = Server::start();
    assert_refusal(
        &server,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        400,
        "bad_request",
    );
    assert_refusal(&server, b"HELLO\r\n\r\n", 400, "bad_request");
    assert_refusal(
        &server,
        b"GET /api/health HTTP/1.1\r\n\r\n",
        400,
        "bad_request",
    );
    assert_refusal(
        &server,
        b"GET http://evil/api/health HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
        "bad_request",
    );
    assert_refusal(
        &server,
        b"GET /api/health HTTP/2.0\r\nHost: t\r\n\r\n",
        505,
        "http_version_not_supported",
    );
    let odd: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    let mut stream = server.connect();
    send(&mut stream, &odd);
    let reply = read_reply(&mut stream, false).unwrap();
    assert!(
        reply.status == 400 || reply.status == 431,
        "{}",
        reply.status
    );
    assert_eq!(server.get("/api/health", None).status, 200);
}

#[test]
fn survives_running_out_of_file_descriptors() {
    // The server gets 64 descriptors; 100 connections need more than that.
    let dir = common::temp_dir();
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 64 && exec \"$0\"", common::binary()]);
    let env = vec![
        ("HOST".to_string(), "127.0.0.1".to_string()),
        ("PORT".to_string(), "0".to_string()),
        (
            "DATABASE_PATH".to_string(),
            dir.join("auth.db").display().to_string(),
        ),
        ("BCRYPT_COST".to_string(), "4".to_string()),
    ];
    let server = Server::spawn(command, dir, env);
    let flood: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    assert!(
        flood.len() >= 64,
        "only {} connections were made",
        flood.len()
    );
    thread::sleep(Duration::from_millis(500));
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answered = TcpStream::connect(server.addr).ok().and_then(|mut stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            stream.write_all(HEALTH).ok()?;
            read_reply(&mut stream, false)
        });
        if answered.is_some_and(|r| r.status == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again; log: {}",
            server.log_text()
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        server.log_text().contains("accept failed"),
        "the accept errors were logged"
    );
}

#[test]
fn sigterm_lets_a_slow_request_finish_then_exits_0() {
    let mut server = Server::start();
    let mut stream = server.connect();
    send(&mut stream, b"GET /api/health HTTP/1.1\r\nHost: t\r\n");
    thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    // No new connections once stopping.
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "still accepting after SIGTERM"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    send(&mut stream, b"X-Late: yes\r\n\r\n");
    let reply = read_reply(&mut stream, false).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Connection"), Some("close"));
    let status = server
        .wait_for_exit(Duration::from_secs(5))
        .expect("exits after the request");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_with_idle_connections_exits_promptly() {
    let mut server = Server::start();
    let mut idle = server.connect();
    send(&mut idle, HEALTH);
    read_reply(&mut idle, false).unwrap();
    let started = Instant::now();
    let status = server
        .signal_and_wait("INT", Duration::from_secs(5))
        .expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// The HTTP layer could be lifted into any other program: it imports
/// nothing of this crate and nothing of auth-core. (That auth-core imports
/// nothing of this crate needs no test: it does not depend on it.)
#[test]
fn the_http_layer_imports_nothing_of_the_server() {
    let mut files = vec![std::path::PathBuf::from("src/http")];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for outside in ["crate::", "auth_core", "super::super"] {
            assert!(
                !source.contains(outside),
                "{} names {outside}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "found only {checked} files under src/http");
}
