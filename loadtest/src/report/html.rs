//! The self-contained HTML report: inline SVG charts, inline CSS, no
//! scripts and no external URLs (gateway URLs are shown without scheme).

use std::fmt::Write as _;
use std::path::Path;

use super::table;
use super::{GatewayReport, RunReport};
use crate::stats::leak::{LeakAnalysis, MB};

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text (none when empty).
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// Dashed stroke.
    pub dashed: bool,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// Escapes text for HTML, and drops URL schemes so the page links nowhere.
pub fn escape(s: &str) -> String {
    let s = s
        .replace("https://", "")
        .replace("http://", "")
        .replace("ws://", "");
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders a line chart as an inline `<svg>` element.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, lines: &[Line]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 300.0;
    const L: f64 = 70.0;
    const R: f64 = 150.0;
    const T: f64 = 30.0;
    const B: f64 = 40.0;
    let pts = lines
        .iter()
        .flat_map(|l| l.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{t}</title><text x="{L}" y="18" class="t">{t}</text>"#,
        t = escape(title)
    );
    if x0 > x1 {
        svg.push_str(r#"<text x="100" y="150">no data</text></svg>"#);
        return svg;
    }
    // Start the y axis at zero unless the data sit far above it (RSS).
    if y0 >= 0.0 && y0 < 0.3 * y1 {
        y0 = 0.0;
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let pw = W - L - R;
    let ph = H - T - B;
    let sx = |x: f64| L + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| T + ph - (y - y0) / (y1 - y0) * ph;
    let _ = write!(
        svg,
        r##"<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
    for i in 0..=4 {
        let fy = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let fx = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{L}" x2="{xr}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{tx}" y="{ty}" class="a" text-anchor="end">{fy:.3}</text><text x="{x}" y="{bx}" class="a" text-anchor="middle">{fx:.1}</text>"##,
            xr = L + pw,
            y = sy(fy),
            tx = L - 4.0,
            ty = sy(fy) + 4.0,
            x = sx(fx),
            bx = T + ph + 16.0,
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{cx}" y="{by}" class="a" text-anchor="middle">{xl}</text><text x="14" y="{cy}" class="a" transform="rotate(-90 14 {cy})" text-anchor="middle">{yl}</text>"#,
        cx = L + pw / 2.0,
        by = H - 4.0,
        cy = T + ph / 2.0,
        xl = escape(x_label),
        yl = escape(y_label),
    );
    for l in lines {
        let path: Vec<String> = l
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if l.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.5"{dash} points="{p}"/>"#,
            c = l.color,
            p = path.join(" "),
        );
    }
    for (i, l) in lines.iter().filter(|l| !l.name.is_empty()).enumerate() {
        let dash = if l.dashed {
            r#" stroke-dasharray="4 2""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<line x1="{lx}" x2="{lx2}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="3"{dash}/><text x="{tx}" y="{ty}" class="a">{n}</text>"#,
            c = l.color,
            lx = L + pw + 8.0,
            lx2 = L + pw + 22.0,
            ly = T + 10.0 + 16.0 * i as f64,
            tx = L + pw + 26.0,
            ty = T + 14.0 + 16.0 * i as f64,
            n = escape(&l.name),
        );
    }
    svg.push_str("</svg>");
    svg
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

fn charts(r: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    let lat = |f: fn(&crate::stats::histogram::Percentiles) -> f64| -> Vec<(f64, f64)> {
        r.series
            .iter()
            .filter_map(|p| p.latency.as_ref().map(|l| (p.t_s, f(l))))
            .collect()
    };
    let lat_lines = vec![
        Line {
            name: "p50".into(),
            color: COLORS[0],
            dashed: false,
            points: lat(|l| l.p50_ms),
        },
        Line {
            name: "p90".into(),
            color: COLORS[1],
            dashed: false,
            points: lat(|l| l.p90_ms),
        },
        Line {
            name: "p99".into(),
            color: COLORS[2],
            dashed: false,
            points: lat(|l| l.p99_ms),
        },
        Line {
            name: "p99.9".into(),
            color: COLORS[3],
            dashed: false,
            points: lat(|l| l.p999_ms),
        },
    ];
    if lat_lines.iter().any(|l| !l.points.is_empty()) {
        out.push(line_chart(
            "Delivery latency percentiles",
            "seconds",
            "ms",
            &lat_lines,
        ));
    }
    let rate = vec![
        Line {
            name: "deliveries/s".into(),
            color: COLORS[0],
            dashed: false,
            points: r
                .series
                .iter()
                .map(|p| (p.t_s, p.deliveries_per_s))
                .collect(),
        },
        Line {
            name: "published/s".into(),
            color: COLORS[1],
            dashed: false,
            points: r
                .series
                .iter()
                .map(|p| (p.t_s, p.published_per_s))
                .collect(),
        },
    ];
    out.push(line_chart("Throughput", "seconds", "per second", &rate));
    let conns = vec![Line {
        name: "connected".into(),
        color: COLORS[2],
        dashed: false,
        points: r
            .series
            .iter()
            .map(|p| (p.t_s, p.connected as f64))
            .collect(),
    }];
    out.push(line_chart(
        "Open connections",
        "seconds",
        "connections",
        &conns,
    ));
    for g in &r.gateways {
        if let Some(c) = memory_chart(g) {
            out.push(c);
        }
    }
    if let Some(s) = r.soak.as_ref().filter(|s| !s.loadavg.is_empty()) {
        let (t0, t1) = (s.loadavg[0].0, s.loadavg[s.loadavg.len() - 1].0);
        let limit = s.contention.load_limit;
        out.push(line_chart(
            "Machine load (1-minute load average)",
            "seconds",
            "load",
            &[
                Line {
                    name: "load average".into(),
                    color: COLORS[4],
                    dashed: false,
                    points: s.loadavg.clone(),
                },
                Line {
                    name: format!("contended above {limit:.1}"),
                    color: COLORS[3],
                    dashed: true,
                    points: vec![(t0, limit), (t1, limit)],
                },
            ],
        ));
    }
    out
}

/// The fitted lines of `l` (whole post-warm-up fit dashed, each window's
/// fit dashed without a legend), over the times of `samples`.
fn fit_lines(
    l: &LeakAnalysis,
    samples: &[(f64, f64)],
    color: &'static str,
    name: &str,
) -> Vec<Line> {
    let mut out = Vec::new();
    let after: Vec<f64> = samples.iter().skip(l.discarded).map(|p| p.0).collect();
    if let (Some(f), Some(&a), Some(&b)) = (l.fit, after.first(), after.last()) {
        let y = |t: f64| f.intercept + f.slope * t / 3600.0;
        out.push(Line {
            name: format!("{name} fit {:.3} MB/h", f.slope),
            color,
            dashed: true,
            points: vec![(a, y(a)), (b, y(b))],
        });
    }
    for w in &l.windows {
        if let (Some(s), Some(i)) = (w.slope_mb_per_hour, w.intercept_mb) {
            let y = |t: f64| i + s * t / 3600.0;
            out.push(Line {
                name: String::new(),
                color,
                dashed: true,
                points: vec![(w.t_start_s, y(w.t_start_s)), (w.t_end_s, y(w.t_end_s))],
            });
        }
    }
    out
}

/// Heap and RSS of one gateway over time with the fitted slopes (soak).
fn memory_chart(g: &GatewayReport) -> Option<String> {
    if g.rss_samples.is_empty() && g.heap_samples.is_empty() {
        return None;
    }
    let mb =
        |s: &[(f64, f64)]| -> Vec<(f64, f64)> { s.iter().map(|&(t, b)| (t, b / MB)).collect() };
    let mut lines = Vec::new();
    for (name, color, samples) in [
        ("RSS", COLORS[0], &g.rss_samples),
        ("live heap", COLORS[2], &g.heap_samples),
        ("heap resident", COLORS[5], &g.heap_resident_samples),
    ] {
        if !samples.is_empty() {
            lines.push(Line {
                name: name.into(),
                color,
                dashed: false,
                points: mb(samples),
            });
        }
    }
    for l in [&g.leak, &g.rss_leak].into_iter().flatten() {
        let (color, samples) = match l.signal {
            crate::stats::leak::Signal::Heap => (COLORS[2], &g.heap_samples),
            crate::stats::leak::Signal::Rss => (COLORS[0], &g.rss_samples),
        };
        lines.extend(fit_lines(l, samples, color, l.signal.label()));
    }
    Some(line_chart(
        &format!("Gateway {} memory", g.admin),
        "seconds",
        "MB",
        &lines,
    ))
}

/// Renders the whole page.
pub fn render(r: &RunReport) -> String {
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Herald load test</title><style>\
         body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow-x:auto}\
         svg{display:block;margin:1em 0}.t{font-weight:bold;font-size:14px}.a{font-size:11px;fill:#444}\
         td{padding:2px 10px}.warn{background:#fde2e1;border:1px solid #d62728;padding:.6em}</style></head><body>",
    );
    let _ = write!(page, "<h1>Herald load test: {}</h1>", escape(&r.scenario));
    if r.saturated {
        let reasons = r
            .loadgen
            .as_ref()
            .map(|l| l.reasons.join("; "))
            .unwrap_or_default();
        let _ = write!(
            page,
            "<p class=\"warn\"><b>saturated: true</b> — the load generator, not the gateway, was the limit: {}. Latency figures are partly the client's.</p>",
            escape(&reasons)
        );
    }
    if let Some(s) = &r.soak {
        let _ = write!(
            page,
            "<h2>Soak verdict: {}</h2><p>{}</p><p><b>Rule.</b> {}</p><p><b>Machine.</b> {}</p>",
            s.verdict.word(),
            escape(&s.reason),
            escape(&s.rule),
            escape(&s.contention.describe())
        );
        for g in r
            .gateways
            .iter()
            .filter_map(|g| g.retention.as_ref().map(|n| (&g.admin, n)))
        {
            let _ = write!(page, "<p><b>{}.</b> {}</p>", escape(g.0), escape(g.1));
        }
    }
    let _ = write!(page, "<pre>{}</pre>", escape(&table::render(r)));
    page.push_str("<h2>Charts</h2>");
    for c in charts(r) {
        page.push_str(&c);
    }
    page.push_str("<h2>Parameters</h2><table>");
    for (k, v) in &r.params {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    page.push_str("</table></body></html>\n");
    page
}

/// Writes the page to `path`.
///
/// # Errors
/// The I/O error.
pub fn write(r: &RunReport, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::SeriesPoint;
    use crate::report::GatewayReport;
    use crate::stats::histogram::Percentiles;
    use crate::stats::leak::{LeakRule, Signal, analyse};

    #[test]
    fn the_page_has_charts_and_no_external_urls() {
        let series = (0..10)
            .map(|i| SeriesPoint {
                t_s: f64::from(i),
                connected: 100,
                connect_fail: 0,
                deliveries_per_s: 1000.0,
                published_per_s: 10.0,
                latency: Some(Percentiles {
                    count: 5,
                    p50_ms: 1.0,
                    p99_ms: 3.0 + f64::from(i),
                    ..Percentiles::default()
                }),
            })
            .collect();
        let samples: Vec<(f64, f64)> = (0..20)
            .map(|i| (f64::from(i) * 60.0, 1e8 + f64::from(i) * 1e5))
            .collect();
        let r = RunReport {
            scenario: "soak <script>".into(),
            params: vec![
                ("admin".into(), "http://127.0.0.1:9090".into()),
                ("url".into(), "ws://127.0.0.1:8080/ws".into()),
            ],
            series,
            gateways: vec![GatewayReport {
                admin: "http://127.0.0.1:9090".into(),
                leak: Some(analyse(
                    &samples,
                    Signal::Rss,
                    &LeakRule {
                        threshold_mb_per_hour: 0.5,
                        warmup_s: 0.0,
                        windows: 3,
                    },
                )),
                rss_samples: samples,
                ..GatewayReport::default()
            }],
            ..RunReport::default()
        };
        let html = render(&r);
        assert!(
            html.matches("<svg").count() >= 4,
            "latency, throughput, connections, memory"
        );
        assert!(html.contains("RSS fit"), "the fitted slope is named");
        assert!(
            html.contains("stroke-dasharray"),
            "the regression line is drawn"
        );
        assert!(!html.contains("http"), "no URLs at all");
        assert!(!html.contains("ws://"));
        assert!(!html.contains("<script>"), "text is escaped");
        assert!(html.contains("127.0.0.1:9090"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(line_chart("x", "s", "y", &[]).contains("no data"));
    }
}
