//! A FIFO (or any file that is not a regular one) given as the config or as the state's
//! `params.toml` is refused with a clear error; start-up used to wait on it forever
//! (issue 13 item 12).

mod daemon_support;

use std::path::Path;
use std::process::Command;

use daemon_support::process::{DaemonProcess, process_config};

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn a_fifo_as_the_config_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ambientd.toml");
    mkfifo(&fifo);
    let output = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .arg("--config")
        .arg(&fifo)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read config file {}", fifo.display()))
            && stderr.contains("it is a FIFO, not a regular file"),
        "{stderr}"
    );
}

#[test]
fn a_fifo_as_the_saved_parameters_is_reported_and_start_up_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    mkfifo(&dir.path().join("state/params.toml"));
    let config = process_config(dir.path(), "");
    let mut daemon = DaemonProcess::spawn(dir.path(), &config, &[], &[]);
    let log = daemon.wait_for_log("ready");
    assert!(
        log.contains("params.toml") && log.contains("it is a FIFO, not a regular file"),
        "{log}"
    );
    assert!(daemon.terminate().success());
}
