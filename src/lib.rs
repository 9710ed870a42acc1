//! auth-server: the HTTP face of auth-core. ARCHITECTURE.md maps these
//! modules and the path of a request.
//!
//! This crate is the top of the house; `auth_core` (the use cases, the
//! rules, the database) is below it and cannot import anything from here:
//!
//! - [`admin`]: the `auth-server admin …` command (beside `api`, a second
//!   way in).
//! - [`api`]: the request pipeline, the router and one file per resource.
//! - [`http`]: the HTTP/1.1 server; it knows nothing of authentication and
//!   imports nothing from the rest of the crate.

#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod http;
