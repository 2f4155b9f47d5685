//! Group commit: one store flush answers every flush request that arrived while the previous
//! flush ran, across all documents.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// A flush slower than this is logged: every document waiting on it is stalled meanwhile.
const SLOW_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

type FlushReply = oneshot::Sender<Result<(), StoreError>>;

/// A handle to the flusher task. Cloning it is cheap.
#[derive(Clone)]
pub struct Flusher {
    requests: mpsc::UnboundedSender<FlushReply>,
    /// Whether the last flush succeeded (`/readyz`). Written only by the flusher task.
    healthy: Arc<AtomicBool>,
}

impl Flusher {
    /// Starts the flusher task on `tracker`. It stops when every handle is dropped.
    pub fn start(store: Arc<dyn Store>, tracker: &TaskTracker, metrics: Arc<Metrics>) -> Flusher {
        // Unbounded is safe: each caller waits for its answer, so there is at most one request
        // per room task in the queue.
        let (requests, mut inbox) = mpsc::unbounded_channel::<FlushReply>();
        let healthy = Arc::new(AtomicBool::new(true));
        let last_ok = healthy.clone();
        tracker.spawn(async move {
            while let Some(first) = inbox.recv().await {
                let mut waiting = vec![first];
                while let Ok(next) = inbox.try_recv() {
                    waiting.push(next);
                }
                let store = store.clone();
                let started = std::time::Instant::now();
                let result = match tokio::task::spawn_blocking(move || store.flush()).await {
                    Ok(result) => result,
                    Err(e) => Err(StoreError::Database(format!("flush task failed: {e}"))),
                };
                let elapsed = started.elapsed();
                metrics.store_flush_seconds.observe(elapsed);
                if result.is_err() {
                    metrics.store_flush_failures_total.inc();
                }
                last_ok.store(result.is_ok(), Ordering::Relaxed);
                if elapsed >= SLOW_FLUSH {
                    tracing::warn!(
                        flush_ms = elapsed.as_millis() as u64,
                        n_waiting = waiting.len(),
                        "slow store flush"
                    );
                }
                for reply in waiting {
                    // A requester that went away does not need its answer.
                    let _ = reply.send(result.clone());
                }
            }
        });
        Flusher { requests, healthy }
    }

    /// Whether the last flush succeeded (true before the first).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.requests.is_closed()
    }

    /// Returns once every append made before this call is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| StoreError::Database("flusher stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Database("flusher stopped".into()))?
    }
}
