//! Exports of a Manifesto (PDF, Markdown, HTML): which text and annex to export, the
//! conversion of the server's records into `manifesto_export`'s model, a bounded cache of
//! rendered files, the bound on concurrent PDF renders, and the `manifesto export` command.
//!
//! The renderers live in the `manifesto-export` crate, which knows nothing of the server:
//! the PDF engine is compiled once as a dependency. This module must not know HTTP (the
//! handler is `api::export`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use manifesto_export as export;
use sha2::{Digest, Sha256};

use crate::documents::amendments::{AmendmentKind, AmendmentRecord, AmendmentStatus};
use crate::documents::ballots::{BallotRecord, BallotResult, Majority};
use crate::documents::{DocumentError, DocumentRecord, Documents, Phase, VersionRecord};
use crate::text::{RichText, Section, SectionKind};

pub use export::Format;

/// Which text to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The live text now.
    Current,
    /// A named version.
    Version(u64),
}

/// The named version a request without `version=` exports: the adopted one for an adopted
/// (or archived adopted) document, else the current text.
pub fn default_version(record: &DocumentRecord) -> Which {
    adopted_version(record).map_or(Which::Current, Which::Version)
}

/// The version taken when the document was adopted, if it is adopted (or archived from
/// Adopted).
pub fn adopted_version(record: &DocumentRecord) -> Option<u64> {
    let adopted = record.phase == Phase::Adopted
        || (record.phase == Phase::Archived && record.archived_from == Some(Phase::Adopted));
    if !adopted {
        return None;
    }
    record
        .transitions
        .iter()
        .rev()
        .find(|t| t.to == Phase::Adopted)
        .map(|t| t.version)
}

/// The export's file name: `ID-adopted.pdf`, `ID-v12.md`, `ID-current.html`.
pub fn file_name(record: &DocumentRecord, which: Which, format: Format) -> String {
    let label = match which {
        Which::Version(n) if adopted_version(record) == Some(n) => "adopted".to_owned(),
        Which::Version(n) => format!("v{n}"),
        Which::Current => "current".to_owned(),
    };
    format!("{}-{label}.{}", record.id, format.extension())
}

/// The export model of `record` with `sections` (of version `version`, taken at
/// `taken_at`; `None` for the current text, read now).
pub fn export_document(
    record: &DocumentRecord,
    sections: &[Section],
    version: Option<&VersionRecord>,
    annex: Option<export::Annex>,
) -> export::ExportDocument {
    let taken_at = version.map_or_else(crate::documents::now, |v| v.created_at);
    let date = date_of(taken_at);
    let adopted = version.is_some_and(|v| adopted_version(record) == Some(v.number));
    let status = if adopted {
        let at = record
            .transitions
            .iter()
            .rev()
            .find(|t| t.to == Phase::Adopted)
            .map_or(taken_at, |t| t.at);
        export::ExportStatus::Adopted { date: date_of(at) }
    } else {
        export::ExportStatus::Draft { date }
    };
    let m = &record.metadata;
    export::ExportDocument {
        document_id: record.id.clone(),
        metadata: export::ExportMetadata {
            title: record.title().to_owned(),
            forum: m.forum.clone(),
            place: m.place.clone(),
            dates: m.dates.clone(),
            language: m.language.clone(),
            description: m.description.clone(),
        },
        status,
        version: version.map(|v| v.number),
        sections: sections.iter().map(section).collect(),
        annex,
    }
}

fn date_of(unix_secs: i64) -> export::Date {
    let at = time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    export::Date {
        year: at.year(),
        month: u8::from(at.month()),
        day: at.day(),
    }
}

fn spans(text: &RichText) -> Vec<export::Span> {
    text.spans()
        .iter()
        .map(|s| export::Span {
            text: s.text.clone(),
            em: s.em,
            strong: s.strong,
        })
        .collect()
}

fn section(section: &Section) -> export::ExportSection {
    export::ExportSection {
        kind: match section.kind {
            SectionKind::Preamble => export::SectionKind::Preamble,
            SectionKind::Numbered => export::SectionKind::Numbered,
            SectionKind::Closing => export::SectionKind::Closing,
        },
        number: section.number,
        heading: spans(&section.heading),
        paragraphs: section
            .paragraphs
            .iter()
            .map(|p| export::ExportParagraph {
                number: p.number.clone(),
                text: spans(&p.text),
            })
            .collect(),
    }
}

/// The annex: adopted and accepted amendments, then the others that were decided (rejected,
/// withdrawn, inadmissible, fallen, void); pending ones are left out. Targets are numbered
/// as in the version each amendment was written against (the numbers delegates saw), else
/// as in `sections`.
pub fn annex(
    documents: &Documents,
    id: &str,
    sections: &[Section],
) -> Result<export::Annex, DocumentError> {
    let amendments = documents
        .amendments
        .list(id)
        .map_err(|e| DocumentError::Database(e.to_string()))?;
    let mut versions: HashMap<u64, Option<VersionRecord>> = HashMap::new();
    let mut result = export::Annex::default();
    for amendment in amendments {
        let status = match amendment.status {
            AmendmentStatus::Adopted => export::AnnexStatus::Adopted,
            AmendmentStatus::Accepted => export::AnnexStatus::Accepted,
            AmendmentStatus::Rejected => export::AnnexStatus::Rejected,
            AmendmentStatus::Withdrawn => export::AnnexStatus::Withdrawn,
            AmendmentStatus::Inadmissible => export::AnnexStatus::Inadmissible,
            AmendmentStatus::Fallen => export::AnnexStatus::Fallen,
            AmendmentStatus::Void => export::AnnexStatus::Void,
            AmendmentStatus::Submitted | AmendmentStatus::ToVote => continue,
        };
        let written_against = versions
            .entry(amendment.written_against)
            .or_insert_with(|| documents.version(id, amendment.written_against).ok());
        let target = target(&amendment, written_against.as_ref(), sections);
        let vote = match amendment.ballot {
            Some(ballot) => documents
                .ballots
                .get(id, ballot)
                .ok()
                .and_then(|b| vote_result(&b)),
            None => None,
        };
        let entry = export::AnnexAmendment {
            number: amendment.id,
            author: amendment.author_name.clone(),
            target,
            action: match amendment.kind {
                AmendmentKind::Replace => export::AmendmentAction::Replace,
                AmendmentKind::Delete => export::AmendmentAction::Delete,
                AmendmentKind::InsertAfter => export::AmendmentAction::InsertAfter,
                AmendmentKind::InsertSection => export::AmendmentAction::InsertSection,
                AmendmentKind::DeleteSection => export::AmendmentAction::DeleteSection,
            },
            status,
            vote,
        };
        if matches!(
            status,
            export::AnnexStatus::Adopted | export::AnnexStatus::Accepted
        ) {
            result.adopted.push(entry);
        } else {
            result.not_adopted.push(entry);
        }
    }
    Ok(result)
}

fn target(
    amendment: &AmendmentRecord,
    written_against: Option<&VersionRecord>,
    sections: &[Section],
) -> export::AnnexTarget {
    let lookup = |sections: &[Section]| -> Option<export::AnnexTarget> {
        for section in sections {
            if amendment.kind.targets_section() {
                if section.id == amendment.target {
                    return Some(export::AnnexTarget::Section(section.number));
                }
            } else if let Some(p) = section.paragraphs.iter().find(|p| p.id == amendment.target) {
                return Some(export::AnnexTarget::Paragraph(p.number.clone()));
            }
        }
        None
    };
    written_against
        .and_then(|v| lookup(&v.sections))
        .or_else(|| lookup(sections))
        .unwrap_or(if amendment.kind.targets_section() {
            export::AnnexTarget::Section(None)
        } else {
            export::AnnexTarget::Paragraph(None)
        })
}

fn vote_result(ballot: &BallotRecord) -> Option<export::VoteResult> {
    let outcome = ballot.outcome.as_ref()?;
    Some(export::VoteResult {
        adopted: outcome.result == BallotResult::Adopted,
        void: outcome.result == BallotResult::Void,
        yes: outcome.yes,
        no: outcome.no,
        abstain: outcome.abstain,
        majority: match ballot.rules.majority {
            Majority::Simple => export::Majority::Simple,
            Majority::Absolute => export::Majority::Absolute,
            Majority::TwoThirds => export::Majority::TwoThirds,
        },
        n_eligible: outcome.n_eligible,
        n_voted: outcome.n_voted,
        quorum_required: outcome.quorum_required,
    })
}

/// Most exports kept in memory.
pub const CACHE_ENTRIES: usize = 32;
/// Most bytes of exports kept in memory.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// PDF renders at once (each takes a core for a fraction of a second).
pub const CONCURRENT_RENDERS: usize = 2;
/// PDF renders waiting behind those; beyond, the request is refused as busy.
pub const RENDER_QUEUE: usize = 8;

/// A cache key: the format and a SHA-256 of the whole export model (metadata, status, text,
/// annex), so that a named version is served from cache as long as nothing it shows
/// changed, and the current text is cached per state of the text.
type CacheKey = (Format, [u8; 32]);

struct CacheEntry {
    bytes: Arc<Vec<u8>>,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<CacheKey, CacheEntry>,
    n_bytes: usize,
    clock: u64,
}

/// The exports of a running server: a small LRU cache of rendered files and a bound on
/// concurrent PDF renders.
pub struct Exports {
    /// Guards look-ups and inserts only, never held across a render or an await.
    cache: Mutex<Cache>,
    renders: tokio::sync::Semaphore,
    /// Renders waiting for or holding a permit.
    n_queued: AtomicUsize,
}

impl Default for Exports {
    fn default() -> Exports {
        Exports {
            cache: Mutex::new(Cache::default()),
            renders: tokio::sync::Semaphore::new(CONCURRENT_RENDERS),
            n_queued: AtomicUsize::new(0),
        }
    }
}

/// Why an export could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// Too many renders running and waiting.
    #[error("too many exports are being rendered")]
    Busy,
    /// The renderer failed.
    #[error("{0}")]
    Render(String),
}

/// A rendered export.
pub struct Rendered {
    pub bytes: Arc<Vec<u8>>,
    /// Whether it came from the cache.
    pub cached: bool,
}

impl Exports {
    /// `document` rendered in `format`, from the cache or rendered now (a PDF on a blocking
    /// thread, at most [`CONCURRENT_RENDERS`] at once).
    pub async fn render(
        &self,
        document: export::ExportDocument,
        format: Format,
    ) -> Result<Rendered, ExportFailure> {
        let key = (format, fingerprint(&document));
        if let Some(bytes) = self.cached(&key) {
            return Ok(Rendered {
                bytes,
                cached: true,
            });
        }
        let bytes = if format == Format::Pdf {
            if self.n_queued.fetch_add(1, Ordering::SeqCst) >= CONCURRENT_RENDERS + RENDER_QUEUE {
                self.n_queued.fetch_sub(1, Ordering::SeqCst);
                return Err(ExportFailure::Busy);
            }
            let result = async {
                let _permit = self
                    .renders
                    .acquire()
                    .await
                    .map_err(|e| ExportFailure::Render(e.to_string()))?;
                // Another request may have rendered it meanwhile.
                if let Some(bytes) = self.cached(&key) {
                    return Ok(bytes);
                }
                let rendered =
                    tokio::task::spawn_blocking(move || export::render(&document, format))
                        .await
                        .map_err(|e| ExportFailure::Render(e.to_string()))?
                        .map_err(|e| ExportFailure::Render(e.to_string()))?;
                Ok(Arc::new(rendered))
            }
            .await;
            self.n_queued.fetch_sub(1, Ordering::SeqCst);
            result?
        } else {
            Arc::new(
                export::render(&document, format)
                    .map_err(|e| ExportFailure::Render(e.to_string()))?,
            )
        };
        self.insert(key, bytes.clone());
        Ok(Rendered {
            bytes,
            cached: false,
        })
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<Vec<u8>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.clock += 1;
        let clock = cache.clock;
        let entry = cache.entries.get_mut(key)?;
        entry.last_used = clock;
        Some(entry.bytes.clone())
    }

    fn insert(&self, key: CacheKey, bytes: Arc<Vec<u8>>) {
        if bytes.len() > CACHE_BYTES {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.clock += 1;
        let last_used = cache.clock;
        if let Some(old) = cache.entries.insert(key, CacheEntry { bytes, last_used }) {
            cache.n_bytes -= old.bytes.len();
        }
        cache.n_bytes += cache.entries[&key].bytes.len();
        while cache.entries.len() > CACHE_ENTRIES || cache.n_bytes > CACHE_BYTES {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(removed) = cache.entries.remove(&oldest) {
                cache.n_bytes -= removed.bytes.len();
            }
        }
    }
}

fn fingerprint(document: &export::ExportDocument) -> [u8; 32] {
    let json = serde_json::to_vec(document).unwrap_or_default();
    Sha256::digest(&json).into()
}

/// `manifesto export` (works while the server is stopped: it opens the data directory).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    /// The document's id.
    #[arg(long)]
    pub document: String,
    /// `pdf`, `md` or `html`.
    #[arg(long, value_parser = ["pdf", "md", "html"])]
    pub format: String,
    /// A named version's number (default: the adopted version of an adopted document, else
    /// the current text).
    #[arg(long)]
    pub version: Option<u64>,
    /// Add the annex of amendments.
    #[arg(long)]
    pub annex: bool,
    /// Where to write the file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `manifesto export`.
pub fn export_command(args: ExportArgs) -> anyhow::Result<()> {
    use anyhow::Context;

    use crate::store::Store;

    let format = Format::from_extension(&args.format).context("--format is pdf, md or html")?;
    if !args.data.data_dir.join("store").exists() {
        anyhow::bail!(
            "no data in {}: start the server once (or pass --data)",
            args.data.data_dir.display()
        );
    }
    let store = crate::open_sled(&args.data.data_dir, crate::store::SyncMode::PowerLoss)?;
    let documents = Documents::open(store.db())?;
    let record = documents
        .get(&args.document)
        .with_context(|| format!("no document {}", args.document))?;
    let which = args
        .version
        .map_or(default_version(&record), Which::Version);
    let (sections, version) = match which {
        Which::Version(n) => {
            let version = documents
                .version(&record.id, n)
                .with_context(|| format!("{} has no version {n}", record.id))?;
            (version.sections.clone(), Some(version))
        }
        Which::Current => {
            let stored = store.load_document(&record.id)?;
            let room = crate::room::Room::from_stored(&stored)
                .map_err(|e| anyhow::anyhow!("cannot read the stored text: {e}"))?;
            let sections = {
                use manifesto_protocol::yrs::Transact;
                let fragment = room
                    .doc()
                    .get_or_insert_xml_fragment(crate::text::FRAGMENT_NAME);
                let txn = room.doc().transact();
                crate::text::read_sections(&txn, &fragment)
            };
            (sections, None)
        }
    };
    let annex = if args.annex {
        Some(annex(&documents, &record.id, &sections)?)
    } else {
        None
    };
    let document = export_document(&record, &sections, version.as_ref(), annex);
    let bytes = export::render(&document, format)?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "exported {} ({}) to {} ({} bytes)",
        record.id,
        file_name(&record, which, format),
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use manifesto_protocol::yrs::{self, Transact, WriteTxn};

    use super::*;
    use crate::documents::VersionKind;
    use crate::text::{import_markdown, read_sections, write_manuscript, IdIssuer, Metadata};

    fn record(metadata: Metadata) -> DocumentRecord {
        DocumentRecord {
            id: "manifesto-2026".into(),
            metadata,
            phase: Phase::Drafting,
            deadline: None,
            phase_since: 0,
            archived_from: None,
            comment_phases: Vec::new(),
            secretariat_votes: false,
            final_vote_after_ballot: 0,
            transitions: Vec::new(),
            next_version: 2,
            created_at: 0,
            created_by: 1,
            deadline_announced: None,
            min_supporters: 0,
            max_pending_amendments: 10,
        }
    }

    fn version(sections: Vec<Section>) -> VersionRecord {
        VersionRecord {
            number: 1,
            name: "Created".into(),
            kind: VersionKind::Created,
            phase: Phase::Drafting,
            created_at: 1_769_644_800,
            created_by: Some(1),
            note: None,
            state_vector: String::new(),
            sections,
        }
    }

    /// The sections the server reads after writing `markdown` into a document.
    fn import(markdown: &str) -> (Metadata, Vec<Section>) {
        let draft = import_markdown(markdown).expect("imports");
        let doc = yrs::Doc::new();
        let mut txn = doc.transact_mut();
        let fragment = txn.get_or_insert_xml_fragment(crate::text::FRAGMENT_NAME);
        write_manuscript(&mut txn, &fragment, &draft, &mut IdIssuer::new(Vec::new()))
            .expect("writes");
        (draft.metadata, read_sections(&txn, &fragment))
    }

    /// Sections without their ids (a new import issues new ones).
    fn shape(sections: &[Section]) -> Vec<Section> {
        sections
            .iter()
            .map(|s| Section {
                id: String::new(),
                paragraphs: s
                    .paragraphs
                    .iter()
                    .map(|p| crate::text::Paragraph {
                        id: String::new(),
                        ..p.clone()
                    })
                    .collect(),
                ..s.clone()
            })
            .collect()
    }

    #[test]
    fn exported_markdown_imports_back_into_the_same_structure() {
        for demo in crate::demo::DEMO_DRAFTS.iter().map(|(_, markdown)| *markdown).chain([
            "---\ntitle: \"A [title] \\\"quoted\\\" & #1\"\n---\n# Preamble\n\n*Recalling* that **we** *call* ***upon*** you & <them> [1] #2,\n\n# 1. A *new* `section`\n\n1. 1. Not a list: - * _ \\\n2. Ends with a star *\n",
        ]) {
            let (metadata, sections) = import(demo);
            let version = version(sections.clone());
            let document = export_document(&record(metadata.clone()), &sections, Some(&version), None);
            let markdown = export::markdown::render(&document);
            let (again_metadata, again) = import(&markdown);
            assert_eq!(shape(&again), shape(&sections), "{markdown}");
            assert_eq!(again_metadata.title, metadata.title);
            assert_eq!(again_metadata.forum, metadata.forum);
            assert_eq!(again_metadata.dates, metadata.dates);
            assert_eq!(again_metadata.language, metadata.language);
        }
    }

    #[test]
    fn file_names_say_which_version() {
        let mut record = record(Metadata::default());
        assert_eq!(
            file_name(&record, Which::Current, Format::Pdf),
            "manifesto-2026-current.pdf"
        );
        assert_eq!(
            file_name(&record, Which::Version(12), Format::Markdown),
            "manifesto-2026-v12.md"
        );
        record.phase = Phase::Adopted;
        record.transitions.push(crate::documents::Transition {
            from: Phase::FinalVote,
            to: Phase::Adopted,
            direction: crate::documents::Direction::Forward,
            by: 1,
            at: 0,
            reason: None,
            deadline: None,
            version: 7,
        });
        assert_eq!(default_version(&record), Which::Version(7));
        assert_eq!(
            file_name(&record, Which::Version(7), Format::Pdf),
            "manifesto-2026-adopted.pdf"
        );
    }
}
