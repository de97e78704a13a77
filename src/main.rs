//! `ambientd`: parses the command line and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use ambientctl::{Key, SynthesisParameters, params};
use ambientd::synth::BackendChoice;
use anyhow::Context;
use clap::{Parser, Subcommand};

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
    /// Renders music offline to a 16-bit stereo WAV file, through the daemon's own engine.
    Render {
        /// Length in seconds.
        #[arg(long, default_value_t = 60.0, allow_hyphen_values = true)]
        seconds: f64,
        /// The WAV file to write.
        #[arg(long)]
        out: PathBuf,
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Render {
            seconds,
            out,
            seed,
            bpm,
            key,
            intensity,
            backend,
        }) => {
            if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
                anyhow::bail!(
                    "seconds: {seconds} is out of range (allowed more than 0, at most 86400)"
                );
            }
            let seed = seed.unwrap_or_else(random_seed);
            let params = SynthesisParameters::new(key, bpm, intensity, seed)?;
            let selected = ambientd::synth::select_stage(backend);
            if selected.warning {
                eprintln!("warning: voice stage {}", selected.reason);
            }
            println!("voice stage {}", selected.reason);
            let mut generator = ambientd::generator::Generator::with_stage(params, selected.stage);
            let samples = ambientd::render::render_with(&mut generator, seconds, &[]);
            if generator.stage_failures() > 0 {
                eprintln!("warning: the GPU voice stage failed; the CPU rendered from then on");
            }
            ambientd::render::write_wav(&out, &samples)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let levels = ambientd::render::measure(&samples);
            println!(
                "wrote {} ({seconds} s, {key}, {bpm} bpm, intensity {intensity}, seed {seed}): \
                 peak {:.1} dBFS, loudness {:.1} LUFS",
                out.display(),
                levels.peak_dbfs,
                levels.integrated_lufs
            );
            Ok(())
        }
        None => daemon(cli.config, cli.listen, cli.control_socket),
    }
}

/// Daemon mode: config, logging, the bound port, then `ambientd::run` until SIGTERM/SIGINT.
fn daemon(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    control_socket: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut config = match &config {
        Some(path) => ambientd::config::Config::load(path)?,
        None => ambientd::config::Config::default(),
    };
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    if let Some(socket) = control_socket {
        config.control.socket = socket;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log.level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let address = config.server.listen;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        ambientd::run(config, listener, termination()).await?;
        Ok(())
    })
}

/// Completes at the first SIGTERM or SIGINT; a second one ends the process at once.
async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second termination signal: exiting now");
        std::process::exit(130);
    });
}

/// A seed that differs from run to run, for when the user gives none.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
