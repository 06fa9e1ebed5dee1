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
