//! The shipped Grafana dashboard queries metrics the services really export,
//! with the type each query needs (`histogram_quantile` needs `_bucket`
//! series, which only histograms have).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crmerp_testkit::paths::workspace_root;
use crmerp_testkit::{Stack, StackOptions};

const DASHBOARD: &str = "deploy/grafana/crmerp-overview.json";

/// What the code exports, by metric name: `counter`, `gauge` or `histogram`,
/// read from the `metrics` macro calls in `crates/` and `services/`.
fn exported_metrics(root: &Path) -> BTreeMap<String, &'static str> {
    let mut found = BTreeMap::new();
    for dir in ["crates", "services"] {
        scan(&root.join(dir), &mut found);
    }
    found
}

fn scan(dir: &Path, found: &mut BTreeMap<String, &'static str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // Macro calls may wrap: compare without whitespace.
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            for (kind, call) in [
                ("counter", "counter!(\""),
                ("gauge", "gauge!(\""),
                ("histogram", "histogram!(\""),
            ] {
                for (at, _) in compact.match_indices(call) {
                    let name: String = compact[at + call.len()..]
                        .chars()
                        .take_while(|c| *c != '"')
                        .collect();
                    found.insert(name, kind);
                }
            }
        }
    }
}

/// Every `crmerp_*` series name in the dashboard's queries.
fn dashboard_series(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(DASHBOARD)).expect("dashboard readable");
    let mut names: Vec<String> = text
        .match_indices("crmerp_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_dashboard_query_names_an_exported_metric_of_the_right_type() {
    let root: PathBuf = workspace_root();
    let exported = exported_metrics(&root);
    assert!(
        exported.contains_key("crmerp_flow_events_total"),
        "the scan finds the flow's counters: {exported:?}"
    );
    let series = dashboard_series(&root);
    assert!(!series.is_empty(), "the dashboard queries something");
    for name in series {
        let histogram_part = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix));
        match histogram_part {
            Some(base) if exported.get(base) == Some(&"histogram") => {
                // Buckets exist only for the exporter's `*_seconds` histograms.
                assert!(
                    !name.ends_with("_bucket") || base.ends_with("_seconds"),
                    "{name}: the exporter sets buckets only for *_seconds histograms"
                );
            }
            _ => assert!(
                matches!(exported.get(&name), Some(&"counter" | &"gauge")),
                "{name} is queried by {DASHBOARD} but not exported as a counter or gauge \
                 (exported: {exported:?})"
            ),
        }
    }
}

#[tokio::test]
async fn a_processed_deal_exports_the_latency_histograms_the_dashboard_needs() -> anyhow::Result<()>
{
    let stack = Stack::start(StackOptions::default()).await?;
    stack
        .win_new_deal("Dashboard", Duration::from_secs(60))
        .await?;
    let worker = stack
        .worker
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no worker"))?;
    let url = format!("http://{}/metrics", worker.listener("admin")?);
    let body = reqwest::get(&url).await?.text().await?;
    for histogram in [
        "crmerp_flow_processing_seconds",
        "crmerp_vendor_call_seconds",
    ] {
        assert!(
            body.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is a histogram:\n{body}"
        );
        assert!(
            body.contains(&format!("{histogram}_bucket{{")),
            "{histogram} has buckets:\n{body}"
        );
    }
    Ok(())
}
