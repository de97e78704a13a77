//! The station: what stands between the engine and everything that listens to it.

pub mod store;
