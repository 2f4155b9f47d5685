//! The words an export adds around the text (status, contents, annex, vote results), in the
//! text's language: French for `fr`, English otherwise.

use crate::model::{
    AmendmentAction, AnnexAmendment, AnnexStatus, AnnexTarget, Date, ExportDocument, ExportStatus,
    Majority, VoteResult,
};

/// The language of the added words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// The language of `document`'s text (its first language tag).
    pub fn of(document: &ExportDocument) -> Lang {
        if language_tag(document).starts_with("fr") {
            Lang::Fr
        } else {
            Lang::En
        }
    }
}

/// The first language tag of the metadata, lowercase, letters and `-` only; `en` when none.
pub fn language_tag(document: &ExportDocument) -> String {
    let first = document
        .metadata
        .language
        .as_deref()
        .and_then(|l| l.split([',', ';', ' ']).find(|t| !t.trim().is_empty()))
        .unwrap_or("en");
    let tag: String = first
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '-')
        .take(35)
        .collect::<String>()
        .to_ascii_lowercase();
    if tag.is_empty() || !tag.as_bytes()[0].is_ascii_alphabetic() {
        "en".to_owned()
    } else {
        tag
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "12 March 2026", "1er mars 2026".
pub fn date(lang: Lang, date: Date) -> String {
    let month = usize::from(date.month.clamp(1, 12)) - 1;
    match lang {
        Lang::En => format!("{} {} {}", date.day, MONTHS_EN[month], date.year),
        Lang::Fr if date.day == 1 => format!("1er {} {}", MONTHS_FR[month], date.year),
        Lang::Fr => format!("{} {} {}", date.day, MONTHS_FR[month], date.year),
    }
}

/// "Draft — version of 12 March 2026", "Adopted on 30 January 2026".
pub fn status(lang: Lang, status: ExportStatus) -> String {
    match (lang, status) {
        (Lang::En, ExportStatus::Draft { date: d }) => {
            format!("Draft — version of {}", date(lang, d))
        }
        (Lang::Fr, ExportStatus::Draft { date: d }) => {
            format!("Projet — version du {}", date(lang, d))
        }
        (Lang::En, ExportStatus::Adopted { date: d }) => format!("Adopted on {}", date(lang, d)),
        (Lang::Fr, ExportStatus::Adopted { date: d }) => format!("Adopté le {}", date(lang, d)),
    }
}

/// The diagonal mark of a draft.
pub fn draft_mark(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "DRAFT",
        Lang::Fr => "PROJET",
    }
}

/// "version 12", "current text".
pub fn version(lang: Lang, version: Option<u64>) -> String {
    match (lang, version) {
        (Lang::En, Some(n)) => format!("version {n}"),
        (Lang::Fr, Some(n)) => format!("version {n}"),
        (Lang::En, None) => "current text".to_owned(),
        (Lang::Fr, None) => "texte en cours".to_owned(),
    }
}

/// Fixed words.
pub struct Words {
    pub contents: &'static str,
    pub annex: &'static str,
    pub adopted_amendments: &'static str,
    pub other_amendments: &'static str,
    pub amendment: &'static str,
    pub author: &'static str,
    pub target: &'static str,
    pub outcome: &'static str,
    pub none: &'static str,
}

/// The fixed words of `lang`.
pub fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            contents: "Contents",
            annex: "Annex: amendments",
            adopted_amendments: "Amendments adopted",
            other_amendments: "Amendments rejected, withdrawn or not put to the vote",
            amendment: "No.",
            author: "Author",
            target: "Change",
            outcome: "Decision",
            none: "None.",
        },
        Lang::Fr => Words {
            contents: "Table des matières",
            annex: "Annexe : amendements",
            adopted_amendments: "Amendements adoptés",
            other_amendments: "Amendements rejetés, retirés ou non mis aux voix",
            amendment: "N°",
            author: "Auteur",
            target: "Modification",
            outcome: "Décision",
            none: "Aucun.",
        },
    }
}

/// "replaces paragraph 3.2", "inserts a section after section 2".
pub fn change(lang: Lang, amendment: &AnnexAmendment) -> String {
    let target = match (&amendment.target, lang) {
        (AnnexTarget::Paragraph(Some(n)), Lang::En) => format!("paragraph {n}"),
        (AnnexTarget::Paragraph(Some(n)), Lang::Fr) => format!("le paragraphe {n}"),
        (AnnexTarget::Paragraph(None), Lang::En) => "an unnumbered paragraph".to_owned(),
        (AnnexTarget::Paragraph(None), Lang::Fr) => "un paragraphe non numéroté".to_owned(),
        (AnnexTarget::Section(Some(n)), Lang::En) => format!("section {n}"),
        (AnnexTarget::Section(Some(n)), Lang::Fr) => format!("la section {n}"),
        (AnnexTarget::Section(None), Lang::En) => "an unnumbered section".to_owned(),
        (AnnexTarget::Section(None), Lang::Fr) => "une section non numérotée".to_owned(),
    };
    match (amendment.action, lang) {
        (AmendmentAction::Replace, Lang::En) => format!("rewrites {target}"),
        (AmendmentAction::Replace, Lang::Fr) => format!("remplace {target}"),
        (AmendmentAction::Delete | AmendmentAction::DeleteSection, Lang::En) => {
            format!("deletes {target}")
        }
        (AmendmentAction::Delete | AmendmentAction::DeleteSection, Lang::Fr) => {
            format!("supprime {target}")
        }
        (AmendmentAction::InsertAfter, Lang::En) => format!("adds a paragraph after {target}"),
        (AmendmentAction::InsertAfter, Lang::Fr) => {
            format!("ajoute un paragraphe après {target}")
        }
        (AmendmentAction::InsertSection, Lang::En) => format!("adds a section after {target}"),
        (AmendmentAction::InsertSection, Lang::Fr) => {
            format!("ajoute une section après {target}")
        }
    }
}

/// The decision in words: the vote with its rule ("adopted: 41 yes, 12 no, 3 abstentions;
/// two-thirds of votes cast required"), or the status.
pub fn decision(lang: Lang, amendment: &AnnexAmendment) -> String {
    if let Some(vote) = &amendment.vote {
        return vote_text(lang, vote);
    }
    let status = match (amendment.status, lang) {
        (AnnexStatus::Adopted, Lang::En) => "adopted",
        (AnnexStatus::Adopted, Lang::Fr) => "adopté",
        (AnnexStatus::Accepted, Lang::En) => "accepted by the secretariat as a friendly change",
        (AnnexStatus::Accepted, Lang::Fr) => {
            "accepté par le secrétariat comme modification amicale"
        }
        (AnnexStatus::Rejected, Lang::En) => "rejected",
        (AnnexStatus::Rejected, Lang::Fr) => "rejeté",
        (AnnexStatus::Withdrawn, Lang::En) => "withdrawn by its author",
        (AnnexStatus::Withdrawn, Lang::Fr) => "retiré par son auteur",
        (AnnexStatus::Inadmissible, Lang::En) => "declared inadmissible",
        (AnnexStatus::Inadmissible, Lang::Fr) => "déclaré irrecevable",
        (AnnexStatus::Fallen, Lang::En) => "fallen (a competing amendment was adopted)",
        (AnnexStatus::Fallen, Lang::Fr) => "tombé (un amendement concurrent a été adopté)",
        (AnnexStatus::Void, Lang::En) => "void (quorum not met)",
        (AnnexStatus::Void, Lang::Fr) => "nul (quorum non atteint)",
    };
    status.to_owned()
}

/// A vote in words, with its rule.
pub fn vote_text(lang: Lang, vote: &VoteResult) -> String {
    let plural = |n: u32, one: &str, many: &str| {
        // French counts 0 and 1 in the singular.
        if n == 1 || (n == 0 && lang == Lang::Fr) {
            one.to_owned()
        } else {
            many.to_owned()
        }
    };
    let counts = match lang {
        Lang::En => format!(
            "{} yes, {} no, {} {}",
            vote.yes,
            vote.no,
            vote.abstain,
            plural(vote.abstain, "abstention", "abstentions")
        ),
        Lang::Fr => format!(
            "{} pour, {} contre, {} {}",
            vote.yes,
            vote.no,
            vote.abstain,
            plural(vote.abstain, "abstention", "abstentions")
        ),
    };
    let majority = match (vote.majority, lang) {
        (Majority::Simple, Lang::En) => "more yes than no required".to_owned(),
        (Majority::Simple, Lang::Fr) => "majorité simple des suffrages exprimés requise".to_owned(),
        (Majority::Absolute, Lang::En) => format!(
            "more than half of the {} eligible voters required",
            vote.n_eligible
        ),
        (Majority::Absolute, Lang::Fr) => format!(
            "majorité absolue des {} votants inscrits requise",
            vote.n_eligible
        ),
        (Majority::TwoThirds, Lang::En) => "two-thirds of votes cast required".to_owned(),
        (Majority::TwoThirds, Lang::Fr) => {
            "majorité des deux tiers des suffrages exprimés requise".to_owned()
        }
    };
    let rule = match (vote.quorum_required, lang) {
        (Some(q), Lang::En) => format!(
            "{majority}; quorum: {q} of {} eligible voters",
            vote.n_eligible
        ),
        (Some(q), Lang::Fr) => {
            format!("{majority} ; quorum : {q} sur {} inscrits", vote.n_eligible)
        }
        (None, _) => majority,
    };
    let result = match (vote.void, vote.adopted, lang) {
        (true, _, Lang::En) => "void: quorum not met",
        (true, _, Lang::Fr) => "nul : quorum non atteint",
        (false, true, Lang::En) => "adopted",
        (false, true, Lang::Fr) => "adopté",
        (false, false, Lang::En) => "rejected",
        (false, false, Lang::Fr) => "rejeté",
    };
    match lang {
        Lang::En => format!("{result}: {counts}; {rule}"),
        // French puts a narrow no-break space before the colon and semicolon.
        Lang::Fr => format!("{result} : {counts} ; {rule}")
            .replace(" :", "\u{202f}:")
            .replace(" ;", "\u{202f};"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_votes_read_naturally_in_both_languages() {
        let d = Date {
            year: 2026,
            month: 3,
            day: 1,
        };
        assert_eq!(date(Lang::En, d), "1 March 2026");
        assert_eq!(date(Lang::Fr, d), "1er mars 2026");
        let vote = VoteResult {
            adopted: true,
            void: false,
            yes: 41,
            no: 12,
            abstain: 3,
            majority: Majority::TwoThirds,
            n_eligible: 60,
            n_voted: 56,
            quorum_required: None,
        };
        assert_eq!(
            vote_text(Lang::En, &vote),
            "adopted: 41 yes, 12 no, 3 abstentions; two-thirds of votes cast required"
        );
        assert_eq!(
            vote_text(Lang::Fr, &vote),
            "adopté\u{202f}: 41 pour, 12 contre, 3 abstentions\u{202f}; majorité des deux tiers des suffrages exprimés requise"
        );
    }
}
