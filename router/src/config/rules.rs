//! Reading the rules file named by `--rules`.

use std::path::Path;

use herald_service::config::ConfigError;

use crate::rules::{Rules, parse_rules};

/// Reads and checks the rules file.
///
/// # Errors
/// [`ConfigError::Invalid`] for `--rules`, with the rules error (naming the
/// scope or rule and the field) as its message.
pub fn load_rules(path: &Path) -> Result<Rules, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        option: "--rules".into(),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    parse_rules(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
}
