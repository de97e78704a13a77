//! What the control socket, the signal handler and the systemd loop share: the running
//! stream, the config in force, and the operations on them (status, reload).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use ambientctl::{ParamSources, Status};

use super::logging::LevelHandle;
use super::notify::Notifier;
use crate::config::{Config, Overrides};
use crate::stream::StreamState;

/// The refusal of a reload when there is no file to read.
const NO_CONFIG_FILE: &str = "nothing to reload: the daemon was started without --config \
     (it runs on its built-in defaults and command-line flags)";

/// The running daemon's shared state beyond the stream.
#[derive(Debug)]
pub struct Core {
    /// The outputs that stream, and through them the station.
    pub stream: Arc<StreamState>,
    /// The config in force (the last one that loaded, overrides applied).
    config: Mutex<Config>,
    /// Why the last reload failed, until one succeeds (shown in `STATUS=`).
    reload_error: Mutex<Option<String>>,
    listen: Option<String>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    notifier: Notifier,
    log_level: LevelHandle,
}

impl Core {
    /// Shared state for a daemon that started with `config`.
    pub fn new(
        stream: Arc<StreamState>,
        config: Config,
        listen: Option<String>,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        notifier: Notifier,
        log_level: LevelHandle,
    ) -> Core {
        Core {
            stream,
            config: Mutex::new(config),
            reload_error: Mutex::new(None),
            listen,
            config_path,
            overrides,
            notifier,
            log_level,
        }
    }

    /// `[limits]` in force.
    pub fn limits(&self) -> crate::config::LimitsConfig {
        lock(&self.config).limits
    }

    /// The line to systemd.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// What `ambientctl status` shows.
    pub fn status(&self) -> Status {
        let station = self.stream.station.snapshot();
        let config = self.stream.station.config_params();
        Status {
            params: station.params,
            backend: station.backend.to_string(),
            backend_reason: (!station.backend_reason.is_empty())
                .then_some(station.backend_reason.clone()),
            listen: self.listen.clone(),
            listeners: station.listeners as u32,
            ring_fill: station.ring_fill as f32,
            ring_capacity_ms: station.ring_capacity_ms,
            underruns: station.underruns,
            sequence: station.last_sequence(),
            uptime_s: station.uptime.as_secs(),
            sources: Some(ParamSources::of(&station.params, &config)),
            config: Some(config),
            chords: station
                .phrase
                .as_ref()
                .map(|p| p.chords.iter().map(|c| c.to_string()).collect())
                .unwrap_or_default(),
            bar: station.bar().map(|(bar, _)| bar as u32),
            save_error: self.stream.station.save_error(),
            icecast: self
                .stream
                .icecast
                .statuses()
                .into_iter()
                .map(|o| ambientctl::protocol::IcecastOutput {
                    url: o.url,
                    connected: o.connected,
                    bytes_sent: o.bytes_sent,
                    attempts: o.attempts,
                    reconnects: o.reconnects,
                    last_error: o.last_error,
                })
                .collect(),
        }
    }

    /// The one-line summary for `STATUS=`.
    pub fn status_line(&self) -> String {
        let station = self.stream.station.snapshot();
        let params = station.params;
        // The backend's reason already starts with its name ("cpu: no libcuda").
        let backend = if station.backend_reason.is_empty() {
            station.backend
        } else {
            &station.backend_reason
        };
        let mut line = format!(
            "{}; {} listener{}, {} {} bpm, underruns {}",
            backend,
            station.listeners,
            if station.listeners == 1 { "" } else { "s" },
            params.key(),
            params.bpm(),
            station.underruns,
        );
        // Before the pacer's first tick there is no progress to judge yet.
        if station.chunks > 0 && station.unhealthy.is_some() {
            line.push_str(", NOT making progress");
        }
        if let Some(error) = self.stream.station.save_error() {
            line.push_str("; saving changes FAILED: ");
            line.push_str(&error);
        }
        if let Some(error) = lock(&self.reload_error).as_deref() {
            line.push_str("; reload failed, old config kept: ");
            line.push_str(error);
        }
        line
    }

    /// Reloads the config file (SIGHUP and `ambientctl reload` alike): `RELOADING=1`, parse
    /// the whole new file, apply what can change live, `READY=1`. An invalid file keeps the
    /// running config, is logged with its location, and shows in `STATUS=` until a reload
    /// succeeds. Returns what changed (one line each), or the one-line reason for a refusal.
    pub fn reload(&self) -> Result<Vec<String>, String> {
        if self.config_path.is_none() {
            // Nothing to read is not a failed reload: the running config stays, STATUS= too.
            tracing::warn!("reload asked for, but the daemon was started without --config");
            return Err(NO_CONFIG_FILE.to_string());
        }
        self.notifier.reloading();
        let outcome = self.reload_inner();
        self.stream.station.record_reload(outcome.is_ok());
        if let Err(error) = &outcome {
            tracing::error!(
                %error,
                "reload failed, keeping the running configuration: {error}"
            );
            *lock(&self.reload_error) = Some(error.clone());
        } else {
            *lock(&self.reload_error) = None;
        }
        self.notifier.ready(&self.status_line());
        outcome
    }

    fn reload_inner(&self) -> Result<Vec<String>, String> {
        let Some(path) = &self.config_path else {
            return Err(NO_CONFIG_FILE.to_string());
        };
        let mut new =
            Config::load(path).map_err(|e| ambientctl::protocol::one_line(&e.to_string()))?;
        self.overrides.apply(&mut new);
        super::open_files::OpenFiles::current().check(new.server.max_listeners)?;
        let mut config = lock(&self.config);
        let old = config.clone();
        // Parsed and valid: from here on nothing is refused, only applied or deferred.
        let mut changes = Vec::new();
        for key in restart_only_changes(&old, &new) {
            tracing::warn!(
                key,
                "{key} changed in the config file; takes effect at the next restart"
            );
            changes.push(format!("{key} changed: takes effect at the next restart"));
        }
        if new.log.level != old.log.level {
            match self.log_level.set(new.log.level.as_str()) {
                Ok(()) => changes.push(format!(
                    "log.level {} -> {}",
                    old.log.level.as_str(),
                    new.log.level.as_str()
                )),
                Err(error) => tracing::warn!(%error, "cannot change the log level: {error}"),
            }
        }
        changes.extend(live_server_changes(&old, &new));
        changes.extend(icecast_changes(&old, &new));
        super::apply_server_config(&self.stream, &new);
        super::apply_icecast_config(&self.stream, &new);
        let music = new.music.params();
        *config = new;
        drop(config);
        // [music] gives the config's values; each one edited in the file plays now.
        let played = self
            .stream
            .station
            .reload_config(music)
            .map_err(|e| format!("the new [music] could not be applied: {e}"))?;
        changes.extend(played);
        tracing::info!(
            file = %path.display(),
            "configuration reloaded from {}: {}",
            path.display(),
            if changes.is_empty() { "nothing changed".to_string() } else { changes.join("; ") }
        );
        Ok(changes)
    }
}

/// The `[server]` keys that apply live, among those that differ (the token's value is never
/// shown).
fn live_server_changes(old: &Config, new: &Config) -> Vec<String> {
    let (old, new) = (&old.server, &new.server);
    let mut changed = Vec::new();
    if old.max_listeners != new.max_listeners {
        changed.push(format!(
            "server.max_listeners {} -> {}",
            old.max_listeners, new.max_listeners
        ));
    }
    if old.web_control != new.web_control {
        changed.push(format!(
            "server.web_control {} -> {}",
            format!("{:?}", old.web_control).to_lowercase(),
            format!("{:?}", new.web_control).to_lowercase()
        ));
    }
    if old.web_control_token != new.web_control_token {
        changed.push("server.web_control_token changed".to_string());
    }
    changed
}

/// The `[[icecast]]` outputs added, edited (restarted) and removed, by URL (never a password).
fn icecast_changes(old: &Config, new: &Config) -> Vec<String> {
    let find = |list: &[crate::config::IcecastConfig], url: &str| {
        list.iter().find(|o| o.url.to_string() == url).cloned()
    };
    let mut changed = Vec::new();
    for output in &new.icecast {
        let url = output.url.to_string();
        match find(&old.icecast, &url) {
            None => changed.push(format!("icecast output {url} added")),
            Some(before) if before != *output => {
                changed.push(format!("icecast output {url} edited: reconnecting"))
            }
            Some(_) => {}
        }
    }
    for output in &old.icecast {
        let url = output.url.to_string();
        if find(&new.icecast, &url).is_none() {
            changed.push(format!("icecast output {url} removed"));
        }
    }
    changed
}

/// Keys whose new value needs a restart, among those that differ.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |differs: bool, key| {
        if differs {
            changed.push(key);
        }
    };
    check(old.server.listen != new.server.listen, "server.listen");
    check(old.control != new.control, "control");
    check(old.state != new.state, "state.dir");
    check(old.synth != new.synth, "synth.backend");
    check(old.log.target != new.log.target, "log.target");
    changed
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
