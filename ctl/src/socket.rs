//! Where the control socket lives: one default for the daemon and the client, and the
//! client's override order (`--socket`, `$AMBIENTD_SOCKET`, the default).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// File name of the control socket inside the runtime directory.
pub const SOCKET_FILE_NAME: &str = "control.sock";

/// The socket path used when neither `$RUNTIME_DIRECTORY` nor `$XDG_RUNTIME_DIR` is set,
/// which is also where the packaged system service puts it.
pub const SYSTEM_SOCKET_PATH: &str = "/run/ambientd/control.sock";

/// Environment variable that points `ambientctl` at a socket (the `--socket` flag wins).
pub const SOCKET_ENV: &str = "AMBIENTD_SOCKET";

/// Where the control socket lives by default, for the daemon and the client alike:
/// `$RUNTIME_DIRECTORY/control.sock` (set by systemd's `RuntimeDirectory=`), else
/// `$XDG_RUNTIME_DIR/ambientd/control.sock` (a user session), else
/// `/run/ambientd/control.sock`.
pub fn default_socket_path() -> PathBuf {
    socket_path_from(
        std::env::var_os("RUNTIME_DIRECTORY").as_deref(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

/// [`default_socket_path`] for given values of `$RUNTIME_DIRECTORY` and `$XDG_RUNTIME_DIR`
/// (empty counts as unset). systemd joins several runtime directories with `:`; the first
/// one is ours.
pub fn socket_path_from(
    runtime_directory: Option<&OsStr>,
    xdg_runtime_dir: Option<&OsStr>,
) -> PathBuf {
    let set = |value: Option<&OsStr>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(runtime_directory) {
        let first = dir
            .to_str()
            .and_then(|d| d.split(':').next())
            .map(PathBuf::from)
            .unwrap_or(dir);
        return first.join(SOCKET_FILE_NAME);
    }
    if let Some(dir) = set(xdg_runtime_dir) {
        return dir.join("ambientd").join(SOCKET_FILE_NAME);
    }
    PathBuf::from(SYSTEM_SOCKET_PATH)
}

/// The socket `ambientctl` talks to: `flag` (from `--socket`) if given, else
/// `$AMBIENTD_SOCKET`, else [`default_socket_path`]; and when that default does not exist
/// but the system service's socket does, the system one, so a user shell (which has
/// `$XDG_RUNTIME_DIR`) reaches the packaged daemon with no flags.
pub fn resolve_socket_path(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    if let Some(path) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let default = default_socket_path();
    let system = Path::new(SYSTEM_SOCKET_PATH);
    if !default.exists() && system.exists() {
        return system.to_path_buf();
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_prefers_systemd_then_the_user_session_then_run() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            socket_path_from(os("/run/ambientd"), os("/run/user/1000")),
            PathBuf::from("/run/ambientd/control.sock")
        );
        assert_eq!(
            socket_path_from(os("/run/ambientd:/run/other"), None),
            PathBuf::from("/run/ambientd/control.sock")
        );
        assert_eq!(
            socket_path_from(None, os("/run/user/1000")),
            PathBuf::from("/run/user/1000/ambientd/control.sock")
        );
        assert_eq!(
            socket_path_from(os(""), os("")),
            PathBuf::from(SYSTEM_SOCKET_PATH)
        );
        assert_eq!(
            socket_path_from(None, None),
            PathBuf::from(SYSTEM_SOCKET_PATH)
        );
    }
    #[test]
    fn an_explicit_flag_wins() {
        let flag = Path::new("/tmp/x.sock");
        assert_eq!(resolve_socket_path(Some(flag)), flag);
    }
}
