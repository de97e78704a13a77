//! ambientd composes endless ambient music and renders it to stereo audio.
//!
//! The audio path runs one way: [`music`] (what to play) → [`synth`] (how it sounds) →
//! [`generator`] (the two joined, phrase after phrase, with parameter changes at bar lines).

pub mod audio;
pub mod generator;
pub mod logging;
pub mod music;
pub mod notify;
pub mod render;
pub mod state;
pub mod synth;
