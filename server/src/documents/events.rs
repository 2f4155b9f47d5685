//! The live events of each document: every change to comments, phases, deadlines, members
//! (and later amendments and votes), numbered per document, kept in sled so that a client
//! that reconnects catches up from the last id it saw, and pushed to the connected ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// Events kept per document; a client further behind is told to resynchronise.
pub const RETAINED_EVENTS: u64 = 10_000;
/// Ids skipped at each start of the server (see [`EventLog::publish`]): more than could be
/// published between two flushes.
pub const RESTART_GAP: u64 = 1_000;
/// Events a live subscriber may lag behind before it is told to resynchronise.
const LIVE_QUEUE: usize = 256;

/// One event of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Increasing id within the document (the SSE `id:`), from 1.
    pub id: u64,
    /// What happened, e.g. `phase.changed`, `comment.created`, `member.updated`.
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// The details: the changed object as the API shows it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What a subscriber gets when it asks for the events after an id.
pub struct CatchUp {
    /// Stored events after the id asked for, in order.
    pub missed: Vec<Arc<Event>>,
    /// Set when some events after the id are no longer kept: reload the state.
    pub gap: bool,
    /// Later events, as they happen.
    pub live: broadcast::Receiver<Arc<Event>>,
}

struct Channel {
    next_id: u64,
    /// Ids this run skipped (`lost.start` = one past the last stored id at start): a client
    /// that saw one of them saw an event the previous run never made durable.
    lost: std::ops::Range<u64>,
    live: broadcast::Sender<Arc<Event>>,
}

/// The key id under which a document's pruning floor is kept (no event gets this id).
const PRUNED_BELOW: u64 = u64::MAX;

/// The events of every document.
pub struct EventLog {
    tree: sled::Tree,
    channels: Mutex<HashMap<String, Channel>>,
}

use super::numbered_key as key;

fn prefix(document: &str) -> Vec<u8> {
    super::prefixed(document, b"")
}

impl EventLog {
    /// The log in `db`'s tree `document_events`.
    pub fn open(db: &sled::Db) -> sled::Result<EventLog> {
        Ok(EventLog {
            tree: db.open_tree("document_events")?,
            channels: Mutex::new(HashMap::new()),
        })
    }

    fn with_channel<R>(
        &self,
        document: &str,
        f: impl FnOnce(&mut Channel) -> R,
    ) -> Result<R, sled::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if !channels.contains_key(document) {
            let mut last = 0;
            for entry in self.tree.scan_prefix(prefix(document)).rev() {
                let (k, _) = entry?;
                let id = k
                    .get(k.len().saturating_sub(8)..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                if id != PRUNED_BELOW {
                    last = id;
                    break;
                }
            }
            let (live, _) = broadcast::channel(LIVE_QUEUE);
            // Events are pushed to live subscribers before the API's flush makes them durable:
            // after a crash, ids above the last stored one may have been seen with other
            // content. Starting each run past them makes a client that saw one resync
            // instead of skipping the new event with that id.
            channels.insert(
                document.to_owned(),
                Channel {
                    next_id: last + 1 + RESTART_GAP,
                    lost: last + 1..last + 1 + RESTART_GAP,
                    live,
                },
            );
        }
        let channel = channels
            .get_mut(document)
            .ok_or_else(|| sled::Error::Unsupported("event channel vanished".into()))?;
        Ok(f(channel))
    }

    /// Records an event for `document` and pushes it to its subscribers. The caller flushes
    /// (the API does before answering). Returns the event.
    pub fn publish(
        &self,
        document: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<Arc<Event>, sled::Error> {
        let at = crate::api::timestamp(time::OffsetDateTime::now_utc().unix_timestamp());
        // The id is taken and the record written under the lock, so ids are stored in order.
        self.with_channel(document, |channel| {
            let event = Arc::new(Event {
                id: channel.next_id,
                kind: kind.to_owned(),
                at,
                data,
            });
            let bytes =
                serde_json::to_vec(&*event).map_err(|e| sled::Error::Unsupported(e.to_string()))?;
            self.tree.insert(key(document, event.id), bytes)?;
            channel.next_id += 1;
            if event.id > RETAINED_EVENTS && event.id.is_multiple_of(100) {
                self.prune(document, event.id - RETAINED_EVENTS)?;
            }
            // No subscriber is fine.
            let _ = channel.live.send(event.clone());
            Ok(event)
        })?
    }

    /// Forgets the events of `document` numbered below `keep_from`.
    fn prune(&self, document: &str, keep_from: u64) -> Result<(), sled::Error> {
        let start = key(document, 0);
        let end = key(document, keep_from);
        let mut batch = sled::Batch::default();
        for entry in self.tree.range(start..end) {
            let (k, _) = entry?;
            batch.remove(k);
        }
        batch.insert(key(document, PRUNED_BELOW), &keep_from.to_be_bytes());
        self.tree.apply_batch(batch)
    }

    /// Ids below this one were pruned (0 if none was).
    fn pruned_below(&self, document: &str) -> Result<u64, sled::Error> {
        Ok(self
            .tree
            .get(key(document, PRUNED_BELOW))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// The id of the latest event of `document` (0 if none).
    pub fn last_id(&self, document: &str) -> Result<u64, sled::Error> {
        self.with_channel(document, |channel| channel.next_id - 1)
    }

    /// Subscribes to `document`'s events after `after` (0 = from now on: nothing missed).
    pub fn subscribe(&self, document: &str, after: Option<u64>) -> Result<CatchUp, sled::Error> {
        // Subscribing under the lock that orders publications: no event falls between the
        // stored ones read below and the live ones.
        let (live, next_id, lost) = self.with_channel(document, |channel| {
            (
                channel.live.subscribe(),
                channel.next_id,
                channel.lost.clone(),
            )
        })?;
        let Some(after) = after else {
            return Ok(CatchUp {
                missed: Vec::new(),
                gap: false,
                live,
            });
        };
        // A gap: the id is from the future (another life of the server), from the ids the
        // previous run lost in a crash, or older than what is kept.
        let gap = after >= next_id
            || lost.contains(&after)
            || after.saturating_add(1) < self.pruned_below(document)?;
        let Some(first_wanted) = after.checked_add(1).filter(|first| *first < next_id) else {
            return Ok(CatchUp {
                missed: Vec::new(),
                gap,
                live,
            });
        };
        let mut missed = Vec::new();
        for entry in self
            .tree
            .range(key(document, first_wanted)..key(document, next_id))
        {
            let (_, bytes) = entry?;
            if let Ok(event) = serde_json::from_slice::<Event>(&bytes) {
                missed.push(Arc::new(event));
            }
        }

        Ok(CatchUp { missed, gap, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> EventLog {
        let db = sled::Config::new().temporary(true).open().expect("db");
        EventLog::open(&db).expect("log")
    }

    #[test]
    fn ids_increase_per_document_and_a_new_run_starts_past_any_lost_one() {
        let log = log();
        let a = log.publish("a", "x", serde_json::json!(1)).expect("a1");
        let b = log.publish("b", "x", serde_json::json!(1)).expect("b1");
        let a2 = log.publish("a", "x", serde_json::json!(2)).expect("a2");
        let first = RESTART_GAP + 1;
        assert_eq!((a.id, b.id, a2.id), (first, first, first + 1));
        // A new run rebuilds the channel from the store.
        log.channels.lock().expect("lock").clear();
        let a3 = log.publish("a", "x", serde_json::json!(3)).expect("a3");
        assert_eq!(a3.id, first + 2 + RESTART_GAP);
        // A client that saw an id the crash lost (here first + 2) resynchronises; one that
        // saw the last stored event, or asks from the start, does not and gets the rest.
        assert!(log.subscribe("a", Some(first + 2)).expect("subscribe").gap);
        assert!(log.subscribe("a", Some(u64::MAX)).expect("subscribe").gap);
        let caught_up = log.subscribe("a", Some(first + 1)).expect("subscribe");
        assert!(!caught_up.gap);
        assert_eq!(caught_up.missed.len(), 1);
        let from_start = log.subscribe("a", Some(0)).expect("subscribe");
        assert!(!from_start.gap);
        assert_eq!(from_start.missed.len(), 3);
    }

    #[test]
    fn a_subscriber_catches_up_then_follows_live() {
        let log = log();
        let base = RESTART_GAP;
        for i in 0..5 {
            log.publish("d", "n", serde_json::json!(i))
                .expect("publish");
        }
        let mut catch_up = log.subscribe("d", Some(base + 2)).expect("subscribe");
        let ids: Vec<u64> = catch_up.missed.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![base + 3, base + 4, base + 5]);
        assert!(!catch_up.gap);
        log.publish("d", "n", serde_json::json!(6))
            .expect("publish");
        assert_eq!(catch_up.live.try_recv().expect("live").id, base + 6);
    }

    #[test]
    fn pruned_events_are_reported_as_a_gap() {
        let log = log();
        let base = RESTART_GAP;
        for i in 0..10 {
            log.publish("d", "n", serde_json::json!(i))
                .expect("publish");
        }
        log.prune("d", base + 6).expect("prune");
        let catch_up = log.subscribe("d", Some(base + 1)).expect("subscribe");
        assert!(catch_up.gap);
        assert_eq!(catch_up.missed.first().map(|e| e.id), Some(base + 6));
        let future = log.subscribe("d", Some(base + 50)).expect("subscribe");
        assert!(
            future.gap,
            "an id from another life of the server means resync"
        );
    }
}
