//! The Debug Adapter Protocol as it travels on the wire: `Content-Length` framing,
//! the request/response/event envelopes, and the typed bodies the adapter uses.
//!
//! Nothing here knows about Elixir or the BEAM; the adapter crate maps these
//! messages onto a debug session.

pub mod commands;
pub mod framing;
pub mod messages;
pub mod positions;
pub mod types;

pub use commands::Command;
pub use framing::{read_frame, write_frame, Frame, FrameError, MAX_BODY_BYTES};
pub use messages::{
    parse_arguments, parse_incoming, ArgumentError, Body, Event, Incoming, Outgoing, Request, Response,
};
pub use positions::Positions;
