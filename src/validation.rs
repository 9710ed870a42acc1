//! What a request body must look like: one JSON object with the expected
//! fields, and the rules for usernames, emails and passwords.
//!
//! Every problem is collected before answering, so a form can show all of
//! them at once. Unknown fields are refused rather than ignored: a typo such
//! as `remember_me` should not silently mean "no", and no field can be
//! smuggled into an account (mass assignment, OWASP ASVS 4.0.3 V13.2.2).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::ApiError;
use crate::passwords::MAX_PASSWORD_BYTES;

/// A request body's top-level fields. Built only from a JSON object whose
/// keys are all different: with `{"password": "a", "password": "b"}` two
/// parsers in a chain could each see a different password.
pub struct Fields {
    values: BTreeMap<String, Value>,
    problems: BTreeMap<String, String>,
}

struct UniqueKeyObject(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeyObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeyObject, A::Error> {
                let mut values = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if values.contains_key(&key) {
                        return Err(de::Error::custom("duplicate key"));
                    }
                    values.insert(key, map.next_value()?);
                }
                Ok(UniqueKeyObject(values))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl Fields {
    /// Parses a body that must be one JSON object in UTF-8. serde_json
    /// refuses invalid UTF-8, lone surrogates and nesting over 128 levels.
    pub fn parse(body: &[u8]) -> Result<Fields, ApiError> {
        let UniqueKeyObject(values) =
            serde_json::from_slice(body).map_err(|_| ApiError::InvalidJson)?;
        Ok(Fields {
            values,
            problems: BTreeMap::new(),
        })
    }

    fn problem(&mut self, field: &str, text: &str) {
        self.problems
            .entry(field.to_string())
            .or_insert_with(|| text.to_string());
    }

    /// Records a problem found by a rule after reading.
    pub fn reject(&mut self, field: &str, text: &str) {
        self.problem(field, text);
    }

    /// A field that must be present and a string.
    pub fn required_string(&mut self, field: &str) -> Option<String> {
        match self.values.get(field) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(field, "must be a string");
                None
            }
            None => {
                self.problem(field, "is required");
                None
            }
        }
    }

    /// A string field that may be absent.
    pub fn optional_string(&mut self, field: &str) -> Option<String> {
        if self.values.contains_key(field) {
            self.required_string(field)
        } else {
            None
        }
    }

    /// A boolean that defaults to false when absent.
    pub fn optional_bool(&mut self, field: &str) -> bool {
        match self.values.get(field) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problem(field, "must be true or false");
                false
            }
        }
    }

    /// Ends reading: any field not in `known` is a problem, and all problems
    /// become one validation error.
    pub fn finish(mut self, known: &[&str]) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .values
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for field in unknown {
            self.problem(&field, "is not a known field");
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.problems))
        }
    }
}

/// 3–32 ASCII letters, digits, `_`, `.`, `-`, starting with a letter or
/// digit: an allowlist, so no look-alike Unicode or markup gets in
/// (OWASP Input Validation Cheat Sheet; ASVS 4.0.3 V5.1.3).
///
/// ```
/// use auth_server::validation::check_username;
/// assert!(check_username("alice_1").is_ok());
/// assert!(check_username("<script>").is_err());
/// ```
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if !(3..=32).contains(&username.len()) {
        return Err("must be 3 to 32 characters");
    }
    if !username.bytes().all(allowed) {
        return Err("may contain only letters, digits, '_', '.' and '-'");
    }
    if !username.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit");
    }
    Ok(())
}

/// The email as stored (trimmed, lower-case), after light syntactic checks
/// only: whether the address exists is for a verification email to find out
/// (OWASP Input Validation Cheat Sheet, "Email Address Validation").
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    let email = email.trim();
    if email.is_empty() {
        return Err("is required");
    }
    if email.chars().count() > 254 {
        return Err("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must contain one '@'");
    };
    if domain.contains('@') {
        return Err("must contain one '@'");
    }
    if local.is_empty() || local.chars().count() > 64 {
        return Err("must have 1 to 64 characters before the '@'");
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err("must have a domain such as example.com after the '@'");
    }
    Ok(email.to_lowercase())
}

/// The registration rules for a new password, after NIST SP 800-63B
/// §5.1.1.2: a minimum length in code points, no composition rules, a check
/// against common passwords and the account's own names, never truncated.
pub fn check_new_password(
    password: &str,
    min_chars: usize,
    username: &str,
    email: &str,
) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(format!("must be at least {min_chars} characters"));
    }
    // bcrypt reads only 72 bytes; a longer password would be cut without
    // anyone knowing, so it is refused instead (ASVS 4.0.3 V2.1.3).
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "must be at most 72 bytes in UTF-8 (this one is {} bytes; letters outside ASCII take 2 to 4 bytes each)",
            password.len()
        ));
    }
    if password.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let folded = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or("");
    if [username, email, local_part]
        .iter()
        .any(|name| !name.is_empty() && folded == name.to_lowercase())
    {
        return Err("must not be your username or email".into());
    }
    if is_common(&folded) {
        return Err("is too common; choose a less guessable password".into());
    }
    Ok(())
}

/// Django's list of 20,000 common passwords (BSD licence; see
/// data/LICENSE-django-common-passwords.txt), lower-case, one a line.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether a lower-cased password is on the common list, compared the way
/// Django compares it (lower-cased, surrounding spaces ignored).
fn is_common(lowercase_password: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
    .contains(lowercase_password.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_typed_and_reported_together() {
        let mut fields =
            Fields::parse(br#"{"username": 5, "remember": "yes", "extra": 1}"#).unwrap();
        assert_eq!(fields.required_string("username"), None);
        assert_eq!(fields.required_string("password"), None);
        assert!(!fields.optional_bool("remember"));
        let Err(ApiError::Validation(problems)) =
            fields.finish(&["username", "password", "remember"])
        else {
            panic!("expected a validation error");
        };
        assert_eq!(problems["username"], "must be a string");
        assert_eq!(problems["password"], "is required");
        assert_eq!(problems["remember"], "must be true or false");
        assert_eq!(problems["extra"], "is not a known field");
    }

    #[test]
    fn bodies_that_are_not_one_clean_object_are_invalid_json() {
        for body in [
            &b""[..],
            b"[]",
            b"\"x\"",
            b"{",
            b"{\"a\":1,\"a\":2}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\xff\"}",
            b"{} {}",
        ] {
            assert!(
                matches!(Fields::parse(body), Err(ApiError::InvalidJson)),
                "{body:?}"
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(matches!(
            Fields::parse(deep.as_bytes()),
            Err(ApiError::InvalidJson)
        ));
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_1", "a.b-c", "0day", &"a".repeat(32)] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(33),
            "_abc",
            ".abc",
            "bob\0",
            "bob\n",
            "<script>",
            "x' OR '1'='1",
            "émile",
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a\u{0}@b.com",
            &long_local,
            &too_long,
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_nist() {
        let check = |p: &str| check_new_password(p, 12, "alicewonderland1", "alice@example.com");
        assert!(
            check("correct horse battery staple").is_ok(),
            "no composition rules"
        );
        assert!(check("pässwörd 🙂 horse battery").is_ok());
        assert!(check(&"é".repeat(12)).is_ok(), "code points, not bytes");
        assert!(check(&"é".repeat(11)).is_err());
        assert!(check(&"a b".repeat(24)).is_ok(), "72 bytes");
        assert!(check(&"a".repeat(73)).unwrap_err().contains("72 bytes"));
        assert!(check("alicewonderland1").is_err());
        assert!(check("ALICE@EXAMPLE.COM").is_err());
        assert!(check("tab\tinside it ok").is_err());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let common = COMMON_PASSWORDS
            .lines()
            .find(|l| l.chars().count() >= 12)
            .unwrap();
        assert!(COMMON_PASSWORDS.lines().count() >= 10_000);
        let check = |p: &str| check_new_password(p, 12, "someone", "someone@example.com");
        assert!(check(common).unwrap_err().contains("too common"));
        assert!(
            check(&common.to_uppercase())
                .unwrap_err()
                .contains("too common")
        );
    }
}
