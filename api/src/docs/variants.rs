//! Object variants of a `oneOf` (an enum's variants, which utoipa writes inline) become components
//! of their own, `<Enum><Tag>`. Generated clients name an inline model after where they meet it,
//! and openapi-python-client meets these twice and then drops them (with the maps inside them); a
//! named component is generated once.

use serde_json::{Map, Value, json};

/// Hoists the inline object variants of every component's `oneOf` in `document`.
pub fn name_variants(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut hoisted = Map::new();
    for (name, schema) in schemas.iter_mut() {
        let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for variant in variants.iter_mut() {
            if variant.get("type") != Some(&json!("object")) || variant.get("properties").is_none()
            {
                continue;
            }
            let component = format!("{name}{}", variant_name(variant));
            let inline = std::mem::replace(
                variant,
                json!({ "$ref": format!("#/components/schemas/{component}") }),
            );
            hoisted.insert(component, inline);
        }
    }
    schemas.extend(hoisted);
}

/// `Docker` for a variant tagged `{"type": "docker"}`, `Object` for an untagged one.
fn variant_name(variant: &Value) -> String {
    let tag = variant
        .pointer("/properties/type/enum/0")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let mut chars = tag.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_variants_become_named_components() {
        let mut document = json!({ "components": { "schemas": {
            "Spec": { "oneOf": [
                { "type": "object", "properties": { "type": { "enum": ["docker"] } } },
                { "type": "object", "properties": { "name": {} } },
                { "type": "string" },
            ] },
        } } });
        name_variants(&mut document);
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["Spec"]["oneOf"],
            json!([
                { "$ref": "#/components/schemas/SpecDocker" },
                { "$ref": "#/components/schemas/SpecObject" },
                { "type": "string" },
            ])
        );
        assert_eq!(
            schemas["SpecDocker"]["properties"]["type"]["enum"],
            json!(["docker"])
        );
        assert!(schemas["SpecObject"]["properties"]["name"].is_object());
    }
}
