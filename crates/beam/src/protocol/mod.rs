//! The typed protocol between the adapter and the agent: every request
//! ([`Request`]), every reply shape (one type each, in [`reply`]), the
//! events and the hello ([`event`]).
//!
//! Requests encode to exactly the terms the agent's `handle/1`
//! (`elixir_dap_agent.erl`) matches. Replies and events are decoded
//! strictly ([`decode`]): a missing key, a key no shape knows or a value of
//! the wrong type is an [`AgentError::Protocol`] naming the request (or
//! event), the key and what was expected, never a default. The wire:
//! `{call, Id, Request}` → `{reply, Id, {ok, Value} | {error, Failure}}`,
//! `{cast, Request}`, `{event, Name, Data}` ([`crate::channel`]).
//!
//! This module is the only place that builds a request term or reads a
//! reply's: [`AgentClient::request`] is the adapter's one way to call.

pub mod decode;
pub mod event;
pub mod reply;
pub mod request;
#[cfg(test)]
mod tests;

pub use decode::{Atom, Decode, DecodeError, Done, Pid};
pub use event::*;
pub use reply::*;
pub use request::{BreakpointSpec, Command, Expressions, HitCondition, HitOp, LogPart, Request};

use crate::channel::{AgentClient, AgentError};
use std::time::Duration;

impl AgentClient {
    /// Sends `request` and decodes its reply as `T` (the type its
    /// [`Request`] variant names). Errors: the agent's failure
    /// ([`AgentError::Failed`]), a reply of another shape
    /// ([`AgentError::Protocol`], naming the request and the key), a
    /// timeout or a closed channel.
    pub async fn request<T: Decode>(&self, request: &Request, timeout: Duration) -> Result<T, AgentError> {
        let name = request.name();
        let reply = self.call(request.term(), &name, timeout).await?;
        T::decode(&reply).map_err(|error| AgentError::Protocol(format!("the reply to `{name}`: {error}")))
    }

    /// Sends a request that has no reply ([`Request::Halt`]).
    pub fn notify(&self, request: &Request) -> Result<(), AgentError> {
        self.cast(request.term())
    }
}
