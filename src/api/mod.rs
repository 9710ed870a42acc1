//! The API layer: what the JSON endpoints mean.
//!
//! From the top: [`pipeline`] (the HTTP layer's `Service`: origin check,
//! routing, content type, dispatch, headers, logging), the handlers, one
//! file per resource ([`auth`], [`account`], [`sessions`], [`recovery`],
//! [`totp`], [`passkeys`], [`upstream`], [`forward`], [`pages`], [`health`]),
//! what the handlers share ([`common`]), and below those the pieces
//! ([`app`], [`router`], [`fields`], [`error`], [`cookies`], [`cors`],
//! [`client_ip`]).

pub mod account;
pub mod admin;
pub mod app;
pub mod auth;
pub mod client_ip;
pub mod common;
pub mod cookies;
pub mod cors;
pub mod doc;
pub mod error;
pub mod fields;
pub mod forward;
pub mod handler;
pub mod health;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod pipeline;
pub mod recovery;
pub mod router;
pub mod schema;
pub mod sessions;
pub mod totp;
pub mod upstream;
