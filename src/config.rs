//! The daemon's configuration: the TOML file's shape, its built-in defaults, and parse errors
//! that name the file, the line and the allowed values.
//!
//! Every key is optional ([`Config::default`] holds the built-in values) and unknown keys are
//! rejected, so a misspelt key is an error rather than a silently ignored setting.
//! `etc/ambientd.toml` documents every key at its default; a test checks that it parses to
//! exactly [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ambientctl::params::{self, BPM_DEFAULT, INTENSITY_DEFAULT};
use ambientctl::{Key, SynthesisParameters};
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::stream::access::WebControl;
use crate::synth::BackendChoice;

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
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP/WebSocket port. Loopback by default: exposing it is a choice.
    pub listen: SocketAddr,
    /// Listeners (WebSocket and WAV together) served at once; more are refused politely.
    #[serde(deserialize_with = "max_listeners")]
    pub max_listeners: usize,
    /// Which WebSocket clients may change parameters (`set` messages).
    #[serde(deserialize_with = "web_control")]
    pub web_control: WebControl,
    /// A shared secret: a WebSocket client that connects with `/ws?token=<it>` may change
    /// parameters whatever its address (unless `web_control = "off"`). Empty: no token.
    pub web_control_token: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            max_listeners: 1000,
            web_control: WebControl::Loopback,
            web_control_token: String::new(),
        }
    }
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Path of the Unix control socket; empty means [`ambientctl::default_socket_path`]
    /// (`$RUNTIME_DIRECTORY/control.sock`, else `$XDG_RUNTIME_DIR/ambientd/control.sock`,
    /// else `/run/ambientd/control.sock`).
    pub socket: PathBuf,
    /// Group that may use the control socket; empty means the daemon's own group.
    pub group: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::new(),
            group: String::new(),
        }
    }
}

impl ControlConfig {
    /// The socket path in force: the configured one, or the shared default.
    pub fn socket_path(&self) -> PathBuf {
        if self.socket.as_os_str().is_empty() {
            ambientctl::default_socket_path()
        } else {
            self.socket.clone()
        }
    }
}

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

/// `[music]`: validated with the same rules as every other way of setting parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MusicConfig {
    /// Key, e.g. "A minor", "F#m", "Bb major".
    pub key: Key,
    /// Tempo in beats per minute.
    #[serde(deserialize_with = "bpm")]
    pub bpm: u16,
    /// Density and brightness, 0.0..=1.0.
    #[serde(deserialize_with = "intensity")]
    pub intensity: f32,
    /// Composition seed: the same seed and parameters give the same music.
    pub seed: u64,
}

impl Default for MusicConfig {
    fn default() -> Self {
        MusicConfig {
            key: Key::A_MINOR,
            bpm: BPM_DEFAULT,
            intensity: INTENSITY_DEFAULT,
            seed: 0,
        }
    }
}

impl MusicConfig {
    /// The parameters the daemon starts with.
    pub fn params(&self) -> SynthesisParameters {
        // Both numbers were validated when the config was built or parsed; fall back to the
        // defaults rather than panic if a caller built an invalid `MusicConfig` by hand.
        SynthesisParameters::new(self.key, self.bpm, self.intensity, self.seed).unwrap_or_default()
    }
}

fn web_control<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WebControl, D::Error> {
    const ALLOWED: &str = "allowed: \"off\", \"loopback\", \"all\"";
    let raw = String::deserialize(deserializer)
        .map_err(|e| serde::de::Error::custom(format!("{e} ({ALLOWED})")))?;
    match raw.as_str() {
        "off" => Ok(WebControl::Off),
        "loopback" => Ok(WebControl::Loopback),
        "all" => Ok(WebControl::All),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is not a web_control setting ({ALLOWED})"
        ))),
    }
}

/// The most listeners a config may ask for (far above what one process can hold open).
pub const MAX_LISTENERS_LIMIT: usize = 1_000_000;

fn max_listeners<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let raw = i64::deserialize(deserializer)?;
    usize::try_from(raw)
        .ok()
        .filter(|n| (1..=MAX_LISTENERS_LIMIT).contains(n))
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "max_listeners: {raw} is out of range (allowed 1..={MAX_LISTENERS_LIMIT}; \
                 0 would refuse every listener)"
            ))
        })
}

fn bpm<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let raw = i64::deserialize(deserializer)?;
    u16::try_from(raw)
        .map_err(|_| params::ParamError::Bpm(raw.to_string()))
        .and_then(params::validate_bpm)
        .map_err(serde::de::Error::custom)
}

fn intensity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    let raw = f64::deserialize(deserializer)?;
    params::validate_intensity(raw as f32).map_err(serde::de::Error::custom)
}

/// `[synth]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// `auto` (CUDA when usable, else CPU), `cuda` or `cpu`.
    pub backend: BackendChoice,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Least severe level logged.
    pub level: LogLevel,
    /// Where logs go.
    pub target: LogTarget,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The name `tracing` filters understand.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
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

/// The id of group `name` (a name from `/etc/group`, or a number); `Ok(None)` for "".
pub fn lookup_group(name: &str) -> Result<Option<u32>, ConfigError> {
    if name.is_empty() {
        return Ok(None);
    }
    if let Ok(gid) = name.parse() {
        return Ok(Some(gid));
    }
    let path = Path::new("/etc/group");
    let groups = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let group = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (group == name).then_some(gid)
        })
        .next()
        .map(Some)
        .ok_or_else(|| ConfigError::UnknownGroup(name.to_string()))
}

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

impl Config {
    /// Parses a configuration from TOML text. Pure: no I/O.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, "<string>")
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
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

/// The `[log] target` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    /// The journal when stderr is connected to it (`JOURNAL_STREAM`), else stderr.
    #[default]
    Auto,
    /// Always the journal (falls back to stderr, with a warning, if there is none).
    #[serde(alias = "journald")]
    Journal,
    /// Always stderr.
    Stderr,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let shipped = include_str!("../etc/ambientd.toml");
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
