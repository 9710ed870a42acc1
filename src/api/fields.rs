//! Reading a request body: one JSON object with the expected fields.
//!
//! Every problem is collected before answering, so a form can show all of
//! them at once. Unknown fields are refused rather than ignored: a typo such
//! as `remember_me` should not silently mean "no", and no field can be
//! smuggled into an account (mass assignment, OWASP ASVS 4.0.3 V13.2.2).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::api::error::ApiError;

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
            serde_json::from_slice(body).map_err(|error| ApiError::InvalidJson {
                line: error.line(),
                column: error.column(),
            })?;
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

    /// A field that must be present and a JSON object, as it is (a
    /// structure of someone else's format, such as a WebAuthn credential).
    pub fn required_object(&mut self, field: &str) -> Option<Value> {
        match self.values.get(field) {
            Some(value @ Value::Object(_)) => Some(value.clone()),
            Some(_) => {
                self.problem(field, "must be an object");
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

    /// Ends reading and hands back the values: any field not in `known` is
    /// a problem, all problems become one validation error, and otherwise
    /// every required value is there (each `None` was recorded as a problem
    /// when it was read), so the caller gets them unwrapped.
    ///
    /// ```
    /// use auth_server::api::fields::Fields;
    /// let mut fields = Fields::parse(br#"{"a": "x", "b": "y"}"#).unwrap();
    /// let (a, b) = (fields.required_string("a"), fields.required_string("b"));
    /// assert_eq!(fields.finish(&["a", "b"], (a, b)).unwrap(), ("x".to_string(), "y".to_string()));
    /// ```
    pub fn finish<T: AllPresent>(
        mut self,
        known: &[&str],
        values: T,
    ) -> Result<T::Values, ApiError> {
        let unknown: Vec<String> = self
            .values
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for field in unknown {
            self.problem(&field, "is not a known field");
        }
        match values.all_present() {
            Some(values) if self.problems.is_empty() => Ok(values),
            _ => Err(ApiError::Validation(self.problems)),
        }
    }
}

/// Required values as read (`Option`s), all present or not.
pub trait AllPresent {
    type Values;
    fn all_present(self) -> Option<Self::Values>;
}

/// No required values: only the check for unknown fields and problems.
impl AllPresent for () {
    type Values = ();
    fn all_present(self) -> Option<()> {
        Some(())
    }
}

impl<A> AllPresent for Option<A> {
    type Values = A;
    fn all_present(self) -> Option<A> {
        self
    }
}

impl<A, B> AllPresent for (Option<A>, Option<B>) {
    type Values = (A, B);
    fn all_present(self) -> Option<(A, B)> {
        Some((self.0?, self.1?))
    }
}

impl<A, B, C> AllPresent for (Option<A>, Option<B>, Option<C>) {
    type Values = (A, B, C);
    fn all_present(self) -> Option<(A, B, C)> {
        Some((self.0?, self.1?, self.2?))
    }
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
            fields.finish(&["username", "password", "remember"], None::<String>)
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
                matches!(Fields::parse(body), Err(ApiError::InvalidJson { .. })),
                "{body:?}"
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(matches!(
            Fields::parse(deep.as_bytes()),
            Err(ApiError::InvalidJson { .. })
        ));
    }
}
