//! The question a model is asked for a natural-language condition, and reading its answer.

use serde_json::{Value, json};

use super::types::{Judgement, LlmCondition};
use crate::template::value_at;

/// What the model is asked for one natural-language condition: the condition, the firing's
/// data, the fields it names apart, the examples; answered as JSON so its reason can be kept.
pub fn prompt(condition: &LlmCondition, context: &Value) -> String {
    let mut parts = vec![
        "You decide whether an automation trigger should start a task.".to_string(),
        format!("CONDITION: {}", condition.description),
        format!("DATA:\n{}", pretty(context)),
    ];
    if !condition.context_fields.is_empty() {
        let fields: serde_json::Map<String, Value> = condition
            .context_fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    value_at(context, f).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        parts.push(format!(
            "RELEVANT FIELDS:\n{}",
            pretty(&Value::Object(fields))
        ));
    }
    for (i, example) in condition.examples.iter().enumerate() {
        parts.push(format!(
            "EXAMPLE {}: input {} -> {}",
            i + 1,
            example["input"],
            example["expected"]
        ));
    }
    parts.push(
        r#"Answer with one JSON object and nothing else: {"matched": true or false, "reason": "<one short sentence>"}"#
            .to_string(),
    );
    parts.join("\n\n")
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Reads a model's answer: the JSON object [`prompt`] asks for (also inside a code fence or
/// other text), else an answer that starts with `true` or `false` (AgentArea's form). Anything
/// else is not a match, saying so: a firing is never started on an answer nobody can read.
pub fn parse_judgement(answer: &str) -> Judgement {
    let trimmed = answer.trim();
    let object = trimmed
        .find('{')
        .zip(trimmed.rfind('}'))
        .and_then(|(start, end)| serde_json::from_str::<Value>(&trimmed[start..=end]).ok());
    if let Some(matched) = object.as_ref().and_then(|o| o["matched"].as_bool()) {
        let reason = object.as_ref().and_then(|o| o["reason"].as_str());
        return Judgement {
            matched,
            reason: reason.unwrap_or("the model gave no reason").to_string(),
        };
    }
    let lower = trimmed.to_lowercase();
    for (word, matched) in [("true", true), ("false", false)] {
        if lower.starts_with(word) {
            return Judgement {
                matched,
                reason: format!("the model answered {word}"),
            };
        }
    }
    let shown: String = trimmed.chars().take(200).collect();
    Judgement {
        matched: false,
        reason: format!("the model's answer could not be read: {}", json!(shown)),
    }
}
