//! Consistent backups of a data directory, taken while the server runs, and restores.
//!
//! sled has no point-in-time snapshot, so a backup pauses writes while it copies every tree:
//! [`WriteGate`] is held for reading by each state-changing HTTP request (for its whole
//! duration) and by each document store write ([`GatedStore`]); a backup takes it for writing,
//! which waits for the writes in flight, holds new ones back, copies every record of every
//! tree in memory (a reference count each, not the bytes), and lets writes go on. Encoding,
//! compression and writing the file happen after. What clients saw before the backup is in
//! it, since nothing is relayed before it is stored.
//!
//! A backup file is a gzip stream of: one JSON header line ([`Header`]), then the records
//! (tag `1` + tree name, tag `2` + key + value, each length-prefixed), the end tag `3`, and
//! the SHA-256 of everything before it. [`restore`] checks the digest and the format version
//! before writing anything, into an empty directory only.
//!
//! Must not: decode records (it copies opaque bytes); hold the gate while compressing or
//! writing files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::format::FORMAT_VERSION;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoredDocument};

/// Version of the backup file layout (not of the data inside, which is `format_version`).
pub const BACKUP_LAYOUT: u32 = 1;
/// File name extension of backups.
pub const EXTENSION: &str = "mfbk";
/// Prefix of scheduled backups' file names (only these are rotated).
const SCHEDULED_PREFIX: &str = "manifesto-";
/// The admin socket's file name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

const TAG_TREE: u8 = 1;
const TAG_ENTRY: u8 = 2;
const TAG_END: u8 = 3;
const DEFAULT_TREE: &[u8] = b"__sled__default";

/// The first line of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// Always [`BACKUP_LAYOUT`] for files this version writes.
    pub manifesto_backup: u32,
    /// The data format version of the records (see `format`).
    pub format_version: u32,
    /// The server that wrote it.
    pub server_version: String,
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Trees and records inside.
    pub n_trees: u64,
    pub n_records: u64,
}

/// Held for reading by every writer, for writing by a backup.
#[derive(Default)]
pub struct WriteGate {
    /// State-changing HTTP requests hold it for their whole duration (an async lock: they
    /// await inside). tokio's lock is fair: once a backup waits, new requests queue behind it.
    requests: tokio::sync::RwLock<()>,
    /// Document store writes hold it while appending or compacting (a std lock: they run on
    /// blocking threads and never await while holding it).
    store: std::sync::RwLock<()>,
}

impl WriteGate {
    /// Waits until no backup is copying, and keeps backups out until the guard is dropped.
    pub async fn enter(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.requests.read().await
    }

    fn store_read(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A [`Store`] whose writes wait for a backup's copy to finish.
pub struct GatedStore {
    inner: Arc<dyn Store>,
    gate: Arc<WriteGate>,
}

impl GatedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, gate: Arc<WriteGate>) -> GatedStore {
        GatedStore { inner, gate }
    }
}

impl Store for GatedStore {
    fn load_document(&self, name: &str) -> Result<StoredDocument, StoreError> {
        self.inner.load_document(name)
    }

    fn append_updates(
        &self,
        name: &str,
        first_seq: u64,
        updates: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let _gate = self.gate.store_read();
        self.inner.append_updates(name, first_seq, updates)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn compact(&self, name: &str, snapshot: &[u8], through_seq: u64) -> Result<(), StoreError> {
        let _gate = self.gate.store_read();
        self.inner.compact(name, snapshot, through_seq)
    }

    fn document_names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.document_names()
    }
}

/// The tree named `name`, as `tree_names` lists it: sled lists its default tree among the
/// others, and that one is the `Db` itself.
pub fn open_tree(db: &sled::Db, name: &[u8]) -> sled::Result<sled::Tree> {
    if name == DEFAULT_TREE {
        Ok((**db).clone())
    } else {
        db.open_tree(name)
    }
}

/// Every record of every tree, copied at one moment.
pub struct Snapshot {
    trees: Vec<(sled::IVec, Vec<(sled::IVec, sled::IVec)>)>,
    format_version: u32,
}

impl Snapshot {
    /// Copies every tree of `db`. The caller makes sure nothing writes meanwhile.
    pub fn collect(db: &sled::Db) -> Result<Snapshot, sled::Error> {
        let format_version = crate::format::stored_version(db, Path::new(""))
            .ok()
            .flatten()
            .unwrap_or(FORMAT_VERSION);
        let mut trees = Vec::new();
        for name in db.tree_names() {
            let records = open_tree(db, &name)?
                .iter()
                .collect::<Result<Vec<_>, _>>()?;
            trees.push((name, records));
        }
        Ok(Snapshot {
            trees,
            format_version,
        })
    }

    /// Number of records.
    pub fn n_records(&self) -> u64 {
        self.trees.iter().map(|(_, r)| r.len() as u64).sum()
    }

    /// The backup file's bytes.
    pub fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let header = Header {
            manifesto_backup: BACKUP_LAYOUT,
            format_version: self.format_version,
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: now_rfc3339(),
            n_trees: self.trees.len() as u64,
            n_records: self.n_records(),
        };
        let mut body = serde_json::to_vec(&header)?;
        body.push(b'\n');
        let put = |body: &mut Vec<u8>, bytes: &[u8]| -> anyhow::Result<()> {
            let len = u32::try_from(bytes.len()).context("a record over 4 GiB")?;
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(bytes);
            Ok(())
        };
        for (name, records) in &self.trees {
            body.push(TAG_TREE);
            put(&mut body, name)?;
            for (key, value) in records {
                body.push(TAG_ENTRY);
                put(&mut body, key)?;
                put(&mut body, value)?;
            }
        }
        body.push(TAG_END);
        let digest = Sha256::digest(&body);
        body.extend_from_slice(&digest);
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 3),
            flate2::Compression::fast(),
        );
        encoder.write_all(&body)?;
        Ok(encoder.finish()?)
    }
}

/// A tree's name and its records (key, value), in key order.
pub type TreeRecords = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// A decoded, verified backup.
pub struct Decoded {
    /// Its header.
    pub header: Header,
    /// Tree name → records.
    pub trees: Vec<TreeRecords>,
}

/// Most bytes a backup may decompress to (a guard against a decompression bomb).
const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// Decodes and verifies a backup file's bytes.
pub fn decode(file: impl Read) -> anyhow::Result<Decoded> {
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(file)
        .take(MAX_DECODED_BYTES)
        .read_to_end(&mut body)
        .context("not a Manifesto backup (it is not gzip-compressed, or it is truncated)")?;
    if body.len() < 32 {
        bail!("not a Manifesto backup (too short)");
    }
    let (content, digest) = body.split_at(body.len() - 32);
    if Sha256::digest(content).as_slice() != digest {
        bail!("the backup is damaged: its checksum does not match its content");
    }
    let newline = content
        .iter()
        .position(|b| *b == b'\n')
        .context("not a Manifesto backup (no header)")?;
    let header: Header = serde_json::from_slice(&content[..newline])
        .context("not a Manifesto backup (unreadable header)")?;
    if header.manifesto_backup != BACKUP_LAYOUT {
        bail!(
            "this backup's layout {} is not one this server reads ({BACKUP_LAYOUT}): use a newer manifesto",
            header.manifesto_backup
        );
    }
    let mut rest = &content[newline + 1..];
    let take = |rest: &mut &[u8]| -> anyhow::Result<Vec<u8>> {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .context("the backup is damaged (truncated record)")?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            bail!("the backup is damaged (truncated record)");
        }
        let (bytes, tail) = tail.split_at(len);
        *rest = tail;
        Ok(bytes.to_vec())
    };
    let mut trees: Vec<TreeRecords> = Vec::new();
    loop {
        let (&tag, tail) = rest
            .split_first()
            .context("the backup is damaged (no end mark)")?;
        rest = tail;
        match tag {
            TAG_TREE => trees.push((take(&mut rest)?, Vec::new())),
            TAG_ENTRY => {
                let key = take(&mut rest)?;
                let value = take(&mut rest)?;
                trees
                    .last_mut()
                    .context("the backup is damaged (a record before any tree)")?
                    .1
                    .push((key, value));
            }
            TAG_END if rest.is_empty() => break,
            _ => bail!("the backup is damaged (unknown tag {tag})"),
        }
    }
    let n_records: u64 = trees.iter().map(|(_, r)| r.len() as u64).sum();
    if n_records != header.n_records || trees.len() as u64 != header.n_trees {
        bail!("the backup is damaged (its header and its records disagree)");
    }
    Ok(Decoded { header, trees })
}

/// Restores the backup in `file` into `data_dir`, which must be empty or absent.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<Header> {
    let reader = std::fs::File::open(file)
        .with_context(|| format!("cannot read the backup {}", file.display()))?;
    let decoded = decode(std::io::BufReader::new(reader))
        .with_context(|| format!("cannot restore {}", file.display()))?;
    if decoded.header.format_version > FORMAT_VERSION {
        bail!(
            "the backup {} holds data format version {} (written by manifesto {}), newer than this server reads ({FORMAT_VERSION}): restore it with a newer manifesto",
            file.display(),
            decoded.header.format_version,
            decoded.header.server_version
        );
    }
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: restore into a new, empty directory (then point --data at it)",
                    data_dir.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("cannot read {}: {e}", data_dir.display()),
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    // No background flusher (the restore flushes once at the end): its thread would keep the
    // directory locked for a moment after this returns, and a `serve` started right after
    // could find the store in use.
    let db = sled::Config::new()
        .path(data_dir.join("store"))
        .flush_every_ms(None)
        .open()
        .with_context(|| format!("cannot create a store in {}", data_dir.display()))?;
    for (name, records) in decoded.trees {
        let tree = open_tree(&db, &name)?;
        for chunk in records.chunks(4096) {
            let mut batch = sled::Batch::default();
            for (key, value) in chunk {
                batch.insert(key.as_slice(), value.as_slice());
            }
            tree.apply_batch(batch)?;
        }
    }
    db.flush()?;
    Ok(decoded.header)
}

/// Writes `bytes` to `path` atomically (a temporary file, synced, then renamed), readable by
/// the owner only: a backup holds password and session hashes.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let temporary = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A file name for a backup taken now: `{prefix}20260312T101500.123Z.mfbk`.
pub fn file_name(prefix: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{prefix}{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z.{EXTENSION}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// Takes backups of one running server's database.
pub struct Backups {
    db: sled::Db,
    gate: Arc<WriteGate>,
    metrics: Arc<Metrics>,
    /// One backup at a time (scheduled, HTTP and socket ones may coincide).
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Backups {
    /// Backups of `db`, whose writers hold `gate`.
    pub fn new(db: sled::Db, gate: Arc<WriteGate>, metrics: Arc<Metrics>) -> Backups {
        Backups {
            db,
            gate,
            metrics,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// The gate writers hold.
    pub fn gate(&self) -> &Arc<WriteGate> {
        &self.gate
    }

    /// A consistent backup's bytes, and how long writes were paused.
    pub async fn take(&self) -> anyhow::Result<(Vec<u8>, Duration)> {
        let started = Instant::now();
        let result = self.take_inner().await;
        match &result {
            Ok(_) => self.metrics.backed_up(
                started.elapsed(),
                u64::try_from(crate::auth::now()).unwrap_or(0),
            ),
            Err(e) => {
                self.metrics.backup_failures_total.inc();
                tracing::error!(error = %format!("{e:#}"), "backup failed");
            }
        }
        result
    }

    async fn take_inner(&self) -> anyhow::Result<(Vec<u8>, Duration)> {
        let _one = self.one_at_a_time.lock().await;
        let requests = self.gate.requests.write().await;
        let paused = Instant::now();
        let db = self.db.clone();
        let gate = self.gate.clone();
        let snapshot = tokio::task::spawn_blocking(move || {
            let _store = gate
                .store
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Snapshot::collect(&db)
        })
        .await
        .context("backup task failed")?
        .context("cannot read the database")?;
        drop(requests);
        let pause = paused.elapsed();
        let bytes = tokio::task::spawn_blocking(move || snapshot.encode())
            .await
            .context("backup task failed")??;
        tracing::info!(
            bytes = bytes.len(),
            pause_ms = pause.as_millis() as u64,
            "backup taken"
        );
        Ok((bytes, pause))
    }

    /// Takes a backup into `dir` under a new name; returns its path.
    pub async fn write_into(&self, dir: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
        let (bytes, _) = self.take().await?;
        let path = dir.join(file_name(prefix));
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_file(&target, &bytes))
            .await
            .context("backup task failed")??;
        Ok(path)
    }

    /// Takes a backup into `dir` every `every`, keeping the newest `keep` scheduled ones,
    /// until `shutdown`.
    pub async fn run_schedule(
        self: Arc<Self>,
        every: Duration,
        keep: usize,
        dir: PathBuf,
        shutdown: CancellationToken,
    ) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.write_into(&dir, SCHEDULED_PREFIX).await {
                Ok(path) => {
                    tracing::info!(path = %path.display(), "scheduled backup written");
                    let dir = dir.clone();
                    match tokio::task::spawn_blocking(move || prune(&dir, keep)).await {
                        Ok(Ok(removed)) if removed > 0 => {
                            tracing::info!(n_removed = removed, "old scheduled backups removed")
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "could not remove old backups"),
                        Err(e) => tracing::warn!(error = %e, "backup pruning task failed"),
                    }
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), dir = %dir.display(), "scheduled backup failed")
                }
            }
        }
    }
}

/// Deletes the oldest scheduled backups in `dir` beyond the newest `keep`; returns how many.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut scheduled: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(SCHEDULED_PREFIX) && n.ends_with(&format!(".{EXTENSION}"))
            })
        })
        .collect();
    // The names hold the time, so name order is age order.
    scheduled.sort();
    let excess = scheduled.len().saturating_sub(keep);
    for path in &scheduled[..excess] {
        std::fs::remove_file(path)?;
    }
    Ok(excess)
}

/// Takes a backup of a stopped server's database (opened by this process).
pub fn backup_offline(db: &sled::Db) -> anyhow::Result<Vec<u8>> {
    Snapshot::collect(db)
        .context("cannot read the database")?
        .encode()
}

/// Serves the admin socket: one command per connection (`backup`), answered with the backup
/// file's bytes, or `error: …` and a line. Only the data directory's owner can connect (the
/// socket is created with mode 0600): the file system is the authentication.
#[cfg(unix)]
pub async fn serve_admin_socket(
    listener: tokio::net::UnixListener,
    backups: Arc<Backups>,
    shutdown: CancellationToken,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let backups = backups.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let read = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, 256))
                    .read_line(&mut line),
            )
            .await;
            let answer = match (read, line.trim()) {
                (Ok(Ok(_)), "backup") => match backups.take().await {
                    Ok((bytes, _)) => bytes,
                    Err(e) => format!("error: backup failed: {e:#}\n").into_bytes(),
                },
                (Ok(Ok(_)), other) => {
                    format!("error: unknown command {other:?} (the only one is `backup`)\n")
                        .into_bytes()
                }
                _ => return,
            };
            if let Err(e) = write.write_all(&answer).await {
                tracing::warn!(error = %e, "admin socket write failed");
            }
            let _ = write.shutdown().await;
        });
    }
}

/// Asks the server running on `data_dir` for a backup through its admin socket. `Ok(None)`
/// when no server answers there.
#[cfg(unix)]
pub fn backup_through_socket(data_dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    use std::os::unix::net::UnixStream;
    let path = data_dir.join(ADMIN_SOCKET);
    let mut stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot connect to the server's admin socket {} (run this as the user the server runs as)",
                    path.display()
                )
            })
        }
    };
    stream.write_all(b"backup\n")?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .context("the server closed the admin socket before the backup was complete")?;
    if let Some(message) = answer.strip_prefix(b"error: ") {
        bail!(
            "the server answered: {}",
            String::from_utf8_lossy(message).trim()
        );
    }
    // Checked here so that a cut-off answer is never written as a backup.
    decode(answer.as_slice()).context("the server's answer is not a complete backup")?;
    Ok(Some(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_db(dir: &Path) -> sled::Db {
        let db = sled::Config::new().path(dir).open().expect("open");
        db.insert(b"default-key", b"default-value").expect("insert");
        let users = db.open_tree("users").expect("tree");
        users
            .insert(b"1", b"{\"email\":\"a@example.org\"}")
            .expect("insert");
        let big: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
        db.open_tree("documents")
            .expect("tree")
            .insert(b"doc", big)
            .expect("insert");
        crate::format::write_version(&db, FORMAT_VERSION).expect("version");
        db
    }

    fn contents(db: &sled::Db) -> Vec<TreeRecords> {
        let mut all: Vec<_> = db
            .tree_names()
            .into_iter()
            .map(|name| {
                let records = open_tree(db, &name)
                    .expect("tree")
                    .iter()
                    .map(|r| r.expect("record"))
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                (name.to_vec(), records)
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_backup_restores_every_tree_and_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sample_db(&dir.path().join("source"));
        let bytes = backup_offline(&db).expect("backup");
        let file = dir.path().join("b.mfbk");
        write_file(&file, &bytes).expect("write");
        let target = dir.path().join("restored");
        let header = restore(&file, &target).expect("restore");
        assert_eq!(header.format_version, FORMAT_VERSION);
        assert_eq!(header.n_records, 4);
        let restored = sled::Config::new()
            .path(target.join("store"))
            .open()
            .expect("open restored");
        assert_eq!(contents(&restored), contents(&db));

        // Not into a directory with something in it.
        let error = restore(&file, &target).expect_err("target not empty");
        assert!(error.to_string().contains("is not empty"), "{error}");
    }

    #[test]
    fn damaged_or_newer_backups_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sample_db(&dir.path().join("source"));
        let bytes = backup_offline(&db).expect("backup");

        let truncated = &bytes[..bytes.len() - 10];
        assert!(decode(truncated).is_err());
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut raw)
            .expect("gunzip");
        let middle = raw.len() / 2;
        raw[middle] ^= 0xff;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&raw).expect("gzip");
        let damaged = encoder.finish().expect("gzip");
        let error = decode(damaged.as_slice()).err().expect("damaged");
        assert!(error.to_string().contains("checksum"), "{error}");
        assert!(decode(&b"not a backup"[..]).is_err());

        crate::format::write_version(&db, FORMAT_VERSION + 1).expect("version");
        let newer = backup_offline(&db).expect("backup");
        let file = dir.path().join("newer.mfbk");
        write_file(&file, &newer).expect("write");
        let error = restore(&file, &dir.path().join("target")).expect_err("newer refused");
        assert!(
            error.to_string().contains("newer than this server reads"),
            "{error}"
        );
        assert!(!dir.path().join("target").exists(), "nothing was written");
    }

    #[test]
    fn pruning_keeps_the_newest_scheduled_backups_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "manifesto-20260101T000000.000Z.mfbk",
            "manifesto-20260101T000100.000Z.mfbk",
            "manifesto-20260101T000200.000Z.mfbk",
            "pre-migration-20250101T000000.000Z.mfbk",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        assert_eq!(prune(dir.path(), 2).expect("prune"), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "manifesto-20260101T000100.000Z.mfbk",
                "manifesto-20260101T000200.000Z.mfbk",
                "notes.txt",
                "pre-migration-20250101T000000.000Z.mfbk"
            ]
        );
    }

    #[tokio::test]
    async fn scheduled_backups_are_written_and_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sample_db(&dir.path().join("source"));
        let metrics = Arc::new(Metrics::default());
        let backups = Arc::new(Backups::new(db, Arc::default(), metrics.clone()));
        let out = dir.path().join("backups");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(backups.run_schedule(
            Duration::from_millis(30),
            2,
            out.clone(),
            shutdown.clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        while metrics.backups_total.get() < 4 {
            assert!(Instant::now() < deadline, "scheduled backups did not run");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        task.await.expect("schedule task");
        let files: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("read")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        for file in files {
            let decoded = decode(std::fs::File::open(&file).expect("open")).expect("decode");
            assert_eq!(decoded.header.n_records, 4);
        }
    }
}
