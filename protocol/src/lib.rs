//! Wire types of Manifesto, shared by the server, the load tool and (through generated
//! checks) the TypeScript client.
//!
//! This crate does no IO and knows nothing of tokio, axum or sled. It frames and unframes the
//! y-websocket protocol on top of yrs's own `sync` module, checks every inbound frame's
//! structure against [`FrameLimits`] *before* yrs decodes it, and names the WebSocket close
//! codes the server uses.

mod close;
mod error;
mod framing;
mod limits;
mod validate;

pub use close::CloseCode;
pub use error::FrameError;
pub use framing::{
    decode_frame, encode_auth_denied, encode_awareness, encode_sync_step1, encode_sync_step2,
    encode_update, InboundMessage,
};
pub use limits::FrameLimits;
pub use validate::{check_frame, nested_content, NestedContent};

/// Re-exported so that users of the framing functions name the same yrs types.
pub use yrs;
