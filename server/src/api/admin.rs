//! Operating the server over HTTP: the backup download, and two layers of the router: the
//! request id (a tracing span per request, `X-Request-Id` on every answer, responses
//! counted) and the write gate that state-changing requests hold so that a backup can pause
//! them (see `backup`).
//!
//! Must not: decide who may do what (the extractors do), or copy records itself.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use crate::http::{ApiError, AppState, ClientAddress, ErrorBody, Secretariat};

/// A consistent backup of every record and document, taken while the server runs (writes
/// pause while the records are copied in memory, typically milliseconds). Restore it with
/// `manifesto restore --from FILE --data EMPTY_DIR`. Recorded in the audit log.
#[utoipa::path(
    get,
    path = "/api/admin/backup",
    tag = "admin",
    responses(
        (status = 200, description = "The backup file (gzip)", content_type = "application/gzip"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn download_backup(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
) -> Result<Response, ApiError> {
    let (bytes, pause) = state.backups.take().await.map_err(ApiError::internal)?;
    state.auth.record(
        principal.actor(&address),
        "backup.downloaded",
        None,
        json!({ "bytes": bytes.len(), "pause_ms": pause.as_millis() as u64 }),
    );
    state.flush().await?;
    let name = crate::backup::file_name("manifesto-");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    // The name is digits, letters, `-` and `.` only.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Holds the backup gate for the whole of each state-changing request, so that a backup
/// copies no record written halfway through a request.
pub async fn write_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let _entered = state.backups.gate().enter().await;
    next.run(request).await
}

/// Longest request id taken from a client or proxy.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// The request's id: the `X-Request-Id` a proxy set (when it is short and plain), or a new
/// random one.
fn request_id_of(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_CHARS
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            use rand::Rng;
            format!("{:016x}", rand::rngs::OsRng.gen::<u64>())
        })
}

/// Runs each request in a `request` span carrying its id, method and path (never the query,
/// which may hold a token), so every log line it causes names it; logs failures; counts
/// responses; answers the id in `X-Request-Id`.
pub async fn request_id(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id_of(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    state.metrics.responded(status);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response.into_response()
}
