//! WebSocket close codes the server sends, with the reason text that goes with each.
//!
//! Codes below 4000 are the standard ones (RFC 6455); 4000–4999 are Manifesto's own. The
//! y-websocket provider reconnects after any close, so every code here is safe for an
//! unmodified Yjs client: it reconnects and resynchronises.

/// Why the server closed a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// The server is shutting down (1001).
    GoingAway,
    /// A message could not be decoded or broke the protocol (1002).
    ProtocolError,
    /// A text frame was sent; only binary y-websocket frames are accepted (1003).
    UnsupportedData,
    /// The connection is not allowed to do what it tried (1008).
    PolicyViolation,
    /// A frame was larger than the configured limit (1009).
    MessageTooBig,
    /// The server failed while handling the connection's document (1011).
    InternalError,
    /// The connection did not read its outbound messages fast enough (4000).
    SlowConsumer,
    /// Nothing, not even a pong, arrived within the idle timeout (4001).
    IdleTimeout,
    /// The person's session ended, their token was revoked or their account deactivated
    /// (4002): reconnecting needs a new login.
    SessionEnded,
    /// The person's role changed (4003): reconnect to get the new rights.
    PermissionsChanged,
}

impl CloseCode {
    /// Every close code, for tests and generated client tables.
    pub const ALL: [CloseCode; 10] = [
        CloseCode::GoingAway,
        CloseCode::ProtocolError,
        CloseCode::UnsupportedData,
        CloseCode::PolicyViolation,
        CloseCode::MessageTooBig,
        CloseCode::InternalError,
        CloseCode::SlowConsumer,
        CloseCode::IdleTimeout,
        CloseCode::SessionEnded,
        CloseCode::PermissionsChanged,
    ];

    /// The numeric code sent in the close frame.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::UnsupportedData => 1003,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::SlowConsumer => 4000,
            CloseCode::IdleTimeout => 4001,
            CloseCode::SessionEnded => 4002,
            CloseCode::PermissionsChanged => 4003,
        }
    }

    /// A stable, machine-readable name for the code.
    pub fn name(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "going_away",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::UnsupportedData => "unsupported_data",
            CloseCode::PolicyViolation => "policy_violation",
            CloseCode::MessageTooBig => "message_too_big",
            CloseCode::InternalError => "internal_error",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::IdleTimeout => "idle_timeout",
            CloseCode::SessionEnded => "session_ended",
            CloseCode::PermissionsChanged => "permissions_changed",
        }
    }

    /// The close code with this number, if it is one of ours.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        for c in CloseCode::ALL {
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
        }
        let mut codes: Vec<u16> = CloseCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), CloseCode::ALL.len());
    }
}
