//! The black-box suite: one test crate (one binary to link, as
//! rust-analyzer's and matklad's "Delete Cargo Integration Tests" advise),
//! a module per area. Nearly every test starts the real `auth-server` on
//! `PORT=0` with a temporary database and `BCRYPT_COST=4`, reads its
//! `listening on` line and speaks HTTP to it (`common`); none asserts how
//! long anything took (timing claims live in `benches/` and BENCHMARKS.md).
//!
//!   cargo test                       # everything
//!   cargo test --test it passkeys    # one area
//!   cargo test --test it -- --ignored storage_failure   # root only (CI)

mod authenticator;
mod common;

mod access;
mod accounts;
mod admin_page;
mod admission;
mod api;
mod concurrency;
mod docs;
mod forward;
mod hostile;
mod http_layer;
mod integrity;
mod mail;
mod oidc;
mod operations;
mod passkeys;
mod persistence;
mod properties;
mod settings_doc;
mod site;
mod startup;
mod storage_failure;
mod throttle;
mod totp;
mod upstream;
