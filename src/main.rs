//! `ambientd`: parses the command line and hands over to the library.

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
        None => anyhow::bail!("the streaming daemon is not built yet; use `ambientd render`"),
    }
}

/// A seed that differs from run to run, for when the user gives none.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
