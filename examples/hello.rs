//! The bare HTTP layer answering `{"hello":"world"}` to everything: the speed
//! ceiling the real server is measured against in BENCHMARKS.md.
//!
//! `cargo run --release --example hello` (PORT defaults to 8081).

use auth_server::http::{Limits, Refusal, Request, Response, Server, Service};

struct Hello;

impl Service for Hello {
    fn handle(&self, _request: &Request) -> Response {
        Response::new(200)
            .with_header("Content-Type", "application/json")
            .with_body(r#"{"hello":"world"}"#)
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        Response::new(refusal.status())
    }
}

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8081".into());
    let server = Server::bind(
        ("127.0.0.1", port.parse().unwrap_or(8081)),
        Limits::default(),
    )?;
    println!("listening on http://{}", server.local_addr()?);
    server.serve(Hello)
}
