//! `json_spec` as clients send it, resolved to one kind of server. Our clients name the kind in
//! `type`; AgentArea's UI leaves `type` out and sends `{image, port, environment}` for a managed
//! server and `{endpoint_url, headers, is_public, tags}` for a remote one, so the kind follows from
//! the fields it has. Whatever is given either takes effect or is refused with the field named.

use super::wire::{JsonSpec, JsonSpecBody, SpecKind};
use crate::error::{ApiError, ApiResult};

/// The fields each kind takes, besides `type`, `is_public` (false only) and `tags`.
fn fields_of(kind: SpecKind) -> &'static [&'static str] {
    match kind {
        SpecKind::Docker => &["image", "port", "environment", "cmd", "transport"],
        SpecKind::Url => &["endpoint", "endpoint_url", "headers", "transport"],
        SpecKind::Compound => &["members"],
    }
}

impl JsonSpecBody {
    /// The fields given, by name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("image", self.image.is_some()),
            ("port", self.port.is_some()),
            ("environment", self.environment.is_some()),
            ("cmd", self.cmd.is_some()),
            ("transport", self.transport.is_some()),
            ("endpoint", self.endpoint.is_some()),
            ("endpoint_url", self.endpoint_url.is_some()),
            ("headers", self.headers.is_some()),
            ("members", self.members.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The kind named, or the one the fields say (AgentArea's UI names none).
    fn kind(&self) -> ApiResult<SpecKind> {
        if let Some(kind) = self.kind {
            return Ok(kind);
        }
        if self.image.is_some() {
            Ok(SpecKind::Docker)
        } else if self.endpoint_url.is_some() || self.endpoint.is_some() {
            Ok(SpecKind::Url)
        } else if self.members.is_some() {
            Ok(SpecKind::Compound)
        } else {
            Err(ApiError::unprocessable(
                "json_spec: give `type` (docker, url or compound), or the server's `image` or \
                 `endpoint_url`",
            ))
        }
    }

    /// The server this body describes, and its tags; a field of another kind, a missing one, or a
    /// public instance is refused with the field named.
    pub fn resolve(self) -> ApiResult<(JsonSpec, Vec<String>)> {
        let kind = self.kind()?;
        if let Some(field) = self
            .given()
            .into_iter()
            .find(|f| !fields_of(kind).contains(f))
        {
            return Err(ApiError::unprocessable(format!(
                "json_spec.{field}: not a field of a {} server",
                kind.word()
            )));
        }
        if self.is_public == Some(true) {
            return Err(ApiError::unprocessable(
                "json_spec.is_public: an instance belongs to its workspace and cannot be public",
            ));
        }
        let tags = self.tags.clone().unwrap_or_default();
        let spec = match kind {
            SpecKind::Docker => JsonSpec::Docker {
                image: required(self.image, "image", kind)?,
                port: self.port,
                environment: self.environment.unwrap_or_default(),
                cmd: self.cmd.unwrap_or_default(),
                transport: self.transport,
            },
            SpecKind::Url => JsonSpec::Url {
                endpoint: endpoint(self.endpoint, self.endpoint_url)?,
                transport: self.transport,
                headers: self.headers.unwrap_or_default(),
            },
            SpecKind::Compound => JsonSpec::Compound {
                members: required(self.members, "members", kind)?,
            },
        };
        Ok((spec, tags))
    }
}

fn required<T>(value: Option<T>, field: &str, kind: SpecKind) -> ApiResult<T> {
    value.ok_or_else(|| {
        ApiError::unprocessable(format!(
            "json_spec.{field}: required for a {} server",
            kind.word()
        ))
    })
}

/// `endpoint` (ours) or `endpoint_url` (AgentArea's UI): one of them, or both the same.
fn endpoint(endpoint: Option<String>, endpoint_url: Option<String>) -> ApiResult<String> {
    match (endpoint, endpoint_url) {
        (Some(a), Some(b)) if a != b => Err(ApiError::unprocessable(
            "json_spec.endpoint_url: differs from `endpoint`; give one of them",
        )),
        (Some(url), _) | (None, Some(url)) => Ok(url),
        (None, None) => Err(ApiError::unprocessable(
            "json_spec.endpoint_url: required for a url server",
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn resolve(body: Value) -> Result<(Value, Vec<String>), String> {
        let body: JsonSpecBody = serde_json::from_value(body).expect("a well-formed body");
        body.resolve()
            .map(|(spec, tags)| (serde_json::to_value(spec).unwrap(), tags))
            .map_err(|e| e.detail)
    }

    #[test]
    fn agentarea_ui_bodies_name_their_kind_by_their_fields() {
        let managed = json!({"image": "mcp/time:1", "port": 8000, "environment": {"TZ": "UTC"}});
        assert_eq!(
            resolve(managed).unwrap().0,
            json!({"type": "docker", "image": "mcp/time:1", "port": 8000, "environment": {"TZ": "UTC"}, "cmd": []})
        );
        let remote = json!({
            "endpoint_url": "https://mcp.example.com/mcp", "is_public": false,
            "headers": {"Authorization": "Bearer k"}, "tags": ["search"],
        });
        let (spec, tags) = resolve(remote).unwrap();
        assert_eq!(
            spec,
            json!({"type": "url", "endpoint": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer k"}})
        );
        assert_eq!(tags, ["search"]);
    }

    #[test]
    fn our_bodies_name_their_kind_in_type() {
        let cases = [
            json!({"type": "docker", "image": "i"}),
            json!({"type": "url", "endpoint": "https://e/mcp"}),
            json!({"type": "url", "endpoint": "https://e/mcp", "endpoint_url": "https://e/mcp"}),
            json!({"type": "compound", "members": [{"instance": "a"}]}),
        ];
        for body in cases {
            let kind = body["type"].clone();
            assert_eq!(resolve(body).unwrap().0["type"], kind);
        }
    }

    #[test]
    fn what_cannot_take_effect_is_refused_with_the_field_named() {
        let cases = [
            (json!({}), "json_spec: give `type`"),
            (json!({"port": 8000}), "json_spec: give `type`"),
            (
                json!({"type": "docker"}),
                "json_spec.image: required for a docker server",
            ),
            (
                json!({"type": "url"}),
                "json_spec.endpoint_url: required for a url server",
            ),
            (
                json!({"type": "compound"}),
                "json_spec.members: required for a compound server",
            ),
            (
                json!({"image": "i", "endpoint_url": "https://e"}),
                "json_spec.endpoint_url: not a field of a docker server",
            ),
            (
                json!({"type": "url", "endpoint": "https://e", "environment": {}}),
                "json_spec.environment: not a field of a url server",
            ),
            (
                json!({"type": "compound", "members": [], "image": "i"}),
                "json_spec.image: not a field of a compound server",
            ),
            (
                json!({"endpoint": "https://a", "endpoint_url": "https://b"}),
                "json_spec.endpoint_url: differs",
            ),
            (
                json!({"endpoint_url": "https://e", "is_public": true}),
                "json_spec.is_public: an instance belongs to its workspace",
            ),
        ];
        for (body, detail) in cases {
            let refused = resolve(body.clone()).expect_err(&body.to_string());
            assert!(refused.starts_with(detail), "{body}: {refused}");
        }
    }
}
