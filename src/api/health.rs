//! `GET /api/health` and `GET /api/openapi.json`: what monitors and tools
//! read, no session needed.

use serde_json::json;

use crate::api::app::{App, Context, Document, Reply};
use crate::api::error::{ApiError, RETRY_AFTER_STORAGE_SECS};
use crate::api::handler::Anyone;

/// The OpenAPI 3.1 description of this API (`openapi.json` at the top level).
const OPENAPI: &str = include_str!("../../openapi.json");

/// 200 when the database answers a read; 503 otherwise, so a load balancer
/// takes the instance out until it does.
pub fn health(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    app.accounts
        .db
        .check()
        .map_err(|error| ApiError::ServiceUnavailable {
            retry_after_secs: RETRY_AFTER_STORAGE_SECS,
            cause: format!("health check: {error}"),
        })?;
    Reply::ok("ok").with_data(json!({ "database": "ok" }))
}

pub fn openapi(_: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(Reply::document(Document {
        content_type: "application/json",
        body: OPENAPI.as_bytes().to_vec(),
        content_security_policy: None,
    }))
}
