//! The egress policy: which addresses are refused and by which rule, the flags that set it, a
//! workspace's allowances on top of it, and judging an address, a URL, or a URL's resolved names.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

/// Why an address is refused: the rule that refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    Loopback,
    LinkLocal,
    Unspecified,
    Private,
    SharedAddressSpace,
    Multicast,
    Broadcast,
    /// A range the administrator denied.
    Denied(IpNet),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loopback => write!(f, "loopback"),
            Self::LinkLocal => write!(f, "link-local (metadata services)"),
            Self::Unspecified => write!(f, "unspecified"),
            Self::Private => write!(f, "private"),
            Self::SharedAddressSpace => write!(f, "shared address space"),
            Self::Multicast => write!(f, "multicast"),
            Self::Broadcast => write!(f, "broadcast"),
            Self::Denied(net) => write!(f, "denied by the administrator ({net})"),
        }
    }
}

/// A request the policy refused: which target, which address, and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{target} is refused by the egress policy: {address} is {rule}")]
pub struct EgressDenied {
    /// The host (and port) as the workspace named it.
    pub target: String,
    pub address: IpAddr,
    pub rule: Rule,
}

/// The flags that set the policy, the same for the operator (which calls the targets) and the
/// api (which refuses, at create time, targets that can be judged without resolving a name).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EgressArgs {
    /// Address ranges (CIDRs or addresses, comma-separated) that requests made for a workspace
    /// may reach although the default policy refuses them: an in-cluster model server
    /// (`10.96.0.0/12`), a model on the same machine (`127.0.0.1`).
    #[arg(long = "egress-allow", env = "AGENTAREA_EGRESS_ALLOW", value_delimiter = ',', value_parser = parse_range)]
    pub allow: Vec<IpNet>,
    /// Address ranges refused on top of the defaults, even where `--egress-allow` allows them
    /// (e.g. the apiserver's public address).
    #[arg(long = "egress-deny", env = "AGENTAREA_EGRESS_DENY", value_delimiter = ',', value_parser = parse_range)]
    pub deny: Vec<IpNet>,
}

impl EgressArgs {
    pub fn policy(&self) -> EgressPolicy {
        EgressPolicy::new(self.allow.clone(), self.deny.clone())
    }
}

fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a CIDR range"))
}

/// The annotation of a workspace's namespace that lists ranges (CIDRs or addresses,
/// comma-separated) requests made for that workspace, and for no other, may reach although the
/// platform's policy refuses them: say, a model server only one team's agents may use. Namespaces
/// are cluster-scoped, so an administrator sets it (`kubectl annotate namespace ws-team-a
/// agentarea.io/egress-allow=10.20.0.0/16`); the workspace's own role cannot.
pub const WORKSPACE_ALLOW_ANNOTATION: &str = "agentarea.io/egress-allow";

/// The ranges a workspace namespace's annotations allow: none without the annotation. An
/// annotation that is not a list of ranges allows nothing, not the part of it that parses, and
/// `Err` says why.
pub fn workspace_allowances(
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<Vec<IpNet>, String> {
    match annotations.and_then(|a| a.get(WORKSPACE_ALLOW_ANNOTATION)) {
        None => Ok(Vec::new()),
        Some(text) => EgressPolicy::parse_ranges(text)
            .map_err(|e| format!("annotation {WORKSPACE_ALLOW_ANNOTATION} is ignored: {e}")),
    }
}

/// What may be called on a workspace's behalf. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    allow: Arc<Vec<IpNet>>,
    deny: Arc<Vec<IpNet>>,
}

impl EgressPolicy {
    /// The default refusals, with `allow` let through and `deny` refused as well. An allowed
    /// range wins over the default refusals but not over `deny`.
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow),
            deny: Arc::new(deny),
        }
    }

    /// This policy with `ranges` allowed as well: one workspace's allowances on top of the
    /// platform's. The administrator's denied ranges still win.
    pub fn allowing(&self, ranges: &[IpNet]) -> Self {
        if ranges.is_empty() {
            return self.clone();
        }
        let allow = self.allow.iter().chain(ranges).copied().collect();
        Self {
            allow: Arc::new(allow),
            deny: self.deny.clone(),
        }
    }

    /// Parses comma-separated CIDRs (or single addresses) as given to `--egress-allow`.
    pub fn parse_ranges(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(parse_range)
            .collect()
    }

    /// The rule that refuses `address`, if one does.
    pub fn refusal(&self, address: IpAddr) -> Option<Rule> {
        let address = address.to_canonical();
        if let Some(net) = self.deny.iter().find(|net| net.contains(&address)) {
            return Some(Rule::Denied(*net));
        }
        if self.allow.iter().any(|net| net.contains(&address)) {
            return None;
        }
        default_refusal(address)
    }

    /// Checks one resolved address of `target`.
    pub fn check(&self, target: &str, address: IpAddr) -> Result<(), EgressDenied> {
        match self.refusal(address) {
            Some(rule) => Err(EgressDenied {
                target: target.to_string(),
                address: address.to_canonical(),
                rule,
            }),
            None => Ok(()),
        }
    }

    /// Checks what can be known of `url` without resolving names: a literal address, or
    /// `localhost`. `Ok` means "not refused yet": names are checked when they are resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), EgressDenied> {
        let target = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(&target, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(&target, IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if is_localhost(name) => {
                self.check(&target, IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            _ => Ok(()),
        }
    }

    /// Resolves `url`'s host and checks every address it gives: for judging a target that is not
    /// being called now (an Agent's model endpoint, at reconcile). Calls need not: the guarded
    /// client judges what it resolves, once, as it connects.
    pub async fn check_resolved(&self, url: &str) -> Result<(), EgressCheckError> {
        let parsed = url::Url::parse(url).map_err(|e| EgressCheckError::Invalid(e.to_string()))?;
        self.check_url(&parsed)?;
        let Some(url::Host::Domain(name)) = parsed.host() else {
            return Ok(());
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addresses = tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| EgressCheckError::Unresolved(format!("{name}: {e}")))?;
        for address in addresses {
            self.check(&format!("{name}:{port}"), address.ip())?;
        }
        Ok(())
    }
}

/// Why a target could not be checked, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum EgressCheckError {
    #[error(transparent)]
    Denied(#[from] EgressDenied),
    #[error("invalid URL: {0}")]
    Invalid(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The refusals every policy makes unless an allowed range covers the address.
fn default_refusal(address: IpAddr) -> Option<Rule> {
    match address {
        IpAddr::V4(ip) => v4_refusal(ip),
        IpAddr::V6(ip) => v6_refusal(ip),
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<Rule> {
    let shared = IpNet::V4("100.64.0.0/10".parse().expect("a CIDR literal"));
    if ip.is_loopback() {
        Some(Rule::Loopback)
    } else if ip.is_link_local() {
        Some(Rule::LinkLocal)
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some(Rule::Unspecified)
    } else if ip.is_private() {
        Some(Rule::Private)
    } else if shared.contains(&IpAddr::V4(ip)) {
        Some(Rule::SharedAddressSpace)
    } else if ip.is_multicast() {
        Some(Rule::Multicast)
    } else if ip.is_broadcast() {
        Some(Rule::Broadcast)
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<Rule> {
    let segments = ip.segments();
    if ip.is_loopback() {
        Some(Rule::Loopback)
    } else if ip.is_unspecified() {
        Some(Rule::Unspecified)
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some(Rule::LinkLocal)
    } else if segments[0] & 0xfe00 == 0xfc00 {
        // Unique local addresses (fc00::/7): IPv6's private ranges.
        Some(Rule::Private)
    } else if ip.is_multicast() {
        Some(Rule::Multicast)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_policy_refuses_the_places_a_workspace_must_not_reach() {
        let policy = EgressPolicy::default();
        let cases = [
            ("127.0.0.1", Some(Rule::Loopback)),
            ("127.8.9.10", Some(Rule::Loopback)),
            ("::1", Some(Rule::Loopback)),
            ("::ffff:127.0.0.1", Some(Rule::Loopback)),
            ("169.254.169.254", Some(Rule::LinkLocal)),
            ("fe80::1", Some(Rule::LinkLocal)),
            ("0.0.0.0", Some(Rule::Unspecified)),
            ("0.1.2.3", Some(Rule::Unspecified)),
            ("::", Some(Rule::Unspecified)),
            ("10.96.0.1", Some(Rule::Private)),
            ("172.16.0.1", Some(Rule::Private)),
            ("192.168.1.1", Some(Rule::Private)),
            ("::ffff:10.0.0.1", Some(Rule::Private)),
            ("fd00::1", Some(Rule::Private)),
            ("100.64.0.1", Some(Rule::SharedAddressSpace)),
            ("224.0.0.1", Some(Rule::Multicast)),
            ("ff02::1", Some(Rule::Multicast)),
            ("255.255.255.255", Some(Rule::Broadcast)),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("2606:4700::1111", None),
        ];
        for (address, want) in cases {
            assert_eq!(policy.refusal(ip(address)), want, "{address}");
        }
    }

    #[test]
    fn allowed_ranges_pass_and_denied_ranges_win() {
        let policy = EgressPolicy::new(
            EgressPolicy::parse_ranges("10.96.0.0/12, 127.0.0.2").unwrap(),
            EgressPolicy::parse_ranges("10.96.0.1/32,203.0.113.7").unwrap(),
        );
        let cases = [
            ("10.100.3.4", None),
            ("127.0.0.2", None),
            ("127.0.0.1", Some(Rule::Loopback)),
            (
                "10.96.0.1",
                Some(Rule::Denied("10.96.0.1/32".parse().unwrap())),
            ),
            (
                "203.0.113.7",
                Some(Rule::Denied("203.0.113.7/32".parse().unwrap())),
            ),
            ("10.0.0.1", Some(Rule::Private)),
        ];
        for (address, want) in cases {
            assert_eq!(policy.refusal(ip(address)), want, "{address}");
        }
        assert!(EgressPolicy::parse_ranges("10.0.0.0/8,nonsense").is_err());
        assert_eq!(EgressPolicy::parse_ranges(" ").unwrap(), vec![]);
    }

    type Annotations = BTreeMap<String, String>;

    #[test]
    fn a_workspace_annotation_allows_its_ranges_and_the_administrators_denials_still_win() {
        let platform = EgressPolicy::new(vec![], EgressPolicy::parse_ranges("10.20.0.1").unwrap());
        let annotated = |value: &str| {
            BTreeMap::from([(WORKSPACE_ALLOW_ANNOTATION.to_string(), value.to_string())])
        };
        let none: Option<Annotations> = None;
        let cases = [
            ("no annotations", none, "10.20.3.4", Some(Rule::Private)),
            (
                "other annotations",
                Some(BTreeMap::from([("a".into(), "10.0.0.0/8".into())])),
                "10.20.3.4",
                Some(Rule::Private),
            ),
            (
                "a range",
                Some(annotated("10.20.0.0/16")),
                "10.20.3.4",
                None,
            ),
            (
                "outside the range",
                Some(annotated("10.20.0.0/16")),
                "10.21.0.1",
                Some(Rule::Private),
            ),
            (
                "denied by the administrator",
                Some(annotated("10.20.0.0/16")),
                "10.20.0.1",
                Some(Rule::Denied("10.20.0.1/32".parse().unwrap())),
            ),
            (
                "not all ranges: nothing allowed",
                Some(annotated("10.20.0.0/16, the-lab")),
                "10.20.3.4",
                Some(Rule::Private),
            ),
        ];
        for (name, annotations, address, want) in cases {
            let allowances = workspace_allowances(annotations.as_ref()).unwrap_or_default();
            assert_eq!(
                platform.allowing(&allowances).refusal(ip(address)),
                want,
                "{name}"
            );
        }
        let error = workspace_allowances(Some(&annotated("10.0.0.0/8,the-lab"))).unwrap_err();
        assert_eq!(
            error,
            "annotation agentarea.io/egress-allow is ignored: \"the-lab\" is not an address or a CIDR range"
        );
    }

    #[test]
    fn urls_are_refused_by_their_literal_address_or_localhost() {
        let policy = EgressPolicy::default();
        let cases = [
            (
                "http://127.0.0.1:8081/readyz",
                Some("127.0.0.1:8081 is refused by the egress policy: 127.0.0.1 is loopback"),
            ),
            (
                "http://169.254.169.254/latest/meta-data/",
                Some(
                    "169.254.169.254 is refused by the egress policy: 169.254.169.254 is link-local (metadata services)",
                ),
            ),
            (
                "http://[::1]:9000/mcp",
                Some("[::1]:9000 is refused by the egress policy: ::1 is loopback"),
            ),
            (
                "http://LOCALHOST:1/",
                Some("localhost:1 is refused by the egress policy: 127.0.0.1 is loopback"),
            ),
            (
                "http://api.localhost/",
                Some("api.localhost is refused by the egress policy: 127.0.0.1 is loopback"),
            ),
            ("https://api.openai.com/v1", None),
            ("http://mcp-time.tools.svc:8080/mcp", None),
        ];
        for (url, want) in cases {
            let checked = policy.check_url(&url::Url::parse(url).unwrap());
            assert_eq!(
                checked.err().map(|e| e.to_string()).as_deref(),
                want,
                "{url}"
            );
        }
    }
}
