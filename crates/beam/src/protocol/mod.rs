//! The typed protocol between the adapter and the agent: every request
//! ([`Request`]), every reply shape (one type each, in [`reply`]), the
//! events and the hello ([`event`]).
//!
//! Requests encode to exactly the terms the agent's `handle/1`
//! (`elixir_dap_agent.erl`) matches. Replies and events are decoded
//! strictly ([`decode`]): a missing key, a key no shape knows or a value of
//! the wrong type is an [`AgentError::Protocol`](crate::AgentError::Protocol) naming the request (or
//! event), the key and what was expected, never a default. The wire:
//! `{call, Id, Request}` → `{reply, Id, {ok, Value} | {error, Failure}}`,
//! `{cast, Request}`, `{event, Name, Data}` ([`crate::channel`]).
//!
//! This module is the only place that builds a request term or reads a
//! reply's: [`AgentClient::request`](crate::AgentClient::request) is the adapter's one way to call.
//!
//! The agent words no failure: why a request failed, a module was not
//! interpreted, a reload step names a process, a module did not load or an
//! attach was refused are reasons, an atom `kind` and its parameters,
//! decoded and worded in [`reason`].

pub mod decode;
pub mod event;
pub mod reason;
#[cfg(test)]
mod reason_tests;
pub mod reply;
pub mod request;
#[cfg(test)]
mod tests;

pub use decode::{Atom, Decode, DecodeError, Done, Pid};
pub use event::*;
pub use reason::{pid_text, AttachRefusal, Failure, ModuleReason, ProcessReason, SkipReason};
pub use reply::*;
pub use request::{BreakpointSpec, Command, Expressions, HitCondition, HitOp, LogPart, Priority, Request};
