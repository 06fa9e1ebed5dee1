//! Benchmarks for elixir-dap.
//!
//! - [`generator`] writes realistic Mix projects of a chosen size,
//!   deterministically, and describes what a reload benchmark needs to drive
//!   them;
//! - [`runner`] drives the real `elixir-dap` binary over DAP
//!   ([`dap_client`]) on generated projects, runs the
//!   [registry](measurements::MEASUREMENTS) of measurements, compares with
//!   plain Mix ([`mix_vm`]) and writes a JSON report whose headline is the
//!   [`summary`]; [`bench`] is what each measurement works with (a size's
//!   context, the timeouts).

pub mod bench;
pub mod dap_client;
pub mod generator;
pub mod machine;
pub mod measurements;
pub mod mix_vm;
pub mod runner;
pub mod stats;
pub mod summary;
