//! Deciding whether a firing matches, from its context and the judgements of the
//! natural-language conditions.

use serde_json::Value;

use super::types::{
    Condition, Decision, Judgement, LlmCondition, Logic, NO_CONDITIONS, Operator, Rule,
};
use crate::template::value_at;

/// The natural-language conditions of `condition`, in the order [`evaluate`] wants their
/// judgements.
pub fn llm_conditions(condition: &Condition) -> Vec<&LlmCondition> {
    match condition {
        Condition::Llm(llm) => vec![llm],
        Condition::Combined { conditions, .. } => {
            conditions.iter().flat_map(llm_conditions).collect()
        }
        Condition::Always | Condition::Rules { .. } => Vec::new(),
    }
}

/// Decides whether the firing with `context` matches. `judgements` answer the natural-language
/// conditions in [`llm_conditions`] order; one missing counts as not matched.
pub fn evaluate(condition: &Condition, context: &Value, judgements: &[Judgement]) -> Decision {
    let mut judgements = judgements.iter();
    decide(condition, context, &mut judgements)
}

fn decide<'a>(
    condition: &Condition,
    context: &Value,
    judgements: &mut impl Iterator<Item = &'a Judgement>,
) -> Decision {
    match condition {
        Condition::Always => Decision {
            matched: true,
            reason: NO_CONDITIONS.into(),
        },
        Condition::Rules { rules, logic } => {
            let decisions = rules.iter().map(|r| rule_decision(r, context)).collect();
            combine(decisions, *logic)
        }
        Condition::Llm(llm) => match judgements.next() {
            Some(j) => Decision {
                matched: j.matched,
                reason: format!("{:?}: {}", llm.description, j.reason),
            },
            None => Decision {
                matched: false,
                reason: format!("{:?} was not judged", llm.description),
            },
        },
        Condition::Combined { conditions, logic } => {
            // Every part is decided (no short cut), so the judgements stay in step.
            let decisions = conditions
                .iter()
                .map(|c| decide(c, context, judgements))
                .collect();
            combine(decisions, *logic)
        }
    }
}

/// AND: matched when all are, the reason naming the first that is not. OR: matched when one is,
/// naming it; else every reason.
fn combine(decisions: Vec<Decision>, logic: Logic) -> Decision {
    let deciding = match logic {
        Logic::And => decisions.iter().find(|d| !d.matched),
        Logic::Or => decisions.iter().find(|d| d.matched),
    };
    match (logic, deciding) {
        (_, Some(decision)) => decision.clone(),
        (Logic::And, None) => Decision {
            matched: true,
            reason: join(&decisions, " and "),
        },
        (Logic::Or, None) => Decision {
            matched: false,
            reason: format!("none held: {}", join(&decisions, "; ")),
        },
    }
}

fn join(decisions: &[Decision], separator: &str) -> String {
    let reasons: Vec<&str> = decisions.iter().map(|d| d.reason.as_str()).collect();
    reasons.join(separator)
}

fn rule_decision(rule: &Rule, context: &Value) -> Decision {
    let actual = value_at(context, &rule.field).filter(|v| !v.is_null());
    let matched = holds(rule.operator, actual, &rule.value);
    let stated = match rule.operator {
        Operator::Exists | Operator::NotExists => {
            format!("{} {}", rule.field, rule.operator.name())
        }
        op => format!("{} {} {}", rule.field, op.name(), rule.value),
    };
    let reason = match (matched, actual) {
        (true, _) => stated,
        (false, Some(actual)) => format!("{stated} does not hold ({} is {actual})", rule.field),
        (false, None) => format!("{stated} does not hold ({} is absent)", rule.field),
    };
    Decision { matched, reason }
}

/// Whether `actual op expected`. An absent (or null) field is only `eq null`, `ne` anything else,
/// and `not_exists`; ordering and containment need a value, as in AgentArea.
fn holds(operator: Operator, actual: Option<&Value>, expected: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match operator {
        Operator::Eq => equal(actual.unwrap_or(&Value::Null), expected),
        Operator::Ne => !equal(actual.unwrap_or(&Value::Null), expected),
        Operator::Exists => actual.is_some(),
        Operator::NotExists => actual.is_none(),
        Operator::Contains => actual.is_some_and(|a| contains(a, expected)),
        Operator::NotContains => actual.is_some_and(|a| !contains(a, expected)),
        Operator::Gt => order(actual, expected).is_some_and(|o| o == Greater),
        Operator::Lt => order(actual, expected).is_some_and(|o| o == Less),
        Operator::Gte => order(actual, expected).is_some_and(|o| o != Less),
        Operator::Lte => order(actual, expected).is_some_and(|o| o == Less || o == Equal),
    }
}

/// JSON equality, except that numbers are equal by value (`1` and `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Numbers by value, strings by their characters (which orders RFC 3339 times too); anything
/// else has no order.
fn order(actual: Option<&Value>, expected: &Value) -> Option<std::cmp::Ordering> {
    match (actual?, expected) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A string contains a substring; a list contains an item; an object contains a key.
fn contains(actual: &Value, expected: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match actual {
        Value::String(s) => s.contains(&text(expected)),
        Value::Array(items) => items.iter().any(|item| equal(item, expected)),
        Value::Object(map) => map.contains_key(&text(expected)),
        other => other.to_string().contains(&text(expected)),
    }
}
