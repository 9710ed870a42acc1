//! One log line per request and per auth event, as text or JSON, on stderr.
//!
//! stdout carries only the `listening on` line, so a supervisor or a test can
//! read it without parsing logs. Callers pass only what may be logged: no
//! password, hash or token ever reaches this module (OWASP ASVS 4.0.3 V7.1.1).

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::support::clock::{self, Rfc3339};
use crate::support::config::LogFormat;

/// Longest value written for any one field, so a client cannot make one
/// request write a 16 KiB log line.
const MAX_FIELD_CHARS: usize = 200;

/// One field's value as a log line takes it: borrowed, so a line costs no
/// copy of what it names (one is written for every request).
pub enum Field<'a> {
    Text(&'a str),
    Integer(i128),
    Decimal(f64),
    Bool(bool),
    /// Anything else printable, such as an address.
    Shown(&'a dyn Display),
    /// Left out of the line: an absent field is absent, not `x=null`.
    Absent,
}

/// What may be logged. Implemented for text, numbers, addresses and
/// `Option`s of them; a caller passes `&value`.
pub trait LogValue {
    fn field(&self) -> Field<'_>;
}

impl LogValue for str {
    fn field(&self) -> Field<'_> {
        Field::Text(self)
    }
}

impl LogValue for String {
    fn field(&self) -> Field<'_> {
        Field::Text(self)
    }
}

impl LogValue for Cow<'_, str> {
    fn field(&self) -> Field<'_> {
        Field::Text(self)
    }
}

impl<T: LogValue + ?Sized> LogValue for &T {
    fn field(&self) -> Field<'_> {
        (**self).field()
    }
}

impl<T: LogValue> LogValue for Option<T> {
    fn field(&self) -> Field<'_> {
        self.as_ref().map_or(Field::Absent, LogValue::field)
    }
}

macro_rules! integer_log_values {
    ($($t:ty),*) => {$(
        impl LogValue for $t {
            fn field(&self) -> Field<'_> {
                Field::Integer(i128::from(*self))
            }
        }
    )*};
}
integer_log_values!(i64, u64, u32, u16);

impl LogValue for usize {
    fn field(&self) -> Field<'_> {
        // usize is at most 64 bits on every target this builds for.
        Field::Integer(i128::try_from(*self).unwrap_or(i128::MAX))
    }
}

impl LogValue for f64 {
    fn field(&self) -> Field<'_> {
        Field::Decimal(*self)
    }
}

impl LogValue for bool {
    fn field(&self) -> Field<'_> {
        Field::Bool(*self)
    }
}

impl LogValue for IpAddr {
    fn field(&self) -> Field<'_> {
        Field::Shown(self)
    }
}

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
    pub fn line(&self, kind: &str, fields: &[(&str, &dyn LogValue)]) {
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

    fn format_line(&self, now: i64, kind: &str, fields: &[(&str, &dyn LogValue)]) -> String {
        let fields = fields
            .iter()
            .map(|(name, value)| (*name, value.field()))
            .filter(|(_, field)| !matches!(field, Field::Absent));
        match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("time".into(), Value::String(clock::rfc3339(now)));
                object.insert("kind".into(), Value::String(kind.into()));
                for (name, field) in fields {
                    object.insert(name.into(), json_value(&field));
                }
                Value::Object(object).to_string()
            }
            LogFormat::Text => {
                // One buffer, no copy per field: this runs once a request.
                let mut line = String::with_capacity(192);
                let _ = write!(line, "{} {kind}", Rfc3339(now));
                for (name, field) in fields {
                    line.push(' ');
                    line.push_str(name);
                    line.push('=');
                    push_text_value(&mut line, &field);
                }
                line
            }
        }
    }
}

/// At most [`MAX_FIELD_CHARS`] characters of `text`, and whether it was
/// longer.
fn cut(text: &str) -> (&str, bool) {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

fn json_value(field: &Field) -> Value {
    let text = |text: &str| match cut(text) {
        (short, true) => Value::String(format!("{short}…")),
        (whole, false) => Value::String(whole.to_string()),
    };
    match field {
        Field::Text(value) => text(value),
        Field::Shown(value) => text(&value.to_string()),
        Field::Integer(n) => i64::try_from(*n).map_or_else(|_| text(&n.to_string()), Value::from),
        Field::Decimal(x) => Value::from(*x),
        Field::Bool(b) => Value::Bool(*b),
        Field::Absent => Value::Null,
    }
}

/// A value for a `key=value` text line, appended to `line`. Anything that
/// could break the line's shape (spaces, quotes, `=`, control characters
/// such as a newline a client put in a username to forge a second log
/// line) is written quoted and escaped; a long string is cut short.
fn push_text_value(line: &mut String, field: &Field) {
    match field {
        Field::Text(text) => push_text(line, text),
        Field::Shown(value) => {
            // Written in place; taken out and written again as text only
            // if it needs quoting or cutting.
            let start = line.len();
            let _ = write!(line, "{value}");
            if !is_bare(&line[start..]) || line.len() - start > MAX_FIELD_CHARS {
                let shown = line.split_off(start);
                push_text(line, &shown);
            }
        }
        Field::Integer(n) => {
            let _ = write!(line, "{n}");
        }
        Field::Decimal(x) => {
            let _ = write!(line, "{x}");
        }
        Field::Bool(b) => {
            let _ = write!(line, "{b}");
        }
        Field::Absent => {}
    }
}

/// Text that can stand in a `key=value` line as it is.
fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
}

fn push_text(line: &mut String, text: &str) {
    match cut(text) {
        (short, true) => {
            let _ = write!(line, "{:?}", format!("{short}…"));
        }
        (text, false) if is_bare(text) => line.push_str(text),
        (text, false) => {
            let _ = write!(line, "{text:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_cut_short_once() {
        let logger = Logger::new(LogFormat::Text);
        let long = "x".repeat(MAX_FIELD_CHARS * 3);
        let line = logger.format_line(0, "refused", &[("origin", &long)]);
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
                ("identifier", &"bob\nadmin login_ok"),
                ("n", &3_u64),
                ("absent", &None::<String>),
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
            &[("status", &200_u16), ("path", &"/api/user")],
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["kind"], "request");
        assert_eq!(parsed["status"], 200);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn long_values_are_cut() {
        let logger = Logger::new(LogFormat::Json);
        let line = logger.format_line(0, "x", &[("identifier", &"a".repeat(5000))]);
        assert!(line.len() < 400);
    }
}
