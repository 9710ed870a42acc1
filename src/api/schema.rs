//! JSON Schema (as OpenAPI 3.1 writes it) built from the API's own types,
//! so openapi.json is made from the code rather than kept beside it. The
//! request types are described by `fields::request_body!`, which calls the
//! helpers here.

use serde_json::{Map, Value, json};

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

/// `extra`'s keys over `schema`'s.
pub fn merge(schema: &mut Value, extra: Value) {
    if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
        schema.extend(extra);
    }
}

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
