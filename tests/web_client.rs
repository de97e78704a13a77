//! The web client end to end: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core`) plays the page served by the real `ambientd` binary, which the tests
//! kill and restart, and steers it, checked with the real `ambientctl`. The JavaScript tests
//! live in `web/test/`; `web/test/against-daemon.sh` installs what is missing (chromium from
//! apt, the npm packages from the lock file) and runs them against the binaries given here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One browser suite at a time: each starts Chromium and servers, and CI has 2 cores.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

fn ambientctl_binary(ambientd: &Path) -> PathBuf {
    let ctl = ambientd.with_file_name("ambientctl");
    if !ctl.exists() {
        // `cargo test --workspace` builds it for its own tests; a lone `cargo test` may not.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "ambientctl", "--bin", "ambientctl"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building ambientctl failed");
    }
    ctl
}

#[test]
fn the_page_plays_reconnects_and_steers_the_daemon() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ambientd = Path::new(env!("CARGO_BIN_EXE_ambientd"));
    let ambientctl = ambientctl_binary(ambientd);
    let status = Command::new(root.join("web/test/against-daemon.sh"))
        .env("AMBIENTD_BIN", ambientd)
        .env("AMBIENTCTL_BIN", &ambientctl)
        .status()
        .expect("web/test/against-daemon.sh starts");
    assert!(
        status.success(),
        "the web client's end-to-end tests failed (output above)"
    );
}

/// The network faults a real daemon cannot be made to produce on demand (a dropped link, a
/// stalled delivery, a starved server) run against the contract-following mock server.
#[test]
fn the_page_rides_out_network_faults() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(root.join("web/test/run.sh"))
        .args(["--test-name-pattern", "drop|stall|silent|underrun"])
        .status()
        .expect("web/test/run.sh starts");
    assert!(
        status.success(),
        "the web client's fault tests failed (output above)"
    );
}
