//! The format version of a data directory: which server versions can read it, and the
//! migrations that bring older data up to date.
//!
//! The version is stored in the sled database itself (tree [`META_TREE`], key
//! [`VERSION_KEY`], ASCII decimal), so it changes atomically with the data it describes and
//! travels inside every backup. A store without it but with data was written before versions
//! were recorded: version 0.
//!
//! On start, [`prepare`]: a fresh store is stamped with [`FORMAT_VERSION`]; an older one is
//! backed up and then migrated step by step, each step stamping its version when done; a
//! newer one is refused, since this server cannot know what the newer one changed.
//!
//! Must not: decode documents; run a migration without a backup taken first.

use std::path::{Path, PathBuf};

/// The format this server writes. Bump it, and add a [`Migration`], whenever a record's shape
/// or a tree's meaning changes in a way an older server would misread.
pub const FORMAT_VERSION: u32 = 1;

/// The sled tree holding the format version.
pub const META_TREE: &str = "manifesto_meta";
/// Its key.
pub const VERSION_KEY: &[u8] = b"format_version";

/// A step from format `from` to `from + 1`.
struct Migration {
    from: u32,
    /// What it changes, for the log.
    what: &'static str,
    run: fn(&sled::Db) -> Result<(), sled::Error>,
}

/// Every migration, in order. Version 0 is data from before versions were recorded: its
/// records already have the shape of version 1, so the step only records the version.
const MIGRATIONS: &[Migration] = &[Migration {
    from: 0,
    what: "record the data format version (data written before versions were recorded)",
    run: |_| Ok(()),
}];

/// Why a data directory cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The data was written by a newer server.
    #[error(
        "the data in {dir} has format version {found}, but this server (manifesto {server}) reads format versions up to {FORMAT_VERSION}: run a newer manifesto on it, or restore a backup made by this version into an empty directory",
        server = env!("CARGO_PKG_VERSION")
    )]
    Newer { dir: String, found: u32 },
    /// The stored version is not a number.
    #[error("the data in {dir} has an unreadable format version {found:?}; is it a Manifesto data directory?")]
    Unreadable { dir: String, found: String },
    /// The data is older and this command does not migrate it.
    #[error("the data in {dir} has format version {found} (this server writes {FORMAT_VERSION}): start `manifesto serve` on it once to migrate it (it takes a backup first)")]
    NeedsMigration { dir: String, found: u32 },
    /// The pre-migration backup failed: nothing was migrated.
    #[error("could not back up {dir} before migrating it, so it was left as it is: {cause}")]
    Backup { dir: String, cause: String },
    /// sled failed.
    #[error("database error: {0}")]
    Database(#[from] sled::Error),
}

/// What [`prepare`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// An empty store, now stamped with the current version.
    Fresh,
    /// Data in the current format.
    Current,
    /// Data migrated from `from`, after a backup written to `backup`.
    Migrated { from: u32, backup: PathBuf },
}

/// The format version stored in `db`: `None` for an empty store without one, `Some(0)` for
/// data without one.
pub fn stored_version(db: &sled::Db, dir: &Path) -> Result<Option<u32>, FormatError> {
    let meta = db.open_tree(META_TREE)?;
    if let Some(value) = meta.get(VERSION_KEY)? {
        let text = String::from_utf8_lossy(&value).into_owned();
        return text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| FormatError::Unreadable {
                dir: dir.display().to_string(),
                found: text,
            });
    }
    Ok(if is_empty(db)? { None } else { Some(0) })
}

/// Whether no tree holds any record (sled's own default tree and the meta tree included).
fn is_empty(db: &sled::Db) -> Result<bool, FormatError> {
    for name in db.tree_names() {
        if !crate::backup::open_tree(db, &name)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes `version` as the store's format version (not flushed).
pub fn write_version(db: &sled::Db, version: u32) -> Result<(), FormatError> {
    db.open_tree(META_TREE)?
        .insert(VERSION_KEY, version.to_string().as_bytes())?;
    Ok(())
}

/// Refuses data newer than this server; accepts current data; stamps a fresh store.
/// Older data is refused with [`FormatError::NeedsMigration`]: only [`prepare`] migrates.
pub fn check(db: &sled::Db, dir: &Path) -> Result<Prepared, FormatError> {
    match stored_version(db, dir)? {
        None => {
            write_version(db, FORMAT_VERSION)?;
            db.flush()?;
            Ok(Prepared::Fresh)
        }
        Some(FORMAT_VERSION) => Ok(Prepared::Current),
        Some(found) if found > FORMAT_VERSION => Err(FormatError::Newer {
            dir: dir.display().to_string(),
            found,
        }),
        Some(found) => Err(FormatError::NeedsMigration {
            dir: dir.display().to_string(),
            found,
        }),
    }
}

/// Makes the store in `dir` usable by this server: [`check`], and for older data a backup
/// into `backup_dir` (written by `backup`) followed by every migration from its version on.
pub fn prepare(
    db: &sled::Db,
    dir: &Path,
    backup_dir: &Path,
    backup: impl FnOnce(&sled::Db, &Path) -> anyhow::Result<PathBuf>,
) -> Result<Prepared, FormatError> {
    let found = match check(db, dir) {
        Err(FormatError::NeedsMigration { found, .. }) => found,
        other => return other,
    };
    let written = backup(db, backup_dir).map_err(|e| FormatError::Backup {
        dir: dir.display().to_string(),
        cause: format!("{e:#}"),
    })?;
    tracing::info!(
        from = found,
        to = FORMAT_VERSION,
        backup = %written.display(),
        "migrating the data format (backup taken first)"
    );
    for migration in MIGRATIONS.iter().filter(|m| m.from >= found) {
        tracing::info!(
            from = migration.from,
            to = migration.from + 1,
            what = migration.what,
            "data migration step"
        );
        (migration.run)(db)?;
        write_version(db, migration.from + 1)?;
        db.flush()?;
    }
    Ok(Prepared::Migrated {
        from: found,
        backup: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> sled::Db {
        sled::Config::new().path(dir).open().expect("open sled")
    }

    #[test]
    fn migrations_lead_to_the_current_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.from, index as u32,
                "migrations are consecutive from 0"
            );
        }
        assert_eq!(MIGRATIONS.len() as u32, FORMAT_VERSION);
    }

    #[test]
    fn fresh_current_older_and_newer_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(&dir.path().join("fresh"));
        assert_eq!(check(&db, dir.path()).expect("fresh"), Prepared::Fresh);
        assert_eq!(check(&db, dir.path()).expect("current"), Prepared::Current);

        // Data without a version: migrated after a backup.
        let db = open(&dir.path().join("old"));
        db.open_tree("users")
            .expect("tree")
            .insert(b"1", b"{}")
            .expect("insert");
        let backups = dir.path().join("backups");
        let mut backed_up = false;
        let prepared = prepare(&db, dir.path(), &backups, |_, to| {
            backed_up = true;
            Ok(to.join("pre-migration.mfbk"))
        })
        .expect("migrated");
        assert!(backed_up);
        assert_eq!(
            prepared,
            Prepared::Migrated {
                from: 0,
                backup: backups.join("pre-migration.mfbk")
            }
        );
        assert_eq!(
            stored_version(&db, dir.path()).expect("version"),
            Some(FORMAT_VERSION)
        );

        // A failed backup leaves the data as it was.
        let db = open(&dir.path().join("old2"));
        db.insert(b"k", b"v").expect("insert");
        let error = prepare(&db, dir.path(), &backups, |_, _| anyhow::bail!("disk full"))
            .expect_err("no migration without a backup");
        assert!(error.to_string().contains("disk full"), "{error}");
        assert_eq!(stored_version(&db, dir.path()).expect("version"), Some(0));

        // Newer data is refused, with what to do.
        write_version(&db, FORMAT_VERSION + 1).expect("write");
        let error = check(&db, Path::new("/srv/data")).expect_err("newer data refused");
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "the data in /srv/data has format version {}",
                FORMAT_VERSION + 1
            )),
            "{message}"
        );
        assert!(message.contains("run a newer manifesto on it"), "{message}");
    }
}
