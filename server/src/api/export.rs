//! Exports over HTTP: `GET /api/documents/{id}/export.{format}` (`pdf`, `md`, `html`), for
//! every member, observers included, like reading the text.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::export::{self, ExportFailure, Format, Which};
use crate::http::{ApiError, ApiPath, ApiQuery, AppState, ErrorBody};

/// Query of an export.
#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// A named version's number. Default: the adopted version of an adopted document, else
    /// the current text.
    pub version: Option<u64>,
    /// Add the annex of amendments (adopted ones with their votes, then the others).
    #[serde(default)]
    pub annex: bool,
}

/// The Manifesto as a file: a tagged A4 PDF, CommonMark with YAML front matter (which
/// imports back into the same structure), or one standalone HTML page. Served as an
/// attachment named after the document and the version (`ID-adopted.pdf`, `ID-v12.md`,
/// `ID-current.html`); a render is cached, and `X-Cache` says `hit` or `miss`.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/export.{format}",
    tag = "documents",
    params(
        ("id" = String, Path, description = "Document id"),
        ("format" = String, Path, description = "`pdf`, `md` or `html`"),
        ExportQuery
    ),
    responses(
        (status = 200, description = "The file: application/pdf, text/markdown or text/html"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, version_not_found"),
        (status = 422, body = ErrorBody, description = "invalid_field: an unknown format"),
        (status = 503, body = ErrorBody, description = "busy: too many PDF renders; see Retry-After"),
    )
)]
pub async fn export_document(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath((id, format)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::from_extension(&format).ok_or_else(|| {
        ApiError::InvalidField("the export format is pdf, md or html (export.pdf…)".into())
    })?;
    let record = state.documents.get(&id)?;
    let which = query
        .version
        .map_or(export::default_version(&record), Which::Version);
    let (sections, version) = match which {
        Which::Version(n) => {
            let version = state.documents.version(&id, n)?;
            (version.sections.clone(), Some(version))
        }
        Which::Current => (state.documents.current_sections(&id).await?.0, None),
    };
    let annex = if query.annex {
        Some(export::annex(&state.documents, &id, &sections)?)
    } else {
        None
    };
    let document = export::export_document(&record, &sections, version.as_ref(), annex);
    let started = std::time::Instant::now();
    let rendered = state
        .exports
        .render(document, format)
        .await
        .inspect(|_| {
            state
                .metrics
                .exported(format.extension(), started.elapsed())
        })
        .map_err(|e| match e {
            ExportFailure::Busy => ApiError::Busy(Duration::from_secs(2)),
            ExportFailure::Render(cause) => ApiError::internal(cause),
        })?;
    let file_name = export::file_name(&record, which, format);
    let mut response = rendered.bytes.to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Document ids are letters, digits, `.`, `_` and `-`: safe in a quoted file name.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-cache",
        HeaderValue::from_static(if rendered.cached { "hit" } else { "miss" }),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}
