//! HTML export: one standalone, printable page with a small embedded stylesheet, no script
//! and nothing fetched. Every text is escaped.

use std::fmt::Write;

use crate::labels::{self, Lang};
use crate::model::{ExportDocument, ExportStatus, SectionKind, Span};

const STYLE: &str = "
body { font-family: 'Libertinus Serif', 'Linux Libertine', Georgia, serif; font-size: 1.1rem;
  line-height: 1.5; color: #1a1a1a; max-width: 42rem; margin: 2rem auto; padding: 0 1.5rem; }
header { text-align: center; margin: 3rem 0 2.5rem; }
header .forum { font-variant: small-caps; letter-spacing: .05em; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 1rem 0; }
header .status { margin-top: 1.5rem; font-style: italic; }
header .draft { color: #a33; }
nav h2, section h2, .annex h2 { font-size: 1.25rem; margin-top: 2.2rem; }
nav ol { list-style: none; padding-left: 0; }
p { text-align: justify; hyphens: auto; margin: .6rem 0; }
p.numbered { padding-left: 2.8rem; text-indent: -2.8rem; }
p.numbered .n { display: inline-block; width: 2.8rem; text-indent: 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { border-bottom: 1px solid #bbb; padding: .35rem .5rem; text-align: left; vertical-align: top; }
footer { margin-top: 3rem; font-size: .85rem; color: #555; text-align: center; }
@page { size: A4; margin: 2.2cm; }
@media print { body { margin: 0; max-width: none; } section, .annex { break-inside: auto; }
  h2 { break-after: avoid; } }
";

/// The document as one HTML page.
pub fn render(document: &ExportDocument) -> String {
    let lang = Lang::of(document);
    let words = labels::words(lang);
    let m = &document.metadata;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n",
        escape(&labels::language_tag(document)),
        escape(&m.title)
    );
    if let Some(forum) = &m.forum {
        let _ = writeln!(out, "<p class=\"forum\">{}</p>", escape(forum));
    }
    let _ = writeln!(out, "<h1>{}</h1>", escape(&m.title));
    let place_dates: Vec<&str> = [m.place.as_deref(), m.dates.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !place_dates.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(&place_dates.join(", ")));
    }
    let class = match document.status {
        ExportStatus::Draft { .. } => "status draft",
        ExportStatus::Adopted { .. } => "status",
    };
    let _ = writeln!(
        out,
        "<p class=\"{class}\">{}</p>\n</header>",
        escape(&labels::status(lang, document.status))
    );
    let _ = writeln!(out, "<nav>\n<h2>{}</h2>\n<ol>", escape(words.contents));
    for (i, section) in document.sections.iter().enumerate() {
        if let Some(title) = heading_text(section.number, &section.heading) {
            let _ = writeln!(out, "<li><a href=\"#s{i}\">{title}</a></li>");
        }
    }
    if document.annex.is_some() {
        let _ = writeln!(
            out,
            "<li><a href=\"#annex\">{}</a></li>",
            escape(words.annex)
        );
    }
    out.push_str("</ol>\n</nav>\n<main>\n");
    for (i, section) in document.sections.iter().enumerate() {
        let _ = writeln!(out, "<section id=\"s{i}\">");
        if let Some(title) = heading_text(section.number, &section.heading) {
            let _ = writeln!(out, "<h2>{title}</h2>");
        }
        for paragraph in &section.paragraphs {
            match (&paragraph.number, section.kind) {
                (Some(number), SectionKind::Numbered) => {
                    let _ = writeln!(
                        out,
                        "<p class=\"numbered\"><span class=\"n\">{}</span>{}</p>",
                        escape(number),
                        rich(&paragraph.text)
                    );
                }
                _ => {
                    let _ = writeln!(out, "<p>{}</p>", rich(&paragraph.text));
                }
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n");
    if let Some(annex) = &document.annex {
        let _ = writeln!(
            out,
            "<section class=\"annex\" id=\"annex\">\n<h2>{}</h2>",
            escape(words.annex)
        );
        for (title, list) in [
            (words.adopted_amendments, &annex.adopted),
            (words.other_amendments, &annex.not_adopted),
        ] {
            let _ = writeln!(out, "<h3>{}</h3>", escape(title));
            if list.is_empty() {
                let _ = writeln!(out, "<p>{}</p>", escape(words.none));
                continue;
            }
            let _ = writeln!(
                out,
                "<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                escape(words.amendment),
                escape(words.author),
                escape(words.target),
                escape(words.outcome)
            );
            for amendment in list {
                let _ = writeln!(
                    out,
                    "<tr><td>A{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    amendment.number,
                    escape(&amendment.author),
                    escape(&labels::change(lang, amendment)),
                    escape(&labels::decision(lang, amendment))
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "<footer>{} · {}</footer>\n</body>\n</html>\n",
        escape(&document.document_id),
        escape(&labels::version(lang, document.version))
    );
    out
}

/// A heading as HTML ("1. Energy"); `None` for an untitled section.
fn heading_text(number: Option<u32>, heading: &[Span]) -> Option<String> {
    let text = rich(heading);
    match number {
        Some(n) => Some(format!("{n}. {text}")),
        None if text.trim().is_empty() => None,
        None => Some(text),
    }
}

/// Rich text as HTML: `<em>`, `<strong>`, escaped characters.
fn rich(spans: &[Span]) -> String {
    let mut out = String::new();
    for span in spans {
        let text = escape(&span.text);
        match (span.em, span.strong) {
            (false, false) => out.push_str(&text),
            (true, false) => {
                let _ = write!(out, "<em>{text}</em>");
            }
            (false, true) => {
                let _ = write!(out, "<strong>{text}</strong>");
            }
            (true, true) => {
                let _ = write!(out, "<strong><em>{text}</em></strong>");
            }
        }
    }
    out
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_marks_become_elements() {
        assert_eq!(
            rich(&[
                Span {
                    text: "Considérant".into(),
                    em: true,
                    strong: false
                },
                Span::plain(" « <script>alert('x')</script> » & \"co\""),
            ]),
            "<em>Considérant</em> « &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; » &amp; &quot;co&quot;"
        );
    }
}

#[cfg(test)]
mod document_tests {
    use super::*;

    #[test]
    fn a_hostile_document_stays_inert() {
        let html = render(&crate::hostile_sample("fr"));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<em>Considérant</em> que l’économie « sociale »"));
        assert!(html.contains("<span class=\"n\">1.1</span>Première phrase ; deuxième : fin !"));
        assert!(html.contains("<td>Ana &lt;b&gt;Pérez&lt;/b&gt; | #x</td>"));
        assert!(html.contains("Projet — version du 29 janvier 2026"));
        assert!(html.contains("manifesto-2026 · version 12"));
    }
}
