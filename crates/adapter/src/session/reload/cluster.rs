//! A reload into a cluster attached to (`remoteNode` a list): the batch
//! compiled on the node debugged (the primary) is prepared on every other
//! node (the peers), switched on the primary only once every peer is ready,
//! then on every peer; any failure rolls every node back (the agent's
//! rollback reaches the peers). The agent's side is `elixir_dap_cluster.erl`.

use super::*;
use reload::NodeReload;

impl Session {
    /// The cluster's nodes in a fresh report, the primary first; empty for
    /// one node.
    pub(super) fn cluster_nodes(&self) -> Vec<NodeReload> {
        match &self.attached {
            Some(attached) if !attached.peers.is_empty() => std::iter::once(&attached.node)
                .chain(&attached.peers)
                .map(|node| NodeReload::not_reached(node))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every peer prepares the compiled batch (`modules`, atoms) and the
    /// removal of `remove`. `Err`: a peer is not ready (blocked, failed,
    /// unreachable): the message names it; the caller rolls back.
    pub(super) async fn prepare_peers(
        agent: &AgentClient,
        modules: Vec<String>,
        remove: Vec<String>,
        force: bool,
        report: &mut ReloadReport,
    ) -> Result<(), String> {
        if report.nodes.len() < 2 {
            return Ok(());
        }
        let reply: protocol::PeersPrepared = agent
            .request(
                &protocol::Request::ReloadPeersPrepare { modules, remove, force },
                COMPILE_TIMEOUT,
            )
            .await
            .map_err(|e| format!("preparing the cluster's other nodes failed: {e}"))?;
        report.nodes[0].status = "ready".to_owned();
        let mut not_ready = Vec::new();
        for peer in &reply.nodes {
            let node = node_entry(report, peer.node.as_str());
            node.status = camel(peer.status.as_str());
            node.blocked = processes(&peer.blocked);
            node.killed = processes(&peer.killed);
            node.failed = failures(&peer.failures);
            node.error = (!peer.error.is_empty()).then(|| peer.error.clone());
            if peer.status != "ready" {
                not_ready.push(describe(node));
            }
            report.killed.extend(processes(&peer.killed));
            report.blocked.extend(processes(&peer.blocked));
            report.failed.extend(failures(&peer.failures));
        }
        match not_ready.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "{}; no node was reloaded{}",
                not_ready.join("; "),
                if report.blocked.is_empty() {
                    ""
                } else {
                    ": let the processes finish, or reload with `force: true` to kill them on every node"
                }
            )),
        }
    }

    /// Every peer loads what it prepared (the primary has switched).
    /// `Err`: a peer's load failed (an `on_load` function): the caller
    /// rolls every node back.
    pub(super) async fn switch_peers(agent: &AgentClient, report: &mut ReloadReport) -> Result<(), String> {
        if report.nodes.len() < 2 {
            return Ok(());
        }
        let reply: protocol::PeersSwitched = agent
            .request(&protocol::Request::ReloadPeersSwitch, STEP_CALL_TIMEOUT)
            .await
            .map_err(|e| format!("switching the cluster's other nodes failed: {e}"))?;
        report.nodes[0].status = "reloaded".to_owned();
        let mut failed = Vec::new();
        for peer in &reply.nodes {
            let node = node_entry(report, peer.node.as_str());
            node.failed = failures(&peer.failures);
            node.error = (!peer.error.is_empty()).then(|| peer.error.clone());
            node.status = match peer.status.as_str() {
                "switched" => "reloaded".to_owned(),
                other => camel(other),
            };
            if peer.status != "switched" {
                failed.push(describe(node));
            }
            report.failed.extend(failures(&peer.failures));
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(format!("{}; every node was rolled back", failed.join("; "))),
        }
    }
}

/// After a rollback: the nodes that had the batch ready or loaded run the
/// old code again.
pub(super) fn mark_rolled_back(report: &mut ReloadReport) {
    for node in &mut report.nodes {
        if node.status == "ready" || node.status == "reloaded" {
            node.status = "rolledBack".to_owned();
        }
    }
}

fn node_entry<'r>(report: &'r mut ReloadReport, node: &str) -> &'r mut NodeReload {
    if let Some(index) = report.nodes.iter().position(|n| n.node == node) {
        return &mut report.nodes[index];
    }
    report.nodes.push(NodeReload::not_reached(node));
    let last = report.nodes.len() - 1;
    &mut report.nodes[last]
}

/// The agent's `rolled_back` as the report's `rolledBack`.
fn camel(status: &str) -> String {
    let mut words = status.split('_');
    let mut text = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            text.extend(first.to_uppercase());
            text.push_str(chars.as_str());
        }
    }
    text
}

/// One node's trouble, for the reload's message.
fn describe(node: &NodeReload) -> String {
    if let Some(first) = node.blocked.first() {
        let (count, run) = if node.blocked.len() == 1 {
            ("1 process".to_owned(), "runs")
        } else {
            (format!("{} processes", node.blocked.len()), "run")
        };
        return format!(
            "on {}, {count} still {run} old code that loading {} would kill (first: {})",
            node.node, first.module, first.name
        );
    }
    if let Some(first) = node.failed.first() {
        return format!("on {}, {}: {}", node.node, first.module, first.reason);
    }
    match &node.error {
        Some(error) => format!("{} is {}: {error}", node.node, node.status),
        None => format!("{} is {}", node.node, node.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_the_report_spells_them() {
        assert_eq!(camel("rolled_back"), "rolledBack");
        assert_eq!(camel("ready"), "ready");
        assert_eq!(camel("not_reached"), "notReached");
    }

    #[test]
    fn a_rollback_marks_the_nodes_reached() {
        let mut report = ReloadReport::default();
        for (node, status) in [
            ("a@h", "reloaded"),
            ("b@h", "ready"),
            ("c@h", "blocked"),
            ("d@h", "notReached"),
        ] {
            let mut entry = NodeReload::not_reached(node);
            entry.status = status.to_owned();
            report.nodes.push(entry);
        }
        mark_rolled_back(&mut report);
        let statuses: Vec<&str> = report.nodes.iter().map(|n| n.status.as_str()).collect();
        assert_eq!(statuses, ["rolledBack", "rolledBack", "blocked", "notReached"]);
    }

    #[test]
    fn a_blocked_node_is_named_with_its_first_process() {
        let mut node = NodeReload::not_reached("b@h");
        node.status = "blocked".to_owned();
        node.blocked.push(ProcessInfo {
            pid: "#PID<0.1.0>".into(),
            name: "spinner".into(),
            module: "Loop".into(),
            why: "runs old code".into(),
        });
        assert_eq!(
            describe(&node),
            "on b@h, 1 process still runs old code that loading Loop would kill (first: spinner)"
        );
    }
}
