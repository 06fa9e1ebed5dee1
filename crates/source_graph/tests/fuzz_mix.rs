//! The differential fuzzer: random small Mix projects (3 to 12 files) from
//! a grammar of the constructs whose dependency kinds matter (structs in
//! every position, attributes read or not, macros and their quotes, `use`,
//! `@behaviour`, `import`/`require`/`alias`, `defdelegate`, protocols,
//! `defimpl`, `@derive`, persisted attributes, `__MODULE__`, nested
//! modules; `fuzz/grammar/`), compiled by Mix, each file edited in turn
//! (a public function added) and `mix compile --verbose`'s files compared
//! with `Index::affected`. A file Mix recompiles that the index does not
//! plan is a miss: shrunk to a minimal project, confirmed with a `mix`
//! process of its own, and reported; the test fails. Files only the index
//! plans are counted (supersets). After each cold compile the index's
//! reference kinds are compared with Mix's manifest too. The index follows
//! the rules of the Elixir on PATH.
//!
//! - `fuzz_fixed_seed` (CI): seed 18, at most 400 edits or 150 s, on the
//!   machine's BEAM.
//! - `fuzz_long` (ignored, by hand): `FUZZ_SEED` (default 1),
//!   `FUZZ_EDITS` (default 2000), `FUZZ_MINUTES` (default 120),
//!   `FUZZ_DIR` (where projects are written; default a temporary
//!   directory), `FUZZ_SHRINK=0` to report misses unshrunk:
//!   `FUZZ_EDITS=2000 cargo test --release -p elixir-dap-source-graph --test
//!   fuzz_mix -- --ignored --nocapture`.
//!
//! Needs `mix` and `elixir` on PATH: without them the tests fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

mod fuzz;
mod oracle;

use fuzz::run::{Config, Fuzzer, Stats};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn check(stats: &Stats, elixir: source_graph::ElixirVersion) {
    println!("{}", stats.summary(elixir));
    for example in &stats.superset_examples {
        println!("SUPERSET {example}");
    }
    for kind in stats.kind_misses.iter().take(20) {
        println!("KIND MISS {kind}");
    }
    for invalid in stats.invalid.iter().take(3) {
        println!("INVALID PROJECT\n{invalid}");
    }
    let mut failures = Vec::new();
    if !stats.misses.is_empty() {
        failures.push(format!(
            "{} edits missed files:\n{}",
            stats.misses.len(),
            stats.misses[0].report
        ));
    }
    if !stats.invalid.is_empty() {
        failures.push(format!(
            "{} generated projects did not compile (a generator bug)",
            stats.invalid.len()
        ));
    }
    if !stats.kind_misses.is_empty() {
        failures.push(format!(
            "{} kinds Mix recorded that the index does not cover, first:\n{}",
            stats.kind_misses.len(),
            stats.kind_misses[0]
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fuzz_fixed_seed() {
    let elixir = oracle::elixir_version();
    let tmp = tempfile::tempdir().unwrap();
    let stats = Fuzzer::new(Config {
        seed: 18,
        max_edits: 400,
        budget: Duration::from_secs(150),
        elixir,
        work: tmp.path().to_path_buf(),
        shrink: true,
        verbose: false,
    })
    .run();
    check(&stats, elixir);
}

#[test]
#[ignore = "long: run by hand before changing the index (FUZZ_EDITS, FUZZ_MINUTES, FUZZ_SEED)"]
fn fuzz_long() {
    let elixir = oracle::elixir_version();
    let tmp = tempfile::tempdir().unwrap();
    let work = std::env::var_os("FUZZ_DIR").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let stats = Fuzzer::new(Config {
        seed: env_or("FUZZ_SEED", 1),
        max_edits: env_or("FUZZ_EDITS", 2000),
        budget: Duration::from_secs(60 * env_or("FUZZ_MINUTES", 120u64)),
        elixir,
        work,
        shrink: env_or("FUZZ_SHRINK", 1) != 0,
        verbose: true,
    })
    .run();
    check(&stats, elixir);
}
