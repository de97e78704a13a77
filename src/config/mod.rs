//! The daemon's configuration: the TOML file's shape, its built-in defaults, and parse errors
//! that name the file, the line and the allowed values.
//!
//! Every key is optional ([`Config::default`] holds the built-in values) and unknown keys are
//! rejected, so a misspelt key is an error rather than a silently ignored setting.
//! `etc/ambientd.toml` documents every key at its default; a test checks that it parses to
//! exactly [`Config::default`].

mod error;
mod icecast;
mod limits;
mod log;
mod music;
mod server;
mod state;
mod stream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use icecast::IcecastConfig;
pub use limits::LimitsConfig;
pub use log::{LogConfig, LogLevel, LogTarget};
pub use music::{MusicConfig, SynthConfig};
pub use server::{ControlConfig, MAX_LISTENERS_LIMIT, ServerConfig, WebControl, lookup_group};
pub use state::StateConfig;
pub use stream::{MAX_OPUS_KBITS, MIN_OPUS_KBITS, StreamConfig};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: the HTTP/WebSocket listener.
    pub server: ServerConfig,
    /// `[control]`: the Unix control socket.
    pub control: ControlConfig,
    /// `[music]`: the parameters the daemon starts with.
    pub music: MusicConfig,
    /// `[synth]`: the voice-stage back-end.
    pub synth: SynthConfig,
    /// `[state]`: where runtime changes are kept across restarts.
    pub state: StateConfig,
    /// `[log]`: verbosity and destination.
    pub log: LogConfig,
    /// `[limits]`: what one client may cost (timeouts, connections, message size, set rate).
    pub limits: LimitsConfig,
    /// `[stream]`: the compressed streams' encoding.
    pub stream: StreamConfig,
    /// `[[icecast]]`: Icecast source outputs, any number (none by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icecast: Vec<IcecastConfig>,
}

/// Command-line settings that win over the file (at start and on every reload).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--control-socket`.
    pub control_socket: Option<PathBuf>,
}

impl Overrides {
    /// Puts the overrides into `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(socket) = &self.control_socket {
            config.control.socket = socket.clone();
        }
    }
}

impl Config {
    /// Parses a configuration from TOML text. No I/O but reading the password files that
    /// `[[icecast]]` entries name.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, "<string>")
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // A FIFO or a device is refused rather than read (which could wait forever).
        let text =
            crate::station::store::read_regular_file(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|err| {
            let offset = err.span().map_or(0, |span| span.start);
            let (line, column) = line_and_column(text, offset);
            ConfigError::Parse {
                origin: origin.to_string(),
                line,
                column,
                message: err.message().trim().to_string(),
            }
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ambientctl::Key;

    #[test]
    fn targets_parse_from_the_config_words() {
        #[derive(Debug, serde::Deserialize)]
        struct Log {
            target: LogTarget,
        }
        let parsed: Log = toml::from_str("target = \"journal\"").unwrap();
        assert_eq!(parsed.target, LogTarget::Journal);
        let bad = toml::from_str::<Log>("target = \"syslog\"").unwrap_err();
        assert!(bad.to_string().contains("auto"), "{bad}");
    }

    fn parse_error(text: &str) -> (usize, String) {
        match Config::from_toml(text) {
            Err(ConfigError::Parse { line, message, .. }) => (line, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn shipped_file_documents_the_defaults() {
        let shipped = include_str!("../../etc/ambientd.toml");
        assert_eq!(Config::from_toml(shipped).unwrap(), Config::default());
        // Every key of the default config appears (uncommented) in the shipped file.
        let defaults = toml::to_string(&Config::default()).unwrap();
        for line in defaults.lines().filter(|l| l.contains(" = ")) {
            let key = line.split(" = ").next().unwrap();
            assert!(
                shipped.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "etc/ambientd.toml does not document {key}"
            );
        }
    }

    #[test]
    fn empty_file_gives_the_defaults_and_loopback() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config, Config::default());
        assert!(config.server.listen.ip().is_loopback());
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let config = Config::from_toml("[music]\nbpm = 90\n[server]\nmax_listeners = 3\n").unwrap();
        assert_eq!(config.music.bpm, 90);
        assert_eq!(config.music.key, Key::A_MINOR);
        assert_eq!(config.server.max_listeners, 3);
        assert_eq!(config.server.listen, ServerConfig::default().listen);
    }

    #[test]
    fn max_listeners_of_zero_is_refused_with_the_range() {
        for bad in ["0", "-1", "1000001"] {
            let (line, message) = parse_error(&format!("[server]\nmax_listeners = {bad}\n"));
            assert_eq!(line, 2);
            assert!(
                message.contains(&format!(
                    "max_listeners: {bad} is out of range (allowed 1..="
                )),
                "{message}"
            );
        }
        let config = Config::from_toml("[server]\nmax_listeners = 1\n").unwrap();
        assert_eq!(config.server.max_listeners, 1);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line_and_the_allowed_keys() {
        let (line, message) = parse_error("[server]\nlisten = \"127.0.0.1:1\"\nmax_listener = 4\n");
        assert_eq!(line, 3);
        assert!(message.contains("max_listener"), "{message}");
        assert!(message.contains("max_listeners"), "{message}");
        let (line, message) = parse_error("[srever]\n");
        assert_eq!(line, 1);
        assert!(message.contains("server"), "{message}");
    }

    #[test]
    fn bad_values_name_the_allowed_values() {
        let (line, message) = parse_error("[music]\nkey = \"A minor\"\nbpm = 300\n");
        assert_eq!(line, 3);
        assert!(message.contains("40..=120"), "{message}");
        let (_, message) = parse_error("[music]\nintensity = 1.5\n");
        assert!(message.contains("0.0..=1.0"), "{message}");
        let (_, message) = parse_error("[music]\nkey = \"H minor\"\n");
        assert!(message.contains("A-G"), "{message}");
        let (line, message) = parse_error("\n[synth]\nbackend = \"gpu\"\n");
        assert_eq!(line, 3);
        assert!(
            message.contains("cuda") && message.contains("cpu"),
            "{message}"
        );
        let (_, message) = parse_error("[log]\nlevel = \"loud\"\n");
        assert!(message.contains("debug"), "{message}");
        let (_, message) = parse_error("[server]\nlisten = \"localhost\"\n");
        assert!(message.contains("address"), "{message}");
    }

    #[test]
    fn groups_resolve_by_number_and_name() {
        assert_eq!(lookup_group("").unwrap(), None);
        assert_eq!(lookup_group("123").unwrap(), Some(123));
        assert_eq!(lookup_group("root").unwrap(), Some(0));
        let err = lookup_group("no-such-group-here").unwrap_err().to_string();
        assert!(err.contains("no-such-group-here"), "{err}");
    }

    #[test]
    fn web_control_words_parse() {
        let config = Config::from_toml("[server]\nweb_control = \"all\"\n").unwrap();
        assert_eq!(config.server.web_control, WebControl::All);
        let (_, message) = parse_error("[server]\nweb_control = true\n");
        assert!(message.contains("loopback"), "{message}");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[music]\nbpm = 10\n").unwrap();
        let text = Config::load(&path).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("{}:2:", path.display())),
            "{text}"
        );
        let missing = Config::load(&dir.path().join("none.toml")).unwrap_err();
        assert!(missing.to_string().contains("none.toml"), "{missing}");
    }
}
