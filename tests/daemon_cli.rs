//! The `ambientd` binary in daemon mode: flags override the config file, a bad config is
//! refused with its file and line, and SIGTERM stops it cleanly; its completions and man
//! pages come from the same command definition.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ambientd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ambientd"))
}

/// Kills the daemon if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn flags_override_the_file_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ambientd.toml");
    // The file asks for a port that --listen overrides (port 0: any free one).
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:1\"\n[synth]\nbackend = \"cpu\"\n[log]\nlevel = \"info\"\n",
    )
    .unwrap();
    let child = ambientd()
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--control-socket"])
        .arg(dir.path().join("control.sock"))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut log = BufReader::new(child.0.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        assert!(Instant::now() < deadline, "no 'listening' line");
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "stderr closed early");
        assert!(!line.contains('\x1b'), "colour codes in a pipe: {line:?}");
        if let Some((_, rest)) = line.split_once("address=") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(address.starts_with("127.0.0.1:") && address != "127.0.0.1:1");

    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}; log: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[music]\nkey = \"A minor\"\nbpm = 200\n").unwrap();
    let output = ambientd().arg("--config").arg(&config).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", config.display())),
        "{stderr}"
    );
    assert!(stderr.contains("40..=120"), "{stderr}");
}

#[test]
fn completions_and_man_pages_describe_the_real_command_line() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ambientd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("ambientd") && script.contains("control-socket"),
            "{shell}: {script}"
        );
    }
    let out = ambientd().arg("manpage").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH ambientd 1"), "{page}");
    for flag in ["config", "listen", "control\\-socket", "render"] {
        assert!(page.contains(flag), "{flag} missing from the man page");
    }
    for section in ["FILES", "ENVIRONMENT", "SIGNALS", "EXIT STATUS"] {
        assert!(
            page.contains(&format!(".SH {section}\n")),
            "no {section} section"
        );
    }
    let dir = std::env::temp_dir().join(format!("ambientd-man-{}", std::process::id()));
    let status = ambientd()
        .args(["manpage", "--out-dir"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    for page in ["ambientd.1", "ambientd-render.1", "ambientd.toml.5"] {
        assert!(dir.join(page).is_file(), "{page} not written");
    }
    let config_page = std::fs::read_to_string(dir.join("ambientd.toml.5")).unwrap();
    assert!(
        config_page.contains("\\fBmax_listeners\\fR = 1000"),
        "{config_page}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let refused = ambientd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("tcsh") && message.contains("bash"),
        "{message}"
    );
}

#[test]
fn a_taken_port_is_named_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = ambientd()
        .args(["--listen", &address, "--control-socket"])
        .arg(dir.path().join("control.sock"))
        .env("RUST_BACKTRACE", "0")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")) && stderr.contains("--listen ADDR"),
        "{stderr}"
    );
}
