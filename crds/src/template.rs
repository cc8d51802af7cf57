//! The input templates of Triggers: `{{ path.to.value }}` replaced from a JSON context. Used by the
//! api (webhook firings) and the operator (schedule and event firings), so both render alike.
//!
//! Deliberately small: no loops, no conditionals, no code. A missing path renders as nothing;
//! strings render as themselves; numbers, booleans, objects and arrays render as JSON.

use serde_json::Value;

/// Renders `template` against `context`.
pub fn render(template: &str, context: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&lookup(context, after[..end].trim()));
                rest = &after[end + 2..];
            }
            None => {
                // An unclosed `{{` is text, not an error: a template is written by people.
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value at a dotted `path` (`payload.issue.labels.0.name`: keys of objects, indexes of
/// arrays), if there is one. Trigger conditions read fields the same way templates do, so a path
/// that renders a value in the input is the path a condition tests.
pub fn value_at<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|segment| !segment.is_empty())
        .try_fold(context, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn lookup(context: &Value, path: &str) -> String {
    match value_at(context, path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn replaces_paths_and_leaves_text() {
        let context = json!({"payload": {"title": "Disk full", "n": 3, "tags": ["a", "b"]}, "trigger": {"name": "t"}});
        assert_eq!(
            render(
                "Alert {{ payload.title }} x{{payload.n}} {{ payload.tags.1 }} by {{trigger.name}}",
                &context
            ),
            "Alert Disk full x3 b by t"
        );
        assert_eq!(render("{{ payload.missing }}|", &context), "|");
        assert_eq!(render("{{ payload.tags }}", &context), r#"["a","b"]"#);
        assert_eq!(render("no placeholders", &context), "no placeholders");
        assert_eq!(render("open {{ end", &context), "open {{ end");
    }
}
