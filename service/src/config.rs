//! The optional TOML config file, overlaid on flags that were left at
//! their defaults. Shared by every Herald binary.

use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A configuration that cannot be used. Binaries print it and exit with 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The file sets a key that is not an option.
    #[error("config file {path}: unknown option `{key}`")]
    UnknownKey {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// An option's value is not acceptable.
    #[error("invalid option `{option}`: {message}")]
    Invalid {
        /// The option's flag name.
        option: String,
        /// Why.
        message: String,
    },
}

/// Parses flags and environment variables (through clap), then overlays the
/// TOML file named by the `config` argument on every option that was left at
/// its default. Flags and environment variables win over the file.
///
/// # Errors
/// [`ConfigError`] for a file that cannot be read or parsed, or that names
/// an unknown option. Clap's own usage errors are returned as `Err(clap::Error)`
/// inside [`ParseOutcome::Clap`] so binaries can print them the clap way.
pub fn parse_args<A>(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Result<A, ParseOutcome>
where
    A: CommandFactory + FromArgMatches + Serialize + DeserializeOwned,
{
    let matches = A::command()
        .try_get_matches_from(argv)
        .map_err(ParseOutcome::Clap)?;
    let args = A::from_arg_matches(&matches).map_err(ParseOutcome::Clap)?;
    match matches.get_one::<std::path::PathBuf>("config") {
        Some(path) => overlay_file(args, &matches, path).map_err(ParseOutcome::Config),
        None => Ok(args),
    }
}

/// Why [`parse_args`] did not produce arguments.
#[derive(Debug)]
pub enum ParseOutcome {
    /// A usage error, `--help` or `--version`: print it and exit with its code.
    Clap(clap::Error),
    /// A config file problem: print it and exit with 2.
    Config(ConfigError),
}

fn overlay_file<A>(args: A, matches: &ArgMatches, path: &Path) -> Result<A, ConfigError>
where
    A: CommandFactory + Serialize + DeserializeOwned,
{
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let file: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    let command = A::command();
    let known: Vec<String> = command
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let base = toml::Table::try_from(&args).map_err(|e| ConfigError::Parse {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let mut merged = base.clone();
    let mut applied = Vec::new();
    for (key, value) in file {
        let id = key.replace('-', "_");
        if id == "config" || !known.contains(&id) {
            return Err(ConfigError::UnknownKey { path: shown, key });
        }
        let from_default = matches!(
            matches.value_source(&id),
            None | Some(ValueSource::DefaultValue)
        );
        if from_default {
            merged.insert(id.clone(), value.clone());
            applied.push((key, id, value));
        }
    }
    merged.try_into().map_err(|e: toml::de::Error| {
        // Name the key whose value does not fit, by trying each alone.
        let culprit = applied.iter().find(|(_, id, value)| {
            let mut one = base.clone();
            one.insert(id.clone(), value.clone());
            one.try_into::<A>().is_err()
        });
        ConfigError::Parse {
            path: shown,
            message: match culprit {
                Some((key, _, _)) => format!("`{key}`: {}", e.message()),
                None => e.message().to_owned(),
            },
        }
    })
}
