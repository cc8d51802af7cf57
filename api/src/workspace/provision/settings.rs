//! What the administrator sets for every workspace namespace: the flags, and the
//! `resource=quantity` lists they take.

use std::collections::BTreeMap;
use std::str::FromStr;

use clap::Args;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Object counts every workspace may hold, unless the administrator says otherwise. Generous
/// enough for real use; the point is that one workspace cannot fill etcd for everyone.
pub const DEFAULT_QUOTA: &str = "count/agents.agentarea.io=500,count/skills.agentarea.io=500,\
count/mcpserverinstances.agentarea.io=100,count/triggers.agentarea.io=200,\
count/tasks.agentarea.io=10000,count/secrets=500,pods=100";

/// Settings of every workspace namespace.
#[derive(Args, Debug, Clone)]
pub struct WorkspaceArgs {
    /// The ClusterRole each workspace namespace binds to its workspace identity (the chart's
    /// `<release>-workspace`; `agentarea-api workspace-role` prints one).
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_ROLE",
        default_value = "agentarea-workspace"
    )]
    pub workspace_role: String,

    /// The ResourceQuota of every workspace namespace, as `resource=quantity` pairs separated by
    /// commas (`count/agents.agentarea.io=100,requests.cpu=4`); empty for none.
    #[arg(long, env = "AGENTAREA_WORKSPACE_QUOTA", default_value = DEFAULT_QUOTA)]
    pub workspace_quota: Resources,

    /// Default limits of containers in workspace namespaces (a LimitRange), e.g. `cpu=1,memory=512Mi`;
    /// empty for none.
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_CONTAINER_LIMITS",
        default_value = "cpu=1,memory=512Mi"
    )]
    pub workspace_container_limits: Resources,

    /// Default requests of containers in workspace namespaces (the same LimitRange); empty for none.
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_CONTAINER_REQUESTS",
        default_value = "cpu=50m,memory=64Mi"
    )]
    pub workspace_container_requests: Resources,
}

/// `resource=quantity` pairs, as a ResourceQuota's `hard` or a LimitRange's defaults take them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources(pub BTreeMap<String, Quantity>);

/// Why a `resource=quantity` list was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not resource=quantity (e.g. count/agents.agentarea.io=100 or memory=512Mi)")]
pub struct NotResources(String);

impl FromStr for Resources {
    type Err = NotResources;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut resources = BTreeMap::new();
        for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, quantity) = pair
                .split_once('=')
                .map(|(n, q)| (n.trim(), q.trim()))
                .filter(|(n, q)| is_resource_name(n) && is_quantity(q))
                .ok_or_else(|| NotResources(pair.to_string()))?;
            resources.insert(name.to_string(), Quantity(quantity.to_string()));
        }
        Ok(Self(resources))
    }
}

fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b))
}

/// A Kubernetes quantity in the forms administrators write: digits with an optional fraction and
/// a suffix (`100`, `0.5`, `50m`, `512Mi`, `1G`). The apiserver has the last word; this catches
/// typos at start-up rather than at a workspace's first write.
fn is_quantity(quantity: &str) -> bool {
    let number_end = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(number_end);
    number.parse::<f64>().is_ok()
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_parse_and_typos_are_refused() {
        type Parsed<'a> = Result<Vec<(&'a str, &'a str)>, &'a str>;
        let cases: [(&str, Parsed); 7] = [
            ("", Ok(vec![])),
            (
                " cpu=1 , memory=512Mi ",
                Ok(vec![("cpu", "1"), ("memory", "512Mi")]),
            ),
            (
                "count/agents.agentarea.io=3",
                Ok(vec![("count/agents.agentarea.io", "3")]),
            ),
            ("requests.cpu=0.5,", Ok(vec![("requests.cpu", "0.5")])),
            ("cpu", Err("cpu")),
            ("memory=512MB", Err("memory=512MB")),
            ("=3", Err("=3")),
        ];
        for (list, expected) in cases {
            let parsed = list.parse::<Resources>();
            let expected = expected
                .map(|pairs| {
                    Resources(
                        pairs
                            .into_iter()
                            .map(|(n, q)| (n.to_string(), Quantity(q.to_string())))
                            .collect(),
                    )
                })
                .map_err(|pair| NotResources(pair.to_string()));
            assert_eq!(parsed, expected, "{list:?}");
        }
        let default: Resources = DEFAULT_QUOTA.parse().unwrap();
        assert_eq!(default.0.len(), 7);
    }
}
