//! The demonstration Manifesto that `manifesto serve --demo` creates on a data directory with
//! no document yet, and the template a new document may start from.

use crate::documents::{DocumentError, Documents, InitialText};
use crate::text::{import_markdown, ManuscriptDraft, RichText, SectionDraft, SectionKind};

/// The demonstration drafts: id and Markdown, English first.
pub const DEMO_DRAFTS: [(&str, &str); 2] = [
    ("demo-en", include_str!("../demo/manifesto-demo.en.md")),
    ("demo-fr", include_str!("../demo/manifesto-demo.fr.md")),
];

/// Creates the demonstration documents, owned by account `owner`, when there is no document
/// at all. Returns the ids created (none when documents existed).
pub async fn seed(documents: &Documents, owner: u64) -> Result<Vec<String>, DocumentError> {
    if documents.count() > 0 {
        return Ok(Vec::new());
    }
    let mut created = Vec::new();
    for (id, markdown) in DEMO_DRAFTS {
        let draft = import_markdown(markdown)
            .map_err(|e| DocumentError::Invalid(format!("demo draft {id}: {e}")))?;
        let metadata = draft.metadata.clone();
        documents
            .create(
                id.to_owned(),
                metadata,
                InitialText::Draft(Box::new(draft)),
                owner,
            )
            .await?;
        created.push(id.to_owned());
    }
    Ok(created)
}

fn italic_lead(verb: &str, rest: &str) -> RichText {
    let mut text = RichText::new();
    text.push(verb, true, false);
    text.push(rest, false, false);
    text
}

/// The skeleton of a Manifesto: a preamble, three numbered sections and a closing call, in
/// French when `language` starts with `fr`, in English otherwise. Its bracketed phrases say
/// what each part is for; the drafters replace them.
pub fn template(language: Option<&str>) -> ManuscriptDraft {
    let french = language.is_some_and(|l| l.trim().to_lowercase().starts_with("fr"));
    let (preamble, recalling, convinced, sections, closing, call) = if french {
        (
            "Préambule",
            italic_lead("Rappelant", " [le contexte qui réunit le forum],"),
            italic_lead(
                "Convaincus",
                " [de ce que les signataires veulent affirmer], nous adoptons les engagements suivants.",
            ),
            [
                ("[Premier engagement]", "[Ce que les signataires s’engagent à faire, et avec qui.]"),
                ("[Deuxième engagement]", "[Une mesure précise, vérifiable.]"),
                ("[Troisième engagement]", "[Les moyens, le calendrier, le suivi.]"),
            ],
            "Appel",
            "[L’appel final aux gouvernements, aux institutions et aux citoyens.]",
        )
    } else {
        (
            "Preamble",
            italic_lead(
                "Recalling",
                " [the context that brings the forum together],",
            ),
            italic_lead(
                "Convinced",
                " [of what the signatories want to affirm], we adopt the following commitments.",
            ),
            [
                (
                    "[First commitment]",
                    "[What the signatories commit to do, and with whom.]",
                ),
                ("[Second commitment]", "[A precise, verifiable measure.]"),
                (
                    "[Third commitment]",
                    "[The means, the timetable, the follow-up.]",
                ),
            ],
            "Call to action",
            "[The final call to governments, institutions and citizens.]",
        )
    };
    let mut all = vec![SectionDraft {
        kind: SectionKind::Preamble,
        heading: Some(RichText::plain(preamble)),
        paragraphs: vec![recalling, convinced],
    }];
    for (heading, paragraph) in sections {
        all.push(SectionDraft {
            kind: SectionKind::Numbered,
            heading: Some(RichText::plain(heading)),
            paragraphs: vec![RichText::plain(paragraph)],
        });
    }
    all.push(SectionDraft {
        kind: SectionKind::Closing,
        heading: Some(RichText::plain(closing)),
        paragraphs: vec![RichText::plain(call)],
    });
    ManuscriptDraft {
        metadata: Default::default(),
        sections: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_drafts_import_with_a_preamble_numbered_sections_and_a_closing_call() {
        for (id, markdown) in DEMO_DRAFTS {
            let draft = import_markdown(markdown).expect(id);
            let kinds: Vec<SectionKind> = draft.sections.iter().map(|s| s.kind).collect();
            assert_eq!(kinds.first(), Some(&SectionKind::Preamble), "{id}");
            assert_eq!(kinds.last(), Some(&SectionKind::Closing), "{id}");
            assert!(
                kinds
                    .iter()
                    .filter(|k| **k == SectionKind::Numbered)
                    .count()
                    >= 4,
                "{id}"
            );
            assert!(draft.metadata.title.is_some(), "{id}");
            // Every preambular paragraph opens with an italic verb.
            for paragraph in &draft.sections[0].paragraphs {
                assert!(paragraph.spans()[0].em, "{id}: {paragraph:?}");
            }
        }
    }

    #[test]
    fn the_template_follows_the_language() {
        let fr = template(Some("fr"));
        let en = template(None);
        assert_eq!(fr.sections.len(), 5);
        assert_eq!(
            fr.sections[0].heading.as_ref().map(RichText::plain_text),
            Some("Préambule".into())
        );
        assert_eq!(
            en.sections[4].heading.as_ref().map(RichText::plain_text),
            Some("Call to action".into())
        );
    }
}
