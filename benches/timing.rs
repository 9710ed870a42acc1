//! Answers that must not tell who has an account, timed side by side in
//! one run: a login with a wrong password for an existing account beside
//! one for a name nobody has (both run one bcrypt verify), and a password
//! reset request for an address with an account beside one without (both
//! answer 202 before any look-up). Medians of interleaved requests, each
//! from its own address through a trusted proxy so no throttle steps in.
//! The black-box suite proves the mechanisms by counting; this measures.
//!
//!   cargo bench --bench timing -- [ROUNDS]
//!
//! Prints a Markdown table for BENCHMARKS.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, Server};
use serde_json::json;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(40);
    let server = Server::start_with(&[
        ("BCRYPT_COST", "10"),
        ("TRUST_PROXY", "true"),
        ("REGISTRATIONS_PER_HOUR", "0"),
        ("PASSWORD_RESETS_PER_HOUR", "1000000"),
        ("MAIL_COMMAND", "cat > /dev/null"),
        ("PUBLIC_URL", "https://auth.example.com"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ]);
    for n in 0..rounds {
        assert_eq!(server.register(&format!("user{n}"), PASSWORD).status, 201);
    }
    let timed = |path: &str, body: String, n: usize, expected: u16| {
        let address = format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256);
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", address.as_str()),
        ];
        let started = Instant::now();
        assert_eq!(
            server.request("POST", path, &headers, &body).status,
            expected
        );
        started.elapsed()
    };
    let (mut wrong, mut ghost, mut known, mut unknown) = (vec![], vec![], vec![], vec![]);
    for n in 0..rounds {
        let login =
            |name: String| json!({ "username": name, "password": "wrong password!" }).to_string();
        wrong.push(timed("/api/login", login(format!("user{n}")), 4 * n, 401));
        ghost.push(timed(
            "/api/login",
            login(format!("ghost{n}")),
            4 * n + 1,
            401,
        ));
        let forgot = |email: String| json!({ "email": email }).to_string();
        known.push(timed(
            "/api/password/forgot",
            forgot(format!("user{n}@example.com")),
            4 * n + 2,
            202,
        ));
        unknown.push(timed(
            "/api/password/forgot",
            forgot(format!("nobody{n}@example.com")),
            4 * n + 3,
            202,
        ));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| request | median ms | beside | median ms | ratio |\n| --- | --- | --- | --- | --- |"
    );
    for (a, ta, b, tb) in [
        (
            "login, wrong password",
            median(wrong),
            "login, no such account",
            median(ghost),
        ),
        (
            "forgot, an account's address",
            median(known),
            "forgot, nobody's address",
            median(unknown),
        ),
    ] {
        println!(
            "| {a} | {:.3} | {b} | {:.3} | {:.2} |",
            ms(ta),
            ms(tb),
            ms(tb) / ms(ta)
        );
    }
}
