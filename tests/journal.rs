//! Logging to the journal with structured fields, through the real binary. tracing-journald
//! writes to the fixed path /run/systemd/journal/socket, so the daemon runs in a private
//! mount namespace (`unshare -m`, root only, as in CI) whose /run/systemd/journal is a
//! directory where this test listens in place of journald (PLATFORM.md §4).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this process may create mount namespaces (root with CAP_SYS_ADMIN).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The daemon binary under a stand-in journal listening on `listen`: the temp dir (kept
/// alive), the journal's socket, and the child.
fn start_under_journal(listen: &str) -> (tempfile::TempDir, UnixDatagram, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    std::fs::create_dir(&journal_dir).unwrap();
    let journal = UnixDatagram::bind(journal_dir.join("socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = dir.path().join("ambientd.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{listen}\"\n[control]\nsocket = \"{0}/control.sock\"\n\
             [state]\ndir = \"{0}/state\"\n[synth]\nbackend = \"cpu\"\n[log]\ntarget = \"journal\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal \
         && mount --bind '{}' /run/systemd/journal && exec '{}' --config '{}'",
        journal_dir.display(),
        env!("CARGO_BIN_EXE_ambientd"),
        config.display()
    );
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (dir, journal, child)
}

#[test]
fn under_the_journal_events_carry_fields_and_nothing_goes_to_stderr() {
    if !can_unshare() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let (_dir, journal, child) = start_under_journal("127.0.0.1:0");
    let mut entries: Vec<Vec<(String, String)>> = Vec::new();
    let field = |entry: &[(String, String)], key: &str| {
        entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !entries
        .iter()
        .any(|e| field(e, "MESSAGE").as_deref() == Some("ready"))
    {
        assert!(Instant::now() < deadline, "no `ready` entry: {entries:?}");
        let mut buffer = vec![0u8; 65536];
        let len = journal.recv(&mut buffer).expect("a journal entry in time");
        entries.push(parse_native(&buffer[..len]));
    }
    let chosen = entries
        .iter()
        .find(|e| field(e, "MESSAGE").as_deref() == Some("voice stage chosen"))
        .expect("the back-end choice is logged");
    for (key, value) in [
        ("SYSLOG_IDENTIFIER", "ambientd"),
        ("BACKEND", "cpu"),
        // An info line is "informational" (6), as syslog means it, not "notice".
        ("PRIORITY", "6"),
    ] {
        assert_eq!(field(chosen, key).as_deref(), Some(value), "{chosen:?}");
    }

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stderr.is_empty(),
        "logged to stderr as well: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One datagram of journald's native protocol: `KEY=value\n`, or `KEY\n`, a 64-bit
/// little-endian length, the value bytes and `\n` (how tracing-journald sends most fields).
fn parse_native(mut data: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while let Some(end) = data.iter().position(|&b| b == b'=' || b == b'\n') {
        let key = String::from_utf8_lossy(&data[..end]).into_owned();
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let stop = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            fields.push((key, String::from_utf8_lossy(&rest[..stop]).into_owned()));
            data = rest.get(stop + 1..).unwrap_or(&[]);
        } else {
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = &rest[8..8 + len];
            fields.push((key, String::from_utf8_lossy(value).into_owned()));
            data = rest.get(8 + len + 1..).unwrap_or(&[]);
        }
    }
    fields
}

/// A fatal start-up error reaches the journal at error priority (3), with its reason.
#[test]
fn a_fatal_error_is_logged_as_an_error() {
    if !can_unshare() {
        eprintln!("skipped: needs root for a private mount namespace (CI runs as root)");
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (_dir, journal, child) = start_under_journal(&address);
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let mut buffer = vec![0u8; 65536];
    loop {
        let len = journal.recv(&mut buffer).expect("an error entry in time");
        let entry = parse_native(&buffer[..len]);
        let field = |key: &str| entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if field("PRIORITY").as_deref() == Some("3") {
            let message = field("MESSAGE").unwrap_or_default();
            assert!(
                message.contains(&format!("cannot listen on {address}")),
                "{message}"
            );
            break;
        }
    }
}
