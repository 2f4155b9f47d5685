//! Amendments over the API: table, revise, support, withdraw, screen (inadmissible, accepted
//! as a friendly change and applied at once, or put to a vote), the voting order of competing
//! amendments, and applying an adopted one to the live text.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::documents::publish;
use super::optional_text;
use crate::auth::{Principal, Role};
use crate::documents::amendments::{
    self, AmendmentError, AmendmentKind, AmendmentRecord, AmendmentStatus, StatusChange,
    MAX_RATIONALE_CHARS, MAX_SECTION_PARAGRAPHS, MAX_TEXT_CHARS,
};
use crate::documents::{now, Phase, VersionKind};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, AppState, ClientAddress, ErrorBody, Secretariat,
};
use crate::text::{
    change_share, diff_words, insert_paragraph_after, insert_section_after, merge_three_way_rich,
    read_sections, remove_paragraph, remove_section, set_paragraph_text, DiffOp, RichText, Section,
};

impl From<AmendmentError> for ApiError {
    fn from(e: AmendmentError) -> ApiError {
        match e {
            AmendmentError::NotFound => ApiError::AmendmentNotFound,
            AmendmentError::NotAllowed(message) => ApiError::NotAllowed(message),
            AmendmentError::WrongStatus(message) => ApiError::AmendmentStatus(message),
            AmendmentError::Database(_) => ApiError::internal(e),
        }
    }
}

/// Where a block is in the current text.
struct Located {
    section_id: String,
    number: Option<String>,
    text: RichText,
}

/// Every heading and paragraph of `sections` by id.
fn locate(sections: &[Section]) -> HashMap<String, Located> {
    let mut all = HashMap::new();
    for section in sections {
        all.insert(
            section.id.clone(),
            Located {
                section_id: section.id.clone(),
                number: section.number.map(|n| n.to_string()),
                text: section.heading.clone(),
            },
        );
        for paragraph in &section.paragraphs {
            all.insert(
                paragraph.id.clone(),
                Located {
                    section_id: section.id.clone(),
                    number: paragraph.number.clone(),
                    text: paragraph.text.clone(),
                },
            );
        }
    }
    all
}

/// A person as listed on an amendment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub id: u64,
    pub name: String,
}

/// An amendment as members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentView {
    /// Number within the document.
    pub id: u64,
    /// "A3".
    pub label: String,
    pub kind: AmendmentKind,
    /// The paragraph (or section) id it targets.
    pub target: String,
    /// The target's number now ("3.2"; a section's "3"); `null` if unnumbered or gone.
    pub target_number: Option<String>,
    /// The section the target is in now; `null` if it is gone.
    pub section_id: Option<String>,
    /// Whether the target still exists.
    pub target_exists: bool,
    pub text: Option<RichText>,
    pub paragraphs: Vec<RichText>,
    pub rationale: String,
    pub author: PersonView,
    pub supporters: Vec<PersonView>,
    pub status: AmendmentStatus,
    pub history: Vec<StatusChangeView>,
    /// The named version it was written against.
    pub written_against: u64,
    /// The target's text when it was written.
    pub base_text: Option<RichText>,
    /// The target's text now.
    pub current_text: Option<RichText>,
    /// The target changed since the amendment was written.
    pub outdated: bool,
    /// Word diff from the target as it is now to the proposed text (for a deletion: all
    /// deleted; for an insertion: all inserted).
    pub diff: Vec<DiffOp>,
    /// Share of words changed (0–1), the measure of "furthest from the original".
    pub distance: f64,
    /// Pending amendments competing for the same target (only one can be adopted).
    pub competing: Vec<u64>,
    /// Its place in the proposed voting order among them (1 = first).
    pub vote_rank: Option<usize>,
    /// Whether its text may still change (no supporter, not screened).
    pub editable: bool,
    pub revises: Option<u64>,
    pub revised_by: Option<u64>,
    pub ballot: Option<u64>,
    pub applied_version: Option<u64>,
    /// RFC 3339.
    pub created_at: String,
}

/// One status change as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChangeView {
    pub status: AmendmentStatus,
    pub by: Option<u64>,
    /// RFC 3339.
    pub at: String,
    pub reason: Option<String>,
}

impl From<&StatusChange> for StatusChangeView {
    fn from(change: &StatusChange) -> StatusChangeView {
        StatusChangeView {
            status: change.status,
            by: change.by,
            at: super::timestamp(change.at),
            reason: change.reason.clone(),
        }
    }
}

/// How far `record` takes its target from `current`: the share of words changed.
fn distance(record: &AmendmentRecord, current: Option<&RichText>) -> f64 {
    match record.kind {
        AmendmentKind::Delete | AmendmentKind::DeleteSection => 1.0,
        AmendmentKind::InsertAfter | AmendmentKind::InsertSection => 0.0,
        AmendmentKind::Replace => {
            let from = current
                .or(record.base_text.as_ref())
                .map(RichText::plain_text);
            let to = record.text.as_ref().map(RichText::plain_text);
            change_share(&from.unwrap_or_default(), &to.unwrap_or_default())
        }
    }
}

/// The proposed voting order of the pending amendments competing for `target`: the order the
/// secretariat set first, then furthest from the original first, then by number.
fn voting_order(all: &[AmendmentRecord], target: &str, current: Option<&RichText>) -> Vec<u64> {
    let mut competing: Vec<(&AmendmentRecord, f64)> = all
        .iter()
        .filter(|a| a.target == target && a.status.is_pending())
        .filter(|a| {
            matches!(
                a.kind,
                AmendmentKind::Replace | AmendmentKind::Delete | AmendmentKind::DeleteSection
            )
        })
        .map(|a| (a, distance(a, current)))
        .collect();
    competing.sort_by(|(a, da), (b, db)| {
        let set = |x: &AmendmentRecord| x.vote_order.unwrap_or(u32::MAX);
        set(a)
            .cmp(&set(b))
            .then(db.partial_cmp(da).unwrap_or(std::cmp::Ordering::Equal))
            .then(a.id.cmp(&b.id))
    });
    competing.into_iter().map(|(a, _)| a.id).collect()
}

/// Builds the views of `records` against the current text.
fn views(
    state: &AppState,
    all: &[AmendmentRecord],
    records: &[&AmendmentRecord],
    sections: &[Section],
) -> Vec<AmendmentView> {
    let located = locate(sections);
    let mut orders: HashMap<String, Vec<u64>> = HashMap::new();
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut name = |id: u64| -> String {
        names
            .entry(id)
            .or_insert_with(|| {
                state
                    .auth
                    .accounts
                    .user(id)
                    .map(|u| u.name)
                    .unwrap_or_else(|_| format!("#{id}"))
            })
            .clone()
    };
    records
        .iter()
        .map(|record| {
            let here = located.get(&record.target);
            let current = here.map(|l| &l.text);
            let proposed = record
                .text
                .as_ref()
                .map(RichText::plain_text)
                .unwrap_or_default();
            let now_text = current.map(RichText::plain_text).unwrap_or_default();
            let diff = match record.kind {
                AmendmentKind::Replace => diff_words(&now_text, &proposed),
                AmendmentKind::Delete | AmendmentKind::DeleteSection => diff_words(&now_text, ""),
                AmendmentKind::InsertAfter | AmendmentKind::InsertSection => {
                    diff_words("", &proposed)
                }
            };
            let order = if record.status.is_pending() {
                orders
                    .entry(record.target.clone())
                    .or_insert_with(|| voting_order(all, &record.target, current))
                    .clone()
            } else {
                Vec::new()
            };
            let competing: Vec<u64> = order
                .iter()
                .copied()
                .filter(|id| *id != record.id)
                .collect();
            AmendmentView {
                id: record.id,
                label: format!("A{}", record.id),
                kind: record.kind,
                target: record.target.clone(),
                target_number: here.and_then(|l| l.number.clone()),
                section_id: here.map(|l| l.section_id.clone()),
                target_exists: here.is_some(),
                text: record.text.clone(),
                paragraphs: record.paragraphs.clone(),
                rationale: record.rationale.clone(),
                author: PersonView {
                    id: record.author,
                    name: record.author_name.clone(),
                },
                supporters: record
                    .supporters
                    .iter()
                    .map(|id| PersonView {
                        id: *id,
                        name: name(*id),
                    })
                    .collect(),
                status: record.status,
                history: record.history.iter().map(StatusChangeView::from).collect(),
                written_against: record.written_against,
                base_text: record.base_text.clone(),
                current_text: current.cloned(),
                outdated: record.status.is_pending()
                    && record.base_text.is_some()
                    && current != record.base_text.as_ref(),
                diff,
                distance: distance(record, current),
                vote_rank: order.iter().position(|id| *id == record.id).map(|i| i + 1),
                competing,
                editable: record.is_editable(),
                revises: record.revises,
                revised_by: record.revised_by,
                ballot: record.ballot,
                applied_version: record.applied_version,
                created_at: super::timestamp(record.created_at),
            }
        })
        .collect()
}

/// Filters of the list.
#[derive(Deserialize, IntoParams)]
pub struct AmendmentQuery {
    pub status: Option<AmendmentStatus>,
    /// Only amendments whose target is in this section (now).
    pub section: Option<String>,
    /// Only this author's.
    pub author: Option<u64>,
}

/// The document's amendments with their diffs against the current text, flags (outdated,
/// competing, voting rank), supporters and history.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/amendments",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), AmendmentQuery),
    responses((status = 200, body = Vec<AmendmentView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_amendments(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<AmendmentQuery>,
) -> Result<Json<Vec<AmendmentView>>, ApiError> {
    state.documents.get(&id)?;
    let all = state.documents.amendments.list(&id)?;
    let (sections, _) = state.documents.current_sections(&id).await?;
    let located = locate(&sections);
    let selected: Vec<&AmendmentRecord> = all
        .iter()
        .filter(|a| query.status.is_none_or(|s| a.status == s))
        .filter(|a| query.author.is_none_or(|u| a.author == u))
        .filter(|a| {
            query.section.as_ref().is_none_or(|section| {
                located
                    .get(&a.target)
                    .is_some_and(|l| &l.section_id == section)
            })
        })
        .collect();
    Ok(Json(views(&state, &all, &selected, &sections)))
}

/// One amendment.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/amendments/{amendment}",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    responses((status = 200, body = AmendmentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_amendment(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath((id, number)): ApiPath<(String, u64)>,
) -> Result<Json<AmendmentView>, ApiError> {
    Ok(Json(view_of(&state, &id, number).await?))
}

async fn view_of(state: &AppState, id: &str, number: u64) -> Result<AmendmentView, ApiError> {
    state.documents.get(id)?;
    let all = state.documents.amendments.list(id)?;
    let record = all
        .iter()
        .find(|a| a.id == number)
        .ok_or(ApiError::AmendmentNotFound)?;
    let (sections, _) = state.documents.current_sections(id).await?;
    views(state, &all, &[record], &sections)
        .pop()
        .ok_or(ApiError::AmendmentNotFound)
}

/// Checks a rich text from a client: no control characters, at most `max` characters; the
/// spans normalised.
fn check_text(field: &str, text: &RichText) -> Result<RichText, ApiError> {
    let mut clean = RichText::new();
    for span in text.spans() {
        if span.text.chars().any(char::is_control) {
            return Err(ApiError::InvalidField(format!(
                "{field} has no control characters (one paragraph each)"
            )));
        }
        clean.push(&span.text, span.em, span.strong);
    }
    let clean = clean.trimmed();
    if clean.plain_text().chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::InvalidField(format!(
            "{field} has at most {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(clean)
}

/// A new amendment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAmendment {
    pub kind: AmendmentKind,
    /// The paragraph id (replace, delete, insert_after) or section id (insert_section,
    /// delete_section).
    pub target: String,
    /// The proposed paragraph text (replace, insert_after) or new section's heading.
    pub text: Option<RichText>,
    /// The new section's paragraphs (insert_section).
    #[serde(default)]
    pub paragraphs: Vec<RichText>,
    pub rationale: String,
    /// The amendment (of the same author, still pending) this one revises; it is withdrawn.
    pub revises: Option<u64>,
}

/// Checks that the document takes amendments now.
fn check_tabling_open(record: &crate::documents::DocumentRecord) -> Result<(), ApiError> {
    if record.phase != Phase::Amendments || record.deadline_passed(now()) {
        return Err(ApiError::PhaseClosed(
            "amendments are tabled during the Amendments phase, before its deadline".into(),
        ));
    }
    Ok(())
}

/// Table an amendment (delegates and the secretariat, in the Amendments phase).
#[utoipa::path(
    post,
    path = "/api/documents/{id}/amendments",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id")),
    request_body = NewAmendment,
    responses(
        (status = 201, body = AmendmentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "observers; the pending cap"),
        (status = 404, body = ErrorBody, description = "document_not_found, block_not_found"),
        (status = 409, body = ErrorBody, description = "phase_closed"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn table_amendment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewAmendment>,
) -> Result<(StatusCode, Json<AmendmentView>), ApiError> {
    if !principal.user.role.can_edit() {
        return Err(ApiError::Forbidden);
    }
    let document = state.documents.get(&id)?;
    check_tabling_open(&document)?;
    let rationale = optional_text("rationale", Some(new.rationale), MAX_RATIONALE_CHARS)?
        .ok_or_else(|| ApiError::InvalidField("rationale is required".into()))?;
    let text = new
        .text
        .as_ref()
        .map(|t| check_text("text", t))
        .transpose()?;
    let needs_text = matches!(
        new.kind,
        AmendmentKind::Replace | AmendmentKind::InsertAfter | AmendmentKind::InsertSection
    );
    if needs_text && text.as_ref().is_none_or(RichText::is_empty) {
        return Err(ApiError::InvalidField(
            "text is required for this kind of amendment".into(),
        ));
    }
    if !needs_text && text.is_some() {
        return Err(ApiError::InvalidField("a deletion carries no text".into()));
    }
    if new.kind != AmendmentKind::InsertSection && !new.paragraphs.is_empty() {
        return Err(ApiError::InvalidField(
            "paragraphs are only for a new section".into(),
        ));
    }
    if new.paragraphs.len() > MAX_SECTION_PARAGRAPHS {
        return Err(ApiError::InvalidField(format!(
            "a new section has at most {MAX_SECTION_PARAGRAPHS} paragraphs"
        )));
    }
    let paragraphs = new
        .paragraphs
        .iter()
        .map(|p| check_text("paragraphs", p))
        .collect::<Result<Vec<_>, _>>()?;
    let (sections, _) = state.documents.current_sections(&id).await?;
    let target_is_section = sections
        .iter()
        .any(|s| s.id == new.target && !s.heading.is_empty());
    let base = sections
        .iter()
        .flat_map(|s| s.paragraphs.iter())
        .find(|p| p.id == new.target)
        .map(|p| p.text.clone());
    match (new.kind.targets_section(), target_is_section, &base) {
        (true, true, _) | (false, _, Some(_)) => {}
        _ => return Err(ApiError::BlockNotFound(new.target)),
    }
    if text.as_ref() == base.as_ref() && new.kind == AmendmentKind::Replace {
        return Err(ApiError::InvalidField(
            "the proposed text is the same as the paragraph's".into(),
        ));
    }
    let written_against = document.next_version.saturating_sub(1);
    let created_at = now();
    let record = AmendmentRecord {
        id: 0,
        document: id.clone(),
        kind: new.kind,
        target: new.target,
        text,
        paragraphs,
        rationale,
        author: principal.user.id,
        author_name: principal.user.name.clone(),
        supporters: Vec::new(),
        status: AmendmentStatus::Submitted,
        history: vec![StatusChange {
            status: AmendmentStatus::Submitted,
            by: Some(principal.user.id),
            at: created_at,
            reason: None,
        }],
        written_against,
        base_text: if new.kind == AmendmentKind::Replace {
            base
        } else {
            None
        },
        revises: new.revises,
        revised_by: None,
        vote_order: None,
        ballot: None,
        applied_version: None,
        created_at,
    };
    let record = state
        .documents
        .amendments
        .table(record, document.max_pending_amendments as usize)?;
    state.auth.record(
        principal.actor(&address),
        "amendment.tabled",
        Some(format!("document:{id}")),
        json!({ "amendment": record.id, "kind": record.kind, "target": record.target, "revises": record.revises }),
    );
    let view = view_of(&state, &id, record.id).await?;
    if let Some(old) = record.revises {
        let old = view_of(&state, &id, old).await?;
        publish(&state, &id, "amendment.updated", &old);
    }
    publish(&state, &id, "amendment.tabled", &view);
    state.flush().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A change to an amendment's text or rationale (its author, while nobody supports it and
/// before screening).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentChange {
    pub text: Option<RichText>,
    pub paragraphs: Option<Vec<RichText>>,
    pub rationale: Option<String>,
}

/// Change an amendment's text or rationale: its author, while it has no supporter and has not
/// been screened (afterwards: withdraw it and table a revision).
#[utoipa::path(
    patch,
    path = "/api/documents/{id}/amendments/{amendment}",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    request_body = AmendmentChange,
    responses(
        (status = 200, body = AmendmentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "amendment_status: supported or screened"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn edit_amendment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, number)): ApiPath<(String, u64)>,
    ApiJson(change): ApiJson<AmendmentChange>,
) -> Result<Json<AmendmentView>, ApiError> {
    let document = state.documents.get(&id)?;
    check_tabling_open(&document)?;
    let text = change
        .text
        .as_ref()
        .map(|t| check_text("text", t))
        .transpose()?;
    let paragraphs = change
        .paragraphs
        .as_ref()
        .map(|ps| {
            ps.iter()
                .map(|p| check_text("paragraphs", p))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let rationale = optional_text("rationale", change.rationale, MAX_RATIONALE_CHARS)?;
    let user = principal.user.id;
    state.documents.amendments.update(&id, number, |record| {
        if record.author != user {
            return Err(AmendmentError::NotAllowed("only its author edits an amendment".into()));
        }
        if !record.is_editable() {
            return Err(AmendmentError::WrongStatus(
                "an amendment with supporters, or screened, cannot change: withdraw it and table a revision".into(),
            ));
        }
        if let Some(text) = text {
            if record.text.is_none() || text.is_empty() {
                return Err(AmendmentError::NotAllowed("this amendment carries no text".into()));
            }
            record.text = Some(text);
        }
        if let Some(paragraphs) = paragraphs {
            if paragraphs.len() > MAX_SECTION_PARAGRAPHS {
                return Err(AmendmentError::NotAllowed(format!(
                    "a new section has at most {MAX_SECTION_PARAGRAPHS} paragraphs"
                )));
            }
            if record.kind != AmendmentKind::InsertSection {
                return Err(AmendmentError::NotAllowed("paragraphs are only for a new section".into()));
            }
            record.paragraphs = paragraphs;
        }
        if let Some(rationale) = rationale {
            record.rationale = rationale;
        }
        Ok(())
    })?;
    recorded(
        &state,
        &principal,
        &address,
        &id,
        number,
        "amendment.edited",
        json!({ "amendment": number }),
    )
    .await
}

async fn change_support(
    state: AppState,
    principal: Principal,
    address: String,
    id: String,
    number: u64,
    add: bool,
) -> Result<Json<AmendmentView>, ApiError> {
    if !principal.user.role.can_edit() {
        return Err(ApiError::Forbidden);
    }
    state.documents.get(&id)?;
    let user = principal.user.id;
    state
        .documents
        .amendments
        .update(&id, number, |record| amendments::support(record, user, add))?;
    recorded(
        &state,
        &principal,
        &address,
        &id,
        number,
        if add {
            "amendment.supported"
        } else {
            "amendment.support_withdrawn"
        },
        json!({ "amendment": number }),
    )
    .await
}

/// Records a change to amendment `number` in the audit log, announces its new view to the
/// document's members, makes it durable and answers with that view.
async fn recorded(
    state: &AppState,
    principal: &Principal,
    address: &str,
    id: &str,
    number: u64,
    action: &str,
    details: serde_json::Value,
) -> Result<Json<AmendmentView>, ApiError> {
    state.auth.record(
        principal.actor(address),
        action,
        Some(format!("document:{id}")),
        details,
    );
    let view = view_of(state, id, number).await?;
    publish(state, id, "amendment.updated", &view);
    state.flush().await?;
    Ok(Json(view))
}

/// Support an amendment as a co-sponsor (delegates and the secretariat; not its author;
/// before screening). Supporting twice counts once.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/amendments/{amendment}/support",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    responses((status = 200, body = AmendmentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn support_amendment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, number)): ApiPath<(String, u64)>,
) -> Result<Json<AmendmentView>, ApiError> {
    change_support(state, principal, address, id, number, true).await
}

/// Withdraw one's support (before screening).
#[utoipa::path(
    delete,
    path = "/api/documents/{id}/amendments/{amendment}/support",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    responses((status = 200, body = AmendmentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn withdraw_support(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, number)): ApiPath<(String, u64)>,
) -> Result<Json<AmendmentView>, ApiError> {
    change_support(state, principal, address, id, number, false).await
}

/// Withdraw one's own amendment while it is pending (before its ballot opens).
#[utoipa::path(
    post,
    path = "/api/documents/{id}/amendments/{amendment}/withdraw",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    responses((status = 200, body = AmendmentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn withdraw_amendment(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, number)): ApiPath<(String, u64)>,
) -> Result<Json<AmendmentView>, ApiError> {
    state.documents.get(&id)?;
    let user = principal.user.id;
    state.documents.amendments.update(&id, number, |record| {
        if record.author != user {
            return Err(AmendmentError::NotAllowed(
                "only its author withdraws an amendment".into(),
            ));
        }
        if !record.status.is_pending() || record.ballot.is_some() {
            return Err(AmendmentError::WrongStatus(
                "only a pending amendment whose ballot has not opened can be withdrawn".into(),
            ));
        }
        amendments::set_status(record, AmendmentStatus::Withdrawn, Some(user), None);
        Ok(())
    })?;
    recorded(
        &state,
        &principal,
        &address,
        &id,
        number,
        "amendment.withdrawn",
        json!({ "amendment": number }),
    )
    .await
}

/// The secretariat's decision on an amendment.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningDecision {
    /// Refused (a reason is required).
    Inadmissible,
    /// Accepted as a friendly change: applied at once.
    Accept,
    /// Put to a vote.
    Vote,
}

/// A screening.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Screening {
    pub decision: ScreeningDecision,
    pub reason: Option<String>,
}

/// Screen an amendment (secretariat): inadmissible with a reason, accepted as a friendly
/// change (applied to the live text at once), or put to a vote. A fallen amendment can be
/// screened again against the new text. Accepting or voting needs the document's minimum
/// number of supporters.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/amendments/{amendment}/screen",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id"), ("amendment" = u64, Path, description = "Amendment number")),
    request_body = Screening,
    responses(
        (status = 200, body = AmendmentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "amendment_status, not_enough_supporters, conflict, phase_closed"),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn screen_amendment(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath((id, number)): ApiPath<(String, u64)>,
    ApiJson(screening): ApiJson<Screening>,
) -> Result<Json<AmendmentView>, ApiError> {
    let document = state.documents.get(&id)?;
    if matches!(
        document.phase,
        Phase::Drafting | Phase::Adopted | Phase::Archived
    ) {
        return Err(ApiError::PhaseClosed(
            "amendments are screened from the Amendments phase until the text is adopted".into(),
        ));
    }
    let reason = optional_text("reason", screening.reason, MAX_RATIONALE_CHARS)?;
    let applies_text = matches!(screening.decision, ScreeningDecision::Accept);
    if applies_text && document.phase == Phase::FinalVote {
        return Err(ApiError::PhaseClosed(
            "the text being put to the final vote does not change".into(),
        ));
    }
    // Checked and changed under the decisions lock: two screenings at once never both apply.
    let _decisions = state.documents.amendments.decisions.lock().await;
    let record = state.documents.amendments.get(&id, number)?;
    let screenable = matches!(
        record.status,
        AmendmentStatus::Submitted
            | AmendmentStatus::Fallen
            | AmendmentStatus::Void
            | AmendmentStatus::ToVote
    ) && !(record.status == AmendmentStatus::ToVote && record.ballot.is_some());
    if !screenable {
        return Err(ApiError::AmendmentStatus(format!(
            "a {:?} amendment cannot be screened",
            record.status
        )));
    }
    let by = Some(principal.user.id);
    match screening.decision {
        ScreeningDecision::Inadmissible => {
            let reason =
                reason.ok_or_else(|| ApiError::InvalidField("a reason is required".into()))?;
            state.documents.amendments.update(&id, number, |r| {
                amendments::set_status(r, AmendmentStatus::Inadmissible, by, Some(reason.clone()));
                Ok(())
            })?;
        }
        ScreeningDecision::Accept | ScreeningDecision::Vote => {
            if (record.supporters.len() as u32) < document.min_supporters {
                return Err(ApiError::NotEnoughSupporters(format!(
                    "this amendment has {} supporters; {} are needed before screening",
                    record.supporters.len(),
                    document.min_supporters
                )));
            }
            if matches!(
                record.status,
                AmendmentStatus::Fallen | AmendmentStatus::Void
            ) {
                // Screened again against the text as it is now.
                let (sections, _) = state.documents.current_sections(&id).await?;
                let current = locate(&sections).remove(&record.target).map(|l| l.text);
                state.documents.amendments.update(&id, number, |r| {
                    if r.kind == AmendmentKind::Replace {
                        r.base_text = current.clone();
                    }
                    // A new ballot, if it goes to a vote again.
                    r.ballot = None;
                    Ok(())
                })?;
            }
            match screening.decision {
                ScreeningDecision::Accept => {
                    let record = state.documents.amendments.get(&id, number)?;
                    let label = format!("Amendment A{number} accepted");
                    apply_and_record(
                        &state,
                        &record,
                        AmendmentStatus::Accepted,
                        by,
                        reason.clone(),
                        &label,
                    )
                    .await?;
                }
                _ => {
                    state.documents.amendments.update(&id, number, |r| {
                        amendments::set_status(r, AmendmentStatus::ToVote, by, reason.clone());
                        Ok(())
                    })?;
                }
            }
        }
    }
    recorded(
        &state,
        &principal,
        &address,
        &id,
        number,
        "amendment.screened",
        json!({ "amendment": number, "decision": format!("{:?}", screening.decision).to_lowercase() }),
    )
    .await
}

/// Why an amendment could not be applied.
enum ApplyError {
    Missing(String),
    Conflict,
}

/// Applies `record` to the live text in one server transaction touching only its target,
/// sets its status to `status` (accepted or adopted), makes competing amendments fall, takes a
/// named version and announces everything. Refuses with `conflict`, applying nothing, when
/// the target changed since the amendment was written and the change cannot be merged.
pub async fn apply_and_record(
    state: &AppState,
    record: &AmendmentRecord,
    status: AmendmentStatus,
    by: Option<u64>,
    reason: Option<String>,
    label: &str,
) -> Result<(), ApiError> {
    let id = record.document.clone();
    let amendment = record.clone();
    let applied = state
        .documents
        .edit_with_ids(&id, move |txn, fragment, ids| {
            let missing = |target: &str| (Err(ApplyError::Missing(target.to_owned())), Vec::new());
            let a = &amendment;
            match a.kind {
                AmendmentKind::Replace => {
                    let sections = read_sections(txn, fragment);
                    let Some(current) = locate(&sections).remove(&a.target).map(|l| l.text) else {
                        return missing(&a.target);
                    };
                    let proposed = a.text.clone().unwrap_or_default();
                    let merged = match &a.base_text {
                        Some(base) if *base != current => {
                            match merge_three_way_rich(base, &proposed, &current) {
                                Ok(merged) => merged,
                                Err(_) => return (Err(ApplyError::Conflict), Vec::new()),
                            }
                        }
                        _ => proposed,
                    };
                    match set_paragraph_text(txn, fragment, &a.target, &merged) {
                        Ok(_) => (Ok(()), Vec::new()),
                        Err(_) => missing(&a.target),
                    }
                }
                AmendmentKind::Delete => match remove_paragraph(txn, fragment, &a.target) {
                    Ok(()) => (Ok(()), Vec::new()),
                    Err(_) => missing(&a.target),
                },
                AmendmentKind::DeleteSection => match remove_section(txn, fragment, &a.target) {
                    Ok(()) => (Ok(()), Vec::new()),
                    Err(_) => missing(&a.target),
                },
                AmendmentKind::InsertAfter => {
                    let text = a.text.clone().unwrap_or_default();
                    match insert_paragraph_after(txn, fragment, &a.target, &text, ids) {
                        Ok(new) => (Ok(()), vec![new]),
                        Err(_) => missing(&a.target),
                    }
                }
                AmendmentKind::InsertSection => {
                    let heading = a.text.clone().unwrap_or_default();
                    match insert_section_after(
                        txn,
                        fragment,
                        &a.target,
                        &heading,
                        &a.paragraphs,
                        ids,
                    ) {
                        Ok(new) => (Ok(()), new),
                        Err(_) => missing(&a.target),
                    }
                }
            }
        })
        .await?;
    match applied {
        Ok(()) => {}
        Err(ApplyError::Missing(target)) => {
            return Err(ApiError::Conflict(format!(
                "amendment A{} cannot be applied: its target {target} is no longer in the text",
                record.id
            )))
        }
        Err(ApplyError::Conflict) => {
            return Err(ApiError::Conflict(format!(
                "amendment A{} conflicts with changes made to paragraph {} since it was written; nothing was applied",
                record.id, record.target
            )))
        }
    }
    let version = state
        .documents
        .take_version(
            &id,
            label,
            VersionKind::Amendment,
            by,
            reason.clone().or_else(|| Some(record.rationale.clone())),
        )
        .await?;
    let number = record.id;
    state.documents.amendments.update(&id, number, |r| {
        amendments::set_status(r, status, by, reason.clone());
        r.applied_version = Some(version.number);
        Ok(())
    })?;
    // Competing amendments on the same target fall.
    let fallen: Vec<u64> = state
        .documents
        .amendments
        .list(&id)?
        .into_iter()
        .filter(|a| {
            a.id != number
                && a.target == record.target
                && a.status.is_pending()
                && a.kind.competes_with(record.kind)
        })
        .map(|a| a.id)
        .collect();
    for other in &fallen {
        state.documents.amendments.update(&id, *other, |r| {
            amendments::set_status(
                r,
                AmendmentStatus::Fallen,
                by,
                Some(format!("A{number} on the same text was adopted first")),
            );
            Ok(())
        })?;
        let view = view_of(state, &id, *other).await?;
        publish(state, &id, "amendment.updated", &view);
    }
    publish(
        state,
        &id,
        "version.created",
        &crate::documents::VersionSummary::from(&version),
    );
    Ok(())
}

/// The secretariat's voting order for the amendments competing for one target.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VotingOrder {
    /// The paragraph or section id.
    pub target: String,
    /// Amendment numbers, first to be voted first.
    pub order: Vec<u64>,
}

/// Set the voting order of the amendments competing for one target (secretariat). The server
/// proposes "furthest from the original first"; this overrides it.
#[utoipa::path(
    put,
    path = "/api/documents/{id}/amendments/order",
    tag = "amendments",
    params(("id" = String, Path, description = "Document id")),
    request_body = VotingOrder,
    responses(
        (status = 200, body = Vec<AmendmentView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_voting_order(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(order): ApiJson<VotingOrder>,
) -> Result<Json<Vec<AmendmentView>>, ApiError> {
    state.documents.get(&id)?;
    let all = state.documents.amendments.list(&id)?;
    let competing: Vec<u64> = all
        .iter()
        .filter(|a| a.target == order.target && a.status.is_pending())
        .map(|a| a.id)
        .collect();
    let mut given = order.order.clone();
    given.sort_unstable();
    let mut expected = competing.clone();
    expected.sort_unstable();
    if given != expected {
        return Err(ApiError::InvalidField(format!(
            "order lists each pending amendment on {} exactly once: {:?}",
            order.target, competing
        )));
    }
    for (rank, number) in order.order.iter().enumerate() {
        state.documents.amendments.update(&id, *number, |r| {
            r.vote_order = Some(rank as u32);
            Ok(())
        })?;
    }
    state.auth.record(
        principal.actor(&address),
        "amendment.order_set",
        Some(format!("document:{id}")),
        json!({ "target": order.target, "order": order.order }),
    );
    let all = state.documents.amendments.list(&id)?;
    let (sections, _) = state.documents.current_sections(&id).await?;
    let selected: Vec<&AmendmentRecord> =
        all.iter().filter(|a| order.order.contains(&a.id)).collect();
    let views = views(&state, &all, &selected, &sections);
    for view in &views {
        publish(&state, &id, "amendment.updated", view);
    }
    state.flush().await?;
    Ok(Json(views))
}

/// Publishes amendment `number`'s view as `amendment.updated`, logging a failure.
pub async fn publish_amendment(state: &AppState, document: &str, number: u64) {
    match view_of(state, document, number).await {
        Ok(view) => publish(state, document, "amendment.updated", &view),
        Err(e) => tracing::error!(%document, number, error = %e, "could not publish an amendment"),
    }
}

/// Brings amendments and the document in line with the ballots that closed: an adopted
/// amendment is applied, a rejected one rejected, a void one void; an adopted final ballot
/// adopts the text. Idempotent: it acts only on amendments still awaiting their ballot's
/// result (and a document still in the Final vote phase), so it runs after every close and
/// once at start, which also covers a close the server could not follow up before stopping.
pub async fn reconcile_ballots(state: &AppState, document: &str) -> Result<(), ApiError> {
    use crate::documents::ballots::{BallotResult, BallotStatus, BallotSubject};
    let _decisions = state.documents.amendments.decisions.lock().await;
    let ballots = state.documents.ballots.list(document)?;
    let closed = |id: u64| {
        ballots
            .iter()
            .find(|b| b.id == id && b.status == BallotStatus::Closed)
            .and_then(|b| b.outcome.clone().map(|o| (b.closed_by, o)))
    };
    let numbers: Vec<u64> = state
        .documents
        .amendments
        .list(document)?
        .iter()
        .map(|a| a.id)
        .collect();
    for number in numbers {
        // Read again: applying an earlier one may have made this one fall.
        let amendment = state.documents.amendments.get(document, number)?;
        if amendment.status != AmendmentStatus::ToVote {
            continue;
        }
        let Some((by, outcome)) = amendment.ballot.and_then(closed) else {
            continue;
        };
        match outcome.result {
            BallotResult::Adopted => {
                let label = format!("Amendment A{number} adopted");
                let applied = apply_and_record(
                    state,
                    &amendment,
                    AmendmentStatus::Adopted,
                    by,
                    Some(outcome.text.clone()),
                    &label,
                )
                .await;
                if let Err(e) = applied {
                    if !matches!(e, ApiError::Conflict(_)) {
                        // A passing failure (storage, a room stopping): tried again at the
                        // next close or start.
                        tracing::warn!(%document, number, error = %e, "an adopted amendment could not be applied yet");
                        continue;
                    }
                    // Adopted all the same: the secretariat carries it over by a correction.
                    tracing::warn!(%document, number, error = %e, "an adopted amendment could not be applied");
                    state.documents.amendments.update(document, number, |r| {
                        amendments::set_status(
                            r,
                            AmendmentStatus::Adopted,
                            by,
                            Some(format!("{}; not applied: {e}", outcome.text)),
                        );
                        Ok(())
                    })?;
                }
            }
            BallotResult::Rejected | BallotResult::Void => {
                let status = if outcome.result == BallotResult::Rejected {
                    AmendmentStatus::Rejected
                } else {
                    AmendmentStatus::Void
                };
                state.documents.amendments.update(document, number, |r| {
                    amendments::set_status(r, status, by, Some(outcome.text.clone()));
                    Ok(())
                })?;
            }
        }
        publish_amendment(state, document, number).await;
    }
    let record = state.documents.get(document)?;
    if record.phase == Phase::FinalVote {
        // Only a final ballot opened since the document last entered the Final vote phase.
        let adopted = ballots.iter().rev().find(|b| {
            b.subject == BallotSubject::FinalText
                && b.id > record.final_vote_after_ballot
                && b.status == BallotStatus::Closed
                && b.outcome
                    .as_ref()
                    .is_some_and(|o| o.result == BallotResult::Adopted)
        });
        if let Some(ballot) = adopted {
            let reason = ballot.outcome.as_ref().map(|o| o.text.clone());
            let by = ballot.closed_by.unwrap_or(ballot.opened_by);
            let record = state
                .documents
                .transition(document, Phase::Adopted, reason, None, by)
                .await?;
            publish(
                state,
                document,
                "phase.changed",
                &super::documents::DocumentView::from(&record),
            );
        }
    }
    state.flush().await
}

/// Follows closing ballots until `shutdown`, reconciling each one's document; at start, and
/// after missing some (a lagging receiver), reconciles every document.
pub async fn follow_ballots(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let mut closed = state.documents.ballots.closed.subscribe();
    let everything = |state: AppState| async move {
        if let Ok(records) = state.documents.list() {
            for record in records {
                if let Err(e) = reconcile_ballots(&state, &record.id).await {
                    tracing::warn!(document = %record.id, error = %e, "could not follow up closed ballots");
                }
            }
        }
    };
    everything(state.clone()).await;
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = closed.recv() => received,
        };
        match received {
            Ok(ballot) => {
                if let Err(e) = reconcile_ballots(&state, &ballot.document).await {
                    tracing::warn!(document = %ballot.document, error = %e, "could not follow up a closed ballot");
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                everything(state.clone()).await;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Amendments the caller may support, and for the secretariat those awaiting screening.
pub fn decisions(
    state: &AppState,
    document: &str,
    user: u64,
    role: Role,
) -> Result<(Vec<u64>, Vec<u64>), ApiError> {
    let all = state.documents.amendments.list(document)?;
    let to_support = if role.can_edit() {
        all.iter()
            .filter(|a| a.status == AmendmentStatus::Submitted)
            .filter(|a| a.author != user && !a.supporters.contains(&user))
            .map(|a| a.id)
            .collect()
    } else {
        Vec::new()
    };
    let to_screen = if role == Role::Secretariat {
        all.iter()
            .filter(|a| a.status == AmendmentStatus::Submitted)
            .map(|a| a.id)
            .collect()
    } else {
        Vec::new()
    };
    Ok((to_support, to_screen))
}
