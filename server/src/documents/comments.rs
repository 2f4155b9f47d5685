//! Comments on a Manifesto: threads anchored on a section or on a range of a paragraph's text,
//! with replies, edits (earlier versions kept), resolution, soft deletion and hiding.
//!
//! Records live in the sled tree `comments` (key = document id, `0`, comment id as u64
//! big-endian; value = JSON [`CommentRecord`]), never in the shared document, where any writer
//! could change them. A range anchor is a pair of yrs sticky indexes (the bytes of Yjs'
//! `Y.encodeRelativePosition`, base64) inside the paragraph's `XmlText`, computed by the server
//! in the room task ([`anchor_at`]) and resolved against the live text when comments are read
//! ([`resolve_anchors`]): the anchor follows concurrent edits, and when its text is deleted
//! the comment is *orphaned* and shows the quote kept at creation.
//!
//! This module decides who may change what ([`Comments::edit`] and friends) but knows nothing
//! of HTTP: the API maps [`CommentError`] and [`AnchorError`] to status codes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use manifesto_protocol::yrs;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;
use yrs::types::text::YChange;
use yrs::types::xml::XmlOut;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Assoc, IndexedSequence, OffsetKind, Out, ReadTxn, StickyIndex, Text, TransactionMut, Xml,
    XmlElementRef, XmlFragment, XmlFragmentRef, XmlTextRef,
};

use crate::auth::limits::{Limit, Limited};
use crate::text::UNTITLED_PREAMBLE_ID;

/// Longest comment body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;
/// Longest range a comment may quote, in UTF-16 code units.
pub const MAX_QUOTE_UNITS: u32 = 10_000;
/// Most edits of one comment (each keeps a revision).
pub const MAX_REVISIONS: usize = 50;
/// Longest hiding reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest encoded relative position accepted from a client (base64 characters); a real one
/// is under 40.
pub const MAX_POSITION_CHARS: usize = 256;
/// Comments (new ones and edits) a person may write at once…
pub const RATE_BURST: u32 = 30;
/// …and then one per this period.
pub const RATE_PERIOD: Duration = Duration::from_secs(2);

// Element and attribute names of the text's schema (see `crate::text`).
const HEADING: &str = "heading";
const PARAGRAPH: &str = "paragraph";
const ATTR_ID: &str = "id";
/// What an embed (anything but a string) in a paragraph's text reads as: one UTF-16 unit, as
/// it counts in the index.
const EMBED: u16 = 0xFFFC;

/// Where a thread is anchored (roots only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anchor {
    /// A whole section (its heading's id, or `s-preamble` for the untitled preamble).
    Section { section_id: String },
    /// A range of a paragraph's text.
    Range {
        /// The paragraph it was made in.
        paragraph_id: String,
        /// Sticky index of the first character (`Assoc::After`), v1-encoded, base64.
        start: String,
        /// Sticky index after the last character (`Assoc::Before`), v1-encoded, base64.
        end: String,
        /// The text of the range when the comment was made.
        quote: String,
    },
}

/// An earlier version of a comment's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub body: String,
    /// When that version was written (unix seconds).
    pub at: i64,
}

/// Whether a thread still needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    Open,
    Resolved,
}

/// Who last resolved or reopened a thread, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub by: u64,
    /// Unix seconds.
    pub at: i64,
}

/// A secretariat's hiding of a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hiding {
    pub by: u64,
    /// Unix seconds.
    pub at: i64,
    pub reason: String,
}

/// One comment (a thread's root or a reply), as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRecord {
    pub id: u64,
    pub document: String,
    /// The thread's root, for a reply (replies are one level deep).
    pub parent: Option<u64>,
    pub author: u64,
    /// The author's name when they wrote it.
    pub author_name: String,
    /// The current body (plain text).
    pub body: String,
    /// Earlier bodies, oldest first.
    pub revisions: Vec<Revision>,
    /// Unix seconds.
    pub created_at: i64,
    /// When the body was last edited (unix seconds).
    pub edited_at: Option<i64>,
    /// Roots only.
    pub anchor: Option<Anchor>,
    /// Roots only (replies stay `open`).
    pub status: CommentStatus,
    /// The last resolution or reopening.
    pub status_changed: Option<StatusChange>,
    /// Deleted by its author (unix seconds): its body is no longer shown.
    pub deleted_at: Option<i64>,
    /// Hidden by the secretariat: its body is shown to the secretariat and its author only.
    pub hidden: Option<Hiding>,
}

impl CommentRecord {
    /// The id of the thread's root.
    pub fn thread(&self) -> u64 {
        self.parent.unwrap_or(self.id)
    }
}

/// A refused or failed change to comments.
#[derive(Debug, Error)]
pub enum CommentError {
    #[error("no such comment in this document")]
    NotFound,
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("this comment has been deleted")]
    Deleted,
    #[error("this comment has been hidden by the secretariat")]
    Hidden,
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sled::Error> for CommentError {
    fn from(e: sled::Error) -> CommentError {
        CommentError::Database(e.to_string())
    }
}

/// The comments of every document.
pub struct Comments {
    tree: sled::Tree,
    db: sled::Db,
    /// Serialises read-modify-write of records; held only around synchronous sled calls,
    /// never across an await.
    write_lock: Mutex<()>,
    /// Comments written per person. Keys are account ids, so memory is bounded by the
    /// number of accounts and needs no pruning.
    rate: Limit,
}

use super::numbered_key as key;

fn decode(bytes: &[u8]) -> Result<CommentRecord, CommentError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CommentError::Database(format!("corrupt comment record: {e}")))
}

/// Checks a comment body: plain text of 1 to [`MAX_BODY_CHARS`] characters once trimmed, no
/// control characters but newlines and tabs (CR LF becomes LF). Returns it trimmed.
pub fn check_body(body: &str) -> Result<String, CommentError> {
    let body = body.replace("\r\n", "\n");
    let body = body.trim();
    if body.is_empty() {
        return Err(CommentError::Invalid("body is required".into()));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(CommentError::Invalid(format!(
            "body has at most {MAX_BODY_CHARS} characters"
        )));
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(CommentError::Invalid(
            "body is plain text: no control characters but newlines and tabs".into(),
        ));
    }
    Ok(body.to_owned())
}

impl Comments {
    /// The comments in `db`'s tree `comments`.
    pub fn open(db: &sled::Db) -> Result<Comments, sled::Error> {
        Ok(Comments {
            tree: db.open_tree("comments")?,
            db: db.clone(),
            write_lock: Mutex::new(()),
            rate: Limit::new(RATE_BURST, RATE_PERIOD),
        })
    }

    /// Counts one comment written by `user` (a new one or an edit).
    pub fn check_rate(&self, user: u64) -> Result<(), Limited> {
        self.rate.check(&user.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, record: &CommentRecord) -> Result<(), CommentError> {
        let bytes =
            serde_json::to_vec(record).map_err(|e| CommentError::Database(e.to_string()))?;
        self.tree.insert(key(&record.document, record.id), bytes)?;
        Ok(())
    }

    /// Comment `id` of `document`.
    pub fn get(&self, document: &str, id: u64) -> Result<CommentRecord, CommentError> {
        let bytes = self
            .tree
            .get(key(document, id))?
            .ok_or(CommentError::NotFound)?;
        decode(&bytes)
    }

    /// Every comment of `document`, oldest first (roots before their replies).
    pub fn list(&self, document: &str) -> Result<Vec<CommentRecord>, CommentError> {
        let prefix = super::prefixed(document, b"");
        let mut all = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (_, bytes) = item?;
            match decode(&bytes) {
                Ok(record) => all.push(record),
                Err(e) => tracing::error!(%document, error = %e, "skipping a corrupt comment"),
            }
        }
        Ok(all)
    }

    /// Stores a new thread on `anchor` by `author` (id, name) at `now`. The body must have
    /// passed [`check_body`].
    pub fn create_thread(
        &self,
        document: &str,
        anchor: Anchor,
        author: (u64, &str),
        body: String,
        now: i64,
    ) -> Result<CommentRecord, CommentError> {
        self.insert(document, None, Some(anchor), author, body, now)
    }

    /// Stores a reply to `parent` (a reply to a reply joins the same thread).
    pub fn create_reply(
        &self,
        document: &str,
        parent: u64,
        author: (u64, &str),
        body: String,
        now: i64,
    ) -> Result<CommentRecord, CommentError> {
        let parent = self.get(document, parent)?;
        self.insert(document, Some(parent.thread()), None, author, body, now)
    }

    fn insert(
        &self,
        document: &str,
        parent: Option<u64>,
        anchor: Option<Anchor>,
        (author, author_name): (u64, &str),
        body: String,
        now: i64,
    ) -> Result<CommentRecord, CommentError> {
        // Ids are unique across the database and increase, so keys sort in creation order.
        let record = CommentRecord {
            id: self.db.generate_id()?,
            document: document.to_owned(),
            parent,
            author,
            author_name: author_name.to_owned(),
            body,
            revisions: Vec::new(),
            created_at: now,
            edited_at: None,
            anchor,
            status: CommentStatus::Open,
            status_changed: None,
            deleted_at: None,
            hidden: None,
        };
        self.put(&record)?;
        Ok(record)
    }

    /// Changes comment `id` through `change`, which says whether it changed anything; stores
    /// it if so. Returns the record and whether it changed.
    fn update(
        &self,
        document: &str,
        id: u64,
        change: impl FnOnce(&mut CommentRecord) -> Result<bool, CommentError>,
    ) -> Result<(CommentRecord, bool), CommentError> {
        let _guard = self.lock();
        let mut record = self.get(document, id)?;
        let changed = change(&mut record)?;
        if changed {
            self.put(&record)?;
        }
        Ok((record, changed))
    }

    /// Replaces the body of `by`'s own comment `id`, keeping the previous one as a revision.
    /// The body must have passed [`check_body`].
    pub fn edit(
        &self,
        document: &str,
        id: u64,
        by: u64,
        body: String,
        now: i64,
    ) -> Result<(CommentRecord, bool), CommentError> {
        self.update(document, id, |record| {
            if record.author != by {
                return Err(CommentError::NotAllowed(
                    "only its author may edit a comment",
                ));
            }
            if record.deleted_at.is_some() {
                return Err(CommentError::Deleted);
            }
            if record.hidden.is_some() {
                return Err(CommentError::Hidden);
            }
            if record.body == body {
                return Ok(false);
            }
            if record.revisions.len() >= MAX_REVISIONS {
                return Err(CommentError::Invalid(format!(
                    "a comment can be edited at most {MAX_REVISIONS} times; reply instead"
                )));
            }
            let previous = std::mem::replace(&mut record.body, body);
            record.revisions.push(Revision {
                body: previous,
                at: record.edited_at.unwrap_or(record.created_at),
            });
            record.edited_at = Some(now);
            Ok(true)
        })
    }

    /// Resolves (`status` = resolved) or reopens the thread of comment `id`. Allowed to the
    /// thread's author and, with `secretariat`, to the secretariat. Returns the thread's root.
    pub fn set_status(
        &self,
        document: &str,
        id: u64,
        status: CommentStatus,
        by: u64,
        secretariat: bool,
        now: i64,
    ) -> Result<(CommentRecord, bool), CommentError> {
        let root = self.get(document, id)?.thread();
        self.update(document, root, |record| {
            if record.author != by && !secretariat {
                return Err(CommentError::NotAllowed(
                    "only the thread's author or the secretariat may resolve or reopen it",
                ));
            }
            if record.status == status {
                return Ok(false);
            }
            record.status = status;
            record.status_changed = Some(StatusChange { by, at: now });
            Ok(true)
        })
    }

    /// Deletes `by`'s own comment `id` (softly: the record stays, its body is no longer
    /// shown; its replies stay).
    pub fn delete(
        &self,
        document: &str,
        id: u64,
        by: u64,
        now: i64,
    ) -> Result<(CommentRecord, bool), CommentError> {
        self.update(document, id, |record| {
            if record.author != by {
                return Err(CommentError::NotAllowed(
                    "only its author may delete a comment; the secretariat hides comments",
                ));
            }
            if record.deleted_at.is_some() {
                return Ok(false);
            }
            record.deleted_at = Some(now);
            Ok(true)
        })
    }

    /// Hides comment `id` with `reason` (the secretariat's moderation); hiding again changes
    /// the reason.
    pub fn hide(
        &self,
        document: &str,
        id: u64,
        by: u64,
        reason: String,
        now: i64,
    ) -> Result<(CommentRecord, bool), CommentError> {
        self.update(document, id, |record| {
            if record.hidden.as_ref().is_some_and(|h| h.reason == reason) {
                return Ok(false);
            }
            record.hidden = Some(Hiding {
                by,
                at: now,
                reason,
            });
            Ok(true)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Anchors in the live text

/// Where a new thread is to be anchored, as asked.
#[derive(Debug, Clone)]
pub enum AnchorRequest {
    /// A whole section.
    Section(String),
    /// UTF-16 offsets `start..end` in a paragraph's text.
    Offsets {
        paragraph: String,
        start: u32,
        end: u32,
    },
    /// Relative positions a Yjs client made (`Y.encodeRelativePosition`, base64).
    Positions {
        paragraph: String,
        start: String,
        end: String,
    },
}

/// An anchor that cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnchorError {
    /// No heading or paragraph with this id in the text now.
    #[error("no heading or paragraph with id {0} in the current text")]
    BlockNotFound(String),
    /// The anchor does not fit the text.
    #[error("{0}")]
    Invalid(String),
}

/// An anchor resolved against the live text now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedAnchor {
    /// The section: the one commented on, or the one the range's paragraph is in now.
    pub section_id: Option<String>,
    /// The paragraph the range is in now.
    pub paragraph_id: Option<String>,
    /// UTF-16 offsets of the range in that paragraph's text.
    pub start: Option<u32>,
    pub end: Option<u32>,
    /// The range's text now.
    pub text_now: Option<String>,
    /// The section or the whole range is gone.
    pub orphaned: bool,
}

/// A block of the text as the anchors see it.
struct Block {
    id: String,
    is_heading: bool,
    /// The section it belongs to (for a heading, its own).
    section_id: String,
    element: XmlElementRef,
}

/// The heading and paragraph elements directly under `fragment`, in order, with the first
/// holder of each id (the one `normalize_ids` lets keep it).
fn blocks<T: ReadTxn>(txn: &T, fragment: &XmlFragmentRef) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut section = UNTITLED_PREAMBLE_ID.to_owned();
    for child in fragment.children(txn) {
        let XmlOut::Element(element) = child else {
            continue;
        };
        let is_heading = match element.tag().as_ref() {
            HEADING => true,
            PARAGRAPH => false,
            _ => continue,
        };
        let id = match element.get_attribute(txn, ATTR_ID) {
            Some(Out::Any(Any::String(id))) => id.to_string(),
            _ => String::new(),
        };
        if is_heading {
            section = id.clone();
        }
        if id.is_empty() || !seen.insert(id.clone()) {
            continue;
        }
        blocks.push(Block {
            id,
            is_heading,
            section_id: section.clone(),
            element,
        });
    }
    blocks
}

/// The first text directly inside `element`.
fn first_text<T: ReadTxn>(txn: &T, element: &XmlElementRef) -> Option<XmlTextRef> {
    element.children(txn).find_map(|child| match child {
        XmlOut::Text(text) => Some(text),
        _ => None,
    })
}

/// The text's content as UTF-16 units, embeds as U+FFFC (one unit each, as they count).
fn units<T: ReadTxn>(txn: &T, text: &XmlTextRef) -> Vec<u16> {
    let mut units = Vec::new();
    for chunk in text.diff(txn, YChange::identity) {
        match &chunk.insert {
            Out::Any(Any::String(chars)) => units.extend(chars.encode_utf16()),
            _ => units.push(EMBED),
        }
    }
    units
}

/// The identity of a text, as a resolved sticky index names its branch.
fn text_id(text: &XmlTextRef) -> yrs::BranchID {
    let branch: &yrs::branch::Branch = text.as_ref();
    yrs::branch::BranchPtr::from(branch).id()
}

/// Whether `offset` falls between the two halves of a surrogate pair.
fn splits_pair(units: &[u16], offset: usize) -> bool {
    units
        .get(offset)
        .is_some_and(|unit| (0xDC00..0xE000).contains(unit))
}

fn encode_index(index: &StickyIndex) -> String {
    base64::engine::general_purpose::STANDARD.encode(index.encode_v1())
}

fn decode_index(field: &str, encoded: &str) -> Result<StickyIndex, AnchorError> {
    let invalid = || {
        AnchorError::Invalid(format!(
            "{field} is not a relative position (base64 of Y.encodeRelativePosition)"
        ))
    };
    if encoded.len() > MAX_POSITION_CHARS {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| invalid())?;
    StickyIndex::decode_v1(&bytes).map_err(|_| invalid())
}

/// Places a new thread's anchor in the live text: checks that the section or paragraph
/// exists and the range fits, computes the sticky indexes (for offsets) or checks the
/// client's (for positions), and reads the quote. Writes nothing. Offsets are UTF-16 code
/// units, as in the browser: the server's documents use [`OffsetKind::Utf16`].
pub fn anchor_at(
    txn: &TransactionMut,
    fragment: &XmlFragmentRef,
    request: &AnchorRequest,
) -> Result<(Anchor, ResolvedAnchor), AnchorError> {
    if txn.doc().offset_kind() != OffsetKind::Utf16 {
        return Err(AnchorError::Invalid(
            "ranges need a document indexed in UTF-16".into(),
        ));
    }
    let blocks = blocks(txn, fragment);
    let paragraph_id = match request {
        AnchorRequest::Section(section) => {
            let exists = if section == UNTITLED_PREAMBLE_ID {
                blocks.first().is_some_and(|b| !b.is_heading)
            } else {
                blocks.iter().any(|b| b.is_heading && &b.id == section)
            };
            if !exists {
                return Err(AnchorError::BlockNotFound(section.clone()));
            }
            let resolved = ResolvedAnchor {
                section_id: Some(section.clone()),
                ..ResolvedAnchor::default()
            };
            return Ok((
                Anchor::Section {
                    section_id: section.clone(),
                },
                resolved,
            ));
        }
        AnchorRequest::Offsets { paragraph, .. } | AnchorRequest::Positions { paragraph, .. } => {
            paragraph
        }
    };
    let block = (blocks.iter().find(|b| &b.id == paragraph_id))
        .ok_or_else(|| AnchorError::BlockNotFound(paragraph_id.clone()))?;
    if block.is_heading {
        return Err(AnchorError::Invalid(format!(
            "{paragraph_id} is a heading: comment on its section, or on a range of a paragraph"
        )));
    }
    let text = first_text(txn, &block.element);
    let units = text.as_ref().map(|t| units(txn, t)).unwrap_or_default();
    let len = u32::try_from(units.len()).unwrap_or(u32::MAX);
    let (start, end, start_index, end_index) = match (request, &text) {
        (AnchorRequest::Offsets { start, end, .. }, Some(text)) => {
            let (start, end) = (*start, *end);
            if start >= end || end > len {
                return Err(AnchorError::Invalid(format!(
                    "the range {start}..{end} does not fit the paragraph's text ({len} UTF-16 \
                     code units): start < end <= length"
                )));
            }
            if splits_pair(&units, start as usize) || splits_pair(&units, end as usize) {
                return Err(AnchorError::Invalid(
                    "the range cuts a character in two (offsets are UTF-16 code units)".into(),
                ));
            }
            let start_index = text.sticky_index(txn, start, Assoc::After);
            let end_index = text.sticky_index(txn, end, Assoc::Before);
            let (Some(start_index), Some(end_index)) = (start_index, end_index) else {
                return Err(AnchorError::Invalid(
                    "the range does not fit the paragraph's text".into(),
                ));
            };
            (start, end, start_index, end_index)
        }
        (AnchorRequest::Positions { start, end, .. }, Some(text)) => {
            let start_index = decode_index("start_position", start)?;
            let end_index = decode_index("end_position", end)?;
            let branch = text_id(text);
            let resolve = |index: &StickyIndex| {
                index
                    .get_offset(txn)
                    .filter(|offset| offset.branch.id() == branch)
                    .map(|offset| offset.index)
            };
            let (Some(start), Some(end)) = (resolve(&start_index), resolve(&end_index)) else {
                return Err(AnchorError::Invalid(format!(
                    "the relative positions do not resolve inside paragraph {paragraph_id}"
                )));
            };
            if start >= end || end > len {
                return Err(AnchorError::Invalid(format!(
                    "the relative positions resolve to {start}..{end}, not a range of the \
                     paragraph's text"
                )));
            }
            (start, end, start_index, end_index)
        }
        _ => {
            return Err(AnchorError::Invalid(format!(
                "paragraph {paragraph_id} is empty"
            )))
        }
    };
    if end - start > MAX_QUOTE_UNITS {
        return Err(AnchorError::Invalid(format!(
            "a comment's range has at most {MAX_QUOTE_UNITS} characters"
        )));
    }
    let quote = String::from_utf16_lossy(&units[start as usize..end as usize]);
    let resolved = ResolvedAnchor {
        section_id: Some(block.section_id.clone()),
        paragraph_id: Some(block.id.clone()),
        start: Some(start),
        end: Some(end),
        text_now: Some(quote.clone()),
        orphaned: false,
    };
    Ok((
        Anchor::Range {
            paragraph_id: block.id.clone(),
            start: encode_index(&start_index),
            end: encode_index(&end_index),
            quote,
        },
        resolved,
    ))
}

/// Resolves `anchors` against the live text now, in order.
///
/// A range resolves to the paragraph whose text now holds its sticky indexes (found by the
/// text's identity, not by id) and to their offsets there; it is orphaned when an index no
/// longer resolves (its paragraph was deleted) or when nothing is left between them (the
/// words were deleted). A section is orphaned when its heading is gone.
pub fn resolve_anchors(
    txn: &TransactionMut,
    fragment: &XmlFragmentRef,
    anchors: &[Anchor],
) -> Vec<ResolvedAnchor> {
    let blocks = blocks(txn, fragment);
    let mut texts = HashMap::new();
    let mut sections = std::collections::HashSet::new();
    for (index, block) in blocks.iter().enumerate() {
        if block.is_heading {
            sections.insert(block.id.as_str());
        } else if let Some(text) = first_text(txn, &block.element) {
            texts.insert(text_id(&text), (index, text));
        }
    }
    if blocks.first().is_some_and(|b| !b.is_heading) {
        sections.insert(UNTITLED_PREAMBLE_ID);
    }
    // Paragraphs' contents, read once however many ranges they hold.
    let mut contents = HashMap::new();
    anchors
        .iter()
        .map(|anchor| match anchor {
            Anchor::Section { section_id } => ResolvedAnchor {
                section_id: Some(section_id.clone()),
                orphaned: !sections.contains(section_id.as_str()),
                ..ResolvedAnchor::default()
            },
            Anchor::Range { start, end, .. } => {
                resolve_range(txn, &blocks, &texts, &mut contents, start, end).unwrap_or(
                    ResolvedAnchor {
                        orphaned: true,
                        ..ResolvedAnchor::default()
                    },
                )
            }
        })
        .collect()
}

fn resolve_range(
    txn: &TransactionMut,
    blocks: &[Block],
    texts: &HashMap<yrs::BranchID, (usize, XmlTextRef)>,
    contents: &mut HashMap<yrs::BranchID, Vec<u16>>,
    start: &str,
    end: &str,
) -> Option<ResolvedAnchor> {
    let start = decode_index("start", start).ok()?.get_offset(txn)?;
    let end = decode_index("end", end).ok()?.get_offset(txn)?;
    let branch = start.branch.id();
    if end.branch.id() != branch {
        return None;
    }
    let (block, text) = texts.get(&branch)?;
    let block = blocks.get(*block)?;
    let units = contents.entry(branch).or_insert_with(|| units(txn, text));
    if start.index >= end.index || end.index as usize > units.len() {
        return None;
    }
    Some(ResolvedAnchor {
        section_id: Some(block.section_id.clone()),
        paragraph_id: Some(block.id.clone()),
        start: Some(start.index),
        end: Some(end.index),
        text_now: Some(String::from_utf16_lossy(
            &units[start.index as usize..end.index as usize],
        )),
        orphaned: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, GetString, Options, Transact, XmlElementPrelim, XmlTextPrelim};

    /// A document with a heading `s-aaaaaaaaaa` and paragraphs `p-aaaaaaaaaa` ("Energy is
    /// a common good.") and `p-bbbbbbbbbb` ("Émile 😀 writes.").
    fn document() -> (Doc, XmlFragmentRef) {
        let doc = Doc::with_options(Options {
            offset_kind: OffsetKind::Utf16,
            ..Options::default()
        });
        let fragment = doc.get_or_insert_xml_fragment("prosemirror");
        {
            let mut txn = doc.transact_mut();
            for (tag, id, text) in [
                (HEADING, "s-aaaaaaaaaa", "Energy"),
                (PARAGRAPH, "p-aaaaaaaaaa", "Energy is a common good."),
                (PARAGRAPH, "p-bbbbbbbbbb", "Émile 😀 writes."),
            ] {
                let index = fragment.len(&txn);
                let element = fragment.insert(&mut txn, index, XmlElementPrelim::empty(tag));
                element.insert_attribute(&mut txn, ATTR_ID, id);
                element.push_back(&mut txn, XmlTextPrelim::new(text));
            }
        }
        (doc, fragment)
    }

    fn text_of(doc: &Doc, fragment: &XmlFragmentRef, index: u32) -> XmlTextRef {
        let txn = doc.transact();
        let Some(XmlOut::Element(element)) = fragment.get(&txn, index) else {
            panic!("no element {index}");
        };
        first_text(&txn, &element).expect("a text")
    }

    fn offsets(paragraph: &str, start: u32, end: u32) -> AnchorRequest {
        AnchorRequest::Offsets {
            paragraph: paragraph.into(),
            start,
            end,
        }
    }

    #[test]
    fn a_range_follows_edits_and_is_orphaned_when_its_words_go() {
        let (doc, fragment) = document();
        let (anchor, placed) = {
            let txn = doc.transact_mut();
            anchor_at(&txn, &fragment, &offsets("p-aaaaaaaaaa", 12, 18)).expect("anchor")
        };
        assert_eq!(placed.text_now.as_deref(), Some("common"));
        assert_eq!(placed.section_id.as_deref(), Some("s-aaaaaaaaaa"));
        let text = text_of(&doc, &fragment, 1);
        {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, "Clean ");
            // Right before and right after the range: neither joins it.
            text.insert(&mut txn, 18, "very ");
            text.insert(&mut txn, 29, "!");
        }
        let resolved = {
            let txn = doc.transact_mut();
            resolve_anchors(&txn, &fragment, std::slice::from_ref(&anchor))
        };
        assert_eq!(resolved[0].text_now.as_deref(), Some("common"));
        assert_eq!((resolved[0].start, resolved[0].end), (Some(23), Some(29)));
        assert!(!resolved[0].orphaned);
        {
            let mut txn = doc.transact_mut();
            text.remove_range(&mut txn, 23, 6);
            assert_eq!(text.get_string(&txn), "Clean Energy is a very ! good.");
        }
        let resolved = {
            let txn = doc.transact_mut();
            resolve_anchors(&txn, &fragment, std::slice::from_ref(&anchor))
        };
        assert!(resolved[0].orphaned, "{resolved:?}");
        let Anchor::Range { quote, .. } = &anchor else {
            panic!("a range anchor");
        };
        assert_eq!(quote, "common");
    }

    #[test]
    fn offsets_are_utf16_and_never_split_a_character() {
        let (doc, fragment) = document();
        let txn = doc.transact_mut();
        // "Émile 😀 writes.": the emoji is two UTF-16 units, 6..8.
        let (_, placed) =
            anchor_at(&txn, &fragment, &offsets("p-bbbbbbbbbb", 6, 15)).expect("anchor");
        assert_eq!(placed.text_now.as_deref(), Some("😀 writes"));
        let split = anchor_at(&txn, &fragment, &offsets("p-bbbbbbbbbb", 7, 9));
        assert!(matches!(split, Err(AnchorError::Invalid(_))), "{split:?}");
        let beyond = anchor_at(&txn, &fragment, &offsets("p-bbbbbbbbbb", 3, 17));
        assert!(matches!(beyond, Err(AnchorError::Invalid(_))), "{beyond:?}");
        let empty = anchor_at(&txn, &fragment, &offsets("p-bbbbbbbbbb", 3, 3));
        assert!(matches!(empty, Err(AnchorError::Invalid(_))), "{empty:?}");
    }

    #[test]
    fn unknown_blocks_and_headings_are_refused() {
        let (doc, fragment) = document();
        let txn = doc.transact_mut();
        assert_eq!(
            anchor_at(&txn, &fragment, &offsets("p-zzzzzzzzzz", 0, 1)).err(),
            Some(AnchorError::BlockNotFound("p-zzzzzzzzzz".into()))
        );
        assert!(matches!(
            anchor_at(&txn, &fragment, &offsets("s-aaaaaaaaaa", 0, 1)),
            Err(AnchorError::Invalid(_))
        ));
        assert_eq!(
            anchor_at(
                &txn,
                &fragment,
                &AnchorRequest::Section("s-zzzzzzzzzz".into())
            )
            .err(),
            Some(AnchorError::BlockNotFound("s-zzzzzzzzzz".into()))
        );
        assert!(
            anchor_at(
                &txn,
                &fragment,
                &AnchorRequest::Section(UNTITLED_PREAMBLE_ID.into())
            )
            .is_err(),
            "no untitled preamble: the text starts with a heading"
        );
        let (anchor, _) = anchor_at(
            &txn,
            &fragment,
            &AnchorRequest::Section("s-aaaaaaaaaa".into()),
        )
        .expect("section");
        assert!(!resolve_anchors(&txn, &fragment, &[anchor])[0].orphaned);
    }

    #[test]
    fn client_positions_are_checked_against_the_paragraph() {
        let (doc, fragment) = document();
        let first = text_of(&doc, &fragment, 1);
        let second = text_of(&doc, &fragment, 2);
        let txn = doc.transact_mut();
        let encode = |text: &XmlTextRef, index, assoc| {
            encode_index(&text.sticky_index(&txn, index, assoc).expect("index"))
        };
        let good = AnchorRequest::Positions {
            paragraph: "p-aaaaaaaaaa".into(),
            start: encode(&first, 0, Assoc::After),
            end: encode(&first, 6, Assoc::Before),
        };
        let (_, placed) = anchor_at(&txn, &fragment, &good).expect("client positions");
        assert_eq!(placed.text_now.as_deref(), Some("Energy"));
        let elsewhere = AnchorRequest::Positions {
            paragraph: "p-aaaaaaaaaa".into(),
            start: encode(&second, 0, Assoc::After),
            end: encode(&second, 5, Assoc::Before),
        };
        assert!(matches!(
            anchor_at(&txn, &fragment, &elsewhere),
            Err(AnchorError::Invalid(_))
        ));
        for garbage in ["", "!!!", "AAAA", "/////w==", &"A".repeat(1000)] {
            let request = AnchorRequest::Positions {
                paragraph: "p-aaaaaaaaaa".into(),
                start: garbage.into(),
                end: garbage.into(),
            };
            assert!(
                matches!(
                    anchor_at(&txn, &fragment, &request),
                    Err(AnchorError::Invalid(_))
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn bodies_are_checked() {
        assert_eq!(
            check_body("  Well said.\r\nYes\t!  ").expect("ok"),
            "Well said.\nYes\t!"
        );
        assert!(check_body(" \n ").is_err());
        assert!(check_body(&"a".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(check_body(&"é".repeat(MAX_BODY_CHARS + 1)).is_err());
        assert!(check_body("bell\u{7}").is_err());
    }

    #[test]
    fn edits_keep_revisions_and_only_authors_change_their_comments() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let comments = Comments::open(&db).expect("comments");
        let anchor = Anchor::Section {
            section_id: "s-aaaaaaaaaa".into(),
        };
        let root = comments
            .create_thread("d", anchor, (1, "Ada"), "First".into(), 100)
            .expect("thread");
        let reply = comments
            .create_reply("d", root.id, (2, "Bo"), "Reply".into(), 101)
            .expect("reply");
        let nested = comments
            .create_reply("d", reply.id, (1, "Ada"), "Nested".into(), 102)
            .expect("reply to a reply");
        assert_eq!(
            nested.parent,
            Some(root.id),
            "a reply to a reply joins the thread"
        );
        assert!(matches!(
            comments.edit("d", root.id, 2, "Hijack".into(), 103),
            Err(CommentError::NotAllowed(_))
        ));
        let (edited, changed) = comments
            .edit("d", root.id, 1, "Second".into(), 104)
            .expect("edit");
        assert!(changed);
        assert_eq!(edited.body, "Second");
        assert_eq!(
            edited.revisions,
            vec![Revision {
                body: "First".into(),
                at: 100
            }]
        );
        let (_, changed) = comments
            .edit("d", root.id, 1, "Second".into(), 105)
            .expect("same");
        assert!(!changed, "the same body is no edit");
        assert!(matches!(
            comments.set_status("d", reply.id, CommentStatus::Resolved, 2, false, 106),
            Err(CommentError::NotAllowed(_))
        ));
        let (resolved, _) = comments
            .set_status("d", reply.id, CommentStatus::Resolved, 1, false, 106)
            .expect("the thread's author resolves it through a reply");
        assert_eq!(
            (resolved.id, resolved.status),
            (root.id, CommentStatus::Resolved)
        );
        comments.delete("d", reply.id, 2, 107).expect("delete own");
        assert!(matches!(
            comments.edit("d", reply.id, 2, "Back".into(), 108),
            Err(CommentError::Deleted)
        ));
        comments
            .hide("d", nested.id, 9, "off topic".into(), 109)
            .expect("hide");
        assert!(matches!(
            comments.edit("d", nested.id, 1, "Again".into(), 110),
            Err(CommentError::Hidden)
        ));
        let ids: Vec<u64> = comments
            .list("d")
            .expect("list")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![root.id, reply.id, nested.id]);
        assert!(comments.list("e").expect("other document").is_empty());
        assert!(matches!(
            comments.get("d", 12345),
            Err(CommentError::NotFound)
        ));
    }
}
