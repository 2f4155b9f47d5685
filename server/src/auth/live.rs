//! The open WebSocket connections of each person, so that ending a session, revoking a token,
//! changing a role or deactivating an account closes them at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use manifesto_protocol::CloseCode;
use tokio::sync::watch;

use crate::rooms::{CloseReason, ConnId};

/// Which credential a connection was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnCredential {
    Session(u64),
    Token(u64),
}

struct LiveConn {
    user_id: u64,
    credential: ConnCredential,
    close: Arc<watch::Sender<Option<CloseReason>>>,
}

/// Registry of open connections by person. A std mutex: held only to insert, remove or scan.
#[derive(Default)]
pub struct LiveConnections {
    conns: Mutex<HashMap<ConnId, LiveConn>>,
}

impl LiveConnections {
    /// Registers an open connection.
    pub fn register(
        &self,
        conn: ConnId,
        user_id: u64,
        credential: ConnCredential,
        close: Arc<watch::Sender<Option<CloseReason>>>,
    ) {
        self.lock().insert(
            conn,
            LiveConn {
                user_id,
                credential,
                close,
            },
        );
    }

    /// Forgets a connection that has ended.
    pub fn unregister(&self, conn: ConnId) {
        self.lock().remove(&conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, LiveConn>> {
        self.conns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close_where(
        &self,
        matches: impl Fn(&LiveConn) -> bool,
        code: CloseCode,
        reason: &str,
    ) -> usize {
        let conns = self.lock();
        let mut n = 0;
        for conn in conns.values().filter(|c| matches(c)) {
            conn.close.send_if_modified(|current| {
                if current.is_some() {
                    return false;
                }
                *current = Some(CloseReason::new(code, reason));
                true
            });
            n += 1;
        }
        n
    }

    /// Closes every connection of `user_id`; returns how many.
    pub fn close_user(&self, user_id: u64, code: CloseCode, reason: &str) -> usize {
        self.close_where(|c| c.user_id == user_id, code, reason)
    }

    /// Closes the connections opened with any of `sessions` of `user_id`.
    pub fn close_sessions(&self, user_id: u64, sessions: &[u64]) -> usize {
        self.close_where(
            |c| {
                c.user_id == user_id
                    && matches!(c.credential, ConnCredential::Session(id) if sessions.contains(&id))
            },
            CloseCode::SessionEnded,
            "session ended; log in again",
        )
    }

    /// Closes the connections opened with token `token_id`.
    pub fn close_token(&self, token_id: u64) -> usize {
        self.close_where(
            |c| c.credential == ConnCredential::Token(token_id),
            CloseCode::SessionEnded,
            "token revoked",
        )
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
