//! `GET /api/health` and `GET /api/openapi.json`: what monitors and tools
//! read, no session needed.

use serde_json::json;

use crate::api::app::{App, Context, Document, Reply};
use crate::api::doc::{Answer, BUSY, Doc, ok, refusal};
use crate::api::error::{ApiError, RETRY_AFTER_STORAGE_SECS};
use crate::api::handler::Anyone;
use crate::api::schema::{Describe, reply_body};

reply_body! {
    pub struct HealthJson {
        pub database: &'static str = {"const": "ok", "type": null},
    }
}

pub const HEALTH: Doc = Doc {
    id: "health",
    tag: "ops",
    summary: "Whether the database can be read",
    answers: &[
        ok(200, "Healthy.", Some(HealthJson::describe)),
        refusal(
            "Overloaded (the bcrypt pool is full) or the database is unavailable.",
            BUSY,
        ),
    ],
    ..Doc::PLAIN
};

/// 200 when the database answers a read; 503 otherwise, so a load balancer
/// takes the instance out until it does.
pub fn health(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    app.accounts
        .check_storage()
        .map_err(|trouble| ApiError::ServiceUnavailable {
            retry_after_secs: RETRY_AFTER_STORAGE_SECS,
            cause: format!("health check: {trouble}"),
        })?;
    Reply::ok("ok").with_data(HealthJson { database: "ok" })
}

pub const OPENAPI: Doc = Doc {
    id: "openapi",
    tag: "ops",
    summary: "This document",
    answers: &[Answer::Other {
        status: 200,
        says: "The OpenAPI document (not wrapped in the envelope).",
        content: Some((
            "application/json",
            || json!({ "type": "object", "required": ["openapi", "paths"] }),
        )),
        headers: &[],
    }],
    ..Doc::PLAIN
};

/// The OpenAPI 3.1 description of this API (`api::openapi`; the same text
/// as `openapi.json` at the top level).
pub fn openapi(app: &App, _: &Context, _: Anyone) -> Result<Reply, ApiError> {
    Ok(Reply::document(Document {
        content_type: "application/json",
        body: app.openapi().as_bytes().to_vec(),
        content_security_policy: None,
    }))
}
