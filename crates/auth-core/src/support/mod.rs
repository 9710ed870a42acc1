//! The bottom layer: settings, the log, the clock, and locking. Everything
//! above may use these; they use nothing of the server's own.

pub mod base64;
pub mod clock;
pub mod config;
pub mod env_file;
pub mod form;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod settings_table;
pub mod text;
pub mod url;
