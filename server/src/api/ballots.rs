//! Ballots and votes: the secretariat opens a ballot on an amendment (Voting phase) or on the
//! whole text (Final vote phase) with its rules, eligible voters vote yes, no or abstain and
//! may change their vote until it closes, and the secretariat (or the ballot's deadline)
//! closes it; the server then states the outcome.
//!
//! Who sees what: every member (observers included) sees each ballot's rules, status and how
//! many voted; counts while open only when the rules say `results: live`; the caller's own
//! vote while open; once closed, the outcome, the counts recomputed from the records and who
//! voted, with each person's choice only for a roll-call ballot. Each change is audited,
//! published on the document's events (`ballot.opened`, `vote.cast` with the number of voters
//! only, `ballot.closed` with the outcome) and made durable before the answer.

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
use crate::documents::ballots::{
    BallotError, BallotRecord, BallotRules, BallotStatus, BallotSubject, BallotSummary, Choice,
    NewBallot, Recount, ResultsShown, Tally, Visibility, MAX_QUESTION_CHARS,
};
use crate::documents::{now, phase_label, DocumentRecord, Phase};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, AppState, ClientAddress, ErrorBody, Secretariat,
};

impl From<BallotError> for ApiError {
    fn from(e: BallotError) -> ApiError {
        match e {
            BallotError::NotFound => ApiError::BallotNotFound,
            BallotError::Closed => ApiError::BallotClosed,
            BallotError::StillOpen => ApiError::BallotStillOpen,
            BallotError::SubjectBusy => ApiError::BallotSubjectBusy,
            BallotError::NotEligible => ApiError::NotEligible,
            BallotError::Invalid(message) => ApiError::InvalidField(message),
            BallotError::Database(_) => ApiError::internal(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// Someone who voted.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoterView {
    pub id: u64,
    pub name: String,
}

/// One vote of a closed roll-call ballot.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollCallVote {
    pub voter: u64,
    pub name: String,
    pub choice: Choice,
}

/// A ballot as one member sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BallotView {
    #[serde(flatten)]
    pub ballot: BallotSummary,
    /// Whether its deadline has passed (it then closes within a second).
    pub deadline_passed: bool,
    /// Whether the caller is among its eligible voters.
    pub eligible: bool,
    /// Whether the caller may vote now (eligible, open, the document in the ballot's phase).
    pub can_vote: bool,
    /// Whether the caller has voted.
    pub voted: bool,
    /// The caller's vote, while the ballot is open.
    pub my_vote: Option<Choice>,
    /// The counts, recomputed from the records: once closed, or while open with live results.
    pub tally: Option<Tally>,
    /// Once closed: who voted, by id (never with their choices for a secret ballot).
    pub voters: Option<Vec<VoterView>>,
    /// Once a roll-call ballot is closed: each vote.
    pub votes: Option<Vec<RollCallVote>>,
}

/// Account names, read once per request and only when needed.
#[derive(Default)]
struct Names(Option<HashMap<u64, String>>);

impl Names {
    fn of(&mut self, state: &AppState, id: u64) -> Result<String, ApiError> {
        if self.0.is_none() {
            let users = state.auth.accounts.users()?;
            self.0 = Some(users.into_iter().map(|u| (u.id, u.name)).collect());
        }
        Ok((self.0.as_ref())
            .and_then(|names| names.get(&id).cloned())
            .unwrap_or_default())
    }
}

/// Whether ballots on `subject` may be opened or voted in `document` now; `phase_closed`
/// otherwise.
fn check_phase(document: &DocumentRecord, subject: &BallotSubject) -> Result<(), ApiError> {
    let phase = subject.phase();
    if document.phase != phase {
        let what = match subject {
            BallotSubject::Amendment { .. } => "ballots on amendments",
            BallotSubject::FinalText => "the final ballot",
        };
        return Err(ApiError::PhaseClosed(format!(
            "{what} take place in the {} phase; the document is in {}",
            phase_label(phase),
            phase_label(document.phase)
        )));
    }
    if document.deadline_passed(now()) {
        return Err(ApiError::PhaseClosed(format!(
            "the deadline of the {} phase has passed",
            phase_label(phase)
        )));
    }
    Ok(())
}

fn view(
    state: &AppState,
    document: &DocumentRecord,
    record: &BallotRecord,
    viewer: &Principal,
    names: &mut Names,
) -> Result<BallotView, ApiError> {
    let ballots = &state.documents.ballots;
    let now = now();
    let user = viewer.user.id;
    let closed = record.status == BallotStatus::Closed;
    let eligible = record.is_eligible(user);
    let my_vote = ballots.vote_of(record, user)?;
    let voted = ballots.has_voted(record, user)?;
    let can_vote = eligible
        && viewer.user.role.can_edit()
        && record.is_open(now)
        && check_phase(document, &record.subject).is_ok();
    let tally = if closed
        || (record.status == BallotStatus::Open && record.rules.results == ResultsShown::Live)
    {
        Some(ballots.tally(record)?)
    } else {
        None
    };
    let voters = if closed {
        let mut all = Vec::new();
        for id in ballots.voters(record)? {
            all.push(VoterView {
                id,
                name: names.of(state, id)?,
            });
        }
        Some(all)
    } else {
        None
    };
    let votes = if closed && record.rules.visibility == Visibility::RollCall {
        let mut all = Vec::new();
        for (voter, choice) in ballots.roll_call(record)? {
            all.push(RollCallVote {
                voter,
                name: names.of(state, voter)?,
                choice,
            });
        }
        Some(all)
    } else {
        None
    };
    Ok(BallotView {
        ballot: ballots.summary(record)?,
        deadline_passed: record.deadline_passed(now),
        eligible,
        can_vote,
        voted,
        my_vote,
        tally,
        voters,
        votes,
    })
}

// ---------------------------------------------------------------------------------------------
// Opening and closing

/// A ballot to open.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBallotInput {
    /// `{"kind": "amendment", "amendment": ID}` (Voting phase) or `{"kind": "final_text"}`
    /// (Final vote phase).
    pub subject: BallotSubject,
    /// The question put to the vote (at most 500 characters); a default one when absent.
    pub question: Option<String>,
    /// Majority, quorum, visibility and when results are shown; frozen once open.
    pub rules: BallotRules,
    /// When the ballot closes by itself (RFC 3339, in the future).
    pub deadline: Option<String>,
}

/// Open a ballot (secretariat): on an amendment in the Voting phase, or on adopting the whole
/// text in the Final vote phase. The eligible voters are the active delegates now, and the
/// secretariat accounts if the document's `secretariat_votes` is set.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/ballots",
    tag = "votes",
    params(("id" = String, Path, description = "Document id")),
    request_body = NewBallotInput,
    responses(
        (status = 201, body = BallotView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "phase_closed, ballot_subject_busy"),
        (status = 422, body = ErrorBody, description = "invalid_field"),
    )
)]
pub async fn create_ballot(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewBallotInput>,
) -> Result<(StatusCode, Json<BallotView>), ApiError> {
    let document = state.documents.get(&id)?;
    new.rules.check()?;
    let question = optional_text("question", new.question, MAX_QUESTION_CHARS)?
        .unwrap_or_else(|| new.subject.default_question());
    let deadline = new
        .deadline
        .as_deref()
        .map(super::documents::parse_deadline)
        .transpose()?;
    check_phase(&document, &new.subject)?;
    // Checked and linked under the decisions lock, so an amendment gets one ballot at a time.
    let _decisions = state.documents.amendments.decisions.lock().await;
    if let BallotSubject::Amendment { amendment } = &new.subject {
        // Only an amendment screened for a vote, and not yet put to one, gets a ballot.
        let record = state.documents.amendments.get(&id, *amendment)?;
        if record.status != crate::documents::amendments::AmendmentStatus::ToVote {
            return Err(ApiError::AmendmentStatus(format!(
                "amendment A{amendment} is not awaiting a vote (screen it for a vote first)"
            )));
        }
        if record.ballot.is_some() {
            return Err(ApiError::BallotSubjectBusy);
        }
    }
    let eligible: Vec<u64> = (state.auth.accounts.users()?.iter())
        .filter(|u| {
            u.active
                && (u.role == Role::Delegate
                    || (u.role == Role::Secretariat && document.secretariat_votes))
        })
        .map(|u| u.id)
        .collect();
    let record = state.documents.ballots.open_ballot(
        &id,
        NewBallot {
            subject: new.subject,
            question,
            rules: new.rules,
            deadline,
            eligible,
            opened_by: principal.user.id,
        },
        now(),
    )?;
    let summary = state.documents.ballots.summary(&record)?;
    state.auth.record(
        principal.actor(&address),
        "ballot.opened",
        Some(format!("document:{id}")),
        json!({
            "ballot": record.id,
            "subject": record.subject,
            "question": record.question,
            "rules": record.rules,
            "deadline": summary.deadline,
            "n_eligible": summary.n_eligible,
        }),
    );
    publish(&state, &id, "ballot.opened", &summary);
    if let BallotSubject::Amendment { amendment } = &record.subject {
        let ballot = record.id;
        state.documents.amendments.update(&id, *amendment, |a| {
            a.ballot = Some(ballot);
            Ok(())
        })?;
        super::amendments::publish_amendment(&state, &id, *amendment).await;
    }
    state.flush().await?;
    let view = view(
        &state,
        &document,
        &record,
        &principal,
        &mut Names::default(),
    )?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Close a ballot now (secretariat): the server counts the stored votes, states the outcome
/// in words, and for a secret ballot destroys the link between voters and choices, keeping an
/// anonymous shuffled list. Adopted amendments are then applied by the amendments module.
#[utoipa::path(
    post,
    path = "/api/documents/{id}/ballots/{ballot}/close",
    tag = "votes",
    params(
        ("id" = String, Path, description = "Document id"),
        ("ballot" = u64, Path, description = "Ballot id"),
    ),
    responses(
        (status = 200, body = BallotView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, ballot_not_found"),
        (status = 409, body = ErrorBody, description = "ballot_closed"),
    )
)]
pub async fn close_ballot(
    State(state): State<AppState>,
    Secretariat(principal): Secretariat,
    ClientAddress(address): ClientAddress,
    ApiPath((id, ballot)): ApiPath<(String, u64)>,
) -> Result<Json<BallotView>, ApiError> {
    let document = state.documents.get(&id)?;
    let record = state
        .documents
        .ballots
        .close(&id, ballot, Some(principal.user.id), now())?;
    state
        .documents
        .announce_closed(&state.auth, principal.actor(&address), &record);
    state.flush().await?;
    Ok(Json(view(
        &state,
        &document,
        &record,
        &principal,
        &mut Names::default(),
    )?))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Query of the ballot list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BallotsQuery {
    /// Only ballots with this status (`open`, `closing`, `closed`).
    #[param(inline)]
    pub status: Option<BallotStatus>,
}

/// A document's ballots.
#[derive(Debug, Serialize, ToSchema)]
pub struct BallotsView {
    pub document: String,
    /// Oldest first.
    pub ballots: Vec<BallotView>,
}

/// A document's ballots, oldest first: rules, status, the caller's own vote while open,
/// counts when live or closed, outcomes once closed.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/ballots",
    tag = "votes",
    params(("id" = String, Path, description = "Document id"), BallotsQuery),
    responses(
        (status = 200, body = BallotsView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn list_ballots(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BallotsQuery>,
) -> Result<Json<BallotsView>, ApiError> {
    let document = state.documents.get(&id)?;
    let mut names = Names::default();
    let mut ballots = Vec::new();
    for record in state.documents.ballots.list(&id)? {
        if query.status.is_some_and(|status| status != record.status) {
            continue;
        }
        ballots.push(view(&state, &document, &record, &principal, &mut names)?);
    }
    Ok(Json(BallotsView {
        document: id,
        ballots,
    }))
}

/// One ballot.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/ballots/{ballot}",
    tag = "votes",
    params(
        ("id" = String, Path, description = "Document id"),
        ("ballot" = u64, Path, description = "Ballot id"),
    ),
    responses(
        (status = 200, body = BallotView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, ballot_not_found"),
    )
)]
pub async fn get_ballot(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, ballot)): ApiPath<(String, u64)>,
) -> Result<Json<BallotView>, ApiError> {
    let document = state.documents.get(&id)?;
    let record = state.documents.ballots.get(&id, ballot)?;
    Ok(Json(view(
        &state,
        &document,
        &record,
        &principal,
        &mut Names::default(),
    )?))
}

/// Recount a closed ballot from the stored records: the choices counted (for a secret ballot
/// the anonymous shuffled list kept at close), their counts, the outcome recomputed under the
/// frozen rules, the outcome declared at close, and whether they agree.
#[utoipa::path(
    get,
    path = "/api/documents/{id}/ballots/{ballot}/recount",
    tag = "votes",
    params(
        ("id" = String, Path, description = "Document id"),
        ("ballot" = u64, Path, description = "Ballot id"),
    ),
    responses(
        (status = 200, body = Recount),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found, ballot_not_found"),
        (status = 409, body = ErrorBody, description = "ballot_open"),
    )
)]
pub async fn recount_ballot(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath((id, ballot)): ApiPath<(String, u64)>,
) -> Result<Json<Recount>, ApiError> {
    state.documents.get(&id)?;
    let record = state.documents.ballots.get(&id, ballot)?;
    Ok(Json(state.documents.ballots.recount(&record)?))
}

// ---------------------------------------------------------------------------------------------
// Voting

/// A vote: exactly one choice (any other field, or a list, is refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteInput {
    pub choice: Choice,
}

/// What answers a vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteReceiptView {
    pub ballot: u64,
    pub document: String,
    /// Your vote now.
    pub choice: Choice,
    /// Whether it replaced an earlier vote of yours (which no longer counts).
    pub replaced: bool,
    /// People who have voted so far.
    pub n_voted: u32,
}

/// Vote, or change your vote, while the ballot is open: one live vote per person, the last
/// one counts. Only the ballot's eligible voters (active delegates when it opened, and the
/// secretariat if the document allows it).
#[utoipa::path(
    put,
    path = "/api/documents/{id}/ballots/{ballot}/vote",
    tag = "votes",
    params(
        ("id" = String, Path, description = "Document id"),
        ("ballot" = u64, Path, description = "Ballot id"),
    ),
    request_body = VoteInput,
    responses(
        (status = 200, body = VoteReceiptView),
        (status = 400, body = ErrorBody, description = "invalid_json (e.g. two choices)"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden (observers), not_eligible"),
        (status = 404, body = ErrorBody, description = "document_not_found, ballot_not_found"),
        (status = 409, body = ErrorBody, description = "ballot_closed, phase_closed"),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After"),
    )
)]
pub async fn cast_vote(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddress(address): ClientAddress,
    ApiPath((id, ballot)): ApiPath<(String, u64)>,
    ApiJson(vote): ApiJson<VoteInput>,
) -> Result<Json<VoteReceiptView>, ApiError> {
    if !principal.user.role.can_edit() {
        return Err(ApiError::Forbidden);
    }
    let document = state.documents.get(&id)?;
    let ballots = &state.documents.ballots;
    let record = ballots.get(&id, ballot)?;
    let now = now();
    if !record.is_open(now) {
        return Err(ApiError::BallotClosed);
    }
    if !record.is_eligible(principal.user.id) {
        return Err(ApiError::NotEligible);
    }
    check_phase(&document, &record.subject)?;
    ballots.check_rate(principal.user.id)?;
    let receipt = ballots.vote(&id, ballot, principal.user.id, vote.choice, now)?;
    let n_voted = ballots.summary(&record)?.n_voted;
    // Never the choice: for a secret ballot the audit log and the events say who voted (or
    // how many), not what.
    state.auth.record(
        principal.actor(&address),
        "ballot.voted",
        Some(format!("document:{id}")),
        json!({ "ballot": ballot, "replaced": receipt.replaced.is_some() }),
    );
    publish(
        &state,
        &id,
        "vote.cast",
        &json!({ "ballot": ballot, "n_voted": n_voted }),
    );
    state.flush().await?;
    Ok(Json(VoteReceiptView {
        ballot,
        document: id,
        choice: vote.choice,
        replaced: receipt.replaced.is_some(),
        n_voted,
    }))
}

// ---------------------------------------------------------------------------------------------
// What needs my decision

/// Query of the decisions list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DecisionsQuery {
    /// Only this document.
    pub document: Option<String>,
}

/// What awaits the caller's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionsView {
    /// Open ballots the caller may vote in and has not voted in yet, oldest first.
    pub ballots: Vec<BallotView>,
    /// Amendments awaiting screening the caller may support (not their own, not yet
    /// supported); delegates and the secretariat.
    pub amendments_to_support: Vec<AmendmentRef>,
    /// Amendments awaiting screening (the secretariat's decisions).
    pub amendments_to_screen: Vec<AmendmentRef>,
}

/// An amendment in a list of decisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentRef {
    pub document: String,
    /// Its number.
    pub amendment: u64,
    /// "A3".
    pub label: String,
}

/// What needs my decision, in every document that is not archived (or in `document`): the
/// open ballots I may vote in and have not voted in yet, the amendments I may support, and
/// for the secretariat the amendments awaiting screening.
#[utoipa::path(
    get,
    path = "/api/me/decisions",
    tag = "votes",
    params(DecisionsQuery),
    responses(
        (status = 200, body = DecisionsView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "document_not_found"),
    )
)]
pub async fn my_decisions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DecisionsQuery>,
) -> Result<Json<DecisionsView>, ApiError> {
    let documents = match &query.document {
        Some(id) => vec![state.documents.get(id)?],
        None => (state.documents.list()?.into_iter())
            .filter(|d| d.phase != Phase::Archived)
            .collect(),
    };
    let mut names = Names::default();
    let mut ballots = Vec::new();
    for document in &documents {
        for record in state.documents.ballots.list(&document.id)? {
            if record.status != BallotStatus::Open || !record.is_eligible(principal.user.id) {
                continue;
            }
            let view = view(&state, document, &record, &principal, &mut names)?;
            if view.can_vote && !view.voted {
                ballots.push(view);
            }
        }
    }
    ballots.sort_by_key(|view| view.ballot.id);
    let mut amendments_to_support = Vec::new();
    let mut amendments_to_screen = Vec::new();
    for document in &documents {
        let (support, screen) = super::amendments::decisions(
            &state,
            &document.id,
            principal.user.id,
            principal.user.role,
        )?;
        let refs = |numbers: Vec<u64>| {
            numbers.into_iter().map(|n| AmendmentRef {
                document: document.id.clone(),
                amendment: n,
                label: format!("A{n}"),
            })
        };
        amendments_to_support.extend(refs(support));
        amendments_to_screen.extend(refs(screen));
    }
    Ok(Json(DecisionsView {
        ballots,
        amendments_to_support,
        amendments_to_screen,
    }))
}
