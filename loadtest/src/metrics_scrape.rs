//! Reading a gateway's `/metrics` (Prometheus text format).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The RSS metric every process exporter publishes.
pub const RSS_METRIC: &str = "process_resident_memory_bytes";
/// The CPU counter every process exporter publishes.
pub const CPU_METRIC: &str = "process_cpu_seconds_total";
/// The gateway's open-connections gauge.
pub const CONNECTIONS_METRIC: &str = "herald_gateway_connections";
/// Live heap: bytes the allocator has handed out and not had back (jemalloc
/// `stats.allocated`).
pub const HEAP_ALLOCATED_METRIC: &str = "herald_process_heap_allocated_bytes";
/// Heap pages the allocator holds resident (jemalloc `stats.resident`).
pub const HEAP_RESIDENT_METRIC: &str = "herald_process_heap_resident_bytes";
/// Memory the allocator keeps mapped for reuse (jemalloc `stats.retained`).
pub const HEAP_RETAINED_METRIC: &str = "herald_process_heap_retained_bytes";

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed or returned a non-2xx status.
    #[error("GET {0}: {1}")]
    Http(String, String),
}

/// One scrape of one gateway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct GatewaySample {
    /// Resident memory in bytes, if exported.
    pub rss_bytes: Option<f64>,
    /// Open connections, if exported.
    pub connections: Option<f64>,
    /// CPU seconds (user + system) the process used so far, if exported.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Live heap bytes, if exported.
    #[serde(default)]
    pub heap_allocated_bytes: Option<f64>,
    /// Allocator-resident bytes, if exported.
    #[serde(default)]
    pub heap_resident_bytes: Option<f64>,
    /// Allocator-retained bytes, if exported.
    #[serde(default)]
    pub heap_retained_bytes: Option<f64>,
}

/// The sum of every sample of metric `name` (all label sets), or `None`
/// when the text has no sample of it.
pub fn parse_metric(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || !line.starts_with(name) {
            continue;
        }
        let rest = &line[name.len()..];
        let rest = if let Some(after) = rest.strip_prefix('{') {
            match closing_brace(after) {
                Some(i) => &after[i + 1..],
                None => continue,
            }
        } else if rest.starts_with(' ') || rest.starts_with('\t') {
            rest
        } else {
            // A longer metric name sharing the prefix.
            continue;
        };
        let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        *total.get_or_insert(0.0) += value;
    }
    total
}

/// The index of the `}` that closes a label set, skipping quoted values.
fn closing_brace(s: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '}' if !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// Scrapes `admin` (`http://host:port`) once.
///
/// # Errors
/// [`ScrapeError`] when the gateway cannot be reached.
pub async fn scrape(http: &reqwest::Client, admin: &str) -> Result<GatewaySample, ScrapeError> {
    let url = format!("{}/metrics", admin.trim_end_matches('/'));
    let err = |e: String| ScrapeError::Http(url.clone(), e);
    let resp = http
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    let text = resp.text().await.map_err(|e| err(e.to_string()))?;
    Ok(parse_sample(&text))
}

/// The sample in a `/metrics` text.
pub fn parse_sample(text: &str) -> GatewaySample {
    GatewaySample {
        rss_bytes: parse_metric(text, RSS_METRIC),
        connections: parse_metric(text, CONNECTIONS_METRIC),
        cpu_seconds: parse_metric(text, CPU_METRIC),
        heap_allocated_bytes: parse_metric(text, HEAP_ALLOCATED_METRIC),
        heap_resident_bytes: parse_metric(text, HEAP_RESIDENT_METRIC),
        heap_retained_bytes: parse_metric(text, HEAP_RETAINED_METRIC),
    }
}

/// Scrapes every admin URL; a failed scrape is tried once more (a pooled
/// keep-alive connection the server just closed fails the first send),
/// then becomes an empty sample.
pub async fn scrape_all(http: &reqwest::Client, admins: &[String]) -> Vec<GatewaySample> {
    let futs = admins.iter().map(|a| async move {
        match scrape(http, a).await {
            Ok(s) => s,
            Err(first) => scrape(http, a).await.unwrap_or_else(|e| {
                tracing::warn!("{first}; retry: {e}");
                GatewaySample::default()
            }),
        }
    });
    futures_util::future::join_all(futs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP process_resident_memory_bytes Resident memory.\n\
        # TYPE process_resident_memory_bytes gauge\n\
        process_resident_memory_bytes 1.2345e8\n\
        process_resident_memory_bytes_total 99\n\
        herald_gateway_connections{transport=\"native\"} 100\n\
        herald_gateway_connections{transport=\"socketio\",x=\"}\"} 20 1732850000000\n\
        herald_gateway_connections_total 5\n";

    #[test]
    fn sums_label_sets_and_ignores_prefixed_names() {
        assert_eq!(parse_metric(TEXT, RSS_METRIC), Some(1.2345e8));
        assert_eq!(parse_metric(TEXT, CONNECTIONS_METRIC), Some(120.0));
        assert_eq!(parse_metric(TEXT, "absent"), None);
        assert_eq!(
            parse_metric(
                "garbage {{{ \n process_resident_memory_bytes abc",
                RSS_METRIC
            ),
            None
        );
    }

    #[test]
    fn heap_metrics_are_read_when_present_and_absent_otherwise() {
        let with = format!(
            "{TEXT}# TYPE herald_process_heap_allocated_bytes gauge\n\
             herald_process_heap_allocated_bytes 11400000\n\
             herald_process_heap_resident_bytes 20000000\n\
             herald_process_heap_retained_bytes 5e6\n"
        );
        let s = parse_sample(&with);
        assert_eq!(s.heap_allocated_bytes, Some(11.4e6));
        assert_eq!(s.heap_resident_bytes, Some(20e6));
        assert_eq!(s.heap_retained_bytes, Some(5e6));
        assert_eq!(s.rss_bytes, Some(1.2345e8));
        let without = parse_sample(TEXT);
        assert!(without.heap_allocated_bytes.is_none() && without.heap_retained_bytes.is_none());
        // Older reports without the fields still parse.
        let old: GatewaySample =
            serde_json::from_str(r#"{"rss_bytes":1.0,"connections":null}"#).unwrap();
        assert_eq!(old.rss_bytes, Some(1.0));
    }
}
