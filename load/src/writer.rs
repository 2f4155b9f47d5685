//! A writing delegate's side of an edit: turning trace edits into Yjs updates on the
//! writer's own `Y.Text`, and logging when each was sent.
//!
//! Positions in traces are code points; yrs is configured for UTF-16 offsets (as Yjs uses), so
//! a rope mirror of the writer's text converts between the two. No IO and no clock reads.

use std::sync::Mutex;
use std::time::Instant;

use ropey::Rope;
use yrs::{ClientID, Doc, GetString, ReadTxn, Text, TextRef, Transact, TransactionMut};

use crate::trace::{apply_clamped, Edit, WriterScript};

/// When each clock-advancing edit of one writer was sent.
///
/// Entries are `(clock after the edit, send instant)` in sending order, so clocks increase.
/// A reader has received edit `k` once the writer's clock in the reader's view reaches
/// `entries[k].0`. Pure deletions create no items and advance no clock, so they are sent and
/// counted but not logged (see the crate README).
#[derive(Debug)]
pub struct WriterLog {
    /// The writer's client id, as it appears in updates' state vectors.
    pub client_id: ClientID,
    /// Index of the document the writer writes to.
    pub doc_index: usize,
    // A mutex, not a lock-free list: one writer appends a few times per second and a bounded
    // number of sampling readers look up ranges; contention is negligible.
    entries: Mutex<Vec<(u32, Instant)>>,
}

impl WriterLog {
    /// An empty log.
    pub fn new(client_id: ClientID, doc_index: usize) -> WriterLog {
        WriterLog {
            client_id,
            doc_index,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Logs an edit whose update brings the writer's clock to `clock_after`.
    pub fn record(&self, clock_after: u32, sent: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((clock_after, sent));
        }
    }

    /// Number of logged edits.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `each` with the send instant of every edit from index `from` whose clock is at
    /// most `clock`, and returns the index after the last one.
    pub fn delivered_up_to(&self, from: usize, clock: u32, mut each: impl FnMut(Instant)) -> usize {
        let Ok(entries) = self.entries.lock() else {
            return from;
        };
        let mut next = from;
        while let Some(&(clock_after, sent)) = entries.get(next) {
            if clock_after > clock {
                break;
            }
            each(sent);
            next += 1;
        }
        next
    }
}

/// Plays a [`WriterScript`] into the writer's own text of `doc`.
pub struct ScriptPlayer {
    text: TextRef,
    mirror: Rope,
    script: WriterScript,
    next: usize,
    /// Edits clamped because they reached past a capped window.
    pub clamped: usize,
}

/// One encoded edit, ready to send.
pub struct EncodedEdit {
    /// The v1 update.
    pub update: Vec<u8>,
    /// The writer's clock after the edit, when the edit created items.
    pub clock_after: Option<u32>,
}

impl ScriptPlayer {
    /// A player writing into the root text `text_name` of `doc`.
    pub fn new(doc: &Doc, text_name: &str, script: WriterScript) -> ScriptPlayer {
        let text = doc.get_or_insert_text(text_name);
        ScriptPlayer {
            text,
            mirror: Rope::new(),
            script,
            next: 0,
            clamped: 0,
        }
    }

    /// Inserts the script's window (its prefill) and returns the update; the clock is not
    /// logged because the prefill happens before measuring.
    pub fn prefill(&mut self, doc: &Doc) -> Vec<u8> {
        let prefill = self.script.prefill.clone();
        self.apply(
            doc,
            &Edit {
                pos: 0,
                delete: 0,
                insert: prefill,
            },
        )
        .update
    }

    /// Number of edits not yet played.
    pub fn remaining(&self) -> usize {
        self.script.edits.len() - self.next
    }

    /// Applies the next edit of the script, or returns `None` when the script is done.
    pub fn next_edit(&mut self, doc: &Doc) -> Option<EncodedEdit> {
        let edit = self.script.edits.get(self.next)?.clone();
        self.next += 1;
        Some(self.apply(doc, &edit))
    }

    /// Applies up to `n` next edits in one transaction (one update), as a bulk import does;
    /// `None` when the script is done.
    pub fn next_batch(&mut self, doc: &Doc, n: usize) -> Option<EncodedEdit> {
        let end = (self.next + n.max(1)).min(self.script.edits.len());
        if self.next >= end {
            return None;
        }
        let mut txn = doc.transact_mut();
        for k in self.next..end {
            let edit = self.script.edits[k].clone();
            self.apply_in(&mut txn, &edit);
        }
        self.next = end;
        let update = txn.encode_update_v1();
        let clock_after = Some(txn.state_vector().get(&doc.client_id()));
        Some(EncodedEdit {
            update,
            clock_after,
        })
    }

    fn apply(&mut self, doc: &Doc, edit: &Edit) -> EncodedEdit {
        let mut txn = doc.transact_mut();
        let inserted = self.apply_in(&mut txn, edit);
        let update = txn.encode_update_v1();
        let clock_after = inserted.then(|| txn.state_vector().get(&doc.client_id()));
        EncodedEdit {
            update,
            clock_after,
        }
    }

    /// Applies `edit` (clamped) to the text and the mirror; returns whether it inserted.
    fn apply_in(&mut self, txn: &mut TransactionMut, edit: &Edit) -> bool {
        let len = self.mirror.len_chars();
        let pos = edit.pos.min(len);
        let delete = edit.delete.min(len - pos);
        let pos16 = self.mirror.char_to_utf16_cu(pos) as u32;
        let end16 = self.mirror.char_to_utf16_cu(pos + delete) as u32;
        let (applied, clamped) = apply_clamped(&mut self.mirror, edit);
        if clamped {
            self.clamped += 1;
        }
        if end16 > pos16 {
            self.text.remove_range(txn, pos16, end16 - pos16);
        }
        if !applied.insert.is_empty() {
            self.text.insert(txn, pos16, &applied.insert);
        }
        applied.inserts()
    }

    /// The writer's text as yrs holds it, for checks.
    pub fn text(&self, doc: &Doc) -> String {
        self.text.get_string(&doc.transact())
    }

    /// The mirror's text, which must equal [`ScriptPlayer::text`].
    pub fn mirror_text(&self) -> String {
        self.mirror.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::Update;

    fn script(prefill: &str, edits: Vec<Edit>) -> WriterScript {
        WriterScript {
            first_edit: 0,
            window_start: 0,
            prefill: prefill.to_owned(),
            edits,
        }
    }

    #[test]
    fn edits_land_at_code_point_positions_and_replicate() {
        let doc = Doc::with_options(yrs::Options {
            client_id: ClientID::new(7),
            offset_kind: yrs::OffsetKind::Utf16,
            ..Default::default()
        });
        let edits = vec![
            Edit {
                pos: 2,
                delete: 0,
                insert: "x".into(),
            },
            Edit {
                pos: 0,
                delete: 2,
                insert: String::new(),
            },
            Edit {
                pos: 1,
                delete: 1,
                insert: "é!".into(),
            },
        ];
        let mut player = ScriptPlayer::new(&doc, "w0", script("😀😀ab", edits));
        let replica = Doc::new();
        let apply = |update: Vec<u8>| {
            replica
                .transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
        };
        apply(player.prefill(&doc));
        let mut clocks = Vec::new();
        while let Some(edit) = player.next_edit(&doc) {
            clocks.push(edit.clock_after);
            apply(edit.update);
        }
        assert_eq!(player.text(&doc), "xé!b");
        assert_eq!(player.mirror_text(), "xé!b");
        let replica_text = replica
            .get_or_insert_text("w0")
            .get_string(&replica.transact());
        assert_eq!(replica_text, "xé!b");
        // The prefill took clocks 0..6 (UTF-16 units), "x" is 6, the deletion advances nothing.
        assert_eq!(clocks, vec![Some(7), None, Some(9)]);
        assert_eq!(player.clamped, 0);
    }

    #[test]
    fn log_reports_edits_up_to_a_clock() {
        let log = WriterLog::new(ClientID::new(1), 0);
        let t0 = Instant::now();
        for clock in [3, 4, 9] {
            log.record(clock, t0);
        }
        let mut n = 0;
        assert_eq!(log.delivered_up_to(0, 2, |_| n += 1), 0);
        assert_eq!(log.delivered_up_to(0, 4, |_| n += 1), 2);
        assert_eq!(log.delivered_up_to(2, 100, |_| n += 1), 3);
        assert_eq!(n, 3);
    }
}
