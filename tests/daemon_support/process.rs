//! The real `ambientd` binary as a child process (for what only a process shows: resource
//! limits, SIGKILL, exit codes), with its own directory, config, control socket and log.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::TIMEOUT;

/// A daemon process; dropping it kills it.
pub struct DaemonProcess {
    pub child: Child,
    pub dir: PathBuf,
}

/// The config every process test starts from: any free port, the control socket and the
/// state in `dir`, the CPU back-end, a fixed seed; `extra` is appended (whole sections).
pub fn process_config(dir: &Path, extra: &str) -> String {
    format!(
        "[control]\nsocket = \"{dir}/control.sock\"\n[state]\ndir = \"{dir}/state\"\n\
         [synth]\nbackend = \"cpu\"\n[log]\ntarget = \"stderr\"\nlevel = \"info\"\n\
         [music]\nseed = 3\n{extra}",
        dir = dir.display()
    )
}

impl DaemonProcess {
    /// Runs `prefix... ambientd --config DIR/ambientd.toml --listen 127.0.0.1:0` with `env`,
    /// writing `config` there first; stderr goes to DIR/stderr.log.
    pub fn spawn(dir: &Path, config: &str, prefix: &[&str], env: &[(&str, &str)]) -> Self {
        let config_path = dir.join("ambientd.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr = File::create(dir.join("stderr.log")).unwrap();
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_ambientd"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_ambientd")),
        };
        command
            .arg("--config")
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .env_remove("RUST_LOG")
            .env_remove("FAILPOINTS")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        DaemonProcess {
            child: command.spawn().unwrap(),
            dir: dir.to_path_buf(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (failing if the daemon exits first).
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.stderr();
            if log.contains(needle) {
                return log;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}) before logging {needle:?}: {log}");
            }
            assert!(Instant::now() < deadline, "no {needle:?} in the log: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The HTTP address, from the "listening" line.
    pub fn address(&mut self) -> SocketAddr {
        let log = self.wait_for_log("ready");
        let (_, rest) = log.split_once("address=").expect("a listening line");
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown path runs, as on a power cut or an OOM kill.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait()
    }

    /// This process's line of `/proc/PID/limits` for `name`, e.g. "Max open files".
    pub fn limit(&self, name: &str) -> String {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).unwrap();
        limits
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {limits}"))
            .to_string()
    }

    /// How many descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
