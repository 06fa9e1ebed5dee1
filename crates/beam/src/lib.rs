//! The debuggee side of elixir-dap: starting the BEAM VM that runs the user's
//! Mix project, installing the Erlang agent into it, and the typed channel the
//! adapter uses to talk to that agent.
//!
//! - [`agent_source`]: the agent's Erlang sources, embedded in the binary and
//!   installed into a cache directory keyed by their content hash.
//! - [`protocol`]: every request to the agent, every reply and event,
//!   typed and decoded strictly: the adapter's only way to talk to it.
//! - [`channel`]: the `{packet, 4}` ETF connection: calls with replies, events.
//! - [`keeper`]: the session keeper, the process that owns every OS process
//!   the program starts and ends them all with the session.
//! - [`vm`]: the VM's process: launch, output with backpressure, exit, termination.
//! - [`attach`]: what an attach session checks before it starts its helper node.

pub mod agent_source;
pub mod attach;
pub mod channel;
pub mod keeper;
pub mod protocol;
mod term;
pub mod vm;

pub use channel::{AgentClient, AgentError};
pub use protocol::AgentEvent;
pub use vm::{create_detached_log, Debuggee, DebuggeeEvent, LaunchError, OutputStream, VmSpec};
