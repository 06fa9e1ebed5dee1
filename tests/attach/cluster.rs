//! `attach` to a cluster: `remoteNode` a list of three nodes (each an
//! `otp_app` copy run by `mix run --no-halt`, connected by the attach). The
//! first is debugged; a reload reaches all three or none: a process in old
//! code on one node blocks the batch everywhere (killed only with `force`),
//! an `@on_load` that fails on one node leaves all three on the old code.
//! Detach leaves every node as found.

use super::*;

/// A module whose `wait/0` sits in a receive: a process in it stays on the
/// code it started with across a reload (old code), which the next reload's
/// load would kill.
const WAITER: &str = r#"defmodule OtpApp.Waiter do
  @moduledoc "Waits in a receive."

  def wait do
    receive do
      :stop -> :ok
    end
  end

  def version, do: 1
end
"#;

/// What a node runs of the cluster test's modules: `{Counter has doubled/0,
/// Waiter.version(), the waiter's pid or nil}`.
const CODE_ON_THE_NODE: &str = r#"
inspect({function_exported?(OtpApp.Counter, :doubled, 0), OtpApp.Waiter.version(), Process.whereis(:cluster_waiter)})
"#;

/// Our persistent terms left in a node.
const OUR_PERSISTENT_TERMS: &str = r#"
inspect(for {key, _} <- :persistent_term.get(), is_tuple(key), String.starts_with?(to_string(elem(key, 0)), "elixir_dap"), do: key)
"#;

/// Starts `count` nodes of the same project at once (each from its own copy).
fn start_cluster(epmd: &Epmd, count: usize) -> Vec<Node> {
    std::thread::scope(|scope| {
        let starting: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| Node::start_with(epmd, false, &[("lib/otp_app/waiter.ex", WAITER)])))
            .collect();
        starting.into_iter().map(|s| s.join().expect("start a node")).collect()
    })
}

/// Connects the first node to the others, as a cluster is (libcluster,
/// `Node.connect/1`).
fn connect(epmd: &Epmd, nodes: &[Node]) {
    let others: Vec<String> = nodes[1..].iter().map(|n| format!(":\"{}\"", n.name)).collect();
    let connected = nodes[0].remote_eval(
        epmd,
        &format!("inspect(Enum.map([{}], &Node.connect/1))", others.join(", ")),
    );
    assert_eq!(
        connected,
        format!("{:?}", vec![true; others.len()]),
        "connecting the cluster"
    );
}

/// Each node's state before an attach: [`STATE_OF_THE_NODE`] and the nodes
/// it is connected to.
fn states(epmd: &Epmd, nodes: &[Node]) -> Vec<(String, String)> {
    nodes
        .iter()
        .map(|n| (n.remote_eval(epmd, STATE_OF_THE_NODE), n.remote_eval(epmd, CONNECTED)))
        .collect()
}

/// The visible nodes a node is connected to.
const CONNECTED: &str = "inspect(Enum.sort(Node.list()))";

fn code_on(epmd: &Epmd, nodes: &[Node]) -> Vec<String> {
    nodes.iter().map(|n| n.remote_eval(epmd, CODE_ON_THE_NODE)).collect()
}

/// `{status of each node}` of a reload report, in the report's order, with
/// the node names checked against `nodes`.
fn statuses(reloaded: &Value, nodes: &[Node]) -> Vec<String> {
    let reported = reloaded["body"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes: {reloaded}"));
    let names: Vec<&str> = reported.iter().map(|n| n["node"].as_str().unwrap()).collect();
    let expected: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names, expected,
        "the report names every node, the one debugged first: {reloaded}"
    );
    reported
        .iter()
        .map(|n| n["status"].as_str().unwrap().to_owned())
        .collect()
}

fn edit(node: &Node, file: &str, from: &str, to: &str) {
    let path = node.project.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_reload_reaches_every_node_of_a_cluster_or_none() {
    let epmd = Epmd::start();
    let nodes = start_cluster(&epmd, 3);
    connect(&epmd, &nodes);
    let before = states(&epmd, &nodes);
    // A process on the second node, in the Waiter's first version.
    let waiter = nodes[1].remote_eval(
        &epmd,
        "pid = spawn(fn -> OtpApp.Waiter.wait() end); Process.register(pid, :cluster_waiter); inspect(pid)",
    );
    assert!(waiter.starts_with("#PID<"), "{waiter}");

    let mut dap = adapter(&epmd);
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    attach_ok(
        &mut dap,
        &nodes[0],
        json!({"remoteNode": names, "reloadOnSave": "off", "debugInterpretModulesPatterns": ["OtpApp.Counter"]}),
    );
    let said = dap.wait_output("console", "cluster: reloads reach", TIMEOUT);
    assert!(
        said["body"]["output"].as_str().unwrap().contains(&nodes[2].name),
        "{said}"
    );
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );

    // 1. One reload reaches all three nodes; the counters keep their state.
    let first = &nodes[0];
    edit(
        first,
        "lib/otp_app/counter.ex",
        "  def value, do: GenServer.call(__MODULE__, :value)",
        "  def value, do: GenServer.call(__MODULE__, :value)\n\n  def doubled, do: GenServer.call(__MODULE__, :doubled)",
    );
    edit(
        first,
        "lib/otp_app/counter.ex",
        "  def handle_call(:value, _from, count), do: {:reply, count, count}",
        "  def handle_call(:value, _from, count), do: {:reply, count, count}\n  def handle_call(:doubled, _from, count), do: {:reply, 2 * count, count}",
    );
    edit(
        first,
        "lib/otp_app/waiter.ex",
        "def version, do: 1",
        "def version, do: 2",
    );
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["body"]["success"], true, "{reloaded}\n{}", dap.transcript());
    assert_eq!(statuses(&reloaded, &nodes), ["reloaded"; 3], "{reloaded}");
    eprintln!(
        "cluster: reload of two modules into 3 nodes: {} ms",
        reloaded["body"]["timings"]["total"]
    );
    for (node, (before, _)) in nodes.iter().zip(&before) {
        let now = node.remote_eval(
            &epmd,
            "v = OtpApp.Counter.value(); d = OtpApp.Counter.doubled(); inspect({d >= 2 * v and v > 0, OtpApp.Waiter.version(), {Process.whereis(OtpApp.Counter), Process.whereis(OtpApp.Ticker)}})",
        );
        let (counter, ticker) = pids_of(before);
        assert_eq!(
            now,
            format!("{{true, 2, {{{counter}, {ticker}}}}}"),
            "{}: the new code runs and the counter kept its process and state",
            node.name
        );
    }

    // 2. The waiter on the second node runs the Waiter's old code now: the
    // next load of it would kill the waiter, so no node takes the batch.
    edit(
        first,
        "lib/otp_app/waiter.ex",
        "def version, do: 2",
        "def version, do: 3",
    );
    let blocked = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(blocked["body"]["success"], false, "{blocked}");
    assert_eq!(
        statuses(&blocked, &nodes),
        ["rolledBack", "blocked", "rolledBack"],
        "{blocked}"
    );
    let message = blocked["body"]["message"].as_str().unwrap();
    assert!(
        message.contains(&nodes[1].name) && message.contains("OtpApp.Waiter") && message.contains("force"),
        "the message names the node, the module and the way out: {message}"
    );
    assert!(
        blocked["body"]["nodes"][1]["blocked"]
            .to_string()
            .contains("cluster_waiter"),
        "the waiter is named: {blocked}"
    );
    let code = code_on(&epmd, &nodes);
    assert_eq!(code[0], "{true, 2, nil}");
    assert_eq!(code[1], format!("{{true, 2, {waiter}}}"), "the waiter lives");
    assert_eq!(code[2], "{true, 2, nil}");

    // 3. With force the waiter is killed, on its node only, and every node
    // takes the batch.
    let forced = dap.request("reloadCode", json!({"force": true}), LAUNCH_TIMEOUT);
    assert_eq!(forced["body"]["success"], true, "{forced}");
    eprintln!(
        "cluster: reload of one module into 3 nodes: {} ms",
        forced["body"]["timings"]["total"]
    );
    assert_eq!(statuses(&forced, &nodes), ["reloaded"; 3], "{forced}");
    assert!(
        forced["body"]["nodes"][1]["killed"]
            .to_string()
            .contains("cluster_waiter"),
        "{forced}"
    );
    assert_eq!(code_on(&epmd, &nodes), ["{true, 3, nil}"; 3]);

    // 4. An on_load function that fails on the third node only: all three
    // stay on the old code.
    assert_eq!(
        nodes[2].remote_eval(&epmd, "Application.put_env(:otp_app, :refuse_load, true); inspect(:ok)"),
        ":ok"
    );
    edit(
        first,
        "lib/otp_app/waiter.ex",
        "  @moduledoc \"Waits in a receive.\"\n",
        "  @moduledoc \"Waits in a receive.\"\n  @on_load :check_load\n\n  def check_load, do: if(Application.get_env(:otp_app, :refuse_load), do: :refused, else: :ok)\n",
    );
    edit(
        first,
        "lib/otp_app/waiter.ex",
        "def version, do: 3",
        "def version, do: 4",
    );
    let refused = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(refused["body"]["success"], false, "{refused}");
    assert_eq!(
        statuses(&refused, &nodes),
        ["rolledBack", "rolledBack", "failed"],
        "{refused}"
    );
    let message = refused["body"]["message"].as_str().unwrap();
    assert!(
        message.contains(&nodes[2].name) && message.contains("on_load"),
        "the message names the node and the on_load: {message}"
    );
    assert_eq!(
        code_on(&epmd, &nodes),
        ["{true, 3, nil}"; 3],
        "every node runs the Waiter's version 3 again"
    );

    // 5. Detach: every node as found, but for the code the reloads loaded.
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    let said = dap.wait_output("console", "detached from", TIMEOUT);
    let said = said["body"]["output"].as_str().unwrap();
    assert!(
        nodes.iter().all(|n| said.contains(&n.name)) && said.contains("the code of the last reload stays loaded"),
        "the detach names every node and what stays: {said}"
    );
    assert!(dap.close_and_wait(TIMEOUT).success());
    assert_left_as_found(&epmd, &nodes, &before);
    assert_eq!(code_on(&epmd, &nodes), ["{true, 3, nil}"; 3]);
}

/// `cluster: "connected"`: the nodes the first one is connected to join
/// the cluster without being listed.
#[test]
fn cluster_connected_reloads_into_the_nodes_the_first_is_connected_to() {
    let epmd = Epmd::start();
    let nodes = start_cluster(&epmd, 2);
    connect(&epmd, &nodes);
    let before = states(&epmd, &nodes);
    let mut dap = adapter(&epmd);
    attach_ok(
        &mut dap,
        &nodes[0],
        json!({"cluster": "connected", "reloadOnSave": "off", "debugInterpretModulesPatterns": ["OtpApp.Counter"]}),
    );
    let said = dap.wait_output("console", "cluster: reloads reach", TIMEOUT);
    assert!(
        said["body"]["output"].as_str().unwrap().contains(&nodes[1].name),
        "{said}"
    );
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    edit(
        &nodes[0],
        "lib/otp_app/waiter.ex",
        "def version, do: 1",
        "def version, do: 2",
    );
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["body"]["success"], true, "{reloaded}");
    assert_eq!(statuses(&reloaded, &nodes), ["reloaded"; 2], "{reloaded}");
    assert_eq!(code_on(&epmd, &nodes), ["{false, 2, nil}"; 2]);
    detach(dap);
    assert_left_as_found(&epmd, &nodes, &before);
}

/// A bad node in the list is refused naming `remoteNode` and that node, as
/// for one node, and nothing is left running anywhere.
#[test]
fn attach_refuses_a_cluster_with_a_node_it_cannot_use() {
    let epmd = Epmd::start();
    let nodes = start_cluster(&epmd, 2);
    let host = nodes[0].name.split_once('@').unwrap().1.to_owned();
    // The first helper node of a new agent version compiles the agent (2–4 s
    // once per OTP release): a good attach first, so the refusals are timed
    // as users meet them.
    let mut warm = adapter(&epmd);
    attach_ok(&mut warm, &nodes[1], json!({}));
    detach(warm);
    assert_refused(
        &epmd,
        attach_arguments(&nodes[0], json!({"remoteNode": [nodes[0].name, nodes[1].name]})),
        "remoteNode",
        &format!("{} is not connected to {}", nodes[0].name, nodes[1].name),
    );
    assert_eq!(
        nodes[0].remote_eval(&epmd, CONNECTED),
        "[]",
        "the refusal connected nothing"
    );
    connect(&epmd, &nodes);
    let before = states(&epmd, &nodes);
    let unknown = format!("nosuchpeer@{host}");
    assert_refused(
        &epmd,
        attach_arguments(&nodes[0], json!({"remoteNode": [nodes[0].name, unknown]})),
        "remoteNode",
        "no node named nosuchpeer",
    );
    assert_refused(
        &epmd,
        attach_arguments(
            &nodes[0],
            json!({"remoteNode": [nodes[0].name, nodes[1].name, nodes[0].name]}),
        ),
        "remoteNode",
        "named twice",
    );
    // A node another session reloads into (here: its peer) is not taken.
    let mut first = adapter(&epmd);
    let attached = first.request(
        "attach",
        attach_arguments(&nodes[0], json!({"remoteNode": [nodes[0].name, nodes[1].name]})),
        LAUNCH_TIMEOUT,
    );
    assert_eq!(attached["success"], true, "{attached}");
    assert_refused(
        &epmd,
        attach_arguments(&nodes[1], json!({})),
        "remoteNode",
        &format!("another elixir-dap session is attached to {}", nodes[1].name),
    );
    detach(first);
    assert_left_as_found(&epmd, &nodes, &before);
}

/// Every node as `before` ([`states`] before the attach): nothing of ours,
/// no persistent term of ours, the counter and ticker alive, connected to
/// the nodes it was connected to.
fn assert_left_as_found(epmd: &Epmd, nodes: &[Node], before: &[(String, String)]) {
    for (node, (before, connected)) in nodes.iter().zip(before) {
        assert_eq!(
            &node.remote_eval(epmd, CONNECTED),
            connected,
            "{}: its connections",
            node.name
        );
        let after = node.remote_eval(epmd, STATE_OF_THE_NODE);
        for item in AS_FOUND {
            assert!(
                after.contains(item),
                "{}: {item} expected after the detach: {after}",
                node.name
            );
        }
        assert_eq!(
            pids_of(before),
            pids_of(&after),
            "{}: the counter and ticker live",
            node.name
        );
        assert_eq!(node.remote_eval(epmd, OUR_PERSISTENT_TERMS), "[]", "{}", node.name);
    }
}
