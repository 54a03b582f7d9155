//! Metric names referenced by PromQL, in single expressions and across the
//! `grafana/` package (dashboards and alerting rules).
//!
//! Herald's metric names are a public contract: [`HERALD_METRICS`] lists
//! them. The tests of this module parse every dashboard query and every rule
//! with a real PromQL parser and fail when one names a metric outside the
//! contract, so a typo in a dashboard or a renamed metric is caught before
//! it ships as an empty panel or a silent alert.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};

/// Every metric a Herald binary exports (histograms by their base name).
pub const HERALD_METRICS: &[&str] = &[
    // Gateway.
    "herald_gateway_connections",
    "herald_gateway_connections_accepted_total",
    "herald_gateway_disconnects_total",
    "herald_gateway_rooms",
    "herald_gateway_subscriptions",
    "herald_gateway_messages_delivered_total",
    "herald_gateway_slow_consumer_disconnects_total",
    "herald_gateway_fanout_seconds",
    "herald_gateway_bus_lag_seconds",
    "herald_end_to_end_lag_seconds",
    "herald_gateway_publishes_total",
    "herald_gateway_publish_errors_total",
    "herald_gateway_bus_up",
    "herald_gateway_bus_last_delivery_timestamp_seconds",
    "herald_gateway_client_errors_total",
    "herald_gateway_auth_refusals_total",
    "herald_gateway_backend_requests_total",
    "herald_gateway_ip_limit_refusals_total",
    "herald_gateway_subscribe_rate_refusals_total",
    "herald_gateway_pending_http_refusals_total",
    "herald_gateway_pending_http_connections",
    "herald_gateway_presence_events_total",
    "herald_gateway_quic_listener_up",
    "herald_gateway_quic_handshake_failures_total",
    "herald_gateway_quic_retries_total",
    "herald_gateway_tls_reloads_total",
    "herald_gateway_jwks_fetches_total",
    "herald_bus_invalid_frames_total",
    // Router.
    "herald_router_lag_seconds",
    "herald_router_events_total",
    "herald_router_publish_seconds",
    "herald_router_checkpoint_age_seconds",
    "herald_router_leader",
    "herald_router_resyncs_total",
    "herald_router_skipped_events_total",
    // Every process.
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "herald_process_heap_allocated_bytes",
    "herald_process_heap_resident_bytes",
    "herald_process_heap_retained_bytes",
    "herald_build_info",
];

/// The members of [`HERALD_METRICS`] that are histograms, exported as
/// `<name>_bucket`, `<name>_sum` and `<name>_count` series.
pub const HERALD_HISTOGRAMS: &[&str] = &[
    "herald_gateway_fanout_seconds",
    "herald_gateway_bus_lag_seconds",
    "herald_end_to_end_lag_seconds",
    "herald_router_publish_seconds",
];

/// Series Prometheus itself attaches to every scrape target.
pub const PROMETHEUS_GENERATED_METRICS: &[&str] = &["up"];

/// Whether `name` is a series the contract promises: a Herald metric, a
/// `_bucket`/`_sum`/`_count` series of a Herald histogram, or a series
/// Prometheus generates per target.
pub fn is_contract_metric(name: &str) -> bool {
    if HERALD_METRICS.contains(&name) || PROMETHEUS_GENERATED_METRICS.contains(&name) {
        return true;
    }
    let base = base_metric_name(name);
    base != name && HERALD_HISTOGRAMS.contains(&base)
}

/// Strips one histogram series suffix (`_bucket`, `_sum` or `_count`) from
/// `name`, giving the histogram's base name. Other names come back as they
/// are. This is purely textual: use [`is_contract_metric`] to know whether
/// the base really is a histogram.
pub fn base_metric_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|base| !base.is_empty())
        .unwrap_or(name)
}

/// Parses a PromQL expression and returns the metric names of all its
/// vector and matrix selectors, whether given as `name{...}` or as a
/// `{__name__="name"}` matcher.
///
/// # Errors
///
/// Returns the parser's message when `expr` is not valid PromQL, and an
/// error for a selector whose metric name is not fixed (for example
/// `{__name__=~"herald_.*"}`), since its names cannot be checked.
pub fn metric_names_in_expr(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr).map_err(|e| format!("invalid PromQL `{expr}`: {e}"))?;
    let mut names = BTreeSet::new();
    collect_names(&ast, &mut names)?;
    Ok(names)
}

/// Walks the AST, adding selector metric names to `out`.
fn collect_names(expr: &Expr, out: &mut BTreeSet<String>) -> Result<(), String> {
    match expr {
        Expr::Aggregate(agg) => {
            collect_names(&agg.expr, out)?;
            if let Some(param) = &agg.param {
                collect_names(param, out)?;
            }
        }
        Expr::Unary(unary) => collect_names(&unary.expr, out)?,
        Expr::Binary(binary) => {
            collect_names(&binary.lhs, out)?;
            collect_names(&binary.rhs, out)?;
        }
        Expr::Paren(paren) => collect_names(&paren.expr, out)?,
        Expr::Subquery(sub) => collect_names(&sub.expr, out)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(vs) => selector_names(vs, out)?,
        Expr::MatrixSelector(ms) => selector_names(&ms.vs, out)?,
        Expr::Call(call) => {
            for arg in &call.args.args {
                collect_names(arg, out)?;
            }
        }
        Expr::Extension(ext) => {
            for child in ext.expr.children() {
                collect_names(child, out)?;
            }
        }
    }
    Ok(())
}

/// The `__name__="..."` values among `matchers`.
fn equal_name_matchers(matchers: &[Matcher]) -> impl Iterator<Item = &str> {
    matchers
        .iter()
        .filter(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.as_str())
}

/// Adds the metric names one selector can match to `out`.
fn selector_names(vs: &VectorSelector, out: &mut BTreeSet<String>) -> Result<(), String> {
    let mut named = false;
    if let Some(name) = &vs.name {
        out.insert(name.clone());
        named = true;
    }
    for name in equal_name_matchers(&vs.matchers.matchers) {
        out.insert(name.to_owned());
        named = true;
    }
    // `{a="1" or b="2"}`: each alternative must fix the name on its own
    // unless the shared part already does.
    let mut every_group_named = !vs.matchers.or_matchers.is_empty();
    for group in &vs.matchers.or_matchers {
        let mut group_named = false;
        for name in equal_name_matchers(group) {
            out.insert(name.to_owned());
            group_named = true;
        }
        every_group_named &= group_named;
    }
    if named || every_group_named {
        Ok(())
    } else {
        Err(format!(
            "selector `{vs}` does not fix its metric name (use `name{{...}}` or \
             `{{__name__=\"name\"}}`), so the names it matches cannot be checked"
        ))
    }
}

/// Replaces Grafana template variables in a panel query with values that
/// keep it valid PromQL: interval variables (`$__rate_interval`,
/// `$__interval`, `$__range`, ...) become `5m`, millisecond or second
/// counts (`$__interval_ms`, `$__range_s`) become `60`, any variable inside
/// a string literal (`instance=~"$instance"`) becomes `x`, and any other
/// variable becomes `5m` right after `[`, `:` or `offset`, and `1` elsewhere.
/// Accepts `$name`, `${name}`, `${name:format}` and `[[name]]`.
pub fn substitute_grafana_variables(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' && q != '`' {
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        }
        if let Some((name, len)) = variable_at(&chars, i) {
            out.push_str(variable_value(name.as_str(), quote.is_some(), &out));
            i += len;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Recognises a Grafana variable reference starting at `chars[i]`, returning
/// its name and length in chars.
fn variable_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    let is_ident = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    let rest = &chars[i..];
    let closed = |open: usize, close: &[char]| -> Option<(String, usize)> {
        let body = &rest[open..];
        let end = body.windows(close.len()).position(|w| w == close)?;
        let inner: String = body[..end].iter().collect();
        let name: String = inner.chars().take_while(is_ident).collect();
        (!name.is_empty()).then_some((name, open + end + close.len()))
    };
    match rest {
        ['$', '{', ..] => closed(2, &['}']),
        ['[', '[', ..] => closed(2, &[']', ']']),
        ['$', ..] => {
            let name: String = rest[1..].iter().take_while(|c| is_ident(c)).collect();
            let len = name.chars().count() + 1;
            (!name.is_empty()).then_some((name, len))
        }
        _ => None,
    }
}

/// The parseable stand-in for variable `name`; `before` is the substituted
/// text so far, used to tell a duration position from a scalar one.
fn variable_value(name: &str, in_string: bool, before: &str) -> &'static str {
    if in_string {
        return "x";
    }
    if name.starts_with("__") && (name.ends_with("_ms") || name.ends_with("_s")) {
        return "60";
    }
    let trimmed = before.trim_end();
    let duration_position = trimmed.ends_with('[')
        || trimmed.ends_with(':')
        || trimmed
            .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .is_some_and(|word| word == "offset");
    if name.starts_with("__") || duration_position {
        "5m"
    } else {
        "1"
    }
}

/// Metric name -> where it is used, for every query in a `grafana/`-style
/// directory: each Prometheus panel target `expr` of every `*.json`
/// dashboard (after [`substitute_grafana_variables`]), and each rule `expr`
/// of every `*.yml`/`*.yaml` file that has a top-level `groups` list
/// (Prometheus rule files; other YAML files are skipped). Subdirectories
/// are searched; locations are `relative/path: panel "Title" (refId A)` or
/// `relative/path: alert Name`.
///
/// # Errors
///
/// Returns an error naming the file (and panel or rule) when a file cannot
/// be read or parsed, or when a query is not valid PromQL.
pub fn metric_names_in_grafana_dir(root: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut files = Vec::new();
    list_files(root, &mut files)?;
    files.sort();
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let queries = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => dashboard_queries(&read(&path)?, &rel)?,
            Some("yml" | "yaml") => rule_queries(&read(&path)?, &rel)?,
            _ => continue,
        };
        for (location, expr) in queries {
            let names = metric_names_in_expr(&expr).map_err(|e| format!("{location}: {e}"))?;
            for name in names {
                used.entry(name).or_default().push(location.clone());
            }
        }
    }
    Ok(used)
}

/// Reads a file to a string, with the path in the error.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Collects every regular file below `dir`.
fn list_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?;
        if kind.is_dir() {
            list_files(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// `(location, substituted expr)` for every Prometheus target in a
/// dashboard JSON (a bare dashboard or an API `{"dashboard": ...}` body).
fn dashboard_queries(text: &str, rel: &str) -> Result<Vec<(String, String)>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{rel}: invalid JSON: {e}"))?;
    let dashboard = json.get("dashboard").unwrap_or(&json);
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> = Vec::new();
    for key in ["panels", "rows"] {
        if let Some(list) = dashboard.get(key).and_then(|v| v.as_array()) {
            panels.extend(list);
        }
    }
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel.get("panels").and_then(|v| v.as_array()) {
            panels.extend(nested);
        }
        let title = panel
            .get("title")
            .and_then(|v| v.as_str())
            .unwrap_or("untitled");
        let panel_ds = panel.get("datasource");
        let targets = panel.get("targets").and_then(|v| v.as_array());
        for target in targets.into_iter().flatten() {
            let ds = target.get("datasource").or(panel_ds);
            let ds_type = ds.and_then(|d| d.get("type")).and_then(|t| t.as_str());
            if ds_type.is_some_and(|t| t != "prometheus") {
                continue;
            }
            let Some(expr) = target.get("expr").and_then(|v| v.as_str()) else {
                continue;
            };
            if expr.trim().is_empty() {
                continue;
            }
            let ref_id = target.get("refId").and_then(|v| v.as_str()).unwrap_or("?");
            out.push((
                format!("{rel}: panel \"{title}\" (refId {ref_id})"),
                substitute_grafana_variables(expr),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// `(location, expr)` for every rule in a Prometheus rule file; an empty
/// list for YAML files without a top-level `groups` key.
fn rule_queries(text: &str, rel: &str) -> Result<Vec<(String, String)>, String> {
    use serde_yaml_ng::Value;
    let yaml: Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("{rel}: invalid YAML: {e}"))?;
    let Some(groups) = yaml.get("groups") else {
        return Ok(Vec::new());
    };
    let groups = groups
        .as_sequence()
        .ok_or_else(|| format!("{rel}: `groups` is not a list"))?;
    let mut out = Vec::new();
    for group in groups {
        let rules = group.get("rules").and_then(Value::as_sequence);
        for rule in rules.into_iter().flatten() {
            let label = match (rule.get("alert"), rule.get("record")) {
                (Some(Value::String(a)), _) => format!("alert {a}"),
                (_, Some(Value::String(r))) => format!("record {r}"),
                _ => "unnamed rule".to_owned(),
            };
            let location = format!("{rel}: {label}");
            let expr = match rule.get("expr") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("{location}: missing or non-string `expr`")),
            };
            out.push((location, expr));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn names(expr: &str) -> Vec<String> {
        metric_names_in_expr(expr)
            .expect("valid expression")
            .into_iter()
            .collect()
    }

    fn grafana_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana")
    }

    /// Metric names used in `dir` that the contract does not promise.
    fn outside_contract(dir: &Path) -> BTreeMap<String, Vec<String>> {
        metric_names_in_grafana_dir(dir)
            .expect("grafana dir parses")
            .into_iter()
            .filter(|(name, _)| !is_contract_metric(name))
            .collect()
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }

    fn replace_in(path: &Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(path).expect("read");
        assert!(
            text.contains(from),
            "{} does not use {from}",
            path.display()
        );
        std::fs::write(path, text.replace(from, to)).expect("write");
    }

    #[test]
    fn collects_names_through_functions_aggregations_and_binary_ops() {
        let expr = r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x"}[5m])))
            / on(job) group_left topk(3, b) + -c offset 1h
            and max_over_time((d)[10m:1m]) or vector(1)"#;
        assert_eq!(names(expr), ["a_bucket", "b", "c", "d"]);
    }

    #[test]
    fn collects_names_from_name_matchers() {
        assert_eq!(names(r#"{__name__="foo", job="x"}"#), ["foo"]);
        assert_eq!(names(r#"rate({__name__="bar_total"}[1m])"#), ["bar_total"]);
        assert_eq!(names(r#"quantile(scalar(q), baz)"#), ["baz", "q"]);
        assert_eq!(
            names(r#"{__name__="a" or __name__="b", job="x"}"#),
            ["a", "b"]
        );
        assert!(metric_names_in_expr(r#"{__name__="a" or job="x"}"#).is_err());
    }

    #[test]
    fn scalars_and_strings_name_nothing() {
        assert!(names("1 + 2 * time()").is_empty());
        assert!(names(r#"label_replace(vector(1), "a", "b", "c", ".*")"#).is_empty());
    }

    #[test]
    fn rejects_unparseable_and_unnamed_selectors() {
        let bad = metric_names_in_expr("sum(rate(foo[5m])").expect_err("unbalanced");
        assert!(bad.contains("invalid PromQL"), "{bad}");
        assert!(metric_names_in_expr("rate(foo[$__rate_interval])").is_err());
        let regex = metric_names_in_expr(r#"{__name__=~"herald_.*"}"#).expect_err("regex name");
        assert!(regex.contains("does not fix its metric name"), "{regex}");
    }

    #[test]
    fn strips_histogram_suffixes() {
        assert_eq!(
            base_metric_name("herald_gateway_fanout_seconds_bucket"),
            "herald_gateway_fanout_seconds"
        );
        assert_eq!(base_metric_name("x_sum"), "x");
        assert_eq!(base_metric_name("x_count"), "x");
        assert_eq!(
            base_metric_name("herald_gateway_rooms"),
            "herald_gateway_rooms"
        );
        assert_eq!(base_metric_name("_count"), "_count");
    }

    #[test]
    fn contract_accepts_histogram_series_only_for_histograms() {
        assert!(is_contract_metric("herald_gateway_fanout_seconds_bucket"));
        assert!(is_contract_metric("herald_router_publish_seconds_count"));
        assert!(is_contract_metric("up"));
        assert!(!is_contract_metric("herald_gateway_rooms_count"));
        assert!(!is_contract_metric("herald_gateway_fanout_second_bucket"));
    }

    #[test]
    fn substitutes_grafana_variables_by_position() {
        let expr = r#"sum by (le) (rate(m_bucket{job=~"$job", instance=~"${instance:regex}"}[$__rate_interval])) offset $shift > [[limit]]"#;
        assert_eq!(
            substitute_grafana_variables(expr),
            r#"sum by (le) (rate(m_bucket{job=~"x", instance=~"x"}[5m])) offset 5m > 1"#
        );
        assert_eq!(
            substitute_grafana_variables(r#"a{b="\"$v"} * $__range_s"#),
            r#"a{b="\"x"} * 60"#
        );
        assert_eq!(substitute_grafana_variables("price$ + $"), "price$ + $");
        assert_eq!(
            names(&substitute_grafana_variables(
                "topk($n, avg_over_time(m[$w:$__interval]))"
            )),
            ["m"]
        );
    }

    #[test]
    fn real_grafana_dir_uses_only_contract_metrics() {
        let used = metric_names_in_grafana_dir(&grafana_dir()).expect("grafana dir parses");
        // The walk really reached both the dashboard and the rules.
        let fanout = used
            .get("herald_gateway_fanout_seconds_bucket")
            .expect("fan-out used");
        assert!(
            fanout
                .iter()
                .any(|w| w.starts_with("dashboards/herald.json: panel")),
            "{fanout:?}"
        );
        assert!(
            fanout
                .iter()
                .any(|w| w.contains("alert HeraldFanoutP99High")),
            "{fanout:?}"
        );
        assert!(used.contains_key("up"), "alerts use `up`");
        let unknown = outside_contract(&grafana_dir());
        assert!(
            unknown.is_empty(),
            "metrics outside the contract: {unknown:#?}"
        );
    }

    #[test]
    fn renamed_metric_in_a_copy_is_detected() {
        let tmp = tempfile::tempdir().expect("tempdir");
        copy_dir(&grafana_dir(), tmp.path());
        replace_in(
            &tmp.path().join("dashboards/herald.json"),
            "herald_gateway_fanout_seconds_bucket",
            "herald_gateway_fanout_second_bucket",
        );
        replace_in(
            &tmp.path().join("alerts/herald-rules.yml"),
            "herald_gateway_bus_up",
            "herald_gateway_bus_is_up",
        );
        let unknown = outside_contract(tmp.path());
        assert_eq!(
            unknown.keys().collect::<Vec<_>>(),
            [
                "herald_gateway_bus_is_up",
                "herald_gateway_fanout_second_bucket"
            ]
        );
        assert!(
            unknown["herald_gateway_bus_is_up"]
                .iter()
                .all(|w| w == "alerts/herald-rules.yml: alert HeraldBusDown")
        );
        assert!(
            unknown["herald_gateway_fanout_second_bucket"]
                .iter()
                .all(|w| w.starts_with("dashboards/herald.json: panel \"Fan-out latency"))
        );
    }

    #[test]
    fn broken_query_in_a_copy_names_its_location() {
        let tmp = tempfile::tempdir().expect("tempdir");
        copy_dir(&grafana_dir(), tmp.path());
        replace_in(
            &tmp.path().join("alerts/herald-rules.yml"),
            "herald_router_lag_seconds > 5",
            "herald_router_lag_seconds >",
        );
        let err = metric_names_in_grafana_dir(tmp.path()).expect_err("broken rule");
        assert!(
            err.starts_with("alerts/herald-rules.yml: alert HeraldRouterLagHigh"),
            "{err}"
        );
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("d.json"), "{ not json").expect("write");
        let err = metric_names_in_grafana_dir(tmp.path()).expect_err("bad json");
        assert!(err.contains("d.json: invalid JSON"), "{err}");
        std::fs::remove_file(tmp.path().join("d.json")).expect("rm");
        std::fs::write(tmp.path().join("r.yml"), "groups: 3").expect("write");
        let err = metric_names_in_grafana_dir(tmp.path()).expect_err("bad groups");
        assert!(err.contains("`groups` is not a list"), "{err}");
    }

    #[test]
    fn dashboard_shows_every_contract_metric() {
        let used = metric_names_in_grafana_dir(&grafana_dir()).expect("grafana dir parses");
        let on_dashboard: BTreeSet<&str> = used
            .iter()
            .filter(|(_, wheres)| wheres.iter().any(|w| w.starts_with("dashboards/")))
            .map(|(name, _)| base_metric_name(name))
            .collect();
        let missing: Vec<&&str> = HERALD_METRICS
            .iter()
            .filter(|m| !on_dashboard.contains(**m))
            .collect();
        assert!(
            missing.is_empty(),
            "contract metrics with no panel: {missing:?}"
        );
    }
}
