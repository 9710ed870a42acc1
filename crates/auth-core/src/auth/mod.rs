//! The auth core: sessions, password hashing, throttling and the rules for
//! what a username, email or password may be. Knows nothing of HTTP or JSON;
//! the API layer above turns its answers into responses.

pub mod access;
pub mod challenges;
pub mod hash_queue;
pub mod jose;
pub mod passwords;
pub mod redirect;
pub mod sessions;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod upstream;
pub mod validation;
pub mod webauthn;
