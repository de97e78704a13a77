//! A WebSocket `set` is answered only once durable, as the control socket's is: the `params`
//! that answers it comes after `params.toml` is fsynced (SIGKILL right after it loses
//! nothing, even on a slow disk), and a change that cannot be saved gets an `error` saying
//! so. Through the real binary, a real WebSocket client and the control socket.

mod daemon_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ambientctl::{Param, Request, Response};
use daemon_support::process::{DaemonProcess, process_config};
use daemon_support::steer::{call, set, wait_for_message};
use daemon_support::{Client, next_json};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

async fn web_client(daemon: &mut DaemonProcess) -> Client {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", daemon.address()))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["web_control"], true, "{hello}");
    ws
}

async fn send_set(ws: &mut Client, bpm: u16) {
    let message = format!(r#"{{"type":"set","param":"bpm","value":{bpm}}}"#);
    ws.send(Message::Text(message.into())).await.unwrap();
}

async fn bpm_of(socket: &Path) -> u16 {
    match call(socket, Request::Get { param: None }).await {
        Ok(Response::Params(params)) => params.bpm(),
        other => panic!("{other:?}"),
    }
}

/// Each save takes 400 ms more (a slow disk, in builds with the `failpoints` feature): a
/// `params` sent with the next tick, as it used to be, came before the file was written.
const SLOW_DISK: &[(&str, &str)] = &[("FAILPOINTS", "state::save=sleep(400)")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_set_survives_sigkill_right_after_its_params() {
    let dir = tempfile::tempdir().unwrap();
    let config = process_config(dir.path(), "");
    for bpm in [61u16, 87, 112] {
        let mut daemon = DaemonProcess::spawn(dir.path(), &config, &[], SLOW_DISK);
        let mut ws = web_client(&mut daemon).await;
        send_set(&mut ws, bpm).await;
        let answer = wait_for_message(&mut ws, |m| m["type"] == "params" || m["type"] == "error");
        let answer = answer.await;
        assert_eq!(answer["params"]["bpm"], bpm, "{answer}");
        daemon.kill();
        let mut restarted = DaemonProcess::spawn(dir.path(), &config, &[], &[]);
        restarted.address();
        assert_eq!(
            bpm_of(&restarted.socket()).await,
            bpm,
            "the answered {bpm} was lost"
        );
        restarted.kill();
    }
}

/// A state directory the daemon may not write (mode 0555; as root, the daemon runs as
/// nobody so that the mode holds): the `set` plays, and its answer says saving failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_set_that_cannot_be_saved_gets_an_error_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
    // The daemon makes its control socket here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = rustix::process::geteuid().is_root();
    let as_nobody: &[&str] = if root {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        &[]
    };
    let config = process_config(dir.path(), "");
    let mut daemon = DaemonProcess::spawn(dir.path(), &config, as_nobody, &[]);
    let mut ws = web_client(&mut daemon).await;
    send_set(&mut ws, 95).await;
    let error = wait_for_message(&mut ws, |m| m["type"] == "error").await;
    let error = error["message"].as_str().unwrap();
    assert!(
        error.starts_with("applied but not saved: cannot save parameters to ")
            && error.contains("params.toml")
            && error.contains("lost at the next restart"),
        "{error}"
    );
    assert_eq!(bpm_of(&daemon.socket()).await, 95, "it still plays");
    // The session goes on, and so does the control socket's refusal.
    let refused = call(&daemon.socket(), set(Param::Bpm, "96")).await;
    assert!(refused.unwrap_err().starts_with("applied but not saved"));
    send_set(&mut ws, 97).await;
    let again = wait_for_message(&mut ws, |m| m["type"] == "error").await;
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .starts_with("applied but not saved"),
        "{again}"
    );
    daemon.kill();
}
