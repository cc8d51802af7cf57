//! Where a call of an instance's tool goes: the instance itself, or, for a compound instance, the
//! member that owns the tool under the member's own name for it. The one routing rule of the
//! gateway and the task runner.

use agentarea_support::egress::EgressPolicy;
use std::time::Duration;

use kube::{Api, ResourceExt};

use agentarea_crds::McpServerInstance;
use agentarea_crds::mcp_server_instance::{Header, RemoteServer};
use agentarea_crds::reasons;

use super::endpoint::Endpoint;
use crate::context::Context;
use crate::problem::Problem;
use crate::secrets::secret_value;

/// Which instance serves a tool, and by which name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// The instance named serves the tool itself, under the name asked for.
    Itself,
    /// A member of the compound instance serves it, under `tool`.
    Member { member: &'a str, tool: &'a str },
}

/// Where a call of `tool` on `instance` goes, from the merged tool table in a compound's status.
pub fn route<'a>(instance: &'a McpServerInstance, tool: &str) -> Result<Route<'a>, Problem> {
    if instance.spec.compound.is_none() {
        return Ok(Route::Itself);
    }
    let offered = instance
        .status
        .iter()
        .flat_map(|s| &s.tools)
        .find(|t| t.name == tool)
        .ok_or_else(|| {
            Problem::new(
                reasons::TOOL_NOT_FOUND,
                format!(
                    "MCP server instance {} offers no tool {tool}",
                    instance.name_any()
                ),
            )
        })?;
    match (&offered.member, &offered.member_tool) {
        (Some(member), Some(tool)) => Ok(Route::Member { member, tool }),
        _ => Err(Problem::new(
            reasons::TOOL_NOT_FOUND,
            format!("tool {tool} of {} has no member", instance.name_any()),
        )),
    }
}

/// The endpoint a call of `tool` on `instance` goes to, and the name to call it by there.
pub async fn route_tool(
    ctx: &Context,
    namespace: &str,
    instance: &McpServerInstance,
    tool: &str,
) -> Result<(Endpoint, String), Problem> {
    match route(instance, tool)? {
        Route::Itself => Ok((endpoint_of(ctx, namespace, instance).await?, tool.into())),
        Route::Member { member, tool } => {
            let fetched = Api::<McpServerInstance>::namespaced(ctx.client.clone(), namespace)
                .get_opt(member)
                .await;
            let member = found(fetched, member)?;
            Ok((endpoint_of(ctx, namespace, &member).await?, tool.into()))
        }
    }
}

/// What a GET of instance `name` gave, as the instance or the problem.
pub fn found(
    fetched: Result<Option<McpServerInstance>, kube::Error>,
    name: &str,
) -> Result<McpServerInstance, Problem> {
    fetched
        .map_err(|e| Problem::new(reasons::INSTANCE_UNREADABLE, e.to_string()))?
        .ok_or_else(|| {
            Problem::new(
                reasons::INSTANCE_NOT_FOUND,
                format!("MCP server instance {name} not found"),
            )
        })
}

/// The endpoint of a remote or managed instance.
pub async fn endpoint_of(
    ctx: &Context,
    namespace: &str,
    instance: &McpServerInstance,
) -> Result<Endpoint, Problem> {
    if let Some(remote) = &instance.spec.remote {
        return remote_endpoint(
            &ctx.client,
            &ctx.egress.policy(namespace).await,
            namespace,
            remote,
        )
        .await;
    }
    let transport = instance.spec.managed.as_ref().map(|m| m.transport);
    Ok(Endpoint {
        url: managed_url(instance)?,
        wire: transport.unwrap_or_default().into(),
        headers: vec![],
        timeout: Duration::from_secs(ctx.config.mcp_timeout_seconds),
        egress: None,
    })
}

/// The URL a managed instance's controller found it at.
pub fn managed_url(instance: &McpServerInstance) -> Result<String, Problem> {
    instance
        .status
        .as_ref()
        .and_then(|s| s.endpoint.clone())
        .filter(|_| instance.spec.managed.is_some())
        .ok_or_else(|| {
            Problem::new(
                reasons::NO_ENDPOINT,
                format!(
                    "MCP server instance {} has no endpoint yet",
                    instance.name_any()
                ),
            )
        })
}

/// The remote URL with its headers, values read from Secrets where the spec says so, called under
/// the egress policy (the workspace named it).
pub async fn remote_endpoint(
    client: &kube::Client,
    egress: &EgressPolicy,
    namespace: &str,
    remote: &RemoteServer,
) -> Result<Endpoint, Problem> {
    let mut headers = Vec::new();
    for Header {
        name,
        value,
        secret_key_ref,
    } in &remote.headers
    {
        let value = match (value, secret_key_ref) {
            (Some(value), _) => value.clone(),
            (None, Some(reference)) => {
                secret_value(client, namespace, &reference.name, &reference.key).await?
            }
            (None, None) => continue,
        };
        headers.push((name.clone(), value));
    }
    Ok(Endpoint {
        url: remote.url.clone(),
        wire: remote.transport.into(),
        headers,
        timeout: Duration::from_secs(remote.timeout_seconds.max(1) as u64),
        egress: Some(egress.clone()),
    })
}

#[cfg(test)]
mod tests {
    use agentarea_crds::McpServerInstanceSpec;
    use agentarea_crds::mcp_server_instance::{
        CompoundServer, DiscoveredTool, ManagedServer, McpServerInstanceStatus,
    };
    use kube::core::Status;

    use super::*;

    fn tool(name: &str, member: Option<&str>, member_tool: Option<&str>) -> DiscoveredTool {
        DiscoveredTool {
            name: name.into(),
            description: None,
            input_schema: None,
            input_schema_digest: None,
            member: member.map(Into::into),
            member_tool: member_tool.map(Into::into),
            annotations: None,
        }
    }

    fn instance(spec: McpServerInstanceSpec, status: McpServerInstanceStatus) -> McpServerInstance {
        let mut instance = McpServerInstance::new("box", spec);
        instance.status = Some(status);
        instance
    }

    fn compound(tools: Vec<DiscoveredTool>) -> McpServerInstance {
        instance(
            McpServerInstanceSpec {
                compound: Some(CompoundServer::default()),
                ..Default::default()
            },
            McpServerInstanceStatus {
                tools,
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_tool_goes_to_the_instance_or_the_member_that_owns_it() {
        let plain = instance(
            McpServerInstanceSpec {
                managed: Some(ManagedServer::default()),
                ..Default::default()
            },
            McpServerInstanceStatus::default(),
        );
        let merged = compound(vec![
            tool("time_now", Some("time"), Some("now")),
            tool("orphan", None, Some("orphan")),
            tool("half", Some("time"), None),
        ]);
        type Want = Result<Route<'static>, (&'static str, &'static str)>;
        let cases: &[(&str, &McpServerInstance, &str, Want)] = &[
            (
                "not compound: any name",
                &plain,
                "anything",
                Ok(Route::Itself),
            ),
            (
                "compound: the member's name",
                &merged,
                "time_now",
                Ok(Route::Member {
                    member: "time",
                    tool: "now",
                }),
            ),
            (
                "compound: not offered",
                &merged,
                "now",
                Err((
                    reasons::TOOL_NOT_FOUND,
                    "MCP server instance box offers no tool now",
                )),
            ),
            (
                "compound: no member",
                &merged,
                "orphan",
                Err((reasons::TOOL_NOT_FOUND, "tool orphan of box has no member")),
            ),
            (
                "compound: no member tool",
                &merged,
                "half",
                Err((reasons::TOOL_NOT_FOUND, "tool half of box has no member")),
            ),
        ];
        for (case, instance, tool, want) in cases {
            let got = route(instance, tool).map_err(|p| (p.reason, p.message));
            let want = want.map_err(|(r, m)| (r, m.to_string()));
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_managed_instance_is_reached_at_its_endpoint_once_it_has_one() {
        let managed = |endpoint: Option<&str>| {
            instance(
                McpServerInstanceSpec {
                    managed: Some(ManagedServer::default()),
                    ..Default::default()
                },
                McpServerInstanceStatus {
                    endpoint: endpoint.map(Into::into),
                    ..Default::default()
                },
            )
        };
        let remote_with_endpoint = instance(
            McpServerInstanceSpec {
                remote: Some(RemoteServer::default()),
                ..Default::default()
            },
            McpServerInstanceStatus {
                endpoint: Some("http://remote/mcp".into()),
                ..Default::default()
            },
        );
        let no_endpoint = Err((
            reasons::NO_ENDPOINT,
            "MCP server instance box has no endpoint yet".to_string(),
        ));
        let cases = [
            (
                "managed with an endpoint",
                managed(Some("http://box:8080/mcp")),
                Ok("http://box:8080/mcp".to_string()),
            ),
            ("managed, not yet", managed(None), no_endpoint.clone()),
            ("not managed", remote_with_endpoint, no_endpoint),
        ];
        for (case, instance, want) in cases {
            let got = managed_url(&instance).map_err(|p| (p.reason, p.message));
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_member_is_found_or_the_reason_it_is_not_is_given() {
        let member = McpServerInstance::new("time", McpServerInstanceSpec::default());
        let found_member = found(Ok(Some(member.clone())), "time").unwrap();
        assert_eq!(found_member, member);
        let missing = found(Ok(None), "time").unwrap_err();
        assert_eq!(
            (missing.reason, missing.message.as_str()),
            (
                reasons::INSTANCE_NOT_FOUND,
                "MCP server instance time not found"
            )
        );
        let failure = Status::failure("etcd is down", "InternalError").with_code(500);
        let unreadable = found(Err(kube::Error::Api(failure.boxed())), "time").unwrap_err();
        assert_eq!(unreadable.reason, reasons::INSTANCE_UNREADABLE);
        assert!(
            unreadable.message.contains("etcd is down"),
            "{}",
            unreadable.message
        );
    }
}
