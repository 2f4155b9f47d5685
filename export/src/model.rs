//! The document an export renders: plain serde data that the server builds from its text,
//! records, amendments and ballots. The renderers read nothing else.

use serde::{Deserialize, Serialize};

/// A Manifesto to export: metadata, status, text and an optional annex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDocument {
    /// The document's id (shown in the footer).
    pub document_id: String,
    pub metadata: ExportMetadata,
    /// Draft or adopted, and when.
    pub status: ExportStatus,
    /// The named version exported; `None` for the current text.
    pub version: Option<u64>,
    /// The sections in order.
    pub sections: Vec<ExportSection>,
    /// The amendments, when asked for.
    pub annex: Option<Annex>,
}

/// What the Manifesto says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportMetadata {
    pub title: String,
    pub forum: Option<String>,
    pub place: Option<String>,
    /// As written ("29–30 January 2026").
    pub dates: Option<String>,
    /// Language tag(s) as written ("fr", "fr, en"); the first one is the text's.
    pub language: Option<String>,
    pub description: Option<String>,
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Date {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
}

/// Where the text stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportStatus {
    /// A draft, as it was on `date` (the version's date, or today for the current text).
    Draft { date: Date },
    /// The adopted text.
    Adopted { date: Date },
}

/// What a section is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Preamble,
    Numbered,
    Closing,
}

/// One section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSection {
    pub kind: SectionKind,
    /// 1, 2, 3… for numbered sections.
    pub number: Option<u32>,
    /// Empty for an untitled preamble.
    pub heading: Vec<Span>,
    pub paragraphs: Vec<ExportParagraph>,
}

/// One paragraph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportParagraph {
    /// "3.2" in a numbered section.
    pub number: Option<String>,
    pub text: Vec<Span>,
}

/// A run of text with the same marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub text: String,
    pub em: bool,
    pub strong: bool,
}

impl Span {
    /// Unformatted text.
    pub fn plain(text: &str) -> Span {
        Span {
            text: text.to_owned(),
            em: false,
            strong: false,
        }
    }
}

/// The amendments annexed to the text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annex {
    /// Adopted by a vote or accepted as friendly changes, in number order.
    pub adopted: Vec<AnnexAmendment>,
    /// Rejected, withdrawn, inadmissible, fallen or void, in number order.
    pub not_adopted: Vec<AnnexAmendment>,
}

/// One amendment in the annex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnexAmendment {
    /// Its number (shown "A3").
    pub number: u64,
    pub author: String,
    /// What it changed: "paragraph 3.2", "section 4" (`target_kind` + number), or the
    /// target as it was when the number is gone.
    pub target: AnnexTarget,
    /// What it does.
    pub action: AmendmentAction,
    pub status: AnnexStatus,
    /// The vote, when one decided.
    pub vote: Option<VoteResult>,
}

/// What an amendment targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "number", rename_all = "snake_case")]
pub enum AnnexTarget {
    /// A paragraph by its number ("3.2"), or an unnumbered one.
    Paragraph(Option<String>),
    /// A section by its number, or an unnumbered one.
    Section(Option<u32>),
}

/// What an amendment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmendmentAction {
    Replace,
    Delete,
    InsertAfter,
    InsertSection,
    DeleteSection,
}

/// How an amendment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnexStatus {
    Adopted,
    Accepted,
    Rejected,
    Withdrawn,
    Inadmissible,
    Fallen,
    Void,
}

/// The rule a ballot was decided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Majority {
    Simple,
    Absolute,
    TwoThirds,
}

/// A ballot's result with its counts and rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteResult {
    /// Adopted (or rejected / void, as `status` says).
    pub adopted: bool,
    /// The quorum was not met.
    pub void: bool,
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
    pub majority: Majority,
    pub n_eligible: u32,
    pub n_voted: u32,
    pub quorum_required: Option<u32>,
}
