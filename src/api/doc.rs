//! What an endpoint says of itself in openapi.json, beside its handler:
//! the words (summary, description, what each answer means) and the types
//! of what it answers. The rest of its entry (the path, the method, who may
//! call it, the request body's schema, the error codes' statuses, the
//! headers every answer carries) comes from the route table, the handler's
//! types and `ApiError` (`api::openapi`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::error::ApiError;

/// One operation's words and answers.
pub struct Doc {
    /// `operationId`; a doc shared by several routes (one handler for GET
    /// and POST) gets the method appended.
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Empty for none.
    pub description: &'static str,
    /// What the request body's entry says (empty for nothing).
    pub body: &'static str,
    /// Whether an empty body will do (the handler reads it with
    /// `Body::read_if_sent`).
    pub body_optional: bool,
    pub answers: &'static [Answer],
    /// What else the operation says in OpenAPI's own words: its
    /// parameters, or a request body in another format.
    pub more: Option<fn() -> Value>,
}

impl Doc {
    /// The fields most docs leave as they are: `Doc { id, tag, summary,
    /// answers, ..Doc::PLAIN }`.
    pub const PLAIN: Doc = Doc {
        id: "",
        tag: "",
        summary: "",
        description: "",
        body: "",
        body_optional: false,
        answers: &[],
        more: None,
    };
}

/// A body in another format: its media type and schema.
pub type Content = (&'static str, fn() -> Value);

/// One answer an operation gives.
pub enum Answer {
    /// Success, in the envelope: the status, what it means, the schema of
    /// `data` (none: no `data`), and the headers it adds.
    Ok {
        status: u16,
        says: &'static str,
        data: Option<fn() -> Value>,
        headers: &'static [&'static str],
    },
    /// Refusals in the error envelope, all of one status (theirs, from
    /// `ApiError::parts`, the one place that maps them).
    Refused {
        says: &'static str,
        errors: &'static [ApiError],
        headers: &'static [&'static str],
    },
    /// An answer in another format (a page, OAuth's JSON, a redirect): its
    /// media type and schema, if it has a body.
    Other {
        status: u16,
        says: &'static str,
        content: Option<Content>,
        headers: &'static [&'static str],
    },
}

/// A success in the envelope.
pub const fn ok(status: u16, says: &'static str, data: Option<fn() -> Value>) -> Answer {
    Answer::Ok {
        status,
        says,
        data,
        headers: &[],
    }
}

/// A success in the envelope that sets the session cookie.
pub const fn ok_with_cookie(
    status: u16,
    says: &'static str,
    data: Option<fn() -> Value>,
) -> Answer {
    Answer::Ok {
        status,
        says,
        data,
        headers: &["Set-Cookie"],
    }
}

/// Refusals of one status.
pub const fn refusal(says: &'static str, errors: &'static [ApiError]) -> Answer {
    Answer::Refused {
        says,
        errors,
        headers: &[],
    }
}

/// A 429 of the throttle.
pub const THROTTLED: ApiError = ApiError::TooManyRequests {
    retry_after_secs: 1,
};

/// A 503: busy, or storage failing (a list of its own: a constant slice
/// may hold a value with a `String` in it, a call's argument may not).
pub const BUSY: &[ApiError] = &[ApiError::ServiceUnavailable {
    retry_after_secs: 1,
    cause: String::new(),
}];

/// A body that is not what the endpoint reads: for a 400 whose words are
/// the endpoint's own.
pub const INVALID: &[ApiError] = &[ApiError::Validation(BTreeMap::new())];

/// The throttle's 429, as most endpoints that check a secret give it.
pub const fn throttled() -> Answer {
    refusal(
        "Throttled; try again after `Retry-After` seconds.",
        &[THROTTLED],
    )
}

/// The 503 of an endpoint that hashes a password.
pub const fn busy_hashing() -> Answer {
    refusal(
        "Busy: the wait for a bcrypt worker would be over HASH_QUEUE_WAIT_SECS (refused after being held up to 1 s; Retry-After is the expected wait in whole seconds, at least 1), or storage is failing (disk full, read-only, I/O error; Retry-After: 5).",
        BUSY,
    )
}
