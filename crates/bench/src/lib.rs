//! Benchmarks for elixir-dap.
//!
//! For now: [`generator`], which writes realistic Mix projects of a chosen
//! size, deterministically, and describes what a reload benchmark needs to
//! drive them.

pub mod generator;
