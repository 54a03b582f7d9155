//! The JSON results file.

use std::path::Path;

use super::RunReport;

/// Writes `report` as pretty JSON to `path`.
///
/// # Errors
/// The I/O or serialization error.
pub fn write(report: &RunReport, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_json() {
        let r = RunReport {
            scenario: "fanout".into(),
            exit_code: 2,
            failures: vec!["lost 1".into()],
            ..RunReport::default()
        };
        let dir = std::env::temp_dir().join(format!("herald-lt-json-{}", std::process::id()));
        write(&r, &dir).unwrap();
        let back: RunReport =
            serde_json::from_str(&std::fs::read_to_string(&dir).unwrap()).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back.scenario, "fanout");
        assert_eq!(back.failures, r.failures);
    }
}
