//! Real icecast2 servers for the tests, started from `packaging/icecast/icecast.xml` (the
//! shipped example) on a free loopback port, and ffmpeg/ffprobe as the listeners.
#![allow(dead_code)] // each test uses a different subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The source password the generated configs give Icecast.
pub const SOURCE_PASSWORD: &str = "test-source-pw";
/// The mount the tests stream to.
pub const MOUNT: &str = "/ambient.opus";
/// How long any wait on Icecast may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// One icecast2 process, killed when dropped.
pub struct Icecast {
    pub port: u16,
    config: PathBuf,
    logdir: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails with how to install icecast2 when it is missing (`.ci/run` installs it).
fn require_icecast() {
    let found = Command::new("icecast2")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "icecast2 is not installed: DEBIAN_FRONTEND=noninteractive apt-get install -y icecast2 \
         (.ci/run does)"
    );
}

/// The shipped example with this test's port, passwords and log directory; `extra` goes
/// inside `<icecast>` (a relay block).
fn config_from_example(port: u16, logdir: &Path, extra: &str) -> String {
    let example = include_str!("../../packaging/icecast/icecast.xml");
    let mut xml = example
        .replace("<port>8000</port>", &format!("<port>{port}</port>"))
        .replace("CHANGE-ME-source", SOURCE_PASSWORD)
        .replace("CHANGE-ME-relay", "test-relay-pw")
        .replace("CHANGE-ME-admin", "test-admin-pw")
        .replace(
            "<logdir>/var/log/icecast2</logdir>",
            &format!("<logdir>{}</logdir>", logdir.display()),
        );
    assert!(
        xml.contains(&format!("<port>{port}</port>")),
        "the example's port moved"
    );
    // icecast2 refuses to run as root; as another user it cannot change owner.
    if !is_root() {
        let start = xml.find("<changeowner>").unwrap();
        let end = xml.find("</changeowner>").unwrap() + "</changeowner>".len();
        xml.replace_range(start..end, "");
    }
    xml.replace("</icecast>", &format!("{extra}\n</icecast>"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The relay block of `packaging/icecast/relay.xml`, pointed at `master_port`.
pub fn relay_of(master_port: u16) -> String {
    let block = include_str!("../../packaging/icecast/relay.xml");
    // The block itself starts a line (the comment above it names it too).
    let start = block.find("\n<relay>").unwrap();
    block[start..].replace("<port>8000</port>", &format!("<port>{master_port}</port>"))
}

impl Icecast {
    /// Starts icecast2 on a free port and waits until it answers.
    pub fn start(extra: &str) -> Icecast {
        Self::start_on(free_port(), extra)
    }

    pub fn start_on(port: u16, extra: &str) -> Icecast {
        require_icecast();
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().join("log");
        std::fs::create_dir(&logdir).unwrap();
        // The dropped-to user must traverse the temp dir and write its logs.
        set_mode(dir.path(), 0o755);
        set_mode(&logdir, 0o777);
        let config = dir.path().join("icecast.xml");
        std::fs::write(&config, config_from_example(port, &logdir, extra)).unwrap();
        let mut icecast = Icecast {
            port,
            config,
            logdir,
            child: None,
            _dir: dir,
        };
        icecast.spawn();
        icecast
    }

    fn spawn(&mut self) {
        // In the foreground (no -b), so the test owns and reaps the process.
        let child = Command::new("icecast2")
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + TIMEOUT;
        while http_status(self.port, "/status-json.xsl") != Some(200) {
            assert!(
                Instant::now() < deadline,
                "icecast2 on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process (as a crash or `systemctl restart` would end it).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again (after [`Icecast::kill`]) on the same port with the same config.
    pub fn start_again(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `http://127.0.0.1:PORT/ambient.opus`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{MOUNT}", self.port)
    }

    /// Whether [`MOUNT`] has a source now (status-json lists it).
    pub fn has_mount(&self) -> bool {
        self.has_mount_named(MOUNT)
    }

    /// Whether `mount` has a source now.
    pub fn has_mount_named(&self, mount: &str) -> bool {
        http_body(self.port, "/status-json.xsl")
            .is_some_and(|body| body.contains(&format!(":{}{mount}\"", self.port)))
    }

    /// Waits until [`MOUNT`] has a source.
    pub fn wait_for_mount(&self) {
        self.wait_for(MOUNT, true);
    }

    /// Waits until `mount` has a source (`present`) or has none.
    pub fn wait_for(&self, mount: &str, present: bool) {
        let deadline = Instant::now() + TIMEOUT;
        while self.has_mount_named(mount) != present {
            assert!(
                Instant::now() < deadline,
                "{mount} on {}: source {} within {TIMEOUT:?}; status: {:?}",
                self.port,
                if present { "not there" } else { "still there" },
                http_body(self.port, "/status-json.xsl")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until Icecast's status JSON contains `text`.
    pub fn wait_for_status(&self, text: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let status = http_body(self.port, "/status-json.xsl").unwrap_or_default();
            if status.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "no {text} in {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The source requests in the access log that got `status` (e.g. 401).
    pub fn source_requests(&self, status: u16) -> usize {
        let log = std::fs::read_to_string(self.logdir.join("access.log")).unwrap_or_default();
        log.lines()
            .filter(|line| line.contains(&format!("\"PUT {MOUNT} HTTP/1.1\" {status} ")))
            .count()
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        self.kill();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A blocking GET's status and body (for Icecast's status page).
pub fn blocking_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    blocking_get(port, path).map(|(status, _)| status)
}

fn http_body(port: u16, path: &str) -> Option<String> {
    blocking_get(port, path).map(|(_, body)| body)
}

/// What ffprobe says of the stream at `url`: `codec_name,sample_rate,channels`.
pub fn probe(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-select_streams",
            "a:0",
        ])
        .args(["-show_entries", "stream=codec_name,sample_rate,channels"])
        .args(["-of", "csv=p=0", url])
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `seconds` of the stream at `url` decoded by ffmpeg to 48 kHz stereo s16: the samples,
/// and what ffmpeg said on stderr (decode errors).
pub fn decode(url: &str, seconds: f64) -> (Vec<i16>, String) {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
        ])
        .args([
            "-t",
            &seconds.to_string(),
            "-f",
            "s16le",
            "-ac",
            "2",
            "-ar",
            "48000",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (samples, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Root mean square of `samples`, full scale = 1.0.
pub fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Asserts that `seconds` of the stream at `url` decode whole and are not silence.
pub fn assert_plays(url: &str, seconds: f64) {
    let (samples, errors) = decode(url, seconds);
    let expected = (seconds * 48_000.0 * 2.0) as usize;
    assert!(
        samples.len() >= expected * 95 / 100,
        "{url}: {} samples decoded, {expected} expected",
        samples.len()
    );
    assert!(errors.trim().is_empty(), "{url}: decode errors: {errors}");
    assert!(
        rms(&samples) > 1e-4,
        "{url}: silence (rms {})",
        rms(&samples)
    );
}
