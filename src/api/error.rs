//! Every way a request can fail, and the one place that maps each to the
//! contract's status code and `error.code`.
//!
//! Messages are fixed texts written for the client: no error from SQLite, the
//! operating system or a parser is ever copied into a response, so nothing
//! leaks a path, a query or a stack (OWASP ASVS 4.0.3 V7.4.1).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::http::{DEFAULT_MAX_BODY_BYTES, Refusal};
use auth_core::accounts::Trouble;

/// `Retry-After` for a moment's overload (a locked database): the next
/// second may well succeed (RFC 9110 §10.2.3).
pub const RETRY_AFTER_BUSY_SECS: u64 = 1;
/// `Retry-After` when storage is failing (disk full, read-only, I/O
/// errors): an operator has to act, so clients should not hammer it.
pub const RETRY_AFTER_STORAGE_SECS: u64 = 5;

/// The 413 message, written from the limit itself so the two cannot differ.
static BODY_TOO_LARGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "The request body is over {} KiB.",
        DEFAULT_MAX_BODY_BYTES / 1024
    )
});

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// Where the parser stopped (1-based line, column), for the message.
    InvalidJson {
        line: usize,
        column: usize,
    },
    /// Field name → what is wrong with it; every bad field at once.
    Validation(BTreeMap<String, String>),
    InvalidCredentials,
    /// A reset or verification token that is malformed, unknown, used or
    /// expired: one answer for all, so a token cannot be probed.
    InvalidToken,
    /// A right password for an address not yet verified, when
    /// `REQUIRE_VERIFIED_EMAIL` is on.
    EmailNotVerified,
    /// Asked to send mail on a server with no `MAIL_COMMAND`.
    MailNotConfigured,
    /// The right password for an account with two-factor login, and no
    /// code: the front end asks for one and sends the login again.
    TotpRequired,
    /// A wrong, stale or replayed second factor at login (or to turn it off).
    InvalidTotp,
    /// A wrong code while turning two-factor login on.
    InvalidCode,
    TotpAlreadyEnabled,
    TotpNotEnabled,
    /// A passkey that could not be added: which check failed.
    InvalidPasskey(&'static str),
    /// A passkey sign-in refused: one answer whatever failed, like a wrong
    /// password.
    PasskeyRefused,
    /// `REGISTRATION=closed`: accounts come from the admin command.
    RegistrationClosed,
    /// `REGISTRATION=invite`, and the form has no invitation.
    InviteRequired,
    /// An invitation that is unknown, used, withdrawn or expired: one
    /// answer for all, so a token cannot be probed.
    InvalidInvite,
    /// Signed in, but not a member of `ADMIN_GROUP`.
    AdminOnly,
    /// An administrator whose session was opened without a second factor
    /// (a code from the app, a recovery code or a passkey).
    SecondFactorRequired,
    /// A change that cannot be made as things are (an administrator
    /// disabling or deleting their own account): why.
    Conflict(&'static str),
    /// Signed in, but the session's last proof is older than
    /// `REAUTH_SECS`, and the request adds a credential.
    ReauthenticationRequired,
    /// Signed in, but the access rules do not let this user use the app
    /// (or want a second factor this session has not shown).
    Forbidden,
    /// Forward auth whose proxy described the guarded request in a way
    /// that cannot be read (or in two ways that disagree): refused, never
    /// guessed at.
    UndescribedRequest,
    /// Forward auth for a signed-out browser on a guarded host: a 302 to
    /// the sign-in page, which sends it back to where it was going.
    SignInFirst {
        location: String,
    },
    /// The same for nginx, whose `auth_request` follows only a 401: a 401
    /// that names the sign-in page in `Location`.
    SignInAt {
        location: String,
    },
    Unauthenticated,
    OriginNotAllowed,
    NotFound,
    /// The methods the route does allow: the `Allow` header's value.
    MethodNotAllowed(String),
    UsernameTaken,
    EmailTaken,
    UnsupportedMediaType,
    /// Seconds until the client may try again.
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Something on our side failed. `cause` goes to the log with the
    /// request id, never to the client.
    Internal {
        cause: String,
    },
    /// Overloaded, or storage failing in a way that may pass (disk full,
    /// read-only, locked): the same request can succeed later.
    ServiceUnavailable {
        retry_after_secs: u64,
        cause: String,
    },
    /// A refusal by the HTTP layer itself.
    Http(Refusal),
}

impl ApiError {
    /// One of every kind, for the contract's list of codes (openapi.json).
    /// The match in [`ApiError::parts`] names them all; a kind missing here
    /// fails the test that every code in this file is in the document.
    pub fn kinds() -> Vec<ApiError> {
        use Refusal::*;
        let mut kinds = vec![
            ApiError::InvalidJson { line: 1, column: 1 },
            ApiError::Validation(BTreeMap::new()),
            ApiError::InvalidCredentials,
            ApiError::InvalidToken,
            ApiError::EmailNotVerified,
            ApiError::MailNotConfigured,
            ApiError::TotpRequired,
            ApiError::InvalidTotp,
            ApiError::InvalidCode,
            ApiError::TotpAlreadyEnabled,
            ApiError::TotpNotEnabled,
            ApiError::PasskeyRefused,
            ApiError::RegistrationClosed,
            ApiError::InviteRequired,
            ApiError::InvalidInvite,
            ApiError::AdminOnly,
            ApiError::SecondFactorRequired,
            ApiError::Conflict(""),
            ApiError::ReauthenticationRequired,
            ApiError::Forbidden,
            ApiError::UndescribedRequest,
            ApiError::Unauthenticated,
            ApiError::OriginNotAllowed,
            ApiError::NotFound,
            ApiError::MethodNotAllowed(String::new()),
            ApiError::UsernameTaken,
            ApiError::EmailTaken,
            ApiError::UnsupportedMediaType,
            ApiError::TooManyRequests {
                retry_after_secs: 1,
            },
            ApiError::Internal {
                cause: String::new(),
            },
            ApiError::ServiceUnavailable {
                retry_after_secs: 1,
                cause: String::new(),
            },
        ];
        kinds.extend(
            [
                BadRequest,
                Timeout,
                PayloadTooLarge,
                HeadersTooLarge,
                NotImplemented,
                Overloaded,
                VersionNotSupported,
                InternalError,
            ]
            .map(ApiError::Http),
        );
        kinds
    }

    /// A moment's overload: retry in a second.
    pub fn busy(cause: impl Into<String>) -> ApiError {
        ApiError::ServiceUnavailable {
            retry_after_secs: RETRY_AFTER_BUSY_SECS,
            cause: cause.into(),
        }
    }

    /// What the log must say about a 5xx; `None` for a client's mistake.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Internal { cause } | ApiError::ServiceUnavailable { cause, .. } => {
                Some(cause)
            }
            _ => None,
        }
    }

    /// One field's problem, as a validation error.
    pub fn field(name: &str, problem: &str) -> ApiError {
        ApiError::Validation(BTreeMap::from([(name.to_string(), problem.to_string())]))
    }

    /// The status, the `error.code` and the message of the contract.
    pub fn parts(&self) -> (u16, &'static str, &'static str) {
        match self {
            ApiError::InvalidJson { .. } => (
                400,
                "invalid_json",
                "The request body must be one JSON object in UTF-8, each key once.",
            ),
            ApiError::Validation(_) => (
                400,
                "validation_error",
                "Some fields are missing or invalid.",
            ),
            ApiError::InvalidCredentials => {
                (401, "invalid_credentials", "Invalid username or password.")
            }
            ApiError::Unauthenticated => (401, "unauthenticated", "You are not signed in."),
            ApiError::InvalidToken => (
                400,
                "invalid_token",
                "This link is not valid: it may have been used already or expired.",
            ),
            ApiError::EmailNotVerified => (
                403,
                "email_not_verified",
                "Confirm your email address first: open the link we sent you.",
            ),
            ApiError::TotpRequired => (
                401,
                "totp_required",
                "Enter the code from your authenticator app.",
            ),
            ApiError::InvalidTotp => (
                401,
                "invalid_totp",
                "That code is not valid. Use a new code from your app, or a recovery code.",
            ),
            ApiError::InvalidCode => (
                400,
                "invalid_code",
                "That code does not match. Check the app's clock and try the current code.",
            ),
            ApiError::TotpAlreadyEnabled => (
                409,
                "totp_already_enabled",
                "Two-factor login is already on.",
            ),
            ApiError::TotpNotEnabled => (409, "totp_not_enabled", "Two-factor login is off."),
            ApiError::InvalidPasskey(message) => (400, "invalid_passkey", message),
            ApiError::PasskeyRefused => (
                401,
                "invalid_passkey",
                "That passkey could not sign you in. Try again, or use your password.",
            ),
            ApiError::RegistrationClosed => (
                403,
                "registration_closed",
                "Sign-up is closed here; ask the operator for an account.",
            ),
            ApiError::InviteRequired => (
                403,
                "invite_required",
                "Sign-up here is by invitation: open the link you were sent.",
            ),
            ApiError::InvalidInvite => (
                400,
                "invalid_invite",
                "This invitation is not valid: it may have been used, withdrawn or expired. Ask for a new one.",
            ),
            ApiError::AdminOnly => (403, "forbidden", "This page is for administrators."),
            ApiError::SecondFactorRequired => (
                403,
                "second_factor_required",
                "Confirm it is you with a second factor (a code from your app or a passkey) first.",
            ),
            ApiError::Conflict(why) => (409, "conflict", why),
            ApiError::ReauthenticationRequired => (
                403,
                "reauthentication_required",
                "Confirm it is you: enter your password (or a code from your app) again.",
            ),
            ApiError::Forbidden => (
                403,
                "forbidden",
                "You are signed in, but this app is not open to you.",
            ),
            ApiError::UndescribedRequest => (
                400,
                "invalid_forwarded_request",
                "The proxy's description of the request (X-Forwarded-Host, -Uri, -Proto or X-Original-URL) cannot be read.",
            ),
            ApiError::SignInFirst { .. } => (302, "unauthenticated", "Sign in first."),
            ApiError::SignInAt { .. } => (401, "unauthenticated", "Sign in first."),
            ApiError::MailNotConfigured => (
                409,
                "mail_not_configured",
                "This server sends no mail; ask its operator.",
            ),
            ApiError::OriginNotAllowed => (
                403,
                "origin_not_allowed",
                "This origin may not make this request.",
            ),
            ApiError::NotFound => (404, "not_found", "There is nothing here."),
            ApiError::MethodNotAllowed(_) => (
                405,
                "method_not_allowed",
                "This method is not allowed here.",
            ),
            ApiError::UsernameTaken => (409, "username_taken", "That username is taken."),
            ApiError::EmailTaken => (
                409,
                "email_taken",
                "That email address is already registered.",
            ),
            ApiError::UnsupportedMediaType => (
                415,
                "unsupported_media_type",
                "The request body must be sent as application/json.",
            ),
            ApiError::TooManyRequests { .. } => (
                429,
                "too_many_requests",
                "Too many attempts. Try again later; the site's operator can lift the lock at once.",
            ),
            ApiError::Internal { .. } => {
                (500, "internal_error", "Something went wrong on our side.")
            }
            ApiError::ServiceUnavailable { .. } => (
                503,
                "service_unavailable",
                "The service is busy or unavailable. Try again shortly.",
            ),
            ApiError::Http(refusal) => refusal_parts(*refusal),
        }
    }

    /// The extra headers a few errors carry.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::MethodNotAllowed(allow) => vec![("Allow", allow.clone())],
            ApiError::SignInFirst { location } | ApiError::SignInAt { location } => {
                vec![("Location", location.clone())]
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::ServiceUnavailable {
                retry_after_secs, ..
            } => {
                vec![("Retry-After", retry_after_secs.to_string())]
            }
            ApiError::Http(Refusal::Overloaded) => {
                vec![("Retry-After", RETRY_AFTER_BUSY_SECS.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The JSON envelope: `{"success": false, "error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        let (_, code, message) = self.parts();
        let mut error = serde_json::json!({ "code": code, "message": message });
        // Where the parser stopped, so a hand-written body can be fixed.
        if let ApiError::InvalidJson { line, column } = self {
            error["message"] = serde_json::json!(format!(
                "{} The parser stopped at line {line}, column {column}.",
                message
            ));
        }
        if let ApiError::Validation(fields) = self {
            error["fields"] = serde_json::json!(fields);
        }
        // The header's value in the body too, for clients that cannot read
        // headers (a browser's fetch across origins without exposing them).
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            error["retry_after"] = serde_json::json!(retry_after_secs);
        }
        serde_json::json!({ "success": false, "error": error })
    }
}

fn refusal_parts(refusal: Refusal) -> (u16, &'static str, &'static str) {
    let status = refusal.status();
    match refusal {
        Refusal::BadRequest => (status, "bad_request", "The request is malformed."),
        Refusal::Timeout => (
            status,
            "request_timeout",
            "The request took too long to arrive.",
        ),
        Refusal::PayloadTooLarge => (status, "payload_too_large", BODY_TOO_LARGE.as_str()),
        Refusal::HeadersTooLarge => (
            status,
            "headers_too_large",
            "The request headers are too large.",
        ),
        Refusal::NotImplemented => (
            status,
            "not_implemented",
            "Transfer-Encoding is not supported.",
        ),
        Refusal::Overloaded => (
            status,
            "service_unavailable",
            "The server is busy. Try again shortly.",
        ),
        Refusal::VersionNotSupported => (status, "http_version_not_supported", "Use HTTP/1.1."),
        Refusal::InternalError => (
            status,
            "internal_error",
            "Something went wrong on our side.",
        ),
    }
}

impl From<Trouble> for ApiError {
    /// A use case that could not finish: 503 with `Retry-After` for what
    /// can pass (a busy queue, a locked or failing database), 500 for the
    /// rest; the cause only goes to the log.
    fn from(trouble: Trouble) -> ApiError {
        match trouble {
            Trouble::Busy {
                expected_wait_secs,
                cause,
            } => ApiError::ServiceUnavailable {
                retry_after_secs: expected_wait_secs.unwrap_or(RETRY_AFTER_BUSY_SECS),
                cause,
            },
            Trouble::Unavailable(cause) => ApiError::ServiceUnavailable {
                retry_after_secs: RETRY_AFTER_STORAGE_SECS,
                cause,
            },
            Trouble::Internal(cause) => ApiError::Internal { cause },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_code_message_and_fields() {
        let mut fields = BTreeMap::new();
        fields.insert("username".to_string(), "is required".to_string());
        fields.insert("email".to_string(), "must be a string".to_string());
        let body = ApiError::Validation(fields).body();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["fields"]["username"], "is required");
        assert_eq!(body["error"]["fields"]["email"], "must be a string");
        assert!(ApiError::NotFound.body()["error"].get("fields").is_none());
    }

    #[test]
    fn trouble_is_503_with_its_retry_after_or_500() {
        let unavailable = ApiError::from(Trouble::Unavailable("database: disk full".into()));
        assert_eq!(unavailable.parts().0, 503);
        assert_eq!(
            unavailable.headers()[0].1,
            RETRY_AFTER_STORAGE_SECS.to_string()
        );
        let busy = ApiError::from(Trouble::busy("locked"));
        assert_eq!(busy.headers()[0].1, RETRY_AFTER_BUSY_SECS.to_string());
        let queue = ApiError::from(Trouble::Busy {
            expected_wait_secs: Some(3),
            cause: "the bcrypt queue is full".into(),
        });
        assert_eq!(queue.headers()[0].1, "3");
        let internal = ApiError::from(Trouble::Internal("database: corrupt".into()));
        assert_eq!(internal.parts().0, 500);
        assert_eq!(internal.cause(), Some("database: corrupt"));
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ApiError::InvalidCredentials.parts().0, 401);
        assert_eq!(ApiError::OriginNotAllowed.parts().0, 403);
        assert_eq!(
            ApiError::UsernameTaken.parts(),
            (409, "username_taken", "That username is taken.")
        );
        assert_eq!(
            ApiError::Http(Refusal::NotImplemented).parts().1,
            "not_implemented"
        );
        assert_eq!(ApiError::Http(Refusal::Overloaded).headers()[0].1, "1");
        assert_eq!(
            ApiError::MethodNotAllowed("GET, HEAD".into()).headers(),
            vec![("Allow", "GET, HEAD".to_string())]
        );
    }
}
