//! A seed past the range (2^64) is named as typed, with the field and the range, wherever it
//! is given (issue 13 item 11): `ambientctl set`, a JSON number on the control socket or the
//! WebSocket, the config file. It used to come back as `1.8446744073709552e19`.

mod daemon_support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use daemon_support::next_json;
use daemon_support::process::{DaemonProcess, process_config};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

const TOO_LARGE: &str =
    "seed: 18446744073709551616 is out of range (allowed 0..=18446744073709551615)";

fn ambientctl() -> PathBuf {
    let ctl = Path::new(env!("CARGO_BIN_EXE_ambientd")).with_file_name("ambientctl");
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

/// One raw line on the control socket and the reply line.
fn control_line(socket: &Path, line: &str) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    writeln!(stream, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    reply
}

fn seed(socket: &Path) -> String {
    let reply = control_line(socket, r#"{"type":"get","param":"seed"}"#);
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    reply["ok"]["value"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_past_the_range_is_named_as_typed_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = DaemonProcess::spawn(dir.path(), &process_config(dir.path(), ""), &[], &[]);
    let addr = daemon.address();
    let socket = daemon.socket();

    let cli = |args: &[&str]| {
        let out = Command::new(ambientctl())
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = cli(&["set", "seed", "18446744073709551616"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), format!("ambientctl: {TOO_LARGE}\n").as_str())
    );
    // A relative step is exact too: 18446744073709551615 + 2 is not rounded to 2^64 + 2 = ...
    assert_eq!(cli(&["set", "seed", "18446744073709551615"]).0, Some(0));
    let (code, stderr) = cli(&["set", "seed", "+2"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("seed: 18446744073709551617 (18446744073709551615+2) is out of range"),
        "{stderr}"
    );

    for (value, message) in [
        ("18446744073709551616", TOO_LARGE.to_string()),
        ("1.8446744073709551616e19", TOO_LARGE.to_string()),
        (
            "-18446744073709551616",
            "seed: -18446744073709551616 is negative (allowed 0..=18446744073709551615)".into(),
        ),
    ] {
        let line = format!(r#"{{"type":"set","param":"seed","value":{value}}}"#);
        let reply = control_line(&socket, &line);
        assert!(reply.contains(&message), "{line}: {reply}");
        assert!(!reply.contains("e19") && !reply.contains("e+19"), "{reply}");
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["web_control"], true);
    let set = r#"{"type":"set","param":"seed","value":18446744073709551616}"#;
    ws.send(Message::Text(set.into())).await.unwrap();
    let error = loop {
        let message = next_json(&mut ws).await;
        if message["type"] == "error" {
            break message["message"].as_str().unwrap().to_string();
        }
    };
    assert!(error.contains(TOO_LARGE), "{error}");
    assert_eq!(
        seed(&socket),
        "18446744073709551615",
        "nothing refused was applied"
    );
    daemon.kill();

    // The config file: file and line, then the same words.
    let config = process_config(dir.path(), "").replace("seed = 3", "seed = 18446744073709551616");
    let mut refused = DaemonProcess::spawn(dir.path(), &config, &[], &[]);
    assert!(!refused.wait().success());
    let stderr = refused.stderr();
    assert!(
        stderr.contains("ambientd.toml:") && stderr.contains(TOO_LARGE),
        "{stderr}"
    );
}
