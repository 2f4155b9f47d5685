//! Named versions: the structured text of a document at a moment, stored whole so that it
//! stays readable whatever happens to the live document's log (compaction, garbage
//! collection of deleted text).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Phase;
use crate::text::Section;

/// Why a version was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// The document was created (empty, from the template or imported).
    Created,
    /// A phase change.
    Phase,
    /// Asked for by the secretariat.
    Manual,
    /// After an editorial correction.
    Correction,
    /// After an amendment was applied.
    Amendment,
}

/// A stored named version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// 1, 2, 3… within the document.
    pub number: u64,
    /// "Drafting → Amendments", "Before the plenary"…
    pub name: String,
    pub kind: VersionKind,
    /// The phase the document was in once the version was taken.
    pub phase: Phase,
    /// Unix seconds.
    pub created_at: i64,
    /// Account that caused it; `None` for the server itself (a deadline).
    pub created_by: Option<u64>,
    /// Reason or details.
    pub note: Option<String>,
    /// State vector (v1, base64) of the live document the text was read from.
    pub state_vector: String,
    /// The text.
    pub sections: Vec<Section>,
}

/// A version as listed (without its text).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionSummary {
    pub number: u64,
    pub name: String,
    pub kind: VersionKind,
    pub phase: Phase,
    /// RFC 3339.
    pub created_at: String,
    pub created_by: Option<u64>,
    pub note: Option<String>,
    /// Number of sections and paragraphs in it.
    pub n_sections: usize,
    pub n_paragraphs: usize,
}

impl From<&VersionRecord> for VersionSummary {
    fn from(version: &VersionRecord) -> VersionSummary {
        VersionSummary {
            number: version.number,
            name: version.name.clone(),
            kind: version.kind,
            phase: version.phase,
            created_at: crate::api::timestamp(version.created_at),
            created_by: version.created_by,
            note: version.note.clone(),
            n_sections: version.sections.len(),
            n_paragraphs: version.sections.iter().map(|s| s.paragraphs.len()).sum(),
        }
    }
}
