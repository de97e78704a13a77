//! The open-files limit, on the real binary under `prlimit` (as systemd's 1024 soft limit
//! would start it): raised to the hard limit at start, a `max_listeners` it cannot hold is
//! refused naming both numbers, and systemd still hears `WATCHDOG=1` when a flood of
//! connections has used up every descriptor.

mod daemon_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use daemon_support::process::{DaemonProcess, process_config};

fn have_prlimit() -> bool {
    std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn healthz(address: std::net::SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn the_soft_limit_is_raised_and_max_listeners_must_fit_under_it() {
    assert!(have_prlimit(), "prlimit (util-linux) is needed");
    let dir = tempfile::tempdir().unwrap();
    let prlimit = ["prlimit", "--nofile=1024:16384"];
    let config = process_config(dir.path(), "[server]\nmax_listeners = 5000\n");
    let mut daemon = DaemonProcess::spawn(dir.path(), &config, &prlimit, &[]);
    let address = daemon.address();
    let line = daemon.limit("Max open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["16384", "16384"], "{line}");
    assert!(healthz(address).unwrap().starts_with("HTTP/1.1 200"));
    assert!(daemon.terminate().success());

    // 16,300 listeners and the headroom do not fit in 16,384 descriptors.
    let config = process_config(dir.path(), "[server]\nmax_listeners = 16300\n");
    let mut refused = DaemonProcess::spawn(dir.path(), &config, &prlimit, &[]);
    let status = refused.wait();
    let log = refused.stderr();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("max_listeners: 16300 cannot be held open")
            && log.contains("the open-files limit is 16384 (hard limit 16384)")
            && log.contains("at most 16256 listeners fit"),
        "{log}"
    );
}

/// 400 idle connections against a daemon limited to 256 descriptors: accept fails with
/// EMFILE, yet `WATCHDOG=1` keeps coming (the notify socket is kept open), and once the
/// connections go the daemon answers again.
#[test]
fn systemd_still_hears_the_watchdog_when_descriptors_run_out() {
    assert!(have_prlimit(), "prlimit (util-linux) is needed");
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let config = process_config(dir.path(), "[server]\nmax_listeners = 100\n");
    let notify_env = notify_path.to_str().unwrap();
    let mut daemon = DaemonProcess::spawn(
        dir.path(),
        &config,
        &["prlimit", "--nofile=256:256"],
        &[("NOTIFY_SOCKET", notify_env), ("WATCHDOG_USEC", "1000000")],
    );
    let address = daemon.address();

    // Until the daemon's table is full and the kernel's accept queue too (then a connect
    // times out): far more than 256.
    let flood: Vec<TcpStream> = (0..400)
        .map_while(|_| TcpStream::connect_timeout(&address, Duration::from_secs(3)).ok())
        .collect();
    assert!(flood.len() > 256, "only {} connected", flood.len());
    daemon.wait_for_log("accept failed");
    assert!(daemon.open_fds() >= 250, "{} open", daemon.open_fds());
    // What was sent before the table filled up does not count.
    notify.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 4096];
    while notify.recv(&mut buffer).is_ok() {}
    notify.set_nonblocking(false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut pinged = false;
    while Instant::now() < deadline && !pinged {
        match notify.recv(&mut buffer) {
            Ok(len) => pinged = &buffer[..len] == b"WATCHDOG=1\n",
            Err(error) => panic!("no notification while out of descriptors: {error}"),
        }
    }
    assert!(pinged, "no WATCHDOG=1 while out of descriptors");
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    let failures = daemon.stderr().matches("accept failed").count();
    assert_eq!(failures, 1, "logged once, not per retry");

    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthz(address).is_ok_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "no answer after the flood");
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.wait_for_log("accepting connections again");
    assert!(daemon.terminate().success());
}
