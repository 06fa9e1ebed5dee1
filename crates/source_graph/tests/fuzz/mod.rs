//! A differential fuzzer of the dependency index against Mix; see
//! `tests/fuzz_mix.rs`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod grammar;
pub mod mix;
pub mod run;
