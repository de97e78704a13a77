//! `[state]`: where runtime changes are kept across restarts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory of the saved parameters; empty means [`crate::station::store::default_state_dir`]
    /// (`$STATE_DIRECTORY`, else `$XDG_STATE_HOME/ambientd`, else `~/.local/state/ambientd`).
    pub dir: PathBuf,
}

impl StateConfig {
    /// The state directory in force, if any is known.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.dir.as_os_str().is_empty() {
            crate::station::store::default_state_dir()
        } else {
            Some(self.dir.clone())
        }
    }
}
