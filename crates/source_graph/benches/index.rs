//! Index speed on a generated project: 2 000 realistic Elixir files (a
//! schema with a struct, a context with aliases/imports/remote calls, a
//! `use`d base module, module-body compile-time calls, a protocol impl).
//!
//! `cargo bench -p elixir-dap-source-graph` prints the median of each measurement.
//! Targets (2 cores): full build < 1 s, update after one edit < 5 ms.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use source_graph::{default_roots, ElixirVersion, Index};

const FILES: usize = 2_000;

fn module_source(i: usize) -> String {
    let group = i % 40;
    let prev = if i == 0 { FILES - 1 } else { i - 1 };
    let next = (i + 1) % FILES;
    format!(
        r#"defmodule Bench.G{group}.M{i} do
  @moduledoc """
  Generated module {i}: a schema, its queries and a worker.
  """
  use Bench.Base, kind: :context
  alias Bench.G{group}.M{prev}
  alias Bench.{{Repo, Cache}}
  alias Bench.G{next_group}.M{next}, as: Next
  import Bench.Helpers, only: [normalize: 1, clamp: 3]
  require Logger

  @default_limit Bench.Config.limit()
  @behaviour Bench.Worker

  defstruct id: nil, name: "", items: [], meta: %{{}}

  @type t :: %__MODULE__{{id: integer | nil, name: String.t()}}

  defmodule Query do
    def by_name(name), do: {{:name, name}}
    def by_id(id) when is_integer(id), do: {{:id, id}}
  end

  @impl true
  def run(%__MODULE__{{}} = record) do
    with {{:ok, row}} <- Repo.get(__MODULE__, record.id),
         cached <- Cache.fetch(row, @default_limit) do
      Logger.debug("fetched #{{inspect(cached)}}")
      {{:ok, Next.transform(cached)}}
    else
      {{:error, reason}} -> {{:error, reason}}
    end
  end

  def list(opts \\ []) do
    limit = Keyword.get(opts, :limit, @default_limit)
    Repo.all(Query.by_name(opts[:name]))
    |> Enum.take(limit)
    |> Enum.map(fn row -> %M{prev}{{id: row.id, name: normalize(row.name)}} end)
    |> Enum.filter(&(clamp(&1.id, 0, 100) > 10))
  end

  def transform(value) do
    case value do
      %{{items: items}} when is_list(items) -> Enum.map(items, &M{prev}.transform/1)
      other -> other
    end
  end

  defp helper(x), do: x * 2
  def public(x), do: helper(x) + 1
end

defimpl Bench.Describe, for: Bench.G{group}.M{i} do
  def describe(record), do: "M{i}: #{{record.name}}"
end
"#,
        next_group = next % 40
    )
}

const SUPPORT: &[(&str, &str)] = &[
    (
        "lib/bench/base.ex",
        "defmodule Bench.Base do\n  defmacro __using__(_opts) do\n    quote do\n      import Bench.Helpers\n      def base, do: Bench.Cache.ping()\n    end\n  end\nend\n",
    ),
    (
        "lib/bench/helpers.ex",
        "defmodule Bench.Helpers do\n  def normalize(s), do: s\n  def clamp(x, lo, hi), do: x |> max(lo) |> min(hi)\nend\n",
    ),
    (
        "lib/bench/repo.ex",
        "defmodule Bench.Repo do\n  def get(_m, id), do: {:ok, id}\n  def all(q), do: [q]\nend\n",
    ),
    (
        "lib/bench/cache.ex",
        "defmodule Bench.Cache do\n  def fetch(r, _l), do: r\n  def ping, do: :pong\nend\n",
    ),
    (
        "lib/bench/config.ex",
        "defmodule Bench.Config do\n  def limit, do: 10\nend\n",
    ),
    (
        "lib/bench/worker.ex",
        "defmodule Bench.Worker do\n  @callback run(term) :: term\nend\n",
    ),
    (
        "lib/bench/describe.ex",
        "defprotocol Bench.Describe do\n  def describe(x)\nend\n",
    ),
];

fn module_path(i: usize) -> PathBuf {
    PathBuf::from(format!("lib/bench/g{}/m{i}.ex", i % 40))
}

fn generate(dir: &Path) -> std::io::Result<()> {
    for (path, source) in SUPPORT {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, source)?;
    }
    for i in 0..FILES - SUPPORT.len() {
        let path = dir.join(module_path(i));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, module_source(i))?;
    }
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --benches` runs this too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test");
    let runs = if quick { 1 } else { 11 };

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    generate(dir)?;
    let roots = default_roots(dir, "dev");

    let mut builds = Vec::new();
    let mut index = Index::build(dir, &roots, ElixirVersion::NEWEST_MODELLED)?;
    for _ in 0..runs {
        let start = Instant::now();
        index = Index::build(dir, &roots, ElixirVersion::NEWEST_MODELLED)?;
        builds.push(start.elapsed());
    }
    let files = index.files().count();
    assert_eq!(files, FILES, "generated files indexed");
    println!(
        "full build, {files} files, {} threads: median {:.1} ms",
        rayon::current_num_threads(),
        median(builds).as_secs_f64() * 1e3
    );

    // The floor: tree-sitter parsing alone, serial, over the same sources.
    let sources: Vec<String> = (0..FILES - SUPPORT.len()).map(module_source).collect();
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_elixir::LANGUAGE.into())?;
    let start = Instant::now();
    let mut nodes = 0;
    for source in &sources {
        if let Some(tree) = parser.parse(source, None) {
            nodes += tree.root_node().child_count();
        }
    }
    println!(
        "tree-sitter parse only, serial, {} files: {:.1} ms ({nodes} top-level nodes)",
        sources.len(),
        start.elapsed().as_secs_f64() * 1e3
    );

    let mut updates = Vec::new();
    let mut affected = Vec::new();
    let mut recompiled = 0;
    for n in 0..runs * 10 {
        let i = (n * 37) % (FILES - SUPPORT.len());
        let path = module_path(i);
        let source = module_source(i).replace("x * 2", &format!("x * {}", n + 3));
        let start = Instant::now();
        index.update_file(&path, &source)?;
        updates.push(start.elapsed());

        let start = Instant::now();
        let a = index.affected(&[&path]);
        affected.push(start.elapsed());
        recompiled = a.recompile.len();
    }
    println!(
        "update after one edited file: median {:.3} ms",
        median(updates).as_secs_f64() * 1e3
    );
    println!(
        "affected(one file): median {:.3} ms ({recompiled} files to recompile)",
        median(affected).as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let edited = Path::new("lib/bench/config.ex");
    let a = index.affected(&[edited]);
    println!(
        "affected(config.ex, {} compile-time dependents): {:.3} ms",
        a.recompile.len() - 1,
        start.elapsed().as_secs_f64() * 1e3
    );
    generated_project(quick)?;
    Ok(())
}

/// `elixir-dap deps --affected` on the bench generator's project of 2 000
/// modules (`elixir-dap-bench gen --modules 2000`): the query for every
/// file, its worst case (the hub macro, which most files `use`), and the
/// index build that `deps` does first. Target: every query under 100 ms.
fn generated_project(quick: bool) -> Result<(), Box<dyn std::error::Error>> {
    let modules = if quick { 200 } else { 2_000 };
    let project = elixir_dap_bench::generator::generate(&elixir_dap_bench::generator::GenOptions::new(modules, 1))?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    project.write_to(dir)?;
    let start = Instant::now();
    let index = Index::build(dir, &default_roots(dir, "dev"), ElixirVersion::NEWEST_MODELLED)?;
    let build = start.elapsed();
    let files: Vec<PathBuf> = index.files().map(Path::to_path_buf).collect();
    let mut times = Vec::new();
    let mut worst = (Duration::ZERO, PathBuf::new(), 0);
    for file in &files {
        let start = Instant::now();
        let a = index.affected(&[file]);
        let took = start.elapsed();
        times.push(took);
        if took > worst.0 {
            worst = (took, file.clone(), a.recompile.len());
        }
    }
    let hub = &project.hub_macro.file;
    let start = Instant::now();
    let a = index.affected(&[hub]);
    let took = start.elapsed();
    println!(
        "generated project, {} files: build {:.1} ms; affected(each file): median {:.3} ms, worst {:.3} ms ({}, {} files to recompile); affected(hub macro): {:.3} ms ({} files)",
        files.len(),
        build.as_secs_f64() * 1e3,
        median(times).as_secs_f64() * 1e3,
        worst.0.as_secs_f64() * 1e3,
        worst.1.display(),
        worst.2,
        took.as_secs_f64() * 1e3,
        a.recompile.len()
    );
    assert!(worst.0 < Duration::from_millis(100), "a query took over 100 ms");
    Ok(())
}
