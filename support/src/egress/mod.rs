//! Where the platform may send requests on a workspace's behalf. Workspaces name URLs (remote MCP
//! servers, model endpoints) and the operator calls them, from inside the cluster: without a
//! policy, a workspace could make the operator call its own health port, the cloud metadata
//! service, the kubelet, the apiserver or any in-cluster Service, and read the answers back.
//!
//! The policy is decided on addresses, not names: a name is resolved once, every address it gave
//! is checked, and the connection is made to those checked addresses only (the resolver of the
//! HTTP client is the [`guard`]'s), so a name that resolves differently a moment later (DNS
//! rebinding) gains nothing. Redirects are checked the same way. By default it refuses
//! loopback, link-local (metadata services), unspecified, private (RFC 1918, unique local),
//! shared (carrier-grade NAT), multicast and broadcast addresses, and whatever the administrator
//! adds (`--egress-deny`, e.g. the apiserver's public address); `--egress-allow` lets chosen
//! ranges through (an in-cluster model server, a laptop's local one), for every workspace; the
//! annotation [`WORKSPACE_ALLOW_ANNOTATION`] on one workspace's namespace lets ranges through for
//! that workspace alone.
//!
//! | module | what |
//! | --- | --- |
//! | [`policy`] | the rules, the flags, a workspace's allowances; judging an address or a URL |
//! | [`guard`] | an HTTP client under the policy, and the refusals it made |

pub mod guard;
pub mod policy;

pub use guard::{Refusals, denial_in};
pub use ipnet::IpNet;
pub use policy::{
    EgressArgs, EgressCheckError, EgressDenied, EgressPolicy, Rule, WORKSPACE_ALLOW_ANNOTATION,
    workspace_allowances,
};
