//! JSON Schema (as OpenAPI 3.1 writes it) built from the API's own types,
//! so openapi.json is made from the code rather than kept beside it. The
//! request types are described by `fields::request_body!`, which calls the
//! helpers here.

use serde_json::{Map, Value, json};

use auth_core::support::clock::Rfc3339;

/// A doc comment's lines as one description: lines joined with a space, an
/// empty line kept as a paragraph break.
pub fn description(lines: &[&str]) -> Option<String> {
    let mut text = String::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            text.push_str("\n\n");
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(line);
        }
    }
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// An object that takes no field but those it names (mass assignment,
/// OWASP ASVS 4.0.3 V13.2.2), described by `doc`.
pub fn object(doc: &[&str]) -> Value {
    let mut object = json!({ "type": "object", "additionalProperties": false });
    if let Some(text) = description(doc) {
        object["description"] = json!(text);
    }
    object
}

/// Adds a property to an object schema.
pub fn property(object: &mut Value, name: &str, mut schema: Value, required: bool, doc: &[&str]) {
    if let Some(text) = description(doc) {
        schema["description"] = json!(text);
    }
    if required {
        match object.get_mut("required").and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(name)),
            None => object["required"] = json!([name]),
        }
    }
    if object.get("properties").is_none() {
        object["properties"] = Value::Object(Map::new());
    }
    object["properties"][name] = schema;
}

/// `extra`'s keys over `schema`'s; a key set to `null` is taken away (a
/// `const` needs no `type`).
pub fn merge(schema: &mut Value, extra: Value) {
    if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
        for (key, value) in extra {
            if value.is_null() {
                schema.remove(&key);
            } else {
                schema.insert(key, value);
            }
        }
    }
}

/// A type the API answers with, described as JSON Schema. A type with a
/// name under `components/schemas` describes itself as a `$ref` there, and
/// gives its whole schema from [`Describe::component`].
pub trait Describe {
    fn describe() -> Value;
    /// Its name and schema, for a type named under `components/schemas`.
    fn component() -> Option<(&'static str, Value)> {
        None
    }
}

impl Describe for String {
    fn describe() -> Value {
        json!({ "type": "string" })
    }
}

impl Describe for &str {
    fn describe() -> Value {
        json!({ "type": "string" })
    }
}

impl Describe for bool {
    fn describe() -> Value {
        json!({ "type": "boolean" })
    }
}

macro_rules! integers {
    ($($type:ty),*) => {$(
        impl Describe for $type {
            fn describe() -> Value {
                json!({ "type": "integer" })
            }
        }
    )*};
}
integers!(i64, u32, u64, usize);

impl Describe for Rfc3339 {
    fn describe() -> Value {
        json!({ "type": "string", "format": "date-time" })
    }
}

/// Any JSON: a structure of another standard's format, described in words.
impl Describe for Value {
    fn describe() -> Value {
        json!({})
    }
}

/// `null` when absent (the field is always there).
impl<T: Describe> Describe for Option<T> {
    fn describe() -> Value {
        nullable(T::describe())
    }
}

impl<T: Describe> Describe for Vec<T> {
    fn describe() -> Value {
        json!({ "type": "array", "items": T::describe() })
    }
}

impl<T: Describe> Describe for &[T] {
    fn describe() -> Value {
        json!({ "type": "array", "items": T::describe() })
    }
}

/// `schema` that may also be `null`.
pub fn nullable(mut schema: Value) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(kind)) => schema["type"] = json!([kind, "null"]),
        _ => schema = json!({ "anyOf": [schema, { "type": "null" }] }),
    }
    schema
}

/// A `$ref` to a schema under `components/schemas`.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Declares an answer's `data` (or a part of it): a struct that serializes
/// with every field present (an `Option` as `null`), described in
/// openapi.json by its fields' types, the JSON after `=` and the fields'
/// doc comments (the struct's own is for the reader of the code). `as "Name"` names it under `components/schemas`; `#[schema
/// {…}]` adds to the object's schema.
macro_rules! reply_body {
    (
        $(#[doc = $doc:literal])*
        $(#[schema $object_rules:tt])?
        pub struct $name:ident $(<$lifetime:lifetime>)? $(as $component:literal)? {
            $(
                $(#[doc = $field_doc:literal])*
                pub $field:ident: $type:ty $(= $rules:tt)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(serde::Serialize)]
        pub struct $name $(<$lifetime>)? {
            $(
                $(#[doc = $field_doc])*
                pub $field: $type,
            )*
        }

        impl $(<$lifetime>)? $name $(<$lifetime>)? {
            /// The whole schema of this type.
            pub fn schema() -> serde_json::Value {
                let mut object = serde_json::json!({ "type": "object" });
                $(
                    #[allow(unused_mut)]
                    let mut property = <$type as $crate::api::schema::Describe>::describe();
                    $($crate::api::schema::merge(&mut property, serde_json::json!($rules));)?
                    $crate::api::schema::property(
                        &mut object,
                        stringify!($field),
                        property,
                        true,
                        &[$($field_doc),*],
                    );
                )*
                $($crate::api::schema::merge(&mut object, serde_json::json!($object_rules));)?
                object
            }
        }

        impl $(<$lifetime>)? $crate::api::schema::Describe for $name $(<$lifetime>)? {
            fn describe() -> serde_json::Value {
                $(return $crate::api::schema::reference($component);)?
                #[allow(unreachable_code)]
                Self::schema()
            }

            fn component() -> Option<(&'static str, serde_json::Value)> {
                $(return Some(($component, Self::schema()));)?
                #[allow(unreachable_code)]
                None
            }
        }
    };
}
pub(crate) use reply_body;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_lines_become_one_description() {
        assert_eq!(
            description(&[" Unique", " ignoring case.", "", " Stored lower-case."]).as_deref(),
            Some("Unique ignoring case.\n\nStored lower-case.")
        );
        assert_eq!(description(&[]), None);
    }

    #[test]
    fn properties_are_listed_and_required_ones_named() {
        let mut object = object(&[" A form."]);
        property(&mut object, "a", json!({"type": "string"}), true, &[]);
        property(
            &mut object,
            "b",
            json!({"type": "boolean"}),
            false,
            &[" B."],
        );
        merge(&mut object, json!({"minProperties": 1}));
        assert_eq!(
            object,
            json!({
                "type": "object",
                "additionalProperties": false,
                "description": "A form.",
                "required": ["a"],
                "properties": {
                    "a": {"type": "string"},
                    "b": {"type": "boolean", "description": "B."}
                },
                "minProperties": 1
            })
        );
    }
}
