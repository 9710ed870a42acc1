//! Admission to bcrypt, against the real binary: bursts wait their turn and
//! all succeed, an over-budget request is refused after a hold with a real
//! `Retry-After`, addresses take turns, the throttle is exact under
//! concurrency, IPv6 counts by /64, and one address cannot take every
//! connection.

use crate::common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::{PASSWORD, Reply, Server, connect_from, read_reply};
use serde_json::json;

/// These tests time bcrypt on a 2-core machine: one at a time, so they do
/// not measure each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn login_from(server: &Server, identifier: &str, password: &str, address: &str) -> Reply {
    let body = json!({ "username": identifier, "password": password }).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Forwarded-For", address),
    ];
    server.request("POST", "/api/login", &headers, &body)
}

/// Runs `count` copies of `attempt` at once; returns each reply and how
/// long it took.
fn at_once(count: usize, attempt: impl Fn(usize) -> Reply + Sync) -> Vec<(Reply, Duration)> {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|n| {
                let attempt = &attempt;
                scope.spawn(move || {
                    let started = Instant::now();
                    let reply = attempt(n);
                    (reply, started.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn statuses(results: &[(Reply, Duration)]) -> Vec<u16> {
    results.iter().map(|(reply, _)| reply.status).collect()
}

#[test]
fn a_burst_of_registrations_and_logins_all_succeed() {
    let _serial = serial();
    // 30 at once from one address at a cost where they really queue: the
    // old short queue refused most of them with 503.
    let server = Server::start_with(&[("BCRYPT_COST", "10"), ("REGISTRATIONS_PER_HOUR", "0")]);
    let registered = at_once(30, |n| server.register(&format!("student{n}"), PASSWORD));
    assert!(
        statuses(&registered).iter().all(|&s| s == 201),
        "{:?}",
        statuses(&registered)
    );
    let logged_in = at_once(30, |n| {
        let body = json!({ "username": format!("student{n}"), "password": PASSWORD });
        server.post("/api/login", &body.to_string(), None)
    });
    assert!(
        statuses(&logged_in).iter().all(|&s| s == 200),
        "{:?}",
        statuses(&logged_in)
    );
}

#[test]
fn over_the_budget_is_503_with_retry_after_after_a_bounded_wait() {
    let _serial = serial();
    let server = Server::start_with(&[
        ("BCRYPT_COST", "12"),
        ("HASH_WORKERS", "1"),
        ("HASH_QUEUE_WAIT_SECS", "1"),
        ("TRUST_PROXY", "true"),
    ]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let cookie = server.login("alice", PASSWORD);

    let results = thread::scope(|scope| {
        // Requests that need no hash are answered while the queue is full
        // (how fast is benches/checks_under_load.sh's question).
        let reads = scope.spawn(|| {
            thread::sleep(Duration::from_millis(100));
            for _ in 0..10 {
                assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);
                assert_eq!(server.get("/api/health", None).status, 200);
                thread::sleep(Duration::from_millis(20));
            }
        });
        // Twenty addresses: more than five logins of one account from one
        // address at once are themselves throttled (the pair's failure
        // slots are reserved before bcrypt runs).
        let results = at_once(20, |n| {
            login_from(&server, "alice", PASSWORD, &format!("192.0.2.{}", n + 10))
        });
        reads.join().unwrap();
        results
    });
    // Every one answered: served within the budget or refused with the
    // expected wait. (The deadline and the hold before a refusal are
    // src/auth/hash_queue.rs's unit tests; the times, BENCHMARKS.md's.)
    // (How many fit the budget depends on the machine; on an idle one,
    // about four: BENCHMARKS.md.)
    let served = results.iter().filter(|(r, _)| r.status == 200).count();
    let refused: Vec<_> = results.iter().filter(|(r, _)| r.status == 503).collect();
    assert!(!refused.is_empty(), "{:?}", statuses(&results));
    assert_eq!(served + refused.len(), 20, "{:?}", statuses(&results));
    for (reply, _) in refused {
        assert_eq!(reply.code(), "service_unavailable");
        let retry: u64 = reply.header("Retry-After").unwrap().parse().unwrap();
        assert!(retry >= 1);
    }
}

#[test]
fn a_flood_from_one_address_delays_another_by_about_one_hash() {
    let _serial = serial();
    let server = Server::start_with(&[
        ("BCRYPT_COST", "11"),
        ("HASH_WORKERS", "1"),
        ("TRUST_PROXY", "true"),
    ]);
    // Twelve accounts behind one address (a class behind one NAT), each
    // logging in once, and bob alone at another address.
    let registered = at_once(13, |n| match n {
        12 => server.register("bob", PASSWORD),
        n => server.register(&format!("student{n}"), PASSWORD),
    });
    assert!(statuses(&registered).iter().all(|&s| s == 201));
    // Counted, not timed: how many of the flood's twelve logins are still
    // unanswered when bob's is answered.
    let flood_done = std::sync::atomic::AtomicUsize::new(0);
    let (flood, waiting) = thread::scope(|scope| {
        let flood = scope.spawn(|| {
            at_once(12, |n| {
                let reply = login_from(&server, &format!("student{n}"), PASSWORD, "203.0.113.1");
                flood_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                reply
            })
        });
        // Bob asks once the flood is queued and a turn has gone by.
        while flood_done.load(std::sync::atomic::Ordering::SeqCst) < 1 {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            login_from(&server, "bob", PASSWORD, "198.51.100.7").status,
            200
        );
        let waiting = 12 - flood_done.load(std::sync::atomic::Ordering::SeqCst);
        (flood.join().unwrap(), waiting)
    });
    assert!(
        flood.iter().all(|(r, _)| r.status == 200),
        "{:?}",
        statuses(&flood)
    );
    // Fair: bob waits behind the hash running and at most the flood's
    // first quantum (four in a row), so half the flood is still waiting
    // on an idle machine; starved, bob would be answered last (none
    // waiting). A loaded machine may delay bob's request: three is enough.
    assert!(
        waiting >= 3,
        "only {waiting} of the flood still waiting when bob was answered"
    );
}

#[test]
fn eight_simultaneous_failures_for_one_pair_give_at_most_five_401s() {
    let _serial = serial();
    let server = Server::start_with(&[("BCRYPT_COST", "10")]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let results = at_once(8, |_| {
        let body = json!({ "username": "alice", "password": "wrong password!" });
        server.post("/api/login", &body.to_string(), None)
    });
    let statuses = statuses(&results);
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[test]
fn ipv6_addresses_count_by_their_64() {
    let _serial = serial();
    let server = Server::start_with(&[("TRUST_PROXY", "true")]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    for n in 1..=5 {
        let address = format!("2001:db8:0:7::{n}");
        assert_eq!(
            login_from(&server, "alice", "wrong password!", &address).status,
            401
        );
    }
    // Another address in the same /64 is the same client…
    let same = login_from(&server, "alice", PASSWORD, "2001:db8:0:7:ffff::1");
    assert_eq!(same.status, 429);
    // …and the next /64 is another.
    let next = login_from(&server, "alice", PASSWORD, "2001:db8:0:8::1");
    assert_eq!(next.status, 200);
}

fn health_over(mut stream: TcpStream) -> Reply {
    use std::io::Write;
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_reply(&mut stream, false).expect("a response")
}

#[test]
fn one_address_cannot_hold_every_connection() {
    let _serial = serial();
    let server = Server::start_with(&[("MAX_CONNECTIONS_PER_IP", "4")]);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| connect_from("127.0.0.1", server.addr))
        .collect();
    // Give the accept loop time to count them.
    thread::sleep(Duration::from_millis(200));
    // A 503 while the four still hold their slots (an answer after their
    // deadline would have been a 200).
    let mut refused_stream = connect_from("127.0.0.1", server.addr);
    let refused = read_reply(&mut refused_stream, false).expect("an immediate answer");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("Retry-After"), Some("1"));
    let mut rest = Vec::new();
    let _ = refused_stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the 503");
    // Another address is not affected.
    assert_eq!(
        health_over(connect_from("127.0.0.2", server.addr)).status,
        200
    );
    // A slot given back is usable again.
    drop(held);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        health_over(connect_from("127.0.0.1", server.addr)).status,
        200
    );
}

/// A thread's nice value, from `/proc/PID/task/TID/stat` (proc(5): the
/// 19th field; the name in parentheses may hold spaces, so count after it);
/// `None` once the thread has ended (a connection's thread may end between
/// listing the tasks and reading one).
#[cfg(target_os = "linux")]
fn nice_of(task: &std::path::Path) -> Option<i64> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    Some(
        after_name
            .split_whitespace()
            .nth(16)
            .unwrap()
            .parse()
            .unwrap(),
    )
}

/// The bcrypt workers run ten nice steps below every other thread (issue
/// 27), so a session check that wakes while hashes fill the cores runs at
/// once instead of after a hash's time slice.
#[cfg(target_os = "linux")]
#[test]
fn bcrypt_workers_run_below_the_threads_that_answer_requests() {
    let server = Server::start_with(&[("HASH_WORKERS", "3")]);
    // A request, so connection threads exist beside the workers.
    assert_eq!(server.get("/api/health", None).status, 200);
    let tasks = std::path::PathBuf::from(format!("/proc/{}/task", server.child.id()));
    let own = nice_of(&std::path::PathBuf::from(format!(
        "/proc/{}",
        server.child.id()
    )))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mut workers, mut others) = (Vec::new(), Vec::new());
        for task in std::fs::read_dir(&tasks)
            .unwrap()
            .map(|e| e.unwrap().path())
        {
            let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            let Some(nice) = nice_of(&task) else {
                continue;
            };
            if name.starts_with("bcrypt-") {
                workers.push(nice);
            } else {
                others.push(nice);
            }
        }
        assert!(others.len() > 1, "{others:?}");
        assert!(others.iter().all(|&n| n == own), "{others:?}");
        if workers == vec![(own + 10).min(19); 3] {
            return;
        }
        // A worker lowers its own priority when it starts.
        assert!(
            Instant::now() < deadline,
            "workers at {workers:?}, the rest at {own}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
