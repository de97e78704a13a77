//! Run-time changes that survive a restart: saved atomically to the state directory on every
//! accepted change, restored at start. The file holds only the values that differ from the
//! config file's ([`ParamChanges`]); they are laid over the config at start, and `ambientctl
//! reset` removes them. A corrupt file is reported and ignored, never fatal.
//!
//! The file is TOML, e.g. (a file from before 0.2 holds all four values: every one counts as
//! changed)
//!
//! ```toml
//! key = "D minor"
//! bpm = 80
//! ```
//!
//! Saving writes a temporary file beside the target, fsyncs it, renames it over the target and
//! fsyncs the directory, so a crash or power cut leaves either the old or the new file whole.
//! The daemon saves on its own thread ([`ParamsSaver`]): an fsync takes milliseconds, which
//! the async runtime should not block on; when changes come faster than the disk, only the
//! latest is written. A `set` awaits [`ParamsSaver::until_saved`] before it is answered (the
//! control socket's reply, the WebSocket's `params`), so a confirmed change is on disk (or
//! the answer says it could not be saved).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

use ambientctl::ParamChanges;
use tokio::sync::watch;

/// Name of the parameters file inside the state directory.
pub const PARAMS_FILE: &str = "params.toml";

/// Why the saved parameters could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not valid parameters (a bad value, a truncated write by hand...).
    #[error("ignoring {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, on one line.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot save parameters to {path}: {source}")]
    Write {
        /// The file (or directory) being written.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Reads `path` as text, refusing anything but a regular file first: opening a FIFO would
/// wait for a writer forever (start-up would hang silently), a device could be endless.
pub fn read_regular_file(path: &Path) -> io::Result<String> {
    use std::os::unix::fs::FileTypeExt;
    let kind = fs::metadata(path)?.file_type();
    let what = if kind.is_file() {
        return fs::read_to_string(path);
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "something else"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    ))
}

/// Where the daemon keeps its state: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`,
/// `/var/lib/ambientd`), else `$XDG_STATE_HOME/ambientd`, else `~/.local/state/ambientd`.
/// `None` when none of them is known (then nothing is persisted).
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several colon-separated directories; the first is ours.
        let first = dir.to_string_lossy().split(':').next().map(PathBuf::from);
        return first;
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("ambientd"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".local/state/ambientd"))
}

/// The saved parameters in one directory.
#[derive(Debug, Clone)]
pub struct ParamsStore {
    path: PathBuf,
}

impl ParamsStore {
    /// A store for `dir/params.toml`. Nothing is touched until `load` or `save`.
    pub fn in_dir(dir: &Path) -> Self {
        ParamsStore {
            path: dir.join(PARAMS_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved parameters: `Ok(None)` when nothing was saved yet, `Err` when the file exists
    /// but cannot be used (the caller logs it and goes on with the config's values).
    pub fn load(&self) -> Result<Option<ParamChanges>, StateError> {
        let text = match read_regular_file(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let corrupt = |message: String| StateError::Corrupt {
            path: self.path.clone(),
            message: message.replace('\n', " "),
        };
        let changes: ParamChanges =
            toml::from_str(&text).map_err(|e| corrupt(e.message().to_string()))?;
        // Range-checked now, so a bad value is reported as this file's fault at start.
        changes
            .over(&ambientctl::SynthesisParameters::default())
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(changes))
    }

    /// Saves `params` atomically (write a temporary file, fsync, rename, fsync the directory),
    /// creating the directory if needed.
    pub fn save(&self, params: &ParamChanges) -> Result<(), StateError> {
        // Test builds only: FAILPOINTS="state::save=sleep(400)" makes the disk slow.
        #[cfg(feature = "failpoints")]
        fail::fail_point!("state::save");
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Write { path, source }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let text = toml::to_string(params).expect("parameters always serialize");
        let temporary = self.path.with_extension("toml.tmp");
        let written = File::create(&temporary)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_all()
            })
            .map_err(write_err(&temporary))
            .and_then(|()| fs::rename(&temporary, &self.path).map_err(write_err(&self.path)));
        if written.is_err() {
            // A full disk leaves a partial temporary file: take it away, keep the old file.
            let _ = fs::remove_file(&temporary);
        }
        written?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err(dir))?;
        Ok(())
    }
}

/// How far the saving thread has got: every change numbered up to `through` has been
/// handled, and `error` says whether the latest save failed (cleared by the next success).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// The number of the last change handled (changes are numbered from 1 as queued).
    pub through: u64,
    /// Why the last save failed; `None` when it succeeded.
    pub error: Option<String>,
}

/// What the saving thread is sent: the change's number and its values.
type Change = (u64, ParamChanges);

/// The saving thread while it runs: its queue, the number of the last change queued.
#[derive(Debug)]
struct Running {
    sender: Sender<Change>,
    queued: u64,
    thread: JoinHandle<()>,
}

/// Saves parameters on a thread of its own, latest first: [`ParamsSaver::save`] never waits
/// for the disk, [`ParamsSaver::until_saved`] waits for what was queued so far, and
/// [`ParamsSaver::finish`] writes what is still pending before returning.
#[derive(Debug)]
pub struct ParamsSaver {
    path: PathBuf,
    /// `None` once finished.
    running: Mutex<Option<Running>>,
    /// Published by the thread after every save.
    saved: watch::Receiver<Saved>,
}

impl ParamsSaver {
    /// Starts the saving thread for `store`; a failed save is logged and kept for
    /// [`ParamsSaver::last_error`] (the change still applies, only its memory does not).
    pub fn start(store: ParamsStore) -> io::Result<ParamsSaver> {
        let path = store.path.clone();
        let (sender, changes) = mpsc::channel::<Change>();
        let (report, saved) = watch::channel(Saved::default());
        let thread = std::thread::Builder::new()
            .name("ambientd-save".into())
            .spawn(move || {
                while let Ok(mut change) = changes.recv() {
                    // Changes that queued up meanwhile: only the last one matters.
                    while let Ok(newer) = changes.try_recv() {
                        change = newer;
                    }
                    let (through, params) = change;
                    let error = store.save(&params).err().map(|error| {
                        tracing::error!(%error, "the change applies but will not survive a restart");
                        error.to_string()
                    });
                    report.send_replace(Saved { through, error });
                }
            })?;
        Ok(ParamsSaver {
            path,
            running: Mutex::new(Some(Running {
                sender,
                queued: 0,
                thread,
            })),
            saved,
        })
    }

    /// Waits until every change queued before this call is on disk (file and directory
    /// fsynced); `Err` with the reason when the save failed.
    pub async fn until_saved(&self) -> Result<(), String> {
        let Some(wanted) = self.queued() else {
            return Err("the daemon is stopping; the change was not saved".into());
        };
        let mut saved = self.saved.clone();
        let outcome = saved.wait_for(|saved| saved.through >= wanted).await;
        match outcome {
            Ok(saved) => saved.error.clone().map_or(Ok(()), Err),
            Err(_) => Err("the saving thread stopped; the change was not saved".into()),
        }
    }

    /// Why the last save failed, until a later one succeeds.
    pub fn last_error(&self) -> Option<String> {
        self.saved.borrow().error.clone()
    }

    /// The number of the last change queued; `None` once finished.
    fn queued(&self) -> Option<u64> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.as_ref().map(|running| running.queued)
    }

    /// The file saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `params` to be saved (after any earlier change); returns at once with the
    /// change's number ([`Self::saved_through`] reaches it once it is handled), `None`
    /// after shutdown.
    pub fn save(&self, params: ParamChanges) -> Option<u64> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.as_mut() {
            Some(running) => {
                running.queued += 1;
                let _ = running.sender.send((running.queued, params));
                Some(running.queued)
            }
            None => {
                tracing::error!("parameters changed after shutdown; not saved");
                None
            }
        }
    }

    /// The number of the last change handled (saved, or failed to save).
    pub fn saved_through(&self) -> u64 {
        self.saved.borrow().through
    }

    /// Writes what is pending and stops the thread (shutdown). Later saves are refused.
    pub fn finish(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Running { sender, thread, .. }) = running {
            drop(sender);
            let _ = thread.join();
        }
    }
}

impl Drop for ParamsSaver {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_parameters_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ParamsStore::in_dir(&dir.path().join("nested"));
        assert!(store.load().unwrap().is_none());
        let params = ParamChanges {
            key: Some("F# minor".parse().unwrap()),
            bpm: Some(84),
            intensity: Some(0.25),
            seed: Some(u64::MAX),
        };
        store.save(&params).unwrap();
        assert_eq!(store.load().unwrap(), Some(params));
        let again = ParamChanges::default();
        store.save(&again).unwrap();
        assert_eq!(store.load().unwrap(), Some(again));
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nested")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = ParamsStore::in_dir(dir.path());
        fs::write(
            store.path(),
            "key = \"A minor\"\nbpm = 400\nintensity = 0.5\nseed = 1\n",
        )
        .unwrap();
        let error = store.load().unwrap_err().to_string();
        assert!(
            error.contains("params.toml") && error.contains("bpm"),
            "{error}"
        );
        assert!(!error.contains('\n'));
        fs::write(store.path(), "key = ").unwrap();
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn an_unwritable_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "").unwrap();
        let store = ParamsStore::in_dir(&blocker.join("sub"));
        let error = store.save(&ParamChanges::default()).unwrap_err();
        assert!(
            error.to_string().contains("cannot save parameters"),
            "{error}"
        );
    }
}
