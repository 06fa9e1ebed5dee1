//! The `attach` request's attributes: ElixirLS's (`remoteNode`, here also a
//! list: a cluster, debugged on its first node and reloaded into all; `projectDir`,
//! `env`, `debugInterpretModulesPatterns`, `debugAutoInterpretAllModules`,
//! `excludeModules`, `stackTraceMode`, `debugExpressionTimeoutMs`) and ours
//! (`cookie`, `cluster`, `elixirPath`). Everything but `remoteNode`, `cookie` and `cluster` means
//! what it means for `launch` and is validated by [`launch::validate`].

use crate::launch::{self, field_error, LaunchConfig};
use dap::ArgumentError;
use serde_json::Value;
use std::path::Path;

/// `attach` arguments after validation.
#[derive(Debug, Clone)]
pub struct AttachConfig {
    /// `projectDir`, `env`, the interpret selection, `elixirPath`... as for a launch.
    pub launch: LaunchConfig,
    /// `remoteNode`: `name@host`, or the first of its list: the node
    /// debugged.
    pub remote_node: String,
    /// The rest of a `remoteNode` list: the other nodes of a cluster, which
    /// every reload reaches too (`elixir_dap_cluster.erl`).
    pub peers: Vec<String>,
    /// `cluster` `"connected"`: the nodes `remote_node` is connected to at
    /// the attach join the cluster too (the helper asks it: `nodes()`).
    pub connected_cluster: bool,
    /// The cookie: the `cookie` attribute, else `RELEASE_COOKIE` of the
    /// adapter's environment; `None`: the helper node's own
    /// (`~/.erlang.cookie`, as any Erlang node).
    pub cookie: Option<String>,
    /// Long names (`name@host.domain`, `name@127.0.0.1`) or short ones.
    pub long_names: bool,
}

/// Parses and validates `attach` arguments; errors name the attribute.
/// `release_cookie` is `RELEASE_COOKIE` of the adapter's environment.
pub fn validate(arguments: &Value, cwd: &Path, release_cookie: Option<String>) -> Result<AttachConfig, ArgumentError> {
    let nodes: Vec<String> = match arguments.get("remoteNode") {
        None | Some(Value::Null) => {
            return Err(field_error(
                "remoteNode",
                "missing: the node to attach to, as `name@host` (what `Node.self()` prints there)",
            ))
        }
        Some(Value::String(node)) => vec![node.trim().to_owned()],
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, node)| match node {
                Value::String(node) => Ok(node.trim().to_owned()),
                other => Err(field_error(
                    "remoteNode",
                    &format!("item {i}: expected a string `name@host`, got {other}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Array(_)) => {
            return Err(field_error(
                "remoteNode",
                "expected at least one node: `name@host`, or a list of them (a cluster)",
            ))
        }
        Some(other) => {
            return Err(field_error(
                "remoteNode",
                &format!("expected a string `name@host` or a list of them, got {other}"),
            ))
        }
    };
    let mut long_names = None;
    for (i, node) in nodes.iter().enumerate() {
        let long = check_node_name(node).map_err(|what| field_error("remoteNode", &what))?;
        if long_names.is_some_and(|first| first != long) {
            return Err(field_error(
                "remoteNode",
                &format!(
                    "`{node}` (item {i}) is a {} name, `{}` a {} one: the nodes of a cluster use one kind",
                    if long { "long" } else { "short" },
                    nodes[0],
                    if long { "short" } else { "long" }
                ),
            ));
        }
        if nodes[..i].contains(node) {
            return Err(field_error("remoteNode", &format!("`{node}` is named twice")));
        }
        long_names = Some(long);
    }
    let long_names = long_names.unwrap_or(false);
    let mut nodes = nodes.into_iter();
    let remote_node = nodes.next().unwrap_or_default();
    let peers: Vec<String> = nodes.collect();
    let cookie = match arguments.get("cookie") {
        None | Some(Value::Null) => release_cookie.filter(|c| !c.is_empty()),
        Some(Value::String(cookie)) if !cookie.is_empty() && cookie.chars().all(is_cookie_char) => Some(cookie.clone()),
        Some(Value::String(_)) => {
            return Err(field_error(
                "cookie",
                "expected a non-empty cookie of printable characters without spaces",
            ))
        }
        Some(other) => return Err(field_error("cookie", &format!("expected a string, got {other}"))),
    };
    let connected_cluster = match arguments.get("cluster") {
        None | Some(Value::Null) => false,
        Some(Value::String(how)) if how == "listed" => false,
        Some(Value::String(how)) if how == "connected" => true,
        Some(other) => {
            return Err(field_error(
                "cluster",
                &format!(
                    "expected \"listed\" (the nodes of `remoteNode`) or \"connected\" (those and every node the \
                     first is connected to), got {other}"
                ),
            ))
        }
    };
    // `debugBackend` "native" needs the node started with +D: the helper
    // asks the node (a refusal names the attribute); `auto` attaches
    // natively when the node runs erl_debugger and its project has line
    // debug info, else with the interpreter (elixir_dap_attach:choose_backend/3).
    let launch = launch::validate(arguments, cwd)?;
    Ok(AttachConfig {
        launch,
        remote_node,
        peers,
        connected_cluster,
        cookie,
        long_names,
    })
}

fn is_cookie_char(c: char) -> bool {
    c.is_ascii_graphic()
}

/// Checks `name@host`; answers whether it is a long name (the host has a dot).
fn check_node_name(node: &str) -> Result<bool, String> {
    let Some((name, host)) = node.split_once('@') else {
        return Err(format!("`{node}` is no node name: expected `name@host`"));
    };
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !name_ok || !host_ok {
        return Err(format!(
            "`{node}` is no node name: expected `name@host` of letters, digits, `_`, `-` (and `.` in the host)"
        ));
    }
    Ok(host.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mix.exs"), "").unwrap();
        dir
    }

    #[test]
    fn remote_node_is_required_and_checked() {
        let dir = project();
        let error = validate(&json!({}), dir.path(), None).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("remoteNode"));
        let error = validate(&json!({"remoteNode": "app"}), dir.path(), None).unwrap_err();
        assert!(error.message.contains("expected `name@host`"), "{}", error.message);
        let error = validate(&json!({"remoteNode": "a b@host"}), dir.path(), None).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("remoteNode"));
        let short = validate(&json!({"remoteNode": "app@box"}), dir.path(), None).unwrap();
        assert!(!short.long_names);
        let long = validate(&json!({"remoteNode": "app@127.0.0.1"}), dir.path(), None).unwrap();
        assert!(long.long_names);
    }

    #[test]
    fn a_list_of_nodes_is_a_cluster_debugged_on_its_first() {
        let dir = project();
        let cluster = validate(&json!({"remoteNode": ["a@box", " b@box", "c@box"]}), dir.path(), None).unwrap();
        assert_eq!(cluster.remote_node, "a@box");
        assert_eq!(cluster.peers, ["b@box", "c@box"]);
        let one = validate(&json!({"remoteNode": ["a@box"]}), dir.path(), None).unwrap();
        assert!(one.peers.is_empty());
        let bad = [
            (json!([]), "at least one node"),
            (json!(["a@box", 7]), "item 1"),
            (json!(["a@box", "b"]), "expected `name@host`"),
            (json!(["a@box", "b@127.0.0.1"]), "one kind"),
            (json!(["a@box", "b@box", "a@box"]), "named twice"),
            (json!({"node": "a@box"}), "or a list of them"),
        ];
        for (nodes, expected) in bad {
            let error = validate(&json!({ "remoteNode": nodes }), dir.path(), None).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("remoteNode"), "{nodes}");
            assert!(error.message.contains(expected), "{nodes}: {}", error.message);
        }
    }

    #[test]
    fn cluster_says_whether_the_first_nodes_connections_join() {
        let dir = project();
        let config = |cluster: Value| validate(&json!({"remoteNode": "a@box", "cluster": cluster}), dir.path(), None);
        assert!(!config(Value::Null).unwrap().connected_cluster);
        assert!(!config(json!("listed")).unwrap().connected_cluster);
        assert!(config(json!("connected")).unwrap().connected_cluster);
        for bad in [json!("all"), json!(true), json!(["connected"])] {
            let error = config(bad.clone()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("cluster"), "{bad}");
            assert!(error.message.contains("\"connected\""), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn the_cookie_attribute_wins_over_release_cookie() {
        let dir = project();
        let given = validate(
            &json!({"remoteNode": "app@box", "cookie": "abc"}),
            dir.path(),
            Some("env".into()),
        )
        .unwrap();
        assert_eq!(given.cookie.as_deref(), Some("abc"));
        let from_env = validate(&json!({"remoteNode": "app@box"}), dir.path(), Some("env".into())).unwrap();
        assert_eq!(from_env.cookie.as_deref(), Some("env"));
        let none = validate(&json!({"remoteNode": "app@box"}), dir.path(), None).unwrap();
        assert_eq!(none.cookie, None);
        let error = validate(&json!({"remoteNode": "app@box", "cookie": "a b"}), dir.path(), None).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("cookie"));
    }

    #[test]
    fn project_dir_is_checked_as_for_launch() {
        let dir = tempfile::tempdir().unwrap();
        let error = validate(&json!({"remoteNode": "app@box"}), dir.path(), None).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("projectDir"));
    }
}
