//! Structural edits of the text by the server (applying amendments): insert a paragraph
//! after another, insert a section after another, remove a paragraph or a whole section. Each
//! runs in the caller's transaction, touches only the blocks concerned, and gives new blocks
//! fresh ids from the document's [`IdIssuer`].

use manifesto_protocol::yrs;
use yrs::types::xml::XmlOut;
use yrs::{ReadTxn, TransactionMut, XmlFragment, XmlFragmentRef};

use super::edit::EditError;
use super::ids::{IdIssuer, IdKind};
use super::model::{RichText, SectionKind};
use super::schema;
use super::write::block;

/// One top-level block: its index, whether it is a heading, and its id.
struct Block {
    index: u32,
    heading: bool,
    id: Option<String>,
}

fn blocks<T: ReadTxn>(txn: &T, fragment: &XmlFragmentRef) -> Vec<Block> {
    fragment
        .children(txn)
        .enumerate()
        .filter_map(|(index, child)| {
            let XmlOut::Element(element) = child else {
                return None;
            };
            let heading = match element.tag().as_ref() {
                schema::HEADING => true,
                schema::PARAGRAPH => false,
                _ => return None,
            };
            Some(Block {
                index: u32::try_from(index).ok()?,
                heading,
                id: schema::string_attribute(txn, &element, schema::ATTR_ID),
            })
        })
        .collect()
}

/// Index of the block `id` (a paragraph when `heading` is false, a heading otherwise).
fn position(blocks: &[Block], id: &str, heading: bool) -> Result<usize, EditError> {
    blocks
        .iter()
        .position(|b| b.heading == heading && b.id.as_deref() == Some(id) && !id.is_empty())
        .ok_or_else(|| EditError::BlockNotFound(id.to_owned()))
}

/// Inserts a paragraph holding `text` right after paragraph `after` and returns its new id.
pub fn insert_paragraph_after(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    after: &str,
    text: &RichText,
    ids: &mut IdIssuer,
) -> Result<String, EditError> {
    let all = blocks(txn, fragment);
    let at = position(&all, after, false)?;
    let id = ids.issue(IdKind::Paragraph);
    let element = block(schema::PARAGRAPH, [(schema::ATTR_ID, id.clone())], text);
    fragment.insert(txn, all[at].index + 1, element);
    Ok(id)
}

/// Removes paragraph `id`.
pub fn remove_paragraph(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    id: &str,
) -> Result<(), EditError> {
    let all = blocks(txn, fragment);
    let at = position(&all, id, false)?;
    fragment.remove_range(txn, all[at].index, 1);
    Ok(())
}

/// Index just past the last block of the section opened by heading number `at` in `all`.
fn section_end(all: &[Block], at: usize, fragment_len: u32) -> u32 {
    all[at + 1..]
        .iter()
        .find(|b| b.heading)
        .map_or(fragment_len, |next| next.index)
}

/// Inserts a numbered section (`heading`, then `paragraphs`) after the whole section `after`,
/// and returns the new ids (the section's first).
pub fn insert_section_after(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    after: &str,
    heading: &RichText,
    paragraphs: &[RichText],
    ids: &mut IdIssuer,
) -> Result<Vec<String>, EditError> {
    let all = blocks(txn, fragment);
    let at = position(&all, after, true)?;
    let mut index = section_end(&all, at, fragment.len(txn));
    let section_id = ids.issue(IdKind::Section);
    let element = block(
        schema::HEADING,
        [
            (schema::ATTR_ID, section_id.clone()),
            (schema::ATTR_KIND, SectionKind::Numbered.as_str().to_owned()),
            (schema::ATTR_LEVEL, schema::HEADING_LEVEL.to_owned()),
        ],
        heading,
    );
    fragment.insert(txn, index, element);
    let mut issued = vec![section_id];
    for text in paragraphs {
        index += 1;
        let id = ids.issue(IdKind::Paragraph);
        fragment.insert(
            txn,
            index,
            block(schema::PARAGRAPH, [(schema::ATTR_ID, id.clone())], text),
        );
        issued.push(id);
    }
    Ok(issued)
}

/// Removes section `id`: its heading and every block up to the next heading.
pub fn remove_section(
    txn: &mut TransactionMut,
    fragment: &XmlFragmentRef,
    id: &str,
) -> Result<(), EditError> {
    let all = blocks(txn, fragment);
    let at = position(&all, id, true)?;
    let end = section_end(&all, at, fragment.len(txn));
    let start = all[at].index;
    fragment.remove_range(txn, start, end - start);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{read_sections, write_manuscript, ManuscriptDraft, SectionDraft};
    use yrs::{Doc, Transact, WriteTxn};

    fn draft() -> ManuscriptDraft {
        let section = |kind, heading: &str, paragraphs: &[&str]| SectionDraft {
            kind,
            heading: Some(RichText::plain(heading)),
            paragraphs: paragraphs.iter().map(|p| RichText::plain(p)).collect(),
        };
        ManuscriptDraft {
            metadata: Default::default(),
            sections: vec![
                section(SectionKind::Preamble, "Preamble", &["Recalling"]),
                section(SectionKind::Numbered, "Energy", &["E1", "E2"]),
                section(SectionKind::Numbered, "Food", &["F1"]),
                section(SectionKind::Closing, "Call", &["We call"]),
            ],
        }
    }

    #[test]
    fn paragraphs_and_sections_are_inserted_and_removed_in_place_with_fresh_ids() {
        let doc = Doc::new();
        let mut ids = IdIssuer::new([]);
        let mut txn = doc.transact_mut();
        let fragment = txn.get_or_insert_xml_fragment(crate::text::FRAGMENT_NAME);
        write_manuscript(&mut txn, &fragment, &draft(), &mut ids).expect("write");
        let sections = read_sections(&txn, &fragment);
        let e1 = sections[1].paragraphs[0].id.clone();
        let energy = sections[1].id.clone();
        let food = sections[2].id.clone();

        let new =
            insert_paragraph_after(&mut txn, &fragment, &e1, &RichText::plain("E1b"), &mut ids)
                .expect("insert");
        let added = insert_section_after(
            &mut txn,
            &fragment,
            &energy,
            &RichText::plain("Water"),
            &[RichText::plain("W1"), RichText::plain("W2")],
            &mut ids,
        )
        .expect("section");
        remove_section(&mut txn, &fragment, &food).expect("remove section");
        let sections = read_sections(&txn, &fragment);
        let texts: Vec<Vec<String>> = sections
            .iter()
            .map(|s| s.paragraphs.iter().map(|p| p.text.plain_text()).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec!["Recalling"],
                vec!["E1", "E1b", "E2"],
                vec!["W1", "W2"],
                vec!["We call"],
            ]
        );
        assert_eq!(sections[1].paragraphs[1].id, new);
        assert_eq!(sections[2].id, added[0]);
        assert_eq!(
            sections[2].number,
            Some(2),
            "the new section is numbered after Energy"
        );
        remove_paragraph(&mut txn, &fragment, &new).expect("remove paragraph");
        assert_eq!(read_sections(&txn, &fragment)[1].paragraphs.len(), 2);
        assert_eq!(
            remove_paragraph(&mut txn, &fragment, &new),
            Err(EditError::BlockNotFound(new.clone()))
        );
        assert_eq!(
            remove_section(&mut txn, &fragment, &e1),
            Err(EditError::BlockNotFound(e1.clone())),
            "a paragraph id is not a section"
        );
    }
}
