//! The audit log: append-only, each entry chained to the SHA-256 of the one before it, so
//! that removing, reordering or editing an entry breaks the chain at that point.
//!
//! An entry's hash is `SHA-256(previous hash as hex, "\n", the entry's JSON without its
//! hash)`. The first entry's previous hash is 64 zeros. `manifesto audit verify` recomputes
//! the chain.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::now;

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Actor {
    /// The account, when known (absent for a failed login on an unknown email, or the CLI).
    pub user_id: Option<u64>,
    /// The email given or the account's email; `cli` for the command line, `server` for
    /// the server itself.
    pub label: String,
    /// Client address, when over HTTP.
    pub address: Option<String>,
}

impl Actor {
    /// The operator's command line.
    pub fn cli() -> Actor {
        Actor {
            user_id: None,
            label: "cli".into(),
            address: None,
        }
    }

    /// The server itself (first start).
    pub fn server() -> Actor {
        Actor {
            user_id: None,
            label: "server".into(),
            address: None,
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Unix time, seconds.
    pub at: i64,
    pub actor: Actor,
    /// What happened, e.g. `login.succeeded`, `invitation.created`, `user.role_changed`.
    pub action: String,
    /// What it happened to, e.g. `user:12`, `invitation:7`, `token:9`.
    pub target: Option<String>,
    /// Details of the action (never a secret).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The part of an entry its hash covers.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: i64,
    actor: &'a Actor,
    action: &'a str,
    target: &'a Option<String>,
    details: &'a serde_json::Value,
}

fn entry_hash(prev_hash: &str, entry: &AuditEntry) -> String {
    let body = serde_json::to_vec(&Hashed {
        seq: entry.seq,
        at: entry.at,
        actor: &entry.actor,
        action: &entry.action,
        target: &entry.target,
        details: &entry.details,
    })
    .expect("audit entries serialise");
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The chain is broken at an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Entry `seq` does not hash to what it says, or does not point at its predecessor.
    #[error("audit chain broken at entry {seq}: {reason}")]
    Broken { seq: u64, reason: String },
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

/// The audit log of one data directory. Cloning it is cheap.
#[derive(Clone)]
pub struct AuditLog {
    tree: sled::Tree,
    /// Serialises appends: each needs the last hash.
    append_lock: Arc<Mutex<()>>,
}

impl AuditLog {
    /// Opens the audit tree of `db`.
    pub fn open(db: &sled::Db) -> Result<AuditLog, AuditError> {
        Ok(AuditLog {
            tree: db
                .open_tree("audit")
                .map_err(|e| AuditError::Database(e.to_string()))?,
            append_lock: Arc::new(Mutex::new(())),
        })
    }

    fn last(&self) -> Result<Option<AuditEntry>, AuditError> {
        match self
            .tree
            .last()
            .map_err(|e| AuditError::Database(e.to_string()))?
        {
            Some((_, v)) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| AuditError::Database(format!("corrupt audit entry: {e}"))),
            None => Ok(None),
        }
    }

    /// Appends an entry and returns it. Durable once the store is flushed.
    pub fn append(
        &self,
        actor: Actor,
        action: &str,
        target: Option<String>,
        details: serde_json::Value,
    ) -> Result<AuditEntry, AuditError> {
        let _guard = self
            .append_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (seq, prev_hash) = match self.last()? {
            Some(last) => (last.seq + 1, last.hash),
            None => (1, GENESIS.to_owned()),
        };
        let mut entry = AuditEntry {
            seq,
            at: now(),
            actor,
            action: action.to_owned(),
            target,
            details,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry.prev_hash, &entry);
        self.tree
            .insert(
                seq.to_be_bytes(),
                serde_json::to_vec(&entry).expect("audit entries serialise"),
            )
            .map_err(|e| AuditError::Database(e.to_string()))?;
        Ok(entry)
    }

    /// Entries after `after` (a `seq`), at most `limit`, oldest first.
    pub fn list(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        self.tree
            .range((after.saturating_add(1)).to_be_bytes()..)
            .values()
            .take(limit)
            .map(|v| {
                let v = v.map_err(|e| AuditError::Database(e.to_string()))?;
                serde_json::from_slice(&v)
                    .map_err(|e| AuditError::Database(format!("corrupt audit entry: {e}")))
            })
            .collect()
    }

    /// Recomputes the whole chain; returns the number of entries.
    pub fn verify(&self) -> Result<u64, AuditError> {
        let mut prev_hash = GENESIS.to_owned();
        let mut expected_seq = 1;
        for item in self.tree.iter() {
            let (k, v) = item.map_err(|e| AuditError::Database(e.to_string()))?;
            let entry: AuditEntry = serde_json::from_slice(&v).map_err(|e| AuditError::Broken {
                seq: expected_seq,
                reason: format!("unreadable entry: {e}"),
            })?;
            let broken = |reason: &str| AuditError::Broken {
                seq: entry.seq,
                reason: reason.to_owned(),
            };
            if entry.seq != expected_seq || k.as_ref() != entry.seq.to_be_bytes() {
                return Err(AuditError::Broken {
                    seq: expected_seq,
                    reason: format!("expected entry {expected_seq}, found {}", entry.seq),
                });
            }
            if entry.prev_hash != prev_hash {
                return Err(broken("does not point at the previous entry's hash"));
            }
            if entry_hash(&prev_hash, &entry) != entry.hash {
                return Err(broken("content does not match its hash"));
            }
            prev_hash = entry.hash;
            expected_seq += 1;
        }
        Ok(expected_seq - 1)
    }

    /// For tests of tampering: overwrites entry `seq` with `entry` as is.
    #[doc(hidden)]
    pub fn overwrite_unchecked(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        self.tree
            .insert(
                entry.seq.to_be_bytes(),
                serde_json::to_vec(entry).expect("serialise"),
            )
            .map(|_| ())
            .map_err(|e| AuditError::Database(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_verifies_and_tampering_is_found() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let log = AuditLog::open(&db).expect("open");
        for i in 0..5 {
            log.append(
                Actor::cli(),
                "user.created",
                Some(format!("user:{i}")),
                serde_json::json!({ "role": "delegate" }),
            )
            .expect("append");
        }
        assert_eq!(log.verify(), Ok(5));
        let mut third = log.list(2, 1).expect("list").remove(0);
        assert_eq!(third.seq, 3);
        third.details = serde_json::json!({ "role": "secretariat" });
        log.overwrite_unchecked(&third).expect("tamper");
        assert!(matches!(
            log.verify(),
            Err(AuditError::Broken { seq: 3, .. })
        ));
        // Re-hashing the edited entry does not help: the next one points at the old hash.
        third.hash = entry_hash(&third.prev_hash, &third);
        log.overwrite_unchecked(&third).expect("tamper");
        assert!(matches!(
            log.verify(),
            Err(AuditError::Broken { seq: 4, .. })
        ));
    }
}
