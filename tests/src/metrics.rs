//! Reading Prometheus pages the binaries serve: a scrape, one sample, a sum over replicas.

/// GETs a `/metrics` page: 200, OpenMetrics text.
pub async fn scrape(url: &str) -> String {
    let response = reqwest::get(url)
        .await
        .expect("the metrics endpoint answers");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample whose name and labels are `series` exactly, if the page has it.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The sum over `pages` of the sample `series` (name and labels exactly as exported).
pub fn summed(pages: &[String], series: &str) -> f64 {
    pages.iter().filter_map(|page| sample(page, series)).sum()
}
