//! Processes that loop in interpreted code pick reloaded code up: BEAM's rule
//! (a fully qualified call runs the newest version) holds for them too, as
//! far as the interpreter allows, and the report says where it does not.

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
