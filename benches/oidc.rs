//! The OpenID Provider's token endpoint (a code exchange signed with RS256,
//! and with ES256) and userinfo, beside GET /api/user, on one release server
//! in one run. Each client thread holds a session; a code exchange is an
//! authorization request (302 with a code) then the token request, and
//! only the token request is timed for the latency columns. Every request
//! is on a new connection (the test client's way), so req/s here are not
//! comparable with wrk's keep-alive figures elsewhere in BENCHMARKS.md;
//! GET /api/user is the yardstick in the same run.
//!
//!   cargo bench --bench oidc -- [SECONDS] [CLIENTS]

#[path = "../tests/it/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, admin_with};
use sha2::{Digest, Sha256};

use auth_core::support::base64::{encode, encode_url};
use auth_core::support::text::percent_encode;

const ISSUER: &str = "https://auth.example.com";
const CALLBACK: &str = "https://app.example.com/callback";
const VERIFIER: &str = "a-code-verifier-of-at-least-forty-three-characters-123";

struct Client {
    id: String,
    basic: String,
}

fn add_client(server: &Server, alg: &str) -> Client {
    let (code, out, err) = admin_with(
        &server.dir,
        &[("PUBLIC_URL", ISSUER)],
        &[
            "oidc-client",
            "add",
            alg,
            "--redirect-uri",
            CALLBACK,
            "--alg",
            alg,
        ],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    let id = field("client_id");
    let basic = format!(
        "Basic {}",
        encode(format!("{id}:{}", field("client_secret")).as_bytes())
    );
    Client { id, basic }
}

/// One code exchange: authorize (untimed) then token (timed); the time and
/// the access token.
fn exchange(server: &Server, client: &Client, cookie: &str) -> Option<(f64, String)> {
    let challenge = encode_url(&Sha256::digest(VERIFIER.as_bytes()));
    let path = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile&state=s&code_challenge={challenge}&code_challenge_method=S256",
        client.id,
        percent_encode(CALLBACK)
    );
    let reply = server.get(&path, Some(cookie));
    let location = reply.header("location")?;
    let code = location
        .split("code=")
        .nth(1)?
        .split('&')
        .next()?
        .to_string();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        percent_encode(CALLBACK)
    );
    let started = Instant::now();
    let tokens = server.request(
        "POST",
        "/oauth2/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &client.basic),
        ],
        &body,
    );
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let access_token = tokens.json()["access_token"].as_str()?.to_string();
    Some((elapsed, access_token))
}

type Run = (usize, Vec<f64>);

/// `clients` threads doing `work` for `seconds`; `work` answers the time to
/// count, or `None` for a failure.
fn run(
    seconds: u64,
    cookies: &[String],
    work: impl Fn(&str) -> Option<f64> + Send + Sync + 'static,
) -> Run {
    let work = Arc::new(work);
    let end = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = cookies
        .iter()
        .cloned()
        .map(|cookie| {
            let work = Arc::clone(&work);
            std::thread::spawn(move || {
                let mut times = Vec::new();
                while Instant::now() < end {
                    if let Some(ms) = work(&cookie) {
                        times.push(ms);
                    }
                }
                times
            })
        })
        .collect();
    let times: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a client thread"))
        .collect();
    (times.len(), times)
}

fn main() {
    let (seconds, clients) = support::seconds_and_clients();
    let server = Arc::new(Server::start_with(&[
        ("PUBLIC_URL", ISSUER),
        ("REGISTRATIONS_PER_HOUR", "0"),
    ]));
    let rs256 = Arc::new(add_client(&server, "RS256"));
    let es256 = Arc::new(add_client(&server, "ES256"));
    let cookies: Vec<String> = (0..clients)
        .map(|n| server.signed_in_user(&format!("bench{n}")))
        .collect();
    // One access token for the userinfo run.
    let (_, access_token) = exchange(&server, &rs256, &cookies[0]).expect("a first exchange");

    let timed = |server: &Server, path: &str, headers: &[(&str, &str)]| {
        let started = Instant::now();
        (server.request("GET", path, headers, "").status == 200)
            .then(|| started.elapsed().as_secs_f64() * 1000.0)
    };
    let results = [
        ("token: code exchange, RS256 ID token", {
            let (s, c) = (Arc::clone(&server), Arc::clone(&rs256));
            run(seconds, &cookies, move |cookie| {
                exchange(&s, &c, cookie).map(|(ms, _)| ms)
            })
        }),
        ("token: code exchange, ES256 ID token", {
            let (s, c) = (Arc::clone(&server), Arc::clone(&es256));
            run(seconds, &cookies, move |cookie| {
                exchange(&s, &c, cookie).map(|(ms, _)| ms)
            })
        }),
        ("GET /oauth2/userinfo (Bearer)", {
            let s = Arc::clone(&server);
            let bearer = format!("Bearer {access_token}");
            run(seconds, &cookies, move |_| {
                timed(&s, "/oauth2/userinfo", &[("Authorization", &bearer)])
            })
        }),
        ("GET /api/user (cookie), the yardstick", {
            let s = Arc::clone(&server);
            run(seconds, &cookies, move |cookie| {
                timed(&s, "/api/user", &[("Cookie", cookie)])
            })
        }),
    ];
    println!(
        "| request | clients | seconds | answered | per second | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for (name, (count, mut times)) in results {
        println!(
            "{}",
            support::row(name, clients, seconds, count, &mut times)
        );
    }
}
