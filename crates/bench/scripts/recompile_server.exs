# The plain-Mix alternative to elixir-dap's reload, driven by
# `elixir-dap-bench` (see crates/bench/src/mix_vm.rs): no debugger, the
# application and its workload running, and after each edit an in-VM
# `compile.elixir` that recompiles and loads what changed, as
# scripts/mix_recompile.exs does by hand.
#
# Run from the generated project, after a first compile:
#
#     mix run path/to/recompile_server.exs
#
# Protocol, one line each way: the bench writes the edited files itself,
# then sends `compile LABEL` on stdin; this script answers on stdout
#
#     BENCH_RESULT LABEL STATUS WALL_MICROS CPU_MS
#
# where STATUS is `ok`, `noop` (Mix saw no change) or `error`. Mix's own
# lines (`Compiling 5 files (.ex)`) come before it. End of input halts the VM.

defmodule BenchRecompileServer do
  def loop do
    case IO.gets("") do
      :eof ->
        System.halt(0)

      {:error, reason} ->
        IO.puts(:stderr, "recompile_server: cannot read stdin: #{inspect(reason)}")
        System.halt(1)

      line ->
        case String.split(String.trim(line), " ", parts: 2) do
          ["compile", label] -> compile(label)
          _ -> IO.puts("BENCH_ERROR unknown command #{inspect(line)}")
        end

        loop()
    end
  end

  defp compile(label) do
    {cpu_before, _} = :erlang.statistics(:runtime)

    {micros, result} =
      :timer.tc(fn ->
        Mix.Task.reenable("compile.elixir")
        Mix.Task.run("compile.elixir", [])
      end)

    {cpu_after, _} = :erlang.statistics(:runtime)

    status =
      case result do
        {:ok, _} -> "ok"
        :ok -> "ok"
        {:noop, _} -> "noop"
        :noop -> "noop"
        _ -> "error"
      end

    IO.puts("BENCH_RESULT #{label} #{status} #{micros} #{cpu_after - cpu_before}")
  end
end

IO.puts("BENCH_READY")
BenchRecompileServer.loop()
