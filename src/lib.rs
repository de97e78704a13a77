//! ambientd composes endless ambient music and renders it to stereo audio.
//!
//! The audio path runs one way: [`music`] (what to play) → [`synth`] (how it sounds) →
//! [`generator`] (the two joined, phrase after phrase, with parameter changes at bar lines).

pub mod audio;
pub mod config;
pub mod generator;
pub mod music;
pub mod render;
pub mod synth;
