//! Why a request failed: [`RequestError`], which every handler returns.

/// Why a request failed. The message is shown to the user as it is, so it
/// says what was wrong and, for arguments, which attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The user's input or program is at fault: bad arguments, compile errors.
    #[error("{0}")]
    User(String),
    /// Something failed inside the adapter or the VM.
    #[error("internal error: {0}")]
    Internal(String),
}
