//! The audit log, for the secretariat.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::auth::audit::AuditEntry;
use crate::http::{ApiError, ApiQuery, AppState, ErrorBody, Secretariat};

/// A page of the log.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditPage {
    /// Entries after this sequence number (default 0: from the start).
    pub after: Option<u64>,
    /// At most this many entries (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// Audit entries, oldest first, each with the hash chaining it to the one before.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditPage),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    _secretariat: Secretariat,
    ApiQuery(page): ApiQuery<AuditPage>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    state
        .auth
        .audit
        .list(page.after.unwrap_or(0), limit)
        .map(Json)
        .map_err(ApiError::internal)
}
