//! `ambientd render` streamed: the same samples as before it streamed, in constant memory, to a
//! file or a pipe, with a header ffprobe reads, and one line when the reader goes away.

use std::io::Read;
use std::process::{Command, Stdio};

use ambientctl::SynthesisParameters;
use ambientd::audio::{CHANNELS, f32_to_i16};
use ambientd::engine::generator::Generator;
use ambientd::render::stream::{CHUNK_FRAMES, render_to};
use ambientd::render::{LevelMeter, ParamChange, measure, render, render_with};

fn params(key: &str, bpm: u16, intensity: f32, seed: u64) -> SynthesisParameters {
    SynthesisParameters::new(key.parse().unwrap(), bpm, intensity, seed).unwrap()
}

fn ambientd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ambientd"))
}

/// FNV-1a, 64 bits: a fingerprint of a file, to hold renders to what they were.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn pcm16_le(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&s| f32_to_i16(s).to_le_bytes())
        .collect()
}

/// The fingerprints of two renders' WAV files taken with the binary of `917fb7d`, before the
/// render streamed (it held the whole render and wrote it with `hound`): the music and the
/// file are unchanged, byte for byte.
#[test]
fn the_streamed_cli_render_is_byte_identical_to_the_render_before_streaming() {
    for (args, fingerprint, length) in [
        (
            "--seed 3 --key Dm --bpm 90 --intensity 0.8 --seconds 60",
            0xaff5_6690_ea54_42a0_u64,
            10_584_044,
        ),
        (
            "--seed 11 --bpm 120 --intensity 0.0 --seconds 123.4567",
            0x9b70_e616_4d38_2e9a,
            21_777_804,
        ),
    ] {
        let out = ambientd()
            .args(["render", "--backend", "cpu", "--out", "-"])
            .args(args.split(' '))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), length, "{args}");
        assert_eq!(fnv1a(&out.stdout), fingerprint, "{args}: not the same file");
    }
}

/// Whole blocks while more than a chunk remains, then the rest: the same f32 samples as one
/// `render` call, whatever the chunk size, across phrase boundaries and parameter changes.
#[test]
fn rendering_whole_blocks_then_the_rest_gives_the_samples_of_one_call() {
    let p = params("C major", 117, 0.9, 5);
    let mut changed = p;
    changed.set_bpm(52).unwrap();
    let changes = [ParamChange {
        at_sec: 37.77,
        params: changed,
    }];
    let reference = render(p, 80.0, &changes);
    let change_at = (37.77f64 * 44_100.0).round() as usize;
    for chunk_frames in [512, 700, 4_410, CHUNK_FRAMES] {
        let mut generator = Generator::new(p);
        let mut chunk = vec![0.0f32; chunk_frames * CHANNELS];
        let mut out = Vec::with_capacity(reference.len());
        let total = reference.len() / CHANNELS;
        for (start, end) in [(0, change_at), (change_at, total)] {
            if start == change_at {
                generator.set_params(changed);
            }
            let mut done = start;
            while done < end {
                let frames = if end - done <= chunk_frames {
                    generator.render(&mut chunk[..(end - done) * CHANNELS]);
                    end - done
                } else {
                    generator.render_whole_blocks(&mut chunk)
                };
                assert!(frames > 0);
                out.extend_from_slice(&chunk[..frames * CHANNELS]);
                done += frames;
            }
        }
        assert!(
            out == reference,
            "chunks of {chunk_frames} frames changed the samples"
        );
    }
}

/// `render_to` writes exactly the in-memory render (with changes) as PCM16 after a 44-byte
/// header, reports progress up to the end, and measures what it wrote as `measure` does.
#[test]
fn render_to_writes_the_in_memory_render_and_measures_it_as_it_goes() {
    let start = params("A minor", 70, 0.5, 9);
    let mut p = start;
    p.set_key("D minor".parse().unwrap());
    let mut q = p;
    q.set_intensity(1.0).unwrap();
    let changes = [
        ParamChange {
            at_sec: 23.7,
            params: q,
        },
        ParamChange {
            at_sec: 11.3,
            params: p,
        },
    ];
    let seconds = 41.3;
    let reference = render_with(&mut Generator::new(start), seconds, &changes);
    let mut file = Vec::new();
    let mut reported = Vec::new();
    let rendered = render_to(
        &mut Generator::new(start),
        seconds,
        &changes,
        &mut file,
        &mut |frames| reported.push(frames),
    )
    .unwrap();
    let frames = (reference.len() / CHANNELS) as u64;
    assert_eq!(rendered.frames, frames);
    assert_eq!(rendered.bytes, file.len() as u64);
    assert_eq!(file.len(), 44 + reference.len() * 2);
    assert!(file[44..] == pcm16_le(&reference)[..], "different samples");
    assert!(reported.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(reported.last(), Some(&frames));
    let whole = measure(&reference);
    assert_eq!(rendered.levels.peak_dbfs, whole.peak_dbfs);
    assert_eq!(rendered.levels.dc, whole.dc);
    assert!(
        (rendered.levels.integrated_lufs - whole.integrated_lufs).abs() < 1e-9,
        "{} vs {}",
        rendered.levels.integrated_lufs,
        whole.integrated_lufs
    );
}

/// `render_to` runs the post stage's tail on its writer thread and gives it back at the end:
/// the same generator then renders on, whole, as if it had rendered everything itself.
#[test]
fn after_render_to_the_generator_renders_on_whole() {
    let start = params("E minor", 62, 0.7, 21);
    // The reference: 20 s in one call, then 10 s in another, block cuts and all.
    let mut plain = Generator::new(start);
    let first = render_with(&mut plain, 20.0, &[]);
    let then = render_with(&mut plain, 10.0, &[]);
    let mut generator = Generator::new(start);
    let mut file = Vec::new();
    render_to(&mut generator, 20.0, &[], &mut file, &mut |_| {}).unwrap();
    assert!(
        file[44..] == pcm16_le(&first)[..],
        "the streamed 20 s differ"
    );
    let rest = render_with(&mut generator, 10.0, &[]);
    assert!(rest == then, "the 10 s rendered after render_to differ");
}

#[test]
fn the_level_meter_fed_in_pieces_gives_the_figures_of_the_whole() {
    let audio = render(params("E minor", 80, 0.7, 2), 12.0, &[]);
    let mut meter = LevelMeter::new();
    for piece in audio.chunks(2 * 1_234) {
        meter.add(piece);
    }
    let pieces = meter.levels();
    let whole = measure(&audio);
    assert_eq!(pieces.peak_dbfs, whole.peak_dbfs);
    assert_eq!(pieces.dc, whole.dc);
    assert!((pieces.integrated_lufs - whole.integrated_lufs).abs() < 1e-9);
    assert!((-30.0..-10.0).contains(&whole.integrated_lufs));
}

/// `--out -`: the WAV on stdout is the file's, byte for byte; every status line is on stderr,
/// and in a pipe there is no progress bar (no carriage return, no escape sequence).
#[test]
fn out_dash_writes_the_same_wav_to_stdout_with_status_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let args = [
        "render",
        "--seconds",
        "7",
        "--seed",
        "21",
        "--backend",
        "cpu",
    ];
    let to_file = ambientd()
        .args(args)
        .arg("--out")
        .arg(&path)
        .output()
        .unwrap();
    assert!(to_file.status.success());
    let to_stdout = ambientd().args(args).args(["--out", "-"]).output().unwrap();
    assert!(to_stdout.status.success());
    assert!(
        to_stdout.stdout == std::fs::read(&path).unwrap(),
        "stdout differs from the file"
    );
    let stderr = String::from_utf8(to_stdout.stderr).unwrap();
    assert!(stderr.contains("voice stage cpu: configured"), "{stderr}");
    assert!(
        stderr.contains("wrote stdout (7 s, A minor, 70 bpm, intensity 0.5, seed 21)")
            && stderr.contains("LUFS"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    let file_stdout = String::from_utf8(to_file.stdout).unwrap();
    assert!(file_stdout.contains("wrote ") && file_stdout.contains("LUFS"));
}

/// `| head -c 1000`: the reader goes away after 1000 bytes of an hour's render; the render
/// stops at once with one line naming why, and no panic.
#[test]
fn a_closed_pipe_ends_the_render_with_one_line_and_no_panic() {
    let mut child = ambientd()
        .args(["render", "--seconds", "3600", "--seed", "1", "--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1000];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first[..4], b"RIFF");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ambientd: cannot write stdout: the reader closed the output after ")
            && stderr.contains("the render stopped at"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stopped_at: f64 = stderr
        .split("stopped at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no stop time in {stderr}"));
    assert!(
        stopped_at < 60.0,
        "rendered on to {stopped_at} s with no reader"
    );
}

/// ffprobe reads the length the streamed header declares: a plain RIFF header for a minute
/// (written to stdout, redirected to a file: ffprobe takes a RIFF length from a file only),
/// and RF64 for 7 hours (past 4 GiB) read from a pipe. ffprobe stops reading after the header,
/// so the long render ends on a closed pipe.
#[test]
fn ffprobe_reads_the_declared_length_of_a_streamed_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minute.wav");
    let minute = ambientd()
        .args(["render", "--seed", "2", "--out", "-", "--seconds", "60"])
        .stdout(std::fs::File::create(&path).unwrap())
        .status()
        .unwrap();
    assert!(minute.success());
    let text = ffprobe(path.to_str().unwrap(), Stdio::null());
    assert_probed(&text, "duration=60.000000");
    assert!(text.contains("format_name=wav"), "{text}");

    let mut render = ambientd()
        .args(["render", "--seed", "2", "--out", "-", "--seconds", "25200"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text = ffprobe("pipe:0", Stdio::from(render.stdout.take().unwrap()));
    render.wait().unwrap();
    assert_probed(&text, "duration=25200.000000");
}

fn ffprobe(input: &str, stdin: Stdio) -> String {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=codec_name,sample_rate,channels:format=format_name,duration"])
        .args(["-of", "default=nw=1", "-i", input])
        .stdin(stdin)
        .output()
        .expect("run ffprobe (apt-get install ffmpeg)");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    String::from_utf8_lossy(&probe.stdout).into_owned()
}

fn assert_probed(text: &str, duration: &str) {
    for line in [
        "codec_name=pcm_s16le",
        "sample_rate=44100",
        "channels=2",
        duration,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in {text}");
    }
}

/// Constant memory: the peak resident set of a 5-minute render, read from /proc while the
/// render waits on the pipe near its end. Before streaming it held the whole render (30 min
/// took 915–937 MB, issue 15; these 5 min are 100 MiB of f32); now a few MB whatever the length.
#[test]
fn a_long_render_holds_a_few_megabytes_not_the_render() {
    let seconds = 300;
    let mut child = ambientd()
        .args(["render", "--seed", "4", "--out", "-", "--backend", "cpu"])
        .args(["--seconds", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let total = 44 + seconds * 44_100 * 4;
    let mut buffer = vec![0u8; 1 << 16];
    let mut read = 0;
    // Read all but the last megabyte: the render cannot have finished, it waits to write.
    while read < total - (1 << 20) {
        read += stdout.read(&mut buffer).unwrap();
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        peak_kib < 40 * 1024,
        "peak RSS {peak_kib} KiB for {seconds} s (the render is {} KiB)",
        seconds * 44_100 * 8 / 1024
    );
}

/// On a terminal (a pty from util-linux `script`) stderr shows a progress bar, cleared at the
/// end, and the status lines still come through.
#[test]
fn a_progress_bar_shows_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("t.wav");
    let command = format!(
        "{} render --seconds 120 --seed 1 --backend cpu --out {}",
        env!("CARGO_BIN_EXE_ambientd"),
        wav.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("run script (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains(" % · ") && terminal.contains("left") && terminal.contains("\x1b[2K"),
        "no progress bar: {terminal:?}"
    );
    assert!(
        terminal.contains("wrote ") && terminal.contains("LUFS"),
        "{terminal:?}"
    );
    assert_eq!(
        std::fs::metadata(&wav).unwrap().len(),
        44 + 120 * 44_100 * 4
    );
}

/// `--out -` on a terminal would print the audio as text: refused with one line, nothing
/// rendered.
#[test]
fn out_dash_on_a_terminal_is_refused() {
    let command = format!(
        "{} render --seconds 1 --seed 1 --out -",
        env!("CARGO_BIN_EXE_ambientd")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("run script (util-linux)");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{terminal:?}");
    assert!(
        terminal.contains("ambientd: out: \"-\" writes the WAV to stdout, which is a terminal"),
        "{terminal:?}"
    );
    assert!(!terminal.contains("RIFF"), "{terminal:?}");
}
