//! Writing a whole draft into an empty document, in the shape the editor binds (see the module
//! documentation of [`super`]).

use std::collections::HashMap;
use std::sync::Arc;

use manifesto_protocol::yrs;
use thiserror::Error;
use yrs::types::xml::{XmlDeltaPrelim, XmlIn};
use yrs::types::{Attrs, Delta};
use yrs::{Any, In, TransactionMut, XmlElementPrelim, XmlFragment, XmlFragmentRef};

use super::ids::{IdIssuer, IdKind};
use super::model::{ManuscriptDraft, RichText, SectionKind};
use super::schema;

/// A draft that cannot be written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    /// The fragment already holds content; a draft only fills an empty document.
    #[error("the document already has text; import into a new document")]
    NotEmpty,
    /// A section without heading that is not a preamble at the start: it would read back as
    /// part of the section before it.
    #[error("section {index} has no heading; only a preamble at the start may be untitled")]
    UntitledSection { index: usize },
}

/// Writes `draft`'s sections into the empty `fragment`, with fresh ids from `ids`, and returns
/// those ids for the caller to persist. The metadata is not written: the document does not hold
/// it.
pub fn write_manuscript(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    draft: &ManuscriptDraft,
    ids: &mut IdIssuer,
) -> Result<Vec<String>, WriteError> {
    if fragment.len(txn) != 0 {
        return Err(WriteError::NotEmpty);
    }
    for (index, section) in draft.sections.iter().enumerate() {
        if section.heading.is_none() && (index != 0 || section.kind != SectionKind::Preamble) {
            return Err(WriteError::UntitledSection { index });
        }
    }
    let mut issued = Vec::new();
    for section in &draft.sections {
        if let Some(heading) = &section.heading {
            let id = ids.issue(IdKind::Section);
            let element = block(
                schema::HEADING,
                [
                    (schema::ATTR_ID, id.clone()),
                    (schema::ATTR_KIND, section.kind.as_str().to_owned()),
                    (schema::ATTR_LEVEL, schema::HEADING_LEVEL.to_owned()),
                ],
                heading,
            );
            fragment.push_back(txn, element);
            issued.push(id);
        }
        for paragraph in &section.paragraphs {
            let id = ids.issue(IdKind::Paragraph);
            let element = block(
                schema::PARAGRAPH,
                [(schema::ATTR_ID, id.clone())],
                paragraph,
            );
            fragment.push_back(txn, element);
            issued.push(id);
        }
    }
    Ok(issued)
}

/// An element with `attributes` holding `text` in one `XmlText`, or no child when the text is
/// empty (as y-prosemirror writes an empty block).
pub(super) fn block<const N: usize>(
    tag: &str,
    attributes: [(&str, String); N],
    text: &RichText,
) -> XmlElementPrelim {
    let children = if text.is_empty() {
        Vec::new()
    } else {
        vec![XmlIn::Text(XmlDeltaPrelim {
            attributes: HashMap::new(),
            delta: text
                .spans()
                .iter()
                .map(|span| {
                    Delta::Inserted(
                        In::Any(Any::from(span.text.as_str())),
                        marks(span.em, span.strong),
                    )
                })
                .collect(),
        })]
    };
    let mut element = XmlElementPrelim::new(tag, children);
    element.attributes = attributes
        .into_iter()
        .map(|(key, value)| (Arc::from(key), value))
        .collect();
    element
}

/// Formatting attributes for the marks, as y-prosemirror stores them: the mark name as key and
/// the mark's attributes (none: an empty map) as value.
fn marks(em: bool, strong: bool) -> Option<Box<Attrs>> {
    let mut attrs = Attrs::new();
    if em {
        attrs.insert(Arc::from(schema::MARK_EM), empty_map());
    }
    if strong {
        attrs.insert(Arc::from(schema::MARK_STRONG), empty_map());
    }
    (!attrs.is_empty()).then(|| Box::new(attrs))
}

fn empty_map() -> Any {
    Any::Map(Arc::new(HashMap::new()))
}
