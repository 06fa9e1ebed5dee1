//! The macro modules (component, guards, bounds, instrument, constants) and
//! the schemas.

use super::*;

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
