//! Why an inbound frame was refused.

use thiserror::Error;

/// An inbound frame that is refused before (or while) it is decoded.
///
/// Every variant maps to a WebSocket close code through [`FrameError::close_code`]; the
/// `Display` text is short, lowercase and fits in a close frame's 123-byte reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The frame is larger than [`crate::FrameLimits::max_frame_bytes`].
    #[error("frame of {n_bytes} bytes is over the limit of {max_bytes}")]
    TooLarge { n_bytes: usize, max_bytes: usize },
    /// The frame holds no message at all.
    #[error("empty frame")]
    Empty,
    /// A message ends before its declared content does.
    #[error("truncated message")]
    Truncated,
    /// A variable-length integer is longer than its type allows.
    #[error("malformed varint")]
    BadVarint,
    /// A length or count claims more than the rest of the frame could hold.
    #[error("declared length exceeds the frame")]
    LengthExceedsFrame,
    /// A message type the y-websocket protocol does not define.
    #[error("unknown message type {0}")]
    UnknownMessageType(u64),
    /// A sync sub-message type other than step 1, step 2 and update.
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u64),
    /// More messages in one frame than [`crate::FrameLimits::max_messages_per_frame`].
    #[error("too many messages in one frame")]
    TooManyMessages,
    /// Nested values or JSON deeper than [`crate::FrameLimits::max_nesting_depth`].
    #[error("value nested deeper than {max_depth}")]
    TooDeep { max_depth: usize },
    /// An awareness state larger than [`crate::FrameLimits::max_awareness_state_bytes`].
    #[error("awareness state over {max_bytes} bytes")]
    AwarenessStateTooLarge { max_bytes: usize },
    /// A string that is not UTF-8.
    #[error("invalid utf-8 string")]
    InvalidUtf8,
    /// Bytes after the last complete structure of a nested buffer.
    #[error("trailing bytes in {0}")]
    TrailingBytes(&'static str),
    /// Some other structural fault, named.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The structure passed the checks, but yrs could not decode it.
    #[error("undecodable {0}")]
    Undecodable(&'static str),
}

impl FrameError {
    /// The close code a connection that sent this frame is closed with.
    pub fn close_code(&self) -> crate::CloseCode {
        match self {
            FrameError::TooLarge { .. } => crate::CloseCode::MessageTooBig,
            _ => crate::CloseCode::ProtocolError,
        }
    }
}
