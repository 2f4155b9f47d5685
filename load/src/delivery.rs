//! A reading delegate's side of an edit: matching the updates it receives to the writers'
//! send logs, giving exact edit-to-peer latencies.
//!
//! A received update's state vector holds, for each client whose items it carries, the clock
//! after its last item. Every logged edit of that writer with a clock up to that value has now
//! reached this reader (updates from one writer are relayed in order, and a server that merges
//! updates still carries the highest clock). All delegates run in this process, so the
//! writers' logs are shared memory; no markers are embedded in the document.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use yrs::{ClientID, StateVector};

use crate::latency::LatencyHistogram;
use crate::writer::WriterLog;

/// Every writer's log, by client id; built before any delegate starts and read-only after.
pub type SendLogs = Arc<HashMap<ClientID, Arc<WriterLog>>>;

/// Per-reader progress through each writer's log.
pub struct DeliveryTracker {
    logs: SendLogs,
    /// Index of the next undelivered entry of each writer's log.
    cursors: HashMap<ClientID, usize>,
    /// Edit-to-peer latencies seen by this reader.
    pub histogram: LatencyHistogram,
}

impl DeliveryTracker {
    /// A tracker that has seen nothing yet.
    pub fn new(logs: SendLogs) -> DeliveryTracker {
        DeliveryTracker {
            logs,
            cursors: HashMap::new(),
            histogram: LatencyHistogram::new(),
        }
    }

    /// Records the edits that an update with state vector `sv`, received at `received`,
    /// delivered; returns how many.
    pub fn on_update(&mut self, sv: &StateVector, received: Instant) -> usize {
        let mut delivered = 0;
        for (client, &clock) in sv.iter() {
            let Some(log) = self.logs.get(client) else {
                continue;
            };
            let cursor = self.cursors.entry(*client).or_insert(0);
            let histogram = &mut self.histogram;
            let next = log.delivered_up_to(*cursor, clock, |sent| {
                histogram.record(received.saturating_duration_since(sent));
            });
            delivered += next - *cursor;
            *cursor = next;
        }
        delivered
    }

    /// Logged edits of writers on document `doc_index` that never reached this reader.
    pub fn missed(&self, doc_index: usize, own_client: ClientID) -> usize {
        self.logs
            .values()
            .filter(|log| log.doc_index == doc_index && log.client_id != own_client)
            .map(|log| log.len() - self.cursors.get(&log.client_id).copied().unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn merged_and_repeated_updates_count_each_edit_once() {
        let t0 = Instant::now();
        let log = Arc::new(WriterLog::new(ClientID::new(42), 0));
        for (i, clock) in [1u32, 2, 3, 4].iter().enumerate() {
            log.record(*clock, t0 + Duration::from_millis(i as u64));
        }
        let other_doc = Arc::new(WriterLog::new(ClientID::new(43), 1));
        other_doc.record(1, t0);
        let logs: SendLogs = Arc::new(HashMap::from([
            (ClientID::new(42), log),
            (ClientID::new(43), other_doc),
        ]));
        let mut tracker = DeliveryTracker::new(logs);
        let sv =
            |clock| StateVector::from_iter([(ClientID::new(42), clock), (ClientID::new(99), 5)]);
        // One update carrying edits 1 and 2 (a server may merge), then a repeat, then edit 3.
        assert_eq!(tracker.on_update(&sv(2), t0 + Duration::from_millis(10)), 2);
        assert_eq!(tracker.on_update(&sv(2), t0 + Duration::from_millis(11)), 0);
        assert_eq!(tracker.on_update(&sv(3), t0 + Duration::from_millis(12)), 1);
        assert_eq!(tracker.histogram.len(), 3);
        let s = tracker.histogram.summary().unwrap();
        assert!((s.max_ms - 10.0).abs() < 0.1, "{s:?}");
        // Edit 4 never arrived; the writer on document 1 does not count for a reader of 0.
        assert_eq!(tracker.missed(0, ClientID::new(7)), 1);
        assert_eq!(tracker.missed(0, ClientID::new(42)), 0);
    }
}
