//! The debug session: reads DAP requests from a client, drives the debuggee VM
//! through its agent, and writes responses and events back.
//!
//! - [`server`]: one session over any byte stream (stdio or a TCP connection).
//! - [`client`]: the outbound half: the one place that numbers and writes messages.
//! - [`session`]: the request dispatcher and session state.
//! - [`launch`]: the ElixirLS-compatible `launch` attributes and their validation.
//! - [`attach`]: the `attach` attributes (`remoteNode`, `cookie`) and their validation.
//! - [`error`]: why a request failed ([`error::RequestError`]).
//! - [`debugger`]: interpretation, breakpoints, threads, stacks, variables, evaluate.
//! - `memory`: handing freed heap pages back to the system.

pub mod attach;
pub mod client;
pub mod debugger;
pub mod error;
pub mod launch;
pub mod server;
pub mod session;

mod memory;

pub use server::run_session;
