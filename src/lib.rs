//! auth-server: a small, synchronous authentication backend for browser
//! front ends. ARCHITECTURE.md maps these modules and the path of a request.
//!
//! The folders are the layers a request crosses, top to bottom; a module
//! imports only from its own layer's lower modules or from layers below:
//!
//! - [`admin`]: the `auth-server admin …` command (beside `api`, a second
//!   way in).
//! - [`api`]: the request pipeline, the router and one file per resource.
//! - [`http`]: the HTTP/1.1 server; it knows nothing of authentication and
//!   imports nothing from the rest of the crate.
//! - [`auth`]: sessions, passwords, throttling, validation.
//! - [`storage`]: SQLite (users, the audit trail, migrations).
//! - [`support`]: settings, the log, the clock, locking.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod http;
pub mod storage;
pub mod support;
