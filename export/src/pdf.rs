//! PDF export, typeset in-process by typst used as a library: the layout is one fixed typst
//! source ([`TEMPLATE`]); the document goes in as JSON through `sys.inputs`, so no user text
//! is ever parsed as typst markup. Fonts are typst-assets' (Libertinus Serif, New Computer
//! Modern, DejaVu Sans Mono), embedded in the binary; no system font, file or package is read.

use std::fmt::Write;
use std::sync::LazyLock;

use serde::Serialize;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Dict, Duration, IntoValue};
use typst::syntax::{FileId, Source};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::labels::{self, Lang};
use crate::model::{ExportDocument, ExportStatus, SectionKind, Span};
use crate::ExportError;

/// The layout (title page, contents, sections, annex).
pub const TEMPLATE: &str = include_str!("manifesto.typ");

/// The embedded fonts, parsed once per process.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static FONTS: LazyLock<Fonts> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    Fonts {
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

/// The smallest `World`: one main source, the embedded fonts, nothing else.
struct ExportWorld {
    library: LazyHash<Library>,
    main: Source,
}

impl World for ExportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            Ok(Bytes::from_string(self.main.clone()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

/// What the template reads: the document with every added word already in its language.
#[derive(Serialize)]
struct View<'a> {
    lang: String,
    title: &'a str,
    authors: Vec<&'a str>,
    forum: Option<&'a str>,
    place_dates: Option<String>,
    status: String,
    draft: bool,
    mark: &'static str,
    /// The mark as an SVG image (fixed words, never user text).
    mark_svg: String,
    footer: String,
    contents: &'static str,
    sections: Vec<SectionView<'a>>,
    annex: Option<AnnexView>,
}

#[derive(Serialize)]
struct SectionView<'a> {
    /// "1." for a numbered section.
    number: Option<String>,
    title: Option<&'a [Span]>,
    paragraphs: Vec<ParagraphView<'a>>,
}

#[derive(Serialize)]
struct ParagraphView<'a> {
    number: Option<&'a str>,
    text: &'a [Span],
}

#[derive(Serialize)]
struct AnnexView {
    title: &'static str,
    groups: Vec<AnnexGroup>,
}

#[derive(Serialize)]
struct AnnexGroup {
    title: &'static str,
    none: &'static str,
    header: [&'static str; 4],
    rows: Vec<[String; 4]>,
}

fn view(document: &ExportDocument) -> View<'_> {
    let lang = Lang::of(document);
    let words = labels::words(lang);
    let m = &document.metadata;
    let place_dates: Vec<&str> = [m.place.as_deref(), m.dates.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let sections = document
        .sections
        .iter()
        .map(|section| {
            let untitled = section.heading.iter().all(|s| s.text.trim().is_empty());
            SectionView {
                number: section
                    .number
                    .filter(|_| section.kind == SectionKind::Numbered)
                    .map(|n| format!("{n}.")),
                title: (!untitled || section.number.is_some()).then_some(&section.heading[..]),
                paragraphs: section
                    .paragraphs
                    .iter()
                    .map(|p| ParagraphView {
                        number: p.number.as_deref(),
                        text: &p.text,
                    })
                    .collect(),
            }
        })
        .collect();
    let annex = document.annex.as_ref().map(|annex| AnnexView {
        title: words.annex,
        groups: [
            (words.adopted_amendments, &annex.adopted),
            (words.other_amendments, &annex.not_adopted),
        ]
        .into_iter()
        .map(|(title, list)| AnnexGroup {
            title,
            none: words.none,
            header: [words.amendment, words.author, words.target, words.outcome],
            rows: list
                .iter()
                .map(|a| {
                    [
                        format!("A{}", a.number),
                        a.author.clone(),
                        labels::change(lang, a),
                        labels::decision(lang, a),
                    ]
                })
                .collect(),
        })
        .collect(),
    });
    View {
        lang: labels::language_tag(document),
        title: &m.title,
        authors: m.forum.as_deref().into_iter().collect(),
        forum: m.forum.as_deref(),
        place_dates: (!place_dates.is_empty()).then(|| place_dates.join(", ")),
        status: labels::status(lang, document.status),
        draft: matches!(document.status, ExportStatus::Draft { .. }),
        mark: labels::draft_mark(lang),
        mark_svg: mark_svg(labels::draft_mark(lang)),
        footer: format!(
            "{} · {}",
            document.document_id,
            labels::version(lang, document.version)
        ),
        contents: words.contents,
        sections,
        annex,
    }
}

/// The draft mark as an SVG image whose letters are outlines (paths) of Libertinus Serif
/// Bold: as text, its letters would mix into the paragraphs' text when it is copied or
/// extracted. `word` is one of our fixed words, never user text.
fn mark_svg(word: &str) -> String {
    struct Path<'a> {
        d: &'a mut String,
        x: f32,
    }
    impl ttf_parser::OutlineBuilder for Path<'_> {
        fn move_to(&mut self, x: f32, y: f32) {
            let _ = write!(self.d, "M{} {}", self.x + x, -y);
        }
        fn line_to(&mut self, x: f32, y: f32) {
            let _ = write!(self.d, "L{} {}", self.x + x, -y);
        }
        fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
            let _ = write!(self.d, "Q{} {} {} {}", self.x + x1, -y1, self.x + x, -y);
        }
        fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
            let _ = write!(
                self.d,
                "C{} {} {} {} {} {}",
                self.x + x1,
                -y1,
                self.x + x2,
                -y2,
                self.x + x,
                -y
            );
        }
        fn close(&mut self) {
            self.d.push('Z');
        }
    }
    let face = typst_assets::fonts()
        .filter_map(|data| ttf_parser::Face::parse(data, 0).ok())
        .find(|face| face.is_bold() && !face.is_italic() && face.glyph_index('D').is_some());
    let mut d = String::new();
    let mut width = 0.0;
    let mut height = 1000.0;
    if let Some(face) = face {
        height = f32::from(face.ascender());
        let tracking = f32::from(face.units_per_em()) * 0.06;
        for c in word.chars() {
            let Some(glyph) = face.glyph_index(c) else {
                continue;
            };
            face.outline_glyph(
                glyph,
                &mut Path {
                    d: &mut d,
                    x: width,
                },
            );
            width += f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) + tracking;
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 {} {} {}\">\
         <path d=\"{d}\" fill=\"#8c8c8c\" fill-opacity=\"0.2\"/></svg>",
        -height,
        width.max(1.0),
        height * 1.05
    )
}

/// The document as a tagged PDF (A4, title page, contents, numbered text, optional annex).
pub fn render(document: &ExportDocument) -> Result<Vec<u8>, ExportError> {
    let json = serde_json::to_string(&view(document))
        .map_err(|e| ExportError::Pdf(format!("cannot serialise the document: {e}")))?;
    let mut inputs = Dict::new();
    inputs.insert("document".into(), json.into_value());
    let world = ExportWorld {
        library: LazyHash::new(Library::builder().with_inputs(inputs).build()),
        main: Source::detached(TEMPLATE),
    };
    let compiled = typst::compile::<PagedDocument>(&world);
    let result = compiled
        .output
        .map_err(|errors| ExportError::Pdf(diagnostics(&errors)))
        .and_then(|paged| {
            typst_pdf::pdf(&paged, &typst_pdf::PdfOptions::default())
                .map_err(|errors| ExportError::Pdf(diagnostics(&errors)))
        });
    // typst memoises across compilations; keep only what the last few renders used, so a
    // long-running server does not grow.
    typst::comemo::evict(4);
    result
}

fn diagnostics(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_typeset_as_text_not_code() {
        for language in ["fr", "en"] {
            let document = crate::hostile_sample(language);
            let pdf = render(&document).expect("renders");
            assert!(pdf.starts_with(b"%PDF-"), "{language}");
            assert!(pdf.len() > 10_000, "{language}: {} bytes", pdf.len());
            // The JSON the template reads holds every string as data.
            let json = serde_json::to_string(&view(&document)).expect("json");
            assert!(json.contains("#set text(red) $x^2$ ] ["));
        }
    }

    #[test]
    fn title_page_words_are_in_the_text_language() {
        let document = crate::hostile_sample("fr");
        let view = view(&document);
        assert_eq!(view.lang, "fr");
        assert_eq!(view.status, "Projet — version du 29 janvier 2026");
        assert_eq!(view.mark, "PROJET");
        assert_eq!(view.footer, "manifesto-2026 · version 12");
        assert_eq!(view.sections[1].number.as_deref(), Some("1."));
        let annex = view.annex.expect("annex");
        assert_eq!(annex.groups[0].rows[0][0], "A3");
    }
}
