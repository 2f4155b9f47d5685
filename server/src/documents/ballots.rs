//! Ballots and votes: a ballot on one amendment, or the final ballot on adopting the whole
//! text, with its rules frozen when it opens, one live vote per eligible person, and an
//! outcome computed from the stored votes when it closes.
//!
//! Storage (sled, never the shared document):
//!
//! - `ballots`: document id, `0`, ballot id (u64 big-endian) → JSON [`BallotRecord`] (the
//!   rules, the eligible voters snapshotted at opening, status, who closed it and the outcome
//!   declared at close, and once closed the sorted ids of who voted);
//! - `votes`: ballot id (u64 BE) + voter id (u64 BE) → JSON [`Choice`]. The key *is* the
//!   rule "one live vote per person per ballot": a vote is written in a sled transaction that
//!   also reads the ballot's status, so a changed vote replaces the earlier one atomically and
//!   no vote lands once closing has begun;
//! - `ballot_tallies`: ballot id (u64 BE) → JSON list of choices, shuffled with the operating
//!   system's CSPRNG, for closed secret ballots.
//!
//! Secrecy: the link between a person and their choice (the `votes` key) exists only while a
//! secret ballot is open, so that a voter can change their vote. Closing runs in two steps:
//! a transaction marks the ballot `closing` (every later vote transaction sees it and is
//! refused), then the votes are read and one transaction across the three trees deletes every
//! `votes` entry of the ballot, writes the anonymous shuffled list and the sorted voter ids,
//! and marks it `closed` with its outcome. A server stopped between the two steps finishes the
//! close when it starts ([`Ballots::finish_interrupted`]). Roll-call ballots keep their votes,
//! which become public at close.
//!
//! Tallies are never kept as counters: they are recomputed from the records every time (the
//! votes while open, the anonymous list or the roll-call votes once closed), and
//! [`Ballots::recount`] recomputes the outcome next to the one declared at close.
//!
//! This module decides who may vote and when, but knows nothing of HTTP: the API maps
//! [`BallotError`] to status codes and checks phases and roles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, UnabortableTransactionError,
};
use thiserror::Error;
use tokio::sync::{broadcast, Notify};
use utoipa::ToSchema;

use super::{Documents, Phase};
use crate::auth::limits::{Limit, Limited};
use crate::auth::{Actor, Auth};

/// Longest question of a ballot, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Votes (first votes and changes) a person may send at once…
pub const VOTE_BURST: u32 = 30;
/// …and then one per this period.
pub const VOTE_PERIOD: Duration = Duration::from_secs(1);
/// Closed ballots the `closed` channel holds for a slow subscriber.
const CLOSED_QUEUE: usize = 64;
/// Longest sleep of the deadline watcher when no deadline is nearer.
const WATCH_AT_MOST_SECS: i64 = 60;

/// A voter's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

/// What a ballot decides. A group of conflicting amendments is put to the vote as one ballot
/// per amendment, one after another (the amendments module opens them in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BallotSubject {
    /// Adopting one amendment (voted in the Voting phase).
    Amendment { amendment: u64 },
    /// Adopting the whole text (voted in the Final vote phase).
    FinalText,
}

impl BallotSubject {
    /// The phase in which ballots on this subject are opened and voted.
    pub fn phase(&self) -> Phase {
        match self {
            BallotSubject::Amendment { .. } => Phase::Voting,
            BallotSubject::FinalText => Phase::FinalVote,
        }
    }

    /// The question asked when the secretariat gives none.
    pub fn default_question(&self) -> String {
        match self {
            BallotSubject::Amendment { amendment } => format!("Adopt amendment {amendment}?"),
            BallotSubject::FinalText => "Adopt the Manifesto as a whole?".into(),
        }
    }
}

/// Which majority adopts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Majority {
    /// More yes than no; abstentions not counted. A tie rejects.
    Simple,
    /// Yes from more than half of the eligible voters (`2 × yes > n_eligible`).
    Absolute,
    /// At least two thirds of the votes cast (`3 × yes ≥ 2 × (yes + no)`, and at least one
    /// yes); abstentions not counted.
    TwoThirds,
}

/// Who can see who voted what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Who voted is listed; the link between a person and their choice is destroyed at
    /// close, leaving an anonymous shuffled list of choices.
    Secret,
    /// Each vote is public once the ballot closes.
    RollCall,
}

/// When counts are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultsShown {
    /// Only once the ballot closes.
    #[default]
    Hidden,
    /// While it is open, too.
    Live,
}

/// The rules of a ballot, chosen when it opens and frozen then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BallotRules {
    pub majority: Majority,
    /// Share of the eligible voters who must take part (yes, no or abstain), in (0, 1],
    /// e.g. `0.5`; absent or `null`: no quorum. Below it the ballot is void.
    #[serde(default)]
    pub quorum: Option<f64>,
    pub visibility: Visibility,
    /// `hidden` (default): counts only once closed.
    #[serde(default)]
    pub results: ResultsShown,
}

impl BallotRules {
    /// Checks the quorum.
    pub fn check(&self) -> Result<(), BallotError> {
        if let Some(share) = self.quorum {
            if !(share.is_finite() && share > 0.0 && share <= 1.0) {
                return Err(BallotError::Invalid(
                    "quorum is a share of the eligible voters, more than 0 and at most 1 (e.g. 0.5)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a ballot takes votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BallotStatus {
    Open,
    /// Closing has begun: no vote is accepted; the outcome is being computed (only seen
    /// after a server stopped in the middle, until it starts again).
    Closing,
    Closed,
}

/// Counts of choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
}

impl Tally {
    /// The counts of `choices`.
    pub fn of<'a>(choices: impl IntoIterator<Item = &'a Choice>) -> Tally {
        let mut tally = Tally::default();
        for choice in choices {
            match choice {
                Choice::Yes => tally.yes += 1,
                Choice::No => tally.no += 1,
                Choice::Abstain => tally.abstain += 1,
            }
        }
        tally
    }

    /// Everyone who took part (abstentions included).
    pub fn n_voted(&self) -> u32 {
        self.yes + self.no + self.abstain
    }
}

/// What a ballot decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BallotResult {
    Adopted,
    Rejected,
    /// The quorum was not met: nothing was decided.
    Void,
}

impl BallotResult {
    fn as_str(self) -> &'static str {
        match self {
            BallotResult::Adopted => "adopted",
            BallotResult::Rejected => "rejected",
            BallotResult::Void => "void",
        }
    }
}

/// The outcome of a ballot, with the rule and the counts in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Outcome {
    pub result: BallotResult,
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
    pub n_eligible: u32,
    pub n_voted: u32,
    /// People who had to take part, when there is a quorum.
    pub quorum_required: Option<u32>,
    /// The rule, e.g. "two-thirds of votes cast required; quorum: 50 of 100 eligible voters".
    pub rule: String,
    /// Result, counts and rule, e.g. "adopted: 41 yes, 12 no, 3 abstentions; two-thirds of
    /// votes cast required".
    pub text: String,
}

/// People who must take part for a quorum of `share` of `n_eligible`: ⌈share × n⌉, computed
/// so that float rounding never asks for one more (0.3 × 10 is 3, not 4).
pub fn quorum_required(share: f64, n_eligible: u32) -> u32 {
    let exact = share * f64::from(n_eligible);
    (exact - 1e-9).ceil().clamp(0.0, f64::from(n_eligible)) as u32
}

/// The outcome of a ballot under `rules` with `tally` among `n_eligible` eligible voters.
///
/// - The quorum (if any) counts everyone who took part, abstentions included: fewer than
///   [`quorum_required`] makes the ballot **void**.
/// - `simple`: adopted when `yes > no` (a tie rejects; abstentions not counted).
/// - `absolute`: adopted when `2 × yes > n_eligible` (yes from strictly more than half of the
///   eligible voters, whoever else voted).
/// - `two_thirds`: adopted when `3 × yes ≥ 2 × (yes + no)` and `yes > 0` (at least two thirds
///   of the votes cast; abstentions not counted; no votes cast rejects).
pub fn outcome(rules: &BallotRules, tally: Tally, n_eligible: u32) -> Outcome {
    let Tally { yes, no, abstain } = tally;
    let n_voted = tally.n_voted();
    let (yes64, no64, eligible64) = (u64::from(yes), u64::from(no), u64::from(n_eligible));
    let quorum = rules.quorum.map(|share| quorum_required(share, n_eligible));
    let majority_rule = match rules.majority {
        Majority::Simple => "more yes than no required".to_owned(),
        Majority::Absolute => {
            format!("more than half of the {n_eligible} eligible voters required")
        }
        Majority::TwoThirds => "two-thirds of votes cast required".to_owned(),
    };
    let rule = match quorum {
        Some(required) => {
            format!("{majority_rule}; quorum: {required} of {n_eligible} eligible voters")
        }
        None => majority_rule,
    };
    let counts = format!(
        "{yes} yes, {no} no, {abstain} {}",
        if abstain == 1 {
            "abstention"
        } else {
            "abstentions"
        }
    );
    let (result, text) = match quorum {
        Some(required) if n_voted < required => (
            BallotResult::Void,
            format!(
                "void: quorum not met ({n_voted} of {n_eligible} eligible voters took part, \
                 {required} required); {counts}"
            ),
        ),
        _ => {
            let adopted = match rules.majority {
                Majority::Simple => yes > no,
                Majority::Absolute => 2 * yes64 > eligible64,
                Majority::TwoThirds => yes > 0 && 3 * yes64 >= 2 * (yes64 + no64),
            };
            let result = if adopted {
                BallotResult::Adopted
            } else {
                BallotResult::Rejected
            };
            (result, format!("{}: {counts}; {rule}", result.as_str()))
        }
    };
    Outcome {
        result,
        yes,
        no,
        abstain,
        n_eligible,
        n_voted,
        quorum_required: quorum,
        rule,
        text,
    }
}

/// A ballot, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BallotRecord {
    pub id: u64,
    pub document: String,
    pub subject: BallotSubject,
    pub question: String,
    pub rules: BallotRules,
    /// Who may vote, sorted: the active delegates (and secretariat accounts if the document
    /// allows it) when the ballot opened.
    pub eligible: Vec<u64>,
    pub status: BallotStatus,
    pub opened_by: u64,
    /// Unix seconds.
    pub opened_at: i64,
    /// When it closes by itself (unix seconds).
    pub deadline: Option<i64>,
    /// Who closed it; `None` once closed when its deadline closed it.
    pub closed_by: Option<u64>,
    /// Unix seconds.
    pub closed_at: Option<i64>,
    /// The outcome declared at close.
    pub outcome: Option<Outcome>,
    /// Once closed: the ids of who voted, sorted (never with their choices).
    #[serde(default)]
    pub voters: Vec<u64>,
}

impl BallotRecord {
    /// Whether its deadline has passed at `now`.
    pub fn deadline_passed(&self, now: i64) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Whether it takes votes at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.status == BallotStatus::Open && !self.deadline_passed(now)
    }

    /// Whether `user` may vote in it.
    pub fn is_eligible(&self, user: u64) -> bool {
        self.eligible.binary_search(&user).is_ok()
    }

    /// Number of eligible voters.
    pub fn n_eligible(&self) -> u32 {
        u32::try_from(self.eligible.len()).unwrap_or(u32::MAX)
    }
}

/// What every member may see of a ballot (the live events carry it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BallotSummary {
    pub id: u64,
    pub document: String,
    pub subject: BallotSubject,
    pub question: String,
    /// Frozen since it opened.
    pub rules: BallotRules,
    pub status: BallotStatus,
    pub opened_by: u64,
    /// RFC 3339.
    pub opened_at: String,
    /// When it closes by itself (RFC 3339).
    pub deadline: Option<String>,
    /// Who closed it (`null` when its deadline did).
    pub closed_by: Option<u64>,
    /// RFC 3339.
    pub closed_at: Option<String>,
    pub n_eligible: u32,
    /// People who have voted so far (a changed vote counts once).
    pub n_voted: u32,
    /// Once closed: the outcome declared at close.
    pub outcome: Option<Outcome>,
}

/// A closed ballot's count, recomputed from the stored records for anyone to check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recount {
    pub ballot: u64,
    pub document: String,
    pub visibility: Visibility,
    /// Every choice counted: for a secret ballot the anonymous list as stored (shuffled at
    /// close); for a roll-call ballot, in the order of the voters' ids.
    pub choices: Vec<Choice>,
    /// The counts of `choices`.
    pub tally: Tally,
    /// The outcome recomputed now from `choices` and the frozen rules.
    pub recomputed: Outcome,
    /// The outcome declared at close.
    pub declared: Option<Outcome>,
    /// Whether both agree.
    pub matches: bool,
}

/// What answers a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteReceipt {
    /// The earlier vote this one replaced, if any.
    pub replaced: Option<Choice>,
}

/// A ballot to open.
#[derive(Debug, Clone)]
pub struct NewBallot {
    pub subject: BallotSubject,
    pub question: String,
    pub rules: BallotRules,
    /// Unix seconds, in the future.
    pub deadline: Option<i64>,
    /// Who may vote (any order; duplicates dropped).
    pub eligible: Vec<u64>,
    pub opened_by: u64,
}

/// A refused or failed ballot operation.
#[derive(Debug, Error)]
pub enum BallotError {
    #[error("no such ballot in this document")]
    NotFound,
    #[error("this ballot is closed")]
    Closed,
    #[error("this ballot is still open: its votes are counted when it closes")]
    StillOpen,
    #[error("an open ballot on this subject already exists")]
    SubjectBusy,
    #[error("you are not among this ballot's eligible voters")]
    NotEligible,
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sled::Error> for BallotError {
    fn from(e: sled::Error) -> BallotError {
        BallotError::Database(e.to_string())
    }
}

impl From<TransactionError<BallotError>> for BallotError {
    fn from(e: TransactionError<BallotError>) -> BallotError {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

fn abort<T>(e: BallotError) -> Result<T, ConflictableTransactionError<BallotError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn storage(e: UnabortableTransactionError) -> ConflictableTransactionError<BallotError> {
    e.into()
}

use super::numbered_key as record_key;

fn vote_key(ballot: u64, voter: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&ballot.to_be_bytes());
    key[8..].copy_from_slice(&voter.to_be_bytes());
    key
}

fn decode_record(bytes: &[u8]) -> Result<BallotRecord, BallotError> {
    serde_json::from_slice(bytes)
        .map_err(|e| BallotError::Database(format!("corrupt ballot record: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, BallotError> {
    serde_json::to_vec(value).map_err(|e| BallotError::Database(e.to_string()))
}

fn decode_choice(bytes: &[u8]) -> Result<Choice, BallotError> {
    serde_json::from_slice(bytes).map_err(|e| BallotError::Database(format!("corrupt vote: {e}")))
}

/// The part of a record a vote's transaction reads.
#[derive(Deserialize)]
struct BallotState {
    status: BallotStatus,
    deadline: Option<i64>,
}

/// The ballots and votes of every document.
pub struct Ballots {
    records: sled::Tree,
    votes: sled::Tree,
    tallies: sled::Tree,
    db: sled::Db,
    /// Serialises opening (one open ballot per subject) and closing (one closer at a time);
    /// held only around synchronous sled calls, never across an await. Votes do not take it:
    /// their transaction reads the ballot's status instead.
    lock: Mutex<()>,
    /// Votes sent per person. Keys are account ids, so memory is bounded by the number of
    /// accounts.
    rate: Limit,
    /// Every ballot as it closes (by the secretariat or its deadline), with its declared
    /// outcome: the amendments module subscribes to apply adopted amendments. No subscriber
    /// is fine.
    pub closed: broadcast::Sender<Arc<BallotRecord>>,
    /// Wakes the deadline watcher when a ballot with a deadline opens.
    deadline_set: Notify,
}

impl Ballots {
    /// The ballots in `db`'s trees `ballots`, `votes` and `ballot_tallies`.
    pub fn open(db: &sled::Db) -> Result<Ballots, sled::Error> {
        Ok(Ballots {
            records: db.open_tree("ballots")?,
            votes: db.open_tree("votes")?,
            tallies: db.open_tree("ballot_tallies")?,
            db: db.clone(),
            lock: Mutex::new(()),
            rate: Limit::new(VOTE_BURST, VOTE_PERIOD),
            closed: broadcast::channel(CLOSED_QUEUE).0,
            deadline_set: Notify::new(),
        })
    }

    /// Counts one vote sent by `user`.
    pub fn check_rate(&self, user: u64) -> Result<(), Limited> {
        self.rate.check(&user.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ballot `id` of `document`.
    pub fn get(&self, document: &str, id: u64) -> Result<BallotRecord, BallotError> {
        let bytes = self
            .records
            .get(record_key(document, id))?
            .ok_or(BallotError::NotFound)?;
        decode_record(&bytes)
    }

    /// Every ballot of `document`, oldest first.
    pub fn list(&self, document: &str) -> Result<Vec<BallotRecord>, BallotError> {
        let prefix = super::prefixed(document, b"");
        let mut all = Vec::new();
        for item in self.records.scan_prefix(prefix) {
            let (_, bytes) = item?;
            match decode_record(&bytes) {
                Ok(record) => all.push(record),
                Err(e) => tracing::error!(%document, error = %e, "skipping a corrupt ballot"),
            }
        }
        Ok(all)
    }

    /// Every ballot of every document.
    fn list_all(&self) -> Result<Vec<BallotRecord>, BallotError> {
        let mut all = Vec::new();
        for item in self.records.iter() {
            let (_, bytes) = item?;
            match decode_record(&bytes) {
                Ok(record) => all.push(record),
                Err(e) => tracing::error!(error = %e, "skipping a corrupt ballot"),
            }
        }
        Ok(all)
    }

    /// Opens a ballot in `document` at `now`. Refused while another ballot on the same
    /// subject is open. The caller checks the phase and the rules' values.
    pub fn open_ballot(
        &self,
        document: &str,
        new: NewBallot,
        now: i64,
    ) -> Result<BallotRecord, BallotError> {
        new.rules.check()?;
        let mut eligible = new.eligible;
        eligible.sort_unstable();
        eligible.dedup();
        let _guard = self.lock();
        let busy = self
            .list(document)?
            .iter()
            .any(|b| b.subject == new.subject && b.status != BallotStatus::Closed);
        if busy {
            return Err(BallotError::SubjectBusy);
        }
        // Ids are unique across the database and increase, so keys sort in opening order.
        let record = BallotRecord {
            id: self.db.generate_id()?,
            document: document.to_owned(),
            subject: new.subject,
            question: new.question,
            rules: new.rules,
            eligible,
            status: BallotStatus::Open,
            opened_by: new.opened_by,
            opened_at: now,
            deadline: new.deadline,
            closed_by: None,
            closed_at: None,
            outcome: None,
            voters: Vec::new(),
        };
        self.records
            .insert(record_key(document, record.id), encode(&record)?)?;
        if record.deadline.is_some() {
            self.deadline_set.notify_one();
        }
        Ok(record)
    }

    /// Records `voter`'s `choice` in ballot `id` at `now`, replacing their earlier vote.
    ///
    /// The vote is written in a transaction that reads the ballot's status: concurrent votes
    /// of one person leave exactly one (the last committed), and none lands once closing has
    /// begun.
    pub fn vote(
        &self,
        document: &str,
        id: u64,
        voter: u64,
        choice: Choice,
        now: i64,
    ) -> Result<VoteReceipt, BallotError> {
        // The eligible voters are frozen at opening, so they can be read outside the
        // transaction; the status cannot.
        let record = self.get(document, id)?;
        if !record.is_open(now) {
            return Err(BallotError::Closed);
        }
        if !record.is_eligible(voter) {
            return Err(BallotError::NotEligible);
        }
        let key = record_key(document, id);
        let vote = vote_key(id, voter);
        let value = encode(&choice)?;
        let replaced = (&self.records, &self.votes).transaction(|(records, votes)| {
            let Some(bytes) = records.get(&key).map_err(storage)? else {
                return abort(BallotError::NotFound);
            };
            let state: BallotState = match serde_json::from_slice(&bytes) {
                Ok(state) => state,
                Err(e) => return abort(BallotError::Database(e.to_string())),
            };
            if state.status != BallotStatus::Open
                || state.deadline.is_some_and(|deadline| now >= deadline)
            {
                return abort(BallotError::Closed);
            }
            let previous = votes.insert(&vote[..], value.as_slice()).map_err(storage)?;
            Ok(previous)
        })?;
        let replaced = replaced.map(|bytes| decode_choice(&bytes)).transpose()?;
        Ok(VoteReceipt { replaced })
    }

    /// `voter`'s current vote in an open ballot (`None` once closed: a secret ballot no
    /// longer knows it, and a roll-call ballot shows every vote instead).
    pub fn vote_of(
        &self,
        record: &BallotRecord,
        voter: u64,
    ) -> Result<Option<Choice>, BallotError> {
        if record.status == BallotStatus::Closed {
            return Ok(None);
        }
        self.votes
            .get(vote_key(record.id, voter))?
            .map(|bytes| decode_choice(&bytes))
            .transpose()
    }

    /// Whether `voter` has voted in the ballot.
    pub fn has_voted(&self, record: &BallotRecord, voter: u64) -> Result<bool, BallotError> {
        if record.status == BallotStatus::Closed {
            return Ok(record.voters.binary_search(&voter).is_ok());
        }
        Ok(self.votes.contains_key(vote_key(record.id, voter))?)
    }

    /// The stored votes of ballot `id`, by voter id (while open; for roll-call ballots also
    /// once closed).
    fn stored_votes(&self, id: u64) -> Result<Vec<(u64, Choice)>, BallotError> {
        let mut all = Vec::new();
        for item in self.votes.scan_prefix(id.to_be_bytes()) {
            let (key, bytes) = item?;
            let voter = key
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| BallotError::Database("corrupt vote key".into()))?;
            all.push((voter, decode_choice(&bytes)?));
        }
        Ok(all)
    }

    /// Every choice counted in the ballot now, recomputed from the records: the votes while
    /// open, the anonymous list of a closed secret ballot, the votes of a closed roll-call
    /// ballot.
    pub fn choices(&self, record: &BallotRecord) -> Result<Vec<Choice>, BallotError> {
        if record.status == BallotStatus::Closed && record.rules.visibility == Visibility::Secret {
            return match self.tallies.get(record.id.to_be_bytes())? {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| BallotError::Database(format!("corrupt tally: {e}"))),
                None => Ok(Vec::new()),
            };
        }
        Ok(self
            .stored_votes(record.id)?
            .into_iter()
            .map(|(_, choice)| choice)
            .collect())
    }

    /// The counts of the ballot now, recomputed from the records.
    pub fn tally(&self, record: &BallotRecord) -> Result<Tally, BallotError> {
        Ok(Tally::of(&self.choices(record)?))
    }

    /// Who voted: the voters' ids, sorted (from the votes while open, from the record once
    /// closed).
    pub fn voters(&self, record: &BallotRecord) -> Result<Vec<u64>, BallotError> {
        if record.status == BallotStatus::Closed {
            return Ok(record.voters.clone());
        }
        Ok(self
            .stored_votes(record.id)?
            .into_iter()
            .map(|(voter, _)| voter)
            .collect())
    }

    /// Each vote of a closed roll-call ballot, by voter id (empty for any other ballot).
    pub fn roll_call(&self, record: &BallotRecord) -> Result<Vec<(u64, Choice)>, BallotError> {
        if record.status != BallotStatus::Closed || record.rules.visibility != Visibility::RollCall
        {
            return Ok(Vec::new());
        }
        self.stored_votes(record.id)
    }

    /// What every member may see of the ballot.
    pub fn summary(&self, record: &BallotRecord) -> Result<BallotSummary, BallotError> {
        let n_voted = if record.status == BallotStatus::Closed {
            record.voters.len()
        } else {
            self.votes.scan_prefix(record.id.to_be_bytes()).count()
        };
        Ok(BallotSummary {
            id: record.id,
            document: record.document.clone(),
            subject: record.subject.clone(),
            question: record.question.clone(),
            rules: record.rules.clone(),
            status: record.status,
            opened_by: record.opened_by,
            opened_at: crate::api::timestamp(record.opened_at),
            deadline: record.deadline.map(crate::api::timestamp),
            closed_by: record.closed_by,
            closed_at: record.closed_at.map(crate::api::timestamp),
            n_eligible: record.n_eligible(),
            n_voted: u32::try_from(n_voted).unwrap_or(u32::MAX),
            outcome: record.outcome.clone(),
        })
    }

    /// Recomputes a closed ballot's outcome from its stored choices.
    pub fn recount(&self, record: &BallotRecord) -> Result<Recount, BallotError> {
        if record.status != BallotStatus::Closed {
            return Err(BallotError::StillOpen);
        }
        let choices = self.choices(record)?;
        let tally = Tally::of(&choices);
        let recomputed = outcome(&record.rules, tally, record.n_eligible());
        Ok(Recount {
            ballot: record.id,
            document: record.document.clone(),
            visibility: record.rules.visibility,
            choices,
            tally,
            matches: record.outcome.as_ref() == Some(&recomputed),
            recomputed,
            declared: record.outcome.clone(),
        })
    }

    /// Closes ballot `id` at `now` (`by` the secretariat, or `None` for its deadline):
    /// computes the outcome from the stored votes and, for a secret ballot, destroys the link
    /// between voters and choices. Announces it on [`Ballots::closed`].
    pub fn close(
        &self,
        document: &str,
        id: u64,
        by: Option<u64>,
        now: i64,
    ) -> Result<Arc<BallotRecord>, BallotError> {
        let _guard = self.lock();
        let key = record_key(document, id);
        // Step 1: no vote is accepted from here on (each vote's transaction reads this).
        let closing = self.records.transaction(|records| {
            let Some(bytes) = records.get(&key).map_err(storage)? else {
                return abort(BallotError::NotFound);
            };
            let mut record = match decode_record(&bytes) {
                Ok(record) => record,
                Err(e) => return abort(e),
            };
            match record.status {
                BallotStatus::Closed => return abort(BallotError::Closed),
                // Left by a close interrupted by a stop: finish it.
                BallotStatus::Closing => return Ok(record),
                BallotStatus::Open => {}
            }
            record.status = BallotStatus::Closing;
            record.closed_by = by;
            record.closed_at = Some(now);
            let bytes = match encode(&record) {
                Ok(bytes) => bytes,
                Err(e) => return abort(e),
            };
            records.insert(key.as_slice(), bytes).map_err(storage)?;
            Ok(record)
        })?;
        self.finish_close(closing)
    }

    /// Step 2 of closing a ballot marked `closing`: count, anonymise, mark closed, in one
    /// transaction.
    fn finish_close(&self, record: BallotRecord) -> Result<Arc<BallotRecord>, BallotError> {
        let key = record_key(&record.document, record.id);
        // Stable: the ballot is marked closing, so no vote transaction writes any more.
        let votes = self.stored_votes(record.id)?;
        let mut choices: Vec<Choice> = votes.iter().map(|(_, choice)| *choice).collect();
        let tally = Tally::of(&choices);
        let mut closed = record;
        closed.outcome = Some(outcome(&closed.rules, tally, closed.n_eligible()));
        closed.voters = votes.iter().map(|(voter, _)| *voter).collect();
        closed.voters.sort_unstable();
        closed.status = BallotStatus::Closed;
        let secret = closed.rules.visibility == Visibility::Secret;
        let anonymous = if secret {
            // The order of the stored votes follows the voters' ids: shuffle it away.
            choices.shuffle(&mut rand::rngs::OsRng);
            Some(encode(&choices)?)
        } else {
            None
        };
        let closed_bytes = encode(&closed)?;
        let vote_keys: Vec<[u8; 16]> = votes
            .iter()
            .map(|(voter, _)| vote_key(closed.id, *voter))
            .collect();
        let tally_key = closed.id.to_be_bytes();
        (&self.records, &self.votes, &self.tallies).transaction(|(records, stored, tallies)| {
            let Some(bytes) = records.get(&key).map_err(storage)? else {
                return abort(BallotError::NotFound);
            };
            match serde_json::from_slice::<BallotState>(&bytes) {
                Ok(state) if state.status == BallotStatus::Closing => {}
                Ok(_) => return abort(BallotError::Closed),
                Err(e) => return abort(BallotError::Database(e.to_string())),
            }
            if let Some(anonymous) = &anonymous {
                for vote in &vote_keys {
                    stored.remove(&vote[..]).map_err(storage)?;
                }
                tallies
                    .insert(&tally_key[..], anonymous.as_slice())
                    .map_err(storage)?;
            }
            records
                .insert(key.as_slice(), closed_bytes.as_slice())
                .map_err(storage)?;
            Ok(())
        })?;
        let closed = Arc::new(closed);
        // No subscriber is fine.
        let _ = self.closed.send(closed.clone());
        Ok(closed)
    }

    /// Finishes every close a stop interrupted; returns the ballots it closed.
    pub fn finish_interrupted(&self) -> Result<Vec<Arc<BallotRecord>>, BallotError> {
        let _guard = self.lock();
        let mut finished = Vec::new();
        for record in self.list_all()? {
            if record.status == BallotStatus::Closing {
                finished.push(self.finish_close(record)?);
            }
        }
        Ok(finished)
    }

    /// Open ballots whose deadline has passed at `now`, and the nearest deadline still ahead.
    fn due(&self, now: i64) -> Result<(Vec<BallotRecord>, Option<i64>), BallotError> {
        let mut due = Vec::new();
        let mut next = None;
        for record in self.list_all()? {
            let (BallotStatus::Open, Some(deadline)) = (record.status, record.deadline) else {
                continue;
            };
            if deadline <= now {
                due.push(record);
            } else {
                next = Some(next.map_or(deadline, |n: i64| n.min(deadline)));
            }
        }
        Ok((due, next))
    }
}

/// The data of the `ballot.closed` event and audit entry.
pub fn closed_details(record: &BallotRecord) -> serde_json::Value {
    serde_json::json!({
        "ballot": record.id,
        "subject": record.subject,
        "closed_by": record.closed_by,
        "outcome": record.outcome,
    })
}

impl Documents {
    /// Closes ballots whose deadline has passed (and finishes closes a stop interrupted),
    /// announcing each, until `shutdown`. Sleeps until the nearest deadline (at most a
    /// minute), woken when a ballot with a deadline opens.
    pub async fn watch_ballot_deadlines(
        self: Arc<Self>,
        auth: Arc<Auth>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let now = super::now();
            let mut closed = match self.ballots.finish_interrupted() {
                Ok(closed) => closed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not finish interrupted ballot closes");
                    Vec::new()
                }
            };
            let mut next_due = None;
            match self.ballots.due(now) {
                Ok((due, next)) => {
                    next_due = next;
                    for record in due {
                        match self.ballots.close(&record.document, record.id, None, now) {
                            Ok(record) => closed.push(record),
                            // Closed meanwhile by the secretariat.
                            Err(BallotError::Closed) => {}
                            Err(e) => {
                                tracing::warn!(ballot = record.id, error = %e, "could not close a ballot at its deadline")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the ballots"),
            }
            for record in &closed {
                self.announce_closed(&auth, Actor::server(), record);
            }
            if let (false, Ok(rooms)) = (closed.is_empty(), self.rooms()) {
                if let Err(e) = rooms.flush().await {
                    tracing::warn!(error = %e, "could not flush closed ballots");
                }
            }
            let wait_secs = next_due
                .map(|due| (due - now).clamp(0, WATCH_AT_MOST_SECS))
                .unwrap_or(WATCH_AT_MOST_SECS) as u64;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.ballots.deadline_set.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait_secs * 1000 + 50)) => {}
            }
        }
    }

    /// Audits and publishes a ballot's close (the caller flushes).
    pub fn announce_closed(&self, auth: &Auth, actor: Actor, record: &BallotRecord) {
        let details = closed_details(record);
        auth.record(
            actor,
            "ballot.closed",
            Some(format!("document:{}", record.document)),
            details,
        );
        match self.ballots.summary(record) {
            Ok(summary) => {
                let data = serde_json::to_value(&summary).unwrap_or(serde_json::Value::Null);
                if let Err(e) = self.events.publish(&record.document, "ballot.closed", data) {
                    tracing::error!(document = %record.document, error = %e, "could not record a ballot event");
                }
            }
            Err(e) => {
                tracing::error!(ballot = record.id, error = %e, "could not summarise a ballot")
            }
        }
        if let Some(outcome) = &record.outcome {
            tracing::info!(document = %record.document, ballot = record.id, outcome = %outcome.text, "ballot closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(majority: Majority, quorum: Option<f64>) -> BallotRules {
        BallotRules {
            majority,
            quorum,
            visibility: Visibility::Secret,
            results: ResultsShown::Hidden,
        }
    }

    fn tally(yes: u32, no: u32, abstain: u32) -> Tally {
        Tally { yes, no, abstain }
    }

    fn result(majority: Majority, quorum: Option<f64>, t: Tally, n_eligible: u32) -> BallotResult {
        outcome(&rules(majority, quorum), t, n_eligible).result
    }

    use BallotResult::{Adopted, Rejected, Void};
    use Majority::{Absolute, Simple, TwoThirds};

    #[test]
    fn simple_majority_needs_more_yes_than_no_and_ignores_abstentions() {
        assert_eq!(result(Simple, None, tally(3, 2, 0), 10), Adopted);
        assert_eq!(result(Simple, None, tally(3, 2, 50), 100), Adopted);
        assert_eq!(result(Simple, None, tally(2, 2, 0), 10), Rejected, "a tie");
        assert_eq!(result(Simple, None, tally(2, 2, 5), 10), Rejected, "a tie");
        assert_eq!(result(Simple, None, tally(1, 0, 0), 100), Adopted);
        assert_eq!(result(Simple, None, tally(0, 0, 7), 10), Rejected);
        assert_eq!(result(Simple, None, tally(0, 0, 0), 10), Rejected);
        assert_eq!(result(Simple, None, tally(0, 0, 0), 0), Rejected);
    }

    #[test]
    fn absolute_majority_needs_yes_from_more_than_half_of_the_eligible() {
        assert_eq!(result(Absolute, None, tally(51, 0, 0), 100), Adopted);
        assert_eq!(
            result(Absolute, None, tally(50, 0, 0), 100),
            Rejected,
            "half is not more"
        );
        assert_eq!(result(Absolute, None, tally(50, 10, 40), 100), Rejected);
        assert_eq!(result(Absolute, None, tally(51, 49, 0), 100), Adopted);
        assert_eq!(result(Absolute, None, tally(51, 0, 0), 101), Adopted);
        assert_eq!(result(Absolute, None, tally(50, 0, 0), 101), Rejected);
        // Abstentions and no votes are alike: only yes counts against the eligible.
        assert_eq!(result(Absolute, None, tally(3, 0, 2), 5), Adopted);
        assert_eq!(result(Absolute, None, tally(2, 0, 3), 5), Rejected);
        assert_eq!(result(Absolute, None, tally(0, 0, 0), 0), Rejected);
    }

    #[test]
    fn two_thirds_of_votes_cast_is_at_least_two_thirds_of_yes_and_no() {
        assert_eq!(
            result(TwoThirds, None, tally(2, 1, 0), 10),
            Adopted,
            "exactly 2/3"
        );
        assert_eq!(result(TwoThirds, None, tally(2, 1, 100), 200), Adopted);
        assert_eq!(result(TwoThirds, None, tally(41, 12, 3), 60), Adopted);
        assert_eq!(
            result(TwoThirds, None, tally(20, 11, 0), 40),
            Rejected,
            "60 < 62"
        );
        assert_eq!(
            result(TwoThirds, None, tally(66, 34, 0), 100),
            Rejected,
            "198 < 200"
        );
        assert_eq!(
            result(TwoThirds, None, tally(67, 33, 0), 100),
            Adopted,
            "201 >= 200"
        );
        assert_eq!(result(TwoThirds, None, tally(1, 0, 0), 100), Adopted);
        assert_eq!(
            result(TwoThirds, None, tally(0, 0, 9), 10),
            Rejected,
            "no vote cast"
        );
        assert_eq!(result(TwoThirds, None, tally(0, 0, 0), 10), Rejected);
        assert_eq!(
            result(TwoThirds, None, tally(1, 1, 0), 10),
            Rejected,
            "a tie"
        );
    }

    #[test]
    fn a_quorum_counts_everyone_who_took_part() {
        let q = Some(0.5);
        assert_eq!(result(Simple, q, tally(40, 9, 0), 100), Void, "49 of 50");
        assert_eq!(
            result(Simple, q, tally(40, 9, 1), 100),
            Adopted,
            "an abstention counts"
        );
        assert_eq!(result(Simple, q, tally(9, 40, 1), 100), Rejected);
        assert_eq!(
            result(Simple, q, tally(26, 0, 0), 101),
            Void,
            "ceil(50.5) = 51"
        );
        assert_eq!(result(Simple, q, tally(51, 0, 0), 101), Adopted);
        assert_eq!(
            result(TwoThirds, q, tally(0, 0, 50), 100),
            Rejected,
            "met, no vote cast"
        );
        assert_eq!(result(Absolute, Some(1.0), tally(6, 0, 0), 7), Void);
        assert_eq!(result(Absolute, Some(1.0), tally(6, 0, 1), 7), Adopted);
        assert_eq!(
            result(Simple, q, tally(0, 0, 0), 0),
            Rejected,
            "nobody to wait for"
        );
        assert_eq!(quorum_required(0.3, 10), 3, "no float rounding up");
        assert_eq!(quorum_required(0.1, 30), 3);
        assert_eq!(quorum_required(0.5, 3), 2);
        assert_eq!(quorum_required(1.0, 1500), 1500);
        assert_eq!(quorum_required(0.0001, 5), 1);
    }

    #[test]
    fn outcomes_are_stated_in_words() {
        let adopted = outcome(&rules(TwoThirds, None), tally(41, 12, 3), 60);
        assert_eq!(
            adopted.text,
            "adopted: 41 yes, 12 no, 3 abstentions; two-thirds of votes cast required"
        );
        assert_eq!(adopted.n_voted, 56);
        let rejected = outcome(&rules(Simple, None), tally(10, 10, 1), 30);
        assert_eq!(
            rejected.text,
            "rejected: 10 yes, 10 no, 1 abstention; more yes than no required"
        );
        let absolute = outcome(&rules(Absolute, Some(0.5)), tally(60, 30, 5), 100);
        assert_eq!(
            absolute.text,
            "adopted: 60 yes, 30 no, 5 abstentions; more than half of the 100 eligible voters \
             required; quorum: 50 of 100 eligible voters"
        );
        let void = outcome(&rules(Simple, Some(0.5)), tally(10, 15, 5), 100);
        assert_eq!(
            void.text,
            "void: quorum not met (30 of 100 eligible voters took part, 50 required); 10 yes, \
             15 no, 5 abstentions"
        );
        assert_eq!(void.quorum_required, Some(50));
    }

    #[test]
    fn quorums_outside_zero_to_one_are_refused() {
        for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
            assert!(rules(Simple, Some(bad)).check().is_err(), "{bad}");
        }
        assert!(rules(Simple, Some(1.0)).check().is_ok());
        assert!(rules(Simple, None).check().is_ok());
    }

    fn store() -> (sled::Db, Ballots) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let ballots = Ballots::open(&db).expect("ballots");
        (db, ballots)
    }

    fn new_ballot(visibility: Visibility, eligible: Vec<u64>) -> NewBallot {
        NewBallot {
            subject: BallotSubject::Amendment { amendment: 7 },
            question: "Adopt amendment 7?".into(),
            rules: BallotRules {
                visibility,
                ..rules(Simple, None)
            },
            deadline: None,
            eligible,
            opened_by: 1,
        }
    }

    #[test]
    fn one_live_vote_per_person_replaced_until_close() {
        let (_db, ballots) = store();
        let ballot = ballots
            .open_ballot(
                "d",
                new_ballot(Visibility::RollCall, vec![12, 10, 11, 10]),
                100,
            )
            .expect("open");
        assert_eq!(
            ballot.eligible,
            vec![10, 11, 12],
            "sorted, duplicates dropped"
        );
        let first = ballots
            .vote("d", ballot.id, 10, Choice::No, 101)
            .expect("vote");
        assert_eq!(first.replaced, None);
        let second = ballots
            .vote("d", ballot.id, 10, Choice::Yes, 102)
            .expect("change");
        assert_eq!(second.replaced, Some(Choice::No));
        ballots
            .vote("d", ballot.id, 11, Choice::Abstain, 102)
            .expect("vote");
        assert!(matches!(
            ballots.vote("d", ballot.id, 13, Choice::Yes, 102),
            Err(BallotError::NotEligible)
        ));
        assert_eq!(ballots.tally(&ballot).expect("tally"), tally(1, 0, 1));
        let closed = ballots.close("d", ballot.id, Some(1), 103).expect("close");
        assert_eq!(closed.voters, vec![10, 11]);
        assert_eq!(closed.outcome.as_ref().map(|o| o.result), Some(Adopted));
        assert!(matches!(
            ballots.vote("d", ballot.id, 12, Choice::No, 104),
            Err(BallotError::Closed)
        ));
        assert!(matches!(
            ballots.close("d", ballot.id, Some(1), 104),
            Err(BallotError::Closed)
        ));
        // Roll call: the votes stay, public now.
        assert_eq!(
            ballots.roll_call(&closed).expect("roll call"),
            vec![(10, Choice::Yes), (11, Choice::Abstain)]
        );
        let recount = ballots.recount(&closed).expect("recount");
        assert!(recount.matches);
    }

    #[test]
    fn closing_a_secret_ballot_leaves_only_an_anonymous_list() {
        let (_db, ballots) = store();
        let eligible: Vec<u64> = (100..140).collect();
        let ballot = ballots
            .open_ballot("d", new_ballot(Visibility::Secret, eligible.clone()), 100)
            .expect("open");
        for (i, voter) in eligible.iter().enumerate().take(30) {
            let choice = [Choice::Yes, Choice::No, Choice::Abstain][i % 3];
            ballots
                .vote("d", ballot.id, *voter, choice, 101)
                .expect("vote");
        }
        assert_eq!(
            ballots.vote_of(&ballot, 100).expect("mine"),
            Some(Choice::Yes)
        );
        let closed = ballots.close("d", ballot.id, None, 102).expect("close");
        assert!(ballots.stored_votes(ballot.id).expect("votes").is_empty());
        assert_eq!(closed.voters, eligible[..30].to_vec());
        assert!(!ballots.has_voted(&closed, 135).expect("voted"));
        assert!(ballots.has_voted(&closed, 100).expect("voted"));
        assert_eq!(ballots.vote_of(&closed, 100).expect("mine"), None);
        let recount = ballots.recount(&closed).expect("recount");
        assert_eq!(recount.tally, tally(10, 10, 10));
        assert!(recount.matches);
        assert_eq!(recount.recomputed.result, Rejected, "a tie");
        assert!(ballots.roll_call(&closed).expect("roll call").is_empty());
    }

    #[test]
    fn one_open_ballot_per_subject() {
        let (_db, ballots) = store();
        let first = ballots
            .open_ballot("d", new_ballot(Visibility::Secret, vec![1]), 100)
            .expect("open");
        assert!(matches!(
            ballots.open_ballot("d", new_ballot(Visibility::Secret, vec![1]), 100),
            Err(BallotError::SubjectBusy)
        ));
        ballots
            .open_ballot("e", new_ballot(Visibility::Secret, vec![1]), 100)
            .expect("another document");
        ballots.close("d", first.id, Some(1), 101).expect("close");
        ballots
            .open_ballot("d", new_ballot(Visibility::Secret, vec![1]), 102)
            .expect("again once closed");
    }

    #[test]
    fn an_interrupted_close_is_finished_and_votes_stay_refused_meanwhile() {
        let (_db, ballots) = store();
        let ballot = ballots
            .open_ballot("d", new_ballot(Visibility::Secret, vec![1, 2]), 100)
            .expect("open");
        ballots
            .vote("d", ballot.id, 1, Choice::Yes, 101)
            .expect("vote");
        // Step 1 alone, as if the server stopped right after it.
        let mut closing = ballots.get("d", ballot.id).expect("record");
        closing.status = BallotStatus::Closing;
        closing.closed_at = Some(102);
        ballots
            .records
            .insert(
                record_key("d", ballot.id),
                encode(&closing).expect("encode"),
            )
            .expect("insert");
        assert!(matches!(
            ballots.vote("d", ballot.id, 2, Choice::No, 103),
            Err(BallotError::Closed)
        ));
        let finished = ballots.finish_interrupted().expect("finish");
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].status, BallotStatus::Closed);
        assert_eq!(finished[0].outcome.as_ref().map(|o| o.yes), Some(1));
        assert!(ballots.stored_votes(ballot.id).expect("votes").is_empty());
    }

    #[test]
    fn a_passed_deadline_refuses_votes_and_makes_the_ballot_due() {
        let (_db, ballots) = store();
        let mut new = new_ballot(Visibility::Secret, vec![1]);
        new.deadline = Some(200);
        let ballot = ballots.open_ballot("d", new, 100).expect("open");
        ballots
            .vote("d", ballot.id, 1, Choice::Yes, 199)
            .expect("in time");
        assert!(matches!(
            ballots.vote("d", ballot.id, 1, Choice::No, 200),
            Err(BallotError::Closed)
        ));
        let (due, next) = ballots.due(150).expect("due");
        assert!(due.is_empty());
        assert_eq!(next, Some(200));
        let (due, _) = ballots.due(200).expect("due");
        assert_eq!(due.len(), 1);
    }
}
