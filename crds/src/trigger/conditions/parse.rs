//! `conditions` as JSON -> a [`Condition`], or what is wrong with it.

use serde_json::Value;

use super::types::{Condition, LlmCondition, Logic, OPERATORS, Operator, Rule};

/// Parses `conditions` (absent or `{}`: [`Condition::Always`]); the error names the part that is
/// wrong, as `conditions.rules[1].operator: ...`.
pub fn parse(value: Option<&Value>) -> Result<Condition, String> {
    match value {
        None | Some(Value::Null) => Ok(Condition::Always),
        Some(Value::Object(map)) if map.is_empty() => Ok(Condition::Always),
        Some(value) => parse_at(value, "conditions"),
    }
}

fn parse_at(value: &Value, at: &str) -> Result<Condition, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("{at}: must be an object"))?;
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(format!("{at}.type: must be rule, llm or combined")),
        None if map.contains_key("rules") => "rule",
        None if map.contains_key("conditions") => "combined",
        None => "llm",
    };
    let known: &[&str] = match kind {
        "rule" => &["type", "rules", "logic"],
        "combined" => &["type", "conditions", "logic"],
        "llm" => &["type", "description", "context_fields", "examples"],
        other => {
            return Err(format!(
                "{at}.type: {other:?} is not one of rule, llm, combined"
            ));
        }
    };
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{at}.{key}: not a field of a {kind} condition"));
    }
    let list = |key: &str| -> Result<&Vec<Value>, String> {
        match map.get(key) {
            Some(Value::Array(items)) if !items.is_empty() => Ok(items),
            _ => Err(format!("{at}.{key}: a {kind} condition needs at least one")),
        }
    };
    match kind {
        "rule" => Ok(Condition::Rules {
            rules: list("rules")?
                .iter()
                .enumerate()
                .map(|(i, rule)| parse_rule(rule, &format!("{at}.rules[{i}]")))
                .collect::<Result<_, _>>()?,
            logic: parse_logic(map.get("logic"), at)?,
        }),
        "combined" => Ok(Condition::Combined {
            conditions: list("conditions")?
                .iter()
                .enumerate()
                .map(|(i, c)| parse_at(c, &format!("{at}.conditions[{i}]")))
                .collect::<Result<_, _>>()?,
            logic: parse_logic(map.get("logic"), at)?,
        }),
        _ => parse_llm(map, at).map(Condition::Llm),
    }
}

fn parse_logic(value: Option<&Value>, at: &str) -> Result<Logic, String> {
    match value
        .and_then(Value::as_str)
        .map(str::to_uppercase)
        .as_deref()
    {
        None if value.is_none() => Ok(Logic::And),
        Some("AND") => Ok(Logic::And),
        Some("OR") => Ok(Logic::Or),
        _ => Err(format!("{at}.logic: must be AND or OR")),
    }
}

fn parse_rule(value: &Value, at: &str) -> Result<Rule, String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("{at}: must be an object"))?;
    if let Some(key) = map
        .keys()
        .find(|k| !["field", "operator", "value"].contains(&k.as_str()))
    {
        return Err(format!("{at}.{key}: not a field of a rule"));
    }
    let field = match map.get("field") {
        Some(Value::String(field)) if !field.is_empty() => field.clone(),
        _ => return Err(format!("{at}.field: required, a dotted path")),
    };
    let operator = match map.get("operator") {
        None => Operator::Eq,
        Some(Value::String(name)) => OPERATORS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                format!("{at}.operator: {name:?} is not one of eq, ne, gt, lt, gte, lte, contains, not_contains, exists, not_exists")
            })?,
        Some(_) => return Err(format!("{at}.operator: must be a string")),
    };
    let value = match (map.get("value"), operator) {
        (None, Operator::Exists | Operator::NotExists) => Value::Null,
        (None, _) => return Err(format!("{at}.value: required for {}", operator.name())),
        (Some(value), _) => value.clone(),
    };
    Ok(Rule {
        field,
        operator,
        value,
    })
}

fn parse_llm(map: &serde_json::Map<String, Value>, at: &str) -> Result<LlmCondition, String> {
    let description = match map.get("description") {
        Some(Value::String(d)) if !d.trim().is_empty() => d.clone(),
        _ => return Err(format!("{at}.description: an llm condition needs one")),
    };
    let context_fields = match map.get("context_fields") {
        None => Vec::new(),
        Some(Value::Array(fields)) => fields
            .iter()
            .map(|f| f.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{at}.context_fields: must be a list of paths"))?,
        Some(_) => return Err(format!("{at}.context_fields: must be a list of paths")),
    };
    let examples = match map.get("examples") {
        None => Vec::new(),
        Some(Value::Array(examples))
            if examples
                .iter()
                .all(|e| e.get("input").is_some() && e.get("expected").is_some()) =>
        {
            examples.clone()
        }
        Some(_) => return Err(format!("{at}.examples: a list of {{input, expected}}")),
    };
    Ok(LlmCondition {
        description,
        context_fields,
        examples,
    })
}
