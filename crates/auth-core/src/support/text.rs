//! Characters that must not reach a terminal, a log line or a stored email
//! address as they are: control characters, and Unicode format characters
//! (zero-width, bidirectional and other invisible marks) that make one text
//! look like another.

use std::borrow::Cow;

/// A group name (access rules, `users.groups`, `ADMIN_GROUP`): 1 to 64
/// characters of `a-z0-9_-`.
pub fn is_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Unicode format characters (general category Cf), which render as
/// nothing or reorder what follows them: `alice\u{200b}@example.com` looks
/// like `alice@example.com`, and U+202E turns the rest of a line around
/// (Unicode Technical Report #36, "Unicode Security Considerations").
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `c` may be shown as it is.
fn is_safe(c: char) -> bool {
    !c.is_control() && !is_format(c)
}

/// `text` with every control and format character written as an escape
/// (`\n`, `\t`, `\u{1b}`, `\u{200b}`), so what a client typed can be shown
/// on an operator's terminal without moving its cursor, clearing it, or
/// passing for something else. Borrowed when nothing needs escaping.
///
/// ```
/// use auth_core::support::text::printable;
/// assert_eq!(printable("alice"), "alice");
/// assert_eq!(printable("\u{1b}[2Jroot"), "\\u{1b}[2Jroot");
/// assert_eq!(printable("a\u{200b}b\n"), "a\\u{200b}b\\n");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_safe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_safe(c) => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// A host name: labels of 1–63 ASCII letters, digits and hyphens, not
/// starting or ending with a hyphen (RFC 1035 §2.3.1, RFC 1123 §2.1), at
/// most 253 characters in all. Internationalised names are written in
/// their ASCII (`xn--`) form.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Text for HTML content or a quoted attribute value (OWASP XSS
/// Prevention Cheat Sheet, rules 1 and 2): the five characters that matter
/// escaped.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// value inside a URL (a query parameter, a label).
///
/// ```
/// use auth_core::support::text::percent_encode;
/// assert_eq!(percent_encode("https://a.example/x?y=1"), "https%3A%2F%2Fa.example%2Fx%3Fy%3D1");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_leaves_no_markup() {
        assert_eq!(
            html_escape("<b>\"Tom & Jerry's\"</b>"),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn controls_and_invisible_marks_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("Zoë 🙂 <b>"), "Zoë 🙂 <b>");
        assert_eq!(printable("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(printable("\u{7f}\u{0}"), "\\u{7f}\\u{0}");
        assert!(is_format('\u{feff}'));
        assert!(!is_format('a'));
    }
}
