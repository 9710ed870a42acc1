//! auth-core: what auth-server knows about accounts, with no HTTP in it.
//! ARCHITECTURE.md maps these modules and the path of a request.
//!
//! The folders are layers, top to bottom; a module imports only from its
//! own layer's lower modules or from layers below. The server crate
//! (`auth-server`: the HTTP layer, the API, the pages and the admin
//! command) sits above all of them, and the compiler keeps it there: this
//! crate does not depend on it.
//!
//! - [`accounts`]: the use cases, one flow a file (register, sign in, …),
//!   each a function from plain inputs to a typed outcome.
//! - [`auth`]: the rules and the crypto: sessions, passwords, throttling,
//!   validation, TOTP, WebAuthn, JOSE, access rules.
//! - [`storage`]: SQLite (users, the audit trail, migrations).
//! - [`support`]: settings, the log, the clock, URLs, text.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod auth;
pub mod storage;
pub mod support;
