//! Elixir sources of the generated project, one renderer per kind of module.
//!
//! The output aims to be what `mix format` would write, warning-free on
//! Elixir 1.14 and free of constructs deprecated up to 1.18 (no single-quoted
//! charlists, no struct update syntax, no `Logger.warn`, no negative-step
//! ranges).

use std::collections::BTreeMap;

mod macros;
mod pipeline;

pub(crate) use macros::{
    bounds_macro, component_macro, constants_macro, guards_macro, instrument_macro, schema, REVISION_PREFIX,
};
pub(crate) use pipeline::{entry, pipeline_step, runner, Service, StepSpec, BREAKPOINT_LINE, FACTOR_PREFIX};

/// Replaces each `${key}` in `template` by its value.
pub(crate) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_owned(), |text, (key, value)| {
        text.replace(&format!("${{{key}}}"), value)
    })
}

/// The last segment of a module name (`A.B.Cache` -> `Cache`).
pub(crate) fn last_segment(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

/// Names a module body refers to: the last segment where an `alias` is
/// unambiguous, the full name otherwise (two referenced modules with the same
/// last segment, one equal to the module's own, or one shadowing a module of
/// Elixir's standard library the body uses).
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    names: BTreeMap<String, String>,
}

const STDLIB_USED: &[&str] = &[
    "Enum",
    "GenServer",
    "Integer",
    "Keyword",
    "Logger",
    "Map",
    "Process",
    "String",
    "System",
];

impl Aliases {
    pub(crate) fn new(own: &str, refs: &[&str]) -> Self {
        let own_last = last_segment(own);
        let mut names = BTreeMap::new();
        for module in refs {
            let last = last_segment(module);
            let ambiguous = last == own_last
                || STDLIB_USED.contains(&last)
                || refs.iter().any(|other| other != module && last_segment(other) == last);
            let name = if ambiguous { module } else { last };
            names.insert((*module).to_owned(), name.to_owned());
        }
        Self { names }
    }

    /// How the body spells `module`.
    pub(crate) fn name<'a>(&'a self, module: &'a str) -> &'a str {
        self.names.get(module).map_or(module, String::as_str)
    }

    /// `alias` lines, sorted as `mix format` users keep them.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|(full, name)| full != name)
            .map(|(full, _)| format!("  alias {full}"))
            .collect()
    }
}

/// Renders `Pipeline step: what it is` from a CamelCase leaf name, e.g.
/// `TaxCalculator` -> `Tax calculator`.
pub(crate) fn humanize(camel: &str) -> String {
    let spaced = crate::generator::names::underscore(camel).replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => spaced,
    }
}

pub(crate) fn mix_exs(app: &str, app_module: &str, interval_ms: u64) -> String {
    fill(
        r#"defmodule ${App}.MixProject do
  use Mix.Project

  def project do
    [
      app: :${app},
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps()
    ]
  end

  # Run "mix help compile.app" to learn about applications.
  def application do
    [
      extra_applications: [:logger],
      mod: {${App}.Application, []},
      env: [workload_interval_ms: ${interval}]
    ]
  end

  # No dependencies: the project must build without network access.
  defp deps do
    []
  end
end
"#,
        &[
            ("App", app_module),
            ("app", app),
            ("interval", &interval_ms.to_string()),
        ],
    )
}

pub(crate) const FORMATTER_EXS: &str = r#"# Used by "mix format"
[
  inputs: ["{mix,.formatter}.exs", "{config,lib,test}/**/*.{ex,exs}"],
  locals_without_parens: [defconst: 2]
]
"#;

pub(crate) const GITIGNORE: &str = "/_build/\n/cover/\n/deps/\n/doc/\nerl_crash.dump\n*.ez\n";

pub(crate) fn readme(app_module: &str, modules: usize, seed: u64, app: &str) -> String {
    format!(
        "# {app_module}\n\n\
         A generated application for benchmarking elixir-dap: {modules} modules,\n\
         made by `elixir-dap-bench gen --modules {modules} --seed {seed} --app-name {app}`.\n\n\
         `mix run --no-halt` starts it; a workload process walks one pipeline chain\n\
         every few milliseconds, so breakpoints in the pipeline modules are hit soon.\n"
    )
}

pub(crate) fn test_helper() -> String {
    "ExUnit.start()\n".to_owned()
}

pub(crate) fn smoke_test(app_module: &str) -> String {
    fill(
        r#"defmodule ${App}Test do
  use ExUnit.Case, async: true

  test "one workload iteration walks a pipeline chain to its end" do
    assert %{done: true} = ${App}.run_once(0)
  end
end
"#,
        &[("App", app_module)],
    )
}

pub(crate) fn facade(app_module: &str, runner: &str, entry: &str) -> String {
    fill(
        r#"defmodule ${App} do
  @moduledoc """
  Public entry points of the application.
  """

  @doc "Workload iterations completed since the application started."
  @spec iterations() :: non_neg_integer()
  defdelegate iterations(), to: ${Runner}

  @doc "Runs one workload iteration in the calling process."
  @spec run_once(non_neg_integer()) :: map()
  defdelegate run_once(iteration), to: ${Entry}, as: :run
end
"#,
        &[("App", app_module), ("Runner", runner), ("Entry", entry)],
    )
}

pub(crate) fn application(app_module: &str, children: &[String]) -> String {
    let children: Vec<String> = children.iter().map(|c| format!("      {c}")).collect();
    fill(
        r#"defmodule ${App}.Application do
  @moduledoc false

  use Application

  @impl true
  def start(_type, _args) do
    # The workload comes last: it calls into the services started before it.
    children = [
${children}
    ]

    opts = [strategy: :one_for_one, name: ${App}.Supervisor]
    Supervisor.start_link(children, opts)
  end
end
"#,
        &[("App", app_module), ("children", &children.join(",\n"))],
    )
}

pub(crate) fn supervisor(module: &str, group: &str, strategy: &str, children: &[String]) -> String {
    let children: Vec<String> = children.iter().map(|c| format!("      {c}")).collect();
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  Supervises the ${group} services.
  """

  use Supervisor

  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    Supervisor.start_link(__MODULE__, opts, name: __MODULE__)
  end

  @impl true
  def init(_opts) do
    children = [
${children}
    ]

    Supervisor.init(children, strategy: :${strategy})
  end
end
"#,
        &[
            ("Module", module),
            ("group", group),
            ("strategy", strategy),
            ("children", &children.join(",\n")),
        ],
    )
}

/// A key-value GenServer: `record/2` (cast), `lookup/1` (call), swept by a
/// timer (`handle_info`).
pub(crate) fn store_server(module: &str, sweep_ms: usize, max_entries: usize) -> String {
    let doc = humanize(last_segment(module));
    fill(
        r##"defmodule ${Module} do
  @moduledoc """
  ${doc} service.

  Keeps the latest value recorded per key; the entries are swept
  periodically once there are too many.
  """

  use GenServer

  require Logger

  @sweep_every_ms ${sweep}
  @max_entries ${max}

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    GenServer.start_link(__MODULE__, opts, name: __MODULE__)
  end

  @doc "Records `value` under `key`, asynchronously."
  @spec record(atom(), integer()) :: :ok
  def record(key, value) when is_atom(key) do
    GenServer.cast(__MODULE__, {:record, key, value})
  end

  @doc "The latest value recorded under `key`, or `nil`."
  @spec lookup(atom()) :: integer() | nil
  def lookup(key) when is_atom(key) do
    GenServer.call(__MODULE__, {:lookup, key})
  end

  @doc "Counters describing the store."
  @spec stats() :: map()
  def stats, do: GenServer.call(__MODULE__, :stats)

  @impl true
  def init(_opts) do
    schedule_sweep()
    {:ok, %{entries: %{}, writes: 0, sweeps: 0}}
  end

  @impl true
  def handle_call({:lookup, key}, _from, state) do
    {:reply, Map.get(state.entries, key), state}
  end

  def handle_call(:stats, _from, state) do
    stats = %{entries: map_size(state.entries), writes: state.writes, sweeps: state.sweeps}
    {:reply, stats, state}
  end

  @impl true
  def handle_cast({:record, key, value}, state) do
    entries = Map.put(state.entries, key, value)
    {:noreply, %{state | entries: entries, writes: state.writes + 1}}
  end

  @impl true
  def handle_info(:sweep, state) do
    schedule_sweep()

    entries =
      if map_size(state.entries) > @max_entries do
        %{}
      else
        state.entries
      end

    {:noreply, %{state | entries: entries, sweeps: state.sweeps + 1}}
  end

  def handle_info(message, state) do
    Logger.debug("#{inspect(__MODULE__)} ignored #{inspect(message)}")
    {:noreply, state}
  end

  @impl true
  def code_change(_old_vsn, state, _extra) do
    # States from releases before the sweep counter lack it.
    {:ok, Map.put_new(state, :sweeps, 0)}
  end

  defp schedule_sweep do
    Process.send_after(self(), :sweep, @sweep_every_ms)
  end
end
"##,
        &[
            ("Module", module),
            ("doc", &doc),
            ("sweep", &sweep_ms.to_string()),
            ("max", &max_entries.to_string()),
        ],
    )
}

/// A counting GenServer: `bump/1` (call), `reset/1` (cast), a window rotated
/// by a timer (`handle_info`).
pub(crate) fn counter_server(module: &str, window_ms: usize) -> String {
    let doc = humanize(last_segment(module));
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  ${doc} service.

  Counts events per key over a window that restarts every ${window} ms.
  """

  use GenServer

  @window_ms ${window}

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    GenServer.start_link(__MODULE__, opts, name: __MODULE__)
  end

  @doc "Counts one event under `key`; returns the count in this window."
  @spec bump(atom()) :: pos_integer()
  def bump(key) when is_atom(key), do: GenServer.call(__MODULE__, {:bump, key})

  @doc "Forgets the events counted under `key`."
  @spec reset(atom()) :: :ok
  def reset(key) when is_atom(key), do: GenServer.cast(__MODULE__, {:reset, key})

  @impl true
  def init(opts) do
    window = Keyword.get(opts, :window_ms, @window_ms)
    Process.send_after(self(), :rotate, window)
    {:ok, %{window: window, counts: %{}, rotations: 0, peak: 0}}
  end

  @impl true
  def handle_call({:bump, key}, _from, state) do
    counts = Map.update(state.counts, key, 1, &(&1 + 1))
    count = Map.fetch!(counts, key)
    {:reply, count, %{state | counts: counts, peak: max(state.peak, count)}}
  end

  @impl true
  def handle_cast({:reset, key}, state) do
    {:noreply, %{state | counts: Map.delete(state.counts, key)}}
  end

  @impl true
  def handle_info(:rotate, state) do
    Process.send_after(self(), :rotate, state.window)
    {:noreply, %{state | counts: %{}, rotations: state.rotations + 1}}
  end

  def handle_info(_message, state), do: {:noreply, state}

  @impl true
  def code_change(_old_vsn, state, _extra) do
    # The peak was added after the first release.
    {:ok, Map.put_new(state, :peak, 0)}
  end
end
"#,
        &[("Module", module), ("doc", &doc), ("window", &window_ms.to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fall_back_to_full_names_when_ambiguous() {
        let aliases = Aliases::new(
            "App.A.Rules.TaxRule",
            &["App.A.X.Cache", "App.B.Y.Cache", "App.B.Z.TaxRule", "App.S.Invoice"],
        );
        assert_eq!(aliases.name("App.A.X.Cache"), "App.A.X.Cache");
        assert_eq!(aliases.name("App.B.Z.TaxRule"), "App.B.Z.TaxRule");
        assert_eq!(aliases.name("App.S.Invoice"), "Invoice");
        assert_eq!(aliases.lines(), ["  alias App.S.Invoice"]);
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(fill("${a}-${b}-${a}", &[("a", "1"), ("b", "2")]), "1-2-1");
        assert_eq!(humanize("TaxCalculator"), "Tax calculator");
    }
}
