use serde_json::{Value, json};

use super::*;

fn context() -> Value {
    json!({
        "payload": {
            "action": "opened",
            "count": 5,
            "ratio": 0.5,
            "title": "Disk full on node-3",
            "labels": ["bug", "urgent"],
            "issue": {"user": {"login": "octocat"}, "number": 42},
            "nothing": null,
            "at": "2026-01-02T03:04:05Z"
        },
        "webhook": {"event": "issues"}
    })
}

fn rule(field: &str, operator: &str, value: Value) -> Value {
    json!({"type": "rule", "rules": [{"field": field, "operator": operator, "value": value}]})
}

fn decide(conditions: &Value) -> Decision {
    let parsed = parse(Some(conditions)).unwrap();
    evaluate(&parsed, &context(), &[])
}

#[test]
fn each_operator_matches_and_does_not() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, Value, bool)] = &[
        ("payload.action", "eq", json!("opened"), true),
        ("payload.action", "eq", json!("closed"), false),
        ("payload.count", "eq", json!(5.0), true),
        ("payload.missing", "eq", json!(null), true),
        ("payload.action", "ne", json!("closed"), true),
        ("payload.action", "ne", json!("opened"), false),
        ("payload.missing", "ne", json!("x"), true),
        ("payload.count", "gt", json!(4), true),
        ("payload.count", "gt", json!(5), false),
        ("payload.count", "gte", json!(5), true),
        ("payload.count", "gte", json!(6), false),
        ("payload.count", "lt", json!(6), true),
        ("payload.count", "lt", json!(5), false),
        ("payload.count", "lte", json!(5), true),
        ("payload.ratio", "lte", json!(0.25), false),
        ("payload.at", "gt", json!("2026-01-01T00:00:00Z"), true),
        ("payload.at", "lt", json!("2026-01-01T00:00:00Z"), false),
        ("payload.missing", "gt", json!(1), false),
        ("payload.action", "gt", json!(1), false),
        ("payload.title", "contains", json!("Disk full"), true),
        ("payload.title", "contains", json!("memory"), false),
        ("payload.labels", "contains", json!("bug"), true),
        ("payload.labels", "contains", json!("feature"), false),
        ("payload.issue", "contains", json!("user"), true),
        ("payload.missing", "contains", json!("x"), false),
        ("payload.title", "not_contains", json!("memory"), true),
        ("payload.labels", "not_contains", json!("bug"), false),
        ("payload.missing", "not_contains", json!("x"), false),
        ("payload.issue.user.login", "exists", json!(null), true),
        ("payload.nothing", "exists", json!(null), false),
        ("payload.missing", "exists", json!(null), false),
        ("payload.missing", "not_exists", json!(null), true),
        ("payload.nothing", "not_exists", json!(null), true),
        ("payload.action", "not_exists", json!(null), false),
        ("payload.labels.1", "eq", json!("urgent"), true),
        ("webhook.event", "eq", json!("issues"), true),
    ];
    for (field, operator, value, want) in cases {
        let decision = decide(&rule(field, operator, value.clone()));
        assert_eq!(
            decision.matched, *want,
            "{field} {operator} {value}: {decision:?}"
        );
    }
}

#[test]
fn a_rule_that_does_not_hold_says_what_the_field_was() {
    let decision = decide(&rule("payload.action", "eq", json!("closed")));
    assert_eq!(
        decision.reason,
        r#"payload.action eq "closed" does not hold (payload.action is "opened")"#
    );
    let decision = decide(&rule("payload.gone", "exists", json!(null)));
    assert_eq!(
        decision.reason,
        "payload.gone exists does not hold (payload.gone is absent)"
    );
}

#[test]
fn logic_combines_rules_and_conditions() {
    let yes = json!({"field": "payload.action", "operator": "eq", "value": "opened"});
    let no = json!({"field": "payload.count", "operator": "gt", "value": 10});
    #[rustfmt::skip]
    let cases = [
        (json!({"rules": [yes, no]}), false),
        (json!({"rules": [yes, no], "logic": "or"}), true),
        (json!({"rules": [no, no], "logic": "OR"}), false),
        (json!({"rules": [yes, yes], "logic": "AND"}), true),
        (json!({"type": "combined", "conditions": [{"rules": [yes]}, {"rules": [no]}]}), false),
        (json!({"conditions": [{"rules": [yes]}, {"rules": [no]}], "logic": "OR"}), true),
        (json!({}), true),
    ];
    for (conditions, want) in cases {
        assert_eq!(decide(&conditions).matched, want, "{conditions}");
    }
    let none = decide(&json!({"rules": [no, no], "logic": "OR"}));
    assert!(none.reason.starts_with("none held: "), "{}", none.reason);
}

#[test]
fn natural_language_conditions_take_their_judgements_in_order() {
    let conditions = json!({"type": "combined", "logic": "AND", "conditions": [
        {"type": "llm", "description": "a bug"},
        {"rules": [{"field": "payload.action", "operator": "eq", "value": "opened"}]},
        {"description": "urgent"},
    ]});
    let parsed = parse(Some(&conditions)).unwrap();
    let asked: Vec<&str> = llm_conditions(&parsed)
        .iter()
        .map(|c| c.description.as_str())
        .collect();
    assert_eq!(asked, ["a bug", "urgent"]);
    let judged = |a, b| {
        let j = |matched| Judgement {
            matched,
            reason: "because".into(),
        };
        evaluate(&parsed, &context(), &[j(a), j(b)])
    };
    assert!(judged(true, true).matched);
    let second = judged(true, false);
    assert!(!second.matched);
    assert_eq!(second.reason, r#""urgent": because"#);
    let unjudged = evaluate(&parsed, &context(), &[]);
    assert_eq!(unjudged.reason, r#""a bug" was not judged"#);
}

#[test]
fn malformed_conditions_are_refused_naming_the_part() {
    #[rustfmt::skip]
    let cases = [
        (json!([1]), "conditions: must be an object"),
        (json!({"type": "regex"}), r#"conditions.type: "regex" is not one of rule, llm, combined"#),
        (json!({"rules": []}), "conditions.rules: a rule condition needs at least one"),
        (json!({"rules": [{"operator": "eq", "value": 1}]}), "conditions.rules[0].field: required, a dotted path"),
        (json!({"rules": [{"field": "a", "operator": "like", "value": 1}]}), r#"conditions.rules[0].operator: "like" is not one of"#),
        (json!({"rules": [{"field": "a", "operator": "gt"}]}), "conditions.rules[0].value: required for gt"),
        (json!({"rules": [{"field": "a", "value": 1, "op": "x"}]}), "conditions.rules[0].op: not a field of a rule"),
        (json!({"rules": [{"field": "a", "value": 1}], "logic": "XOR"}), "conditions.logic: must be AND or OR"),
        (json!({"type": "llm"}), "conditions.description: an llm condition needs one"),
        (json!({"description": "x", "examples": [{"input": 1}]}), "conditions.examples: a list of {input, expected}"),
        (json!({"conditions": [{"rules": "x"}]}), "conditions.conditions[0].rules: a rule condition needs at least one"),
        (json!({"type": "rule", "rules": [{"field": "a", "value": 1}], "description": "x"}), "conditions.description: not a field of a rule condition"),
    ];
    for (conditions, want) in cases {
        let error = parse(Some(&conditions)).unwrap_err();
        assert!(error.starts_with(want), "{conditions}: {error}");
    }
    assert_eq!(parse(None), Ok(Condition::Always));
    assert_eq!(
        parse(Some(
            &json!({"rules": [{"field": "a", "operator": "exists"}]})
        ))
        .map(|c| llm_conditions(&c).len()),
        Ok(0)
    );
}

#[test]
fn model_answers_are_read_as_judgements() {
    let cases = [
        (
            r#"{"matched": true, "reason": "it is a bug"}"#,
            true,
            "it is a bug",
        ),
        (
            "```json\n{\"matched\": false, \"reason\": \"a question\"}\n```",
            false,
            "a question",
        ),
        ("true", true, "the model answered true"),
        ("False.", false, "the model answered false"),
        (
            "maybe",
            false,
            r#"the model's answer could not be read: "maybe""#,
        ),
    ];
    for (answer, matched, reason) in cases {
        let judgement = parse_judgement(answer);
        assert_eq!(judgement.matched, matched, "{answer}");
        assert_eq!(judgement.reason, reason, "{answer}");
    }
}

#[test]
fn the_prompt_shows_the_condition_the_data_and_the_fields_named() {
    let condition = LlmCondition {
        description: "The issue reports a bug".into(),
        context_fields: vec!["payload.title".into()],
        examples: vec![json!({"input": {"title": "crash"}, "expected": true})],
    };
    let text = prompt(&condition, &context());
    assert!(text.contains("CONDITION: The issue reports a bug"));
    assert!(text.contains("\"payload.title\": \"Disk full on node-3\""));
    assert!(text.contains(r#"EXAMPLE 1: input {"title":"crash"} -> true"#));
    assert!(text.contains(r#"{"matched": true or false"#));
}
