//! The plain-text summary printed on stdout.

use std::fmt::Write as _;

use super::RunReport;
use crate::stats::histogram::Percentiles;
use crate::stats::leak::{LeakAnalysis, LeakVerdict};

/// `slope 0.012 MB/h [95% CI …] n=…, windows a/b/c MB/h -> PASS`.
fn leak_text(l: &LeakAnalysis) -> String {
    let windows = l.window_slopes();
    match l.fit {
        Some(f) => format!(
            "{} slope {:.3} MB/h [95% CI {:.3}, {:.3}] n={}, windows {windows} MB/h -> {}",
            l.signal.label(),
            f.slope,
            f.ci_low,
            f.ci_high,
            f.n,
            l.verdict.word()
        ),
        None => format!("{} -> {}", l.signal.label(), l.verdict.word()),
    }
}

fn pct(p: &Percentiles) -> String {
    format!(
        "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
    )
}

/// Renders the summary table.
pub fn render(r: &RunReport) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
    row("scenario", r.scenario.clone());
    row("duration", format!("{:.1}s", r.duration_s));
    let c = &r.counters;
    row(
        "connects",
        format!(
            "ok={} failed={} attempts={}",
            c.connect_ok, c.connect_fail, c.attempts
        ),
    );
    row(
        "disconnects",
        format!("by gateway={} by client={}", c.disconnects, c.client_closes),
    );
    if c.recovered + c.not_recovered > 0 {
        row(
            "resubscribes",
            format!(
                "recovered={} not recovered={}",
                c.recovered, c.not_recovered
            ),
        );
    }
    if let Some(p) = &r.connect_latency {
        row("connect latency", pct(p));
    }
    if let Some(p) = &r.latency {
        row("delivery latency", pct(p));
    }
    if let Some(p) = &r.recovery {
        row("recovery time", pct(p));
    }
    if let Some(d) = r.deliveries_per_s {
        row("deliveries/s", format!("{d:.0}"));
    }
    if let Some(c) = r.server_cpu_seconds {
        row("server CPU", format!("{c:.2}s while publishing"));
    }
    if let Some(d) = r.deliveries_per_cpu_second {
        row("deliveries/CPU-s", format!("{d:.0}"));
    }
    if let Some(p) = &r.publisher {
        row(
            "published",
            format!("ok={} errors={} batches={}", p.sent, p.errors, p.batches),
        );
    }
    if let Some(k) = &r.check {
        row(
            "delivery check",
            format!(
                "streams={} expected={} delivered={} missing={} dups={} out-of-order={} seq-mismatch={} resets={} snapshots={}",
                k.streams,
                k.expected,
                k.delivered,
                k.missing,
                k.duplicates,
                k.out_of_order,
                k.seq_mismatches,
                k.resets,
                k.snapshots
            ),
        );
    }
    for g in &r.gateways {
        let mb = |b: Option<f64>| b.map_or("-".to_owned(), |b| format!("{:.1}MB", b / 1e6));
        let mut v = format!(
            "rss {} -> {}",
            mb(g.before.rss_bytes),
            mb(g.after.rss_bytes)
        );
        if let Some(b) = g.rss_per_connection_bytes {
            let _ = write!(v, ", {:.1} KB/conn", b / 1000.0);
        }
        if let (Some(a), Some(b)) = (g.heap_samples.first(), g.heap_samples.last()) {
            let _ = write!(v, ", heap {:.2}MB -> {:.2}MB", a.1 / 1e6, b.1 / 1e6);
        }
        if let Some(l) = &g.leak {
            let _ = write!(v, "; {}", leak_text(l));
        }
        if let Some(l) = &g.rss_leak {
            let _ = write!(v, "; {}", leak_text(l));
        }
        row(&format!("gateway {}", g.admin), v);
        if let Some(n) = &g.retention {
            row(&format!("gateway {} RSS", g.admin), n.clone());
        }
    }
    if let Some(b) = r.rss_per_connection_bytes {
        row("rss per connection", format!("{:.1} KB", b / 1000.0));
    }
    for (k, v) in &r.notes {
        row(k, v.clone());
    }
    if let Some(l) = &r.loadgen {
        row("load generator", l.describe());
    }
    if r.loadgen.is_some() || r.saturated {
        let reasons = r
            .loadgen
            .as_ref()
            .map(|l| l.reasons.join("; "))
            .unwrap_or_default();
        row(
            "saturated",
            if r.saturated {
                format!("true: {reasons} (latency figures are partly the client's)")
            } else {
                "false".to_owned()
            },
        );
    }
    let mut inconclusive = None;
    if let Some(s) = &r.soak {
        row("leak rule", s.rule.clone());
        row("machine load", s.contention.describe());
        row(
            "soak samples",
            format!(
                "{} per gateway, stored as {} point(s) each",
                s.samples,
                if s.stride == 1 {
                    "one".to_owned()
                } else {
                    format!("{}-sample", s.stride)
                }
            ),
        );
        row(
            "soak verdict",
            format!("{}: {}", s.verdict.word(), s.reason),
        );
        if s.verdict == LeakVerdict::Inconclusive {
            inconclusive = Some(s.reason.clone());
        }
    }
    row(
        "result",
        match (r.failures.is_empty(), inconclusive) {
            (true, Some(why)) => format!("INCONCLUSIVE: {why}"),
            (true, None) => "PASS".to_owned(),
            (false, _) => format!("FAIL: {}", r.failures.join("; ")),
        },
    );
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_failures_and_latency() {
        let r = RunReport {
            scenario: "fanout".into(),
            latency: Some(Percentiles {
                count: 3,
                p99_ms: 4.5,
                ..Percentiles::default()
            }),
            failures: vec!["3 messages missing".into()],
            ..RunReport::default()
        };
        let t = render(&r);
        assert!(t.contains("p99=4.50ms"), "{t}");
        assert!(t.contains("FAIL: 3 messages missing"), "{t}");
    }
}
