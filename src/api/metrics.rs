//! The metrics listener's service: `GET /metrics` in Prometheus's text
//! format, on its own address (`METRICS_ADDR`), so it is never exposed with
//! the API. Anything else there is 404.

use std::sync::Arc;

use crate::api::app::App;
use crate::http::{Refusal, Request, Response, Service, StopHandle};
use auth_core::support::metrics::Gauges;

pub struct MetricsService {
    pub app: Arc<App>,
    /// The API server, for its open connections.
    pub api: StopHandle,
}

fn text(status: u16, content_type: &'static str, body: String) -> Response {
    Response::new(status)
        .with_header("Content-Type", content_type)
        .with_header("Cache-Control", "no-store")
        .with_body(body)
}

impl Service for MetricsService {
    fn handle(&self, request: &Request) -> Response {
        let Some(metrics) = &self.app.metrics else {
            return text(404, "text/plain; charset=utf-8", "metrics are off\n".into());
        };
        if request.path != "/metrics" {
            return text(
                404,
                "text/plain; charset=utf-8",
                "not found; try /metrics\n".into(),
            );
        }
        if request.method != "GET" && request.method != "HEAD" {
            return text(405, "text/plain; charset=utf-8", "GET only\n".into())
                .with_header("Allow", "GET, HEAD");
        }
        let gauges = Gauges {
            hash_queue_depth: self.app.accounts.hash_queue_depth(),
            sessions_live: self.app.accounts.live_sessions(),
            connections_open: self.api.open_connections(),
            start_time_secs: self.app.started_at,
        };
        text(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(&gauges),
        )
    }

    fn refusal(&self, refusal: Refusal) -> Response {
        text(
            refusal.status(),
            "text/plain; charset=utf-8",
            "refused\n".into(),
        )
    }

    fn log_error(&self, message: &str) {
        self.app.accounts.log_error(message);
    }
}
