//! The HTTP side: routes, the WebSocket upgrade, and [`ApiError`], the one place where
//! outcomes become status codes and machine-readable error codes.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::ws::{serve_socket, SocketContext};

/// Initial read buffer of one WebSocket connection.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Outbound bytes buffered before a WebSocket connection writes them out.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// Longest document name accepted.
pub const MAX_DOCUMENT_NAME_BYTES: usize = 128;

/// An error answered to an HTTP client: a status and a stable code, never internal details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The document name in the path is not acceptable.
    #[error("document names are 1 to 128 characters from A-Z a-z 0-9 . _ - and start with a letter or digit")]
    InvalidDocumentName,
    /// No route matches.
    #[error("no such resource")]
    NotFound,
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
}

impl ApiError {
    /// The stable, machine-readable code sent in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidDocumentName => "invalid_document_name",
            ApiError::NotFound => "not_found",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidDocumentName => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}

/// Whether `name` is an acceptable document name.
pub fn is_valid_document_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_DOCUMENT_NAME_BYTES
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// What WebSocket connections need.
    pub sockets: Arc<SocketContext>,
}

/// The router of the whole server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/ws/{document}", get(upgrade_document_socket))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

/// The body of `GET /healthz`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// Documents currently loaded in memory.
    live_rooms: usize,
    /// Open WebSocket connections.
    connections: usize,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        live_rooms: state.sockets.rooms.n_live_rooms(),
        connections: state
            .sockets
            .n_connections
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

async fn upgrade_document_socket(
    State(state): State<AppState>,
    Path(document): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !is_valid_document_name(&document) {
        return Err(ApiError::InvalidDocumentName);
    }
    let limits = &state.sockets.limits;
    let context = state.sockets.clone();
    Ok(upgrade
        // tungstenite allocates its read buffer up front (128 KiB by default), which would
        // be most of the server's memory with 1,500 idle connections; it grows for larger
        // frames. Outbound frames are written as soon as a few KiB are queued.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| serve_socket(socket, document, context)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names() {
        assert!(is_valid_document_name("manifesto-2026"));
        assert!(is_valid_document_name("a.b_c-1"));
        assert!(is_valid_document_name(&"a".repeat(128)));
        assert!(!is_valid_document_name(""));
        assert!(!is_valid_document_name(&"a".repeat(129)));
        assert!(!is_valid_document_name("-leading"));
        assert!(!is_valid_document_name(".hidden"));
        assert!(!is_valid_document_name("with space"));
        assert!(!is_valid_document_name("slash/inside"));
        assert!(!is_valid_document_name("é"));
    }
}
