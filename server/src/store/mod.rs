//! Durable storage of documents, behind the [`Store`] trait.
//!
//! A store sees opaque bytes: it never decodes a Yjs update, and it never imports yrs. Each
//! document is a snapshot (optional) plus a log of updates numbered by a sequence; loading
//! returns both, compaction atomically replaces a prefix of the log by a new snapshot.

mod sled_store;

pub use sled_store::{SledStore, SyncMode};

use thiserror::Error;

/// A storage failure. The text is for logs; clients only ever learn that storage failed.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The underlying database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// Stored bytes are not in the shape this version writes.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A fault injected by a test store.
    #[error("injected fault: {0}")]
    Injected(String),
}

/// What is stored for one document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The latest compacted state, as written by [`Store::compact`].
    pub snapshot: Option<Vec<u8>>,
    /// Updates appended after the snapshot, in sequence order.
    pub updates: Vec<Vec<u8>>,
    /// The sequence number the next appended update must carry.
    pub next_seq: u64,
}

/// Durable storage for documents.
///
/// Calls block on disk IO; async callers run them on a blocking thread. Appends are not
/// durable until [`Store::flush`] returns, which lets one flush cover the appends of many
/// documents (group commit).
pub trait Store: Send + Sync + 'static {
    /// Reads a document's snapshot and the updates logged after it. An unknown document is
    /// empty, not an error.
    fn load_document(&self, name: &str) -> Result<StoredDocument, StoreError>;

    /// Appends `updates` to a document's log, the first one numbered `first_seq`.
    fn append_updates(
        &self,
        name: &str,
        first_seq: u64,
        updates: &[Vec<u8>],
    ) -> Result<(), StoreError>;

    /// Makes every append that has returned so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// Atomically stores `snapshot` as the document's state through update `through_seq` and
    /// removes the logged updates up to and including it.
    fn compact(&self, name: &str, snapshot: &[u8], through_seq: u64) -> Result<(), StoreError>;

    /// Names of every stored document.
    fn document_names(&self) -> Result<Vec<String>, StoreError>;
}
