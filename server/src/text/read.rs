//! Reading the structure out of the shared document.
//!
//! Any writer can put anything in the fragment, so reading accepts anything and never panics:
//!
//! - only `heading` and `paragraph` elements directly under the fragment count, as in the
//!   editor, whose schema has no other block (y-prosemirror drops nodes the schema refuses);
//!   other elements and top-level texts are skipped, with whatever they contain;
//! - every `heading` opens a section, whatever its `level`; a missing or unknown `kind` reads as
//!   `numbered` (what a section added in the editor most likely is);
//! - a block's text is the concatenation of the `XmlText`s directly inside it; nested elements
//!   (an inline node, a stray block) and embeds are skipped;
//! - marks are read as y-prosemirror writes them: a formatting attribute whose key is the mark
//!   name, possibly followed by `--` and an 8-character hash (marks that may overlap), and whose
//!   value is anything but `null` or `false`. `italic` and `bold` (TipTap's names) read as `em`
//!   and `strong`; other marks are dropped;
//! - a missing or non-string `id` reads as an empty string (until [`super::normalize_ids`]
//!   runs).

use manifesto_protocol::yrs;
use yrs::types::text::YChange;
use yrs::types::xml::XmlOut;
use yrs::{Any, Out, ReadTxn, Text, XmlElementRef, XmlFragment, XmlFragmentRef};

use super::model::{Manuscript, Metadata, Paragraph, RichText, Section, SectionKind};
use super::{schema, UNTITLED_PREAMBLE_ID};

/// The whole text with `metadata` (which the shared document does not hold).
pub fn read_manuscript<T: ReadTxn>(
    txn: &T,
    fragment: &XmlFragmentRef,
    metadata: Metadata,
) -> Manuscript {
    Manuscript {
        metadata,
        sections: read_sections(txn, fragment),
    }
}

/// The sections of `fragment` in order, with derived numbers.
pub fn read_sections<T: ReadTxn>(txn: &T, fragment: &XmlFragmentRef) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for child in fragment.children(txn) {
        let XmlOut::Element(element) = child else {
            continue;
        };
        match element.tag().as_ref() {
            schema::HEADING => sections.push(Section {
                id: schema::string_attribute(txn, &element, schema::ATTR_ID).unwrap_or_default(),
                kind: schema::string_attribute(txn, &element, schema::ATTR_KIND)
                    .and_then(|kind| SectionKind::parse(&kind))
                    .unwrap_or(SectionKind::Numbered),
                number: None,
                heading: block_text(txn, &element),
                paragraphs: Vec::new(),
            }),
            schema::PARAGRAPH => {
                if sections.is_empty() {
                    sections.push(Section {
                        id: UNTITLED_PREAMBLE_ID.to_owned(),
                        kind: SectionKind::Preamble,
                        number: None,
                        heading: RichText::new(),
                        paragraphs: Vec::new(),
                    });
                }
                let paragraph = Paragraph {
                    id: schema::string_attribute(txn, &element, schema::ATTR_ID)
                        .unwrap_or_default(),
                    number: None,
                    text: block_text(txn, &element),
                };
                if let Some(section) = sections.last_mut() {
                    section.paragraphs.push(paragraph);
                }
            }
            _ => {}
        }
    }
    number_sections(&mut sections);
    sections
}

/// Sets the derived numbers: numbered sections 1, 2, 3…, their paragraphs "n.1", "n.2"…
fn number_sections(sections: &mut [Section]) {
    let mut n_numbered: u32 = 0;
    for section in sections {
        if section.kind != SectionKind::Numbered {
            continue;
        }
        n_numbered += 1;
        section.number = Some(n_numbered);
        for (index, paragraph) in section.paragraphs.iter_mut().enumerate() {
            paragraph.number = Some(format!("{n_numbered}.{}", index + 1));
        }
    }
}

/// The rich text of the `XmlText`s directly inside `element`.
fn block_text<T: ReadTxn>(txn: &T, element: &XmlElementRef) -> RichText {
    let mut text = RichText::new();
    for child in element.children(txn) {
        let XmlOut::Text(xml_text) = child else {
            continue;
        };
        for chunk in xml_text.diff(txn, YChange::identity) {
            let Out::Any(Any::String(chars)) = &chunk.insert else {
                continue;
            };
            let (mut em, mut strong) = (false, false);
            for (key, value) in chunk.attributes.iter().flat_map(|attrs| attrs.iter()) {
                if matches!(value, Any::Null | Any::Undefined | Any::Bool(false)) {
                    continue;
                }
                match mark_name(key) {
                    schema::MARK_EM | "italic" => em = true,
                    schema::MARK_STRONG | "bold" => strong = true,
                    _ => {}
                }
            }
            text.push(chars, em, strong);
        }
    }
    text
}

/// The mark name of a formatting key: y-prosemirror appends `--` and an 8-character hash to
/// marks that may overlap themselves.
fn mark_name(key: &str) -> &str {
    match key.rsplit_once("--") {
        Some((name, hash))
            if hash.len() == 8
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) =>
        {
            name
        }
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_names_lose_their_overlap_hash() {
        assert_eq!(mark_name("em"), "em");
        assert_eq!(mark_name("em--a1B2+/=x"), "em");
        assert_eq!(mark_name("em--short"), "em--short");
        assert_eq!(mark_name("--"), "--");
    }
}
