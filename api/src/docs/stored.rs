//! The rules the apiserver enforces on what a request is stored as, stated on the REST fields. The
//! CRDs' schemas (lengths, patterns, ranges, enums, item counts, from the `#[schemars(..)]` of
//! `agentarea-crds`) are the one declaration of those rules; [`STORED`] only says where each REST
//! field is stored, and the rules are copied from there when the document is built. A request that
//! breaks one is refused by the apiserver, which the api passes on as a 422 naming the CRD field.

use serde_json::{Map, Value, json};

use agentarea_crds::{Agent, McpServerInstance, Skill, Task, Trigger};
use kube::CustomResourceExt;

/// The CRD a REST field is stored in.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Agent,
    Skill,
    McpServerInstance,
    Trigger,
    Task,
}

impl Kind {
    pub(super) fn schema(self) -> Value {
        let crd = match self {
            Kind::Agent => Agent::crd(),
            Kind::Skill => Skill::crd(),
            Kind::McpServerInstance => McpServerInstance::crd(),
            Kind::Trigger => Trigger::crd(),
            Kind::Task => Task::crd(),
        };
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("every CRD has a schema");
        serde_json::to_value(schema).expect("a schema serializes")
    }
}

/// A REST field and where it is stored. `rest` is a component, then `.field`, `[variant]` (of a
/// `oneOf`: its `type` tag, or its index) or `{}` (the keys of a map). `crd` is a field path of
/// the CRD, `[]` for the items of a list.
pub struct Stored {
    pub rest: &'static str,
    pub kind: Kind,
    pub crd: &'static str,
    /// Enum values a CEL rule of the CRD refuses for this field.
    pub refused: &'static [&'static str],
}

const fn stored(rest: &'static str, kind: Kind, crd: &'static str) -> Stored {
    Stored {
        rest,
        kind,
        crd,
        refused: &[],
    }
}

use Kind::{Agent as A, McpServerInstance as M, Skill as S, Task as K, Trigger as T};

pub const STORED: &[Stored] = &[
    stored("AgentCreate.description", A, "spec.description"),
    stored("AgentCreate.instruction", A, "spec.instruction"),
    stored("AgentCreate.model_id", A, "spec.model.name"),
    stored("AgentCreate.model_endpoint", A, "spec.model.endpoint"),
    stored("AgentCreate.skills", A, "spec.skills"),
    stored("AgentCreate.capabilities", A, "spec.capabilities"),
    stored("AgentUpdate.description", A, "spec.description"),
    stored("AgentUpdate.instruction", A, "spec.instruction"),
    stored("AgentUpdate.model_id", A, "spec.model.name"),
    stored("AgentUpdate.model_endpoint", A, "spec.model.endpoint"),
    stored("AgentUpdate.skills", A, "spec.skills"),
    stored("AgentUpdate.capabilities", A, "spec.capabilities"),
    stored("ToolsConfig.mcp_server_configs", A, "spec.mcpServers"),
    stored("ToolsConfig.builtin_tools", A, "spec.builtinTools"),
    stored(
        "McpServerConfig.allowed_tools",
        A,
        "spec.mcpServers[].allowedTools",
    ),
    stored(
        "AllowedToolConfig.tool_name",
        A,
        "spec.mcpServers[].allowedTools[].name",
    ),
    stored("BuiltinToolConfig.tool_name", A, "spec.builtinTools[].name"),
    stored("EventsConfig.events", A, "spec.events"),
    stored(
        "EventConfigItem[0].event_type",
        A,
        "spec.events[].eventType",
    ),
    stored("EventConfigItem[1]", A, "spec.events[].eventType"),
    stored("SkillCreate.description", S, "spec.description"),
    stored("SkillCreate.instructions", S, "spec.instructions"),
    stored("SkillCreate.tools", S, "spec.tools"),
    stored("SkillCreate.parameters", S, "spec.parameters"),
    stored("SkillUpdate.description", S, "spec.description"),
    stored("SkillUpdate.instructions", S, "spec.instructions"),
    stored("SkillUpdate.tools", S, "spec.tools"),
    stored("SkillUpdate.parameters", S, "spec.parameters"),
    stored("SkillToolsBody.instance", S, "spec.tools[].instance"),
    stored("SkillToolsBody.tools", S, "spec.tools[].tools"),
    stored("SkillParameterBody.name", S, "spec.parameters[].name"),
    stored(
        "SkillParameterBody.description",
        S,
        "spec.parameters[].description",
    ),
    stored("SkillParameterBody.type", S, "spec.parameters[].type"),
    stored("InstanceCreate.description", M, "spec.description"),
    stored("InstanceCreate.server_spec_id", M, "spec.serverSpecId"),
    stored("InstanceUpdate.description", M, "spec.description"),
    stored("JsonSpec[docker].image", M, "spec.managed.image"),
    stored("JsonSpec[docker].port", M, "spec.managed.port"),
    stored("JsonSpec[docker].cmd", M, "spec.managed.command"),
    stored("JsonSpec[docker].environment", M, "spec.managed.env"),
    stored(
        "JsonSpec[docker].environment{}",
        M,
        "spec.managed.env[].name",
    ),
    stored("JsonSpec[docker].transport", M, "spec.managed.transport"),
    stored("JsonSpec[url].endpoint", M, "spec.remote.url"),
    // "a remote server cannot use the stdio transport" (a CEL rule of the CRD).
    Stored {
        refused: &["stdio"],
        ..stored("JsonSpec[url].transport", M, "spec.remote.transport")
    },
    stored("JsonSpec[compound].members", M, "spec.compound.members"),
    // What clients send (one object for every kind, as AgentArea's UI sends it).
    stored("JsonSpecBody.image", M, "spec.managed.image"),
    stored("JsonSpecBody.port", M, "spec.managed.port"),
    stored("JsonSpecBody.cmd", M, "spec.managed.command"),
    stored("JsonSpecBody.environment", M, "spec.managed.env"),
    stored("JsonSpecBody.environment{}", M, "spec.managed.env[].name"),
    stored("JsonSpecBody.transport", M, "spec.managed.transport"),
    stored("JsonSpecBody.endpoint", M, "spec.remote.url"),
    stored("JsonSpecBody.endpoint_url", M, "spec.remote.url"),
    stored("JsonSpecBody.headers", M, "spec.remote.headers"),
    stored("JsonSpecBody.headers{}", M, "spec.remote.headers[].name"),
    stored("JsonSpecBody.members", M, "spec.compound.members"),
    stored(
        "CompoundMemberBody.prefix",
        M,
        "spec.compound.members[].prefix",
    ),
    stored("TaskCreate.description", K, "spec.input"),
    stored("AgentTaskCreate.description", K, "spec.input"),
    stored("TriggerCreate.description", T, "spec.description"),
    stored("TriggerCreate.task_description", T, "spec.input"),
    stored(
        "TriggerCreate.failure_threshold",
        T,
        "spec.failureThreshold",
    ),
    stored("TriggerCreate.cron_expression", T, "spec.schedule.cron"),
    stored("TriggerCreate.timezone", T, "spec.schedule.timeZone"),
    stored(
        "TriggerCreate.concurrency_policy",
        T,
        "spec.schedule.concurrencyPolicy",
    ),
    stored("TriggerCreate.webhook_id", T, "spec.webhook.webhookId"),
    stored(
        "TriggerCreate.allowed_methods",
        T,
        "spec.webhook.allowedMethods",
    ),
    stored("TriggerCreate.webhook_type", T, "spec.webhook.webhookType"),
    stored("TriggerUpdate.description", T, "spec.description"),
    stored("TriggerUpdate.task_description", T, "spec.input"),
    stored(
        "TriggerUpdate.failure_threshold",
        T,
        "spec.failureThreshold",
    ),
    stored("TriggerUpdate.cron_expression", T, "spec.schedule.cron"),
    stored("TriggerUpdate.timezone", T, "spec.schedule.timeZone"),
    stored(
        "TriggerUpdate.concurrency_policy",
        T,
        "spec.schedule.concurrencyPolicy",
    ),
    stored(
        "TriggerUpdate.allowed_methods",
        T,
        "spec.webhook.allowedMethods",
    ),
];

/// The keywords that carry a rule, as the CRD spells them.
const RULES: [&str; 8] = [
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "enum",
];

/// States the rules of [`STORED`] in `document` (an OpenAPI document as JSON).
pub fn apply(document: &mut Value) {
    for entry in STORED {
        let rules = crd_rules(entry);
        let node = rest_node(document, entry.rest)
            .unwrap_or_else(|| panic!("{} is not in the document", entry.rest));
        merge_into(node, rules);
    }
}

/// The rules of `entry`'s CRD field, in the document's dialect: a list's item count becomes a
/// map's property count when the REST field is a map, and string item rules go with the list.
pub(super) fn crd_rules(entry: &Stored) -> Map<String, Value> {
    let schema = entry.kind.schema();
    let field = crd_node(&schema, entry.crd)
        .unwrap_or_else(|| panic!("{} is not in the {:?} CRD", entry.crd, entry.kind));
    let mut rules = pick_rules(field);
    if let Some(Value::Array(values)) = rules.get_mut("enum") {
        values.retain(|v| !entry.refused.iter().any(|r| v == r));
    }
    if let Some(items) = field.get("items") {
        let item_rules = pick_rules(items);
        if !item_rules.is_empty() && items.get("type") == Some(&json!("string")) {
            rules.insert("items".into(), Value::Object(item_rules));
        }
    }
    rules
}

fn pick_rules(field: &Value) -> Map<String, Value> {
    let mut rules = Map::new();
    for keyword in RULES {
        if let Some(value) = field.get(keyword) {
            let value = match (keyword, value) {
                ("pattern", Value::String(p)) => Value::String(go_pattern_for_ecma(p)),
                // The CRD generator writes bounds as floats; integer fields keep integer bounds.
                ("minimum" | "maximum", Value::Number(n))
                    if n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
                {
                    json!(n.as_f64().unwrap_or_default() as i64)
                }
                _ => value.clone(),
            };
            rules.insert(keyword.into(), value);
        }
    }
    rules
}

/// A Go (RE2) pattern of the apiserver, written so that ECMA-262 (the document's dialect) means
/// the same: RE2's `\s` is ASCII whitespace `[\t\n\f\r ]`, ECMA's is Unicode whitespace.
pub fn go_pattern_for_ecma(pattern: &str) -> String {
    const SPACE: &str = r"\t\n\f\r ";
    let mut out = String::new();
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(SPACE),
                Some('s') => out.push_str(&format!("[{SPACE}]")),
                Some('S') if !in_class => out.push_str(&format!("[^{SPACE}]")),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

pub(super) fn crd_node<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = schema;
    for segment in path.split('.') {
        let (name, items) = match segment.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        node = node.get("properties")?.get(name)?;
        if items {
            node = node.get("items")?;
        }
    }
    Some(node)
}

/// The schema of a REST field (see [`Stored::rest`]).
pub(super) fn rest_node<'a>(document: &'a mut Value, locator: &str) -> Option<&'a mut Value> {
    let (component, mut rest) = locator
        .find(['.', '[', '{'])
        .map_or((locator, ""), |i| locator.split_at(i));
    let mut node = document
        .get_mut("components")?
        .get_mut("schemas")?
        .get_mut(component)?;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{}") {
            node = node.get_mut("propertyNames")?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let variant = &after[..end];
            let variants = node.get_mut("oneOf")?.as_array_mut()?;
            let index = variant.parse::<usize>().ok().or_else(|| {
                variants
                    .iter()
                    .position(|v| v["properties"]["type"]["enum"] == json!([variant]))
            })?;
            node = variants.get_mut(index)?;
            rest = &after[end + 1..];
        } else {
            let after = rest.strip_prefix('.')?;
            let end = after.find(['.', '[', '{']).unwrap_or(after.len());
            node = node.get_mut("properties")?.get_mut(&after[..end])?;
            rest = &after[end..];
        }
    }
    Some(node)
}

/// Adds `rules` to the schema `node`: into each non-null branch of a `oneOf`, beside a `$ref`
/// (through `allOf`, which every reader honours), as a map's property count for a map.
fn merge_into(node: &mut Value, mut rules: Map<String, Value>) {
    if let Some(branches) = node.get_mut("oneOf").and_then(Value::as_array_mut) {
        for branch in branches.iter_mut().filter(|b| b["type"] != json!("null")) {
            merge_into(branch, rules.clone());
        }
        return;
    }
    let Some(object) = node.as_object_mut() else {
        return;
    };
    if let Some(reference) = object.remove("$ref") {
        object.insert("allOf".into(), json!([{ "$ref": reference }]));
    }
    let is_map = object.get("type") == Some(&json!("object"));
    if is_map {
        for (from, to) in [("minItems", "minProperties"), ("maxItems", "maxProperties")] {
            if let Some(count) = rules.remove(from) {
                rules.insert(to.into(), count);
            }
        }
    }
    if let (Some(Value::Object(items)), Some(Value::Object(existing))) =
        (rules.remove("items"), object.get_mut("items"))
    {
        existing.extend(items);
    }
    object.extend(rules);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_patterns_keep_their_meaning_in_ecma() {
        let cases = [
            (r"^https?://[^\s]+$", r"^https?://[^\t\n\f\r ]+$"),
            (
                r"^\S+(\s+\S+){4,5}$",
                r"^[^\t\n\f\r ]+([\t\n\f\r ]+[^\t\n\f\r ]+){4,5}$",
            ),
            (
                r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            ),
            (
                r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
                r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
            ),
        ];
        for (go, ecma) in cases {
            assert_eq!(go_pattern_for_ecma(go), ecma, "{go}");
        }
    }

    #[test]
    fn rules_land_beside_references_in_nullable_branches_and_on_maps() {
        let cases = [
            (
                json!({ "type": ["string", "null"] }),
                json!({ "maxLength": 4 }),
                json!({ "type": ["string", "null"], "maxLength": 4 }),
            ),
            (
                json!({ "oneOf": [{ "$ref": "#/x" }, { "type": "null" }] }),
                json!({ "maxLength": 4 }),
                json!({ "oneOf": [{ "allOf": [{ "$ref": "#/x" }], "maxLength": 4 }, { "type": "null" }] }),
            ),
            (
                json!({ "type": "object", "additionalProperties": { "type": "string" } }),
                json!({ "maxItems": 128 }),
                json!({ "type": "object", "additionalProperties": { "type": "string" }, "maxProperties": 128 }),
            ),
            (
                json!({ "type": "array", "items": { "type": "string" } }),
                json!({ "maxItems": 2, "items": { "minLength": 1 } }),
                json!({ "type": "array", "items": { "type": "string", "minLength": 1 }, "maxItems": 2 }),
            ),
        ];
        for (mut node, rules, expected) in cases {
            let Value::Object(rules) = rules else {
                unreachable!()
            };
            merge_into(&mut node, rules);
            assert_eq!(node, expected);
        }
    }
}
