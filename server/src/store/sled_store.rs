//! The sled implementation of [`Store`].
//!
//! One sled tree, `documents`, holds every document. Keys start with the document name's
//! length (one byte) and the name, so one document's keys are contiguous and never collide
//! with another's; then a kind byte: `0` for the snapshot, `1` followed by the big-endian
//! sequence number for a logged update. The snapshot value starts with the big-endian sequence
//! number of the last update it includes.

use std::fs::File;
use std::path::Path;

use super::{Store, StoreError, StoredDocument};

const KIND_SNAPSHOT: u8 = 0;
const KIND_UPDATE: u8 = 1;
const TREE_DOCUMENTS: &str = "documents";

/// How hard [`SledStore::flush`] works to make data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// sled's own flush: data is written to the operating system (`pwrite` then
    /// `sync_file_range`), which survives a crash of the process but not necessarily a power
    /// loss, because neither the disk's write cache nor the file's metadata is flushed.
    ProcessCrash,
    /// sled's flush followed by `fdatasync` of sled's data file, which also survives a power
    /// loss on a disk that honours flushes.
    PowerLoss,
}

/// A [`Store`] in a sled database directory.
pub struct SledStore {
    db: sled::Db,
    documents: sled::Tree,
    /// sled's log file, opened a second time so that `fdatasync` can be called on it:
    /// sled 0.34 never calls `fsync` itself on Linux.
    data_file: Option<File>,
}

fn db_error(e: sled::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn document_prefix(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 10);
    // Names are validated to at most 128 bytes before they reach the store.
    key.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(name.as_bytes());
    key
}

fn snapshot_key(name: &str) -> Vec<u8> {
    let mut key = document_prefix(name);
    key.push(KIND_SNAPSHOT);
    key
}

fn update_key(name: &str, seq: u64) -> Vec<u8> {
    let mut key = document_prefix(name);
    key.push(KIND_UPDATE);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn split_seq(bytes: &[u8], what: &str) -> Result<(u64, Vec<u8>), StoreError> {
    if bytes.len() < 8 {
        return Err(StoreError::Corrupt(format!(
            "{what} shorter than its sequence number"
        )));
    }
    let (seq, rest) = bytes.split_at(8);
    let seq = u64::from_be_bytes(
        seq.try_into()
            .map_err(|_| StoreError::Corrupt(what.into()))?,
    );
    Ok((seq, rest.to_vec()))
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, sync_mode: SyncMode) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(db_error)?;
        let documents = db.open_tree(TREE_DOCUMENTS).map_err(db_error)?;
        let data_file = match sync_mode {
            SyncMode::ProcessCrash => None,
            SyncMode::PowerLoss => Some(
                File::open(dir.join("db"))
                    .map_err(|e| StoreError::Database(format!("open sled data file: {e}")))?,
            ),
        };
        Ok(SledStore {
            db,
            documents,
            data_file,
        })
    }

    /// The underlying sled database, for the other server-side records.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl Store for SledStore {
    fn load_document(&self, name: &str) -> Result<StoredDocument, StoreError> {
        let mut doc = StoredDocument::default();
        let mut after_seq = None;
        if let Some(value) = self.documents.get(snapshot_key(name)).map_err(db_error)? {
            let (seq, snapshot) = split_seq(&value, "snapshot")?;
            doc.snapshot = Some(snapshot);
            after_seq = Some(seq);
            doc.next_seq = seq + 1;
        }
        let mut prefix = document_prefix(name);
        prefix.push(KIND_UPDATE);
        for entry in self.documents.scan_prefix(&prefix) {
            let (key, value) = entry.map_err(db_error)?;
            let (seq, _) = split_seq(&key[prefix.len()..], "update key")?;
            if after_seq.is_some_and(|after| seq <= after) {
                continue;
            }
            doc.updates.push(value.to_vec());
            doc.next_seq = seq + 1;
        }
        Ok(doc)
    }

    fn append_updates(
        &self,
        name: &str,
        first_seq: u64,
        updates: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (seq, update) in (first_seq..).zip(updates) {
            batch.insert(update_key(name, seq), update.as_slice());
        }
        self.documents.apply_batch(batch).map_err(db_error)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(db_error)?;
        if let Some(file) = &self.data_file {
            file.sync_data()
                .map_err(|e| StoreError::Database(format!("fdatasync sled data file: {e}")))?;
        }
        Ok(())
    }

    fn compact(&self, name: &str, snapshot: &[u8], through_seq: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut value = Vec::with_capacity(snapshot.len() + 8);
        value.extend_from_slice(&through_seq.to_be_bytes());
        value.extend_from_slice(snapshot);
        batch.insert(snapshot_key(name), value);
        let first = update_key(name, 0);
        let last = update_key(name, through_seq);
        for entry in self.documents.range(first..=last) {
            let (key, _) = entry.map_err(db_error)?;
            batch.remove(key);
        }
        self.documents.apply_batch(batch).map_err(db_error)
    }

    fn document_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for entry in self.documents.iter() {
            let (key, _) = entry.map_err(db_error)?;
            let len = usize::from(
                *key.first()
                    .ok_or_else(|| StoreError::Corrupt("empty key".into()))?,
            );
            let name = key
                .get(1..1 + len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| StoreError::Corrupt("document key".into()))?;
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SledStore {
        SledStore::open(dir, SyncMode::PowerLoss).expect("open store")
    }

    #[test]
    fn append_load_compact_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        assert_eq!(
            store.load_document("a").expect("load"),
            StoredDocument::default()
        );
        store
            .append_updates("a", 0, &[vec![1], vec![2], vec![3]])
            .expect("append");
        store
            .append_updates("ab", 0, &[vec![9]])
            .expect("append other");
        store.flush().expect("flush");
        let doc = store.load_document("a").expect("load");
        assert_eq!(doc.updates, vec![vec![1], vec![2], vec![3]]);
        assert_eq!(doc.next_seq, 3);

        store.compact("a", b"snap", 1).expect("compact");
        let doc = store.load_document("a").expect("load");
        assert_eq!(doc.snapshot.as_deref(), Some(&b"snap"[..]));
        assert_eq!(doc.updates, vec![vec![3]]);
        assert_eq!(doc.next_seq, 3);
        assert_eq!(
            store.load_document("ab").expect("load").updates,
            vec![vec![9]]
        );
        assert_eq!(
            store.document_names().expect("names"),
            vec!["a".to_owned(), "ab".to_owned()]
        );
    }

    #[test]
    fn data_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path());
            store
                .append_updates("doc", 0, &[vec![7; 100]])
                .expect("append");
            store.flush().expect("flush");
        }
        let store = open(dir.path());
        assert_eq!(
            store.load_document("doc").expect("load").updates,
            vec![vec![7; 100]]
        );
    }
}
