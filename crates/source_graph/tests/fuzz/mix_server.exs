# The Mix oracle of the differential fuzzer (crates/source_graph/tests/fuzz): one VM
# that compiles many small Mix projects, as `mix compile --verbose` would in
# each, without starting a VM per compile.
#
# Run with `elixir mix_server.exs` (no project). Protocol, one line each
# way: the fuzzer writes the sources itself, then sends
#
#     compile APP DIR
#
# (APP the project's app name, unique per project) and this script answers
# with one `COMPILED path` line per file Mix compiled (Mix's own
# `Compiled lib/x.ex` lines, as `--verbose` prints them), then
# `DONE ok|noop|error`, error output first on `ERROR ...` lines. End of
# input halts the VM.

Mix.start()
Mix.shell(Mix.Shell.Process)
Code.put_compiler_option(:ignore_module_conflict, true)

defmodule ElixirDapFuzz.MixServer do
  def loop do
    case IO.gets("") do
      :eof ->
        System.halt(0)

      {:error, reason} ->
        IO.puts(:stderr, "mix_server: cannot read stdin: #{inspect(reason)}")
        System.halt(1)

      line ->
        case String.split(String.trim(line), " ", parts: 3) do
          ["compile", app, dir] -> compile(String.to_atom(app), dir)
          _ -> IO.puts("DONE error unknown command #{inspect(line)}")
        end

        loop()
    end
  end

  defp compile(app, dir) do
    status =
      try do
        Mix.Project.in_project(app, dir, fn _ ->
          Mix.Task.clear()
          Mix.Task.run("compile", ["--verbose"])
        end)
      rescue
        e -> {:raised, Exception.format(:error, e, __STACKTRACE__)}
      catch
        kind, reason -> {:raised, Exception.format(kind, reason, __STACKTRACE__)}
      end

    {compiled, errors} = drain([], [])

    status =
      case status do
        {:ok, _} -> "ok"
        :ok -> "ok"
        {:noop, _} -> "noop"
        :noop -> "noop"
        {:raised, text} ->
          errors = [text | errors]
          Enum.each(errors, &print_error/1)
          "error"

        other ->
          Enum.each([inspect(other) | errors], &print_error/1)
          "error"
      end

    Enum.each(Enum.reverse(compiled), &IO.puts("COMPILED " <> &1))
    IO.puts("DONE " <> status)
  end

  defp print_error(text) do
    text
    |> to_string()
    |> String.split("\n")
    |> Enum.each(&IO.puts("ERROR " <> &1))
  end

  # What Mix told its shell during the compile.
  defp drain(compiled, errors) do
    receive do
      {:mix_shell, :info, ["Compiled " <> file]} -> drain([String.trim(file) | compiled], errors)
      {:mix_shell, :error, [message]} -> drain(compiled, [message | errors])
      {:mix_shell, _, _} -> drain(compiled, errors)
    after
      0 -> {compiled, errors}
    end
  end
end

IO.puts("READY")
ElixirDapFuzz.MixServer.loop()
