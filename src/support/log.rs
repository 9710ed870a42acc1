//! One log line per request and per auth event, as text or JSON, on stderr.
//!
//! stdout carries only the `listening on` line, so a supervisor or a test can
//! read it without parsing logs. Callers pass only what may be logged: no
//! password, hash or token ever reaches this module (OWASP ASVS 4.0.3 V7.1.1).

use std::io::Write;

use serde_json::{Map, Value};

use crate::support::clock;
use crate::support::config::LogFormat;

/// Longest value written for any one field, so a client cannot make one
/// request write a 16 KiB log line.
const MAX_FIELD_CHARS: usize = 200;

#[derive(Clone, Copy, Debug)]
pub struct Logger {
    format: LogFormat,
    /// Off only in unit tests, which must print nothing unless they fail.
    enabled: bool,
}

impl Logger {
    pub fn new(format: LogFormat) -> Logger {
        Logger {
            format,
            enabled: true,
        }
    }

    /// A logger that formats nothing and writes nothing, for unit tests of
    /// the modules that log.
    #[cfg(test)]
    pub fn silent() -> Logger {
        Logger {
            format: LogFormat::Text,
            enabled: false,
        }
    }

    /// `kind` says what the line is about ("request", "registered",
    /// "login_failed", "warning", ...); `fields` are its details in order.
    pub fn line(&self, kind: &str, fields: &[(&str, Value)]) {
        if !self.enabled {
            return;
        }
        let mut line = self.format_line(clock::now(), kind, fields);
        line.push('\n');
        // One write(2) a line (stderr is unbuffered: formatting into it
        // writes each piece apart). A log that cannot be written must not
        // take a request down with it.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    /// Fields whose value is `null` are left out: an absent field is
    /// absent, not `identifier=null`.
    fn format_line(&self, now: i64, kind: &str, fields: &[(&str, Value)]) -> String {
        let fields: Vec<&(&str, Value)> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
        match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("time".into(), Value::String(clock::rfc3339(now)));
                object.insert("kind".into(), Value::String(kind.into()));
                for (name, value) in &fields {
                    object.insert((*name).into(), shorten(value));
                }
                Value::Object(object).to_string()
            }
            LogFormat::Text => {
                // One buffer, no copy per field: this runs once a request.
                let mut line = String::with_capacity(192);
                line.push_str(&clock::rfc3339(now));
                line.push(' ');
                line.push_str(kind);
                for (name, value) in &fields {
                    line.push(' ');
                    line.push_str(name);
                    line.push('=');
                    push_text_value(&mut line, value);
                }
                line
            }
        }
    }
}

fn shorten(value: &Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_FIELD_CHARS => {
            Value::String(s.chars().take(MAX_FIELD_CHARS).collect::<String>() + "…")
        }
        other => other.clone(),
    }
}

/// A value for a `key=value` text line, appended to `line`. Anything that
/// could break the line's shape (spaces, quotes, `=`, control characters
/// such as a newline a client put in a username to forge a second log
/// line) is written quoted and escaped; a long string is cut short.
fn push_text_value(line: &mut String, value: &Value) {
    use std::fmt::Write;
    let shortened;
    let value = match value {
        Value::String(s) if s.chars().count() > MAX_FIELD_CHARS => {
            shortened = shorten(value);
            &shortened
        }
        _ => value,
    };
    match value {
        Value::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '=') =>
        {
            line.push_str(s);
        }
        Value::String(s) => {
            let _ = write!(line, "{s:?}");
        }
        other => {
            let _ = write!(line, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_value_is_cut_short_once() {
        let logger = Logger::new(LogFormat::Text);
        let long = "x".repeat(MAX_FIELD_CHARS * 3);
        let line = logger.format_line(0, "refused", &[("origin", json!(long))]);
        assert!(
            line.ends_with(&format!("origin=\"{}…\"", "x".repeat(MAX_FIELD_CHARS))),
            "{line}"
        );
    }

    #[test]
    fn text_lines_escape_what_could_forge_a_line() {
        let logger = Logger::new(LogFormat::Text);
        let line = logger.format_line(
            0,
            "login_failed",
            &[
                ("identifier", json!("bob\nadmin login_ok")),
                ("n", json!(3)),
            ],
        );
        assert_eq!(
            line,
            r#"1970-01-01T00:00:00Z login_failed identifier="bob\nadmin login_ok" n=3"#
        );
    }

    #[test]
    fn json_lines_are_one_object() {
        let logger = Logger::new(LogFormat::Json);
        let line = logger.format_line(
            0,
            "request",
            &[("status", json!(200)), ("path", json!("/api/user"))],
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["kind"], "request");
        assert_eq!(parsed["status"], 200);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn long_values_are_cut() {
        let logger = Logger::new(LogFormat::Json);
        let line = logger.format_line(0, "x", &[("identifier", json!("a".repeat(5000)))]);
        assert!(line.len() < 400);
    }
}
