//! `attach`: debugging a node that is already running, over Erlang
//! distribution.
//!
//! The session starts a helper VM as it starts a launched program's (the
//! session keeper owns it, [`beam::Debuggee::launch`]), with the node to
//! attach to in its environment. The helper (`elixir_dap_attach.erl`)
//! becomes a hidden node, connects, checks versions, loads the agent into
//! the remote node and relays the channel to the agent it spawns there; its
//! hello carries the remote node's information or why the attach failed. From
//! then on the session drives the remote agent exactly as a launched one:
//! every debugger request works unchanged. Detaching asks the agent to leave
//! the node as found, then waits for the helper to purge the agent's modules,
//! disconnect and exit; killing the helper instead (`terminate`, the
//! adapter's end) makes the agent clean up by itself when it sees the
//! helper go.

use super::*;
use crate::attach::AttachConfig;
use crate::launch::DebugBackend;

/// How long the helper VM may take to boot, reach the node and load the
/// agent. A bad `remoteNode` or cookie is reported by the helper itself,
/// well within 5 s; this bounds a helper that hangs. The first helper of a
/// new agent version compiles the agent (2 s of CPU on OTP 29): measured
/// 10 s of wall time on 2 cores under a load of 20, hence the margin.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the remote agent may take to clean the node up on detach.
const CLEAN_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the helper may take, after the clean-up, to purge the agent's
/// 15 modules from the node and exit. Each `code:purge/1` waits until every
/// process of the node has been checked: measured 1.4 s (OTP 29) and 2.3 s
/// (OTP 25) for 15 modules with four processes busy on 2 loaded cores.
const HELPER_EXIT_TIMEOUT: Duration = Duration::from_secs(6);

/// The node this session is attached to.
pub(super) struct Attached {
    pub node: String,
    /// The node runs no Mix project (a release built with `mix release`):
    /// the project's modules, sources and debug info come from `projectDir`
    /// through the helper node, and reloads compile there
    /// (`elixir_dap_release.erl`). From the hello's `mode`.
    pub release: bool,
    /// The other nodes of a cluster attached to (`remoteNode` a list):
    /// reloads reach them too, after the hello's `peers`.
    pub peers: Vec<String>,
    /// A reload succeeded: its code stays loaded after the detach.
    pub reloaded: bool,
}

impl Session {
    pub(super) async fn attach(&mut self, arguments: &Value) -> Handled {
        if self.program.is_some() || self.launching.is_some() || self.debuggee.is_some() {
            return Err(RequestError::User(
                "a program is already launched or attached in this session".into(),
            ));
        }
        let started = std::time::Instant::now();
        let mut config = crate::attach::validate(arguments, &self.options.cwd, std::env::var("RELEASE_COOKIE").ok())
            .map_err(|e| RequestError::User(format!("attach: {e}")))?;
        for node in std::iter::once(&config.remote_node).chain(&config.peers) {
            check_registered(node, &config).await?;
        }
        let progress = self.progress_start("Attaching", &format!("connecting to {}", config.remote_node));
        let result = self.start_helper(&config).await;
        let debuggee = match result {
            Ok(debuggee) => debuggee,
            Err(error) => {
                self.progress_end(progress, "failed");
                return Err(error);
            }
        };
        let node = config.remote_node.clone();
        let info = match &debuggee.hello {
            protocol::Hello::Ready(info) => Some(info),
            protocol::Hello::AttachFailed(_) => None,
        };
        self.client.event(
            "process",
            ProcessEventBody {
                name: node.clone(),
                system_process_id: info.and_then(|i| u32::try_from(i.os_pid).ok()),
                is_local_process: false,
                start_method: "attach",
            },
        );
        let release = info
            .and_then(|i| i.mode.as_ref())
            .is_some_and(|mode| *mode == "release");
        let peers = info.and_then(|i| i.peers.clone()).unwrap_or_default();
        self.client.console(format!(
            "elixir-dap: attached to {node} (OTP {}, Elixir {}) through the hidden node {} in {} ms{}",
            debuggee.otp_release,
            debuggee.elixir_version,
            info.and_then(|i| i.node.as_deref()).unwrap_or_default(),
            started.elapsed().as_millis(),
            if release {
                "; it runs no Mix project (a release?): the project's modules, sources and debug info \
                 come from `projectDir`"
            } else {
                ""
            }
        ));
        if config.connected_cluster && peers.is_empty() {
            self.client.console(format!(
                "elixir-dap: cluster \"connected\": {node} is connected to no other node; reloads reach it alone"
            ));
        }
        if !peers.is_empty() {
            self.client.console(format!(
                "elixir-dap: cluster: reloads reach {} too, all nodes or none; breakpoints, stepping and \
                 evaluate are on {node}",
                peers.join(", ")
            ));
        }
        if !config.launch.args.no_debug {
            let requested = config.launch.args.debug_backend;
            let chosen = attach_backend(requested, info);
            self.client.console(attach_backend_note(
                requested,
                chosen,
                info,
                &node,
                &debuggee.otp_release,
            ));
            config.launch.args.debug_backend = chosen;
        }
        let agent = debuggee.agent.clone();
        self.debuggee = Some(debuggee);
        self.attached = Some(Attached {
            node: node.clone(),
            release,
            peers,
            reloaded: false,
        });
        let args = &config.launch.args;
        if !args.no_debug {
            match Debugger::start(agent, self.client.clone(), super::launch::debugger_config(args)).await {
                Ok(debugger) => {
                    *lock(&self.pump_threads) = Some(debugger.thread_table());
                    self.stop_epoch = Some(debugger.thread_table().epoch());
                    self.debugger = Some(debugger);
                }
                Err(error) => {
                    self.progress_end(progress, "failed");
                    if let Err(why) = self.leave_node().await {
                        tracing::warn!(%why, "leaving the node after a failed attach");
                    }
                    self.attached = None;
                    return Err(RequestError::User(format!(
                        "attach: {}",
                        error.to_string().trim_start_matches("launch: ")
                    )));
                }
            }
        }
        self.start_reload(&config);
        self.program = Some(Program {
            config: config.launch,
            task: String::new(),
            started: false,
        });
        self.progress_end(progress, "attached");
        // Breakpoints and other configuration come after this event.
        self.client.event("initialized", ());
        Ok(None)
    }

    /// Reloads in an attach session go through the same pipeline as in a
    /// launch: the agent compiles in the node, which must therefore see the
    /// project's sources and the overlay (a node on this machine, run by
    /// Mix), or, in a node without Mix ([`Attached::release`]), the helper
    /// node compiles and the node loads the object code from memory. The
    /// node is taken to run the sources as they are now.
    fn start_reload(&mut self, config: &AttachConfig) {
        let elixir_version = self
            .debuggee
            .as_ref()
            .map(|d| d.elixir_version.clone())
            .unwrap_or_default();
        // The environment the node runs the project in (a release's build
        // is found whatever its environment: Mix's default is taken).
        let mix_env = match self.debuggee.as_ref().map(|d| &d.hello) {
            Some(protocol::Hello::Ready(info)) => info.mix_env.clone(),
            _ => None,
        };
        let layout = mix_layout::MixLayout::read(
            &config.launch.project_dir,
            mix_env.as_deref().unwrap_or(mix_layout::DEFAULT_MIX_ENV),
        );
        self.reload = Some(reload::ReloadState::start(
            layout.clone(),
            &elixir_version,
            std::time::SystemTime::now(),
            external::ExternalResources::default(),
            &self.options.cache_root,
        ));
        match on_save::SaveWatch::start(&config.launch, &layout, Vec::new()) {
            Ok(Some(watch)) => {
                self.client.console(watch.describe());
                self.save_watch = Some(watch);
            }
            Ok(None) => {}
            Err(message) => self.client.console(format!("elixir-dap: {message}")),
        }
    }

    /// Starts the helper VM and waits for its hello: the remote node's
    /// information, or why the attach failed (then nothing is left running).
    async fn start_helper(&mut self, config: &AttachConfig) -> Result<Debuggee, RequestError> {
        let launch = &config.launch;
        let mut env: Vec<(String, Option<String>)> =
            launch.args.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.push(("ELIXIR_DAP_REMOTE_NODE".into(), Some(config.remote_node.clone())));
        env.push(("ELIXIR_DAP_PEER_NODES".into(), Some(config.peers.join(" "))));
        if launch.args.break_on_dbg && !launch.args.no_debug {
            env.push(("ELIXIR_DAP_BREAK_ON_DBG".into(), Some("1".into())));
        }
        if config.connected_cluster {
            env.push(("ELIXIR_DAP_CLUSTER".into(), Some("connected".into())));
        }
        env.push((
            "ELIXIR_DAP_NAME_DOMAIN".into(),
            Some(if config.long_names { "longnames" } else { "shortnames" }.into()),
        ));
        env.push(("ELIXIR_DAP_COOKIE".into(), config.cookie.clone()));
        // The backend the agent runs on in the node: the helper checks the
        // node for `native` and resolves `auto` (its hello's `backend`).
        if !launch.args.no_debug {
            env.push((
                "ELIXIR_DAP_BACKEND".into(),
                Some(launch.args.debug_backend.as_str().into()),
            ));
        }
        // Never start epmd: the keeper would end it with the session while
        // other nodes use it (the node attached to runs one).
        let flags = std::env::var("ERL_AFLAGS").unwrap_or_default();
        env.push(("ERL_AFLAGS".into(), Some(format!("{flags} -start_epmd false"))));
        let mut debuggee = self
            .start_debuggee(launch, env, ATTACH_TIMEOUT)
            .await
            .map_err(|e| RequestError::User(format!("attach: the helper node did not start: {e}")))?;
        if let protocol::Hello::AttachFailed(failed) = debuggee.hello.clone() {
            debuggee.terminate();
            let _ = debuggee.wait_exit(EXIT_TIMEOUT).await;
            return Err(refused(&failed.attach_error));
        }
        Ok(debuggee)
    }

    /// `configurationDone` of an attach session: interpret the selected
    /// modules; nothing is run. The node runs them already, so each goes
    /// through `:int.ni/1`'s own path ([`Debugger::interpret`]): the batch
    /// path of a launch loads native code first, and a process inside the
    /// module (a GenServer waiting in a call) was found killed later.
    pub(super) async fn attach_configuration_done(&mut self) -> Handled {
        if let Some(debugger) = self.debugger.as_mut() {
            let pending = debugger.pending_interpretation();
            if !pending.is_empty() {
                let started = std::time::Instant::now();
                debugger.interpret(&pending).await?;
                self.client.console(format!(
                    "elixir-dap: interpreted {} in {} ms",
                    ::reload::counted(pending.len(), "module", "modules"),
                    started.elapsed().as_millis()
                ));
            }
        }
        if let Some(program) = self.program.as_mut() {
            program.started = true;
        }
        Ok(None)
    }

    /// `disconnect` of an attach session: leave the node as found, whatever
    /// `terminateDebuggee` says (the node is not ours to stop).
    pub(super) async fn detach_node(&mut self) -> Handled {
        let (mut node, keeps, reloaded) = match &self.attached {
            Some(attached) if attached.peers.is_empty() => (attached.node.clone(), "it keeps", attached.reloaded),
            Some(attached) => (
                format!("{} and {}", attached.node, attached.peers.join(", ")),
                "they keep",
                attached.reloaded,
            ),
            None => (String::new(), "it keeps", false),
        };
        // What a detach does not undo: the code reloads loaded runs on, natively.
        if reloaded {
            node.push_str(" (the code of the last reload stays loaded)");
        }
        let clean = self.leave_node().await;
        self.client.console(match clean {
            Ok(kept) if kept.is_empty() => format!("elixir-dap: detached from {node}; {keeps} running, as found"),
            Ok(kept) => format!(
                "elixir-dap: detached from {node}; {keeps} running; {} still in interpreted code ({}) \
                 run on under the interpreter, which stays until they leave it",
                ::reload::counted(kept.len(), "process", "processes"),
                kept.join(", ")
            ),
            Err(why) => format!("elixir-dap: detached from {node} ({why}); {keeps} running"),
        });
        Ok(None)
    }

    /// Asks the remote agent to clean the node up and waits for the helper
    /// to purge the agent and exit; kills the helper if either fails (the
    /// agent then cleans up when it sees the helper go).
    /// Answers the processes left running interpreted code.
    async fn leave_node(&mut self) -> Result<Vec<String>, String> {
        self.debugger = None;
        *lock(&self.pump_threads) = None;
        self.stop_epoch = None;
        let Some(mut debuggee) = self.debuggee.take() else {
            return Ok(Vec::new());
        };
        let detached = debuggee
            .agent
            .request::<protocol::Detached>(&protocol::Request::Detach, CLEAN_UP_TIMEOUT)
            .await;
        let exited = debuggee.wait_exit(HELPER_EXIT_TIMEOUT).await;
        self.terminated = true;
        match (detached, exited) {
            (Ok(cleaned), Some(_)) => Ok(match cleaned {
                protocol::Detached::Attached(cleaned) => {
                    cleaned.kept_interpreted.iter().map(|pid| format!("{pid}")).collect()
                }
                protocol::Detached::Launched => Vec::new(),
            }),
            (Err(e), _) => {
                debuggee.terminate();
                let _ = debuggee.wait_exit(EXIT_TIMEOUT).await;
                Err(format!("the agent did not confirm the clean-up: {e}"))
            }
            (Ok(_), None) => {
                debuggee.terminate();
                let _ = debuggee.wait_exit(EXIT_TIMEOUT).await;
                Err("the helper node did not exit in time and was killed".into())
            }
        }
    }
}

/// How long asking epmd may take (connecting, then reading its answer).
const EPMD_TIMEOUT: Duration = Duration::from_secs(2);

/// An attach refused: the attribute to blame, and why.
fn refused(refusal: &protocol::AttachRefusal) -> RequestError {
    RequestError::User(format!("attach: `{}`: {refusal}", refusal.attribute()))
}

/// Asks epmd on `node`'s host whether the node is registered, before a
/// helper node is started for nothing (see [`beam::attach`]).
async fn check_registered(node: &str, config: &AttachConfig) -> Result<(), RequestError> {
    let node = node.to_owned();
    let Some((name, host)) = node.split_once('@').map(|(n, h)| (n.to_owned(), h.to_owned())) else {
        return Ok(());
    };
    let port = match config.launch.args.env.get("ERL_EPMD_PORT") {
        Some(Some(port)) => port.trim().parse().unwrap_or_else(|_| beam::attach::epmd_port()),
        _ => beam::attach::epmd_port(),
    };
    let lookup_host = host.clone();
    let names = tokio::task::spawn_blocking(move || beam::attach::registered_names(&lookup_host, port, EPMD_TIMEOUT))
        .await
        .map_err(|e| RequestError::Internal(format!("attach: asking epmd failed: {e}")))?;
    match names {
        Err(why) => Err(RequestError::User(format!(
            "attach: `remoteNode`: cannot reach {node}: {why}"
        ))),
        Ok(Some(names)) if !names.contains(&name) => Err(refused(&protocol::AttachRefusal::NotRegistered {
            name,
            host,
            registered: names,
        })),
        Ok(_) => Ok(()),
    }
}

/// The backend the agent runs on in the node: the helper's hello says
/// (`auto` resolved there); a helper that does not say runs what was asked,
/// `auto` being the interpreter.
fn attach_backend(requested: DebugBackend, info: Option<&protocol::NodeInfo>) -> DebugBackend {
    match info.and_then(|i| i.backend.as_ref()) {
        Some(backend) if *backend == "native" => DebugBackend::Native,
        Some(_) => DebugBackend::Interpreter,
        None if requested == DebugBackend::Native => DebugBackend::Native,
        None => DebugBackend::Interpreter,
    }
}

/// The console line of an attach that says which backend debugs `node`
/// (of OTP release `otp`) and, when `auto` runs the interpreter, why.
fn attach_backend_note(
    requested: DebugBackend,
    chosen: DebugBackend,
    info: Option<&protocol::NodeInfo>,
    node: &str,
    otp: &str,
) -> String {
    let asked = requested.as_str();
    if chosen == DebugBackend::Native {
        return format!(
            "elixir-dap: debugger backend: native (`debugBackend` \"{asked}\": erl_debugger in {node}); \
             modules compiled without line debug info cannot stop"
        );
    }
    if requested != DebugBackend::Auto {
        return format!("elixir-dap: debugger backend: interpreter (`debugBackend` \"{asked}\")");
    }
    let reason = info.and_then(|i| i.backend_reason.as_ref());
    let why = match reason {
        Some(reason) if *reason == "no_line_debug_info" => format!(
            "{node} runs erl_debugger, but its project was compiled without line debug info (e.g. {}), so no \
             line could stop on it; compile with ERL_COMPILER_OPTIONS='[beam_debug_info,{{parse_transform,\
             ms_transform}}]' for the native debugger",
            info.and_then(|i| i.backend_module.clone())
                .map(|m| protocol::Atom(m).module_name())
                .unwrap_or_else(|| "its modules".into())
        ),
        _ => match otp.trim().parse::<u32>() {
            Ok(release) if release < 28 => {
                format!("OTP {release} has no native debugger (erl_debugger comes with OTP 28)")
            }
            _ => format!(
                "{node} runs OTP {otp} without erl_debugger: its emulator was not started with +D \
                 (e.g. `elixir --erl \"+D\" ...`)"
            ),
        },
    };
    format!("elixir-dap: debugger backend: interpreter (`debugBackend` \"auto\": {why})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use beam::protocol::{Atom, NodeInfo};

    fn hello(backend: &str, reason: Option<&str>, module: Option<&str>) -> NodeInfo {
        NodeInfo {
            otp_release: "29".into(),
            elixir_version: "1.20.4".into(),
            os_pid: 1,
            node: None,
            mode: Some(Atom("mix".into())),
            mix_env: None,
            peers: None,
            backend: Some(Atom(backend.into())),
            backend_reason: reason.map(|r| Atom(r.into())),
            backend_module: module.map(str::to_owned),
        }
    }

    /// `auto` in an attach: native when the helper found erl_debugger in
    /// the node (started with +D), else the interpreter, with the reason
    /// per class: OTP 25 and 27 have none, OTP 29 without +D, a project
    /// compiled without line debug info.
    #[test]
    fn auto_attach_says_which_backend_and_why() {
        let auto = DebugBackend::Auto;
        let native = hello("native", None, None);
        assert_eq!(attach_backend(auto, Some(&native)), DebugBackend::Native);
        let line = attach_backend_note(auto, DebugBackend::Native, Some(&native), "app@box", "29");
        assert!(
            line.starts_with("elixir-dap: debugger backend: native (`debugBackend` \"auto\": erl_debugger in app@box)"),
            "{line}"
        );
        let none = hello("interpreter", Some("no_native_debugger"), None);
        assert_eq!(attach_backend(auto, Some(&none)), DebugBackend::Interpreter);
        for otp in ["25", "27"] {
            let line = attach_backend_note(auto, DebugBackend::Interpreter, Some(&none), "app@box", otp);
            assert!(
                line.starts_with("elixir-dap: debugger backend: interpreter (`debugBackend` \"auto\": ")
                    && line.contains(&format!("OTP {otp} has no native debugger")),
                "{line}"
            );
        }
        let line = attach_backend_note(auto, DebugBackend::Interpreter, Some(&none), "app@box", "29");
        assert!(line.contains("not started with +D"), "{line}");
        let no_lines = hello("interpreter", Some("no_line_debug_info"), Some("Elixir.Shop.Cart"));
        let line = attach_backend_note(auto, DebugBackend::Interpreter, Some(&no_lines), "app@box", "29");
        assert!(
            line.contains("without line debug info") && line.contains("Shop.Cart"),
            "{line}"
        );
        // Asked for: said as asked, no reason to give.
        let line = attach_backend_note(
            DebugBackend::Interpreter,
            DebugBackend::Interpreter,
            Some(&hello("interpreter", None, None)),
            "app@box",
            "29",
        );
        assert_eq!(
            line,
            "elixir-dap: debugger backend: interpreter (`debugBackend` \"interpreter\")"
        );
        // A hello without `backend`: what was asked, `auto` being the interpreter.
        assert_eq!(attach_backend(DebugBackend::Native, None), DebugBackend::Native);
        assert_eq!(attach_backend(auto, None), DebugBackend::Interpreter);
    }
}
