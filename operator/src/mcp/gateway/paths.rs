//! Where the gateway serves each compound instance: `/mcp/compound/{namespace}/{name}`.

/// The path prefix of compound endpoints.
pub const PREFIX: &str = "/mcp/compound/";

/// The URL of `namespace/name` under the gateway's public base URL.
pub fn endpoint(base: &str, namespace: &str, name: &str) -> String {
    format!("{}{PREFIX}{namespace}/{name}", base.trim_end_matches('/'))
}

/// `namespace` and `name` of the compound a request path names.
pub fn compound_of(path: &str) -> Option<(&str, &str)> {
    let (namespace, name) = path.strip_prefix(PREFIX)?.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/');
    (valid(namespace) && valid(name)).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_paths() {
        let cases = [
            ("/mcp/compound/team-a/tools", Some(("team-a", "tools"))),
            ("/mcp/compound/team-a/", None),
            ("/mcp/compound//tools", None),
            ("/mcp/compound/team-a/tools/extra", None),
            ("/mcp/other/team-a/tools", None),
        ];
        for (path, expected) in cases {
            assert_eq!(compound_of(path), expected, "{path}");
        }
    }
}
