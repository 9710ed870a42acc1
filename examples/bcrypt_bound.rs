//! The bcrypt bound: how many password checks a second this machine can do
//! at most (cores ÷ the time of one verify), the ceiling for logins.
//!
//! `cargo run --release --example bcrypt_bound -- [cost] [verifies]`

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    let verifies: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let password = "correct horse battery staple";
    let Ok(hash) = bcrypt::hash(password, cost) else {
        eprintln!("cannot hash at cost {cost}");
        std::process::exit(1);
    };
    let started = Instant::now();
    for _ in 0..verifies {
        assert!(bcrypt::verify(password, &hash).unwrap_or(false));
    }
    let one = started.elapsed().as_secs_f64() / f64::from(verifies);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "cost {cost}: one verify {:.1} ms; bound {:.2} logins/s on {cores} cores",
        one * 1000.0,
        cores as f64 / one
    );
}
