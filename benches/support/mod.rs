//! What the Rust benches share: a Markdown row of throughput and latency.

/// `[SECONDS] [CLIENTS]` from the command line (after `cargo bench`'s own
/// flags), 10 and 8 when absent.
pub fn seconds_and_clients() -> (u64, usize) {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let seconds = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let clients = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    (seconds, clients)
}

/// The `q` quantile (0..1) of `times`, which must be sorted.
fn quantile(times: &[f64], q: f64) -> f64 {
    times
        .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

/// `| label | clients | seconds | count | per second | p50 ms | p99 ms |`
/// for `count` answers taking `times` milliseconds.
pub fn row(label: &str, clients: usize, seconds: u64, count: usize, times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    format!(
        "| {label} | {clients} | {seconds} | {count} | {:.1} | {:.2} | {:.2} |",
        count as f64 / seconds as f64,
        quantile(times, 0.5),
        quantile(times, 0.99)
    )
}
