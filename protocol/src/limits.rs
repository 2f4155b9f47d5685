//! Limits applied to every inbound WebSocket frame before any of it is decoded.

/// Bounds on what one inbound frame may contain.
///
/// The defaults are generous for real editors (a pasted 300-page Manifesto is well under 1 MiB
/// of Yjs update) and small enough that a hostile client cannot make the server allocate much
/// more than the frame itself, nor recurse deeply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest binary frame accepted, in bytes; a larger one is closed with 1009.
    pub max_frame_bytes: usize,
    /// Deepest nesting of `Any` values (arrays, maps) or JSON text (in embeds, formats and
    /// awareness states) accepted inside an update.
    pub max_nesting_depth: usize,
    /// Largest JSON state one awareness entry may carry, in bytes.
    pub max_awareness_state_bytes: usize,
    /// Most y-sync messages one frame may carry.
    pub max_messages_per_frame: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_frame_bytes: 1024 * 1024,
            max_nesting_depth: 32,
            max_awareness_state_bytes: 16 * 1024,
            max_messages_per_frame: 64,
        }
    }
}
