//! Where the daemon's logs go: the systemd journal (structured fields) when it runs under
//! systemd or the config asks for it, plain stderr otherwise; never both, so a line is never
//! logged twice in `journalctl`.

use std::io::{self, IsTerminal};

use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub use crate::config::LogTarget;

/// Where logging ended up, and why, for the first log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// The systemd journal.
    Journal,
    /// Standard error.
    Stderr,
    /// Standard error, because the journal was asked for but could not be reached.
    StderrJournalUnavailable,
}

/// Changes the level of the installed subscriber at run time (a config reload).
#[derive(Clone)]
pub struct LevelHandle {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
}

impl std::fmt::Debug for LevelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelHandle")
            .field("live", &self.handle.is_some())
            .finish()
    }
}

impl Default for LevelHandle {
    fn default() -> Self {
        LevelHandle::fixed()
    }
}

impl LevelHandle {
    /// A handle that changes nothing (tests; `RUST_LOG` set, which wins over the config).
    pub fn fixed() -> LevelHandle {
        LevelHandle { handle: None }
    }

    /// Sets the level (`error` ... `trace`); a no-op when `RUST_LOG` chose the filter.
    pub fn set(&self, level: &str) -> Result<(), String> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        let filter = level_filter(level)?;
        handle.reload(filter).map_err(|e| e.to_string())
    }
}

fn level_filter(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(level).map_err(|e| {
        format!(
            "log.level: {level:?} is not a log level (allowed: error, warn, info, debug, trace): {e}"
        )
    })
}

/// Installs the global subscriber. The level comes from `RUST_LOG` when set (full
/// `EnvFilter` syntax), else from `level` (`error`, `warn`, `info`, `debug`, `trace`).
/// Returns where logs go and a handle to change the level later; fails only if `level` is
/// not a valid filter.
pub fn init(level: &str, target: LogTarget) -> Result<(LogSink, LevelHandle), String> {
    let (filter, from_env) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => (
            EnvFilter::try_new(&spec)
                .map_err(|e| format!("RUST_LOG: {spec:?} is not a log filter: {e}"))?,
            true,
        ),
        _ => (level_filter(level)?, false),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let level_handle = LevelHandle {
        handle: (!from_env).then_some(handle),
    };
    let want_journal = match target {
        LogTarget::Auto => stderr_is_journal(),
        LogTarget::Journal => true,
        LogTarget::Stderr => false,
    };
    let journal = if want_journal {
        tracing_journald::layer().ok().map(|layer| {
            layer
                .with_syslog_identifier("ambientd".into())
                // Structured fields keep their names: LISTENER=, SEQUENCE=, BACKEND=, ...
                .with_field_prefix(None)
                // Syslog's meaning of the levels: info is "informational" (6), not "notice"
                // (5, tracing-journald's default), so `journalctl -p notice` shows what
                // needs a look and not every listener that joined.
                .with_priority_mappings(PriorityMappings {
                    info: Priority::Informational,
                    debug: Priority::Debug,
                    ..PriorityMappings::new()
                })
        })
    } else {
        None
    };
    let sink = match (&journal, want_journal) {
        (Some(_), _) => LogSink::Journal,
        (None, true) => LogSink::StderrJournalUnavailable,
        (None, false) => LogSink::Stderr,
    };
    let stderr = journal.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_target(false)
            // Colour only for a person at a terminal: a file or a pipe gets plain text.
            .with_ansi(io::stderr().is_terminal())
    });
    // try_init: a second initialisation (tests running `run` twice) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(journal)
        .with(stderr)
        .try_init();
    Ok((sink, level_handle))
}

/// Whether stderr is the journal's stream: systemd sets `JOURNAL_STREAM=<dev>:<inode>` of the
/// stream it connected, which a child process may inherit, so compare it with our stderr.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(expected) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    expected.to_string_lossy() == format!("{}:{}", meta.dev(), meta.ino())
}
