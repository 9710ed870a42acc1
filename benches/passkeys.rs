//! Passkey sign-ins per second beside password sign-ins per second, on one
//! server in one run (these machines are noisy; only a side-by-side pair
//! means anything). The server is the release binary with the default
//! BCRYPT_COST (12); each client is a thread with its own account and its
//! own software authenticator (ES256, `tests/it/authenticator/`), signing in
//! over and over for SECONDS: a passkey sign-in is two requests (options,
//! then the signed assertion), a password sign-in one.
//!
//!   cargo bench --bench passkeys -- [SECONDS] [CLIENTS]
//!
//! Prints a Markdown table for BENCHMARKS.md.

#[path = "../tests/it/authenticator/mod.rs"]
mod authenticator;
#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authenticator::{Alg, Authenticator, ORIGIN};
use common::{PASSWORD, Server};
use serde_json::json;

/// Sign-ins that succeeded and each one's time, in milliseconds.
type Run = (usize, Vec<f64>);

fn main() {
    let (seconds, clients) = support::seconds_and_clients();

    let server = Arc::new(Server::start_with(&[
        ("BCRYPT_COST", "12"),
        ("PASSKEY_ORIGINS", ORIGIN),
        ("REGISTRATIONS_PER_HOUR", "0"),
        ("PASSKEY_OPTIONS_PER_MINUTE", "0"),
    ]));
    let devices: Vec<(String, Authenticator)> = (0..clients)
        .map(|n| {
            let name = format!("bench{n}");
            let cookie = server.signed_in_user(&name);
            let mut device = Authenticator::new(Alg::Es256, n as u8 + 1);
            let options = server.post("/api/user/passkeys/options", "{}", Some(&cookie));
            let credential = device.create(&options.json());
            let added = server.post(
                "/api/user/passkeys",
                &json!({ "credential": credential }).to_string(),
                Some(&cookie),
            );
            assert_eq!(added.status, 201, "{}", added.text());
            (name, device)
        })
        .collect();

    let (passkeys, devices) = run(&server, devices, seconds, |server, _, device| {
        let options = server.post("/api/login/passkey/options", "{}", None);
        let ticket = options.ticket_cookie().unwrap_or_default();
        let credential = device.get(&options.json());
        let body = json!({ "credential": credential }).to_string();
        let headers = [
            ("Content-Type", "application/json"),
            ("Cookie", ticket.as_str()),
        ];
        server
            .request("POST", "/api/login/passkey", &headers, &body)
            .status
            == 200
    });
    let (passwords, _) = run(&server, devices, seconds, |server, name, _| {
        let body = json!({ "username": name, "password": PASSWORD }).to_string();
        server.post("/api/login", &body, None).status == 200
    });

    println!(
        "| sign-in | clients | seconds | signed in | per second | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for (kind, (count, times)) in [
        ("passkey (ES256)", &passkeys),
        ("password (bcrypt 12)", &passwords),
    ] {
        println!(
            "{}",
            support::row(kind, clients, seconds, *count, &mut times.clone())
        );
    }
    let per_second = |(count, _): &Run| *count as f64 / seconds as f64;
    println!(
        "\npasskey / password: {:.0}x",
        per_second(&passkeys) / per_second(&passwords)
    );
}

/// The accounts' names and devices.
type Clients = Vec<(String, Authenticator)>;

/// Each client signs in with `sign_in` for `seconds`; the clients back.
fn run(
    server: &Arc<Server>,
    devices: Clients,
    seconds: u64,
    sign_in: fn(&Server, &str, &mut Authenticator) -> bool,
) -> (Run, Clients) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = devices
        .into_iter()
        .map(|(name, mut device)| {
            let server = Arc::clone(server);
            std::thread::spawn(move || {
                let (mut count, mut times) = (0, Vec::new());
                while Instant::now() < end {
                    let started = Instant::now();
                    if sign_in(&server, &name, &mut device) {
                        count += 1;
                        times.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                (count, times, name, device)
            })
        })
        .collect();
    let (mut count, mut times, mut clients) = (0, Vec::new(), Vec::new());
    for thread in threads {
        let (n, t, name, device) = thread.join().expect("a client thread");
        count += n;
        times.extend(t);
        clients.push((name, device));
    }
    ((count, times), clients)
}
