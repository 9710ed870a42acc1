//! auth-server: a small, synchronous authentication backend for browser
//! front ends. ARCHITECTURE.md maps these modules and the path of a request.

pub mod admin;
pub mod app;
pub mod audit;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod cors;
pub mod error;
pub mod handlers;
pub mod http;
pub mod log;
pub mod passwords;
pub mod router;
pub mod sessions;
pub mod storage;
pub mod throttle;
pub mod validation;
