//! auth-server: a small, synchronous authentication backend for browser
//! front ends. See ARCHITECTURE.md for the map of these modules.

pub mod http;
