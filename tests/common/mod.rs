//! Shared helpers for the black-box tests.

#![allow(dead_code)] // each test binary uses a different subset

pub mod analysis;
