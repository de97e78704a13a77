//! `ambientd render` to FLAC: a `.flac` file name (or `--format flac`) gives a FLAC file that
//! the reference `flac` tool verifies (MD5 included) and that ffmpeg decodes to exactly the
//! samples of the WAV render with the same arguments; on a pipe the same audio, with the MD5
//! left "unknown".

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const ARGS: [&str; 10] = [
    "--backend",
    "cpu",
    "--seed",
    "21",
    "--seconds",
    "12.3456",
    "--key",
    "D minor",
    "--intensity",
    "0.7",
];

fn ambientd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ambientd"))
}

fn render(out: &str, extra: &[&str]) -> std::process::Output {
    let output = ambientd()
        .arg("render")
        .args(ARGS)
        .args(["--out", out])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The 16-bit samples ffmpeg decodes from `input` (a file, or `-` with `stdin`).
fn ffmpeg_pcm(input: &str, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            input,
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (apt install ffmpeg)");
    let mut child_stdin = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = child_stdin.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `flac --test`: the reference decoder's verdict, MD5 check included when the file has one.
fn flac_test(path: &Path) -> String {
    let output = Command::new("flac")
        .args(["--test", "--silent"])
        .arg(path)
        .output()
        .expect("flac (apt install flac)");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "flac --test: {text}");
    text
}

fn wav_body(path: &Path) -> Vec<u8> {
    let wav = std::fs::read(path).unwrap();
    assert_eq!(&wav[36..40], b"data");
    wav[44..].to_vec()
}

#[test]
fn a_flac_file_holds_the_wav_renders_samples_exactly_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    let flac = dir.path().join("a.FLAC"); // the extension in any case
    render(wav.to_str().unwrap(), &[]);
    let said = render(flac.to_str().unwrap(), &[]);
    let said = String::from_utf8_lossy(&said.stdout);
    assert!(said.contains("wrote ") && said.contains("LUFS"), "{said}");

    let bytes = std::fs::read(&flac).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    assert_ne!(&bytes[26..42], &[0; 16], "a file gets the MD5 at the end");
    let pcm = wav_body(&wav);
    assert_eq!(pcm.len(), 544_441 * 4, "12.3456 s is 544,441 frames");
    assert!(
        bytes.len() < pcm.len() * 3 / 4,
        "FLAC {} bytes against PCM {}",
        bytes.len(),
        pcm.len()
    );
    flac_test(&flac);
    assert!(
        ffmpeg_pcm(flac.to_str().unwrap(), &[]) == pcm,
        "FLAC decodes to the WAV's samples"
    );
}

#[test]
fn flac_on_a_pipe_is_the_same_audio_with_the_md5_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    render(wav.to_str().unwrap(), &[]);
    let piped = render("-", &["--format", "flac"]);
    let status = String::from_utf8_lossy(&piped.stderr);
    assert!(
        status.contains("wrote stdout"),
        "status on stderr: {status}"
    );
    let bytes = piped.stdout;
    assert_eq!(&bytes[..4], b"fLaC");
    assert_eq!(&bytes[26..42], &[0; 16], "a pipe cannot be rewritten");
    let copy = dir.path().join("piped.flac");
    std::fs::write(&copy, &bytes).unwrap();
    flac_test(&copy);
    assert!(
        ffmpeg_pcm("-", &bytes) == wav_body(&wav),
        "piped FLAC decodes to the WAV's samples"
    );
}

#[test]
fn format_wav_overrides_the_file_name_and_a_bad_format_names_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let named_flac = dir.path().join("really-a.flac");
    render(named_flac.to_str().unwrap(), &["--format", "wav"]);
    assert_eq!(&std::fs::read(&named_flac).unwrap()[..4], b"RIFF");

    let refused = ambientd()
        .args([
            "render",
            "--seconds",
            "1",
            "--out",
            "x.mp3",
            "--format",
            "mp3",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("--format") && error.contains("wav") && error.contains("flac"),
        "{error}"
    );
    assert!(!Path::new("x.mp3").exists());
}
