//! The pipeline: the runner, the entry module, and the pipeline steps with
//! their services.

use super::*;

pub(crate) fn runner(
    module: &str,
    entry: &str,
    app: &str,
    default_interval_ms: u64,
    steps_per_interval: u64,
    chains: usize,
) -> String {
    fill(
        r#"defmodule ${Module} do
  @moduledoc """
  The workload: runs one iteration every few milliseconds, so that
  breakpoints on the pipeline paths are hit soon after launch. After an
  iteration it pauses the interval per ${steps} steps the iteration
  walked (at least the interval), so that the program walks about as many
  steps per second whatever its chains' length.

  The iteration count lives in a public ETS table, so `iterations/0`
  answers even while this process is paused at a breakpoint.
  """

  use GenServer

  alias ${Entry}

  @table :${app}_workload
  @default_interval_ms ${interval}
  @steps_per_interval ${steps}
  @chains ${chains}

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

  @doc "Changes the pause per #{@steps_per_interval} steps walked."
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
    IO.puts("${app}: workload started, #{interval} ms per #{@steps_per_interval} steps")
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
    # Once, when every chain has been walked: every module on the paths has
    # run once (an interpreter's caches are warm).
    if state.iteration == @chains - 1, do: IO.puts("${app}: first round done")
    :ets.update_counter(@table, :iterations, 1)
    schedule(pause(state.interval, result.depth))
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

  # The interval per @steps_per_interval steps walked, at least the interval.
  defp pause(interval, steps), do: max(interval, div(interval * steps, @steps_per_interval))
end
"#,
        &[
            ("Module", module),
            ("Entry", entry),
            ("app", app),
            ("interval", &default_interval_ms.to_string()),
            ("steps", &steps_per_interval.to_string()),
            ("chains", &chains.to_string()),
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
