//! Renders a Manifesto to Markdown, HTML and PDF.
//!
//! The input is [`ExportDocument`], plain data the server builds from its text and records:
//! this crate knows nothing of the server, its storage or HTTP, so the PDF engine (typst, a
//! large dependency) is compiled once and never rebuilt when the server changes.
//!
//! - [`markdown`]: CommonMark with YAML front matter, in the shape the server's importer
//!   reads back into the same structure;
//! - [`html`]: one standalone printable page;
//! - [`pdf`]: A4, typeset in-process by typst with embedded fonts, tagged.

pub mod html;
mod labels;
pub mod markdown;
mod model;
pub mod pdf;

pub use labels::{language_tag, vote_text, Lang};
pub use model::{
    AmendmentAction, Annex, AnnexAmendment, AnnexStatus, AnnexTarget, Date, ExportDocument,
    ExportMetadata, ExportParagraph, ExportSection, ExportStatus, Majority, SectionKind, Span,
    VoteResult,
};

/// The formats an export can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Pdf,
    Markdown,
    Html,
}

impl Format {
    /// The format of a file extension (`pdf`, `md`, `html`).
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension {
            "pdf" => Some(Format::Pdf),
            "md" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Markdown => "md",
            Format::Html => "html",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// typst could not typeset the document (a bug in the layout, not in the text).
    #[error("the PDF could not be typeset: {0}")]
    Pdf(String),
}

/// Renders `document` in `format`. The PDF takes a few hundred milliseconds of CPU: callers
/// on an async runtime run it on a blocking thread.
pub fn render(document: &ExportDocument, format: Format) -> Result<Vec<u8>, ExportError> {
    match format {
        Format::Pdf => pdf::render(document),
        Format::Markdown => Ok(markdown::render(document).into_bytes()),
        Format::Html => Ok(html::render(document).into_bytes()),
    }
}

/// A small document with hostile strings, for the renderers' tests.
#[cfg(test)]
pub(crate) fn hostile_sample(language: &str) -> ExportDocument {
    let span = |text: &str, em: bool| Span {
        text: text.into(),
        em,
        strong: false,
    };
    ExportDocument {
        document_id: "manifesto-2026".into(),
        metadata: ExportMetadata {
            title: "Manifeste #set text(red) $x^2$ ] [ \\ « Genève » <script>alert(1)</script>"
                .into(),
            forum: Some("Forum *de* _Genève_ #1 & co".into()),
            place: Some("Genève".into()),
            dates: Some("29–30 janvier 2026".into()),
            language: Some(language.into()),
            description: None,
        },
        status: ExportStatus::Draft {
            date: Date {
                year: 2026,
                month: 1,
                day: 29,
            },
        },
        version: Some(12),
        sections: vec![
            ExportSection {
                kind: SectionKind::Preamble,
                number: None,
                heading: vec![span("Préambule", false)],
                paragraphs: vec![ExportParagraph {
                    number: None,
                    text: vec![
                        span("Considérant", true),
                        span(
                            " que l’économie « sociale » #emph[x] $1 + 1$ ] \" ' @ref <b> // c",
                            false,
                        ),
                    ],
                }],
            },
            ExportSection {
                kind: SectionKind::Numbered,
                number: Some(1),
                heading: vec![span("Énergie *#rect()*", false)],
                paragraphs: vec![
                    ExportParagraph {
                        number: Some("1.1".into()),
                        text: vec![span("Première phrase ; deuxième : fin !", false)],
                    },
                    ExportParagraph {
                        number: Some("1.2".into()),
                        text: vec![span("- 1. # > tiret en tête", false)],
                    },
                ],
            },
        ],
        annex: Some(Annex {
            adopted: vec![AnnexAmendment {
                number: 3,
                author: "Ana <b>Pérez</b> | #x".into(),
                target: AnnexTarget::Paragraph(Some("1.1".into())),
                action: AmendmentAction::Replace,
                status: AnnexStatus::Adopted,
                vote: Some(VoteResult {
                    adopted: true,
                    void: false,
                    yes: 41,
                    no: 12,
                    abstain: 3,
                    majority: Majority::TwoThirds,
                    n_eligible: 60,
                    n_voted: 56,
                    quorum_required: None,
                }),
            }],
            not_adopted: vec![AnnexAmendment {
                number: 4,
                author: "Bo".into(),
                target: AnnexTarget::Section(Some(1)),
                action: AmendmentAction::DeleteSection,
                status: AnnexStatus::Withdrawn,
                vote: None,
            }],
        }),
    }
}
