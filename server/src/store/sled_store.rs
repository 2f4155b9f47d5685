//! The sled implementation of [`Store`].
//!
//! One sled tree, `documents`, holds every document. Keys start with the document name's
//! length (one byte) and the name, so one document's keys are contiguous and never collide
//! with another's; then a kind byte:
//!
//! - `0` + chunk number (u32 BE): a piece of the snapshot;
//! - `1` + sequence (u64 BE) + chunk number (u32 BE): a piece of a logged update;
//! - `2`: the sequence number (u64 BE) of the last update the snapshot includes.
//!
//! Values are cut into chunks of at most [`CHUNK_BYTES`], so that sled keeps most of them
//! inline in its log file. sled 0.34 writes large values and large tree pages to separate
//! blob files (named by log sequence number) and never syncs them; in
//! [`SyncMode::PowerLoss`], [`SledStore::flush`] syncs the new ones before the log file.

use std::fs::File;
use std::path::Path;

use super::{Store, StoreError, StoredDocument};

const KIND_SNAPSHOT: u8 = 0;
const KIND_UPDATE: u8 = 1;
const KIND_SNAPSHOT_SEQ: u8 = 2;

/// Largest value written to sled. sled 0.34 moves values over a quarter of its segment size
/// (512 KiB by default) out of its log into blob files.
pub const CHUNK_BYTES: usize = 64 * 1024;
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
    /// sled's blob directory, synced with the blobs written since the last flush.
    blob_dir: std::path::PathBuf,
    /// Highest blob file name (a log sequence number) already synced. A mutex because
    /// flushes may run on several blocking threads; held only during a flush.
    last_synced_blob: std::sync::Mutex<u64>,
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

fn kind_prefix(name: &str, kind: u8) -> Vec<u8> {
    let mut key = document_prefix(name);
    key.push(kind);
    key
}

fn update_key(name: &str, seq: u64) -> Vec<u8> {
    let mut key = kind_prefix(name, KIND_UPDATE);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Inserts `value` under `key` + chunk number, in chunks of at most [`CHUNK_BYTES`].
fn insert_chunked(batch: &mut sled::Batch, key: &[u8], value: &[u8]) {
    let chunks = value.chunks(CHUNK_BYTES);
    // An empty value still gets one (empty) chunk, so that it exists.
    let chunks: Box<dyn Iterator<Item = &[u8]>> = if value.is_empty() {
        Box::new(std::iter::once(&[][..]))
    } else {
        Box::new(chunks)
    };
    for (index, chunk) in (0u32..).zip(chunks) {
        let mut chunk_key = key.to_vec();
        chunk_key.extend_from_slice(&index.to_be_bytes());
        batch.insert(chunk_key, chunk);
    }
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
        // No background flusher: the server flushes after every batch itself, and sled's
        // periodic flush (a full `fsync` every 500 ms) stalled those flushes by 200-800 ms.
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .map_err(db_error)?;
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
            blob_dir: dir.join("blobs"),
            last_synced_blob: std::sync::Mutex::new(0),
        })
    }

    /// The underlying sled database, for the other server-side records.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl SledStore {
    /// Syncs blob files written since the last call, then the blob directory.
    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let io = |what: &str, e: std::io::Error| StoreError::Database(format!("{what}: {e}"));
        let mut last_synced = match self.last_synced_blob.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entries = match std::fs::read_dir(&self.blob_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("read sled blob directory", e)),
        };
        let mut newest = *last_synced;
        let mut synced_any = false;
        for entry in entries {
            let entry = entry.map_err(|e| io("read sled blob directory", e))?;
            let Some(lsn) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if lsn <= *last_synced {
                continue;
            }
            File::open(entry.path())
                .and_then(|f| f.sync_all())
                .map_err(|e| io("fsync sled blob", e))?;
            newest = newest.max(lsn);
            synced_any = true;
        }
        if synced_any {
            File::open(&self.blob_dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("fsync sled blob directory", e))?;
            *last_synced = newest;
        }
        Ok(())
    }
}

impl Store for SledStore {
    fn load_document(&self, name: &str) -> Result<StoredDocument, StoreError> {
        let mut doc = StoredDocument::default();
        let mut after_seq = None;
        if let Some(value) = self
            .documents
            .get(kind_prefix(name, KIND_SNAPSHOT_SEQ))
            .map_err(db_error)?
        {
            let (seq, _) = split_seq(&value, "snapshot sequence")?;
            let mut snapshot = Vec::new();
            for entry in self.documents.scan_prefix(kind_prefix(name, KIND_SNAPSHOT)) {
                let (_, chunk) = entry.map_err(db_error)?;
                snapshot.extend_from_slice(&chunk);
            }
            doc.snapshot = Some(snapshot);
            after_seq = Some(seq);
            doc.next_seq = seq + 1;
        }
        let prefix = kind_prefix(name, KIND_UPDATE);
        let mut current_seq = None;
        for entry in self.documents.scan_prefix(&prefix) {
            let (key, chunk) = entry.map_err(db_error)?;
            let (seq, _) = split_seq(&key[prefix.len()..], "update key")?;
            if after_seq.is_some_and(|after| seq <= after) {
                continue;
            }
            if current_seq == Some(seq) {
                if let Some(update) = doc.updates.last_mut() {
                    update.extend_from_slice(&chunk);
                }
            } else {
                doc.updates.push(chunk.to_vec());
                current_seq = Some(seq);
            }
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
            insert_chunked(&mut batch, &update_key(name, seq), update);
        }
        self.documents.apply_batch(batch).map_err(db_error)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(db_error)?;
        if let Some(file) = &self.data_file {
            // Blobs first: the log may point at them once it is synced.
            self.sync_new_blobs()?;
            file.sync_data()
                .map_err(|e| StoreError::Database(format!("fdatasync sled data file: {e}")))?;
        }
        Ok(())
    }

    fn compact(&self, name: &str, snapshot: &[u8], through_seq: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for entry in self.documents.scan_prefix(kind_prefix(name, KIND_SNAPSHOT)) {
            let (key, _) = entry.map_err(db_error)?;
            batch.remove(key);
        }
        insert_chunked(&mut batch, &kind_prefix(name, KIND_SNAPSHOT), snapshot);
        batch.insert(
            kind_prefix(name, KIND_SNAPSHOT_SEQ),
            &through_seq.to_be_bytes(),
        );
        let first = update_key(name, 0);
        let mut last = update_key(name, through_seq);
        last.extend_from_slice(&u32::MAX.to_be_bytes());
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
    fn large_values_are_chunked_and_read_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let big: Vec<u8> = (0..(3 * CHUNK_BYTES + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        store
            .append_updates("d", 0, &[big.clone(), vec![1], Vec::new()])
            .expect("append");
        store.flush().expect("flush");
        let doc = store.load_document("d").expect("load");
        assert_eq!(doc.updates, vec![big.clone(), vec![1], Vec::new()]);
        store.compact("d", &big, 1).expect("compact");
        store
            .compact("d", &big[..10], 1)
            .expect("a smaller snapshot replaces every chunk");
        let doc = store.load_document("d").expect("load");
        assert_eq!(doc.snapshot.as_deref(), Some(&big[..10]));
        assert_eq!(doc.updates, vec![Vec::<u8>::new()]);
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
