//! Why a configuration cannot be used: read failures and parse errors with file:line:column.

use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not valid TOML or not a valid configuration.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// The file (or `<string>`).
        origin: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and, where it applies, the allowed values.
        message: String,
    },
    /// `[control] group` names no group of this system.
    #[error("control.group: no group {0:?} in /etc/group")]
    UnknownGroup(String),
}
