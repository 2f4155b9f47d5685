//! The structure of a Manifesto's text: ordered sections, each a heading and paragraphs, with
//! stable ids and derived numbers, kept in the live yrs document.
//!
//! The text is the `Y.XmlFragment` named [`FRAGMENT_NAME`] (`"prosemirror"`, y-prosemirror's
//! convention), so a ProseMirror-family editor binds it directly. Its children are a flat list of
//! block elements, in document order:
//!
//! - `heading` (attributes `id` = `s-` + 10 base32 characters, `kind` = `preamble` | `numbered` |
//!   `closing`, `level` = `"1"`) opens a section;
//! - `paragraph` (attribute `id` = `p-` + 10 base32 characters) belongs to the section opened by
//!   the last heading before it; paragraphs before the first heading form an untitled preamble
//!   whose pseudo id is [`UNTITLED_PREAMBLE_ID`].
//!
//! Each block holds one `XmlText` whose formatting attributes carry the marks as y-prosemirror
//! stores them: the mark's name as key (`em`, `strong`), its attributes as value (`{}`).
//!
//! Numbers are derived on reading, never stored: numbered sections count 1, 2, 3…, their
//! paragraphs 3.1, 3.2…; preamble and closing paragraphs are unnumbered.
//!
//! This module reads and writes that structure ([`read_manuscript`], [`write_manuscript`]),
//! keeps ids unique ([`normalize_ids`]), imports Markdown drafts ([`import_markdown`]), compares
//! versions by words ([`diff_manuscripts`]) and edits one block minimally
//! ([`set_paragraph_text`]). It knows nothing of rooms, storage or HTTP, and trusts nothing in
//! the document: any writer can put anything there.

mod diff;
mod edit;
mod ids;
mod markdown;
mod model;
mod read;
mod structure;
mod write;

#[cfg(test)]
mod tests;

pub use diff::{
    change_share, diff_manuscripts, diff_words, ChangeCounts, ChangeKind, DiffKind, DiffOp,
    ManuscriptDiff, ParagraphChange, SectionChange,
};
pub use edit::{
    merge_three_way, merge_three_way_rich, set_paragraph_text, EditError, EditOutcome,
    MergeConflict,
};
pub use ids::{normalize_ids, IdChanges, IdIssuer, IdKind};
pub use markdown::{
    import_markdown, ImportError, MAX_FRONT_MATTER_BYTES, MAX_IMPORT_BYTES, MAX_PARAGRAPHS,
    MAX_SECTIONS,
};
pub use model::{
    Manuscript, ManuscriptDraft, Metadata, Paragraph, RichText, Section, SectionDraft, SectionKind,
    Span,
};
pub use read::{read_manuscript, read_sections};
pub use structure::{
    insert_paragraph_after, insert_section_after, remove_paragraph, remove_section,
};
pub use write::{write_manuscript, WriteError};

/// Name of the root `Y.XmlFragment` that holds the text.
pub const FRAGMENT_NAME: &str = "prosemirror";

/// Pseudo id of the untitled preamble formed by paragraphs before the first heading. It cannot
/// be an issued id: those have 10 characters after the prefix.
pub const UNTITLED_PREAMBLE_ID: &str = "s-preamble";

/// Element names and attribute keys of the schema, shared by the reader, the writer and
/// [`normalize_ids`].
mod schema {
    use manifesto_protocol::yrs;
    use yrs::{Any, Out, ReadTxn, Xml, XmlElementRef};

    pub const HEADING: &str = "heading";
    pub const PARAGRAPH: &str = "paragraph";
    pub const ATTR_ID: &str = "id";
    pub const ATTR_KIND: &str = "kind";
    pub const ATTR_LEVEL: &str = "level";
    /// The only heading level written; any heading opens a section whatever its level.
    pub const HEADING_LEVEL: &str = "1";
    pub const MARK_EM: &str = "em";
    pub const MARK_STRONG: &str = "strong";

    /// The value of attribute `key` of `element` if it is a string.
    pub fn string_attribute<T: ReadTxn>(
        txn: &T,
        element: &XmlElementRef,
        key: &str,
    ) -> Option<String> {
        match element.get_attribute(txn, key)? {
            Out::Any(Any::String(value)) => Some(value.to_string()),
            _ => None,
        }
    }
}
