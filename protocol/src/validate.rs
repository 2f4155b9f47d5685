//! Structural check of an inbound frame before yrs decodes it (being written).

use crate::{FrameError, FrameLimits};

/// Checks every length, count and nesting depth in `frame` against `limits`.
pub fn check_frame(frame: &[u8], limits: &FrameLimits) -> Result<(), FrameError> {
    if frame.len() > limits.max_frame_bytes {
        return Err(FrameError::TooLarge {
            n_bytes: frame.len(),
            max_bytes: limits.max_frame_bytes,
        });
    }
    Ok(())
}
