//! `--env-file FILE`: settings as `KEY=VALUE` lines, the way systemd's
//! `EnvironmentFile=` writes them, so the admin command reads the same
//! settings (above all `DATABASE_PATH`) as the service. The process
//! environment wins over the file.

use std::collections::HashMap;

/// Why a file could not be used: the line number and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct EnvFileError {
    pub line: usize,
    pub problem: String,
}

/// Parses `KEY=VALUE` lines. Blank lines and lines starting with `#` are
/// skipped; `export ` before a key is allowed; a value may be quoted with
/// `"…"` or `'…'` (the quotes are removed, nothing inside is expanded).
/// Anything else stops with the line it is on.
///
/// ```
/// use auth_core::support::env_file::parse;
/// let vars = parse("# comment\nPORT=9000\nMAIL_FROM=\"a b@example.com\"\n").unwrap();
/// assert_eq!(vars["PORT"], "9000");
/// assert_eq!(vars["MAIL_FROM"], "a b@example.com");
/// assert_eq!(parse("PORT 9000").unwrap_err().line, 1);
/// ```
pub fn parse(text: &str) -> Result<HashMap<String, String>, EnvFileError> {
    let mut vars = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let failure = |problem: &str| EnvFileError {
            line: index + 1,
            problem: problem.to_string(),
        };
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(failure("expected KEY=VALUE"));
        };
        let key = key.trim();
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !key.as_bytes()[0].is_ascii_digit();
        if !key_ok {
            return Err(failure("the name must be upper-case letters, digits and _"));
        }
        let value = value.trim();
        let value = match value.as_bytes().first() {
            Some(&quote @ (b'"' | b'\'')) => {
                let inner = &value[1..];
                match inner.strip_suffix(quote as char) {
                    Some(inner) if !inner.contains(quote as char) => inner,
                    _ => return Err(failure("an unterminated or doubled quote")),
                }
            }
            _ => value,
        };
        vars.insert(key.to_string(), value.to_string());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_quotes_and_mistakes() {
        let vars = parse(
            "\n# a comment\n  PORT = 8081\nexport HOST=127.0.0.1\nMAIL_COMMAND='sendmail -t -i'\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(vars["PORT"], "8081");
        assert_eq!(vars["HOST"], "127.0.0.1");
        assert_eq!(vars["MAIL_COMMAND"], "sendmail -t -i");
        assert_eq!(vars["EMPTY"], "");
        for (text, line) in [
            ("PORT=1\nnonsense\n", 2),
            ("lower=1", 1),
            ("A=\"unterminated", 1),
            ("\n\n=value", 3),
        ] {
            assert_eq!(parse(text).unwrap_err().line, line, "{text:?}");
        }
    }
}
