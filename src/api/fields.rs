//! Reading a request body: one JSON object with the expected fields.
//!
//! Every problem is collected before answering, so a form can show all of
//! them at once. Unknown fields are refused rather than ignored: a typo such
//! as `remember_me` should not silently mean "no", and no field can be
//! smuggled into an account (mass assignment, OWASP ASVS 4.0.3 V13.2.2).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

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

    /// What was sent as a string under `field`, read or not: what the
    /// rules across fields look at (a problem of its type is recorded when
    /// it is read).
    pub fn given_string(&self, field: &str) -> Option<&str> {
        match self.values.get(field) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether the body has `field` at all.
    pub fn has(&self, field: &str) -> bool {
        self.values.contains_key(field)
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

/// How a field of a request type is read and described: a `String` is
/// required, an `Option<String>` may be absent, a `bool` is false when
/// absent, an [`Object`] is a required JSON object taken as it is.
pub trait Field: Sized {
    /// Whether a body without it is a problem ("is required").
    const REQUIRED: bool;
    /// The value, or `None` when it had a problem (recorded in `fields`).
    fn read(fields: &mut Fields, name: &str) -> Option<Self>;
    /// Its JSON Schema, before the field's own rules are added.
    fn schema() -> Value;
}

impl Field for String {
    const REQUIRED: bool = true;
    fn read(fields: &mut Fields, name: &str) -> Option<String> {
        fields.required_string(name)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string" })
    }
}

impl Field for Option<String> {
    const REQUIRED: bool = false;
    fn read(fields: &mut Fields, name: &str) -> Option<Option<String>> {
        Some(fields.optional_string(name))
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string" })
    }
}

impl Field for bool {
    const REQUIRED: bool = false;
    fn read(fields: &mut Fields, name: &str) -> Option<bool> {
        Some(fields.optional_bool(name))
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "boolean" })
    }
}

/// A boolean that may be absent: a change asked for or not.
impl Field for Option<bool> {
    const REQUIRED: bool = false;
    fn read(fields: &mut Fields, name: &str) -> Option<Option<bool>> {
        match fields.values.get(name) {
            None => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => {
                fields.problem(name, "must be true or false");
                None
            }
        }
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "boolean" })
    }
}

/// A whole number from 0 that may be absent.
impl Field for Option<u32> {
    const REQUIRED: bool = false;
    fn read(fields: &mut Fields, name: &str) -> Option<Option<u32>> {
        match fields.values.get(name) {
            None => Some(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {
                Some(n.as_u64().map(|n| n as u32))
            }
            Some(_) => {
                fields.problem(name, "must be a whole number");
                None
            }
        }
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "integer", "minimum": 0 })
    }
}

/// A list of strings that must be present.
impl Field for Vec<String> {
    const REQUIRED: bool = true;
    fn read(fields: &mut Fields, name: &str) -> Option<Vec<String>> {
        if !fields.has(name) {
            fields.problem(name, "is required");
            return None;
        }
        <Option<Vec<String>> as Field>::read(fields, name).flatten()
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "array", "items": { "type": "string" } })
    }
}

/// A list of strings that may be absent.
impl Field for Option<Vec<String>> {
    const REQUIRED: bool = false;
    fn read(fields: &mut Fields, name: &str) -> Option<Option<Vec<String>>> {
        let list = match fields.values.get(name) {
            None => return Some(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>(),
            Some(_) => None,
        };
        if list.is_none() {
            fields.problem(name, "must be a list of strings");
        }
        list.map(Some)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "array", "items": { "type": "string" } })
    }
}

/// A JSON object of someone else's format, kept as it is (a WebAuthn
/// credential).
#[derive(Debug)]
pub struct Object(pub Value);

impl Field for Object {
    const REQUIRED: bool = true;
    fn read(fields: &mut Fields, name: &str) -> Option<Object> {
        fields.required_object(name).map(Object)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "object" })
    }
}

/// A request body's type: its fields, how they are read, and its JSON
/// Schema for openapi.json. Written with [`request_body!`], never by hand.
pub trait RequestBody: Sized {
    /// Its name under `components/schemas`.
    const NAME: &'static str;
    /// Every field it knows; any other is "is not a known field".
    const FIELDS: &'static [&'static str];
    /// Reads every field, recording each one's problem; `None` if any had
    /// one.
    fn read(fields: &mut Fields) -> Option<Self>;
    fn schema() -> Value;
}

/// Declares a request body: a struct whose fields are read by their type
/// ([`Field`]) with today's wording for each problem, and described in
/// openapi.json by their type, the JSON after `=` (the rules a client can
/// check before sending) and their doc comments. The struct's own doc
/// comment is the schema's description; `#[schema {…}]` adds to the
/// object's schema (a `oneOf`, say).
macro_rules! request_body {
    (
        $(#[doc = $doc:literal])*
        $(#[schema $object_rules:tt])?
        pub struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])*
                pub $field:ident: $type:ty $(= $rules:tt)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        pub struct $name {
            $(
                $(#[doc = $field_doc])*
                pub $field: $type,
            )*
        }

        impl $crate::api::fields::RequestBody for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            #[allow(unused_variables)]
            fn read(fields: &mut $crate::api::fields::Fields) -> Option<$name> {
                $(let $field = <$type as $crate::api::fields::Field>::read(fields, stringify!($field));)*
                Some($name { $($field: $field?,)* })
            }

            fn schema() -> serde_json::Value {
                #[allow(unused_mut)]
                let mut object = $crate::api::schema::object(&[$($doc),*]);
                $(
                    #[allow(unused_mut)]
                    let mut property = <$type as $crate::api::fields::Field>::schema();
                    $($crate::api::schema::merge(&mut property, serde_json::json!($rules));)?
                    $crate::api::schema::property(
                        &mut object,
                        stringify!($field),
                        property,
                        <$type as $crate::api::fields::Field>::REQUIRED,
                        &[$($field_doc),*],
                    );
                )*
                $($crate::api::schema::merge(&mut object, serde_json::json!($object_rules));)?
                object
            }
        }
    };
}
pub(crate) use request_body;

/// A request's body, typed but not yet read: the handler reads it when its
/// story says so (a closed registration answers before any body is read).
pub struct Body<'r, B> {
    bytes: &'r [u8],
    of: PhantomData<B>,
}

impl<'r, B: RequestBody> Body<'r, B> {
    pub fn new(bytes: &'r [u8]) -> Body<'r, B> {
        Body {
            bytes,
            of: PhantomData,
        }
    }

    /// The body as `B`, or every problem at once.
    pub fn read(self) -> Result<B, ApiError> {
        self.read_checked(|_| Vec::new())
    }

    /// The body as `B`, with the problems of rules across fields (or with
    /// a setting) reported beside those of the fields' types: `rules` sees
    /// what was sent, whether or not it was well-typed.
    pub fn read_checked(
        self,
        rules: impl FnOnce(&Fields) -> Vec<(&'static str, String)>,
    ) -> Result<B, ApiError> {
        let mut fields = Fields::parse(self.bytes)?;
        let value = B::read(&mut fields);
        for (field, problem) in rules(&fields) {
            fields.reject(field, &problem);
        }
        fields.finish(B::FIELDS, value)
    }

    /// As [`read`](Self::read), for a body that may be left out (no bytes
    /// at all).
    pub fn read_if_sent(self) -> Result<Option<B>, ApiError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        self.read().map(Some)
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
