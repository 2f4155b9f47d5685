//! Stable ids for sections and paragraphs: issuing them, and keeping them unique in a document
//! whatever its editors did.
//!
//! An editor cannot be trusted to keep ids unique: when ProseMirror splits a paragraph in the
//! middle, the new node copies the old one's attributes, id included; when it splits at the end,
//! the new node has no id. So the server runs [`normalize_ids`] after integrating updates: the
//! first block in document order keeps an id, later duplicates, missing and malformed ids get
//! fresh ones. Fresh ids are random and checked against every id ever issued or seen for the
//! document, which the caller keeps, so an id is never given to a second block, even after the
//! first was deleted.

use std::collections::HashSet;

use manifesto_protocol::yrs;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use yrs::types::xml::XmlOut;
use yrs::{ReadTxn, TransactionMut, Xml, XmlElementRef, XmlFragment, XmlFragmentRef};

use super::schema;

/// Characters of an id after its prefix: RFC 4648 base32, lowercase.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Characters after the prefix: 50 random bits.
const ID_BODY_LEN: usize = 10;

/// Which kind of block an id names; it decides the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A section (its heading): `s-`.
    Section,
    /// A paragraph: `p-`.
    Paragraph,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Section => "s-",
            IdKind::Paragraph => "p-",
        }
    }

    /// Whether `id` has the form of an id of this kind: prefix, then 10 base32 characters.
    pub fn is_well_formed(self, id: &str) -> bool {
        id.strip_prefix(self.prefix()).is_some_and(|body| {
            body.len() == ID_BODY_LEN && body.bytes().all(|b| ALPHABET.contains(&b))
        })
    }
}

/// Issues fresh ids for one document, never one it has issued or seen before.
pub struct IdIssuer {
    /// Every id issued or seen for the document, including those of deleted blocks.
    known: HashSet<String>,
    rng: StdRng,
}

impl IdIssuer {
    /// An issuer for a document whose ids so far (issued or seen, deleted or not) are `known`.
    pub fn new(known: impl IntoIterator<Item = String>) -> IdIssuer {
        IdIssuer {
            known: known.into_iter().collect(),
            rng: StdRng::from_entropy(),
        }
    }

    /// Like [`IdIssuer::new`] with a seeded generator, so that tests can replay a sequence.
    #[cfg(test)]
    pub(crate) fn with_seed(known: impl IntoIterator<Item = String>, seed: u64) -> IdIssuer {
        IdIssuer {
            known: known.into_iter().collect(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A fresh id of `kind`, recorded as known.
    pub fn issue(&mut self, kind: IdKind) -> String {
        loop {
            let bits = self.rng.next_u64();
            let mut id = String::with_capacity(2 + ID_BODY_LEN);
            id.push_str(kind.prefix());
            for i in 0..ID_BODY_LEN {
                id.push(char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]));
            }
            if self.known.insert(id.clone()) {
                return id;
            }
        }
    }

    /// Records an id found in the document, so that it is never issued. Returns whether it
    /// was new.
    pub fn record(&mut self, id: &str) -> bool {
        if self.known.contains(id) {
            return false;
        }
        self.known.insert(id.to_owned())
    }

    /// Whether `id` was issued or seen.
    pub fn is_known(&self, id: &str) -> bool {
        self.known.contains(id)
    }

    /// Every id issued or seen.
    pub fn known(&self) -> &HashSet<String> {
        &self.known
    }
}

/// What [`normalize_ids`] changed; the caller persists both lists in the document's id set.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdChanges {
    /// Fresh ids written to blocks that had none, a malformed one or a duplicate.
    pub issued: Vec<String>,
    /// Well-formed ids found in the document that the issuer did not know (written by a client,
    /// e.g. pasted from another document); kept, and recorded so they are never issued.
    pub adopted: Vec<String>,
}

impl IdChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.issued.is_empty() && self.adopted.is_empty()
    }
}

/// Gives every heading and paragraph at the top of `fragment` a unique, well-formed id.
///
/// In document order, a block keeps its `id` if it is well formed for its kind (`s-` for
/// headings, `p-` for paragraphs) and no earlier block has it; otherwise it gets a fresh one
/// from `ids`. So after a split the first half keeps the id, after a move (delete and
/// re-insert) the block keeps it, and a duplicate never survives. Only blocks whose id changes
/// are written, so a document already in order costs no update.
pub fn normalize_ids(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    ids: &mut IdIssuer,
) -> IdChanges {
    let blocks = top_level_blocks(txn, fragment);
    let mut seen: HashSet<String> = HashSet::with_capacity(blocks.len());
    let mut changes = IdChanges::default();
    for (element, kind, id) in blocks {
        match id {
            Some(id) if kind.is_well_formed(&id) && !seen.contains(&id) => {
                if ids.record(&id) {
                    changes.adopted.push(id.clone());
                }
                seen.insert(id);
            }
            _ => {
                let fresh = ids.issue(kind);
                element.insert_attribute(txn, schema::ATTR_ID, fresh.as_str());
                seen.insert(fresh.clone());
                changes.issued.push(fresh);
            }
        }
    }
    changes
}

/// The headings and paragraphs directly under `fragment`, with their kind and `id` attribute
/// (if it is a string).
fn top_level_blocks<T: ReadTxn>(
    txn: &T,
    fragment: &XmlFragmentRef,
) -> Vec<(XmlElementRef, IdKind, Option<String>)> {
    fragment
        .children(txn)
        .filter_map(|child| {
            let XmlOut::Element(element) = child else {
                return None;
            };
            let kind = match element.tag().as_ref() {
                schema::HEADING => IdKind::Section,
                schema::PARAGRAPH => IdKind::Paragraph,
                _ => return None,
            };
            let id = schema::string_attribute(txn, &element, schema::ATTR_ID);
            Some((element, kind, id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ids_are_well_formed_for_their_kind() {
        let mut ids = IdIssuer::new([]);
        let section = ids.issue(IdKind::Section);
        let paragraph = ids.issue(IdKind::Paragraph);
        assert!(IdKind::Section.is_well_formed(&section), "{section}");
        assert!(IdKind::Paragraph.is_well_formed(&paragraph), "{paragraph}");
        assert!(!IdKind::Paragraph.is_well_formed(&section));
        assert!(ids.is_known(&section) && ids.is_known(&paragraph));
    }

    #[test]
    fn malformed_ids_are_recognised() {
        for id in [
            "",
            "p-",
            "p-abcdefghi",
            "p-abcdefghijk",
            "p-ABCDEFGHIJ",
            "p-abcdefgh18",
            "s-abcdefghij",
            "s-preamble",
            "p-abcdéfghij",
        ] {
            assert!(!IdKind::Paragraph.is_well_formed(id), "{id:?}");
        }
        assert!(IdKind::Paragraph.is_well_formed("p-abcdefgh27"));
    }

    #[test]
    fn an_id_already_known_is_never_issued_again() {
        // Two issuers with the same seed draw the same candidates; the second knows the first
        // one's id, so it must skip it.
        let first = IdIssuer::with_seed([], 7).issue(IdKind::Paragraph);
        let mut second = IdIssuer::with_seed([first.clone()], 7);
        let next = second.issue(IdKind::Paragraph);
        assert_ne!(next, first);
        assert!(IdKind::Paragraph.is_well_formed(&next));
    }

    #[test]
    fn record_reports_only_new_ids() {
        let mut ids = IdIssuer::new(["p-aaaaaaaaaa".to_owned()]);
        assert!(!ids.record("p-aaaaaaaaaa"));
        assert!(ids.record("p-bbbbbbbbbb"));
        assert!(!ids.record("p-bbbbbbbbbb"));
        assert_eq!(ids.known().len(), 2);
    }
}
