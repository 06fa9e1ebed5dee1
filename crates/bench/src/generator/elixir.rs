//! Elixir sources of the generated project, one renderer per kind of module.
//!
//! The output aims to be what `mix format` would write, warning-free on
//! Elixir 1.14 and free of constructs deprecated up to 1.18 (no single-quoted
//! charlists, no struct update syntax, no `Logger.warn`, no negative-step
//! ranges).

use std::collections::BTreeMap;

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

/// The line of the hub macro module that [`component_macro`] lets a
/// benchmark edit.
pub(crate) const REVISION_PREFIX: &str = "  @revision ";

/// The macro module every pipeline step `use`s: a behaviour plus injected
/// functions.
pub(crate) fn component_macro(module: &str) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  What every pipeline step shares: the `step/1` behaviour and introspection
  functions, injected by `use ${Module}, kind: :domain`.
  """

${prefix}1

  @doc "Runs the step on the pipeline accumulator and returns the new one."
  @callback step(acc :: map()) :: map()

  defmacro __using__(opts) do
    kind = Keyword.get(opts, :kind, :generic)

    quote do
      @behaviour unquote(__MODULE__)

      @doc false
      @spec component_kind() :: atom()
      def component_kind, do: unquote(kind)

      @doc false
      @spec component_revision() :: pos_integer()
      def component_revision, do: unquote(@revision)
    end
  end
end
"#,
        &[("Module", module), ("prefix", REVISION_PREFIX)],
    )
}

pub(crate) fn guards_macro(module: &str) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  Guards shared by the pipeline steps.
  """

  @doc "A non-negative integer below 100."
  defguard is_small(value) when is_integer(value) and value >= 0 and value < 100

  @doc "An integer percentage."
  defguard is_percentage(value) when is_integer(value) and value in 0..100
end
"#,
        &[("Module", module)],
    )
}

pub(crate) fn bounds_macro(module: &str) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  Macros that bound values where they are computed.
  """

  @doc "`value` limited to `low..high`; `value` is evaluated once."
  defmacro clamp(value, low, high) do
    quote do
      case unquote(value) do
        v when v < unquote(low) -> unquote(low)
        v when v > unquote(high) -> unquote(high)
        v -> v
      end
    end
  end
end
"#,
        &[("Module", module)],
    )
}

pub(crate) fn instrument_macro(module: &str) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  Compile-time instrumentation: `timed/2` wraps a block and records how long
  it took, per label, in the calling process.
  """

  @doc "Runs `block`, records its duration under `label` and returns its value."
  defmacro timed(label, do: block) do
    quote do
      started = System.monotonic_time()
      result = unquote(block)
      unquote(__MODULE__).record(unquote(label), System.monotonic_time() - started)
      result
    end
  end

  @doc false
  @spec record(atom(), integer()) :: :ok
  def record(label, elapsed) do
    Process.put({__MODULE__, label}, elapsed)
    :ok
  end
end
"#,
        &[("Module", module)],
    )
}

pub(crate) fn constants_macro(module: &str) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  Named constants, defined as zero-arity functions at compile time.
  """

  @doc "Defines `name/0` returning `value`."
  defmacro defconst(name, value) when is_atom(name) do
    quote do
      @doc false
      def unquote(name)(), do: unquote(value)
    end
  end
end
"#,
        &[("Module", module)],
    )
}

pub(crate) fn schema(module: &str, extra_fields: &[&str]) -> String {
    let noun = last_segment(module);
    let mut fields = vec!["total: 0", "status: :new", "lines: []"];
    fields.extend_from_slice(extra_fields);
    fill(
        r##"defmodule ${Module} do
  @moduledoc """
  ${Human} record passed between the pipeline steps.
  """

  @enforce_keys [:id]
  defstruct [:id, ${fields}]

  @type t :: %__MODULE__{}

  @doc "A new record with the given id and lines."
  @spec new(term(), [integer()]) :: t()
  def new(id, lines) when is_list(lines) do
    %__MODULE__{id: id, lines: lines, total: Enum.sum(lines)}
  end

  @doc "Moves the record to `status`."
  @spec mark(t(), atom()) :: t()
  def mark(%__MODULE__{} = record, status) when is_atom(status) do
    %{record | status: status}
  end

  @doc "A short human-readable summary."
  @spec describe(t()) :: String.t()
  def describe(%__MODULE__{id: id, total: total, status: status}) do
    "${Noun} ##{id}: #{total} (#{status})"
  end
end
"##,
        &[
            ("Module", module),
            ("Human", &humanize(noun)),
            ("Noun", noun),
            ("fields", &fields.join(", ")),
        ],
    )
}

pub(crate) fn runner(module: &str, entry: &str, app: &str, default_interval_ms: u64) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  The workload: runs one iteration every few milliseconds, so that
  breakpoints on the pipeline paths are hit soon after launch.

  The iteration count lives in a public ETS table, so `iterations/0`
  answers even while this process is paused at a breakpoint.
  """

  use GenServer

  alias ${Entry}

  @table :${app}_workload
  @default_interval_ms ${interval}

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    GenServer.start_link(__MODULE__, opts, name: __MODULE__)
  end

  @doc "Iterations completed since the workload started."
  @spec iterations() :: non_neg_integer()
  def iterations do
    :ets.lookup_element(@table, :iterations, 2)
  rescue
    ArgumentError -> 0
  end

  @doc "The value the last iteration computed."
  @spec last_value() :: integer() | nil
  def last_value, do: GenServer.call(__MODULE__, :last_value)

  @doc "Changes the pause between iterations."
  @spec set_interval(pos_integer()) :: :ok
  def set_interval(ms) when is_integer(ms) and ms > 0 do
    GenServer.cast(__MODULE__, {:set_interval, ms})
  end

  @impl true
  def init(opts) do
    default = Application.get_env(:${app}, :workload_interval_ms, @default_interval_ms)
    interval = Keyword.get(opts, :interval_ms, default)
    :ets.new(@table, [:named_table, :public, read_concurrency: true])
    :ets.insert(@table, {:iterations, 0})
    # One line on stdout, once per start: what a benchmark waits for.
    IO.puts("${app}: workload started, one iteration every #{interval} ms")
    schedule(interval)
    {:ok, %{interval: interval, iteration: 0, last_value: nil}}
  end

  @impl true
  def handle_call(:last_value, _from, state) do
    {:reply, state.last_value, state}
  end

  @impl true
  def handle_cast({:set_interval, ms}, state) do
    {:noreply, %{state | interval: ms}}
  end

  @impl true
  def handle_info(:tick, state) do
    result = Entry.run(state.iteration)
    # Once, when the first iteration has walked its chain: what a benchmark
    # without a debugger waits for where a debugged one stops at a breakpoint.
    if state.iteration == 0, do: IO.puts("${app}: first iteration done")
    :ets.update_counter(@table, :iterations, 1)
    schedule(state.interval)
    {:noreply, %{state | iteration: state.iteration + 1, last_value: result.value}}
  end

  def handle_info(_message, state), do: {:noreply, state}

  @impl true
  def code_change(_old_vsn, state, _extra) do
    # Releases before `last_value` kept the whole result.
    {:ok, Map.put_new(state, :last_value, nil)}
  end

  # Scheduled after each iteration rather than with a fixed-rate timer, so
  # that a slow (interpreted, paused) iteration never piles up ticks.
  defp schedule(interval), do: Process.send_after(self(), :tick, interval)
end
"#,
        &[
            ("Module", module),
            ("Entry", entry),
            ("app", app),
            ("interval", &default_interval_ms.to_string()),
        ],
    )
}

pub(crate) fn entry(module: &str, heads: &[String]) -> String {
    let clauses: Vec<String> = heads
        .iter()
        .enumerate()
        .map(|(i, head)| format!("      {i} -> {head}.step(acc)"))
        .collect();
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  One workload iteration: walks one pipeline chain from its head to its
  end, round robin over the ${count} chains.
  """

  @chains ${count}

  @doc "Runs iteration `iteration` and returns the final accumulator."
  @spec run(non_neg_integer()) :: map()
  def run(iteration) when is_integer(iteration) and iteration >= 0 do
    acc = %{value: iteration, items: [1, 2, 3], depth: 0, chain: rem(iteration, @chains)}

    case acc.chain do
${clauses}
    end
  end
end
"#,
        &[
            ("Module", module),
            ("count", &heads.len().to_string()),
            ("clauses", &clauses.join("\n")),
        ],
    )
}

/// What a pipeline step calls and how its helpers look; decided by the
/// planner, rendered by [`pipeline_step`].
#[derive(Debug, Clone)]
pub(crate) struct StepSpec {
    pub module: String,
    pub domain: String,
    pub next: Option<String>,
    /// Modules whose `score/1` this step calls.
    pub scored: Vec<String>,
    pub schema: String,
    pub service: Option<Service>,
    pub component: String,
    pub guards: Option<String>,
    pub bounds: Option<String>,
    pub instrument: Option<String>,
    pub constants: Option<String>,
    pub weights: Vec<usize>,
    pub factor: usize,
    pub batch: usize,
    pub normalize_style: usize,
    pub weigh_style: usize,
    pub mark_status: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Service {
    Store(String),
    Counter(String),
}

impl Service {
    pub(crate) fn module(&self) -> &str {
        match self {
            Service::Store(m) | Service::Counter(m) => m,
        }
    }
}

/// The first line of `step/1`'s body: where a benchmark sets its breakpoint.
pub(crate) const BREAKPOINT_LINE: &str = "    value = acc.value + factor()";
/// The line holding the constant a benchmark edit changes.
pub(crate) const FACTOR_PREFIX: &str = "  defp factor, do: ";

pub(crate) fn pipeline_step(spec: &StepSpec) -> String {
    let mut refs: Vec<&str> = spec.scored.iter().map(String::as_str).collect();
    refs.extend(spec.next.as_deref());
    refs.push(&spec.schema);
    refs.extend(spec.service.as_ref().map(Service::module));
    refs.extend(spec.bounds.as_deref());
    refs.extend(spec.instrument.as_deref());
    let aliases = Aliases::new(&spec.module, &refs);
    let schema = aliases.name(&spec.schema);
    let key = crate::generator::names::underscore(last_segment(&spec.module));

    let mut out = Vec::<String>::new();
    let mut push = |line: &str| out.push(line.to_owned());

    push(&format!("defmodule {} do", spec.module));
    push("  @moduledoc \"\"\"");
    push(&format!(
        "  {} step of the {} pipeline.",
        humanize(last_segment(&spec.module)),
        spec.domain
    ));
    push("");
    push("  Takes the pipeline accumulator, scores its items and hands it on.");
    push("  \"\"\"");
    push("");
    push(&format!("  use {}, kind: :{}", spec.component, spec.domain));
    if spec.guards.is_some() || spec.constants.is_some() {
        push("");
    }
    if let Some(guards) = &spec.guards {
        push(&format!("  import {guards}"));
    }
    if let Some(constants) = &spec.constants {
        push(&format!("  import {constants}, only: [defconst: 2]"));
    }
    let alias_lines = aliases.lines();
    if !alias_lines.is_empty() {
        push("");
        for line in &alias_lines {
            push(line);
        }
    }
    let required: Vec<&str> = [&spec.bounds, &spec.instrument]
        .into_iter()
        .flatten()
        .map(|m| aliases.name(m))
        .collect();
    if !required.is_empty() {
        push("");
        for module in required {
            push(&format!("  require {module}"));
        }
    }
    push("");
    let weights: Vec<String> = spec.weights.iter().map(usize::to_string).collect();
    push(&format!("  @weights [{}]", weights.join(", ")));
    if spec.constants.is_some() {
        push("");
        push(&format!("  defconst :batch_size, {}", spec.batch));
    }

    // step/1: the chain link the workload walks.
    push("");
    push("  @impl true");
    push("  @spec step(map()) :: map()");
    push("  def step(acc) do");
    push(BREAKPOINT_LINE);
    match &spec.instrument {
        Some(instrument) => push(&format!(
            "    items = {}.timed(:normalize, do: normalize(acc.items, value))",
            aliases.name(instrument)
        )),
        None => push("    items = normalize(acc.items, value)"),
    }
    push(&format!(
        "    record = %{schema}{{id: acc.depth, total: Enum.sum(items), lines: items}}"
    ));
    if spec.mark_status {
        push(&format!("    record = {schema}.mark(record, :scored)"));
    }
    push("");
    let mut terms = vec!["weigh(record)".to_owned()];
    for (i, module) in spec.scored.iter().enumerate() {
        let arg = if i % 2 == 0 { "record.total" } else { "value" };
        terms.push(format!("{}.score({arg})", aliases.name(module)));
    }
    push("    bonus =");
    push("      Enum.sum([");
    let last = terms.len().saturating_sub(1);
    for (i, term) in terms.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        push(&format!("        {term}{comma}"));
    }
    push("      ])");
    push("");
    let bonus = match &spec.bounds {
        Some(bounds) => format!("{}.clamp(bonus, 0, 10_000)", aliases.name(bounds)),
        None => "bonus".to_owned(),
    };
    match &spec.service {
        Some(Service::Store(module)) => {
            push(&format!("    {}.record(:{key}, bonus)", aliases.name(module)));
            push("");
        }
        Some(Service::Counter(module)) => {
            push(&format!("    seen = {}.bump(:{key})", aliases.name(module)));
            push("");
        }
        None => {}
    }
    push("    acc");
    push(&format!("    |> Map.put(:value, rem(value + {bonus}, 1_000_003))"));
    push("    |> Map.put(:items, items)");
    if matches!(spec.service, Some(Service::Counter(_))) {
        push("    |> Map.put(:seen, seen)");
    }
    push("    |> Map.update!(:depth, &(&1 + 1))");
    match &spec.next {
        Some(next) => push(&format!("    |> {}.step()", aliases.name(next))),
        None => push("    |> Map.put(:done, true)"),
    }
    push("  end");

    // score/1: a pure leaf other steps call.
    push("");
    push("  @doc \"Scores a value: small ones directly, others by their weighted digits.\"");
    push("  @spec score(integer()) :: non_neg_integer()");
    if spec.guards.is_some() {
        push("  def score(n) when is_small(n), do: n * factor()");
    } else {
        push("  def score(n) when is_integer(n) and n in 0..99, do: n * factor()");
    }
    push("");
    push("  def score(n) when is_integer(n) do");
    push("    n");
    push("    |> abs()");
    push("    |> Integer.digits()");
    push("    |> Enum.zip(@weights)");
    push("    |> Enum.reduce(0, fn {digit, weight}, sum -> sum + digit * weight end)");
    push("  end");

    let take = if spec.constants.is_some() {
        "batch_size()".to_owned()
    } else {
        spec.batch.to_string()
    };
    push("");
    for line in normalize_fn(spec.normalize_style, &take) {
        push(&line);
    }
    push("");
    for line in weigh_fn(spec.weigh_style, schema) {
        push(&line);
    }
    push("");
    push(&format!("{FACTOR_PREFIX}{}", spec.factor));
    push("end");

    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn normalize_fn(style: usize, take: &str) -> Vec<String> {
    let body: &[&str] = match style % 3 {
        0 => &[
            "  defp normalize(items, value) do",
            "    [rem(value, 50) | items]",
            "    |> Enum.map(&rem(&1 + value, 97))",
            "    |> Enum.sort()",
            "    |> Enum.take(${take})",
            "  end",
        ],
        1 => &[
            "  defp normalize(items, value) do",
            "    shifted = Enum.map(items, fn item -> rem(item * 3 + value, 89) end)",
            "",
            "    [rem(value, 31) | shifted]",
            "    |> Enum.uniq()",
            "    |> Enum.take(${take})",
            "  end",
        ],
        _ => &[
            "  defp normalize(items, value) do",
            "    items",
            "    |> Enum.with_index(1)",
            "    |> Enum.reduce([rem(value, 41)], fn {item, index}, kept ->",
            "      [rem(item + index * value, 71) | kept]",
            "    end)",
            "    |> Enum.reverse()",
            "    |> Enum.take(${take})",
            "  end",
        ],
    };
    body.iter().map(|line| fill(line, &[("take", take)])).collect()
}

fn weigh_fn(style: usize, schema: &str) -> Vec<String> {
    let body: &[&str] = match style % 4 {
        0 => &[
            "  defp weigh(%${S}{total: total, lines: lines}) do",
            "    case {total, lines} do",
            "      {0, _} -> 0",
            "      {big, [first | _]} when big > 100 -> first + 1",
            "      {other, _} -> rem(other, 13)",
            "    end",
            "  end",
        ],
        1 => &[
            "  defp weigh(%${S}{lines: []}), do: 0",
            "  defp weigh(%${S}{lines: [only]}), do: only",
            "",
            "  defp weigh(%${S}{total: total, lines: [first, second | _]}) do",
            "    if first > second, do: abs(total - first), else: total + second",
            "  end",
        ],
        2 => &[
            "  defp weigh(%${S}{total: total, lines: lines}) do",
            "    {low, high} =",
            "      Enum.reduce(lines, {0, 0}, fn line, {low, high} ->",
            "        if line < 40, do: {low + line, high}, else: {low, high + line}",
            "      end)",
            "",
            "    rem(total + low * 2 + high, 101)",
            "  end",
        ],
        _ => &[
            "  defp weigh(%${S}{total: total}) do",
            "    total",
            "    |> classify()",
            "    |> bucket_weight()",
            "  end",
            "",
            "  defp classify(total) when total < 50, do: :small",
            "  defp classify(total) when total < 500, do: :medium",
            "  defp classify(_total), do: :large",
            "",
            "  defp bucket_weight(:small), do: 1",
            "  defp bucket_weight(:medium), do: 5",
            "  defp bucket_weight(:large), do: 11",
        ],
    };
    body.iter().map(|line| fill(line, &[("S", schema)])).collect()
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
