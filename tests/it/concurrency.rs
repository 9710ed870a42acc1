//! Changes that race and logins that wait their turn, against the real
//! binary: a change made after a credential check commits only if the
//! account is as it was when checked, and a few addresses taking turns
//! cannot starve another's logins.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{PASSWORD, Reply, Server};
use serde_json::json;

fn change_password(server: &Server, cookie: &str, new: &str) -> Reply {
    let body = json!({ "current_password": PASSWORD, "new_password": new });
    server.post("/api/user/password", &body.to_string(), Some(cookie))
}

fn login_status(server: &Server, name: &str, password: &str) -> u16 {
    let body = json!({ "username": name, "password": password });
    server.post("/api/login", &body.to_string(), None).status
}

#[test]
fn of_two_racing_password_changes_only_one_commits() {
    // One bcrypt worker at a real cost: both requests pass the session
    // check, then take turns verifying and hashing, so the second commit
    // comes after the first one revoked its session.
    let server = Server::start_with(&[("BCRYPT_COST", "10"), ("HASH_WORKERS", "1")]);
    let victim = server.signed_in_user("alice");
    let attacker = server.login("alice", PASSWORD);
    let (by_victim, by_attacker) = thread::scope(|scope| {
        let victim = scope.spawn(|| change_password(&server, &victim, "the victim's new one"));
        thread::sleep(Duration::from_millis(5));
        let attacker = scope.spawn(|| change_password(&server, &attacker, "the attacker's own"));
        (victim.join().unwrap(), attacker.join().unwrap())
    });
    let mut statuses = [by_victim.status, by_attacker.status];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "exactly one change may commit");
    let (winner, loser) = if by_victim.status == 200 {
        ("the victim's new one", "the attacker's own")
    } else {
        ("the attacker's own", "the victim's new one")
    };
    assert_eq!(login_status(&server, "alice", winner), 200);
    assert_eq!(login_status(&server, "alice", loser), 401);
}

#[test]
fn of_a_password_change_and_a_deletion_checked_before_it_only_one_commits() {
    // The victim's change has passed its verify when the attacker's
    // deletion passes its session check: the deletion's verify runs while
    // the change hashes, or after it committed. Whichever commits first,
    // the other must not commit on what it checked.
    // The moment is found by counting, not by timing: the change's verify
    // has finished (the metrics count it) when the deletion is sent. Which
    // of the two then reaches the queue first is the scheduler's choice,
    // so both orders are accepted, and only one may win.
    let metrics = common::free_port();
    let address = format!("127.0.0.1:{metrics}");
    let server = Server::start_with(&[
        ("BCRYPT_COST", "12"),
        ("HASH_WORKERS", "1"),
        ("METRICS_ADDR", &address),
    ]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let victim = server.login("alice", PASSWORD);
    let attacker = server.login("alice", PASSWORD);
    let before = common::hashes_done(metrics);
    let (changed, deleted) = thread::scope(|scope| {
        let change = scope.spawn(|| change_password(&server, &victim, "the victim's new one"));
        while common::hashes_done(metrics) == before {
            thread::sleep(Duration::from_millis(5));
        }
        let body = json!({ "password": PASSWORD }).to_string();
        let deleted = server.request(
            "DELETE",
            "/api/user",
            &[("Content-Type", "application/json"), ("Cookie", &attacker)],
            &body,
        );
        (change.join().unwrap(), deleted)
    });
    let mut statuses = [changed.status, deleted.status];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "exactly one commits: {statuses:?}");
    if changed.status == 200 {
        // The deletion checked the old password: the account stays.
        assert_eq!(login_status(&server, "alice", "the victim's new one"), 200);
    } else {
        // The deletion came first: the change did not bring it back.
        assert_eq!(login_status(&server, "alice", "the victim's new one"), 401);
        assert_eq!(login_status(&server, "alice", PASSWORD), 401);
    }
}

fn login_from(server: &Server, name: &str, address: &str) -> Reply {
    let body = json!({ "username": name, "password": PASSWORD }).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Forwarded-For", address),
    ];
    server.request("POST", "/api/login", &headers, &body)
}

#[test]
fn three_addresses_logging_in_without_pause_cannot_starve_a_fourth() {
    let server = Server::start_with(&[
        ("BCRYPT_COST", "10"),
        ("HASH_WORKERS", "1"),
        ("TRUST_PROXY", "true"),
    ]);
    for name in ["attacker1", "attacker2", "attacker3", "victim"] {
        assert_eq!(server.register(name, PASSWORD).status, 201);
    }
    // Counted, not timed: the attackers' logins answered while each of
    // the victim's waits, whatever else the machine is doing.
    let stop = AtomicBool::new(false);
    let attackers_done = AtomicUsize::new(0);
    let attack_ends = Instant::now() + Duration::from_secs(60);
    let victim: Vec<(u16, usize)> = thread::scope(|scope| {
        for n in 1..=3 {
            let (server, stop, done) = (&server, &stop, &attackers_done);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) && Instant::now() < attack_ends {
                    let reply =
                        login_from(server, &format!("attacker{n}"), &format!("203.0.113.{n}"));
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // Every attacker has been served: the attack is in full swing.
        while attackers_done.load(Ordering::SeqCst) < 6 {
            thread::sleep(Duration::from_millis(5));
        }
        let logins: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let before = attackers_done.load(Ordering::SeqCst);
                    let reply = login_from(&server, "victim", "198.51.100.7");
                    (reply.status, attackers_done.load(Ordering::SeqCst) - before)
                })
            })
            .collect();
        let victim = logins.into_iter().map(|l| l.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        victim
    });
    for (k, (status, passed)) in victim.into_iter().enumerate() {
        assert_eq!(status, 200, "login {k}");
        // The bound: the active addresses' turns plus its own queued
        // logins (a new address's quantum runs its three in a row), with
        // room for a loaded machine that holds a thread between its count
        // and its request: four rounds of the three attackers. Starved, it
        // waited for the whole attack (hundreds).
        assert!(
            passed <= 12,
            "login {k}: {passed} attackers' logins went first"
        );
    }
}

// Simultaneous right logins of one account from one address are not "too
// many attempts"; only failures are.

#[test]
fn simultaneous_right_logins_of_one_account_from_one_address_all_succeed() {
    // A real cost and one worker, so all eight are in flight together.
    let server = Server::start_with(&[("BCRYPT_COST", "10"), ("HASH_WORKERS", "1")]);
    assert_eq!(server.register("family", PASSWORD).status, 201);
    let statuses: Vec<u16> = thread::scope(|scope| {
        let logins: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| login_status(&server, "family", PASSWORD)))
            .collect();
        logins.into_iter().map(|l| l.join().unwrap()).collect()
    });
    assert_eq!(statuses, [200; 8]);
}
