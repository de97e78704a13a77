//! ambientd composes endless ambient music and renders it to stereo audio.
//!
//! The audio path runs one way: [`music`] (what to play) → [`synth`] (how it sounds) →
//! [`generator`] (the two joined, phrase after phrase, with parameter changes at bar lines).
//! The daemon ([`daemon::run`]) renders on its own thread ([`audio::engine`]) into a ring
//! and [`stream`]s 100 ms chunks to WebSocket and HTTP listeners; [`config`] is its file.

pub mod audio;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod manual;
pub mod music;
pub mod render;
pub mod shutdown;
pub mod station;
pub mod stream;
pub mod synth;

pub use daemon::{Hooks, Listeners, run};
