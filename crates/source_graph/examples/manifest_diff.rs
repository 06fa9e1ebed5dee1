//! Compares the index with what Mix recorded for a compiled project, kind
//! by kind: `cargo run -p elixir-dap-source-graph --example manifest_diff --
//! PROJECT_DIR ELIXIR_VERSION` (the project compiled with `mix compile` in
//! the dev environment). Prints one line per (source, module) where they
//! differ, `MISS` when the index does not cover a kind Mix recorded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use source_graph::mix_manifest::{compare_references, manifest_path, read_manifest};
use source_graph::{default_roots, ElixirVersion, Index, KindSet};

fn kinds(k: KindSet) -> String {
    let mut out = String::new();
    for (on, c) in [(k.compile, 'C'), (k.export, 'E'), (k.runtime, 'R')] {
        out.push(if on { c } else { '-' });
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [project, version] = args.as_slice() else {
        eprintln!("usage: manifest_diff PROJECT_DIR ELIXIR_VERSION");
        return ExitCode::from(2);
    };
    let project = PathBuf::from(project);
    let Ok(elixir) = ElixirVersion::parse(version) else {
        eprintln!("not a version: {version}");
        return ExitCode::from(2);
    };
    let index = match Index::build(&project, &default_roots(&project, "dev"), elixir) {
        Ok(index) => index,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let build = project.join("_build/dev");
    let apps = std::fs::read_dir(build.join("lib")).into_iter().flatten().flatten();
    let mut misses = 0;
    for app in apps {
        let name = app.file_name().to_string_lossy().into_owned();
        let manifest = manifest_path(&build, &name);
        let Ok(sources) = read_manifest(&manifest) else {
            continue;
        };
        let app_dir = if project.join("apps").join(&name).is_dir() {
            Path::new("apps").join(&name)
        } else {
            PathBuf::new()
        };
        for d in compare_references(&index, &app_dir, &sources) {
            if d.is_miss() {
                misses += 1;
            }
            println!(
                "{} {} -> {}: mix {} index {}",
                if d.is_miss() { "MISS " } else { "extra" },
                d.source.display(),
                d.module,
                kinds(d.mix),
                kinds(d.index)
            );
        }
    }
    println!("{misses} misses");
    ExitCode::SUCCESS
}
