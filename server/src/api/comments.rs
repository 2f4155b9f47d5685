//! Comments on a document: threads anchored on a section or on a range of a paragraph's
//! text, replies, edits, resolution, deletion by the author and hiding by the secretariat.
//!
//! Who may do what: every member (observers included) reads; delegates and the secretariat
//! write while the document's phase is one of its `comment_phases` and its deadline has not
//! passed (`comments_closed` otherwise). Authors edit and delete their own comments; a thread
//! is resolved or reopened by its author or the secretariat; the secretariat hides any comment
//! with a reason, in any phase. Each change is audited, published on the document's events
//! (`comment.created`, `comment.updated`, `comment.resolved`, `comment.reopened`,
//! `comment.deleted`, `comment.hidden`, with the comment as a delegate sees it) and made
//! durable before the answer.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::documents::publish;
use super::{optional_text, timestamp};
use crate::auth::{Principal, Role};
use crate::documents::comments::{
    anchor_at, check_body, resolve_anchors, Anchor, AnchorError, AnchorRequest, CommentError,
    CommentRecord, CommentStatus, ResolvedAnchor, MAX_REASON_CHARS,
};
use crate::documents::{now, DocumentRecord};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, AppState, ClientAddress, ErrorBody, Secretariat,
};

impl From<CommentError> for ApiError {
    fn from(e: CommentError) -> ApiError {
        match e {
            CommentError::NotFound => ApiError::CommentNotFound,
            CommentError::NotAllowed(message) => ApiError::NotAllowed(message.into()),
            CommentError::Deleted => ApiError::CommentDeleted,
            CommentError::Hidden => ApiError::CommentHidden,
            CommentError::Invalid(message) => ApiError::InvalidField(message),
            CommentError::Database(_) => ApiError::internal(e),
        }
    }
}

impl From<AnchorError> for ApiError {
    fn from(e: AnchorError) -> ApiError {
        match e {
            AnchorError::BlockNotFound(id) => ApiError::BlockNotFound(id),
            AnchorError::Invalid(message) => ApiError::InvalidAnchor(message),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// Who wrote a comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentAuthor {
    pub id: u64,
    /// Their name when they wrote it.
    pub name: String,
}

/// An earlier version of a comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub body: String,
    /// When that version was written (RFC 3339).
    pub at: String,
}

/// What a thread is anchored on.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnchorKind {
    Section,
    Range,
}

/// A thread's anchor. `start`, `end`, `text_now` and `orphaned` are its resolution against
/// the live text, given in the list and when a thread is created (not in events, nor in the
/// answers to other changes).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnchorView {
    pub kind: AnchorKind,
    /// The section commented on; for a range, the section its paragraph is in now.
    pub section_id: Option<String>,
    /// For a range: the paragraph it is in now (or was made in, once orphaned).
    pub paragraph_id: Option<String>,
    /// For a range: its text when the comment was made; shown once the range is orphaned.
    pub quote: Option<String>,
    /// For a range: its start as a Yjs relative position (base64 of
    /// `Y.encodeRelativePosition`), to follow it live in the editor.
    pub start_position: Option<String>,
    /// For a range: its end as a Yjs relative position.
    pub end_position: Option<String>,
    /// UTF-16 offset of the range's start in the paragraph's text now.
    pub start: Option<u32>,
    /// UTF-16 offset of the range's end in the paragraph's text now.
    pub end: Option<u32>,
    /// The range's text now.
    pub text_now: Option<String>,
    /// The section, or every character of the range, is gone.
    pub orphaned: bool,
}

impl AnchorView {
    fn of(anchor: &Anchor, resolved: Option<&ResolvedAnchor>) -> AnchorView {
        let resolved = resolved.cloned().unwrap_or_default();
        match anchor {
            Anchor::Section { section_id } => AnchorView {
                kind: AnchorKind::Section,
                section_id: Some(section_id.clone()),
                paragraph_id: None,
                quote: None,
                start_position: None,
                end_position: None,
                start: None,
                end: None,
                text_now: None,
                orphaned: resolved.orphaned,
            },
            Anchor::Range {
                paragraph_id,
                start,
                end,
                quote,
            } => AnchorView {
                kind: AnchorKind::Range,
                section_id: resolved.section_id,
                paragraph_id: resolved.paragraph_id.or_else(|| Some(paragraph_id.clone())),
                quote: Some(quote.clone()),
                start_position: Some(start.clone()),
                end_position: Some(end.clone()),
                start: resolved.start,
                end: resolved.end,
                text_now: resolved.text_now,
                orphaned: resolved.orphaned,
            },
        }
    }
}

/// A comment as one member sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub id: u64,
    pub document: String,
    /// The thread's root (the comment's own id for a root).
    pub thread: u64,
    /// For a reply: the thread's root.
    pub parent: Option<u64>,
    pub author: CommentAuthor,
    /// Plain text; `null` once deleted, and once hidden except for the secretariat and the
    /// author.
    pub body: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Whether the body was edited.
    pub edited: bool,
    /// When it was last edited (RFC 3339).
    pub edited_at: Option<String>,
    /// Earlier versions, oldest first (empty when the body is not shown).
    pub revisions: Vec<RevisionView>,
    /// For a root: whether the thread is open or resolved.
    #[schema(inline)]
    pub status: Option<CommentStatus>,
    /// Who last resolved or reopened the thread.
    pub status_changed_by: Option<u64>,
    /// When (RFC 3339).
    pub status_changed_at: Option<String>,
    /// Deleted by its author.
    pub deleted: bool,
    /// RFC 3339.
    pub deleted_at: Option<String>,
    /// Hidden by the secretariat.
    pub hidden: bool,
    /// Why it was hidden.
    pub hidden_reason: Option<String>,
    pub hidden_by: Option<u64>,
    /// RFC 3339.
    pub hidden_at: Option<String>,
    /// For a root: what it is anchored on.
    pub anchor: Option<AnchorView>,
}

/// Whose view: what a comment shows depends on who reads it.
#[derive(Clone, Copy)]
struct Viewer {
    user: Option<u64>,
    secretariat: bool,
}

impl Viewer {
    /// What every member may see (events go to everyone).
    const PUBLIC: Viewer = Viewer {
        user: None,
        secretariat: false,
    };

    fn of(principal: &Principal) -> Viewer {
        Viewer {
            user: Some(principal.user.id),
            secretariat: principal.user.role == Role::Secretariat,
        }
    }
}

impl CommentView {
    fn of(
        record: &CommentRecord,
        viewer: Viewer,
        resolved: Option<&ResolvedAnchor>,
    ) -> CommentView {
        let shown = record.deleted_at.is_none()
            && (record.hidden.is_none()
                || viewer.secretariat
                || viewer.user == Some(record.author));
        CommentView {
            id: record.id,
            document: record.document.clone(),
            thread: record.thread(),
            parent: record.parent,
            author: CommentAuthor {
                id: record.author,
                name: record.author_name.clone(),
            },
            body: shown.then(|| record.body.clone()),
            created_at: timestamp(record.created_at),
            edited: record.edited_at.is_some(),
            edited_at: record.edited_at.map(timestamp),
            revisions: if shown {
                (record.revisions.iter())
                    .map(|r| RevisionView {
                        body: r.body.clone(),
                        at: timestamp(r.at),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            status: record.parent.is_none().then_some(record.status),
            status_changed_by: record.status_changed.as_ref().map(|s| s.by),
            status_changed_at: record.status_changed.as_ref().map(|s| timestamp(s.at)),
            deleted: record.deleted_at.is_some(),
            deleted_at: record.deleted_at.map(timestamp),
            hidden: record.hidden.is_some(),
            hidden_reason: record.hidden.as_ref().map(|h| h.reason.clone()),
            hidden_by: record.hidden.as_ref().map(|h| h.by),
            hidden_at: record.hidden.as_ref().map(|h| timestamp(h.at)),
            anchor: record.anchor.as_ref().map(|a| AnchorView::of(a, resolved)),
        }
    }
}

/// A thread: its first comment and the replies, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadView {
    pub root: CommentView,
    pub replies: Vec<CommentView>,
}

/// A document's comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentsView {
    pub document: String,
    /// Whether members may comment now (phase and deadline).
    pub comments_open: bool,
    /// Threads (filtered as asked), oldest first, anchors resolved against the live text.
    pub threads: Vec<ThreadView>,
    /// Open threads per section id (whatever the filters), for the outline: threads on the
    /// section and on ranges of its paragraphs; deleted, hidden and orphaned ones not counted.
    pub open_threads_by_section: BTreeMap<String, u32>,
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Query of the comment list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CommentsQuery {
    /// Only threads with this status.
    #[param(inline)]
    pub status: Option<CommentStatus>,
    /// Only threads on this section or on its paragraphs (as the text is now).
    pub section: Option<String>,
}

/// A document's comment threads, each with its anchor resolved against the live text now
/// (offsets and text of the range, or `orphaned` when it is gone), and the number of open
/// threads per section.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/comments",
    tag = "comments",
    params(("id" = String, Path, description = "Document id"), CommentsQuery),
    responses(
        (status = 200, body = CommentsView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_comments(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<CommentsQuery>,
) -> Result<Json<CommentsView>, ApiError> {
    let record = state.documents.get(&id)?;
    let all = state.documents.comments.list(&id)?;
    let anchored: Vec<(u64, Anchor)> = (all.iter())
        .filter(|c| c.parent.is_none())
        .filter_map(|c| Some((c.id, c.anchor.clone()?)))
        .collect();
    let mut resolved: HashMap<u64, ResolvedAnchor> = HashMap::new();
    if !anchored.is_empty() {
        let (ids, anchors): (Vec<u64>, Vec<Anchor>) = anchored.into_iter().unzip();
        // One room job resolves every anchor against the same state of the text.
        let results = state
            .documents
            .edit(&id, move |txn, fragment| {
                resolve_anchors(txn, fragment, &anchors)
            })
            .await?;
        resolved.extend(ids.into_iter().zip(results));
    }
    let viewer = Viewer::of(&principal);
    let mut replies: HashMap<u64, Vec<&CommentRecord>> = HashMap::new();
    for reply in all.iter().filter(|c| c.parent.is_some()) {
        replies.entry(reply.thread()).or_default().push(reply);
    }
    let mut open_threads_by_section = BTreeMap::new();
    let mut threads = Vec::new();
    for root in all.iter().filter(|c| c.parent.is_none()) {
        let anchor = resolved.get(&root.id);
        let section = anchor.and_then(|a| a.section_id.as_deref());
        if root.status == CommentStatus::Open
            && root.deleted_at.is_none()
            && root.hidden.is_none()
            && anchor.is_some_and(|a| !a.orphaned)
        {
            if let Some(section) = section {
                *open_threads_by_section
                    .entry(section.to_owned())
                    .or_insert(0) += 1;
            }
        }
        if query.status.is_some_and(|status| status != root.status)
            || query
                .section
                .as_deref()
                .is_some_and(|wanted| section != Some(wanted))
        {
            continue;
        }
        threads.push(ThreadView {
            root: CommentView::of(root, viewer, anchor),
            replies: (replies.get(&root.id).into_iter().flatten())
                .map(|reply| CommentView::of(reply, viewer, None))
                .collect(),
        });
    }
    Ok(Json(CommentsView {
        document: id,
        comments_open: record.comments_open(now()),
        threads,
        open_threads_by_section,
    }))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Refuses observers (`forbidden`), then a document that is missing or closed to comments.
fn open_for_comments(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<DocumentRecord, ApiError> {
    if !principal.user.role.can_edit() {
        return Err(ApiError::Forbidden);
    }
    let record = state.documents.get(id)?;
    if !record.comments_open(now()) {
        return Err(ApiError::CommentsClosed);
    }
    Ok(record)
}

/// Where a new thread goes: a section, or a range of a paragraph's text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorInput {
    /// Comment on a whole section: its heading's id (or `s-preamble`, the untitled preamble).
    pub section: Option<String>,
    /// Comment on a range of this paragraph's text, given by `start` and `end`, or by
    /// `start_position` and `end_position`.
    pub paragraph: Option<String>,
    /// UTF-16 offset of the range's first character in the paragraph's text.
    pub start: Option<u32>,
    /// UTF-16 offset just after its last character (`start < end`).
    pub end: Option<u32>,
    /// The range's start as a Yjs relative position made by the client (base64 of
    /// `Y.encodeRelativePosition`), instead of `start`.
    pub start_position: Option<String>,
    /// The range's end as a Yjs relative position, instead of `end`.
    pub end_position: Option<String>,
}

impl AnchorInput {
    fn request(self) -> Result<AnchorRequest, ApiError> {
        let invalid = |message: &str| Err(ApiError::InvalidAnchor(message.to_owned()));
        match self {
            AnchorInput {
                section: Some(section),
                paragraph: None,
                start: None,
                end: None,
                start_position: None,
                end_position: None,
            } => Ok(AnchorRequest::Section(section)),
            AnchorInput {
                section: None,
                paragraph: Some(paragraph),
                start: Some(start),
                end: Some(end),
                start_position: None,
                end_position: None,
            } => Ok(AnchorRequest::Offsets {
                paragraph,
                start,
                end,
            }),
            AnchorInput {
                section: None,
                paragraph: Some(paragraph),
                start: None,
                end: None,
                start_position: Some(start),
                end_position: Some(end),
            } => Ok(AnchorRequest::Positions {
                paragraph,
                start,
                end,
            }),
            AnchorInput {
                section: Some(_),
                paragraph: Some(_),
                ..
            } => invalid("an anchor is a section or a paragraph's range, not both"),
            AnchorInput {
                section: Some(_), ..
            } => invalid("a section anchor takes no offsets or positions"),
            AnchorInput {
                paragraph: Some(_), ..
            } => invalid(
                "a paragraph anchor takes start and end (UTF-16 offsets), or start_position and \
                 end_position (Yjs relative positions)",
            ),
            _ => invalid("an anchor needs section, or paragraph with start and end"),
        }
    }
}

/// A new comment: a thread (`anchor`) or a reply (`parent`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Plain text, 1 to 4,000 characters; newlines and tabs are the only control characters.
    pub body: String,
    /// For a new thread: where it is anchored.
    pub anchor: Option<AnchorInput>,
    /// For a reply: the comment answered (a reply to a reply joins the same thread).
    pub parent: Option<u64>,
}

/// Comment: open a thread on a section or on a range of a paragraph's text, or reply in a
/// thread. The server places a range's anchor itself (sticky indexes in the paragraph's
/// text), so it follows later edits.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/comments",
    tag = "comments",
    params(("id" = String, Path, description = "Document id")),
    request_body = NewComment,
    responses(
        (status = 201, body = CommentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers)"),
        (status = 404, body = ErrorBody, description = "document_not_found, block_not_found, comment_not_found (parent)"),
        (status = 409, body = ErrorBody, description = "comments_closed"),
        (status = 422, body = ErrorBody, description = "invalid_field, invalid_anchor"),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After"),
    )
)]
pub async fn create_comment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    open_for_comments(&state, &principal, &id)?;
    let body = check_body(&new.body)?;
    let anchor = match (new.anchor, new.parent) {
        (Some(anchor), None) => Some(anchor.request()?),
        (None, Some(_)) => None,
        _ => {
            return Err(ApiError::InvalidField(
                "a comment has an anchor (a new thread) or a parent (a reply), not both".into(),
            ))
        }
    };
    state.documents.comments.check_rate(principal.user.id)?;
    let author = (principal.user.id, principal.user.name.as_str());
    let comments = &state.documents.comments;
    let (record, resolved) = match (anchor, new.parent) {
        (Some(request), _) => {
            let (anchor, resolved) = state
                .documents
                .edit(&id, move |txn, fragment| anchor_at(txn, fragment, &request))
                .await??;
            let record = comments.create_thread(&id, anchor, author, body, now())?;
            (record, Some(resolved))
        }
        (None, Some(parent)) => (
            comments.create_reply(&id, parent, author, body, now())?,
            None,
        ),
        (None, None) => return Err(ApiError::Internal),
    };
    state.auth.record(
        principal.actor(&address),
        "comment.created",
        Some(format!("document:{id}")),
        json!({
            "comment": record.id,
            "parent": record.parent,
            "anchor": record.anchor.as_ref().map(|a| match a {
                Anchor::Section { section_id } => json!({ "section": section_id }),
                Anchor::Range { paragraph_id, .. } => json!({ "paragraph": paragraph_id }),
            }),
            "chars": record.body.chars().count(),
        }),
    );
    publish(
        &state,
        &id,
        "comment.created",
        &CommentView::of(&record, Viewer::PUBLIC, resolved.as_ref()),
    );
    state.flush().await?;
    Ok((
        StatusCode::CREATED,
        Json(CommentView::of(
            &record,
            Viewer::of(&principal),
            resolved.as_ref(),
        )),
    ))
}

/// A new body for one's comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentEdit {
    /// Plain text, 1 to 4,000 characters.
    pub body: String,
}

/// Audits a change, publishes it and makes it durable, if it changed anything.
async fn record_change(
    state: &AppState,
    principal: &Principal,
    address: &str,
    (record, changed): (CommentRecord, bool),
    action: &str,
    details: serde_json::Value,
) -> Result<Json<CommentView>, ApiError> {
    if changed {
        state.auth.record(
            principal.actor(address),
            action,
            Some(format!("document:{}", record.document)),
            details,
        );
        let kind = match action {
            "comment.edited" => "comment.updated",
            other => other,
        };
        publish(
            state,
            &record.document,
            kind,
            &CommentView::of(&record, Viewer::PUBLIC, None),
        );
        state.flush().await?;
    }
    Ok(Json(CommentView::of(&record, Viewer::of(principal), None)))
}

/// Edit one's own comment. The previous body is kept among its revisions, and the comment
/// shows as edited. The same body again changes nothing.
#[utoipa::path(
    patch,
    path = "/api/documents/{id}/comments/{comment}",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Document id"),
        ("comment" = u64, Path, description = "Comment id"),
    ),
    request_body = CommentEdit,
    responses(
        (status = 200, body = CommentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers, someone else's comment)"),
        (status = 404, body = ErrorBody, description = "document_not_found, comment_not_found"),
        (status = 409, body = ErrorBody, description = "comments_closed, comment_deleted, comment_hidden"),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After"),
    )
)]
pub async fn edit_comment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, comment)): ApiPath<(String, u64)>,
    ApiJson(edit): ApiJson<CommentEdit>,
) -> Result<Json<CommentView>, ApiError> {
    open_for_comments(&state, &principal, &id)?;
    let body = check_body(&edit.body)?;
    state.documents.comments.check_rate(principal.user.id)?;
    let outcome = (state.documents.comments).edit(&id, comment, principal.user.id, body, now())?;
    let revisions = outcome.0.revisions.len();
    let details = json!({ "comment": comment, "revisions": revisions });
    record_change(
        &state,
        &principal,
        &address,
        outcome,
        "comment.edited",
        details,
    )
    .await
}

/// Resolve a thread (given its first comment or any reply): its author or the secretariat.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/comments/{comment}/resolve",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Document id"),
        ("comment" = u64, Path, description = "Comment id"),
    ),
    responses(
        (status = 200, body = CommentView, description = "The thread's first comment"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers, others' threads)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "comments_closed"),
    )
)]
pub async fn resolve_comment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, comment)): ApiPath<(String, u64)>,
) -> Result<Json<CommentView>, ApiError> {
    set_status(
        state,
        principal,
        address,
        id,
        comment,
        CommentStatus::Resolved,
    )
    .await
}

/// Reopen a resolved thread: its author or the secretariat.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/comments/{comment}/reopen",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Document id"),
        ("comment" = u64, Path, description = "Comment id"),
    ),
    responses(
        (status = 200, body = CommentView, description = "The thread's first comment"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers, others' threads)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "comments_closed"),
    )
)]
pub async fn reopen_comment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, comment)): ApiPath<(String, u64)>,
) -> Result<Json<CommentView>, ApiError> {
    set_status(state, principal, address, id, comment, CommentStatus::Open).await
}

async fn set_status(
    state: AppState,
    principal: Principal,
    address: String,
    id: String,
    comment: u64,
    status: CommentStatus,
) -> Result<Json<CommentView>, ApiError> {
    open_for_comments(&state, &principal, &id)?;
    let secretariat = principal.user.role == Role::Secretariat;
    let outcome = (state.documents.comments).set_status(
        &id,
        comment,
        status,
        principal.user.id,
        secretariat,
        now(),
    )?;
    let action = match status {
        CommentStatus::Resolved => "comment.resolved",
        CommentStatus::Open => "comment.reopened",
    };
    let details = json!({ "comment": outcome.0.id });
    record_change(&state, &principal, &address, outcome, action, details).await
}

/// Delete one's own comment. The deletion is soft: the comment stays in its thread as
/// "deleted", without its body, and its replies stay.
#[utoipa::path(
    delete,
    path = "/api/documents/{id}/comments/{comment}",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Document id"),
        ("comment" = u64, Path, description = "Comment id"),
    ),
    responses(
        (status = 200, body = CommentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers, someone else's comment)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "comments_closed"),
    )
)]
pub async fn delete_comment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, comment)): ApiPath<(String, u64)>,
) -> Result<Json<CommentView>, ApiError> {
    open_for_comments(&state, &principal, &id)?;
    let outcome = (state.documents.comments).delete(&id, comment, principal.user.id, now())?;
    let details = json!({ "comment": comment });
    record_change(
        &state,
        &principal,
        &address,
        outcome,
        "comment.deleted",
        details,
    )
    .await
}

/// Why a comment is hidden.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentHiding {
    /// Shown to every member in place of the body; 1 to 500 characters.
    pub reason: String,
}

/// Hide a comment (secretariat), in any phase: its body is then shown only to the
/// secretariat and its author; every member sees that it was hidden, and why. Hiding again
/// changes the reason.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/comments/{comment}/hide",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Document id"),
        ("comment" = u64, Path, description = "Comment id"),
    ),
    request_body = CommentHiding,
    responses(
        (status = 200, body = CommentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn hide_comment(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath((id, comment)): ApiPath<(String, u64)>,
    ApiJson(hiding): ApiJson<CommentHiding>,
) -> Result<Json<CommentView>, ApiError> {
    state.documents.get(&id)?;
    let reason = optional_text("reason", Some(hiding.reason), MAX_REASON_CHARS)?
        .ok_or_else(|| ApiError::InvalidField("reason is required".into()))?;
    let outcome =
        (state.documents.comments).hide(&id, comment, principal.user.id, reason.clone(), now())?;
    let details = json!({ "comment": comment, "reason": reason });
    record_change(
        &state,
        &principal,
        &address,
        outcome,
        "comment.hidden",
        details,
    )
    .await
}
