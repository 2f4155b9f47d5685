//! Editing one block's text in the live document with the smallest change, and merging texts
//! three ways (an amendment written against an older version of a paragraph).
//!
//! [`set_paragraph_text`] diffs the block's current text and the wanted one by words and only
//! deletes, inserts or reformats the ranges that differ. Characters the diff keeps stay the same
//! yrs items, so an edit someone makes elsewhere in the paragraph at the same time merges with
//! it, and cursors and selections (Yjs relative positions) inside the paragraph stay valid.
//!
//! Marks are written as the writer writes them and read as the reader reads them (see the module
//! documentation of [`super`]): key `em` or `strong`, value `{}`; a mark is removed by setting
//! every key that reads as it to `null`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use manifesto_protocol::yrs;
use similar::DiffTag;
use thiserror::Error;
use yrs::types::text::YChange;
use yrs::types::xml::XmlOut;
use yrs::types::Attrs;
use yrs::{
    Any, OffsetKind, Out, ReadTxn, Text, TransactionMut, XmlElementRef, XmlFragment,
    XmlFragmentRef, XmlTextPrelim, XmlTextRef,
};

use super::diff::{token_diff, Tokens};
use super::model::{RichText, Span};
use super::schema;

/// What [`set_paragraph_text`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditOutcome {
    /// Whether the document changed (false when the block already held the text).
    pub changed: bool,
}

/// An edit that cannot be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EditError {
    /// No heading or paragraph directly under the fragment has this id (an empty id never
    /// matches).
    #[error("no heading or paragraph has the id {0:?}; read the text again")]
    BlockNotFound(String),
}

/// Two edits of the same text that touch the same words of the original, so that they cannot
/// both be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("both versions change the same words (bytes {start}..{end} of the original text)")]
pub struct MergeConflict {
    /// Start of the contested range, in bytes of the original (base) text.
    pub start: usize,
    /// End of the contested range, in bytes of the original text (equal to `start` when both
    /// insert different text at the same place).
    pub end: usize,
}

/// The marks the editor knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Marks {
    em: bool,
    strong: bool,
}

impl Marks {
    fn of(span: &Span) -> Marks {
        Marks {
            em: span.em,
            strong: span.strong,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Em,
    Strong,
}

/// Which mark a formatting key stands for, by the reader's rule: the name, possibly followed by
/// `--` and an 8-character hash (y-prosemirror's overlapping marks), with TipTap's `italic` and
/// `bold` as `em` and `strong`.
fn mark_of_key(key: &str) -> Option<Mark> {
    let name = match key.rsplit_once("--") {
        Some((name, hash))
            if hash.len() == 8
                && (hash.bytes())
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) =>
        {
            name
        }
        _ => key,
    };
    match name {
        schema::MARK_EM | "italic" => Some(Mark::Em),
        schema::MARK_STRONG | "bold" => Some(Mark::Strong),
        _ => None,
    }
}

/// Whether a formatting value sets its mark (the reader's rule).
fn is_set(value: &Any) -> bool {
    !matches!(value, Any::Null | Any::Undefined | Any::Bool(false))
}

fn marks_of(attrs: &Attrs) -> Marks {
    let mut marks = Marks::default();
    for (key, _) in attrs.iter().filter(|(_, value)| is_set(value)) {
        match mark_of_key(key) {
            Some(Mark::Em) => marks.em = true,
            Some(Mark::Strong) => marks.strong = true,
            None => {}
        }
    }
    marks
}

/// The formatting attributes of text carrying exactly `marks`, as the writer writes them.
fn attrs_of(marks: Marks) -> Attrs {
    let mut attrs = Attrs::new();
    if marks.em {
        attrs.insert(Arc::from(schema::MARK_EM), empty_map());
    }
    if marks.strong {
        attrs.insert(Arc::from(schema::MARK_STRONG), empty_map());
    }
    attrs
}

fn empty_map() -> Any {
    Any::Map(Arc::new(HashMap::new()))
}

/// The formatting that turns text with attributes `current` into text with `wanted` marks: the
/// writer's key for a mark to add, `null` for every key that reads as a mark to remove.
fn reformat(current: &Attrs, wanted: Marks) -> Attrs {
    let have = marks_of(current);
    let mut attrs = Attrs::new();
    for (mark, key, want, has) in [
        (Mark::Em, schema::MARK_EM, wanted.em, have.em),
        (
            Mark::Strong,
            schema::MARK_STRONG,
            wanted.strong,
            have.strong,
        ),
    ] {
        if want && !has {
            attrs.insert(Arc::from(key), empty_map());
        } else if has && !want {
            for (current_key, value) in current {
                if is_set(value) && mark_of_key(current_key) == Some(mark) {
                    attrs.insert(current_key.clone(), Any::Null);
                }
            }
        }
    }
    attrs
}

/// Length of `text` in the document's index unit.
fn units(text: &str, kind: OffsetKind) -> u32 {
    let n = match kind {
        OffsetKind::Bytes => text.len(),
        OffsetKind::Utf16 => text.encode_utf16().count(),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Runs of `text` with the same marks, as byte ranges of its plain text.
fn mark_runs(text: &RichText) -> Vec<(Range<usize>, Marks)> {
    let mut start = 0;
    (text.spans().iter())
        .map(|span| {
            let range = start..start + span.text.len();
            start = range.end;
            (range, Marks::of(span))
        })
        .collect()
}

/// The pieces of `runs` within `range`, cut to it (none if it is empty).
fn runs_within(
    runs: &[(Range<usize>, Marks)],
    range: Range<usize>,
) -> impl Iterator<Item = (Range<usize>, Marks)> + '_ {
    let first = runs.partition_point(|(run, _)| run.end <= range.start);
    (runs[first..].iter())
        .take_while(move |(run, _)| run.start < range.end)
        .map(move |(run, marks)| (run.start.max(range.start)..run.end.min(range.end), *marks))
        .filter(|(piece, _)| !piece.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Editing the document

/// Sets the text of the heading or paragraph whose `id` attribute is `block_id` to `new`, with
/// the smallest word-level edit.
///
/// The block is the first `heading` or `paragraph` element directly under `fragment` with that
/// id (the one [`super::normalize_ids`] lets keep it). Its text is diffed by words against
/// `new`'s plain text: deleted ranges are removed, inserted ones are inserted with `new`'s marks
/// at that place, and kept ranges whose marks differ are reformatted; nothing else is touched.
/// A block without text gets one. A block with several texts (no editor writes that) keeps the
/// first, edited, and loses the others. Content the reader skips (embeds) stays where it is.
///
/// Indices are computed in the document's own [`OffsetKind`]: UTF-16 code units (as Yjs counts,
/// and as the server's rooms are configured) or UTF-8 bytes (yrs' default).
pub fn set_paragraph_text(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    block_id: &str,
    new: &RichText,
) -> Result<EditOutcome, EditError> {
    let element = find_block(txn, fragment, block_id)
        .ok_or_else(|| EditError::BlockNotFound(block_id.to_owned()))?;
    let texts = text_children(txn, &element);
    let mut changed = false;
    for (index, _) in texts.iter().skip(1).rev() {
        element.remove_range(txn, *index, 1);
        changed = true;
    }
    let text = match texts.into_iter().next() {
        Some((_, text)) => text,
        None if new.is_empty() => return Ok(EditOutcome { changed }),
        None => {
            changed = true;
            element.push_back(txn, XmlTextPrelim::new(""))
        }
    };
    let kind = txn.doc().offset_kind();
    let layout = Layout::read(txn, &text, kind);
    changed |= if layout.len == text.len(txn) {
        edit_text(txn, &text, &layout, new)
    } else {
        // Something the reader shows as text is not indexed as text (a string embed): no
        // position can be trusted, so the whole text is replaced.
        rewrite_text(txn, &text, new, kind)
    };
    Ok(EditOutcome { changed })
}

/// The first heading or paragraph directly under `fragment` whose id is `block_id`.
fn find_block<T: ReadTxn>(
    txn: &T,
    fragment: &XmlFragmentRef,
    block_id: &str,
) -> Option<XmlElementRef> {
    if block_id.is_empty() {
        return None;
    }
    fragment.children(txn).find_map(|child| match child {
        XmlOut::Element(element)
            if matches!(element.tag().as_ref(), schema::HEADING | schema::PARAGRAPH)
                && schema::string_attribute(txn, &element, schema::ATTR_ID).as_deref()
                    == Some(block_id) =>
        {
            Some(element)
        }
        _ => None,
    })
}

/// The texts directly inside `element`, with their child indices.
fn text_children<T: ReadTxn>(txn: &T, element: &XmlElementRef) -> Vec<(u32, XmlTextRef)> {
    (element.children(txn).enumerate())
        .filter_map(|(index, child)| match child {
            XmlOut::Text(text) => Some((u32::try_from(index).ok()?, text)),
            _ => None,
        })
        .collect()
}

/// A run of characters of the block's text with the same formatting.
struct TextRun {
    /// Its bytes in the plain text.
    plain: Range<usize>,
    /// Document index of its first character.
    index: u32,
    /// Its formatting attributes as stored.
    attrs: Attrs,
}

/// The block's text as the reader sees it, and where each character is in the document.
struct Layout {
    plain: String,
    runs: Vec<TextRun>,
    kind: OffsetKind,
    /// Length of everything, in document units, embeds included (1 each).
    len: u32,
}

impl Layout {
    fn read<T: ReadTxn>(txn: &T, text: &XmlTextRef, kind: OffsetKind) -> Layout {
        let mut layout = Layout {
            plain: String::new(),
            runs: Vec::new(),
            kind,
            len: 0,
        };
        for chunk in text.diff(txn, YChange::identity) {
            let Out::Any(Any::String(chars)) = &chunk.insert else {
                layout.len = layout.len.saturating_add(1);
                continue;
            };
            let start = layout.plain.len();
            layout.plain.push_str(chars);
            layout.runs.push(TextRun {
                plain: start..layout.plain.len(),
                index: layout.len,
                attrs: chunk.attributes.map(|attrs| *attrs).unwrap_or_default(),
            });
            layout.len = layout.len.saturating_add(units(chars, kind));
        }
        layout
    }

    /// Document index of the plain text's byte `offset` (after any embed there).
    fn index_at(&self, offset: usize) -> u32 {
        let run = self.runs.partition_point(|run| run.plain.end <= offset);
        match self.runs.get(run) {
            Some(run) => run.index + self.units(run.plain.start..offset),
            None => {
                (self.runs.last()).map_or(0, |last| last.index + self.units(last.plain.clone()))
            }
        }
    }

    fn units(&self, range: Range<usize>) -> u32 {
        units(self.plain.get(range).unwrap_or(""), self.kind)
    }

    /// The runs within `range` of the plain text, cut to it (none if it is empty), with their
    /// document indices.
    fn runs_within(
        &self,
        range: Range<usize>,
    ) -> impl Iterator<Item = (Range<usize>, u32, &Attrs)> {
        let first = self
            .runs
            .partition_point(|run| run.plain.end <= range.start);
        (self.runs[first..].iter())
            .take_while(move |run| run.plain.start < range.end)
            .map(move |run| {
                let cut = run.plain.start.max(range.start)..run.plain.end.min(range.end);
                let index = run.index + self.units(run.plain.start..cut.start);
                (cut, index, &run.attrs)
            })
            .filter(|(cut, _, _)| !cut.is_empty())
    }
}

/// Applies the word diff of `layout`'s text and `new` to `text`, last change first so that the
/// indices of earlier ones stay valid. Returns whether anything changed.
fn edit_text(txn: &mut TransactionMut, text: &XmlTextRef, layout: &Layout, new: &RichText) -> bool {
    let new_plain = new.plain_text();
    let new_runs = mark_runs(new);
    let (old_tokens, new_tokens) = (Tokens::new(&layout.plain), Tokens::new(&new_plain));
    let mut changed = false;
    for (tag, old_range, new_range) in token_diff(&old_tokens, &new_tokens).into_iter().rev() {
        let (old_bytes, new_bytes) = (
            old_tokens.byte_range(old_range),
            new_tokens.byte_range(new_range),
        );
        if tag == DiffTag::Equal {
            changed |= reformat_range(txn, text, layout, old_bytes, &new_runs, new_bytes.start);
            continue;
        }
        changed |= delete_range(txn, text, layout, old_bytes.clone());
        let mut index = layout.index_at(old_bytes.start);
        for (piece, marks) in runs_within(&new_runs, new_bytes) {
            let chars = new_plain.get(piece).unwrap_or("");
            text.insert_with_attributes(txn, index, chars, attrs_of(marks));
            index += units(chars, layout.kind);
            changed = true;
        }
    }
    changed
}

/// Removes the characters of `range` (embeds between them stay). Returns whether it did.
fn delete_range(
    txn: &mut TransactionMut,
    text: &XmlTextRef,
    layout: &Layout,
    range: Range<usize>,
) -> bool {
    let pieces: Vec<(u32, u32)> = (layout.runs_within(range))
        .map(|(cut, index, _)| (index, layout.units(cut)))
        .collect();
    for &(index, len) in pieces.iter().rev() {
        text.remove_range(txn, index, len);
    }
    !pieces.is_empty()
}

/// Gives the kept characters of `old_range` the marks `new_runs` has from `new_start` on.
/// Returns whether any mark changed.
fn reformat_range(
    txn: &mut TransactionMut,
    text: &XmlTextRef,
    layout: &Layout,
    old_range: Range<usize>,
    new_runs: &[(Range<usize>, Marks)],
    new_start: usize,
) -> bool {
    let mut formats = Vec::new();
    for (cut, index, attrs) in layout.runs_within(old_range.clone()) {
        let shift = |offset: usize| offset - old_range.start + new_start;
        for (piece, wanted) in runs_within(new_runs, shift(cut.start)..shift(cut.end)) {
            let attrs = reformat(attrs, wanted);
            if !attrs.is_empty() {
                let old_start = piece.start - new_start + old_range.start;
                let start = index + layout.units(cut.start..old_start);
                let len = layout.units(old_start..old_start + piece.len());
                formats.push((start, len, attrs));
            }
        }
    }
    let changed = !formats.is_empty();
    for (start, len, attrs) in formats {
        text.format(txn, start, len, attrs);
    }
    changed
}

/// Replaces the whole of `text` by `new`. Returns whether anything changed.
fn rewrite_text(
    txn: &mut TransactionMut,
    text: &XmlTextRef,
    new: &RichText,
    kind: OffsetKind,
) -> bool {
    let len = text.len(txn);
    if len > 0 {
        text.remove_range(txn, 0, len);
    }
    let mut index = 0;
    for span in new.spans() {
        text.insert_with_attributes(txn, index, &span.text, attrs_of(Marks::of(span)));
        index += units(&span.text, kind);
    }
    len > 0 || !new.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Three-way merges

/// Which of the two edited versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Ours,
    Theirs,
}

/// One side's change: tokens `base` of the base replaced by tokens `replacement` of that side
/// (an insertion when `base` is empty).
struct Change {
    side: Side,
    base: Range<usize>,
    replacement: Range<usize>,
}

/// One side's word diff from the base.
struct SideDiff<'a> {
    tokens: Tokens<'a>,
    /// Its changes in base order, disjoint.
    changes: Vec<Change>,
    /// For each base token, the side's token it is kept as, if it is kept.
    kept: Vec<Option<usize>>,
}

impl<'a> SideDiff<'a> {
    fn new(base: &Tokens, text: &'a str, side: Side) -> SideDiff<'a> {
        let tokens = Tokens::new(text);
        let mut changes = Vec::new();
        let mut kept = vec![None; base.len()];
        for (tag, base_range, replacement) in token_diff(base, &tokens) {
            if tag == DiffTag::Equal {
                for (base_token, side_token) in base_range.zip(replacement) {
                    if let Some(slot) = kept.get_mut(base_token) {
                        *slot = Some(side_token);
                    }
                }
            } else {
                changes.push(Change {
                    side,
                    base: base_range,
                    replacement,
                });
            }
        }
        SideDiff {
            tokens,
            changes,
            kept,
        }
    }

    fn text(&self, change: &Change) -> &'a str {
        self.tokens.slice(change.replacement.clone())
    }
}

/// A piece of the merged text: base tokens both sides kept, or tokens one side wrote.
enum Segment {
    Base(Range<usize>),
    Side(Side, Range<usize>),
}

/// A clean merge: the diffs and the merged text's pieces.
struct Merge<'a> {
    base: Tokens<'a>,
    ours: SideDiff<'a>,
    theirs: SideDiff<'a>,
    segments: Vec<Segment>,
}

impl<'a> Merge<'a> {
    fn side(&self, side: Side) -> &SideDiff<'a> {
        match side {
            Side::Ours => &self.ours,
            Side::Theirs => &self.theirs,
        }
    }

    fn plain_text(&self) -> String {
        (self.segments.iter())
            .map(|segment| match segment {
                Segment::Base(tokens) => self.base.slice(tokens.clone()),
                Segment::Side(side, tokens) => self.side(*side).tokens.slice(tokens.clone()),
            })
            .collect()
    }
}

/// Merges two edits of `base` by words: `ours` (the proposed text, e.g. an amendment) and
/// `theirs` (the current text), both made from `base`.
///
/// The merge is clean when the two sets of changes touch disjoint words of `base`: a change
/// replaces (or deletes) a run of base tokens, or inserts between two tokens. Two changes
/// conflict when their runs overlap, when one inserts strictly inside a run the other replaces,
/// or when both insert different text at the same place; the same change made on both sides is
/// applied once. An insertion next to the other side's replacement comes before it when at its
/// start and after it when at its end.
pub fn merge_three_way(base: &str, ours: &str, theirs: &str) -> Result<String, MergeConflict> {
    if ours == theirs || base == theirs {
        return Ok(ours.to_owned());
    }
    if base == ours {
        return Ok(theirs.to_owned());
    }
    Ok(merge_tokens(base, ours, theirs)?.plain_text())
}

/// [`merge_three_way`] of rich texts. The merged characters are those of the plain merge;
/// characters one side wrote keep that side's marks; characters both kept take, mark by mark,
/// the value of the side that changed it (if both did, they agree: a mark is on or off).
pub fn merge_three_way_rich(
    base: &RichText,
    ours: &RichText,
    theirs: &RichText,
) -> Result<RichText, MergeConflict> {
    if ours == theirs || base == theirs {
        return Ok(ours.clone());
    }
    if base == ours {
        return Ok(theirs.clone());
    }
    let plains = [base.plain_text(), ours.plain_text(), theirs.plain_text()];
    let merge = merge_tokens(&plains[0], &plains[1], &plains[2])?;
    let runs = [mark_runs(base), mark_runs(ours), mark_runs(theirs)];
    let mut merged = RichText::new();
    for segment in &merge.segments {
        match segment {
            Segment::Side(side, tokens) => {
                let (plain, side_runs) = match side {
                    Side::Ours => (&plains[1], &runs[1]),
                    Side::Theirs => (&plains[2], &runs[2]),
                };
                let bytes = merge.side(*side).tokens.byte_range(tokens.clone());
                for (piece, marks) in runs_within(side_runs, bytes) {
                    merged.push(plain.get(piece).unwrap_or(""), marks.em, marks.strong);
                }
            }
            Segment::Base(tokens) => {
                for token in tokens.clone() {
                    push_kept_token(&mut merged, &merge, &runs, token);
                }
            }
        }
    }
    Ok(merged)
}

/// Appends base token `token`, which both sides kept, with its marks merged mark by mark.
fn push_kept_token(
    merged: &mut RichText,
    merge: &Merge,
    [base_runs, ours_runs, theirs_runs]: &[Vec<(Range<usize>, Marks)>; 3],
    token: usize,
) {
    let base_bytes = merge.base.byte_range(token..token + 1);
    let start_in = |side: &SideDiff| match side.kept.get(token).copied().flatten() {
        Some(kept) => (side.tokens.byte_range(kept..kept + 1).start, true),
        None => (base_bytes.start, false),
    };
    let (ours_start, ours_known) = start_in(&merge.ours);
    let (theirs_start, theirs_known) = start_in(&merge.theirs);
    let chars = merge.base.slice(token..token + 1);
    for (offset, c) in chars.char_indices() {
        let was = marks_at(base_runs, base_bytes.start + offset);
        let ours = ours_known.then(|| marks_at(ours_runs, ours_start + offset));
        let theirs = theirs_known.then(|| marks_at(theirs_runs, theirs_start + offset));
        let (ours, theirs) = (ours.unwrap_or(was), theirs.unwrap_or(was));
        let pick = |was: bool, ours: bool, theirs: bool| if ours != was { ours } else { theirs };
        let mut buffer = [0; 4];
        merged.push(
            c.encode_utf8(&mut buffer),
            pick(was.em, ours.em, theirs.em),
            pick(was.strong, ours.strong, theirs.strong),
        );
    }
}

/// The marks at byte `offset` of a text cut into `runs`.
fn marks_at(runs: &[(Range<usize>, Marks)], offset: usize) -> Marks {
    let index = runs.partition_point(|(run, _)| run.end <= offset);
    runs.get(index).map(|(_, marks)| *marks).unwrap_or_default()
}

/// Diffs both sides from the base, checks their changes are compatible and lays out the
/// merged text.
fn merge_tokens<'a>(
    base: &'a str,
    ours: &'a str,
    theirs: &'a str,
) -> Result<Merge<'a>, MergeConflict> {
    let base_tokens = Tokens::new(base);
    let ours = SideDiff::new(&base_tokens, ours, Side::Ours);
    let theirs = SideDiff::new(&base_tokens, theirs, Side::Theirs);
    if let Some(conflict) = find_conflict(&base_tokens, &ours, &theirs) {
        return Err(conflict);
    }
    let mut changes: Vec<(&Change, &str)> = (ours.changes.iter())
        .map(|change| (change, ours.text(change)))
        .chain(
            theirs
                .changes
                .iter()
                .map(|change| (change, theirs.text(change))),
        )
        .collect();
    // Insertions before replacements starting at the same token; ours before theirs, so that a
    // change both made is met twice in a row.
    changes.sort_by_key(|(change, _)| (change.base.start, !change.base.is_empty(), change.side));
    let mut segments = Vec::new();
    let mut position = 0;
    let mut previous: Option<(&Change, &str)> = None;
    for (change, text) in changes {
        if previous
            .is_some_and(|(other, other_text)| other.base == change.base && other_text == text)
        {
            continue;
        }
        if change.base.start > position {
            segments.push(Segment::Base(position..change.base.start));
        }
        segments.push(Segment::Side(change.side, change.replacement.clone()));
        position = position.max(change.base.end);
        previous = Some((change, text));
    }
    if position < base_tokens.len() {
        segments.push(Segment::Base(position..base_tokens.len()));
    }
    Ok(Merge {
        base: base_tokens,
        ours,
        theirs,
        segments,
    })
}

/// The first pair of changes, one from each side, that cannot both be applied.
fn find_conflict(base: &Tokens, ours: &SideDiff, theirs: &SideDiff) -> Option<MergeConflict> {
    for change in &ours.changes {
        // Each side's changes are disjoint and in order, so the candidates are contiguous.
        let first = (theirs.changes).partition_point(|other| other.base.end < change.base.start);
        let candidates = (theirs.changes[first..].iter())
            .take_while(|other| other.base.start <= change.base.end);
        for other in candidates {
            if conflicts((change, ours.text(change)), (other, theirs.text(other))) {
                let start = change.base.start.min(other.base.start);
                let end = change.base.end.max(other.base.end);
                let bytes = base.byte_range(start..end);
                return Some(MergeConflict {
                    start: bytes.start,
                    end: bytes.end,
                });
            }
        }
    }
    None
}

/// Whether two changes from different sides touch the same words (see [`merge_three_way`]).
fn conflicts((a, a_text): (&Change, &str), (b, b_text): (&Change, &str)) -> bool {
    if a.base == b.base && a_text == b_text {
        return false;
    }
    let inside = |point: usize, run: &Range<usize>| run.start < point && point < run.end;
    match (a.base.is_empty(), b.base.is_empty()) {
        (true, true) => a.base.start == b.base.start,
        (true, false) => inside(a.base.start, &b.base),
        (false, true) => inside(b.base.start, &a.base),
        (false, false) => a.base.start < b.base.end && b.base.start < a.base.end,
    }
}

#[cfg(test)]
mod tests {
    use manifesto_protocol::yrs;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use yrs::updates::decoder::Decode;
    use yrs::{Assoc, Doc, IndexedSequence, Options, Transact, Update};

    use super::*;
    use crate::text::{
        read_sections, write_manuscript, IdIssuer, ManuscriptDraft, Section, SectionDraft,
        SectionKind, FRAGMENT_NAME,
    };

    const KINDS: [OffsetKind; 2] = [OffsetKind::Bytes, OffsetKind::Utf16];

    fn peer(client_id: u64, kind: OffsetKind) -> (Doc, XmlFragmentRef) {
        let mut options = Options::with_client_id(yrs::ClientID::new(client_id));
        options.offset_kind = kind;
        let doc = Doc::with_options(options);
        let fragment = doc.get_or_insert_xml_fragment(FRAGMENT_NAME);
        (doc, fragment)
    }

    /// Writes one numbered section "Climat" with `paragraphs`; returns the heading's id then
    /// the paragraphs'.
    fn write(doc: &Doc, fragment: &XmlFragmentRef, paragraphs: Vec<RichText>) -> Vec<String> {
        let draft = ManuscriptDraft {
            sections: vec![SectionDraft {
                kind: SectionKind::Numbered,
                heading: Some(RichText::plain("Climat")),
                paragraphs,
            }],
            ..ManuscriptDraft::default()
        };
        let mut ids = IdIssuer::new([]);
        write_manuscript(&mut doc.transact_mut(), fragment, &draft, &mut ids).expect("writes")
    }

    fn read(doc: &Doc, fragment: &XmlFragmentRef) -> Vec<Section> {
        read_sections(&doc.transact(), fragment)
    }

    /// Rich text from (characters, em, strong) spans.
    fn rich(spans: &[(&str, bool, bool)]) -> RichText {
        let mut text = RichText::new();
        for (chars, em, strong) in spans {
            text.push(chars, *em, *strong);
        }
        text
    }

    fn set(doc: &Doc, fragment: &XmlFragmentRef, id: &str, new: &RichText) -> EditOutcome {
        set_paragraph_text(&mut doc.transact_mut(), fragment, id, new).expect("block exists")
    }

    /// The text inside the top-level block at `index`.
    fn text_at(doc: &Doc, fragment: &XmlFragmentRef, index: u32) -> XmlTextRef {
        let txn = doc.transact();
        let Some(XmlOut::Element(element)) = fragment.get(&txn, index) else {
            panic!("no block at {index}");
        };
        let Some(XmlOut::Text(text)) = element.get(&txn, 0) else {
            panic!("block {index} has no text");
        };
        text
    }

    fn plain<T: ReadTxn>(txn: &T, text: &XmlTextRef) -> String {
        (text.diff(txn, YChange::identity).into_iter())
            .filter_map(|chunk| match chunk.insert {
                Out::Any(Any::String(chars)) => Some(chars.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Document index (in `kind` units) of byte `offset` of `text`.
    fn index_of(text: &str, offset: usize, kind: OffsetKind) -> u32 {
        units(&text[..offset], kind)
    }

    /// Byte offset in `text` of document index `index`.
    fn offset_of(text: &str, index: u32, kind: OffsetKind) -> usize {
        (text.char_indices().map(|(offset, _)| offset))
            .chain([text.len()])
            .find(|&offset| index_of(text, offset, kind) == index)
            .expect("index on a character boundary")
    }

    fn sync(from: &Doc, to: &Doc) {
        let state_vector = to.transact().state_vector();
        let update = from.transact().encode_diff_v1(&state_vector);
        let update = Update::decode_v1(&update).expect("decodes");
        to.transact_mut().apply_update(update).expect("applies");
    }

    const OPENING: &str = "«\u{202F}L’été 🌍 arrive\u{202F}»\u{A0}: nous demandons une ";

    #[test]
    fn edits_words_and_marks_after_multibyte_text_and_reads_back() {
        for kind in KINDS {
            let (doc, fragment) = peer(1, kind);
            let before = rich(&[
                (OPENING, false, false),
                ("action", true, false),
                (" rapide.", false, false),
            ]);
            let ids = write(
                &doc,
                &fragment,
                vec![
                    RichText::plain("Premier."),
                    before,
                    RichText::plain("Dernier."),
                ],
            );
            let mut expected = read(&doc, &fragment);
            let after = rich(&[
                (
                    "«\u{202F}L’été 🌍 arrive\u{202F}»\u{A0}: nous exigeons une ",
                    false,
                    false,
                ),
                ("action", false, true),
                (" immédiate et ", false, false),
                ("juste", true, false),
                (".", false, false),
            ]);
            assert!(set(&doc, &fragment, &ids[2], &after).changed);
            expected[0].paragraphs[1].text = after.clone();
            assert_eq!(read(&doc, &fragment), expected, "{kind:?}");

            let heading = RichText::plain("Climat et énergie");
            assert!(set(&doc, &fragment, &ids[0], &heading).changed);
            expected[0].heading = heading;
            assert_eq!(read(&doc, &fragment), expected, "{kind:?}");
        }
    }

    #[test]
    fn the_same_text_writes_nothing() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let text = rich(&[(OPENING, false, false), ("action", true, true)]);
        let ids = write(&doc, &fragment, vec![text.clone()]);
        let mut txn = doc.transact_mut();
        let outcome = set_paragraph_text(&mut txn, &fragment, &ids[1], &text).expect("exists");
        assert_eq!(outcome, EditOutcome { changed: false });
        assert!(!txn.has_changes());
    }

    #[test]
    fn unknown_and_empty_ids_are_not_found() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        write(&doc, &fragment, vec![RichText::plain("Texte.")]);
        let mut txn = doc.transact_mut();
        for id in ["p-aaaaaaaaaa", ""] {
            assert_eq!(
                set_paragraph_text(&mut txn, &fragment, id, &RichText::plain("x")),
                Err(EditError::BlockNotFound(id.to_owned()))
            );
        }
        assert!(!txn.has_changes());
    }

    #[test]
    fn an_empty_block_gets_a_text_and_a_text_can_be_emptied() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let ids = write(&doc, &fragment, vec![RichText::new()]);
        let new = rich(&[("Nouveau ", false, false), ("texte", false, true)]);
        assert!(set(&doc, &fragment, &ids[1], &new).changed);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, new);
        assert!(set(&doc, &fragment, &ids[1], &RichText::new()).changed);
        assert!(read(&doc, &fragment)[0].paragraphs[0].text.is_empty());
    }

    #[test]
    fn marks_other_editors_wrote_are_removed_under_every_name() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let ids = write(&doc, &fragment, vec![RichText::plain("un deux trois")]);
        let text = text_at(&doc, &fragment, 1);
        {
            let mut txn = doc.transact_mut();
            let italic = Attrs::from([(Arc::from("italic"), Any::Bool(true))]);
            text.format(&mut txn, 0, 2, italic);
            let hashed = Attrs::from([(Arc::from("strong--a1B2+/=x"), empty_map())]);
            text.format(&mut txn, 3, 4, hashed);
        }
        let formatted = rich(&[
            ("un", true, false),
            (" ", false, false),
            ("deux", false, true),
            (" trois", false, false),
        ]);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, formatted);
        // Keeping "un" italic needs no change; "deux" loses its hashed strong.
        let wanted = rich(&[("un", true, false), (" deux trois", false, false)]);
        assert!(set(&doc, &fragment, &ids[1], &wanted).changed);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, wanted);
        assert!(set(&doc, &fragment, &ids[1], &RichText::plain("un deux trois")).changed);
        assert_eq!(
            read(&doc, &fragment)[0].paragraphs[0].text,
            RichText::plain("un deux trois")
        );
    }

    #[test]
    fn embeds_stay_and_a_string_embed_falls_back_to_a_rewrite() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let ids = write(&doc, &fragment, vec![RichText::plain("avant après")]);
        let text = text_at(&doc, &fragment, 1);
        text.insert_embed(&mut doc.transact_mut(), 5, Any::from(42.0));
        let new = RichText::plain("avant, bien après");
        assert!(set(&doc, &fragment, &ids[1], &new).changed);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, new);
        assert_eq!(
            text.len(&doc.transact()),
            units("avant, bien après", OffsetKind::Bytes) + 1
        );

        // The reader shows a string embed as text although it is one position long.
        text.insert_embed(&mut doc.transact_mut(), 0, Any::from("caché "));
        let new = RichText::plain("tout neuf");
        assert!(set(&doc, &fragment, &ids[1], &new).changed);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, new);
    }

    #[test]
    fn extra_texts_in_a_block_are_removed() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let ids = write(&doc, &fragment, vec![RichText::plain("premier")]);
        {
            let mut txn = doc.transact_mut();
            let Some(XmlOut::Element(element)) = fragment.get(&txn, 1) else {
                panic!("no paragraph");
            };
            element.push_back(&mut txn, XmlTextPrelim::new(" second"));
        }
        assert_eq!(
            read(&doc, &fragment)[0].paragraphs[0].text.plain_text(),
            "premier second"
        );
        let new = RichText::plain("premier texte");
        assert!(set(&doc, &fragment, &ids[1], &new).changed);
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, new);
    }

    #[test]
    fn a_concurrent_insert_elsewhere_in_the_paragraph_merges() {
        for kind in KINDS {
            let (server, server_fragment) = peer(1, kind);
            let original = format!("{OPENING}action rapide.");
            let ids = write(&server, &server_fragment, vec![RichText::plain(&original)]);
            let (client, client_fragment) = peer(2, kind);
            sync(&server, &client);

            // The client adds a word after "arrive", behind accents, quotes and an emoji.
            let at = original.find("arrive").expect("word") + "arrive".len();
            let client_text = text_at(&client, &client_fragment, 1);
            client_text.insert(
                &mut client.transact_mut(),
                index_of(&original, at, kind),
                " enfin",
            );
            // Meanwhile the server rewrites the end of the same paragraph.
            let amended = format!("{OPENING}action immédiate.");
            set(
                &server,
                &server_fragment,
                &ids[1],
                &RichText::plain(&amended),
            );

            sync(&server, &client);
            sync(&client, &server);
            let expected = amended.replacen("arrive", "arrive enfin", 1);
            for (doc, fragment) in [(&server, &server_fragment), (&client, &client_fragment)] {
                let sections = read(doc, fragment);
                assert_eq!(
                    sections[0].paragraphs[0].text.plain_text(),
                    expected,
                    "{kind:?}"
                );
            }
        }
    }

    /// A paragraph of about 600 characters, in French, with "rapide" in the middle and
    /// "solidarité" after it.
    fn long_paragraph() -> String {
        let sentence = "Les délégué·es « réunis à Nantes » rappellent l’urgence 🌍 d’agir. ";
        let mut text = sentence.repeat(5);
        text.push_str("Nous appelons à une action rapide et à la solidarité entre les peuples. ");
        text.push_str(&sentence.repeat(5));
        text
    }

    #[test]
    fn replacing_one_word_sends_a_small_update_and_keeps_positions() {
        for kind in KINDS {
            let (doc, fragment) = peer(1, kind);
            let original = long_paragraph();
            assert!(
                original.chars().count() > 600,
                "{}",
                original.chars().count()
            );
            let ids = write(&doc, &fragment, vec![RichText::plain(&original)]);
            let text = text_at(&doc, &fragment, 1);
            let word_at = original.find("solidarité").expect("word");
            let sticky = text
                .sticky_index(
                    &doc.transact(),
                    index_of(&original, word_at, kind),
                    Assoc::After,
                )
                .expect("inside the text");

            let amended = original.replacen("rapide", "immédiate", 1);
            let update = {
                let mut txn = doc.transact_mut();
                let outcome =
                    set_paragraph_text(&mut txn, &fragment, &ids[1], &RichText::plain(&amended));
                assert_eq!(outcome, Ok(EditOutcome { changed: true }));
                txn.encode_update_v1()
            };
            assert!(
                update.len() < 64,
                "{kind:?}: an update of {} bytes for one word of {} bytes",
                update.len(),
                original.len()
            );

            let txn = doc.transact();
            let now = plain(&txn, &text);
            assert_eq!(now, amended);
            let offset = sticky.get_offset(&txn).expect("resolves").index;
            let offset = offset_of(&now, offset, kind);
            assert!(
                now[offset..].starts_with("solidarité"),
                "{kind:?}: {:?}",
                &now[offset..]
            );
        }
    }

    #[test]
    fn formatting_only_keeps_every_character() {
        let (doc, fragment) = peer(1, OffsetKind::Bytes);
        let original = long_paragraph();
        let ids = write(&doc, &fragment, vec![RichText::plain(&original)]);
        let (start, end) = (
            original.find("rapide").expect("word"),
            original.find(" et à").expect("words"),
        );
        let mut bolder = RichText::new();
        bolder.push(&original[..start], false, false);
        bolder.push(&original[start..end], false, true);
        bolder.push(&original[end..], false, false);
        let update = {
            let mut txn = doc.transact_mut();
            set_paragraph_text(&mut txn, &fragment, &ids[1], &bolder).expect("exists");
            txn.encode_update_v1()
        };
        assert!(update.len() < 64, "{} bytes", update.len());
        let update = Update::decode_v1(&update).expect("decodes");
        assert!(update.delete_set().is_empty(), "no character is deleted");
        assert_eq!(read(&doc, &fragment)[0].paragraphs[0].text, bolder);
    }

    fn random_rich(rng: &mut StdRng) -> RichText {
        const WORDS: &[&str] = &[
            "eau",
            "énergie",
            "l’",
            "«\u{202F}",
            "\u{202F}»",
            ", ",
            ". ",
            " ",
            "\u{A0}",
            "🌍",
            "droit",
            "pour",
            "tous",
            "e\u{301}",
            "\n",
        ];
        let mut text = RichText::new();
        for _ in 0..rng.gen_range(0..30) {
            let word = WORDS[rng.gen_range(0..WORDS.len())];
            text.push(word, rng.gen_bool(0.2), rng.gen_bool(0.2));
        }
        text
    }

    fn seed() -> u64 {
        let seed = std::env::var("EDIT_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(rand::random);
        println!("seed {seed} (replay with EDIT_SEED={seed})");
        seed
    }

    #[test]
    fn random_edits_read_back_as_written() {
        let mut rng = StdRng::seed_from_u64(seed());
        for round in 0..200 {
            let kind = KINDS[round % 2];
            let (doc, fragment) = peer(1, kind);
            let old = random_rich(&mut rng);
            let ids = write(&doc, &fragment, vec![old.clone()]);
            for _ in 0..3 {
                let new = random_rich(&mut rng);
                set(&doc, &fragment, &ids[1], &new);
                assert_eq!(
                    read(&doc, &fragment)[0].paragraphs[0].text,
                    new,
                    "{kind:?} from {old:?}"
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Three-way merges

    #[test]
    fn disjoint_changes_merge() {
        let base = "Nous appelons à une action rapide pour le climat.";
        let ours = "Nous appelons à une action immédiate pour le climat.";
        let theirs = "Nous appelons à une action rapide pour le climat et la biodiversité.";
        assert_eq!(
            merge_three_way(base, ours, theirs),
            Ok("Nous appelons à une action immédiate pour le climat et la biodiversité.".into())
        );
        assert_eq!(
            merge_three_way(base, theirs, ours),
            merge_three_way(base, ours, theirs)
        );
        // A change next to the other side's change still merges.
        assert_eq!(
            merge_three_way("a b c", "a B c", "a b C"),
            Ok("a B C".into())
        );
        assert_eq!(
            merge_three_way("a b", "x a b", "a b y"),
            Ok("x a b y".into())
        );
    }

    #[test]
    fn overlapping_changes_conflict() {
        let base = "« L’été » : une action rapide.";
        let ours = "« L’été » : une action immédiate.";
        let theirs = "« L’été » : une action concertée.";
        let start = base.find("rapide").expect("word");
        assert_eq!(
            merge_three_way(base, ours, theirs),
            Err(MergeConflict {
                start,
                end: start + "rapide".len()
            })
        );
        // Different insertions at the same place.
        assert!(merge_three_way("a b", "a x b", "a y b").is_err());
        // An insertion inside a range the other side replaced.
        assert!(merge_three_way("a b c d", "a b X c d", "a Y d").is_err());
    }

    #[test]
    fn identical_changes_on_both_sides_merge_once() {
        let base = "We call for urgent action.";
        let both = "We call for immediate action.";
        assert_eq!(merge_three_way(base, both, both), Ok(both.to_owned()));
        assert_eq!(
            merge_three_way(base, both, "We call for immediate action now."),
            Ok("We call for immediate action now.".into())
        );
        assert_eq!(
            merge_three_way("a b", "a x b", "a x b c"),
            Ok("a x b c".into())
        );
    }

    #[test]
    fn insertions_are_placed_where_the_diff_puts_them() {
        // A case where similar 2.x reports an insertion at a stale base position.
        let left = "l’🌍eautous\n\n\neau\nénergie, l’tousl’énergie\u{202f}»eau";
        let new_left =
            ", tous\u{202f}», pour, \u{202f}»l’\u{202f}»pourtousdroiténergieeautouseaudroit ";
        let right = "\u{a0}«\u{202f},  \n«\u{202f}";
        let new_right =
            "  l’. énergiee\u{301}l’droitl’«\u{202f}🌍eau énergie🌍 e\u{301}\u{202f}»«\u{202f}";
        assert_eq!(
            merge_three_way(
                &format!("{left} | {right}"),
                &format!("{new_left} | {right}"),
                &format!("{left} | {new_right}")
            ),
            Ok(format!("{new_left} | {new_right}"))
        );
    }

    #[test]
    fn random_disjoint_edits_merge_to_both() {
        let mut rng = StdRng::seed_from_u64(seed());
        let text = |rng: &mut StdRng| random_rich(rng).plain_text();
        for _ in 0..300 {
            let (left, right) = (text(&mut rng), text(&mut rng));
            let (new_left, new_right) = (text(&mut rng), text(&mut rng));
            let base = format!("{left} | {right}");
            let ours = format!("{new_left} | {right}");
            let theirs = format!("{left} | {new_right}");
            assert_eq!(
                merge_three_way(&base, &ours, &theirs),
                Ok(format!("{new_left} | {new_right}")),
                "{base:?} {ours:?} {theirs:?}"
            );
            let (a, b) = (text(&mut rng), text(&mut rng));
            assert_eq!(
                merge_three_way(&base, &a, &b),
                merge_three_way(&base, &b, &a),
                "a merge does not depend on which side is which"
            );
        }
    }

    #[test]
    fn rich_merge_takes_marks_from_the_side_that_changed_them() {
        let base = RichText::plain("une action rapide pour le climat");
        // Ours rewords the end and emphasises it; theirs makes "action" strong.
        let ours = rich(&[
            ("une action rapide pour ", false, false),
            ("la planète", true, false),
        ]);
        let theirs = rich(&[
            ("une ", false, false),
            ("action", false, true),
            (" rapide pour le climat", false, false),
        ]);
        let expected = rich(&[
            ("une ", false, false),
            ("action", false, true),
            (" rapide pour ", false, false),
            ("la planète", true, false),
        ]);
        assert_eq!(
            merge_three_way_rich(&base, &ours, &theirs),
            Ok(expected.clone())
        );
        assert_eq!(merge_three_way_rich(&base, &theirs, &ours), Ok(expected));
        let other = rich(&[
            ("une action rapide pour ", false, false),
            ("tous", false, false),
        ]);
        assert!(merge_three_way_rich(&base, &ours, &other).is_err());
    }
}
