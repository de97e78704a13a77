//! A confirmed `set` is on disk (issue 13 item 6): SIGKILL right after the reply loses
//! nothing, and a change that cannot be saved is refused in so many words (`ambientctl set`
//! exits 1 on a refusal), shown by `status` and `STATUS=` until saving works again, with no
//! temporary file left behind.

mod daemon_support;

use ambientctl::{Client, ClientError, Param, Request, Response};
use daemon_support::process::{DaemonProcess, process_config};
use daemon_support::steer::*;
use daemon_support::*;

fn call_blocking(socket: &std::path::Path, request: Request) -> Result<Response, String> {
    let mut client = Client::connect(socket).map_err(|e| e.to_string())?;
    client.call(&request).map_err(|e| match e {
        ClientError::Refused { reason } => reason,
        other => other.to_string(),
    })
}

fn bpm_of(socket: &std::path::Path) -> u16 {
    match call_blocking(socket, Request::Get { param: None }) {
        Ok(Response::Params(params)) => params.bpm(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_confirmed_set_survives_sigkill_right_after_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let config = process_config(dir.path(), "");
    for bpm in [61u16, 77, 93, 104, 118] {
        let mut daemon = DaemonProcess::spawn(dir.path(), &config, &[], &[]);
        daemon.address();
        call_blocking(&daemon.socket(), set(Param::Bpm, &bpm.to_string())).unwrap();
        daemon.kill();
        let mut restarted = DaemonProcess::spawn(dir.path(), &config, &[], &[]);
        restarted.address();
        assert_eq!(
            bpm_of(&restarted.socket()),
            bpm,
            "the confirmed {bpm} was lost"
        );
        restarted.kill();
    }
}

/// Two faults even root cannot write past: a state "directory" under a regular file, and
/// a `params.toml` that is a directory (so the rename fails after the temporary file was
/// written). Each `set` is refused with the reason, status says so, nothing stray is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_cannot_be_saved_is_refused_with_the_reason() {
    let holder = tempfile::tempdir().unwrap();
    let blocker = holder.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let mut config = test_config();
    config.state.dir = blocker.join("state");
    let daemon = TestDaemon::with_config(config).await;
    let refused = call(&daemon.socket, set(Param::Bpm, "80"))
        .await
        .unwrap_err();
    assert!(
        refused.starts_with("applied but not saved: cannot save parameters to ")
            && refused.contains("not-a-directory")
            && refused.contains("lost at the next restart"),
        "{refused}"
    );
    assert_eq!(params(&daemon.socket).await.bpm(), 80, "it still plays");
    let Ok(Response::Status(status)) = call(&daemon.socket, Request::Status).await else {
        panic!("no status");
    };
    let shown = status.save_error.expect("status shows the failure");
    assert!(shown.contains("not-a-directory"), "{shown}");
    daemon.stop().await;

    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir(state.path().join("params.toml")).unwrap();
    let mut config = test_config();
    config.state.dir = state.path().to_path_buf();
    let daemon = TestDaemon::with_config(config).await;
    let refused = call(&daemon.socket, set(Param::Bpm, "90"))
        .await
        .unwrap_err();
    assert!(refused.contains("params.toml"), "{refused}");
    let mut names: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["params.toml"], "no params.toml.tmp left behind");
    // Once the fault is gone the next change saves and the failure is no longer shown.
    std::fs::remove_dir(state.path().join("params.toml")).unwrap();
    call(&daemon.socket, set(Param::Bpm, "91")).await.unwrap();
    let Ok(Response::Status(status)) = call(&daemon.socket, Request::Status).await else {
        panic!("no status");
    };
    assert_eq!(status.save_error, None);
    let saved = std::fs::read_to_string(state.path().join("params.toml")).unwrap();
    assert!(saved.contains("bpm = 91"), "{saved}");
    daemon.stop().await;
}
