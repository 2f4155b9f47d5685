//! Importing a Markdown draft into a [`ManuscriptDraft`].
//!
//! The shape accepted is the one of a real Manifesto draft:
//!
//! - optional YAML front matter between `---` lines at the very top: a mapping of keys to text
//!   (or to a list of texts, joined with ", "); `title`, `forum`, `place`, `dates` (or `date`),
//!   `language` (or `languages`), `status` and `description` fill [`Metadata`], other keys go to
//!   `Metadata::other`. `null`, `~` and empty values are absent. Anchors, aliases and nested
//!   mappings are refused: metadata is flat, and aliases are how YAML bombs are built;
//! - every heading, whatever its level, opens a section. A heading starting with a number of at
//!   most 3 digits, optionally followed by `.` or `)`, then a space ("1. Energy") is numbered and
//!   loses that number; an unnumbered heading is a preamble before the first numbered one, and a
//!   closing section after it;
//! - every paragraph and list item (of any list, at any depth) becomes a paragraph; so does the
//!   text of any other block (quote, code block). In numbered sections a leading manual number
//!   such as "3.2 " or "3.2. " is removed, since numbers are derived. Paragraphs before the first
//!   heading form an untitled preamble;
//! - `*emphasis*` and `**strong**` are kept; links keep their text; inline code keeps its text
//!   without marks; line breaks become spaces; images and raw HTML are dropped.
//!
//! Limits: [`MAX_IMPORT_BYTES`], [`MAX_FRONT_MATTER_BYTES`], [`MAX_SECTIONS`],
//! [`MAX_PARAGRAPHS`].

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use saphyr_parser::{Event as YamlEvent, Parser as YamlParser, ScalarStyle, ScanError};
use thiserror::Error;

use super::model::{ManuscriptDraft, Metadata, RichText, SectionDraft, SectionKind};

/// Largest draft accepted, in bytes.
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024;
/// Largest front matter accepted, in bytes.
pub const MAX_FRONT_MATTER_BYTES: usize = 16 * 1024;
/// Most sections a draft may have.
pub const MAX_SECTIONS: usize = 500;
/// Most paragraphs a draft may have, all sections together.
pub const MAX_PARAGRAPHS: usize = 10_000;

/// Why a draft cannot be imported.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImportError {
    /// The draft is larger than [`MAX_IMPORT_BYTES`].
    #[error("the draft is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The draft opens a front matter with `---` but never closes it.
    #[error("the front matter opened on line 1 has no closing `---` line")]
    UnclosedFrontMatter,
    /// The front matter is larger than [`MAX_FRONT_MATTER_BYTES`].
    #[error("the front matter is {size} bytes; the limit is {limit} bytes")]
    FrontMatterTooLarge { size: usize, limit: usize },
    /// The front matter is not valid YAML.
    #[error("the front matter is not valid YAML (line {line}, column {column}): {reason}")]
    FrontMatterSyntax {
        line: usize,
        column: usize,
        reason: String,
    },
    /// The front matter is YAML, but not a flat mapping of keys to text.
    #[error("the front matter must map keys to text: {0}")]
    FrontMatterShape(String),
    /// More sections than [`MAX_SECTIONS`].
    #[error("the draft has more than {limit} sections")]
    TooManySections { limit: usize },
    /// More paragraphs than [`MAX_PARAGRAPHS`].
    #[error("the draft has more than {limit} paragraphs")]
    TooManyParagraphs { limit: usize },
}

/// Parses a Markdown draft (see the module documentation for what is accepted).
pub fn import_markdown(input: &str) -> Result<ManuscriptDraft, ImportError> {
    if input.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            size: input.len(),
            limit: MAX_IMPORT_BYTES,
        });
    }
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let (front_matter, body) = split_front_matter(input)?;
    let metadata = match front_matter {
        Some(yaml) => parse_front_matter(yaml)?,
        None => Metadata::default(),
    };
    let mut builder = Builder::default();
    for event in Parser::new_ext(body, Options::empty()) {
        builder.event(event)?;
    }
    builder.flush_paragraph()?;
    Ok(ManuscriptDraft {
        metadata,
        sections: builder.sections,
    })
}

/// Splits `input` into its front matter (between a first line `---` and the next line `---` or
/// `...`) and the Markdown after it.
fn split_front_matter(input: &str) -> Result<(Option<&str>, &str), ImportError> {
    let Some((first, rest)) = input.split_once('\n') else {
        return Ok((None, input));
    };
    if first.trim_end() != "---" {
        return Ok((None, input));
    }
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if matches!(line.trim_end(), "---" | "...") {
            let yaml = &rest[..offset];
            if yaml.len() > MAX_FRONT_MATTER_BYTES {
                return Err(ImportError::FrontMatterTooLarge {
                    size: yaml.len(),
                    limit: MAX_FRONT_MATTER_BYTES,
                });
            }
            return Ok((Some(yaml), &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(ImportError::UnclosedFrontMatter)
}

/// Reads the front matter as a flat mapping, from saphyr's events (so no alias is ever
/// expanded).
fn parse_front_matter(yaml: &str) -> Result<Metadata, ImportError> {
    let mut events = Vec::new();
    for event in YamlParser::new_from_str(yaml) {
        let (event, _span) = event.map_err(syntax_error)?;
        events.push(event);
    }
    let mut events = events.into_iter().filter(|event| {
        !matches!(
            event,
            YamlEvent::StreamStart | YamlEvent::StreamEnd | YamlEvent::Nothing
        )
    });
    let mut metadata = Metadata::default();
    match events.next() {
        None => return Ok(metadata),
        Some(YamlEvent::DocumentStart(_)) => {}
        Some(_) => return Err(shape("expected a document")),
    }
    match events.next() {
        Some(YamlEvent::MappingStart(0, _)) => {}
        Some(YamlEvent::MappingStart(..)) => return Err(shape("anchors are not supported")),
        // A document with only comments.
        Some(YamlEvent::Scalar(value, ScalarStyle::Plain, 0, _)) if is_null(&value) => {
            return finish_document(events, metadata);
        }
        _ => return Err(shape("expected `key: value` lines")),
    }
    let mut seen = std::collections::HashSet::new();
    loop {
        let key = match events.next() {
            Some(YamlEvent::MappingEnd) => break,
            Some(YamlEvent::Scalar(key, _, 0, _)) => key.trim().to_owned(),
            Some(YamlEvent::Alias(_)) | Some(YamlEvent::Scalar(..)) => {
                return Err(shape("anchors and aliases are not supported"))
            }
            _ => return Err(shape("keys must be text")),
        };
        if !seen.insert(key.clone()) {
            return Err(shape(&format!("duplicate key `{key}`")));
        }
        let value = match events.next() {
            Some(YamlEvent::Scalar(value, style, 0, _)) => scalar(&value, style),
            Some(YamlEvent::SequenceStart(0, _)) => {
                let mut items = Vec::new();
                loop {
                    match events.next() {
                        Some(YamlEvent::SequenceEnd) => break,
                        Some(YamlEvent::Scalar(item, style, 0, _)) => {
                            items.extend(scalar(&item, style));
                        }
                        _ => return Err(shape(&format!("`{key}` must be a list of texts"))),
                    }
                }
                (!items.is_empty()).then(|| items.join(", "))
            }
            Some(YamlEvent::MappingStart(0, _)) => {
                return Err(shape(&format!(
                    "`{key}` holds a mapping; values must be text"
                )))
            }
            _ => return Err(shape("anchors and aliases are not supported")),
        };
        if let Some(value) = value {
            set_field(&mut metadata, key, value);
        }
    }
    finish_document(events, metadata)
}

/// Checks that nothing but the end of the one document follows.
fn finish_document<'a>(
    mut events: impl Iterator<Item = YamlEvent<'a>>,
    metadata: Metadata,
) -> Result<Metadata, ImportError> {
    match events.next() {
        Some(YamlEvent::DocumentEnd) | None => {}
        Some(_) => return Err(shape("expected a single mapping")),
    }
    match events.next() {
        None => Ok(metadata),
        Some(_) => Err(shape("expected a single document")),
    }
}

/// Stores `value` under `key`: a known field, or `other`.
fn set_field(metadata: &mut Metadata, key: String, value: String) {
    let field = match key.to_ascii_lowercase().as_str() {
        "title" => &mut metadata.title,
        "forum" => &mut metadata.forum,
        "place" => &mut metadata.place,
        "dates" | "date" => &mut metadata.dates,
        "language" | "languages" => &mut metadata.language,
        "status" => &mut metadata.status,
        "description" => &mut metadata.description,
        _ => {
            metadata.other.insert(key, value);
            return;
        }
    };
    // Two spellings of one field ("date" and "dates"): the first one written wins.
    if field.is_none() {
        *field = Some(value);
    }
}

/// A scalar's text, or `None` for YAML's null and for blank text.
fn scalar(value: &str, style: ScalarStyle) -> Option<String> {
    if style == ScalarStyle::Plain && is_null(value) {
        return None;
    }
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn is_null(value: &str) -> bool {
    matches!(value.trim(), "" | "~" | "null" | "Null" | "NULL")
}

fn shape(reason: &str) -> ImportError {
    ImportError::FrontMatterShape(reason.to_owned())
}

fn syntax_error(error: ScanError) -> ImportError {
    let marker = error.marker();
    ImportError::FrontMatterSyntax {
        // The front matter starts on line 2 of the draft.
        line: marker.line() + 1,
        column: marker.col() + 1,
        reason: error.info().to_owned(),
    }
}

/// Turns Markdown events into sections and paragraphs.
#[derive(Default)]
struct Builder {
    sections: Vec<SectionDraft>,
    /// Whether a numbered heading was seen: later unnumbered headings close the text.
    seen_numbered: bool,
    n_paragraphs: usize,
    /// The text of the block being read.
    text: RichText,
    in_heading: bool,
    /// Open emphasis, strong and image tags (they can nest).
    n_em: u32,
    n_strong: u32,
    n_image: u32,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) -> Result<(), ImportError> {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                self.flush_paragraph()?;
                self.in_heading = true;
            }
            Event::End(TagEnd::Heading(_)) => {
                self.in_heading = false;
                self.finish_heading()?;
            }
            Event::Start(Tag::Emphasis) => self.n_em += 1,
            Event::End(TagEnd::Emphasis) => self.n_em = self.n_em.saturating_sub(1),
            Event::Start(Tag::Strong) => self.n_strong += 1,
            Event::End(TagEnd::Strong) => self.n_strong = self.n_strong.saturating_sub(1),
            Event::Start(Tag::Image { .. }) => self.n_image += 1,
            Event::End(TagEnd::Image) => self.n_image = self.n_image.saturating_sub(1),
            // Inline tags whose text is kept without a mark of its own.
            Event::Start(
                Tag::Link { .. } | Tag::Strikethrough | Tag::Superscript | Tag::Subscript,
            )
            | Event::End(
                TagEnd::Link | TagEnd::Strikethrough | TagEnd::Superscript | TagEnd::Subscript,
            ) => {}
            // Any other tag is a block: its start and end close the paragraph being read.
            Event::Start(_) | Event::End(_) | Event::Rule => {
                if !self.in_heading {
                    self.flush_paragraph()?;
                }
            }
            Event::Text(text)
            | Event::Code(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => self.push(&text),
            Event::SoftBreak | Event::HardBreak => self.push(" "),
            Event::Html(_)
            | Event::InlineHtml(_)
            | Event::FootnoteReference(_)
            | Event::TaskListMarker(_) => {}
        }
        Ok(())
    }

    fn push(&mut self, text: &str) {
        if self.n_image == 0 {
            self.text.push(text, self.n_em > 0, self.n_strong > 0);
        }
    }

    fn finish_heading(&mut self) -> Result<(), ImportError> {
        let mut heading = std::mem::take(&mut self.text).trimmed();
        let number_len = heading
            .spans()
            .first()
            .and_then(|span| heading_number_len(&span.text));
        let kind = if let Some(len) = number_len {
            heading.strip_prefix_of_first_span(len);
            self.seen_numbered = true;
            SectionKind::Numbered
        } else if self.seen_numbered {
            SectionKind::Closing
        } else {
            SectionKind::Preamble
        };
        if self.sections.len() >= MAX_SECTIONS {
            return Err(ImportError::TooManySections {
                limit: MAX_SECTIONS,
            });
        }
        self.sections.push(SectionDraft {
            kind,
            heading: Some(heading),
            paragraphs: Vec::new(),
        });
        Ok(())
    }

    fn flush_paragraph(&mut self) -> Result<(), ImportError> {
        let mut text = std::mem::take(&mut self.text).trimmed();
        if text.is_empty() {
            return Ok(());
        }
        if self.n_paragraphs >= MAX_PARAGRAPHS {
            return Err(ImportError::TooManyParagraphs {
                limit: MAX_PARAGRAPHS,
            });
        }
        self.n_paragraphs += 1;
        if self.sections.is_empty() {
            self.sections.push(SectionDraft {
                kind: SectionKind::Preamble,
                heading: None,
                paragraphs: Vec::new(),
            });
        }
        if let Some(section) = self.sections.last_mut() {
            if section.kind == SectionKind::Numbered {
                if let Some(len) = text
                    .spans()
                    .first()
                    .and_then(|span| paragraph_number_len(&span.text))
                {
                    text.strip_prefix_of_first_span(len);
                }
            }
            if !text.is_empty() {
                section.paragraphs.push(text);
            }
        }
        Ok(())
    }
}

/// Length of a heading's leading number ("1. ", "2) ", "3 "): 1 to 3 digits, an optional `.`
/// or `)`, then white space or the end.
fn heading_number_len(text: &str) -> Option<usize> {
    let n_digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=3).contains(&n_digits) {
        return None;
    }
    let mut len = n_digits;
    if matches!(text.as_bytes().get(len), Some(b'.' | b')')) {
        len += 1;
    }
    match text[len..].chars().next() {
        None => Some(len),
        Some(c) if c.is_whitespace() => Some(len),
        Some(_) => None,
    }
}

/// Length of a paragraph's leading manual number ("3.2 ", "3.2. "): at least two groups of 1
/// to 3 digits joined by `.`, an optional final `.`, then white space.
fn paragraph_number_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut len = 0;
    let mut n_groups = 0;
    loop {
        let n_digits = bytes[len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=3).contains(&n_digits) {
            return None;
        }
        len += n_digits;
        n_groups += 1;
        if bytes.get(len) == Some(&b'.') {
            len += 1;
            if bytes.get(len).is_some_and(u8::is_ascii_digit) {
                continue;
            }
        }
        break;
    }
    let followed_by_space = text[len..].chars().next().is_some_and(char::is_whitespace);
    (n_groups >= 2 && followed_by_space).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_headings(draft: &ManuscriptDraft) -> Vec<(SectionKind, String)> {
        draft
            .sections
            .iter()
            .map(|s| {
                let heading = s.heading.as_ref().map(RichText::plain_text);
                (s.kind, heading.unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn headings_get_their_kind_and_lose_their_number() {
        let draft = import_markdown(
            "# Preamble\n\n# Context\n\n# 1. Energy\n\n# 2) Food\n\n# 10 Water\n\n# Call\n\n# Annex\n",
        )
        .expect("imports");
        assert_eq!(
            plain_headings(&draft),
            vec![
                (SectionKind::Preamble, "Preamble".into()),
                (SectionKind::Preamble, "Context".into()),
                (SectionKind::Numbered, "Energy".into()),
                (SectionKind::Numbered, "Food".into()),
                (SectionKind::Numbered, "Water".into()),
                (SectionKind::Closing, "Call".into()),
                (SectionKind::Closing, "Annex".into()),
            ]
        );
    }

    #[test]
    fn heading_numbers_need_few_digits_and_a_space() {
        assert_eq!(heading_number_len("1. Energy"), Some(2));
        assert_eq!(heading_number_len("12) Food"), Some(3));
        assert_eq!(heading_number_len("7"), Some(1));
        assert_eq!(heading_number_len("2026, a year"), None);
        assert_eq!(heading_number_len("2026 agenda"), None);
        assert_eq!(heading_number_len("1.5 billion"), None);
        assert_eq!(heading_number_len("Energy"), None);
    }

    #[test]
    fn manual_paragraph_numbers_are_recognised() {
        assert_eq!(paragraph_number_len("3.2 Text"), Some(3));
        assert_eq!(paragraph_number_len("3.2. Text"), Some(4));
        assert_eq!(paragraph_number_len("1.2.3 Text"), Some(5));
        assert_eq!(paragraph_number_len("3 Text"), None);
        assert_eq!(paragraph_number_len("3.2"), None);
        assert_eq!(paragraph_number_len("1.5 billion people"), Some(3));
        assert_eq!(paragraph_number_len("2026, declared"), None);
    }

    #[test]
    fn list_items_and_paragraphs_become_paragraphs_with_marks() {
        let draft = import_markdown(
            "Before any heading.\n\n# 1. Work\n\n1. First *item* with **strong**\n   text.\n2. Second\n   - nested\n\n3.4 A manual number.\n\nA [link](https://example.org), `code` and ![an image](x.png).\n",
        )
        .expect("imports");
        assert_eq!(draft.sections.len(), 2);
        let preamble = &draft.sections[0];
        assert_eq!(
            (preamble.kind, preamble.heading.is_none()),
            (SectionKind::Preamble, true)
        );
        assert_eq!(preamble.paragraphs[0].plain_text(), "Before any heading.");
        let texts: Vec<String> = draft.sections[1]
            .paragraphs
            .iter()
            .map(RichText::plain_text)
            .collect();
        assert_eq!(
            texts,
            [
                "First item with strong text.",
                "Second",
                "nested",
                "A manual number.",
                "A link, code and .",
            ]
        );
        let first = draft.sections[1].paragraphs[0].spans();
        assert_eq!(first.len(), 5, "{first:?}");
        assert!(first[1].em && first[1].text == "item");
        assert!(first[3].strong && first[3].text == "strong");
        assert!(!first[4].em && !first[4].strong);
    }

    #[test]
    fn front_matter_becomes_metadata() {
        let draft = import_markdown(
            "---\r\ntitle: \"A title: with colon\"\r\nlanguage: [fr, en]\r\ndate: 2026\r\nstatus: ~\r\nauthor: 'Someone'\r\ndescription: >\r\n  folded\r\n  text\r\n---\r\n# Preamble\r\n",
        )
        .expect("imports");
        let metadata = &draft.metadata;
        assert_eq!(metadata.title.as_deref(), Some("A title: with colon"));
        assert_eq!(metadata.language.as_deref(), Some("fr, en"));
        assert_eq!(metadata.dates.as_deref(), Some("2026"));
        assert_eq!(metadata.status, None);
        assert_eq!(metadata.description.as_deref(), Some("folded text"));
        assert_eq!(
            metadata.other.get("author").map(String::as_str),
            Some("Someone")
        );
        assert_eq!(draft.sections.len(), 1);
    }

    #[test]
    fn drafts_without_or_with_empty_front_matter_have_empty_metadata() {
        for input in ["# Preamble\n", "---\n---\n# Preamble\n", "---\n# c\n...\n"] {
            let draft = import_markdown(input).expect(input);
            assert_eq!(draft.metadata, Metadata::default(), "{input:?}");
        }
    }

    #[test]
    fn bad_front_matter_is_refused_with_a_reason() {
        type Check = fn(&ImportError) -> bool;
        let cases: [(&str, Check); 7] = [
            ("---\ntitle: x\n# no end\n", |e| {
                *e == ImportError::UnclosedFrontMatter
            }),
            ("---\ntitle: \"open\n---\n", |e| {
                matches!(e, ImportError::FrontMatterSyntax { .. })
            }),
            ("---\ntitle:\n  nested: x\n---\n", |e| {
                matches!(e, ImportError::FrontMatterShape(_))
            }),
            ("---\na: &x [1, 2]\nb: *x\n---\n", |e| {
                matches!(e, ImportError::FrontMatterShape(_))
            }),
            ("---\n- a\n- b\n---\n", |e| {
                matches!(e, ImportError::FrontMatterShape(_))
            }),
            (
                "---\ntitle: a\ntitle: b\n---\n",
                |e| matches!(e, ImportError::FrontMatterShape(r) if r.contains("duplicate")),
            ),
            ("---\nlist: [a, [b]]\n---\n", |e| {
                matches!(e, ImportError::FrontMatterShape(_))
            }),
        ];
        for (input, expected) in cases {
            let error = import_markdown(input).expect_err(input);
            assert!(expected(&error), "{input:?}: {error:?}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let big = "a".repeat(MAX_IMPORT_BYTES + 1);
        assert_eq!(
            import_markdown(&big),
            Err(ImportError::TooLarge {
                size: MAX_IMPORT_BYTES + 1,
                limit: MAX_IMPORT_BYTES
            })
        );
        let front = format!("---\nx: \"{}\"\n---\n", "a".repeat(MAX_FRONT_MATTER_BYTES));
        assert!(matches!(
            import_markdown(&front),
            Err(ImportError::FrontMatterTooLarge { .. })
        ));
        let headings = "# h\n".repeat(MAX_SECTIONS + 1);
        assert_eq!(
            import_markdown(&headings),
            Err(ImportError::TooManySections {
                limit: MAX_SECTIONS
            })
        );
        let paragraphs = "p\n\n".repeat(MAX_PARAGRAPHS + 1);
        assert_eq!(
            import_markdown(&paragraphs),
            Err(ImportError::TooManyParagraphs {
                limit: MAX_PARAGRAPHS
            })
        );
    }
}
