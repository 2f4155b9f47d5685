//! Documents: create (empty, from the template, or by importing Markdown), list, read the
//! structured text (now or at a named version), change metadata and deadlines, move between
//! phases, and take named versions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::{optional_text, timestamp};
use crate::auth::Principal;
use crate::documents::{
    now, DocumentRecord, InitialText, Phase, Transition, VersionKind, VersionSummary,
};
use crate::http::{
    is_valid_document_name, ApiError, ApiJson, ApiPath, ApiQuery, AppState, ClientAddress,
    ErrorBody, Secretariat,
};
use crate::text::{import_markdown, Metadata, Section};

/// Largest body of a document creation (an imported draft).
pub const MAX_IMPORT_BODY_BYTES: usize = 1024 * 1024 + 64 * 1024;

/// A document as members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// The document's id, also its live path `/ws/{id}`.
    pub id: String,
    /// The title (the id when it has none).
    pub title: String,
    /// Title, forum, place, dates, language(s), description, other front matter.
    pub metadata: Metadata,
    pub phase: Phase,
    /// When the current phase's actions close (RFC 3339).
    pub deadline: Option<String>,
    /// Whether that deadline has passed.
    pub deadline_passed: bool,
    /// When the current phase began (RFC 3339).
    pub phase_since: String,
    /// Whether members may edit the text live now.
    pub text_open: bool,
    /// Whether members may comment now.
    pub comments_open: bool,
    /// Phases in which comments are open.
    pub comment_phases: Vec<Phase>,
    /// Whether secretariat accounts vote in ballots too (active delegates always do).
    pub secretariat_votes: bool,
    /// Supporters an amendment needs before it can be screened.
    pub min_supporters: u32,
    /// Pending amendments one person may have.
    pub max_pending_amendments: u32,
    /// Every phase change, oldest first.
    pub transitions: Vec<TransitionView>,
    /// RFC 3339.
    pub created_at: String,
    pub created_by: u64,
    /// The live text (y-websocket).
    pub live_path: String,
    /// The live events (Server-Sent Events).
    pub events_path: String,
}

/// One phase change as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    pub from: Phase,
    pub to: Phase,
    pub direction: crate::documents::Direction,
    /// Account that made it.
    pub by: u64,
    /// RFC 3339.
    pub at: String,
    pub reason: Option<String>,
    /// RFC 3339.
    pub deadline: Option<String>,
    /// The named version taken at the change.
    pub version: u64,
}

impl From<&Transition> for TransitionView {
    fn from(t: &Transition) -> TransitionView {
        TransitionView {
            from: t.from,
            to: t.to,
            direction: t.direction,
            by: t.by,
            at: timestamp(t.at),
            reason: t.reason.clone(),
            deadline: t.deadline.map(timestamp),
            version: t.version,
        }
    }
}

impl From<&DocumentRecord> for DocumentView {
    fn from(record: &DocumentRecord) -> DocumentView {
        let now = now();
        DocumentView {
            id: record.id.clone(),
            title: record.title().to_owned(),
            metadata: record.metadata.clone(),
            phase: record.phase,
            deadline: record.deadline.map(timestamp),
            deadline_passed: record.deadline_passed(now),
            phase_since: timestamp(record.phase_since),
            text_open: record.text_open(now),
            comments_open: record.comments_open(now),
            comment_phases: record.comment_phases.clone(),
            secretariat_votes: record.secretariat_votes,
            min_supporters: record.min_supporters,
            max_pending_amendments: record.max_pending_amendments,
            transitions: record
                .transitions
                .iter()
                .map(TransitionView::from)
                .collect(),
            created_at: timestamp(record.created_at),
            created_by: record.created_by,
            live_path: format!("/ws/{}", record.id),
            events_path: format!("/api/documents/{}/events", record.id),
        }
    }
}

/// Query of the document list.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Include archived documents.
    #[serde(default)]
    pub archived: bool,
}

/// Every document (archived ones on request), newest first.
#[utoipa::path(
    get,
    path = "/api/documents",
    tag = "documents",
    params(ListQuery),
    responses((status = 200, body = Vec<DocumentView>), (status = 401, body = ErrorBody))
)]
pub async fn list_documents(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<DocumentView>>, ApiError> {
    let records = state.documents.list()?;
    Ok(Json(
        records
            .iter()
            .filter(|r| query.archived || r.phase != Phase::Archived)
            .map(DocumentView::from)
            .collect(),
    ))
}

/// What a new document starts with.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartWith {
    /// No text.
    #[default]
    Empty,
    /// A preamble, three numbered sections and a closing call to fill in.
    Template,
    /// The Markdown draft in `markdown`.
    Markdown,
}

/// A document to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDocument {
    /// Id (and live path); letters, digits, `-`, `_`, `.`, at most 64 characters. Made from
    /// the title when absent.
    pub id: Option<String>,
    /// Title; for an import, overrides the front matter's.
    pub title: Option<String>,
    pub forum: Option<String>,
    pub place: Option<String>,
    pub dates: Option<String>,
    /// Language(s), e.g. `fr` or `fr, en`.
    pub language: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub start_with: StartWith,
    /// The draft to import (CommonMark with optional YAML front matter), at most 1 MiB.
    pub markdown: Option<String>,
}

fn metadata_field(
    field: &str,
    value: Option<String>,
    current: &mut Option<String>,
    max: usize,
) -> Result<(), ApiError> {
    if let Some(value) = optional_text(field, value, max)? {
        *current = Some(value);
    }
    Ok(())
}

/// Create a document: empty, from the template, or by importing a Markdown draft (front
/// matter → metadata, headings → sections, paragraphs and list items → paragraphs).
#[utoipa::path(
    post,
    path = "/api/documents",
    tag = "documents",
    request_body = NewDocument,
    responses(
        (status = 201, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "document_exists"),
        (status = 422, body = ErrorBody, description = "invalid_field, import_failed"),
    )
)]
pub async fn create_document(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiJson(new): ApiJson<NewDocument>,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let (mut metadata, text) = match new.start_with {
        StartWith::Empty | StartWith::Template if new.markdown.is_some() => {
            return Err(ApiError::InvalidField(
                "markdown is only read with start_with = markdown".into(),
            ))
        }
        StartWith::Empty => (Metadata::default(), InitialText::Empty),
        StartWith::Template => (
            Metadata::default(),
            InitialText::Draft(Box::new(crate::demo::template(new.language.as_deref()))),
        ),
        StartWith::Markdown => {
            let markdown = new.markdown.as_deref().ok_or_else(|| {
                ApiError::InvalidField("start_with = markdown needs the markdown field".into())
            })?;
            let draft =
                import_markdown(markdown).map_err(|e| ApiError::ImportFailed(e.to_string()))?;
            (draft.metadata.clone(), InitialText::Draft(Box::new(draft)))
        }
    };
    metadata_field("title", new.title, &mut metadata.title, 300)?;
    metadata_field("forum", new.forum, &mut metadata.forum, 300)?;
    metadata_field("place", new.place, &mut metadata.place, 200)?;
    metadata_field("dates", new.dates, &mut metadata.dates, 100)?;
    metadata_field("language", new.language, &mut metadata.language, 50)?;
    metadata_field(
        "description",
        new.description,
        &mut metadata.description,
        2000,
    )?;
    let Some(title) = metadata.title.clone() else {
        return Err(ApiError::InvalidField(
            "title is required (or a title in the draft's front matter)".into(),
        ));
    };
    let id = match new.id {
        Some(id) => {
            if !is_valid_document_name(&id) || id.len() > crate::documents::MAX_DOCUMENT_ID_BYTES {
                return Err(ApiError::InvalidField(
                    "id is 1 to 64 characters from A-Z a-z 0-9 . _ - and starts with a letter or digit".into(),
                ));
            }
            id
        }
        None => state.documents.id_for_title(&title),
    };
    let record = state
        .documents
        .create(id, metadata, text, principal.user.id)
        .await?;
    state.auth.record(
        principal.actor(&address),
        "document.created",
        Some(format!("document:{}", record.id)),
        json!({ "title": title, "start_with": format!("{:?}", new.start_with).to_lowercase() }),
    );
    state.flush().await?;
    Ok((StatusCode::CREATED, Json(DocumentView::from(&record))))
}

/// A document.
#[utoipa::path(
    get,
    path = "/api/documents/{id}",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = DocumentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_document(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DocumentView>, ApiError> {
    Ok(Json(DocumentView::from(&state.documents.get(&id)?)))
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A change to a document's metadata or settings. Absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentChange {
    pub title: Option<String>,
    pub forum: Option<String>,
    pub place: Option<String>,
    pub dates: Option<String>,
    pub language: Option<String>,
    pub description: Option<String>,
    /// When the current phase's actions close (RFC 3339, in the future); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub deadline: Option<Option<String>>,
    /// Phases in which members may comment.
    pub comment_phases: Option<Vec<Phase>>,
    /// Whether secretariat accounts vote in ballots opened from now on.
    pub secretariat_votes: Option<bool>,
    /// Supporters an amendment needs before it can be screened (0–1000).
    pub min_supporters: Option<u32>,
    /// Pending amendments one person may have (1–1000).
    pub max_pending_amendments: Option<u32>,
}

/// Parses an RFC 3339 deadline that must be in the future.
pub(crate) fn parse_deadline(value: &str) -> Result<i64, ApiError> {
    let at = time::OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|_| ApiError::InvalidField("deadline must be an RFC 3339 time".into()))?
        .unix_timestamp();
    if at <= now() {
        return Err(ApiError::InvalidField(
            "deadline must be in the future".into(),
        ));
    }
    Ok(at)
}

/// Change a document's metadata, the current phase's deadline, or the phases open to comments.
#[utoipa::path(
    patch,
    path = "/api/documents/{id}",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body = DocumentChange,
    responses(
        (status = 200, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_document(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<DocumentChange>,
) -> Result<Json<DocumentView>, ApiError> {
    let deadline = match &change.deadline {
        None => None,
        Some(None) => Some(None),
        Some(Some(value)) => Some(Some(parse_deadline(value)?)),
    };
    let mut fields = Metadata::default();
    metadata_field("title", change.title, &mut fields.title, 300)?;
    metadata_field("forum", change.forum, &mut fields.forum, 300)?;
    metadata_field("place", change.place, &mut fields.place, 200)?;
    metadata_field("dates", change.dates, &mut fields.dates, 100)?;
    metadata_field("language", change.language, &mut fields.language, 50)?;
    metadata_field(
        "description",
        change.description,
        &mut fields.description,
        2000,
    )?;
    let comment_phases = change.comment_phases.clone();
    let secretariat_votes = change.secretariat_votes;
    if change.min_supporters.is_some_and(|n| n > 1000) {
        return Err(ApiError::InvalidField("min_supporters is 0 to 1000".into()));
    }
    if change
        .max_pending_amendments
        .is_some_and(|n| n == 0 || n > 1000)
    {
        return Err(ApiError::InvalidField(
            "max_pending_amendments is 1 to 1000".into(),
        ));
    }
    let (min_supporters, max_pending) = (change.min_supporters, change.max_pending_amendments);
    let before = state.documents.get(&id)?;
    let record = state
        .documents
        .update(&id, move |record| {
            let m = &mut record.metadata;
            for (new, old) in [
                (fields.title, &mut m.title),
                (fields.forum, &mut m.forum),
                (fields.place, &mut m.place),
                (fields.dates, &mut m.dates),
                (fields.language, &mut m.language),
                (fields.description, &mut m.description),
            ] {
                if new.is_some() {
                    *old = new;
                }
            }
            if let Some(deadline) = deadline {
                if deadline.is_some() && !record.phase.takes_deadline() {
                    return Err(crate::documents::DocumentError::Invalid(format!(
                        "the {} phase takes no deadline",
                        record.phase.as_str()
                    )));
                }
                record.deadline = deadline;
            }
            if let Some(n) = min_supporters {
                record.min_supporters = n;
            }
            if let Some(n) = max_pending {
                record.max_pending_amendments = n;
            }
            if let Some(votes) = secretariat_votes {
                record.secretariat_votes = votes;
            }
            if let Some(mut phases) = comment_phases {
                phases.sort();
                phases.dedup();
                record.comment_phases = phases;
            }
            Ok(())
        })
        .await?;
    let view = DocumentView::from(&record);
    let kind = if before.deadline != record.deadline {
        "deadline.changed"
    } else {
        "document.updated"
    };
    state.auth.record(
        principal.actor(&address),
        "document.updated",
        Some(format!("document:{id}")),
        json!({ "deadline": view.deadline, "comment_phases": view.comment_phases, "secretariat_votes": view.secretariat_votes }),
    );
    publish(&state, &id, kind, &view);
    state.flush().await?;
    Ok(Json(view))
}

/// Publishes an event for `document`, logging a failure (the change itself is done).
pub fn publish(state: &AppState, document: &str, kind: &str, data: &impl Serialize) {
    let data = serde_json::to_value(data).unwrap_or(serde_json::Value::Null);
    if let Err(e) = state.documents.events.publish(document, kind, data) {
        tracing::error!(%document, kind, error = %e, "could not record an event");
    }
}

/// A member as the other members see them in events (no email).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberEvent {
    pub id: u64,
    pub name: String,
    pub organisation: Option<String>,
    pub country: Option<String>,
    pub role: crate::auth::Role,
    pub active: bool,
}

/// Tells every document that is not archived that a member joined or changed.
pub fn publish_member(state: &AppState, kind: &str, user: &crate::auth::User) {
    let member = MemberEvent {
        id: user.id,
        name: user.name.clone(),
        organisation: user.organisation.clone(),
        country: user.country.clone(),
        role: user.role,
        active: user.active,
    };
    match state.documents.list() {
        Ok(records) => {
            for record in records.iter().filter(|r| r.phase != Phase::Archived) {
                publish(state, &record.id, kind, &member);
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list documents for a member event"),
    }
}

/// A phase change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PhaseChange {
    /// The phase to move to.
    pub phase: Phase,
    /// Why; required to go back to an earlier phase.
    pub reason: Option<String>,
    /// When the new phase's actions close (RFC 3339, in the future).
    pub deadline: Option<String>,
}

/// Move a document to another phase (forward, back with a reason, to the archive, or back
/// from it). Records who and when, takes a named version, and turns every live connection
/// read-only (or writable again) at once.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/phase",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body = PhaseChange,
    responses(
        (status = 200, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "phase_unchanged, reason_required, document_adopted, restore_only"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn change_phase(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<PhaseChange>,
) -> Result<Json<DocumentView>, ApiError> {
    let reason = optional_text("reason", change.reason, 1000)?;
    let deadline = change.deadline.as_deref().map(parse_deadline).transpose()?;
    let record = state
        .documents
        .transition(
            &id,
            change.phase,
            reason.clone(),
            deadline,
            principal.user.id,
        )
        .await?;
    let view = DocumentView::from(&record);
    state.auth.record(
        principal.actor(&address),
        "document.phase_changed",
        Some(format!("document:{id}")),
        json!({ "to": change.phase, "reason": reason, "deadline": view.deadline }),
    );
    publish(&state, &id, "phase.changed", &view);
    state.flush().await?;
    Ok(Json(view))
}

/// Query of the text.
#[derive(Deserialize, IntoParams)]
pub struct TextQuery {
    /// A named version's number; the current text when absent.
    pub version: Option<u64>,
}

/// The structured text of a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct TextView {
    pub document: String,
    /// The named version read, or `null` for the current text.
    pub version: Option<u64>,
    /// State vector (v1, base64) of the live document the text was read from.
    pub state_vector: String,
    pub metadata: Metadata,
    /// Sections in order, with ids, derived numbers and rich text.
    pub sections: Vec<Section>,
}

/// The structured text: sections, paragraphs with stable ids, derived numbers and rich
/// text, now or at a named version.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/text",
    tag = "documents",
    params(("id" = String, Path, description = "Document id"), TextQuery),
    responses(
        (status = 200, body = TextView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, version_not_found"),
    )
)]
pub async fn get_text(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TextQuery>,
) -> Result<Json<TextView>, ApiError> {
    let record = state.documents.get(&id)?;
    let (sections, state_vector) = match query.version {
        Some(number) => {
            let version = state.documents.version(&id, number)?;
            (version.sections, version.state_vector)
        }
        None => state.documents.current_sections(&id).await?,
    };
    Ok(Json(TextView {
        document: id,
        version: query.version,
        state_vector,
        metadata: record.metadata,
        sections,
    }))
}

/// Named versions, oldest first.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/versions",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, body = Vec<VersionSummary>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_versions(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<VersionSummary>>, ApiError> {
    state.documents.get(&id)?;
    let versions = state.documents.versions(&id)?;
    Ok(Json(versions.iter().map(VersionSummary::from).collect()))
}

/// A version to take.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewVersion {
    /// Its name, e.g. "Text sent to the plenary".
    pub name: String,
}

/// Take a named version of the current text.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/versions",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body = NewVersion,
    responses(
        (status = 201, body = VersionSummary),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_version(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<VersionSummary>), ApiError> {
    let name = optional_text("name", Some(new.name), 200)?
        .ok_or_else(|| ApiError::InvalidField("name is required".into()))?;
    let version = state
        .documents
        .take_version(
            &id,
            &name,
            VersionKind::Manual,
            Some(principal.user.id),
            None,
        )
        .await?;
    let summary = VersionSummary::from(&version);
    state.auth.record(
        principal.actor(&address),
        "version.created",
        Some(format!("document:{id}")),
        json!({ "number": version.number, "name": name }),
    );
    publish(&state, &id, "version.created", &summary);
    state.flush().await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

/// Query of a diff.
#[derive(Deserialize, IntoParams)]
pub struct DiffQuery {
    /// The older version's number.
    pub from: u64,
    /// The newer version's number; the current text when absent.
    pub to: Option<u64>,
}

/// Sections of version `number`, or of the current text.
async fn sections_at(
    state: &AppState,
    id: &str,
    number: Option<u64>,
) -> Result<Vec<Section>, ApiError> {
    Ok(match number {
        Some(number) => state.documents.version(id, number)?.sections,
        None => state.documents.current_sections(id).await?.0,
    })
}

/// Word-level differences between two versions (or a version and the current text):
/// paragraphs and sections matched by id, each added, removed, changed, moved, or moved and
/// changed, with the word diff of its text.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/diff",
    tag = "documents",
    params(("id" = String, Path, description = "Document id"), DiffQuery),
    responses(
        (status = 200, body = crate::text::ManuscriptDiff),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, version_not_found"),
    )
)]
pub async fn diff_versions(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DiffQuery>,
) -> Result<Json<crate::text::ManuscriptDiff>, ApiError> {
    let record = state.documents.get(&id)?;
    let old = sections_at(&state, &id, Some(query.from)).await?;
    let new = sections_at(&state, &id, query.to).await?;
    let manuscript = |sections| crate::text::Manuscript {
        metadata: record.metadata.clone(),
        sections,
    };
    Ok(Json(crate::text::diff_manuscripts(
        &manuscript(old),
        &manuscript(new),
    )))
}

/// How a block changed in one step of its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryChange {
    /// It appears for the first time.
    Added,
    /// Its text changed.
    Changed,
    /// It is gone.
    Removed,
    /// It came back (an undo, a restored version).
    Restored,
}

/// One step in the history of a paragraph or heading.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The named version where the change is first seen; `null` for the current text when it
    /// differs from the last version.
    pub version: Option<u64>,
    /// The version's name ("Drafting → Amendments", "Editorial correction"…).
    pub name: String,
    /// Why the version was taken.
    pub kind: Option<VersionKind>,
    /// RFC 3339.
    pub at: String,
    /// Reason or details recorded with the version.
    pub note: Option<String>,
    pub change: HistoryChange,
    /// The derived number then.
    pub number: Option<String>,
    /// The text then (`null` once removed).
    pub text: Option<crate::text::RichText>,
    /// Word diff from the text before.
    pub diff: Vec<crate::text::DiffOp>,
}

/// A block's text and number in `sections`.
fn find_block(
    sections: &[Section],
    block: &str,
) -> Option<(Option<String>, crate::text::RichText)> {
    for section in sections {
        if section.id == block {
            return Some((
                section.number.map(|n| n.to_string()),
                section.heading.clone(),
            ));
        }
        for paragraph in &section.paragraphs {
            if paragraph.id == block {
                return Some((paragraph.number.clone(), paragraph.text.clone()));
            }
        }
    }
    None
}

/// The history of one paragraph (or section heading): every named version in which it
/// appeared, changed or disappeared, with the word diff, then the current text if it differs.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/blocks/{block}/history",
    tag = "documents",
    params(
        ("id" = String, Path, description = "Document id"),
        ("block" = String, Path, description = "Paragraph or section id"),
    ),
    responses(
        (status = 200, body = Vec<HistoryEntry>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, block_not_found"),
    )
)]
pub async fn block_history(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath((id, block)): ApiPath<(String, String)>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    state.documents.get(&id)?;
    let versions = state.documents.versions(&id)?;
    let (current, _) = state.documents.current_sections(&id).await?;
    let mut entries = Vec::new();
    let mut previous: Option<crate::text::RichText> = None;
    let mut ever_seen = false;
    let steps = versions
        .iter()
        .map(|v| {
            (
                Some(v.number),
                v.name.clone(),
                Some(v.kind),
                v.created_at,
                v.note.clone(),
                &v.sections,
            )
        })
        .chain(std::iter::once((
            None,
            "Current text".to_owned(),
            None,
            now(),
            None,
            &current,
        )));
    for (version, name, kind, at, note, sections) in steps {
        let found = find_block(sections, &block);
        let change = match (&previous, &found) {
            (None, Some(_)) if ever_seen => Some(HistoryChange::Restored),
            (None, Some(_)) => Some(HistoryChange::Added),
            (Some(before), Some((_, text))) if before != text => Some(HistoryChange::Changed),
            (Some(_), None) => Some(HistoryChange::Removed),
            _ => None,
        };
        if let Some(change) = change {
            let before = previous
                .as_ref()
                .map(|t| t.plain_text())
                .unwrap_or_default();
            let after = found
                .as_ref()
                .map(|(_, t)| t.plain_text())
                .unwrap_or_default();
            entries.push(HistoryEntry {
                version,
                name,
                kind,
                at: timestamp(at),
                note,
                change,
                number: found.as_ref().and_then(|(n, _)| n.clone()),
                text: found.as_ref().map(|(_, t)| t.clone()),
                diff: if change == HistoryChange::Added {
                    Vec::new()
                } else {
                    crate::text::diff_words(&before, &after)
                },
            });
        }
        ever_seen |= found.is_some();
        previous = found.map(|(_, t)| t);
    }
    if !ever_seen {
        return Err(ApiError::BlockNotFound(block));
    }
    Ok(Json(entries))
}

/// An editorial correction of one paragraph or heading.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Correction {
    /// The paragraph or section id.
    pub block: String,
    /// Its corrected text.
    pub text: crate::text::RichText,
    /// Why (recorded with the version and in the history).
    pub reason: String,
}

/// Longest corrected text, in characters.
const MAX_CORRECTION_CHARS: usize = 10_000;

/// The result of a correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionResult {
    pub block: String,
    /// The named version taken after it.
    pub version: VersionSummary,
}

/// An editorial correction by the secretariat once the text is frozen (typos, references):
/// applied to the live text as a minimal word-level edit that every connected client sees,
/// recorded with its reason in a named version and the block's history.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/corrections",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body = Correction,
    responses(
        (status = 201, body = CorrectionResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, block_not_found"),
        (status = 409, body = ErrorBody, description = "phase_closed (adopted or archived)"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn correct_text(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(correction): ApiJson<Correction>,
) -> Result<(StatusCode, Json<CorrectionResult>), ApiError> {
    let record = state.documents.get(&id)?;
    if matches!(
        record.phase,
        Phase::FinalVote | Phase::Adopted | Phase::Archived
    ) {
        return Err(ApiError::PhaseClosed(format!(
            "the text of a document in the {} phase does not change",
            record.phase.as_str()
        )));
    }
    let reason = optional_text("reason", Some(correction.reason), 1000)?
        .ok_or_else(|| ApiError::InvalidField("reason is required".into()))?;
    // The same text always gives the same spans: neighbours with the same marks merged,
    // empty spans dropped.
    let mut text = crate::text::RichText::new();
    for span in correction.text.spans() {
        if span.text.chars().any(|c| c.is_control()) {
            return Err(ApiError::InvalidField(
                "text has no control characters (one block is one paragraph)".into(),
            ));
        }
        text.push(&span.text, span.em, span.strong);
    }
    if text.plain_text().chars().count() > MAX_CORRECTION_CHARS {
        return Err(ApiError::InvalidField(format!(
            "text has at most {MAX_CORRECTION_CHARS} characters"
        )));
    }
    let block = correction.block.clone();
    let outcome = state
        .documents
        .edit(&id, move |txn, fragment| {
            crate::text::set_paragraph_text(txn, fragment, &block, &text)
        })
        .await?;
    match outcome {
        Err(crate::text::EditError::BlockNotFound(block)) => {
            return Err(ApiError::BlockNotFound(block))
        }
        Ok(outcome) if !outcome.changed => {
            return Err(ApiError::InvalidField(
                "the corrected text is the same as the current one".into(),
            ))
        }
        Ok(_) => {}
    }
    let version = state
        .documents
        .take_version(
            &id,
            "Editorial correction",
            VersionKind::Correction,
            Some(principal.user.id),
            Some(reason.clone()),
        )
        .await?;
    let result = CorrectionResult {
        block: correction.block.clone(),
        version: VersionSummary::from(&version),
    };
    state.auth.record(
        principal.actor(&address),
        "text.corrected",
        Some(format!("document:{id}")),
        json!({ "block": correction.block, "reason": reason, "version": version.number }),
    );
    publish(&state, &id, "text.corrected", &result);
    state.flush().await?;
    Ok((StatusCode::CREATED, Json(result)))
}
