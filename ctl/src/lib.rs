//! The public face of ambientd's control plane: the types that the daemon, its config file,
//! its WebSocket and the `ambientctl` client all share.
//!
//! Today this crate holds the musical parameters ([`SynthesisParameters`]): what they are, how
//! they are written as text, and what values are allowed. The control-socket protocol (JSON
//! lines over a Unix socket) will live beside them, so that a new control verb is added in one
//! place and both sides agree on it.
#![warn(missing_docs)]

pub mod params;

pub use params::{Key, Mode, Param, ParamError, SynthesisParameters};
