//! Promises of a reload beyond the reload itself: processes that loop in
//! interpreted code pick the new code up (BEAM's rule: a fully qualified call
//! runs the newest version, as far as the interpreter allows, and the report
//! says where it does not), and nothing grows with the number of reloads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::app::App;
use support::*;

const TARGET: &str = "defmodule ReloadApp.Target do\n  def version, do: 1\nend\n";

const LOOPS: &str = r#"defmodule ReloadApp.Loops do
  @moduledoc "Loops that never leave their module, calling Target fully qualified."

  def ticker do
    spawn(fn -> tick() end)
  end

  defp tick do
    IO.puts("tick #{ReloadApp.Target.version()}")
    Process.sleep(50)
    tick()
  end

  def server do
    pid = spawn(fn -> serve() end)
    Process.register(pid, :version_server)
    pid
  end

  defp serve do
    receive do
      {:get, from} ->
        send(from, {:version, ReloadApp.Target.version()})
        serve()
    end
  end
end
"#;

const ASK: &str = "send(:version_server, {:get, self()}); receive do {:version, v} -> v after 2_000 -> :timeout end";

#[test]
fn interpreted_loops_run_the_new_version_from_their_next_call() {
    let mut app = App::start(json!({}));
    std::fs::write(app.path("lib/reload_app/target.ex"), TARGET).unwrap();
    std::fs::write(app.path("lib/reload_app/loops.ex"), LOOPS).unwrap();
    let added = app.reload(json!({}));
    assert_eq!(added["success"], true, "{added}");
    app.eval("ReloadApp.Loops.ticker()");
    app.eval("ReloadApp.Loops.server()");
    app.dap.wait_output("stdout", "tick 1", TIMEOUT);
    assert_eq!(app.eval(ASK), "1");

    for version in 2..=4 {
        app.edit(
            "lib/reload_app/target.ex",
            &format!("def version, do: {}", version - 1),
            &format!("def version, do: {version}"),
        );
        let response = app.reload(json!({}));
        assert_eq!(response["success"], true, "{response}");
        // The loops are between calls most of the time: the new version
        // reaches them at their next call, not when they leave their module.
        app.dap.wait_output("stdout", &format!("tick {version}"), TIMEOUT);
        assert_eq!(app.eval(ASK), version.to_string(), "after reload {version}: {response}");
    }
}

/// `{ETS tables, processes, live :int.snapshot entries, interpreter tables
/// of ReloadApp.Counter}` in the VM. Ended processes stay in the snapshot
/// until `:int.clear/0`, which is not called: a clear racing a process that
/// stops as it dies crashes OTP's interpreter server.
fn resources(app: &mut App) -> Vec<i64> {
    let text = app.eval(
        "{:ok, db} = {:ok, elem(:sys.get_state(:dbg_iserver), 1)}; \
         [{_, versions}] = :ets.lookup(db, {ReloadApp.Counter, :refs}); \
         live = for {_, _, status, _} <- :int.snapshot(), status != :exit, do: status; \
         [length(:ets.all()), length(Process.list()), length(live), length(versions)]",
    );
    text.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect()
}

#[test]
fn reloads_leave_no_tables_processes_or_versions_behind() {
    // The GenServer runs the reloaded module: each reload gives the
    // interpreter a new version, and the GenServer moves to it.
    let mut app = App::start(json!({}));
    let mut at_10 = Vec::new();
    for n in 1..=60 {
        app.edit(
            "lib/reload_app/counter.ex",
            &format!("def version, do: {n}"),
            &format!("def version, do: {}", n + 1),
        );
        let response = app.reload(json!({}));
        assert_eq!(response["success"], true, "reload {n}: {response}");
        let bumped = app.eval("ReloadApp.Counter.bump() |> elem(0)");
        assert_eq!(bumped, (n + 1).to_string(), "reload {n}");
        if n == 10 {
            at_10 = resources(&mut app);
        }
    }
    let at_60 = resources(&mut app);
    assert!(at_60[3] <= 2, "interpreter versions of the module: {at_60:?}");
    for (what, (before, after)) in ["ETS tables", "processes", "live snapshot entries"]
        .iter()
        .zip(at_10.iter().zip(&at_60))
    {
        assert!(
            after - before <= 2,
            "{what} grew from {before} to {after} over 50 reloads"
        );
    }
}

/// Version `k` of the struct: field `a` or `b` (alternating), holding `k`.
fn shape(k: u32) -> String {
    format!(
        "defmodule ReloadApp.Shape do\n  defstruct {}: {k}\n  def new, do: %__MODULE__{{}}\nend\n",
        field(k)
    )
}

/// Version `k` of the protocol implementation: reads the field of version `k`.
fn shape_reader(k: u32) -> String {
    format!(
        "defimpl ReloadApp.Reader, for: ReloadApp.Shape do\n  def read(shape), do: shape.{}\nend\n",
        field(k)
    )
}

fn field(k: u32) -> &'static str {
    if k % 2 == 0 {
        "a"
    } else {
        "b"
    }
}

const READER: &str = "defprotocol ReloadApp.Reader do\n  def read(value)\nend\n";

/// An interpreted ticker (a project module), printing what it reads when it
/// changes and any failure.
const TICKERS: &str = r##"defmodule ReloadApp.Tickers do
  def start(name, ms), do: spawn(fn -> loop(name, ms, nil) end)

  defp loop(name, ms, last) do
    seen =
      try do
        ReloadApp.Reader.read(ReloadApp.Shape.new())
      rescue
        e ->
          IO.puts("#{name} FAILED #{inspect(e)}")
          last
      end

    if seen != last, do: IO.puts("#{name} saw #{seen}.")
    Process.sleep(ms)
    loop(name, ms, seen)
  end
end
"##;

/// The same ticker, native: a closure of `evaluate`'s evaluator, calling
/// the interpreted modules through the interpreter's traps.
fn native_ticker(name: &str, ms: u32) -> String {
    format!(
        "spawn(fn -> loop = fn loop, last -> \
           seen = try do ReloadApp.Reader.read(ReloadApp.Shape.new()) rescue e -> IO.puts(\"{name} FAILED #{{inspect(e)}}\"); last end; \
           if seen != last, do: IO.puts(\"{name} saw #{{seen}}.\"); \
           Process.sleep({ms}); loop.(loop, seen) end; \
         loop.(loop, nil) end) |> is_pid()"
    )
}

/// Issue 14: a batch switches at once for running code. Each toggle
/// changes a struct's field and the protocol implementation that reads it,
/// in one reload; tickers that build the struct with one module and read it
/// through the other, interpreted and native, every 100 ms and every 5 ms,
/// must never see the new struct with the old implementation or the other
/// way round (a `KeyError`), and must see every version.
#[test]
fn a_batch_switches_at_once_for_interpreted_and_native_callers() {
    let mut app = App::start(json!({}));
    std::fs::write(app.path("lib/reload_app/shape.ex"), shape(0)).unwrap();
    std::fs::write(app.path("lib/reload_app/reader.ex"), READER).unwrap();
    std::fs::write(app.path("lib/reload_app/shape_reader.ex"), shape_reader(0)).unwrap();
    std::fs::write(app.path("lib/reload_app/tickers.ex"), TICKERS).unwrap();
    let added = app.reload(json!({}));
    assert_eq!(added["body"]["success"], true, "{added}");
    let tickers = ["interpreted", "native", "native_fast"];
    assert_eq!(
        app.eval("ReloadApp.Tickers.start(\"interpreted\", 100) |> is_pid()"),
        "true"
    );
    assert_eq!(app.eval(&native_ticker("native", 100)), "true");
    assert_eq!(app.eval(&native_ticker("native_fast", 5)), "true");
    for name in tickers {
        app.dap.wait_output("stdout", &format!("{name} saw 0."), TIMEOUT);
    }

    for k in 1..=6 {
        std::fs::write(app.path("lib/reload_app/shape.ex"), shape(k)).unwrap();
        std::fs::write(app.path("lib/reload_app/shape_reader.ex"), shape_reader(k)).unwrap();
        let response = app.reload(json!({}));
        assert_eq!(response["body"]["success"], true, "toggle {k}: {response}");
        let reloaded = response["body"]["reloaded"].to_string();
        assert!(
            reloaded.contains("ReloadApp.Shape\"") && reloaded.contains("ReloadApp.Reader.ReloadApp.Shape"),
            "toggle {k} reloads both modules in one batch: {response}"
        );
        assert!(
            response["body"]["held"].as_u64().is_some_and(|n| n >= 3),
            "toggle {k}: the tickers are held while the batch switches: {response}"
        );
        for name in tickers {
            app.dap.wait_output("stdout", &format!("{name} saw {k}."), TIMEOUT);
        }
        let stdout = app.dap.output_text("stdout");
        assert!(
            !stdout.contains("FAILED"),
            "toggle {k}: a ticker saw half a batch:\n{stdout}"
        );
    }
}
