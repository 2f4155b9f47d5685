//! Markdown export: CommonMark with YAML front matter, the shape of the project's drafts
//! (`# 1. Title` for numbered sections, their paragraphs as an ordered list), so that the
//! server's importer reads it back into the same structure. Every character of the text
//! that Markdown would read as syntax is escaped.

use std::fmt::Write;

use crate::labels::{self, Lang};
use crate::model::{ExportDocument, SectionKind, Span};

/// The document as Markdown.
pub fn render(document: &ExportDocument) -> String {
    let lang = Lang::of(document);
    let mut out = String::from("---\n");
    let m = &document.metadata;
    front_matter(&mut out, "title", Some(&m.title));
    front_matter(&mut out, "forum", m.forum.as_deref());
    front_matter(&mut out, "place", m.place.as_deref());
    front_matter(&mut out, "dates", m.dates.as_deref());
    front_matter(&mut out, "language", m.language.as_deref());
    front_matter(
        &mut out,
        "status",
        Some(&labels::status(lang, document.status)),
    );
    front_matter(&mut out, "description", m.description.as_deref());
    front_matter(&mut out, "document", Some(&document.document_id));
    front_matter(
        &mut out,
        "version",
        Some(&labels::version(lang, document.version)),
    );
    out.push_str("---\n");
    for section in &document.sections {
        let heading = inline(&section.heading);
        match (section.kind, section.number) {
            (SectionKind::Numbered, Some(n)) => {
                let _ = write!(out, "\n# {n}. {heading}\n");
            }
            (SectionKind::Numbered, None) => {
                let _ = write!(out, "\n# {heading}\n");
            }
            _ if heading.is_empty() => {}
            _ => {
                // A heading starting with a number would read back as numbered: a known
                // limit of the format.
                let _ = write!(out, "\n# {heading}\n");
            }
        }
        out.push('\n');
        for (i, paragraph) in section.paragraphs.iter().enumerate() {
            let text = inline(&paragraph.text);
            if section.kind == SectionKind::Numbered {
                // The importer drops list numbers and derives its own: the list's numbers
                // are those a reader expects.
                let _ = writeln!(out, "{}. {}", i + 1, escape_block_start(&text));
            } else {
                let _ = writeln!(out, "{}\n", escape_block_start(&text));
            }
        }
    }
    if let Some(annex) = &document.annex {
        let words = labels::words(lang);
        let _ = write!(out, "\n# {}\n", escape_text(words.annex));
        for (title, list) in [
            (words.adopted_amendments, &annex.adopted),
            (words.other_amendments, &annex.not_adopted),
        ] {
            let _ = write!(out, "\n## {}\n\n", escape_text(title));
            if list.is_empty() {
                let _ = writeln!(out, "{}", words.none);
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |\n| --- | --- | --- | --- |",
                words.amendment, words.author, words.target, words.outcome
            );
            for amendment in list {
                let _ = writeln!(
                    out,
                    "| A{} | {} | {} | {} |",
                    amendment.number,
                    escape_text(&amendment.author),
                    escape_text(&labels::change(lang, amendment)),
                    escape_text(&labels::decision(lang, amendment)),
                );
            }
        }
    }
    out
}

/// A `key: "value"` line (YAML double-quoted, so any text is safe); nothing when absent.
fn front_matter(out: &mut String, key: &str, value: Option<&str>) {
    let Some(value) = value else { return };
    let _ = write!(out, "{key}: \"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push_str("\"\n");
}

/// Rich text as inline Markdown: `*em*`, `**strong**`, the rest escaped; on one line.
fn inline(spans: &[Span]) -> String {
    let mut out = String::new();
    let (mut em, mut strong) = (false, false);
    for span in spans {
        let text: String = span
            .text
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        if text.is_empty() {
            continue;
        }
        // Close what this span does not have (emphasis is always inside strong).
        if em && (!span.em || (span.strong && !strong)) {
            close(&mut out, "*");
            em = false;
        }
        if strong && !span.strong {
            close(&mut out, "**");
            strong = false;
        }
        let body = text.trim_start();
        out.push_str(&text[..text.len() - body.len()]);
        if span.strong && !strong {
            out.push_str("**");
            strong = true;
        }
        if span.em && !em {
            out.push('*');
            em = true;
        }
        out.push_str(&escape_text(body));
    }
    if em {
        close(&mut out, "*");
    }
    if strong {
        close(&mut out, "**");
    }
    out
}

/// Appends a closing delimiter before any white space `out` ends with (a delimiter after
/// white space cannot close).
fn close(out: &mut String, delimiter: &str) {
    let kept = out.trim_end().len();
    let tail = out.split_off(kept);
    out.push_str(delimiter);
    out.push_str(&tail);
}

/// Escapes the characters that are Markdown syntax anywhere in a line.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '&' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes what would open a block at the start of a line: a list marker ("- ", "+ ", "1. ",
/// "2) "), a heading, a quote, a thematic break or setext underline.
fn escape_block_start(line: &str) -> String {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && matches!(line.as_bytes().get(digits), Some(b'.' | b')')) {
        return format!("{}\\{}", &line[..digits], &line[digits..]);
    }
    match line.chars().next() {
        Some('-' | '+' | '=' | '#' | '>') => format!("\\{line}"),
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Date, ExportMetadata, ExportParagraph, ExportSection, ExportStatus};

    fn span(text: &str, em: bool, strong: bool) -> Span {
        Span {
            text: text.into(),
            em,
            strong,
        }
    }

    #[test]
    fn hostile_characters_are_escaped_and_marks_kept() {
        assert_eq!(
            inline(&[span("# *not* <script>alert(1)</script> [x](y) _u_ `c` | &amp;", false, false)]),
            "\\# \\*not\\* \\<script\\>alert(1)\\</script\\> \\[x\\](y) \\_u\\_ \\`c\\` \\| \\&amp;"
        );
        assert_eq!(
            inline(&[span("Recalling", true, false), span(" that", false, false)]),
            "*Recalling* that"
        );
        assert_eq!(
            inline(&[
                span("We ", false, true),
                span("call", true, true),
                span(" upon", false, false)
            ]),
            "**We *call*** upon"
        );
        assert_eq!(escape_block_start("1. a"), "1\\. a");
        assert_eq!(escape_block_start("- a"), "\\- a");
    }

    #[test]
    fn front_matter_quotes_everything() {
        let document = ExportDocument {
            document_id: "m".into(),
            metadata: ExportMetadata {
                title: "Un \"titre\" : « Genève »\n---".into(),
                language: Some("fr".into()),
                ..ExportMetadata::default()
            },
            status: ExportStatus::Draft {
                date: Date {
                    year: 2026,
                    month: 1,
                    day: 29,
                },
            },
            version: Some(3),
            sections: vec![ExportSection {
                kind: SectionKind::Numbered,
                number: Some(1),
                heading: vec![span("Énergie", false, false)],
                paragraphs: vec![ExportParagraph {
                    number: Some("1.1".into()),
                    text: vec![span("« rien pour nous sans nous »", false, false)],
                }],
            }],
            annex: None,
        };
        let markdown = render(&document);
        assert!(markdown.starts_with("---\ntitle: \"Un \\\"titre\\\" : « Genève » ---\"\n"));
        assert!(markdown.contains("status: \"Projet — version du 29 janvier 2026\"\n"));
        assert!(markdown.contains("\n# 1. Énergie\n\n1. « rien pour nous sans nous »\n"));
    }
}

#[cfg(test)]
mod document_tests {
    use super::*;

    #[test]
    fn a_hostile_document_is_escaped_everywhere() {
        let markdown = render(&crate::hostile_sample("fr"));
        assert!(markdown.contains("\n# Préambule\n\n*Considérant* que l’économie « sociale » \\#emph\\[x\\] $1 + 1$ \\] \" ' @ref \\<b\\> // c\n"), "{markdown}");
        assert!(
            markdown.contains("\n# 1. Énergie \\*\\#rect()\\*\n"),
            "{markdown}"
        );
        assert!(
            markdown.contains("\n2. \\- 1. \\# \\> tiret en tête\n"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| A3 | Ana \\<b\\>Pérez\\</b\\> \\| \\#x | remplace le paragraphe 1.1 |"
            ),
            "{markdown}"
        );
        // The front matter holds the title as a YAML string; the body has no raw HTML.
        let body = markdown.splitn(3, "---\n").nth(2).expect("a body");
        assert!(!body.contains("<b>") && !body.contains("<script"), "{body}");
        assert!(markdown.contains("title: \"Manifeste #set text(red) $x^2$ ] [ \\\\ « Genève »"));
    }
}
