//! A webhook trigger's `validation_rules`: what a delivery must be for its trigger to consider
//! it. AgentArea's keys, plus a JSON Schema for the payload:
//!
//! | key | a delivery must |
//! | --- | --- |
//! | `required_headers` | carry each header named (any case) |
//! | `content_type` | have a `Content-Type` containing this |
//! | `body_format: "json"` | be JSON |
//! | `required_fields` | have a non-null value at each dotted path of the payload |
//! | `json_schema` | validate against this schema (the keywords of [`super::schema`]) |
//!
//! A delivery that breaks one is answered 422 naming the rule; rules that cannot work (an unknown
//! key, a schema keyword not checked) are refused when the trigger is written, so no rule is
//! stored and then ignored.

use serde_json::{Map, Value};

use agentarea_crds::template::value_at;

use super::schema;

const KEYS: [&str; 5] = [
    "required_headers",
    "content_type",
    "body_format",
    "required_fields",
    "json_schema",
];

/// Refuses rules that could not be applied, naming the part (`validation_rules.x: ...`).
pub fn check_rules(rules: Option<&Value>) -> Result<(), String> {
    let Some(rules) = rules.filter(|r| !r.is_null()) else {
        return Ok(());
    };
    let map = rules
        .as_object()
        .ok_or("validation_rules: must be an object")?;
    if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "validation_rules.{key}: not a rule (rules are {})",
            KEYS.join(", ")
        ));
    }
    for key in ["required_headers", "required_fields"] {
        if let Some(list) = map.get(key)
            && !list
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        {
            return Err(format!("validation_rules.{key}: must be a list of strings"));
        }
    }
    if map.get("content_type").is_some_and(|v| !v.is_string()) {
        return Err("validation_rules.content_type: must be a string".into());
    }
    if map
        .get("body_format")
        .is_some_and(|v| v.as_str() != Some("json"))
    {
        return Err("validation_rules.body_format: only \"json\" is checked".into());
    }
    if let Some(schema) = map.get("json_schema") {
        schema::check_schema(schema, "validation_rules.json_schema")?;
    }
    Ok(())
}

/// Applies `rules` (already checked) to a delivery; the error names the rule it breaks.
/// `header` is asked for names in lower case.
pub fn validate(
    rules: Option<&Value>,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    payload: &Value,
) -> Result<(), String> {
    let Some(rules) = rules.and_then(Value::as_object) else {
        return Ok(());
    };
    for name in strings(rules, "required_headers") {
        if header(&name.to_lowercase()).is_none() {
            return Err(format!(
                "validation_rules.required_headers: header {name} is missing"
            ));
        }
    }
    if let Some(wanted) = rules.get("content_type").and_then(Value::as_str) {
        let given = header("content-type").unwrap_or_default();
        if !given.to_lowercase().contains(&wanted.to_lowercase()) {
            return Err(format!(
                "validation_rules.content_type: Content-Type {given:?} is not {wanted:?}"
            ));
        }
    }
    if rules.get("body_format").is_some() && serde_json::from_slice::<Value>(body).is_err() {
        return Err("validation_rules.body_format: the body is not JSON".into());
    }
    for path in strings(rules, "required_fields") {
        if value_at(payload, path).is_none_or(Value::is_null) {
            return Err(format!(
                "validation_rules.required_fields: the payload has no {path}"
            ));
        }
    }
    if let Some(schema) = rules.get("json_schema") {
        schema::validate(schema, payload, "payload")
            .map_err(|e| format!("validation_rules.json_schema: {e}"))?;
    }
    Ok(())
}

fn strings<'a>(rules: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a str> {
    rules
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_that_cannot_work_are_refused_when_written() {
        #[rustfmt::skip]
        let cases = [
            (json!({"required_fields": ["a"]}), None),
            (json!({"required_headers": ["X-GitHub-Event"], "content_type": "json", "body_format": "json"}), None),
            (json!({"json_schema": {"type": "object", "required": ["a"]}}), None),
            (json!({}), None),
            (json!([1]), Some("validation_rules: must be an object")),
            (json!({"max_size": 3}), Some("validation_rules.max_size: not a rule")),
            (json!({"required_fields": "a"}), Some("validation_rules.required_fields: must be a list of strings")),
            (json!({"body_format": "xml"}), Some("validation_rules.body_format: only \"json\"")),
            (json!({"json_schema": {"pattern": "^a"}}), Some("validation_rules.json_schema.pattern: not checked")),
        ];
        for (rules, want) in cases {
            match (check_rules(Some(&rules)), want) {
                (Ok(()), None) => {}
                (Err(error), Some(want)) => assert!(error.starts_with(want), "{rules}: {error}"),
                (got, want) => panic!("{rules}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_delivery_that_breaks_a_rule_is_told_which() {
        let payload = json!({"issue": {"title": "x"}, "n": 3});
        let body = serde_json::to_vec(&payload).unwrap();
        let header = |name: &str| (name == "content-type").then(|| "application/json".to_string());
        #[rustfmt::skip]
        let cases = [
            (json!({"required_fields": ["issue.title"]}), None),
            (json!({"required_fields": ["issue.body"]}), Some("validation_rules.required_fields: the payload has no issue.body")),
            (json!({"required_headers": ["Content-Type"]}), None),
            (json!({"required_headers": ["X-Token"]}), Some("validation_rules.required_headers: header X-Token is missing")),
            (json!({"content_type": "application/json"}), None),
            (json!({"content_type": "text/plain"}), Some("validation_rules.content_type: ")),
            (json!({"body_format": "json"}), None),
            (json!({"json_schema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 5}}}}), None),
            (json!({"json_schema": {"properties": {"n": {"maximum": 2}}}}), Some("validation_rules.json_schema: payload.n: 3 is above the maximum 2")),
        ];
        for (rules, want) in cases {
            match (validate(Some(&rules), header, &body, &payload), want) {
                (Ok(()), None) => {}
                (Err(error), Some(want)) => assert!(error.starts_with(want), "{rules}: {error}"),
                (got, want) => panic!("{rules}: got {got:?}, want {want:?}"),
            }
        }
        let text = b"not json";
        let refused = validate(
            Some(&json!({"body_format": "json"})),
            header,
            text,
            &json!("not json"),
        );
        assert_eq!(
            refused,
            Err("validation_rules.body_format: the body is not JSON".into())
        );
    }
}
