//! `ambientd`: parses the command line and hands over to the library.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;

use ambientctl::{Key, SynthesisParameters, params};
use ambientd::config::{Config, Overrides};
use ambientd::render::stream::Format;
use ambientd::synth::BackendChoice;
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

/// Composes and streams endless ambient music.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (TOML); without it, built-in defaults serve.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of the HTTP/WebSocket port (overrides `[server] listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Path of the Unix control socket (overrides `[control] socket`).
    #[arg(long)]
    control_socket: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Renders music offline to a 16-bit stereo WAV or FLAC file, through the daemon's own
    /// engine.
    Render {
        /// Length in seconds.
        #[arg(long, default_value_t = 60.0, allow_hyphen_values = true)]
        seconds: f64,
        /// The file to write; `-` writes it to stdout (status lines then go to stderr).
        #[arg(long, allow_hyphen_values = true)]
        out: PathBuf,
        /// File format: by default FLAC when the file name ends in `.flac`, else WAV (and
        /// WAV on stdout).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Composition seed (random if not given; printed either way).
        #[arg(long, value_parser = params::parse_seed, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Tempo, 40..=120.
        #[arg(long, default_value_t = params::BPM_DEFAULT, value_parser = params::parse_bpm, allow_hyphen_values = true)]
        bpm: u16,
        /// Key, e.g. "D minor", "F#m", "C".
        #[arg(long, default_value = "A minor")]
        key: Key,
        /// Intensity, 0.0..=1.0.
        #[arg(long, default_value_t = params::INTENSITY_DEFAULT, value_parser = params::parse_intensity, allow_hyphen_values = true)]
        intensity: f32,
        /// Voice-stage back-end: CUDA when a GPU is there (auto), forced CUDA, or the CPU.
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
        /// Every SECONDS of audio, print that stretch's integrated loudness and peak and the
        /// process's memory (one line on stderr), then the spread at the end: a long render's
        /// drift, period by period (e.g. 3600 for a 24-hour soak).
        #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
        loudness_every: Option<i64>,
    },
    /// Checks a configuration file the way start-up and reload read it, and says what is wrong
    /// (file:line:column and the allowed values) or that it is fine; nothing is started.
    ///
    /// Exit status 0 when the file is valid, 1 when it is not.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    Manpage {
        /// Write ambientd.1 and ambientd-<command>.1 here instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line with its causes, never a backtrace (RUST_BACKTRACE is for panics).
            eprintln!("ambientd: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Render {
            seconds,
            out,
            format,
            seed,
            bpm,
            key,
            intensity,
            backend,
            loudness_every,
        }) => {
            if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
                anyhow::bail!(
                    "seconds: {seconds} is out of range (allowed more than 0, at most 86400)"
                );
            }
            if let Some(every) = loudness_every.filter(|every| !(1..=86_400).contains(every)) {
                anyhow::bail!("loudness-every: {every} is out of range (allowed 1..=86400)");
            }
            let seed = seed.unwrap_or_else(random_seed);
            let params = SynthesisParameters::new(key, bpm, intensity, seed)?;
            let format = format.unwrap_or_else(|| Format::for_path(&out)); // "-": WAV
            render(params, seconds, &out, format, backend, loudness_every)
        }
        Some(Command::CheckConfig { file }) => {
            let config = Config::load(&file)?;
            ambientd::config::lookup_group(&config.control.group)?;
            println!(
                "{}: valid (listen {}, control socket {}, {} {} bpm)",
                file.display(),
                config.server.listen,
                config.control.socket_path().display(),
                config.music.key,
                config.music.bpm
            );
            Ok(())
        }
        Some(Command::Completions { shell }) => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "ambientd", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Manpage { out_dir: None }) => {
            man_page(&mut std::io::stdout()).context("writing the man page")
        }
        Some(Command::Manpage { out_dir: Some(dir) }) => {
            man_pages(&dir).with_context(|| format!("writing man pages into {}", dir.display()))
        }
        None => daemon(cli.config, cli.listen, cli.control_socket),
    }
}

/// Daemon mode: config, logging, signals, the bound sockets, then `ambientd::run` until
/// SIGTERM/SIGINT; the control socket file is removed on the way out.
fn daemon(
    config_path: Option<PathBuf>,
    listen: Option<SocketAddr>,
    control_socket: Option<PathBuf>,
) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen,
        control_socket,
    };
    let mut config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    overrides.apply(&mut config);
    let (sink, log_level) =
        ambientd::daemon::logging::init(config.log.level.as_str(), config.log.target)
            .map_err(anyhow::Error::msg)?;
    tracing::info!(logs = ?sink, version = env!("CARGO_PKG_VERSION"), "ambientd starting");
    if sink == ambientd::daemon::logging::LogSink::StderrJournalUnavailable {
        tracing::warn!(
            "the journal was chosen (log.target or JOURNAL_STREAM) but cannot be reached; using stderr"
        );
    }
    let outcome = serve(config, config_path, overrides, log_level);
    // A fatal error after start-up goes to the journal at error priority too (stderr, which
    // systemd also keeps, would file it at info).
    if let Err(error) = &outcome
        && sink == ambientd::daemon::logging::LogSink::Journal
    {
        tracing::error!("{error:#}");
    }
    outcome
}

/// Signals, the bound sockets, then `ambientd::run` until SIGTERM/SIGINT.
fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    log_level: ambientd::daemon::logging::LevelHandle,
) -> anyhow::Result<()> {
    let signals = ambientd::daemon::signals::install().context("cannot install signal handlers")?;
    // Test builds only: FAILPOINTS="engine::render=..." injects faults into a real daemon.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();

    let socket_path = config.control.socket_path();
    let group = ambientd::config::lookup_group(&config.control.group)?;
    let control = ambientctl::bind_control_socket(&socket_path, ambientctl::SOCKET_MODE, group)
        .map_err(|e| match e {
            // That error already says what to do; a "writable path" hint would contradict it.
            ambientctl::BindError::AlreadyRunning { .. } => anyhow::Error::new(e),
            other => anyhow::anyhow!(
                "{other} (choose a writable path with --control-socket or [control] socket)"
            ),
        })?;
    let _remove_socket = ambientctl::RemoveOnDrop::new(&socket_path);
    tracing::info!(socket = %socket_path.display(), "control socket bound");
    control.set_nonblocking(true)?;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listeners = ambientd::Listeners {
            http: http_listener(config.server.listen).await?,
            control: tokio::net::UnixListener::from_std(control)?,
        };
        let stopping = signals.stop_future();
        let hooks = ambientd::Hooks {
            config_path,
            overrides,
            notifier: ambientd::daemon::notify::Notifier::from_env(),
            log_level,
            reloads: Some(signals.reloads),
        };
        ambientd::run(config, listeners, hooks, stopping).await?;
        anyhow::Ok(())
    })
}

/// The HTTP listener: the socket systemd passed (socket activation, `LISTEN_FDS`), else a
/// new one bound to `address`.
async fn http_listener(address: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let passed = sd_notify::listen_fds().context("LISTEN_FDS")?.next();
    if let Some(fd) = passed {
        // SAFETY: sd_notify returned this descriptor only because LISTEN_PID names this
        // process: systemd opened it for us, nothing else in the process owns or closes it,
        // and it is taken exactly once here.
        #[allow(unsafe_code)]
        let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let listener = std::net::TcpListener::from(owned);
        listener.set_nonblocking(true)?;
        tracing::info!("using the HTTP socket passed by systemd (socket activation)");
        return Ok(tokio::net::TcpListener::from_std(listener)?);
    }
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::AddrInUse {
                "; is another ambientd (or another server) on that port? Choose another \
                 address with --listen ADDR or [server] listen"
            } else {
                ""
            };
            anyhow::anyhow!("cannot listen on {address}: {error}{hint}")
        })
}

/// `ambientd render`: streams the render into `out` (`-` for stdout, then every status line
/// goes to stderr), with a progress bar while stderr is a terminal.
fn render(
    params: SynthesisParameters,
    seconds: f64,
    out: &std::path::Path,
    format: Format,
    backend: BackendChoice,
    loudness_every: Option<i64>,
) -> anyhow::Result<()> {
    use ambientd::render::periods::{PeriodMeter, Spread};
    use std::io::IsTerminal;
    let to_stdout = out.as_os_str() == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "out: \"-\" writes the {} to stdout, which is a terminal; \
             pipe it (e.g. | ffplay -) or give a file name",
            format.name()
        );
    }
    let say = |line: &str| {
        if to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let selected = ambientd::synth::select_stage(backend);
    if selected.warning {
        eprintln!("warning: voice stage {}", selected.reason);
    }
    say(&format!("voice stage {}", selected.reason));
    let (file, name) = open_output(out)?;
    let bar = progress_bar(ambientd::render::frames_in(seconds));
    let mut generator = ambientd::engine::generator::Generator::with_stage(params, selected.stage);
    let spread = std::sync::Arc::new(std::sync::Mutex::new(Spread::default()));
    let periods = loudness_every.map(|every| {
        let spread = spread.clone();
        let bar = bar.clone();
        PeriodMeter::new(every as f64, move |period| {
            // Above the progress bar, which redraws below it.
            bar.suspend(|| eprintln!("{}", period.line()));
            spread.lock().unwrap_or_else(|e| e.into_inner()).add(period);
        })
    });
    let rendered = ambientd::render::stream::render_to_with(
        &mut generator,
        seconds,
        &[],
        &file,
        &mut |frames| bar.set_position(frames),
        ambientd::render::stream::Options { format, periods },
    );
    bar.finish_and_clear();
    if generator.stage_failures() > 0 {
        eprintln!("warning: the GPU voice stage failed; the CPU rendered from then on");
    }
    // One line: a closed pipe (`| head`) is an ordinary way for a render to end early.
    let rendered = rendered.map_err(|error| {
        anyhow::anyhow!(
            "cannot write {name}: {error}; the render stopped at {:.1} of {seconds} s",
            generator.frame() as f64 / f64::from(ambientd::audio::SAMPLE_RATE)
        )
    })?;
    if let (Some(header), false) = (&rendered.final_header, to_stdout) {
        // What only the end knows (FLAC's MD5 and frame sizes); a pipe keeps "unknown".
        use std::os::unix::fs::FileExt;
        file.write_all_at(header, 0)
            .with_context(|| format!("cannot finish the header of {name}"))?;
    }
    let levels = rendered.levels;
    say(&format!(
        "wrote {name} ({seconds} s, {}, {} bpm, intensity {}, seed {}): \
         peak {:.1} dBFS, loudness {:.1} LUFS",
        params.key(),
        params.bpm(),
        params.intensity(),
        params.seed(),
        levels.peak_dbfs,
        levels.integrated_lufs
    ));
    if let Some(every) = loudness_every {
        let spread = *spread.lock().unwrap_or_else(|e| e.into_inner());
        say(&format!("loudness every {every} s, {}", spread.line()));
    }
    Ok(())
}

/// The file a render writes (`-`: stdout) and the name its messages give it.
fn open_output(out: &std::path::Path) -> anyhow::Result<(std::fs::File, String)> {
    if out.as_os_str() == "-" {
        // The descriptor itself, not `Stdout`, which would scan the audio for line breaks.
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok((std::fs::File::from(stdout), "stdout".to_string()))
    } else {
        let name = out.display().to_string();
        let file = std::fs::File::create(out).with_context(|| format!("cannot write {name}"))?;
        Ok((file, name))
    }
}

/// A progress bar over `total` frames while stderr is a terminal; a hidden one otherwise.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{wide_bar} {percent:>3} % · {elapsed} · {eta} left",
        )
        .expect("a valid progress template"),
    )
}

/// ambientd(1): clap's sections from the command definition, then the hand-written FILES,
/// ENVIRONMENT, SIGNALS, EXIT STATUS and SEE ALSO.
fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    ambientctl::manpage::write(Cli::command(), ambientd::manual::AMBIENTD_SECTIONS, out)
}

/// ambientd.1, one ambientd-<command>.1 per command, and ambientd.toml.5 into `dir`.
fn man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    man_page(&mut std::fs::File::create(dir.join("ambientd.1"))?)?;
    let page = ambientd::manual::config_page(env!("CARGO_PKG_VERSION"));
    std::fs::write(dir.join("ambientd.toml.5"), page)
}

/// A seed that differs from run to run, for when the user gives none.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
