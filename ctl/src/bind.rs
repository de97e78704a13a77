//! Binding the daemon's control socket file: a stale file from a crashed daemon is replaced,
//! a live daemon on it is refused, the file gets its mode and group, and is removed on exit.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The control socket's mode: owner and group may connect, others may not.
pub const SOCKET_MODE: u32 = 0o660;

/// Why the control socket could not be set up. Each message names the socket.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another daemon answers on this socket.
    #[error(
        "another ambientd is already running on {} (stop it, or give this one another \
         --control-socket)", path.display()
    )]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// A file that is not a socket sits where the socket should go; it is left alone.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Creating the socket's directory, binding, removing a stale file or setting the
    /// mode or group failed.
    #[error("control socket {}: {doing}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What was being done, e.g. "binding".
        doing: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

/// Binds the control socket at `path`, ready for `accept` (std, or handed to an async
/// runtime with its `from_std`).
///
/// - A missing parent directory is created (mode 0700: a user session's
///   `$XDG_RUNTIME_DIR/ambientd`; under systemd `RuntimeDirectory=` already made it).
/// - A socket file nobody answers on (a daemon that crashed) is removed and replaced.
/// - A socket file a live process answers on is [`BindError::AlreadyRunning`]: a second
///   daemon never steals the first one's socket.
/// - The new file gets `mode` (normally [`SOCKET_MODE`]) and, when `gid` is given, that
///   group (the service's own group needs none: the file is created with it).
///
/// Pair it with [`RemoveOnDrop`] so the file goes away when the daemon stops.
pub fn bind_control_socket(
    path: &Path,
    mode: u32,
    gid: Option<u32>,
) -> Result<UnixListener, BindError> {
    let io = |doing| {
        move |source| BindError::Io {
            path: path.to_path_buf(),
            doing,
            source,
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io("creating its directory"))?;
    }
    match fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io("inspecting the existing file")(err)),
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(BindError::NotASocket {
                    path: path.to_path_buf(),
                });
            }
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(BindError::AlreadyRunning {
                        path: path.to_path_buf(),
                    });
                }
                // Refused (or otherwise dead): left over from a daemon that did not clean up.
                Err(_) => fs::remove_file(path).map_err(io("removing the stale socket"))?,
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(io("binding"))?;
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(io("setting its mode"))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(io("setting its group"))?;
    }
    Ok(listener)
}

/// Removes a file when dropped: hold one next to the control listener so a clean stop (or
/// an unwinding panic) leaves no socket file behind.
#[derive(Debug)]
pub struct RemoveOnDrop(PathBuf);

impl RemoveOnDrop {
    /// Removes `path` when this value is dropped.
    pub fn new(path: impl Into<PathBuf>) -> RemoveOnDrop {
        RemoveOnDrop(path.into())
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Already gone is fine; there is nobody left to tell about other failures.
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn binds_in_a_new_directory_with_the_mode_and_removes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ambientd/control.sock");
        let listener = bind_control_socket(&path, SOCKET_MODE, None).unwrap();
        let cleanup = RemoveOnDrop::new(&path);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o660);
        assert_eq!(
            fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        UnixStream::connect(&path).unwrap();
        drop((listener, cleanup));
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        drop(UnixListener::bind(&path).unwrap()); // a crashed daemon's leftover
        let live = bind_control_socket(&path, SOCKET_MODE, None).unwrap();
        let err = bind_control_socket(&path, SOCKET_MODE, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "another ambientd is already running on {} (stop it, or give this one \
                 another --control-socket)",
                path.display()
            )
        );
        UnixStream::connect(&path).expect("the first daemon keeps its socket");
        drop(live);
    }

    #[test]
    fn a_regular_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        fs::write(&path, "precious").unwrap();
        let err = bind_control_socket(&path, SOCKET_MODE, None).unwrap_err();
        assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn the_group_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let own_gid = fs::metadata(dir.path()).unwrap().gid();
        let _listener = bind_control_socket(&path, SOCKET_MODE, Some(own_gid)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().gid(), own_gid);
    }
}
