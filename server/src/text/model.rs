//! The structured text as the server hands it out (JSON through serde, described for OpenAPI
//! through utoipa) and as the importer produces it. Plain data: no yrs here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A Manifesto's text with its metadata, as the read API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Manuscript {
    /// Title, forum, place… (not part of the shared document; the caller supplies them).
    pub metadata: Metadata,
    /// The sections in document order.
    pub sections: Vec<Section>,
}

/// What a Manifesto says about itself, from the front matter of an imported draft. Every
/// field is optional; keys the importer does not know are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Metadata {
    /// Title of the Manifesto.
    pub title: Option<String>,
    /// The forum or meeting that adopts it.
    pub forum: Option<String>,
    /// Where the forum meets.
    pub place: Option<String>,
    /// When it meets, as written (e.g. "29–30 January 2026").
    pub dates: Option<String>,
    /// Language of the text (e.g. "en", "fr"); several may be listed, comma-separated.
    pub language: Option<String>,
    /// Status of the draft, as written (e.g. "Working draft").
    pub status: Option<String>,
    /// A short description.
    pub description: Option<String>,
    /// Any other front matter key, with its text value.
    #[serde(default)]
    pub other: BTreeMap<String, String>,
}

/// What a section is for; it decides whether it is numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    /// Unnumbered opening section (considerations, "Preamble").
    Preamble,
    /// Operative section, numbered 1, 2, 3…
    Numbered,
    /// Unnumbered closing section (the final call).
    Closing,
}

impl SectionKind {
    /// The value of the heading's `kind` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::Preamble => "preamble",
            SectionKind::Numbered => "numbered",
            SectionKind::Closing => "closing",
        }
    }

    /// The kind named by a `kind` attribute; `None` for anything else.
    pub fn parse(value: &str) -> Option<SectionKind> {
        match value {
            "preamble" => Some(SectionKind::Preamble),
            "numbered" => Some(SectionKind::Numbered),
            "closing" => Some(SectionKind::Closing),
            _ => None,
        }
    }
}

/// One section: a heading and its paragraphs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Section {
    /// Stable id of the section (its heading's), or `"s-preamble"` for the untitled preamble.
    /// Empty only if the heading has no id yet (ids are normalised after every update).
    pub id: String,
    /// What the section is for.
    pub kind: SectionKind,
    /// Derived number of a numbered section (1, 2, 3…); `null` for the others.
    pub number: Option<u32>,
    /// The heading's text, without any number; empty for the untitled preamble.
    pub heading: RichText,
    /// The paragraphs in document order.
    pub paragraphs: Vec<Paragraph>,
}

/// One paragraph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Paragraph {
    /// Stable id of the paragraph. Empty only if it has no id yet.
    pub id: String,
    /// Derived number ("3.2") in a numbered section; `null` elsewhere.
    pub number: Option<String>,
    /// The paragraph's text.
    pub text: RichText,
}

/// A run of text with the same marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Span {
    /// The characters.
    pub text: String,
    /// Emphasis (italic).
    pub em: bool,
    /// Strong (bold).
    pub strong: bool,
}

/// Rich text: spans in order, never empty ones, and no two neighbours with the same marks (so
/// that the same text always gives the same spans).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct RichText(Vec<Span>);

impl RichText {
    /// Empty text.
    pub fn new() -> RichText {
        RichText(Vec::new())
    }

    /// Unformatted text.
    pub fn plain(text: &str) -> RichText {
        let mut rich = RichText::new();
        rich.push(text, false, false);
        rich
    }

    /// Appends `text` with the given marks, merging it into the last span if the marks match.
    pub fn push(&mut self, text: &str, em: bool, strong: bool) {
        if text.is_empty() {
            return;
        }
        if let Some(last) = self.0.last_mut() {
            if last.em == em && last.strong == strong {
                last.text.push_str(text);
                return;
            }
        }
        self.0.push(Span {
            text: text.to_owned(),
            em,
            strong,
        });
    }

    /// The spans.
    pub fn spans(&self) -> &[Span] {
        &self.0
    }

    /// The characters without marks.
    pub fn plain_text(&self) -> String {
        self.0.iter().map(|span| span.text.as_str()).collect()
    }

    /// Whether there are no characters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same text without leading and trailing white space.
    pub fn trimmed(&self) -> RichText {
        let mut spans = self.0.clone();
        while let Some(first) = spans.first_mut() {
            let trimmed = first.text.trim_start();
            if trimmed.is_empty() {
                spans.remove(0);
            } else {
                first.text = trimmed.to_owned();
                break;
            }
        }
        while let Some(last) = spans.last_mut() {
            let trimmed = last.text.trim_end();
            if trimmed.is_empty() {
                spans.pop();
            } else {
                last.text = trimmed.to_owned();
                break;
            }
        }
        RichText(spans)
    }

    /// Removes the first `n_bytes` bytes of the first span (which must hold at least that
    /// many, on a character boundary), then leading white space.
    pub(crate) fn strip_prefix_of_first_span(&mut self, n_bytes: usize) {
        if let Some(first) = self.0.first_mut() {
            if let Some(rest) = first.text.get(n_bytes..) {
                first.text = rest.to_owned();
            }
            if first.text.is_empty() {
                self.0.remove(0);
            }
        }
        *self = self.trimmed();
    }
}

/// A Manifesto to write into an empty document: what the importer produces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ManuscriptDraft {
    /// From the front matter.
    pub metadata: Metadata,
    /// The sections in order.
    pub sections: Vec<SectionDraft>,
}

/// A section to write; it gets its ids when written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SectionDraft {
    /// What the section is for.
    pub kind: SectionKind,
    /// The heading without number; `None` only for an untitled preamble, which must come first.
    pub heading: Option<RichText>,
    /// The paragraphs' texts, without numbers.
    pub paragraphs: Vec<RichText>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_merges_neighbours_with_the_same_marks_and_drops_empty_text() {
        let mut text = RichText::new();
        text.push("Re", true, false);
        text.push("calling", true, false);
        text.push("", false, true);
        text.push(" that", false, false);
        assert_eq!(
            text.spans(),
            &[
                Span {
                    text: "Recalling".into(),
                    em: true,
                    strong: false
                },
                Span {
                    text: " that".into(),
                    em: false,
                    strong: false
                },
            ]
        );
        assert_eq!(text.plain_text(), "Recalling that");
    }

    #[test]
    fn trimmed_removes_outer_white_space_across_spans() {
        let mut text = RichText::new();
        text.push("  ", false, false);
        text.push(" Noting", true, false);
        text.push(" that ", false, false);
        let trimmed = text.trimmed();
        assert_eq!(trimmed.plain_text(), "Noting that");
        assert!(trimmed.spans()[0].em);
        assert!(RichText::plain(" \n ").trimmed().is_empty());
    }

    #[test]
    fn json_shape_is_a_list_of_spans_and_lowercase_kinds() {
        let section = Section {
            id: "s-abcdefghij".into(),
            kind: SectionKind::Numbered,
            number: Some(2),
            heading: RichText::plain("Food"),
            paragraphs: vec![],
        };
        let json = serde_json::to_value(&section).expect("serialises");
        assert_eq!(json["kind"], "numbered");
        assert_eq!(
            json["heading"],
            serde_json::json!([{"text": "Food", "em": false, "strong": false}])
        );
    }
}
