//! The phases a Manifesto goes through, and which moves between them are allowed.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

/// Where a document stands in the drafting process.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Delegates and the secretariat co-write the text live.
    Drafting,
    /// The text is frozen; delegates table amendments.
    Amendments,
    /// Ballots on amendments.
    Voting,
    /// The ballot on adopting the whole text.
    FinalVote,
    /// Adopted: nothing changes any more.
    Adopted,
    /// Put away (from any phase); restored to the phase it was archived from.
    Archived,
}

impl Phase {
    /// Every phase, in process order.
    pub const ALL: [Phase; 6] = [
        Phase::Drafting,
        Phase::Amendments,
        Phase::Voting,
        Phase::FinalVote,
        Phase::Adopted,
        Phase::Archived,
    ];

    /// The name used in the API and the events.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Drafting => "drafting",
            Phase::Amendments => "amendments",
            Phase::Voting => "voting",
            Phase::FinalVote => "final_vote",
            Phase::Adopted => "adopted",
            Phase::Archived => "archived",
        }
    }

    /// Whether members may edit the text live in this phase (before its deadline).
    pub fn text_is_live(self) -> bool {
        self == Phase::Drafting
    }

    /// Whether a deadline means anything in this phase (it has actions to close).
    pub fn takes_deadline(self) -> bool {
        matches!(
            self,
            Phase::Drafting | Phase::Amendments | Phase::Voting | Phase::FinalVote
        )
    }

    /// Phases in which comments are open unless a document says otherwise.
    pub fn default_comment_phases() -> Vec<Phase> {
        vec![Phase::Drafting, Phase::Amendments]
    }
}

/// Which way a transition goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Further in the process (phases may be skipped).
    Forward,
    /// Back to an earlier phase; needs a reason.
    Back,
    /// Into the archive.
    Archive,
    /// Out of the archive, to the phase it was archived from.
    Restore,
}

/// A transition the rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// The document is already in that phase.
    #[error("the document is already in this phase")]
    Unchanged,
    /// Going back needs a reason.
    #[error("going back to an earlier phase needs a reason")]
    ReasonRequired,
    /// An adopted document can only be archived.
    #[error("an adopted document can only be archived")]
    Adopted,
    /// An archived document goes back to the phase it was archived from.
    #[error("an archived document can only be restored to the phase it was archived from ({0})")]
    RestoreOnly(&'static str),
}

impl TransitionError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::Unchanged => "phase_unchanged",
            TransitionError::ReasonRequired => "reason_required",
            TransitionError::Adopted => "document_adopted",
            TransitionError::RestoreOnly(_) => "restore_only",
        }
    }
}

/// Checks a move from `from` to `to`. `archived_from` is the phase an archived document left;
/// `has_reason` whether the secretariat gave one.
pub fn check_transition(
    from: Phase,
    to: Phase,
    archived_from: Option<Phase>,
    has_reason: bool,
) -> Result<Direction, TransitionError> {
    if from == to {
        return Err(TransitionError::Unchanged);
    }
    if to == Phase::Archived {
        return Ok(Direction::Archive);
    }
    if from == Phase::Archived {
        let back_to = archived_from.unwrap_or(Phase::Drafting);
        return if to == back_to {
            Ok(Direction::Restore)
        } else {
            Err(TransitionError::RestoreOnly(back_to.as_str()))
        };
    }
    if from == Phase::Adopted {
        return Err(TransitionError::Adopted);
    }
    if to > from {
        Ok(Direction::Forward)
    } else if has_reason {
        Ok(Direction::Back)
    } else {
        Err(TransitionError::ReasonRequired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_moves_are_free_and_may_skip_phases() {
        assert_eq!(
            check_transition(Phase::Drafting, Phase::Amendments, None, false),
            Ok(Direction::Forward)
        );
        assert_eq!(
            check_transition(Phase::Drafting, Phase::FinalVote, None, false),
            Ok(Direction::Forward)
        );
        assert_eq!(
            check_transition(Phase::FinalVote, Phase::Adopted, None, false),
            Ok(Direction::Forward)
        );
    }

    #[test]
    fn going_back_needs_a_reason() {
        assert_eq!(
            check_transition(Phase::Voting, Phase::Drafting, None, false),
            Err(TransitionError::ReasonRequired)
        );
        assert_eq!(
            check_transition(Phase::Voting, Phase::Drafting, None, true),
            Ok(Direction::Back)
        );
    }

    #[test]
    fn adopted_is_final_except_for_the_archive() {
        assert_eq!(
            check_transition(Phase::Adopted, Phase::Drafting, None, true),
            Err(TransitionError::Adopted)
        );
        assert_eq!(
            check_transition(Phase::Adopted, Phase::Archived, None, false),
            Ok(Direction::Archive)
        );
    }

    #[test]
    fn the_archive_restores_to_where_it_was() {
        assert_eq!(
            check_transition(
                Phase::Archived,
                Phase::Amendments,
                Some(Phase::Amendments),
                false
            ),
            Ok(Direction::Restore)
        );
        assert_eq!(
            check_transition(
                Phase::Archived,
                Phase::Drafting,
                Some(Phase::Amendments),
                true
            ),
            Err(TransitionError::RestoreOnly("amendments"))
        );
        assert_eq!(
            check_transition(Phase::Drafting, Phase::Drafting, None, true),
            Err(TransitionError::Unchanged)
        );
    }
}
