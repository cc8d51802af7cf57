//! Targets a workspace names (an MCP server's URL, an agent's model endpoint) that the operator
//! would refuse to call are refused when they are named, with a 422 saying which field, which
//! address and which rule. Only what needs no name resolution is judged here (literal addresses,
//! `localhost`): a name is resolved by the operator when it calls, and refused there with an
//! `EgressDenied` condition, since what a name resolves to can change.
//!
//! A target the platform's policy refuses may still be allowed for one workspace by its
//! namespace's annotation; that is looked up only then, so most requests cost no extra read.

use agentarea_support::egress::EgressPolicy;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A 422 if the egress policy of the workspace in `namespace` refuses `url` (the value of REST
/// field `field`) on its face.
pub async fn check_target(
    state: &AppState,
    namespace: &str,
    field: &str,
    url: &str,
) -> ApiResult<()> {
    if judge(&state.egress, field, url).is_ok() {
        return Ok(());
    }
    let allowances = state.workspaces.egress_allowances(namespace).await?;
    judge(&state.egress.allowing(&allowances), field, url)
}

/// [`check_target`] for the string at `pointer` in a merge patch, when the patch sets one.
pub async fn check_patched_target(
    state: &AppState,
    namespace: &str,
    field: &str,
    patch: &Value,
    pointer: &str,
) -> ApiResult<()> {
    match patch.pointer(pointer).and_then(Value::as_str) {
        Some(url) => check_target(state, namespace, field, url).await,
        None => Ok(()),
    }
}

/// A 422 if `policy` refuses `url` (the value of REST field `field`) on its face.
fn judge(policy: &EgressPolicy, field: &str, url: &str) -> ApiResult<()> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        // Malformed URLs are refused by the CRD's pattern, with its own message.
        return Ok(());
    };
    policy
        .check_url(&parsed)
        .map_err(|denied| ApiError::unprocessable(format!("{field}: {denied}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_refused_by_their_literal_address_with_the_field_named() {
        let strict = EgressPolicy::default();
        let lenient = EgressPolicy::new(EgressPolicy::parse_ranges("127.0.0.0/8").unwrap(), vec![]);
        let cases = [
            (
                &strict,
                "http://127.0.0.1:8081/readyz",
                Some(
                    "json_spec.endpoint: 127.0.0.1:8081 is refused by the egress policy: 127.0.0.1 is loopback",
                ),
            ),
            (
                &strict,
                "http://169.254.169.254/latest/meta-data/",
                Some(
                    "json_spec.endpoint: 169.254.169.254 is refused by the egress policy: 169.254.169.254 is link-local (metadata services)",
                ),
            ),
            (
                &strict,
                "http://localhost:9000/mcp",
                Some(
                    "json_spec.endpoint: localhost:9000 is refused by the egress policy: 127.0.0.1 is loopback",
                ),
            ),
            (&strict, "https://mcp.example.com/mcp", None),
            (&strict, "not a url", None),
            (&lenient, "http://127.0.0.1:8081/mcp", None),
        ];
        for (policy, url, want) in cases {
            let checked = judge(policy, "json_spec.endpoint", url);
            assert_eq!(checked.err().map(|e| e.detail).as_deref(), want, "{url}");
            if want.is_some() {
                let status = judge(policy, "f", url).unwrap_err().status;
                assert_eq!(status.as_u16(), 422, "{url}");
            }
        }
    }
}
