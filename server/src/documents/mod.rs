//! Documents: the records that make a live yrs document a Manifesto in a drafting process.
//!
//! A document record (sled tree `document_records`) holds the metadata, the phase with its deadline
//! and history, and settings; the text itself stays in the live document of the same name
//! (see [`crate::text`]). This module also keeps, per document, the ids ever given to its
//! blocks (so none is reused), its named versions (the structured text at that moment, so a
//! version stays readable whatever compaction does to the live log), and its live events.
//!
//! It plugs into the rooms through [`RoomHooks`]: the rooms ask whether the text is open
//! (phase and deadline), let it normalise ids after every change, and report what is durable.

pub mod amendments;
pub mod ballots;
pub mod comments;
pub mod events;
pub mod phase;
mod versions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use manifesto_protocol::yrs;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;
use utoipa::ToSchema;
use yrs::{ReadTxn, Transact, TransactionMut, WriteTxn, XmlFragment};

pub use events::{CatchUp, Event, EventLog};
pub use phase::{check_transition, Direction, Phase, TransitionError};
pub use versions::{VersionKind, VersionRecord, VersionSummary};

use crate::rooms::{JobError, RoomHooks, Rooms};
use crate::text::{
    normalize_ids, read_sections, write_manuscript, IdIssuer, ManuscriptDraft, Metadata, Section,
    FRAGMENT_NAME,
};

/// A document's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// The document's name: its `/ws/{id}` path and API id.
    pub id: String,
    /// Title, forum, place, dates, language(s), description.
    pub metadata: Metadata,
    /// Where it stands.
    pub phase: Phase,
    /// When the current phase's actions close (unix seconds), if set.
    pub deadline: Option<i64>,
    /// When the current phase began (unix seconds).
    pub phase_since: i64,
    /// For an archived document, the phase it was archived from.
    pub archived_from: Option<Phase>,
    /// Phases in which members may comment.
    pub comment_phases: Vec<Phase>,
    /// Whether secretariat accounts vote in ballots too (active delegates always do).
    #[serde(default)]
    pub secretariat_votes: bool,
    /// The highest ballot id when the document last entered the Final vote phase: only a
    /// final ballot opened after it can adopt the text.
    #[serde(default)]
    pub final_vote_after_ballot: u64,
    /// Every phase change, oldest first.
    pub transitions: Vec<Transition>,
    /// Number of the next named version.
    pub next_version: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// Account that created it.
    pub created_by: u64,
    /// The deadline whose passing was last announced (so it is announced once).
    #[serde(default)]
    pub deadline_announced: Option<i64>,
    /// Supporters an amendment needs before it can be screened.
    #[serde(default)]
    pub min_supporters: u32,
    /// Pending amendments one person may have on this document.
    #[serde(default = "default_max_pending")]
    pub max_pending_amendments: u32,
}

fn default_max_pending() -> u32 {
    10
}

impl DocumentRecord {
    /// Whether the current phase's deadline has passed at `now`.
    pub fn deadline_passed(&self, now: i64) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Whether members may edit the text live at `now`.
    pub fn text_open(&self, now: i64) -> bool {
        self.phase.text_is_live() && !self.deadline_passed(now)
    }

    /// Whether members may comment at `now`.
    pub fn comments_open(&self, now: i64) -> bool {
        self.comment_phases.contains(&self.phase) && !self.deadline_passed(now)
    }

    /// The title, or the id when it has none.
    pub fn title(&self) -> &str {
        self.metadata.title.as_deref().unwrap_or(&self.id)
    }
}

/// One phase change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub direction: Direction,
    /// Account that made it.
    pub by: u64,
    /// Unix seconds.
    pub at: i64,
    pub reason: Option<String>,
    /// Deadline set for the new phase (unix seconds).
    pub deadline: Option<i64>,
    /// The named version taken at the change.
    pub version: u64,
}

/// What a new document starts with.
pub enum InitialText {
    /// Nothing.
    Empty,
    /// A draft to write (the template, an import, the demo).
    Draft(Box<ManuscriptDraft>),
}

/// A failure of a document operation.
#[derive(Debug, Error)]
pub enum DocumentError {
    #[error("no such document")]
    NotFound,
    #[error("a document with this id already exists")]
    Exists,
    #[error("{0}")]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Invalid(String),
    #[error("no such version")]
    VersionNotFound,
    #[error("the text could not be written: {0}")]
    Write(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("document unavailable: {0}")]
    Room(String),
}

impl From<sled::Error> for DocumentError {
    fn from(e: sled::Error) -> DocumentError {
        DocumentError::Database(e.to_string())
    }
}

impl From<JobError> for DocumentError {
    fn from(e: JobError) -> DocumentError {
        DocumentError::Room(e.to_string())
    }
}

/// The current unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Per-document state kept while the server runs.
struct Live {
    text_open: watch::Sender<bool>,
    saved: watch::Sender<Vec<u8>>,
    issuer: Option<IdIssuer>,
}

/// The part of [`Documents`] the rooms call back into.
pub struct DocumentHooks {
    records: sled::Tree,
    block_ids: sled::Tree,
    live: Mutex<HashMap<String, Live>>,
}

/// The key layout of every per-document tree: the document id, a 0 byte, then `rest` (`b""`
/// gives the prefix of all the document's keys).
pub(crate) fn prefixed(document: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(document.len() + 1 + rest.len());
    key.extend_from_slice(document.as_bytes());
    key.push(0);
    key.extend_from_slice(rest);
    key
}

/// Record `id` of `document` in a per-document tree (big-endian, so keys sort by number).
pub(crate) fn numbered_key(document: &str, id: u64) -> Vec<u8> {
    prefixed(document, &id.to_be_bytes())
}

impl DocumentHooks {
    fn record(&self, document: &str) -> Result<Option<DocumentRecord>, DocumentError> {
        match self.records.get(document.as_bytes())? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| DocumentError::Database(format!("corrupt document record: {e}"))),
        }
    }

    fn with_live<R>(&self, document: &str, f: impl FnOnce(&mut Live) -> R) -> R {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let entry = live.entry(document.to_owned()).or_insert_with(|| {
            let open = self
                .record(document)
                .ok()
                .flatten()
                .is_some_and(|record| record.text_open(now()));
            Live {
                text_open: watch::channel(open).0,
                saved: watch::channel(Vec::new()).0,
                issuer: None,
            }
        });
        f(entry)
    }

    /// Sets whether `document`'s text is open, as its record says now.
    fn refresh_gate(&self, record: &DocumentRecord) {
        let open = record.text_open(now());
        self.with_live(&record.id, |live| {
            live.text_open.send_if_modified(|current| {
                let changed = *current != open;
                *current = open;
                changed
            });
        });
    }

    /// Runs `f` with `document`'s id issuer (loaded on first use), then stores the ids it
    /// issued or adopted.
    fn with_issuer<R>(
        &self,
        document: &str,
        f: impl FnOnce(&mut IdIssuer) -> (R, Vec<String>),
    ) -> Result<R, DocumentError> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let entry = live.entry(document.to_owned()).or_insert_with(|| Live {
            text_open: watch::channel(false).0,
            saved: watch::channel(Vec::new()).0,
            issuer: None,
        });
        if entry.issuer.is_none() {
            let mut known = Vec::new();
            for item in self.block_ids.scan_prefix(prefixed(document, b"")) {
                let (key, _) = item?;
                if let Ok(id) = std::str::from_utf8(&key[document.len() + 1..]) {
                    known.push(id.to_owned());
                }
            }
            entry.issuer = Some(IdIssuer::new(known));
        }
        let Some(issuer) = entry.issuer.as_mut() else {
            return Err(DocumentError::Database("id issuer missing".into()));
        };
        let (result, new_ids) = f(issuer);
        let mut batch = sled::Batch::default();
        for id in &new_ids {
            batch.insert(prefixed(document, id.as_bytes()), &[]);
        }
        self.block_ids.apply_batch(batch)?;
        Ok(result)
    }
}

impl RoomHooks for DocumentHooks {
    fn text_open(&self, document: &str) -> watch::Receiver<bool> {
        self.with_live(document, |live| live.text_open.subscribe())
    }

    fn after_change(&self, document: &str, txn: &mut TransactionMut) {
        let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
        let stored = self.with_issuer(document, |issuer| {
            let changes = normalize_ids(txn, &fragment, issuer);
            let mut new_ids = changes.issued;
            new_ids.extend(changes.adopted);
            ((), new_ids)
        });
        if let Err(e) = stored {
            tracing::error!(%document, error = %e, "could not record block ids");
        }
    }

    fn stored(&self, document: &str, state_vector: Vec<u8>) {
        self.with_live(document, |live| {
            live.saved.send_replace(state_vector);
        });
    }
}

/// A document as listed.
pub struct Documents {
    hooks: Arc<DocumentHooks>,
    versions: sled::Tree,
    /// The live events of every document.
    pub events: EventLog,
    /// The comments of every document.
    pub comments: comments::Comments,
    /// The ballots and votes of every document.
    pub ballots: ballots::Ballots,
    /// The amendments of every document.
    pub amendments: amendments::Amendments,
    rooms: OnceLock<Rooms>,
    /// Serialises read-modify-write of document records (transitions, edits of metadata).
    write_lock: tokio::sync::Mutex<()>,
    /// Wakes the deadline watcher when a deadline is set.
    deadline_changed: tokio::sync::Notify,
}

/// Longest document id chosen by the secretariat (ids are document names).
pub const MAX_DOCUMENT_ID_BYTES: usize = 64;

impl Documents {
    /// The document records in `db`.
    pub fn open(db: &sled::Db) -> Result<Documents, DocumentError> {
        Ok(Documents {
            hooks: Arc::new(DocumentHooks {
                records: db.open_tree("document_records")?,
                block_ids: db.open_tree("document_block_ids")?,
                live: Mutex::new(HashMap::new()),
            }),
            versions: db.open_tree("document_versions")?,
            events: EventLog::open(db)?,
            comments: comments::Comments::open(db)?,
            ballots: ballots::Ballots::open(db)?,
            amendments: amendments::Amendments::open(db)?,
            rooms: OnceLock::new(),
            write_lock: tokio::sync::Mutex::new(()),
            deadline_changed: tokio::sync::Notify::new(),
        })
    }

    /// What the rooms call back into.
    pub fn hooks(&self) -> Arc<dyn RoomHooks> {
        self.hooks.clone()
    }

    /// Connects the rooms (created with [`Documents::hooks`]).
    pub fn attach_rooms(&self, rooms: Rooms) {
        let _ = self.rooms.set(rooms);
    }

    fn rooms(&self) -> Result<&Rooms, DocumentError> {
        self.rooms
            .get()
            .ok_or_else(|| DocumentError::Room("rooms not attached".into()))
    }

    /// The record of `id`.
    pub fn get(&self, id: &str) -> Result<DocumentRecord, DocumentError> {
        self.hooks.record(id)?.ok_or(DocumentError::NotFound)
    }

    /// Whether a document `id` exists.
    pub fn exists(&self, id: &str) -> Result<bool, DocumentError> {
        Ok(self.hooks.records.contains_key(id.as_bytes())?)
    }

    /// Every document, newest first.
    pub fn list(&self) -> Result<Vec<DocumentRecord>, DocumentError> {
        let mut all = Vec::new();
        for item in self.hooks.records.iter() {
            let (_, bytes) = item?;
            match serde_json::from_slice::<DocumentRecord>(&bytes) {
                Ok(record) => all.push(record),
                Err(e) => tracing::error!(error = %e, "skipping a corrupt document record"),
            }
        }
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Number of documents.
    pub fn count(&self) -> usize {
        self.hooks.records.len()
    }

    fn put(&self, record: &DocumentRecord) -> Result<(), DocumentError> {
        let bytes =
            serde_json::to_vec(record).map_err(|e| DocumentError::Database(e.to_string()))?;
        self.hooks.records.insert(record.id.as_bytes(), bytes)?;
        Ok(())
    }

    /// A fresh id from a title: a slug of it and four random characters.
    pub fn id_for_title(&self, title: &str) -> String {
        use rand::Rng;
        let mut slug = String::new();
        for c in title.chars().flat_map(fold_accent) {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= 40 {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = if slug.is_empty() { "manifesto" } else { slug };
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut rng = rand::thread_rng();
        let tail: String = (0..4)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        format!("{slug}-{tail}")
    }

    /// Creates document `id` with `metadata` and `text`, takes its first named version and
    /// returns the record. The id must be a valid document name not used before.
    pub async fn create(
        &self,
        id: String,
        metadata: Metadata,
        text: InitialText,
        by: u64,
    ) -> Result<DocumentRecord, DocumentError> {
        let _guard = self.write_lock.lock().await;
        if self.exists(&id)? {
            return Err(DocumentError::Exists);
        }
        let rooms = self.rooms()?.clone();
        // A document of that name may hold text from before documents had records (or from
        // a test): a new document must start empty.
        let stored_len = rooms
            .job(&id, |txn| {
                txn.get_or_insert_xml_fragment(FRAGMENT_NAME).len(txn)
            })
            .await?;
        if stored_len != 0 {
            return Err(DocumentError::Exists);
        }
        let record = DocumentRecord {
            id: id.clone(),
            metadata,
            phase: Phase::Drafting,
            deadline: None,
            phase_since: now(),
            archived_from: None,
            comment_phases: Phase::default_comment_phases(),
            secretariat_votes: false,
            final_vote_after_ballot: 0,
            transitions: Vec::new(),
            next_version: 1,
            created_at: now(),
            created_by: by,
            deadline_announced: None,
            min_supporters: 0,
            max_pending_amendments: default_max_pending(),
        };
        if let InitialText::Draft(draft) = text {
            let hooks = self.hooks.clone();
            let doc_id = id.clone();
            rooms
                .job(&id, move |txn| {
                    let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
                    hooks.with_issuer(&doc_id, |issuer| {
                        match write_manuscript(txn, &fragment, &draft, issuer) {
                            Ok(issued) => (Ok(()), issued),
                            Err(e) => (Err(DocumentError::Write(e.to_string())), Vec::new()),
                        }
                    })
                })
                .await???;
        }
        self.put(&record)?;
        self.hooks.refresh_gate(&record);
        let mut record = record;
        self.take_version_locked(&mut record, "Created", VersionKind::Created, Some(by), None)
            .await?;
        self.put(&record)?;
        Ok(record)
    }

    /// Creates document `id` while the server is stopped (the operator's command line): the
    /// text is written straight to `store` as the document's first update. The caller
    /// flushes.
    pub fn create_offline(
        &self,
        store: &dyn crate::store::Store,
        id: String,
        metadata: Metadata,
        text: InitialText,
        by: u64,
    ) -> Result<DocumentRecord, DocumentError> {
        if self.exists(&id)? {
            return Err(DocumentError::Exists);
        }
        let stored = store
            .load_document(&id)
            .map_err(|e| DocumentError::Database(e.to_string()))?;
        if stored.snapshot.is_some() || !stored.updates.is_empty() {
            return Err(DocumentError::Exists);
        }
        let doc = yrs::Doc::with_options(yrs::Options {
            offset_kind: yrs::OffsetKind::Utf16,
            ..yrs::Options::default()
        });
        let fragment = doc.get_or_insert_xml_fragment(FRAGMENT_NAME);
        if let InitialText::Draft(draft) = text {
            let mut txn = doc.transact_mut();
            self.hooks.with_issuer(&id, |issuer| {
                match write_manuscript(&mut txn, &fragment, &draft, issuer) {
                    Ok(issued) => (Ok(()), issued),
                    Err(e) => (Err(DocumentError::Write(e.to_string())), Vec::new()),
                }
            })??;
        }
        let txn = doc.transact();
        let sections = read_sections(&txn, &fragment);
        let state_vector = txn.state_vector();
        if !sections.is_empty() {
            let update = txn.encode_state_as_update_v1(&yrs::StateVector::default());
            store
                .append_updates(&id, 0, &[update])
                .map_err(|e| DocumentError::Database(e.to_string()))?;
        }
        let mut record = DocumentRecord {
            id: id.clone(),
            metadata,
            phase: Phase::Drafting,
            deadline: None,
            phase_since: now(),
            archived_from: None,
            comment_phases: Phase::default_comment_phases(),
            secretariat_votes: false,
            final_vote_after_ballot: 0,
            transitions: Vec::new(),
            next_version: 1,
            created_at: now(),
            created_by: by,
            deadline_announced: None,
            min_supporters: 0,
            max_pending_amendments: default_max_pending(),
        };
        let version = VersionRecord {
            number: 1,
            name: "Created".into(),
            kind: VersionKind::Created,
            phase: Phase::Drafting,
            created_at: now(),
            created_by: Some(by),
            note: None,
            state_vector: base64::engine::general_purpose::STANDARD
                .encode(yrs::updates::encoder::Encode::encode_v1(&state_vector)),
            sections,
        };
        self.store_version(&id, &version)?;
        record.next_version = 2;
        self.put(&record)?;
        Ok(record)
    }

    fn store_version(&self, id: &str, version: &VersionRecord) -> Result<(), DocumentError> {
        let bytes =
            serde_json::to_vec(version).map_err(|e| DocumentError::Database(e.to_string()))?;
        self.versions
            .insert(numbered_key(id, version.number), bytes)?;
        Ok(())
    }

    /// The sections of `id`'s live text now, with the state vector (v1, base64) they reflect.
    pub async fn current_sections(
        &self,
        id: &str,
    ) -> Result<(Vec<Section>, String), DocumentError> {
        self.get(id)?;
        let sections = self
            .rooms()?
            .job(id, |txn| {
                let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
                let sections = read_sections(txn, &fragment);
                let state_vector = yrs::updates::encoder::Encode::encode_v1(&txn.state_vector());
                (sections, state_vector)
            })
            .await?;
        let (sections, state_vector) = sections;
        Ok((
            sections,
            base64::engine::general_purpose::STANDARD.encode(state_vector),
        ))
    }

    /// Runs `job` on `id`'s live document (the server's own edits: corrections, amendments).
    pub async fn edit<R: Send + 'static>(
        &self,
        id: &str,
        job: impl FnOnce(&mut TransactionMut, &yrs::XmlFragmentRef) -> R + Send + 'static,
    ) -> Result<R, DocumentError> {
        self.get(id)?;
        Ok(self
            .rooms()?
            .job(id, move |txn| {
                let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
                job(txn, &fragment)
            })
            .await?)
    }

    /// Like [`Documents::edit`], with the document's id issuer for new blocks: `job` returns
    /// its result and the ids it issued, which are recorded before the edit is stored.
    pub async fn edit_with_ids<R: Send + 'static>(
        &self,
        id: &str,
        job: impl FnOnce(&mut TransactionMut, &yrs::XmlFragmentRef, &mut IdIssuer) -> (R, Vec<String>)
            + Send
            + 'static,
    ) -> Result<R, DocumentError> {
        self.get(id)?;
        let hooks = self.hooks.clone();
        let doc_id = id.to_owned();
        self.rooms()?
            .job(id, move |txn| {
                let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
                hooks.with_issuer(&doc_id, |issuer| job(txn, &fragment, issuer))
            })
            .await?
    }

    /// Takes a named version of `id`'s text now and returns it.
    pub async fn take_version(
        &self,
        id: &str,
        name: &str,
        kind: VersionKind,
        by: Option<u64>,
        note: Option<String>,
    ) -> Result<VersionRecord, DocumentError> {
        let _guard = self.write_lock.lock().await;
        let mut record = self.get(id)?;
        let version = self
            .take_version_locked(&mut record, name, kind, by, note)
            .await?;
        self.put(&record)?;
        Ok(version)
    }

    async fn take_version_locked(
        &self,
        record: &mut DocumentRecord,
        name: &str,
        kind: VersionKind,
        by: Option<u64>,
        note: Option<String>,
    ) -> Result<VersionRecord, DocumentError> {
        let (sections, state_vector) = self.current_sections(&record.id).await?;
        let version = VersionRecord {
            number: record.next_version,
            name: name.to_owned(),
            kind,
            phase: record.phase,
            created_at: now(),
            created_by: by,
            note,
            state_vector,
            sections,
        };
        record.next_version += 1;
        self.store_version(&record.id, &version)?;
        Ok(version)
    }

    /// Every named version of `id`, oldest first.
    pub fn versions(&self, id: &str) -> Result<Vec<VersionRecord>, DocumentError> {
        let mut all = Vec::new();
        for item in self.versions.scan_prefix(prefixed(id, b"")) {
            let (_, bytes) = item?;
            let version: VersionRecord = serde_json::from_slice(&bytes)
                .map_err(|e| DocumentError::Database(format!("corrupt version: {e}")))?;
            all.push(version);
        }
        Ok(all)
    }

    /// Named version `number` of `id`.
    pub fn version(&self, id: &str, number: u64) -> Result<VersionRecord, DocumentError> {
        let bytes = self
            .versions
            .get(numbered_key(id, number))?
            .ok_or(DocumentError::VersionNotFound)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DocumentError::Database(format!("corrupt version: {e}")))
    }

    /// Moves `id` to phase `to`, with an optional reason and deadline (unix seconds), and
    /// takes a named version. Turns the live connections read-only (or writable) at once.
    pub async fn transition(
        &self,
        id: &str,
        to: Phase,
        reason: Option<String>,
        deadline: Option<i64>,
        by: u64,
    ) -> Result<DocumentRecord, DocumentError> {
        let _guard = self.write_lock.lock().await;
        let mut record = self.get(id)?;
        let direction = check_transition(record.phase, to, record.archived_from, reason.is_some())?;
        if deadline.is_some() && !to.takes_deadline() {
            return Err(DocumentError::Invalid(format!(
                "the {} phase takes no deadline",
                to.as_str()
            )));
        }
        let from = record.phase;
        record.archived_from = match direction {
            Direction::Archive => Some(from),
            _ => None,
        };
        if to == Phase::FinalVote {
            record.final_vote_after_ballot = self
                .ballots
                .list(id)
                .map_err(|e| DocumentError::Database(e.to_string()))?
                .iter()
                .map(|b| b.id)
                .max()
                .unwrap_or(0);
        }
        record.phase = to;
        record.phase_since = now();
        record.deadline = deadline;
        // The gate closes before the version is read: an update that passed the connection's
        // check just before is dropped by the room, or applied before the version is taken.
        self.hooks.refresh_gate(&record);
        let name = format!("{} → {}", phase_label(from), phase_label(to));
        let version = self
            .take_version_locked(
                &mut record,
                &name,
                VersionKind::Phase,
                Some(by),
                reason.clone(),
            )
            .await;
        let version = match version {
            Ok(version) => version,
            Err(e) => {
                // Nothing changed: reopen the gate as the stored record says.
                if let Ok(stored) = self.get(id) {
                    self.hooks.refresh_gate(&stored);
                }
                return Err(e);
            }
        };
        record.transitions.push(Transition {
            from,
            to,
            direction,
            by,
            at: record.phase_since,
            reason,
            deadline,
            version: version.number,
        });
        self.put(&record)?;
        self.deadline_changed.notify_one();
        Ok(record)
    }

    /// Changes metadata, deadline or comment phases of `id` through `change`.
    pub async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut DocumentRecord) -> Result<(), DocumentError>,
    ) -> Result<DocumentRecord, DocumentError> {
        let _guard = self.write_lock.lock().await;
        let mut record = self.get(id)?;
        change(&mut record)?;
        self.put(&record)?;
        self.hooks.refresh_gate(&record);
        self.deadline_changed.notify_one();
        Ok(record)
    }

    /// The state vector (v1) of what is durably stored for `id`, as it changes. Empty until
    /// the document has been loaded.
    pub fn saved(&self, id: &str) -> watch::Receiver<Vec<u8>> {
        self.hooks.with_live(id, |live| live.saved.subscribe())
    }

    /// Closes the actions of phases whose deadline has passed (turning their text
    /// read-only and telling their members), until `shutdown`.
    pub async fn watch_deadlines(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let mut announced_any = false;
            let mut next_due: Option<i64> = None;
            let now = now();
            if let Ok(records) = self.list() {
                for record in records {
                    let Some(deadline) = record.deadline else {
                        continue;
                    };
                    if deadline <= now {
                        // Decided on the record as it is now, under the write lock: a
                        // deadline moved or removed meanwhile is not announced, and the gate
                        // follows the fresh record (`update` refreshes it).
                        let mut announce: Option<Phase> = None;
                        if record.deadline_announced == Some(deadline) {
                            // Announced already: keep the gate as the fresh record says.
                            if let Ok(fresh) = self.get(&record.id) {
                                self.hooks.refresh_gate(&fresh);
                            }
                            continue;
                        }
                        let marked = self
                            .update(&record.id, |r| {
                                if r.deadline == Some(deadline)
                                    && r.deadline_announced != Some(deadline)
                                {
                                    r.deadline_announced = Some(deadline);
                                    announce = Some(r.phase);
                                }
                                Ok(())
                            })
                            .await;
                        if let Err(e) = marked {
                            tracing::warn!(document = %record.id, error = %e, "could not record an announced deadline");
                        }
                        if let Some(phase) = announce {
                            announced_any = true;
                            let data = serde_json::json!({
                                "phase": phase,
                                "deadline": crate::api::timestamp(deadline),
                            });
                            if let Err(e) =
                                self.events
                                    .publish(&record.id, "phase.deadline_passed", data)
                            {
                                tracing::warn!(error = %e, "could not record a deadline event");
                            }
                            tracing::info!(document = %record.id, phase = phase.as_str(), "deadline passed");
                        }
                    } else {
                        next_due = Some(next_due.map_or(deadline, |due| due.min(deadline)));
                    }
                }
            }
            if let (true, Ok(rooms)) = (announced_any, self.rooms()) {
                if let Err(e) = rooms.flush().await {
                    tracing::warn!(error = %e, "could not flush deadline records");
                }
            }
            let wait = next_due
                .map(|due| (due - now).clamp(0, 60) as u64)
                .unwrap_or(60);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.deadline_changed.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 50)) => {}
            }
        }
    }
}

/// A phase's name for version names.
pub fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Drafting => "Drafting",
        Phase::Amendments => "Amendments",
        Phase::Voting => "Voting",
        Phase::FinalVote => "Final vote",
        Phase::Adopted => "Adopted",
        Phase::Archived => "Archived",
    }
}

/// Latin letters with their accents removed, for slugs.
fn fold_accent(c: char) -> impl Iterator<Item = char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' => "a",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Î' | 'Ï' => "i",
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ô' | 'Ö' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => "u",
        'œ' | 'Œ' => "oe",
        'æ' | 'Æ' => "ae",
        _ => "",
    };
    let single = folded.is_empty().then_some(c);
    folded.chars().chain(single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_titles_are_valid_document_names() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let documents = Documents::open(&db).expect("documents");
        for title in [
            "Manifeste de Genève pour un avenir durable et souverain",
            "«  »",
            "Œuvre commune — 2026",
        ] {
            let id = documents.id_for_title(title);
            assert!(crate::http::is_valid_document_name(&id), "{id}");
            assert!(id.len() <= MAX_DOCUMENT_ID_BYTES, "{id}");
        }
        assert!(documents
            .id_for_title("Manifeste de Genève")
            .starts_with("manifeste-de-geneve-"));
        assert!(documents.id_for_title("«»").starts_with("manifesto-"));
    }
}
