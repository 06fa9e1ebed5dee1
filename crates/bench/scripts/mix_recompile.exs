# Measures a plain in-VM Mix recompile after a trivial edit of one file, in a
# project made by `elixir-dap-bench gen` (the baseline elixir-dap must beat).
#
# Usage, from the generated project, after a first `mix compile`:
#
#     mix run path/to/mix_recompile.exs RUNS FILE...
#
# For each run, edits the next FILE (the `defp factor, do: N` line of a
# pipeline step, as `EditTarget` does), then times, with the application and
# its workload running:
#   - `compile.elixir`: `Mix.Task.reenable/1` + `Mix.Task.run/1` of that task;
#   - `recompile`: `IEx.Helpers.recompile/0`, what an IEx user would type.
# The first run of each kind is a warm-up (it loads the compiler) and is not
# counted. Prints each wall-clock time and the median, in ms, with the VM's
# CPU time beside it (less sensitive to other load on the machine; it also
# counts the workload's few ms).

[runs | files] = System.argv()
runs = String.to_integer(runs)

if files == [], do: raise("usage: mix run mix_recompile.exs RUNS FILE...")

defmodule MixRecompile do
  @factor ~r/^  defp factor, do: \d+$/m

  def edit(file, generation) do
    source = File.read!(file)
    edited = Regex.replace(@factor, source, "  defp factor, do: #{100 + generation}")
    if edited == source, do: raise("#{file}: no factor line to edit")
    # Mix on Elixir 1.14 compares mtimes in whole seconds: wait for the next
    # second, so that the edit is seen as newer than the last compile.
    Process.sleep(1_000 - rem(System.os_time(:millisecond), 1_000) + 50)
    File.write!(file, edited)
  end

  def time(:compile_elixir) do
    timed(fn ->
      Mix.Task.reenable("compile.elixir")
      Mix.Task.run("compile.elixir", [])
    end)
  end

  def time(:recompile), do: timed(fn -> IEx.Helpers.recompile() end)

  defp timed(fun) do
    {cpu_before, _} = :erlang.statistics(:runtime)
    {micros, result} = :timer.tc(fun)
    {cpu_after, _} = :erlang.statistics(:runtime)

    case result do
      {:ok, _} -> {micros / 1000, cpu_after - cpu_before}
      :ok -> {micros / 1000, cpu_after - cpu_before}
      other -> raise "recompile did nothing or failed: #{inspect(other)}"
    end
  end

  def median(list) do
    sorted = Enum.sort(list)
    n = length(sorted)
    mid = div(n, 2)
    if rem(n, 2) == 1, do: Enum.at(sorted, mid), else: (Enum.at(sorted, mid - 1) + Enum.at(sorted, mid)) / 2
  end
end

files = Stream.cycle(files)
generation = System.os_time(:second)

for {kind, offset} <- [compile_elixir: 0, recompile: 1000] do
  times =
    files
    |> Stream.take(runs + 1)
    |> Stream.with_index()
    |> Enum.map(fn {file, i} ->
      MixRecompile.edit(file, generation + offset + i)
      {ms, cpu} = MixRecompile.time(kind)
      IO.puts("#{kind} run #{i}: #{Float.round(ms, 1)} ms, cpu #{cpu} ms (#{Path.basename(file)})")
      {ms, cpu}
    end)
    |> tl()

  walls = Enum.map(times, &elem(&1, 0))
  cpus = Enum.map(times, &elem(&1, 1))

  IO.puts(
    "#{kind}: median #{Float.round(MixRecompile.median(walls), 1)} ms over #{runs} runs " <>
      "(min #{Float.round(Enum.min(walls), 1)}, max #{Float.round(Enum.max(walls), 1)}); " <>
      "median cpu #{MixRecompile.median(cpus)} ms"
  )
end
