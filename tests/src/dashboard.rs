//! The Grafana dashboard the chart ships (`charts/agentarea/dashboards/agentarea.json`), read from
//! the repository: its PromQL expressions and the metric families they name, so tests can check
//! them against the families the binaries are meant to serve and the ones a live scrape shows.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::repo_root;

/// The dashboard's file in the repository.
pub fn dashboard_path() -> PathBuf {
    repo_root().join("charts/agentarea/dashboards/agentarea.json")
}

/// The dashboard, parsed.
pub fn dashboard() -> Value {
    let path = dashboard_path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()))
}

/// Every PromQL expression of `dashboard`: the `expr` of each panel's targets (panels nested in
/// collapsed rows included) and the query of each query template variable.
pub fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut exprs = Vec::new();
    panels(&dashboard["panels"], &mut exprs);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] == "query" {
            let query = &variable["query"];
            if let Some(text) = query.as_str().or_else(|| query["query"].as_str()) {
                exprs.push(text.to_string());
            }
        }
    }
    exprs
}

/// The family a sample name belongs to, as the samples of a scrape name it: a histogram's
/// `_bucket`, `_count` and `_sum` series stripped to the histogram's name; counters keep `_total`.
pub fn metric_family(sample: &str) -> &str {
    ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| sample.strip_suffix(suffix))
        .unwrap_or(sample)
}

/// The AgentArea metric names `expr` uses, as written (every `agentarea_[a-z_]+`, in order).
pub fn metric_names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("agentarea_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The metric families `expr` uses: [`metric_names_in`], each reduced by [`metric_family`].
pub fn metric_families_in(expr: &str) -> BTreeSet<String> {
    metric_names_in(expr)
        .iter()
        .map(|name| metric_family(name).to_string())
        .collect()
}

/// The metric families the shipped dashboard's expressions use, e.g.
/// `agentarea_operator_reconciles_total` or `agentarea_api_http_request_duration_seconds`.
pub fn dashboard_metric_families() -> BTreeSet<String> {
    dashboard_exprs(&dashboard())
        .iter()
        .flat_map(|expr| metric_families_in(expr))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_scanned_and_reduced_to_their_family() {
        let expr = "histogram_quantile(0.95, sum by (le) (rate(agentarea_api_x_seconds_bucket[5m]))) \
                    / sum(agentarea_operator_y_total{kind=\"x\"}) + agentarea_z_sum";
        assert_eq!(
            metric_families_in(expr),
            BTreeSet::from([
                "agentarea_api_x_seconds".to_string(),
                "agentarea_operator_y_total".to_string(),
                "agentarea_z".to_string(),
            ])
        );
        assert_eq!(metric_family("a_total"), "a_total");
        assert_eq!(metric_family("a_count"), "a");
    }
}
