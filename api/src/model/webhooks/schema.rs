//! The part of JSON Schema a webhook's `validation_rules.json_schema` may use: `type`,
//! `properties`, `required`, `additionalProperties` (true or false), `items`, `enum`, `const`,
//! `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, and the annotations
//! `$schema`, `title`, `description`. Any other keyword is refused when the trigger is written:
//! a keyword silently skipped would let through what the schema's author meant to refuse.

use serde_json::Value;

const KEYWORDS: [&str; 16] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "$schema",
    "title",
    "description",
];

/// Refuses a schema using keywords this does not check, naming the keyword's place (`at`).
pub fn check_schema(schema: &Value, at: &str) -> Result<(), String> {
    let map = schema
        .as_object()
        .ok_or_else(|| format!("{at}: must be an object"))?;
    for (key, value) in map {
        if !KEYWORDS.contains(&key.as_str()) {
            return Err(format!(
                "{at}.{key}: not checked (supported: {})",
                KEYWORDS.join(", ")
            ));
        }
        match key.as_str() {
            "properties" => {
                let properties = value
                    .as_object()
                    .ok_or_else(|| format!("{at}.properties: must be an object"))?;
                for (name, schema) in properties {
                    check_schema(schema, &format!("{at}.properties.{name}"))?;
                }
            }
            "items" => check_schema(value, &format!("{at}.items"))?,
            "additionalProperties" if !value.is_boolean() => {
                return Err(format!("{at}.additionalProperties: only true or false"));
            }
            "required"
                if !value
                    .as_array()
                    .is_some_and(|r| r.iter().all(Value::is_string)) =>
            {
                return Err(format!("{at}.required: must be a list of names"));
            }
            "enum" if !value.is_array() => return Err(format!("{at}.enum: must be a list")),
            "type" if !type_names(value).is_some_and(|t| t.iter().all(|n| known_type(n))) => {
                return Err(format!("{at}.type: not a JSON Schema type"));
            }
            "minimum" | "maximum" if !value.is_number() => {
                return Err(format!("{at}.{key}: must be a number"));
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" if !value.is_u64() => {
                return Err(format!("{at}.{key}: must be a whole number"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn type_names(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(name) => Some(vec![name]),
        Value::Array(names) => names.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn known_type(name: &str) -> bool {
    [
        "object", "array", "string", "number", "integer", "boolean", "null",
    ]
    .contains(&name)
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        _ => value.is_null(),
    }
}

/// Validates `value` (at path `at`) against a checked schema; the error names the first place
/// that breaks it.
pub fn validate(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(names) = schema.get("type").and_then(type_names)
        && !names.iter().any(|n| is_type(value, n))
    {
        return Err(format!(
            "{at}: {value} is not of type {}",
            names.join(" or ")
        ));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!(
            "{at}: {value} is not one of {}",
            Value::from(allowed.clone())
        ));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{at}: {value} is not {constant}"));
    }
    bounds(schema, value, at)?;
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: {name} is required"));
            }
        }
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(schema) => validate(schema, item, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}.{name}: not an allowed property"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(schema, item, &format!("{at}.{i}"))?;
        }
    }
    Ok(())
}

fn bounds(schema: &serde_json::Map<String, Value>, value: &Value, at: &str) -> Result<(), String> {
    let limit = |key: &str| schema.get(key).and_then(Value::as_f64);
    if let Some(n) = value.as_f64() {
        if let Some(min) = limit("minimum").filter(|min| n < *min) {
            return Err(format!("{at}: {value} is below the minimum {min}"));
        }
        if let Some(max) = limit("maximum").filter(|max| n > *max) {
            return Err(format!("{at}: {value} is above the maximum {max}"));
        }
    }
    let size = match value {
        Value::String(s) => Some((s.chars().count(), "minLength", "maxLength", "characters")),
        Value::Array(items) => Some((items.len(), "minItems", "maxItems", "items")),
        _ => None,
    };
    if let Some((len, min_key, max_key, unit)) = size {
        let len = len as f64;
        if let Some(min) = limit(min_key).filter(|min| len < *min) {
            return Err(format!("{at}: fewer than {min} {unit}"));
        }
        if let Some(max) = limit(max_key).filter(|max| len > *max) {
            return Err(format!("{at}: more than {max} {unit}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_keyword_accepts_and_refuses() {
        #[rustfmt::skip]
        let cases = [
            (json!({"type": "object"}), json!({}), None),
            (json!({"type": "object"}), json!([]), Some("p: [] is not of type object")),
            (json!({"type": ["string", "null"]}), json!(null), None),
            (json!({"type": "integer"}), json!(2.5), Some("p: 2.5 is not of type integer")),
            (json!({"enum": ["a", "b"]}), json!("c"), Some(r#"p: "c" is not one of ["a","b"]"#)),
            (json!({"const": 1}), json!(1), None),
            (json!({"const": 1}), json!(2), Some("p: 2 is not 1")),
            (json!({"minimum": 2}), json!(1), Some("p: 1 is below the minimum 2")),
            (json!({"maximum": 2}), json!(2), None),
            (json!({"minLength": 2}), json!("a"), Some("p: fewer than 2 characters")),
            (json!({"maxLength": 1}), json!("ab"), Some("p: more than 1 characters")),
            (json!({"minItems": 1}), json!([]), Some("p: fewer than 1 items")),
            (json!({"maxItems": 1}), json!([1, 2]), Some("p: more than 1 items")),
            (json!({"required": ["a"]}), json!({"b": 1}), Some("p: a is required")),
            (json!({"properties": {"a": {"type": "string"}}}), json!({"a": 1}), Some("p.a: 1 is not of type string")),
            (json!({"additionalProperties": false, "properties": {"a": {}}}), json!({"a": 1, "b": 2}), Some("p.b: not an allowed property")),
            (json!({"items": {"type": "number"}}), json!([1, "x"]), Some(r#"p.1: "x" is not of type number"#)),
            (json!({"title": "t", "description": "d"}), json!(1), None),
        ];
        for (schema, value, want) in cases {
            check_schema(&schema, "s").unwrap();
            let got = validate(&schema, &value, "p");
            assert_eq!(got.err().as_deref(), want, "{schema} on {value}");
        }
    }

    #[test]
    fn keywords_not_checked_are_refused() {
        #[rustfmt::skip]
        let cases = [
            (json!({"pattern": "^a"}), "s.pattern: not checked"),
            (json!({"properties": {"a": {"oneOf": []}}}), "s.properties.a.oneOf: not checked"),
            (json!({"items": {"format": "email"}}), "s.items.format: not checked"),
            (json!({"additionalProperties": {"type": "string"}}), "s.additionalProperties: only true or false"),
            (json!({"type": "text"}), "s.type: not a JSON Schema type"),
            (json!({"minLength": -1}), "s.minLength: must be a whole number"),
            (json!(true), "s: must be an object"),
        ];
        for (schema, want) in cases {
            let error = check_schema(&schema, "s").unwrap_err();
            assert!(error.starts_with(want), "{schema}: {error}");
        }
    }
}
