//! Amendments: precise changes to the numbered text that delegates propose, the secretariat
//! screens and the assembly votes on. Records live in the sled tree `amendments` (key =
//! document id, `0`, amendment number as u64 big-endian; value = JSON [`AmendmentRecord`]),
//! never in the shared document.
//!
//! This module keeps the records and the workflow's rules (who may do what, in which status);
//! applying an amendment to the live text is the API's job (`api::amendments`), which calls
//! [`crate::text`]'s minimal edits inside a room job.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

use crate::text::RichText;

/// Longest proposed text (per paragraph), in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Longest rationale or screening reason, in characters.
pub const MAX_RATIONALE_CHARS: usize = 2000;
/// Most paragraphs in a proposed new section.
pub const MAX_SECTION_PARAGRAPHS: usize = 50;

/// What an amendment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AmendmentKind {
    /// Replace the target paragraph's text.
    Replace,
    /// Delete the target paragraph.
    Delete,
    /// Insert a new paragraph after the target paragraph.
    InsertAfter,
    /// Insert a new numbered section after the target section.
    InsertSection,
    /// Delete the target section (its heading and paragraphs).
    DeleteSection,
}

impl AmendmentKind {
    /// Whether the target is a section (otherwise a paragraph).
    pub fn targets_section(self) -> bool {
        matches!(
            self,
            AmendmentKind::InsertSection | AmendmentKind::DeleteSection
        )
    }

    /// Whether two amendments of these kinds on the same target compete (only one can be
    /// adopted: the others fall).
    pub fn competes_with(self, other: AmendmentKind) -> bool {
        let rewrites = |k| {
            matches!(
                k,
                AmendmentKind::Replace | AmendmentKind::Delete | AmendmentKind::DeleteSection
            )
        };
        rewrites(self) && rewrites(other)
    }
}

/// Where an amendment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AmendmentStatus {
    /// Tabled, waiting for screening.
    Submitted,
    /// Withdrawn by its author (or replaced by a revision).
    Withdrawn,
    /// Refused by the secretariat, with a reason.
    Inadmissible,
    /// Accepted by the secretariat as a friendly change, and applied.
    Accepted,
    /// Screened for a vote; its ballot may be open.
    ToVote,
    /// Adopted by a vote, and applied.
    Adopted,
    /// Rejected by a vote.
    Rejected,
    /// Another amendment to the same target was adopted first.
    Fallen,
    /// Its ballot did not reach the quorum.
    Void,
}

impl AmendmentStatus {
    /// Still in play: it may yet change the text.
    pub fn is_pending(self) -> bool {
        matches!(self, AmendmentStatus::Submitted | AmendmentStatus::ToVote)
    }
}

/// One change of status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: AmendmentStatus,
    /// Account that made it; `None` for the server (a ballot closing at its deadline).
    pub by: Option<u64>,
    /// Unix seconds.
    pub at: i64,
    pub reason: Option<String>,
}

/// A stored amendment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmendmentRecord {
    /// Number within the document (shown as "A3").
    pub id: u64,
    pub document: String,
    pub kind: AmendmentKind,
    /// The paragraph (or section) id it targets.
    pub target: String,
    /// The proposed text: the paragraph's for replace and insert, the heading's for a new
    /// section.
    pub text: Option<RichText>,
    /// The paragraphs of a proposed new section.
    #[serde(default)]
    pub paragraphs: Vec<RichText>,
    pub rationale: String,
    pub author: u64,
    pub author_name: String,
    /// Supporting delegates (co-sponsors), in order.
    pub supporters: Vec<u64>,
    pub status: AmendmentStatus,
    /// Every status change, oldest first (the first is the tabling).
    pub history: Vec<StatusChange>,
    /// The named version that was the latest when it was written.
    pub written_against: u64,
    /// The target's text when it was written (or re-screened): the base of the three-way
    /// merge when it is applied, and what "outdated" compares with.
    pub base_text: Option<RichText>,
    /// The amendment this one revises (which was withdrawn for it).
    pub revises: Option<u64>,
    /// The amendment that revises this one.
    pub revised_by: Option<u64>,
    /// Voting order among competing amendments set by the secretariat (lower first).
    pub vote_order: Option<u32>,
    /// The ballot on it, once opened.
    pub ballot: Option<u64>,
    /// The named version taken after it was applied.
    pub applied_version: Option<u64>,
    /// Unix seconds.
    pub created_at: i64,
}

impl AmendmentRecord {
    /// Whether its text may still change: nobody supports it and nobody screened it.
    pub fn is_editable(&self) -> bool {
        self.status == AmendmentStatus::Submitted && self.supporters.is_empty()
    }
}

/// A workflow rule refused the change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmendmentError {
    #[error("no such amendment")]
    NotFound,
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    WrongStatus(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sled::Error> for AmendmentError {
    fn from(e: sled::Error) -> AmendmentError {
        AmendmentError::Database(e.to_string())
    }
}

/// The amendments of every document.
pub struct Amendments {
    tree: sled::Tree,
    /// Serialises read-modify-write of records (numbering, supporters, status).
    lock: std::sync::Mutex<()>,
    /// Held across "check the status, change the text, record the status" (screening,
    /// following up a closed ballot, linking a ballot), so an amendment is never applied
    /// twice nor applied after it fell.
    pub decisions: tokio::sync::Mutex<()>,
}

use super::numbered_key as key;

fn decode(bytes: &[u8]) -> Result<AmendmentRecord, AmendmentError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AmendmentError::Database(format!("corrupt amendment: {e}")))
}

impl Amendments {
    /// The records in `db`'s tree `amendments`.
    pub fn open(db: &sled::Db) -> Result<Amendments, sled::Error> {
        Ok(Amendments {
            tree: db.open_tree("amendments")?,
            lock: std::sync::Mutex::new(()),
            decisions: tokio::sync::Mutex::new(()),
        })
    }

    fn put(&self, record: &AmendmentRecord) -> Result<(), AmendmentError> {
        let bytes =
            serde_json::to_vec(record).map_err(|e| AmendmentError::Database(e.to_string()))?;
        self.tree.insert(key(&record.document, record.id), bytes)?;
        Ok(())
    }

    /// Amendment `id` of `document`.
    pub fn get(&self, document: &str, id: u64) -> Result<AmendmentRecord, AmendmentError> {
        let bytes = self
            .tree
            .get(key(document, id))?
            .ok_or(AmendmentError::NotFound)?;
        decode(&bytes)
    }

    /// Every amendment of `document`, in number order.
    pub fn list(&self, document: &str) -> Result<Vec<AmendmentRecord>, AmendmentError> {
        let prefix = super::prefixed(document, b"");
        self.tree
            .scan_prefix(prefix)
            .map(|item| decode(&item?.1))
            .collect()
    }

    /// Tables `new` (its `id` is set here) after checking the author's pending cap; when it
    /// revises an earlier amendment of the same author, that one is withdrawn for it.
    pub fn table(
        &self,
        mut new: AmendmentRecord,
        max_pending: usize,
    ) -> Result<AmendmentRecord, AmendmentError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let all = self.list(&new.document)?;
        let pending = all
            .iter()
            .filter(|a| a.author == new.author && a.status.is_pending())
            .filter(|a| Some(a.id) != new.revises)
            .count();
        if pending >= max_pending {
            return Err(AmendmentError::NotAllowed(format!(
                "you already have {pending} pending amendments on this document (at most {max_pending})"
            )));
        }
        new.id = all.last().map_or(1, |a| a.id + 1);
        if let Some(old_id) = new.revises {
            let mut old = all
                .iter()
                .find(|a| a.id == old_id)
                .cloned()
                .ok_or(AmendmentError::NotFound)?;
            if old.author != new.author {
                return Err(AmendmentError::NotAllowed(
                    "only its author revises an amendment".into(),
                ));
            }
            if !old.status.is_pending() {
                return Err(AmendmentError::WrongStatus(
                    "only a pending amendment can be revised".into(),
                ));
            }
            old.status = AmendmentStatus::Withdrawn;
            old.revised_by = Some(new.id);
            old.history.push(StatusChange {
                status: AmendmentStatus::Withdrawn,
                by: Some(new.author),
                at: new.created_at,
                reason: Some(format!("revised by A{}", new.id)),
            });
            self.put(&old)?;
        }
        self.put(&new)?;
        Ok(new)
    }

    /// Changes amendment `id` of `document` with `change` under the lock, and stores it.
    pub fn update(
        &self,
        document: &str,
        id: u64,
        change: impl FnOnce(&mut AmendmentRecord) -> Result<(), AmendmentError>,
    ) -> Result<AmendmentRecord, AmendmentError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.get(document, id)?;
        change(&mut record)?;
        self.put(&record)?;
        Ok(record)
    }
}

/// Moves `record` to `status`, recording who, when and why.
pub fn set_status(
    record: &mut AmendmentRecord,
    status: AmendmentStatus,
    by: Option<u64>,
    reason: Option<String>,
) {
    record.status = status;
    record.history.push(StatusChange {
        status,
        by,
        at: super::now(),
        reason,
    });
}

/// Adds (or removes) `user`'s support.
pub fn support(record: &mut AmendmentRecord, user: u64, add: bool) -> Result<(), AmendmentError> {
    if record.author == user {
        return Err(AmendmentError::NotAllowed(
            "the author does not support their own amendment".into(),
        ));
    }
    if record.status != AmendmentStatus::Submitted {
        return Err(AmendmentError::WrongStatus(
            "support can change only before screening".into(),
        ));
    }
    let has = record.supporters.contains(&user);
    match (add, has) {
        (true, false) => record.supporters.push(user),
        (false, true) => record.supporters.retain(|u| *u != user),
        // Supporting twice or withdrawing support never given changes nothing.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(author: u64) -> AmendmentRecord {
        AmendmentRecord {
            id: 0,
            document: "d".into(),
            kind: AmendmentKind::Replace,
            target: "p-aaaaaaaaaa".into(),
            text: Some(RichText::plain("New")),
            paragraphs: vec![],
            rationale: "Because".into(),
            author,
            author_name: "A".into(),
            supporters: vec![],
            status: AmendmentStatus::Submitted,
            history: vec![],
            written_against: 1,
            base_text: Some(RichText::plain("Old")),
            revises: None,
            revised_by: None,
            vote_order: None,
            ballot: None,
            applied_version: None,
            created_at: 0,
        }
    }

    #[test]
    fn numbers_caps_and_revisions() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let store = Amendments::open(&db).expect("store");
        let a1 = store.table(record(7), 2).expect("first");
        let a2 = store.table(record(7), 2).expect("second");
        assert_eq!((a1.id, a2.id), (1, 2));
        assert!(matches!(
            store.table(record(7), 2),
            Err(AmendmentError::NotAllowed(_))
        ));
        // A revision replaces a pending one, so it fits under the cap.
        let mut revision = record(7);
        revision.revises = Some(1);
        let a3 = store.table(revision, 2).expect("revision");
        let old = store.get("d", 1).expect("old");
        assert_eq!(old.status, AmendmentStatus::Withdrawn);
        assert_eq!(old.revised_by, Some(a3.id));
        let mut theirs = record(8);
        theirs.revises = Some(2);
        assert!(matches!(
            store.table(theirs, 2),
            Err(AmendmentError::NotAllowed(_))
        ));
    }

    #[test]
    fn support_freezes_the_text_and_follows_the_rules() {
        let mut a = record(1);
        assert!(a.is_editable());
        assert!(support(&mut a, 1, true).is_err(), "not one's own");
        support(&mut a, 2, true).expect("support");
        support(&mut a, 2, true).expect("twice is once");
        assert_eq!(a.supporters, vec![2]);
        assert!(!a.is_editable());
        support(&mut a, 2, false).expect("withdraw support");
        assert!(a.supporters.is_empty());
        set_status(&mut a, AmendmentStatus::ToVote, Some(9), None);
        assert!(
            support(&mut a, 3, true).is_err(),
            "screened: support is closed"
        );
        assert!(AmendmentKind::Replace.competes_with(AmendmentKind::Delete));
        assert!(!AmendmentKind::InsertAfter.competes_with(AmendmentKind::Replace));
    }
}
