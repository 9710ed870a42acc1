//! Throttling and overload, against the real binary: login locks, the
//! per-address and per-identifier totals, registration limits, proxies, and
//! the client address behind a proxy. The hash queue's admission is in
//! tests/admission.rs.

use crate::common;

use common::{PASSWORD, Reply, Server};
use serde_json::json;

/// A login attempt, optionally from an address given by a trusted proxy.
fn login(server: &Server, identifier: &str, password: &str, forwarded_for: Option<&str>) -> Reply {
    let body = json!({ "username": identifier, "password": password }).to_string();
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(address) = forwarded_for {
        headers.push(("X-Forwarded-For", address));
    }
    server.request("POST", "/api/login", &headers, &body)
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds")
}

/// Statuses and Retry-After values of seven wrong-password attempts.
fn failure_pattern(server: &Server, identifier: &str) -> Vec<(u16, Option<u64>)> {
    (0..7)
        .map(|_| {
            let reply = login(server, identifier, "wrong password!", None);
            (
                reply.status,
                reply.header("Retry-After").map(|v| v.parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn five_failures_lock_the_pair_even_against_the_right_password() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    for _ in 0..5 {
        assert_eq!(login(&server, "alice", "wrong password!", None).status, 401);
    }
    let locked = login(&server, "alice", PASSWORD, None);
    assert_eq!(
        (locked.status, locked.code().as_str()),
        (429, "too_many_requests")
    );
    assert_eq!(locked.header("Content-Type"), Some("application/json"));
    let wait = retry_after(&locked);
    assert!(
        (890..=900).contains(&wait),
        "until the 15-minute window frees a slot: {wait}"
    );
    assert!(locked.header("Set-Cookie").is_none());
    // The lock is on the pair: the same account by email is another
    // identifier, and other users are untouched.
    server.register("bobby", PASSWORD);
    assert_eq!(login(&server, "bobby", PASSWORD, None).status, 200);
}

#[test]
fn unknown_identifiers_are_throttled_exactly_like_real_ones() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    let real = failure_pattern(&server, "alice");
    let ghost = failure_pattern(&server, "ghost_5ab1");
    let statuses = |p: &[(u16, Option<u64>)]| p.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(statuses(&real), [401, 401, 401, 401, 401, 429, 429]);
    assert_eq!(statuses(&real), statuses(&ghost));
    for ((_, a), (_, b)) in real.iter().zip(&ghost) {
        match (a, b) {
            (Some(a), Some(b)) => assert!(a.abs_diff(*b) <= 2, "Retry-After {a} vs {b}"),
            (None, None) => {}
            other => panic!("Retry-After present for one only: {other:?}"),
        }
    }
}

#[test]
fn a_success_clears_the_pair() {
    let server = Server::start();
    server.register("alice", PASSWORD);
    for _ in 0..4 {
        assert_eq!(login(&server, "alice", "wrong password!", None).status, 401);
    }
    assert_eq!(login(&server, "alice", PASSWORD, None).status, 200);
    for _ in 0..4 {
        assert_eq!(
            login(&server, "alice", "wrong password!", None).status,
            401,
            "the count restarted"
        );
    }
    assert_eq!(login(&server, "alice", PASSWORD, None).status, 200);
}

#[test]
fn one_address_is_limited_over_all_accounts() {
    let server = Server::start_with(&[("LOGIN_FAILURES_PER_IP", "10")]);
    for n in 0..10 {
        assert_eq!(
            login(&server, &format!("user{n}"), "wrong password!", None).status,
            401
        );
    }
    let reply = login(&server, "someone-else", "wrong password!", None);
    assert_eq!(reply.status, 429, "password spraying is stopped");
    assert!(retry_after(&reply) <= 900);
}

#[test]
fn one_identifier_is_limited_over_all_addresses() {
    let server = Server::start_with(&[("TRUST_PROXY", "true")]);
    server.register("target", PASSWORD);
    // 100 failures from 25 addresses, 4 each: no pair and no address locks.
    for n in 0..100 {
        let address = format!("203.0.113.{}", n / 4);
        assert_eq!(
            login(&server, "target", "wrong password!", Some(&address)).status,
            401,
            "attempt {n}"
        );
    }
    let reply = login(&server, "target", PASSWORD, Some("198.51.100.1"));
    assert_eq!(
        reply.status, 429,
        "the 101st attempt in the hour is not checked"
    );
    assert!((3590..=3600).contains(&retry_after(&reply)));
}

#[test]
fn registrations_are_limited_per_address() {
    let server = Server::start_with(&[("REGISTRATIONS_PER_HOUR", "3"), ("TRUST_PROXY", "true")]);
    let register = |name: &str, address: &str| {
        let body =
            json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        server.request(
            "POST",
            "/api/register",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", address),
            ],
            &body.to_string(),
        )
    };
    assert_eq!(register("one", "192.0.2.1").status, 201);
    assert_eq!(
        register("one", "192.0.2.1").status,
        409,
        "a conflict counts too"
    );
    assert_eq!(register("two", "192.0.2.1").status, 201);
    let refused = register("three", "192.0.2.1");
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (429, "too_many_requests")
    );
    assert!((3590..=3600).contains(&retry_after(&refused)));
    // An invalid form does not use up the quota of another address.
    assert_eq!(register("x", "192.0.2.2").status, 400);
    assert_eq!(register("four", "192.0.2.2").status, 201);
}

#[test]
fn a_trusted_proxy_gives_the_rightmost_address_and_an_untrusted_header_is_ignored() {
    let proxied = Server::start_with(&[("TRUST_PROXY", "true")]);
    for _ in 0..5 {
        login(
            &proxied,
            "alice",
            "wrong password!",
            Some("1.1.1.1, 2.2.2.2"),
        );
    }
    // The client may write anything to the left; the proxy's entry counts.
    assert_eq!(
        login(
            &proxied,
            "alice",
            "wrong password!",
            Some("9.9.9.9, 2.2.2.2")
        )
        .status,
        429
    );
    assert_eq!(
        login(
            &proxied,
            "alice",
            "wrong password!",
            Some("2.2.2.2, 3.3.3.3")
        )
        .status,
        401
    );
    // Garbage falls back to the proxy's own address, and never crashes.
    for garbage in ["", "unknown", "1.1.1.1,", "::::", "ä", "1.1.1.1:80"] {
        assert!(
            matches!(login(&proxied, "bob", "x", Some(garbage)).status, 401 | 429),
            "{garbage:?}"
        );
    }

    let direct = Server::start();
    for n in 0..5 {
        let fake = format!("10.0.0.{n}");
        assert_eq!(
            login(&direct, "alice", "wrong password!", Some(&fake)).status,
            401
        );
    }
    let reply = login(&direct, "alice", "wrong password!", Some("10.0.0.99"));
    assert_eq!(
        reply.status, 429,
        "without TRUST_PROXY, X-Forwarded-For cannot pick an address"
    );
}

/// Retries `attempt` until it answers `status` (the server applies an
/// unlock within its two-second watch), for at most a generous minute.
fn eventually(status: u16, attempt: impl Fn() -> Reply) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let reply = attempt();
        if reply.status == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            reply.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn the_admin_command_lifts_an_accounts_or_an_addresss_lockout() {
    let server = Server::start_with(&[("LOGIN_FAILURES_PER_IP", "10"), ("TRUST_PROXY", "true")]);
    server.register("alice", PASSWORD);
    // alice locked, by username and by email (each from its own address,
    // under the address limit).
    for (identifier, address) in [
        ("alice", "198.51.100.1"),
        ("alice@example.com", "198.51.100.2"),
    ] {
        for _ in 0..5 {
            login(&server, identifier, "wrong password!", Some(address));
        }
        let locked = login(&server, identifier, PASSWORD, Some(address));
        assert_eq!(locked.status, 429);
        assert!(
            locked.text().contains("operator can lift the lock"),
            "{}",
            locked.text()
        );
    }
    let (code, out, err) = common::admin(&server.dir, &["unlock", "alice"], "");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("lifted"), "{out}");
    eventually(200, || {
        login(&server, "alice", PASSWORD, Some("198.51.100.1"))
    });
    assert_eq!(
        login(&server, "alice@example.com", PASSWORD, Some("198.51.100.2")).status,
        200,
        "the email too"
    );

    // An address over its limit, whoever it tries.
    for n in 0..10 {
        login(
            &server,
            &format!("user{n}"),
            "wrong password!",
            Some("203.0.113.9"),
        );
    }
    assert_eq!(
        login(&server, "alice", PASSWORD, Some("203.0.113.9")).status,
        429
    );
    let (code, _, err) = common::admin(&server.dir, &["unlock", "--address", "203.0.113.9"], "");
    assert_eq!(code, Some(0), "{err}");
    eventually(200, || {
        login(&server, "alice", PASSWORD, Some("203.0.113.9"))
    });

    let (code, _, _) = common::admin(&server.dir, &["unlock", "--address", "not-an-address"], "");
    assert_eq!(code, Some(2));
    let (code, _, _) = common::admin(&server.dir, &["unlock", "nobody"], "");
    assert_eq!(code, Some(1));
    let (_, events, _) = common::admin(&server.dir, &["events"], "");
    assert_eq!(events.matches("\tadmin_unlocked\t").count(), 2, "{events}");
    assert!(server.log_shows("unlocked what=alice"));
}
