//! A crowd of delegates on one or more documents, each in its own tokio task with its own
//! connection, driven through [`Phase`]s by the scenario that started it.
//!
//! Delegate `i` works on document `i % n_docs`. The first `n_writers` delegates are writers
//! (so writers spread over the documents), the next `latency_readers` decode every update to
//! measure edit-to-peer latency, and the rest only count what they receive. Every delegate
//! renews its awareness state on a timer and answers the server's SyncStep1. Connection
//! attempts are limited by a semaphore during the initial ramp; a reconnect storm ignores it.
//!
//! Every loop here ends by itself: delegates stop at [`Phase::Done`], and the coordinator's
//! waits all have deadlines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use yrs::ClientID;

use crate::delegate::{Delegate, Received};
use crate::delivery::{DeliveryTracker, SendLogs};
use crate::latency::LatencyHistogram;
use crate::trace::WriterScript;
use crate::writer::{ScriptPlayer, WriterLog};

/// What the crowd is doing; delegates watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting and syncing.
    Connecting,
    /// Writers send their prefill windows.
    Prefill,
    /// Writers send edits at their rate.
    Writing,
    /// Writers stop; readers keep receiving what is still in flight.
    Draining,
    /// Every delegate drops its connection and reconnects at once.
    Reconnect,
    /// Everyone closes and stops.
    Done,
}

/// How to build a crowd.
#[derive(Debug, Clone)]
pub struct CrowdConfig {
    /// One URL per document, without a token.
    pub doc_urls: Vec<String>,
    /// API tokens: delegate `i` connects with token `i % len` (none when empty).
    pub tokens: Vec<String>,
    /// Number of delegates.
    pub n_clients: usize,
    /// One script per writer; the number of writers is its length.
    pub scripts: Vec<WriterScript>,
    /// Edits per second per writer.
    pub edits_per_sec: f64,
    /// Number of readers that decode every update to measure latency.
    pub latency_readers: usize,
    /// Awareness renewal period; `None` disables awareness renewal (the first state is always
    /// sent on connect).
    pub awareness_interval: Option<Duration>,
    /// Whether delegates publish awareness at all (`--no-awareness` turns it off, to separate
    /// the cost of awareness fan-out from that of edits).
    pub publish_awareness: bool,
    /// Connection attempts in flight at once during the initial ramp.
    pub connect_concurrency: usize,
    /// Deadline for one connection's handshake.
    pub handshake_timeout: Duration,
}

/// Counters shared by all delegates.
#[derive(Debug, Default)]
pub struct CrowdMetrics {
    /// Update frames received by all delegates.
    pub update_frames: AtomicU64,
    /// Awareness frames received by all delegates.
    pub awareness_frames: AtomicU64,
    /// Edits sent by all writers (including pure deletions).
    pub edits_sent: AtomicU64,
    /// Frames that did not decode.
    pub protocol_errors: AtomicU64,
    /// Delegates whose first handshake completed.
    pub synced: AtomicUsize,
    /// Delegates whose first connection failed.
    pub failed: AtomicUsize,
    /// Delegates that completed the reconnect phase's handshake.
    pub resynced: AtomicUsize,
    /// Delegates whose reconnect failed.
    pub resync_failed: AtomicUsize,
    // Mutexes: touched only on errors and once per delegate per reconnect.
    connect_errors: Mutex<BTreeMap<String, u64>>,
    disconnects: Mutex<BTreeMap<String, u64>>,
    resync_times: Mutex<LatencyHistogram>,
}

impl CrowdMetrics {
    fn count(map: &Mutex<BTreeMap<String, u64>>, reason: String) {
        if let Ok(mut map) = map.lock() {
            *map.entry(reason).or_insert(0) += 1;
        }
    }

    /// Failed connection attempts by reason.
    pub fn connect_errors(&self) -> BTreeMap<String, u64> {
        self.connect_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Unexpected disconnects by close code or reason.
    pub fn disconnects(&self) -> BTreeMap<String, u64> {
        self.disconnects
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Time from drop to synced again, per delegate, in the reconnect phase.
    pub fn resync_times(&self) -> LatencyHistogram {
        self.resync_times
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }
}

/// What the delegates measured, gathered when the crowd is finished.
#[derive(Debug, Default)]
pub struct CrowdOutcome {
    /// Edit-to-peer latency over all sampling readers.
    pub latency: LatencyHistogram,
    /// Logged edits that some sampling reader never received (summed over readers).
    pub missed_edits: usize,
    /// Logged edits matched by sampling readers (summed over readers).
    pub delivered_edits: usize,
    /// Writer edits clamped to a capped window.
    pub clamped_edits: usize,
    /// Edits logged by all writers (clock-advancing ones).
    pub logged_edits: usize,
    /// Delegate tasks that did not stop in time or panicked.
    pub stuck_delegates: usize,
}

#[derive(Default)]
struct DelegateOutcome {
    tracker: Option<DeliveryTracker>,
    missed: usize,
    clamped: usize,
}

/// A running crowd.
pub struct Crowd {
    phase: watch::Sender<Phase>,
    metrics: Arc<CrowdMetrics>,
    logs: SendLogs,
    tasks: Vec<JoinHandle<DelegateOutcome>>,
    n_clients: usize,
}

struct DelegateContext {
    config: CrowdConfig,
    metrics: Arc<CrowdMetrics>,
    gate: Semaphore,
}

enum Role {
    Writer {
        script: WriterScript,
        log: Arc<WriterLog>,
    },
    /// Created before the task is spawned, so nothing in the task can fail building it.
    SamplingReader(DeliveryTracker),
    Reader,
}

impl Crowd {
    /// Spawns every delegate; they start connecting at once, `connect_concurrency` at a time.
    pub fn start(config: CrowdConfig) -> Crowd {
        let mut rng = rand::thread_rng();
        let mut used = HashSet::new();
        // Yjs client ids are 32-bit; random ones keep runs against the same server apart.
        let client_ids: Vec<ClientID> = (0..config.n_clients)
            .map(|_| loop {
                let id = ClientID::new(u64::from(rng.gen::<u32>()));
                if used.insert(id) {
                    break id;
                }
            })
            .collect();
        let n_docs = config.doc_urls.len().max(1);
        let n_writers = config.scripts.len().min(config.n_clients);
        let logs: SendLogs = Arc::new(
            (0..n_writers)
                .map(|i| {
                    (
                        client_ids[i],
                        Arc::new(WriterLog::new(client_ids[i], i % n_docs)),
                    )
                })
                .collect::<HashMap<_, _>>(),
        );
        let metrics = Arc::new(CrowdMetrics::default());
        let (phase, _) = watch::channel(Phase::Connecting);
        let context = Arc::new(DelegateContext {
            gate: Semaphore::new(config.connect_concurrency.max(1)),
            config: config.clone(),
            metrics: metrics.clone(),
        });
        let tasks = (0..config.n_clients)
            .map(|i| {
                let role = if i < n_writers {
                    let log = logs
                        .get(&client_ids[i])
                        .cloned()
                        .unwrap_or_else(|| Arc::new(WriterLog::new(client_ids[i], i % n_docs)));
                    Role::Writer {
                        script: config.scripts[i].clone(),
                        log,
                    }
                } else if i < n_writers + config.latency_readers {
                    Role::SamplingReader(DeliveryTracker::new(logs.clone()))
                } else {
                    Role::Reader
                };
                let phase_rx = phase.subscribe();
                tokio::spawn(run_delegate(
                    context.clone(),
                    i,
                    client_ids[i],
                    role,
                    phase_rx,
                ))
            })
            .collect();
        Crowd {
            phase,
            metrics,
            logs,
            tasks,
            n_clients: config.n_clients,
        }
    }

    /// The shared counters.
    pub fn metrics(&self) -> &CrowdMetrics {
        &self.metrics
    }

    /// Moves every delegate to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Waits until every delegate has synced or failed, or `timeout` passes; returns the number
    /// synced.
    pub async fn wait_connected(&self, timeout: Duration) -> usize {
        let n = self.n_clients;
        wait_until(timeout, || {
            self.metrics.synced.load(Ordering::Relaxed)
                + self.metrics.failed.load(Ordering::Relaxed)
                >= n
        })
        .await;
        self.metrics.synced.load(Ordering::Relaxed)
    }

    /// Waits until every delegate that synced at first has resynced or failed to, or `timeout`
    /// passes; returns whether all resynced.
    pub async fn wait_resynced(&self, timeout: Duration) -> bool {
        let synced = self.metrics.synced.load(Ordering::Relaxed);
        wait_until(timeout, || {
            self.metrics.resynced.load(Ordering::Relaxed)
                + self.metrics.resync_failed.load(Ordering::Relaxed)
                >= synced
        })
        .await;
        self.metrics.resynced.load(Ordering::Relaxed) == synced
    }

    /// Edits logged by all writers so far.
    pub fn logged_edits(&self) -> usize {
        self.logs.values().map(|log| log.len()).sum()
    }

    /// Tells everyone to close, waits for them (at most `timeout`) and gathers the results.
    pub async fn finish(self, timeout: Duration) -> CrowdOutcome {
        self.set_phase(Phase::Done);
        let mut outcome = CrowdOutcome {
            logged_edits: self.logged_edits(),
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        for task in self.tasks {
            let abort = task.abort_handle();
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(delegate)) => {
                    if let Some(tracker) = delegate.tracker {
                        outcome.latency.merge(&tracker.histogram);
                        outcome.delivered_edits += tracker.histogram.len() as usize;
                    }
                    outcome.missed_edits += delegate.missed;
                    outcome.clamped_edits += delegate.clamped;
                }
                Ok(Err(_)) => outcome.stuck_delegates += 1,
                Err(_) => {
                    abort.abort();
                    outcome.stuck_delegates += 1;
                }
            }
        }
        outcome
    }
}

/// Polls `done` every 20 ms until it holds or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_delegate(
    context: Arc<DelegateContext>,
    index: usize,
    client_id: ClientID,
    role: Role,
    mut phase_rx: watch::Receiver<Phase>,
) -> DelegateOutcome {
    let config = &context.config;
    let metrics = &context.metrics;
    let doc_index = index % config.doc_urls.len().max(1);
    let Some(url) = config.doc_urls.get(doc_index) else {
        return DelegateOutcome::default();
    };
    let url = &crate::target::connect_url(url, &config.tokens, index);
    let mut delegate = Delegate::new(client_id, &format!("delegate-{index}"));
    delegate.set_publish_awareness(config.publish_awareness);
    let (mut player, log, mut tracker) = match role {
        Role::Writer { script, log } => (
            Some(ScriptPlayer::new(
                &delegate.doc,
                &format!("w{index}"),
                script,
            )),
            Some(log),
            None,
        ),
        Role::SamplingReader(tracker) => (None, None, Some(tracker)),
        Role::Reader => (None, None, None),
    };

    let first = async {
        // Closing the semaphore is not done anywhere, so acquire only fails if it were; then
        // connect without a permit rather than not at all.
        let _permit = context.gate.acquire().await.ok();
        delegate.sync(url, config.handshake_timeout).await
    };
    // A delegate still connecting when the scenario ends gives up rather than holding it up.
    let mut done_rx = phase_rx.clone();
    let first = tokio::select! {
        first = first => first,
        _ = done_rx.wait_for(|p| *p == Phase::Done) => {
            CrowdMetrics::count(&metrics.connect_errors, "still connecting at the end".to_owned());
            metrics.failed.fetch_add(1, Ordering::Relaxed);
            return DelegateOutcome::default();
        }
    };
    if let Err(e) = first {
        CrowdMetrics::count(&metrics.connect_errors, e.reason());
        metrics.failed.fetch_add(1, Ordering::Relaxed);
        return DelegateOutcome::default();
    }
    metrics.synced.fetch_add(1, Ordering::Relaxed);

    let awareness_period = config
        .awareness_interval
        .unwrap_or(Duration::from_secs(3600));
    let mut awareness_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + awareness_period,
        awareness_period,
    );
    awareness_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let edit_period = Duration::from_secs_f64(1.0 / config.edits_per_sec.max(0.001));
    let mut edit_tick = tokio::time::interval(edit_period);
    edit_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut phase = *phase_rx.borrow_and_update();
    let mut prefilled = false;
    let mut reconnected = false;

    loop {
        let writing = phase == Phase::Writing && player.as_ref().is_some_and(|p| p.remaining() > 0);
        let connected = delegate.is_connected();
        tokio::select! {
            biased;
            changed = phase_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                phase = *phase_rx.borrow_and_update();
                match phase {
                    Phase::Done => break,
                    Phase::Prefill if !prefilled && connected => {
                        prefilled = true;
                        if let Some(player) = player.as_mut() {
                            let update = player.prefill(&delegate.doc);
                            let frame = manifesto_protocol::encode_update(update);
                            if let Err(e) = delegate.send(frame).await {
                                CrowdMetrics::count(&metrics.disconnects, e.reason());
                            }
                        }
                    }
                    Phase::Writing => {
                        // A random phase per writer, so writers do not all send at once.
                        let offset = edit_period.mul_f64(rand::thread_rng().gen::<f64>());
                        edit_tick.reset_at(tokio::time::Instant::now() + offset);
                    }
                    Phase::Reconnect if !reconnected => {
                        reconnected = true;
                        let dropped = Instant::now();
                        match delegate.sync(url, config.handshake_timeout).await {
                            Ok(_) => {
                                if let Ok(mut h) = metrics.resync_times.lock() {
                                    h.record(dropped.elapsed());
                                }
                                metrics.resynced.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                CrowdMetrics::count(&metrics.connect_errors, format!("reconnect {}", e.reason()));
                                metrics.resync_failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    _ => {}
                }
            }
            frame = delegate.next_frame(), if connected => {
                let received = Instant::now();
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(e) => {
                        CrowdMetrics::count(&metrics.disconnects, e.reason());
                        continue;
                    }
                };
                match delegate.handle_frame(&frame, tracker.is_some()).await {
                    Ok(Received::Update(sv)) => {
                        metrics.update_frames.fetch_add(1, Ordering::Relaxed);
                        if let (Some(tracker), Some(sv)) = (tracker.as_mut(), sv) {
                            tracker.on_update(&sv, received);
                        }
                    }
                    Ok(Received::Awareness) => {
                        metrics.awareness_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        metrics.protocol_errors.fetch_add(1, Ordering::Relaxed);
                        if !delegate.is_connected() {
                            CrowdMetrics::count(&metrics.disconnects, e.reason());
                        }
                    }
                }
            }
            _ = awareness_tick.tick(), if connected && config.awareness_interval.is_some() && config.publish_awareness => {
                if let Err(e) = delegate.send_awareness().await {
                    CrowdMetrics::count(&metrics.disconnects, e.reason());
                }
            }
            _ = edit_tick.tick(), if connected && writing => {
                let Some(edit) = player.as_mut().and_then(|p| p.next_edit(&delegate.doc)) else {
                    continue;
                };
                if let (Some(log), Some(clock)) = (log.as_ref(), edit.clock_after) {
                    log.record(clock, Instant::now());
                }
                metrics.edits_sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = delegate.send(manifesto_protocol::encode_update(edit.update)).await {
                    CrowdMetrics::count(&metrics.disconnects, e.reason());
                }
            }
        }
    }
    delegate.close().await;
    let missed = tracker
        .as_ref()
        .map(|t| t.missed(doc_index, client_id))
        .unwrap_or(0);
    DelegateOutcome {
        tracker,
        missed,
        clamped: player.map(|p| p.clamped).unwrap_or(0),
    }
}
