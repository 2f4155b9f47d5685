//! The registry of live rooms, and the task that runs each one.
//!
//! Each loaded document has one room task that owns its [`Room`]. Connections talk to it only
//! through its command channel, so the document is never locked: the task handles commands in
//! batches, in this order, which is what makes the durability promise hold:
//!
//! 1. apply every update of the batch to the document;
//! 2. append the resulting deltas to the store and wait for a (group-committed) flush;
//! 3. only then broadcast them, each encoded once, and answer the batch's SyncStep1 requests.
//!
//! So no client ever receives an update, in a broadcast or a SyncStep2, that is not durable.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use manifesto_protocol::yrs::sync::AwarenessUpdate;
use manifesto_protocol::yrs::{ClientID, StateVector, Transact, TransactionMut};
use manifesto_protocol::{
    encode_awareness, encode_sync_step1, encode_sync_step2, encode_update, CloseCode,
    InboundMessage,
};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::flusher::Flusher;
use crate::metrics::Metrics;
use crate::room::{Room, RoomError};
use crate::store::{Store, StoreError, StoredDocument};

/// Identifies one WebSocket connection for the lifetime of the process.
pub type ConnId = u64;

/// Why a connection is to be closed, as sent in its close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The close code.
    pub code: CloseCode,
    /// The reason text (at most 123 bytes once encoded).
    pub reason: String,
}

impl CloseReason {
    /// A close reason with `code` and `reason`.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> CloseReason {
        CloseReason {
            code,
            reason: reason.into(),
        }
    }
}

/// The side of a connection that a room keeps, to reach it.
#[derive(Clone)]
pub struct Member {
    /// The connection's id.
    pub conn: ConnId,
    /// Frames for this connection alone (SyncStep2 answers, awareness query answers). Bounded:
    /// a full queue means the connection is too slow, and it is closed.
    pub direct: mpsc::Sender<Bytes>,
    /// Set once to close the connection with a code and reason.
    pub close: Arc<watch::Sender<Option<CloseReason>>>,
}

impl Member {
    fn close_with(&self, code: CloseCode, reason: &str) {
        self.close.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(CloseReason::new(code, reason));
            true
        });
    }

    fn send_direct(&self, frame: impl Into<Bytes>) {
        if self.direct.try_send(frame.into()).is_err() {
            self.close_with(
                CloseCode::SlowConsumer,
                "outbound queue full; reconnect to resync",
            );
        }
    }
}

/// A frame for every member of a room but (optionally) the one it came from.
#[derive(Debug)]
pub struct Broadcast {
    /// The connection whose update this is; it does not need its own update back.
    pub origin: Option<ConnId>,
    /// The encoded frame, shared by every receiver.
    pub frame: Bytes,
}

/// What a connection gets when it joins a room.
pub struct Joined {
    /// Frames to send first: the server's SyncStep1, then the known awareness states.
    pub initial: Vec<Bytes>,
    /// Every later broadcast of the room. A receiver that lags behind by more than the
    /// configured queue length is told so, and its connection is closed.
    pub broadcast: broadcast::Receiver<Arc<Broadcast>>,
    /// Where the connection sends its messages.
    pub room: RoomSender,
    /// Whether members may edit the text now (the document's phase allows it); `None` when
    /// the registry has no hooks (always open).
    pub text_open: Option<watch::Receiver<bool>>,
}

/// What the room task answers to a join.
struct Admission {
    initial: Vec<Bytes>,
    broadcast: broadcast::Receiver<Arc<Broadcast>>,
    text_open: Option<watch::Receiver<bool>>,
}

/// What the rest of the server tells the rooms about documents, and learns from them. The
/// rooms stay ignorant of phases and ids: they ask and report through this.
pub trait RoomHooks: Send + Sync + 'static {
    /// Whether members may edit `document`'s text now. Updates from connections are dropped
    /// while it is `false`; server jobs ([`Rooms::job`]) still write.
    fn text_open(&self, document: &str) -> watch::Receiver<bool>;
    /// Runs after a batch changed the document, before its deltas are stored: keeps the
    /// text's structure sound (ids). Whatever it writes through `txn` is stored and relayed
    /// with the batch. Records it writes elsewhere are made durable by the batch's flush.
    fn after_change(&self, document: &str, txn: &mut TransactionMut);
    /// Reports the state vector (v1) of everything now durably stored for `document`.
    fn stored(&self, document: &str, state_vector: Vec<u8>);
}

/// A server-side job on a document: runs inside the room task, in a transaction of its own.
type JobFn = Box<dyn FnOnce(&mut TransactionMut) + Send>;

/// A job failed to run or its changes could not be stored.
#[derive(Debug, Error)]
pub enum JobError {
    /// The document could not be loaded, or its room is unavailable.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// The job panicked; nothing it wrote was kept.
    #[error("the job failed")]
    Panicked,
    /// The job's changes could not be stored.
    #[error("storage failed: {0}")]
    Store(String),
}

/// The connection id under which server jobs' deltas are relayed.
const SERVER_CONN: ConnId = u64::MAX;

/// The sending side of a room's command channel, for one member.
#[derive(Clone)]
pub struct RoomSender {
    conn: ConnId,
    commands: mpsc::Sender<RoomCommand>,
}

impl RoomSender {
    /// Hands decoded messages to the room, waiting while its queue is full (back-pressure on
    /// the connection's reads). Fails when the room has stopped.
    pub async fn send(&self, messages: Vec<InboundMessage>) -> Result<(), RoomGone> {
        self.commands
            .send(RoomCommand::Inbound {
                conn: self.conn,
                messages,
                received: tokio::time::Instant::now(),
            })
            .await
            .map_err(|_| RoomGone)
    }

    /// Tells the room the connection has gone, so its awareness states are removed.
    pub async fn leave(&self) {
        // A room that has already stopped has nothing to clean up.
        let _ = self
            .commands
            .send(RoomCommand::Leave { conn: self.conn })
            .await;
    }
}

/// The room a connection was in has stopped (it failed, or the server is shutting down).
#[derive(Debug, Error)]
#[error("room stopped")]
pub struct RoomGone;

/// Joining a room failed.
#[derive(Debug, Error)]
pub enum JoinError {
    /// The document could not be loaded from the store.
    #[error("document could not be loaded: {0}")]
    LoadFailed(String),
    /// The room kept stopping while the connection tried to join.
    #[error("room unavailable")]
    Unavailable,
}

enum RoomCommand {
    Join {
        member: Member,
        reply: oneshot::Sender<Result<Admission, JoinError>>,
    },
    Inbound {
        conn: ConnId,
        messages: Vec<InboundMessage>,
        /// When the connection handed the messages over (the fan-out latency's start).
        received: tokio::time::Instant,
    },
    Leave {
        conn: ConnId,
    },
    Job {
        job: JobFn,
        done: oneshot::Sender<Result<(), JobError>>,
    },
}

/// Settings of the room registry.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    /// Broadcast frames a member may lag behind before it is closed as too slow.
    pub outbound_queue_frames: usize,
    /// How long an empty room stays loaded.
    pub room_idle: Duration,
    /// Logged updates after which the document is compacted.
    pub compact_after_updates: u64,
    /// Logged bytes after which the document is compacted.
    pub compact_after_bytes: u64,
    /// Wait per member after a relay of edits before the next one (see
    /// `RoomTask::pace_relays`).
    pub relay_pace_per_member: Duration,
}

/// Most awareness client ids one connection may publish (a browser tab uses one).
const MAX_AWARENESS_IDS_PER_CONN: usize = 8;
/// How long awareness changes are gathered before they are relayed together.
const AWARENESS_COALESCE: Duration = Duration::from_millis(50);
/// Longest wait between two relays of edits, whatever the number of members.
const MAX_RELAY_PACE: Duration = Duration::from_millis(50);
/// Most commands handled in one batch (one flush).
const MAX_BATCH_COMMANDS: usize = 512;
/// Capacity of a room's command channel.
const ROOM_COMMAND_QUEUE: usize = 4096;

#[derive(Clone)]
struct RoomHandle {
    id: u64,
    commands: mpsc::Sender<RoomCommand>,
}

struct RoomsInner {
    config: RoomsConfig,
    store: Arc<dyn Store>,
    flusher: Flusher,
    /// Live rooms by document name. A std mutex, because it is held only to look up, insert or
    /// remove an entry, never across an await.
    rooms: Mutex<HashMap<String, RoomHandle>>,
    hooks: Option<Arc<dyn RoomHooks>>,
    metrics: Arc<Metrics>,
    next_room_id: AtomicU64,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// The registry of live rooms: loads a document on its first connection, evicts it some time
/// after its last. Cloning it is cheap.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<RoomsInner>,
}

impl Rooms {
    /// A registry over `store`. Room tasks run on `tracker` and stop when `shutdown` is
    /// cancelled and their connections have left.
    pub fn new(
        config: RoomsConfig,
        store: Arc<dyn Store>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Rooms {
        let metrics = Arc::new(Metrics::default());
        let flusher = Flusher::start(store.clone(), &tracker, metrics.clone());
        Rooms::with_flusher(config, store, flusher, None, metrics, tracker, shutdown)
    }

    /// A registry over `store` whose flushes go through `flusher` (shared with the other
    /// records, so that one flush covers both).
    pub(crate) fn with_flusher(
        config: RoomsConfig,
        store: Arc<dyn Store>,
        flusher: Flusher,
        hooks: Option<Arc<dyn RoomHooks>>,
        metrics: Arc<Metrics>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Rooms {
        Rooms {
            inner: Arc::new(RoomsInner {
                config,
                store,
                flusher,
                rooms: Mutex::new(HashMap::new()),
                hooks,
                metrics,
                next_room_id: AtomicU64::new(1),
                tracker,
                shutdown,
            }),
        }
    }

    /// Waits until every write to the store so far (documents and records) is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flusher.flush().await
    }

    /// Number of documents currently loaded.
    pub fn n_live_rooms(&self) -> usize {
        self.inner
            .rooms
            .lock()
            .map(|rooms| rooms.len())
            .unwrap_or(0)
    }

    /// Joins `member` to the room of document `name`, loading the document first if needed.
    pub async fn join(&self, name: &str, member: Member) -> Result<Joined, JoinError> {
        // A room may be stopping (evicted) just as we reach it; then a fresh one is started.
        for _ in 0..4 {
            let handle = self.handle_for(name);
            let (reply, answer) = oneshot::channel();
            let command = RoomCommand::Join {
                member: member.clone(),
                reply,
            };
            if handle.commands.send(command).await.is_err() {
                self.forget(name, handle.id);
                continue;
            }
            match answer.await {
                Ok(Ok(admission)) => {
                    let room = RoomSender {
                        conn: member.conn,
                        commands: handle.commands,
                    };
                    return Ok(Joined {
                        initial: admission.initial,
                        broadcast: admission.broadcast,
                        room,
                        text_open: admission.text_open,
                    });
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => self.forget(name, handle.id),
            }
        }
        Err(JoinError::Unavailable)
    }

    /// Runs `job` on document `name` inside its room (loading it if needed), in a transaction
    /// of its own, and returns its result once whatever it wrote is durably stored and on its
    /// way to every member. The job runs whatever the document's phase: it is the server's own
    /// writing (imports, amendments, corrections) or reading.
    pub async fn job<R: Send + 'static>(
        &self,
        name: &str,
        job: impl FnOnce(&mut TransactionMut) -> R + Send + 'static,
    ) -> Result<R, JobError> {
        let (result_tx, result_rx) = oneshot::channel();
        let mut job = Some(Box::new(move |txn: &mut TransactionMut| {
            let _ = result_tx.send(job(txn));
        }) as JobFn);
        for _ in 0..4 {
            let handle = self.handle_for(name);
            let (done, answer) = oneshot::channel();
            let Some(boxed) = job.take() else { break };
            if let Err(mpsc::error::SendError(command)) = handle
                .commands
                .send(RoomCommand::Job { job: boxed, done })
                .await
            {
                // The room stopped before taking the job: try a fresh one.
                if let RoomCommand::Job { job: boxed, .. } = command {
                    job = Some(boxed);
                }
                self.forget(name, handle.id);
                continue;
            }
            return match answer.await {
                Ok(Ok(())) => result_rx.await.map_err(|_| JobError::Panicked),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(JobError::Join(JoinError::Unavailable)),
            };
        }
        Err(JobError::Join(JoinError::Unavailable))
    }

    fn handle_for(&self, name: &str) -> RoomHandle {
        let mut rooms = match self.inner.rooms.lock() {
            Ok(rooms) => rooms,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(handle) = rooms.get(name) {
            return handle.clone();
        }
        let (commands, inbox) = mpsc::channel(ROOM_COMMAND_QUEUE);
        let handle = RoomHandle {
            id: self.inner.next_room_id.fetch_add(1, Ordering::Relaxed),
            commands,
        };
        rooms.insert(name.to_owned(), handle.clone());
        let task = RoomTask::new(name.to_owned(), handle.id, self.inner.clone(), inbox);
        self.inner.tracker.spawn(task.run());
        handle
    }

    fn forget(&self, name: &str, room_id: u64) {
        let mut rooms = match self.inner.rooms.lock() {
            Ok(rooms) => rooms,
            Err(poisoned) => poisoned.into_inner(),
        };
        if rooms.get(name).is_some_and(|h| h.id == room_id) {
            rooms.remove(name);
        }
    }
}

/// A member as the room task keeps it.
struct MemberState {
    member: Member,
    /// Awareness client ids this connection has published, removed when it leaves.
    awareness_ids: HashSet<ClientID>,
}

struct RoomTask {
    name: String,
    id: u64,
    inner: Arc<RoomsInner>,
    inbox: mpsc::Receiver<RoomCommand>,
    broadcast: broadcast::Sender<Arc<Broadcast>>,
    members: HashMap<ConnId, MemberState>,
    next_seq: u64,
    updates_since_compaction: u64,
    bytes_since_compaction: u64,
    compaction: Option<tokio::task::JoinHandle<()>>,
    /// Awareness changes not yet relayed, and when they are due: changes are coalesced over
    /// [`AWARENESS_COALESCE`] so that a crowd joining or moving cursors costs each member a
    /// bounded number of frames per second, whatever its size.
    pending_awareness: Option<(AwarenessUpdate, tokio::time::Instant)>,
    /// When the next batch may start, after a batch that relayed deltas to many members.
    relay_paused_until: Option<tokio::time::Instant>,
    /// Whether members may edit the text now (from the hooks; always when there are none).
    text_open: Option<watch::Receiver<bool>>,
    /// Set when the document in memory can no longer be trusted (a reload from the store
    /// failed after a refused update or a storage error): the room stops after this batch,
    /// without compacting, and the next client loads the document afresh.
    broken: bool,
}

/// What the room task does next.
enum Next {
    Command(RoomCommand),
    RelayAwareness,
    /// The text just reopened to members' edits.
    TextReopened,
    /// The text just closed (nothing to do but keep listening).
    TextClosed,
    Stop,
}

/// Resolves when the gate changes: [`Next::TextReopened`] or [`Next::TextClosed`]. Never
/// resolves without a gate, or once its sender is gone.
async fn gate_opened(gate: &mut Option<watch::Receiver<bool>>) -> Next {
    match gate {
        Some(gate) => {
            if gate.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if *gate.borrow_and_update() {
                Next::TextReopened
            } else {
                Next::TextClosed
            }
        }
        None => std::future::pending().await,
    }
}

/// Awareness state bytes per frame, roughly. A WebSocket connection's write buffer keeps the
/// capacity of the largest frame it has sent, so one frame with 1,500 people's presence, sent
/// to every newcomer, would stay allocated once per connection.
const AWARENESS_FRAME_BYTES: usize = 8 * 1024;

/// Encodes `update` as one or more awareness frames of about [`AWARENESS_FRAME_BYTES`]; each
/// is a complete awareness message, which y-websocket clients apply on its own.
fn awareness_frames(update: AwarenessUpdate) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut part = AwarenessUpdate {
        clients: Default::default(),
    };
    let mut part_bytes = 0;
    for (id, entry) in update.clients {
        part_bytes += entry.json.len() + 16;
        part.clients.insert(id, entry);
        if part_bytes >= AWARENESS_FRAME_BYTES {
            let full = std::mem::replace(
                &mut part,
                AwarenessUpdate {
                    clients: Default::default(),
                },
            );
            frames.push(Bytes::from(encode_awareness(full)));
            part_bytes = 0;
        }
    }
    if !part.clients.is_empty() {
        frames.push(Bytes::from(encode_awareness(part)));
    }
    frames
}

/// What one batch of commands produced, to persist and send once the batch is applied.
#[derive(Default)]
struct BatchOutput {
    /// Deltas made by the batch, with the connection each came from.
    deltas: Vec<(ConnId, Vec<u8>)>,
    /// Awareness changes to relay to everyone.
    awareness: Vec<AwarenessUpdate>,
    /// SyncStep1 requests to answer once the deltas are durable.
    sync_requests: Vec<(ConnId, StateVector)>,
    /// Jobs run in this batch, answered once its deltas are durable.
    jobs: Vec<oneshot::Sender<Result<(), JobError>>>,
}

impl RoomTask {
    fn new(
        name: String,
        id: u64,
        inner: Arc<RoomsInner>,
        inbox: mpsc::Receiver<RoomCommand>,
    ) -> RoomTask {
        let (broadcast, _) = broadcast::channel(inner.config.outbound_queue_frames);
        let text_open = inner.hooks.as_ref().map(|hooks| hooks.text_open(&name));
        RoomTask {
            text_open,
            name,
            id,
            inner,
            inbox,
            broadcast,
            members: HashMap::new(),
            next_seq: 0,
            updates_since_compaction: 0,
            bytes_since_compaction: 0,
            compaction: None,
            pending_awareness: None,
            relay_paused_until: None,
            broken: false,
        }
    }

    /// Whether connections' updates are applied now.
    fn text_is_open(&self) -> bool {
        self.text_open.as_ref().is_none_or(|open| *open.borrow())
    }

    /// Tells the hooks what is durably stored now.
    fn report_stored(&self, room: &Room) {
        if let Some(hooks) = &self.inner.hooks {
            let state_vector =
                manifesto_protocol::yrs::updates::encoder::Encode::encode_v1(&room.state_vector());
            hooks.stored(&self.name, state_vector);
        }
    }

    async fn load(&self) -> Result<(Room, StoredDocument), String> {
        let store = self.inner.store.clone();
        let name = self.name.clone();
        let stored = tokio::task::spawn_blocking(move || store.load_document(&name))
            .await
            .map_err(|e| format!("load task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        // Decoding stored updates is yrs work on trusted bytes, but still contained: a panic
        // here must not take the process down.
        let room = std::panic::catch_unwind(AssertUnwindSafe(|| Room::from_stored(&stored)))
            .map_err(|_| "panic while loading".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok((room, stored))
    }

    async fn run(mut self) {
        let mut room = match self.load().await {
            Ok((room, stored)) => {
                self.next_seq = stored.next_seq;
                self.updates_since_compaction = stored.updates.len() as u64;
                self.bytes_since_compaction = stored.updates.iter().map(|u| u.len() as u64).sum();
                room
            }
            Err(reason) => {
                tracing::error!(document = %self.name, %reason, "could not load document");
                self.stop_with(|| Err(JoinError::LoadFailed(reason.clone())));
                return;
            }
        };
        tracing::debug!(document = %self.name, "room loaded");
        self.report_stored(&room);
        loop {
            if let Some(until) = self.relay_paused_until.take() {
                self.wait_for_relay_pace(until).await;
            }
            let first = match self.next().await {
                Next::Command(command) => command,
                Next::RelayAwareness => {
                    self.relay_awareness();
                    continue;
                }
                Next::TextReopened => {
                    self.ask_for_missing(&room);
                    continue;
                }
                Next::TextClosed => continue,
                Next::Stop => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_COMMANDS {
                match self.inbox.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            room = self.handle_batch(room, batch).await;
            if self.broken {
                tracing::error!(document = %self.name, "stopping the room: its document could not be reloaded");
                break;
            }
        }
        // A document opened again soon (a restart, a new visitor) then loads one snapshot
        // instead of replaying its whole log.
        if let Some(running) = self.compaction.take() {
            let _ = running.await;
        }
        if self.updates_since_compaction > 0 && !self.broken {
            self.start_compaction(&room);
        }
        self.stop_with(|| Err(JoinError::Unavailable));
        tracing::debug!(document = %self.name, "room stopped");
    }

    /// The next command, or `None` when the room should stop: it has been empty for the idle
    /// time, or the server is shutting down and nobody is left.
    async fn next(&mut self) -> Next {
        let to_next = |command: Option<RoomCommand>| command.map_or(Next::Stop, Next::Command);
        let gate = &mut self.text_open;
        let inbox = &mut self.inbox;
        if let Some((_, due)) = &self.pending_awareness {
            let due = *due;
            return tokio::select! {
                command = inbox.recv() => to_next(command),
                _ = tokio::time::sleep_until(due) => Next::RelayAwareness,
                reopened = gate_opened(gate) => reopened,
            };
        }
        if !self.members.is_empty() {
            return tokio::select! {
                command = inbox.recv() => to_next(command),
                reopened = gate_opened(gate) => reopened,
            };
        }
        if self.inner.shutdown.is_cancelled() {
            return to_next(inbox.try_recv().ok());
        }
        tokio::select! {
            command = inbox.recv() => to_next(command),
            _ = tokio::time::sleep(self.inner.config.room_idle) => Next::Stop,
            _ = self.inner.shutdown.cancelled() => to_next(inbox.try_recv().ok()),
        }
    }

    /// Asks every member for what it has that the document lacks: after the text reopens,
    /// edits a client made while it was frozen (dropped then) would otherwise keep its later
    /// edits waiting for them. y-websocket clients answer a SyncStep1 at any time.
    fn ask_for_missing(&self, room: &Room) {
        let frame = Bytes::from(encode_sync_step1(&room.state_vector()));
        // No receivers is fine.
        let _ = self.broadcast.send(Arc::new(Broadcast {
            origin: None,
            frame,
        }));
    }

    /// After a relay to `n` members, holds the next batch back for `n` times
    /// [`RoomsConfig::relay_pace_per_member`] (at most [`MAX_RELAY_PACE`]), so that edits
    /// arriving meanwhile go out together in one frame.
    ///
    /// Sending one frame to one member costs the server about 6-10 µs, most of it the kernel's
    /// TCP send; in a plenary of 1,500, frame sends, not the document, are what saturate the
    /// CPU. Pacing bounds the frames per second a room sends whatever the edit rate, at the
    /// price of up to one pace of waiting for an edit that arrives just after a relay. A quiet
    /// room (nothing relayed within the last pace) relays at once.
    fn pace_relays(&mut self) {
        let per = self.inner.config.relay_pace_per_member;
        let n = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        let pace = per.saturating_mul(n).min(MAX_RELAY_PACE);
        if pace >= Duration::from_millis(1) {
            self.relay_paused_until = Some(tokio::time::Instant::now() + pace);
        }
    }

    /// Waits until `until`, relaying awareness changes that fall due meanwhile.
    async fn wait_for_relay_pace(&mut self, until: tokio::time::Instant) {
        while let Some(due) = self
            .pending_awareness
            .as_ref()
            .map(|(_, due)| *due)
            .filter(|due| *due < until)
        {
            tokio::time::sleep_until(due).await;
            self.relay_awareness();
        }
        tokio::time::sleep_until(until).await;
    }

    /// Adds awareness changes to those waiting to be relayed.
    fn queue_awareness(&mut self, update: AwarenessUpdate) {
        match &mut self.pending_awareness {
            Some((pending, _)) => pending.clients.extend(update.clients),
            None => {
                let due = tokio::time::Instant::now() + AWARENESS_COALESCE;
                self.pending_awareness = Some((update, due));
            }
        }
    }

    /// Relays the pending awareness changes to every member, the senders included.
    fn relay_awareness(&mut self) {
        if let Some((update, _)) = self.pending_awareness.take() {
            let frame = Bytes::from(encode_awareness(update));
            // No receivers is fine: nobody is connected.
            let _ = self.broadcast.send(Arc::new(Broadcast {
                origin: None,
                frame,
            }));
        }
    }

    /// Unregisters the room and answers every queued join with `answer`.
    fn stop_with(&mut self, answer: impl Fn() -> Result<Admission, JoinError>) {
        {
            let mut rooms = match self.inner.rooms.lock() {
                Ok(rooms) => rooms,
                Err(poisoned) => poisoned.into_inner(),
            };
            if rooms.get(&self.name).is_some_and(|h| h.id == self.id) {
                rooms.remove(&self.name);
            }
        }
        // Nothing new can arrive once the entry is gone and the channel is closed; commands
        // already queued are answered so that joiners retry on a fresh room.
        self.inbox.close();
        while let Ok(command) = self.inbox.try_recv() {
            if let RoomCommand::Join { reply, .. } = command {
                let _ = reply.send(answer());
            }
        }
    }

    async fn handle_batch(&mut self, mut room: Room, batch: Vec<RoomCommand>) -> Room {
        let mut out = BatchOutput::default();
        // The earliest arrival of the batch's inbound messages: fan-out latency counts the
        // time they waited in the room's queue too.
        let mut first_received: Option<tokio::time::Instant> = None;
        for command in batch {
            if self.broken {
                // Dropped commands make joiners retry on a fresh room once this one stops.
                break;
            }
            match command {
                RoomCommand::Join { member, reply } => self.join(&room, member, reply),
                RoomCommand::Inbound {
                    conn,
                    messages,
                    received,
                } => {
                    first_received = Some(first_received.map_or(received, |t| t.min(received)));
                    for message in messages {
                        if self.broken {
                            break;
                        }
                        room = self.apply(room, conn, message, &mut out).await;
                    }
                }
                RoomCommand::Leave { conn } => {
                    if let Some(state) = self.members.remove(&conn) {
                        if let Some(removal) = room.remove_awareness(&state.awareness_ids) {
                            out.awareness.push(removal);
                        }
                    }
                }
                RoomCommand::Job { job, done } => {
                    room = self.run_job(room, job, done, &mut out).await;
                }
            }
        }

        if self.broken {
            for done in out.jobs.drain(..) {
                let _ = done.send(Err(JobError::Join(JoinError::Unavailable)));
            }
            return room;
        }
        if !out.deltas.is_empty() {
            self.after_change(&room, &mut out);
        }
        if !out.deltas.is_empty() {
            let deltas = std::mem::take(&mut out.deltas);
            match self.persist(deltas).await {
                Ok(stored) => {
                    let metrics = &self.inner.metrics;
                    metrics.updates_total.add(stored.len() as u64);
                    metrics
                        .update_bytes_total
                        .add(stored.iter().map(|(_, u)| u.len() as u64).sum());
                    self.broadcast_deltas(stored);
                    if let Some(received) = first_received {
                        metrics.fanout_seconds.observe(received.elapsed());
                    }
                    self.report_stored(&room);
                    self.pace_relays();
                }
                Err(e) => {
                    tracing::error!(document = %self.name, error = %e, "could not store updates");
                    for done in out.jobs.drain(..) {
                        let _ = done.send(Err(JobError::Store(e.to_string())));
                    }
                    // Nothing of this batch was relayed; every member resynchronises from what
                    // is durable, and members keep their own edits to send again.
                    for state in self.members.values() {
                        state
                            .member
                            .close_with(CloseCode::InternalError, "storage failed; retry");
                    }
                    return match self.reload(Vec::new()).await {
                        Some(reloaded) => reloaded,
                        None => {
                            self.broken = true;
                            room
                        }
                    };
                }
            }
        }
        for done in out.jobs.drain(..) {
            let _ = done.send(Ok(()));
        }
        for update in out.awareness {
            self.queue_awareness(update);
        }
        for (conn, state_vector) in out.sync_requests {
            if let Some(state) = self.members.get(&conn) {
                state
                    .member
                    .send_direct(encode_sync_step2(room.diff(&state_vector)));
            }
        }
        self.maybe_compact(&room);
        room
    }

    /// Broadcasts a batch's deltas as one frame, so that a burst of edits costs each member
    /// one queued frame, not one per edit. The frame skips its origin only when the whole batch
    /// came from one connection; otherwise the origin gets its own edits back, which Yjs
    /// ignores.
    fn broadcast_deltas(&self, deltas: Vec<(ConnId, Vec<u8>)>) {
        let single_origin = deltas.first().map(|(conn, _)| *conn);
        let origin = single_origin.filter(|first| deltas.iter().all(|(conn, _)| conn == first));
        let update = if deltas.len() == 1 {
            deltas.into_iter().next().map(|(_, delta)| delta)
        } else {
            let parts: Vec<&[u8]> = deltas.iter().map(|(_, delta)| delta.as_slice()).collect();
            match manifesto_protocol::yrs::merge_updates_v1(&parts) {
                Ok(merged) => Some(merged),
                Err(e) => {
                    // Cannot happen for deltas yrs itself encoded; if it does, send them one by
                    // one rather than lose any.
                    tracing::error!(document = %self.name, error = %e, "could not merge deltas");
                    for (conn, delta) in deltas {
                        let frame = Bytes::from(encode_update(delta));
                        let _ = self.broadcast.send(Arc::new(Broadcast {
                            origin: Some(conn),
                            frame,
                        }));
                    }
                    None
                }
            }
        };
        if let Some(update) = update {
            let frame = Bytes::from(encode_update(update));
            // No receivers is fine: nobody else is connected.
            let _ = self.broadcast.send(Arc::new(Broadcast { origin, frame }));
        }
    }

    fn join(
        &mut self,
        room: &Room,
        member: Member,
        reply: oneshot::Sender<Result<Admission, JoinError>>,
    ) {
        // Subscribing before the state is read means that any later update reaches the
        // member, either in this state or in a broadcast (duplicates are harmless).
        let broadcast = self.broadcast.subscribe();
        let mut initial = vec![Bytes::from(encode_sync_step1(&room.state_vector()))];
        if let Some(awareness) = room.awareness_state() {
            initial.extend(awareness_frames(awareness));
        }
        let conn = member.conn;
        let admission = Admission {
            initial,
            broadcast,
            text_open: self.text_open.clone(),
        };
        if reply.send(Ok(admission)).is_ok() {
            self.members.insert(
                conn,
                MemberState {
                    member,
                    awareness_ids: HashSet::new(),
                },
            );
        }
    }

    /// Applies one inbound message. Returns the room to go on with: the same one, or one
    /// reloaded from the store if yrs panicked while applying.
    async fn apply(
        &mut self,
        mut room: Room,
        conn: ConnId,
        message: InboundMessage,
        out: &mut BatchOutput,
    ) -> Room {
        match message {
            InboundMessage::SyncStep1(state_vector) => out.sync_requests.push((conn, state_vector)),
            InboundMessage::SyncStep2(_) | InboundMessage::Update(_) if !self.text_is_open() => {
                // The phase froze the text: the connection's guard has told it; an update
                // checked just before the change is dropped here.
            }
            InboundMessage::SyncStep2(update) | InboundMessage::Update(update) => {
                let applied =
                    std::panic::catch_unwind(AssertUnwindSafe(|| room.apply_update(update)));
                let refusal = match applied {
                    Ok(Ok(Some(delta))) => {
                        out.deltas.push((conn, delta));
                        None
                    }
                    Ok(Ok(None)) => None,
                    Ok(Err(RoomError::Refused(reason))) => Some((
                        CloseCode::PolicyViolation,
                        format!("update refused: {reason}"),
                    )),
                    Ok(Err(e)) => {
                        tracing::info!(document = %self.name, conn, error = %e, "update could not be integrated");
                        Some((
                            CloseCode::ProtocolError,
                            "update could not be integrated".to_owned(),
                        ))
                    }
                    Err(_) => {
                        tracing::error!(document = %self.name, conn, "panic while applying an update");
                        Some((
                            CloseCode::InternalError,
                            "update could not be applied".to_owned(),
                        ))
                    }
                };
                if let Some((code, reason)) = refusal {
                    tracing::info!(document = %self.name, conn, %reason, "closing the sender and reloading the document");
                    self.close_member(conn, code, &reason);
                    // yrs may have integrated part of the update (or panicked half-way): start
                    // again from what is stored plus this batch's earlier, good deltas.
                    let earlier: Vec<Vec<u8>> =
                        out.deltas.iter().map(|(_, delta)| delta.clone()).collect();
                    match self.reload(earlier).await {
                        Some(reloaded) => room = reloaded,
                        None => {
                            for state in self.members.values() {
                                state
                                    .member
                                    .close_with(CloseCode::InternalError, "document reload failed");
                            }
                            out.deltas.clear();
                            self.broken = true;
                        }
                    }
                }
            }
            InboundMessage::Awareness(update) => {
                let Some(state) = self.members.get_mut(&conn) else {
                    return room;
                };
                for id in update.clients.keys() {
                    if !state.awareness_ids.contains(id)
                        && state.awareness_ids.len() >= MAX_AWARENESS_IDS_PER_CONN
                    {
                        state.member.close_with(
                            CloseCode::PolicyViolation,
                            "too many awareness client ids",
                        );
                        return room;
                    }
                    state.awareness_ids.insert(*id);
                }
                if let Some(changed) = room.apply_awareness(update) {
                    out.awareness.push(changed);
                }
            }
            InboundMessage::AwarenessQuery => {
                if let (Some(state), Some(awareness)) =
                    (self.members.get(&conn), room.awareness_state())
                {
                    for frame in awareness_frames(awareness) {
                        state.member.send_direct(frame);
                    }
                }
            }
            InboundMessage::Auth => {}
        }
        room
    }

    /// Runs a server job in a transaction of its own. Its delta joins the batch's; it is
    /// answered once the batch is durable. A panicking job's writes are undone by reloading.
    async fn run_job(
        &mut self,
        mut room: Room,
        job: JobFn,
        done: oneshot::Sender<Result<(), JobError>>,
        out: &mut BatchOutput,
    ) -> Room {
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut txn = room.doc().transact_mut();
            job(&mut txn);
            txn.encode_update_v1()
        }));
        match ran {
            Ok(delta) => {
                if delta != crate::room::EMPTY_UPDATE_V1 {
                    out.deltas.push((SERVER_CONN, delta));
                }
                out.jobs.push(done);
            }
            Err(_) => {
                tracing::error!(document = %self.name, "a server job panicked; reloading the document");
                let _ = done.send(Err(JobError::Panicked));
                let earlier: Vec<Vec<u8>> =
                    out.deltas.iter().map(|(_, delta)| delta.clone()).collect();
                match self.reload(earlier).await {
                    Some(reloaded) => room = reloaded,
                    None => {
                        for state in self.members.values() {
                            state
                                .member
                                .close_with(CloseCode::InternalError, "document reload failed");
                        }
                        out.deltas.clear();
                        self.broken = true;
                    }
                }
            }
        }
        room
    }

    /// Lets the hooks keep the structure sound after the batch changed the document.
    fn after_change(&self, room: &Room, out: &mut BatchOutput) {
        let Some(hooks) = &self.inner.hooks else {
            return;
        };
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut txn = room.doc().transact_mut();
            hooks.after_change(&self.name, &mut txn);
            txn.encode_update_v1()
        }));
        match ran {
            Ok(delta) if delta != crate::room::EMPTY_UPDATE_V1 => {
                out.deltas.push((SERVER_CONN, delta))
            }
            Ok(_) => {}
            // Normalising is redone after the next change; the document itself is sound.
            Err(_) => tracing::error!(document = %self.name, "normalising the document panicked"),
        }
    }

    fn close_member(&self, conn: ConnId, code: CloseCode, reason: &str) {
        if let Some(state) = self.members.get(&conn) {
            state.member.close_with(code, reason);
        }
    }

    /// Reloads the document from the store and re-applies `pending` deltas (not yet stored).
    async fn reload(&self, pending: Vec<Vec<u8>>) -> Option<Room> {
        match self.load().await {
            Ok((mut room, _)) => {
                for delta in pending {
                    let decoded = <manifesto_protocol::yrs::Update as manifesto_protocol::yrs::updates::decoder::Decode>::decode_v1(&delta);
                    let Ok(update) = decoded else { continue };
                    let reapplied =
                        std::panic::catch_unwind(AssertUnwindSafe(|| room.apply_update(update)));
                    if !matches!(reapplied, Ok(Ok(_))) {
                        return None;
                    }
                }
                Some(room)
            }
            Err(reason) => {
                tracing::error!(document = %self.name, %reason, "could not reload document");
                None
            }
        }
    }

    /// Appends the batch's deltas and waits until they are durable.
    async fn persist(
        &mut self,
        deltas: Vec<(ConnId, Vec<u8>)>,
    ) -> Result<Vec<(ConnId, Vec<u8>)>, StoreError> {
        // The deltas move to the blocking task and back, so they are never copied.
        let (origins, updates): (Vec<ConnId>, Vec<Vec<u8>>) = deltas.into_iter().unzip();
        let n_updates = updates.len() as u64;
        let n_bytes: u64 = updates.iter().map(|u| u.len() as u64).sum();
        let first_seq = self.next_seq;
        let store = self.inner.store.clone();
        let name = self.name.clone();
        let updates = tokio::task::spawn_blocking(move || {
            store
                .append_updates(&name, first_seq, &updates)
                .map(|()| updates)
        })
        .await
        .map_err(|e| StoreError::Database(format!("append task failed: {e}")))??;
        self.next_seq += n_updates;
        self.updates_since_compaction += n_updates;
        self.bytes_since_compaction += n_bytes;
        self.inner.flusher.flush().await?;
        Ok(origins.into_iter().zip(updates).collect())
    }

    /// Starts a background compaction when the log has grown past the thresholds and none is
    /// running. Editing goes on meanwhile: later updates get later sequence numbers, which the
    /// compaction leaves alone.
    fn maybe_compact(&mut self, room: &Room) {
        let config = &self.inner.config;
        let due = self.updates_since_compaction >= config.compact_after_updates
            || self.bytes_since_compaction >= config.compact_after_bytes;
        let running = self
            .compaction
            .as_ref()
            .is_some_and(|task| !task.is_finished());
        if due && !running {
            self.start_compaction(room);
        }
    }

    /// Compacts the log through the last stored update, on a blocking thread.
    fn start_compaction(&mut self, room: &Room) {
        if self.next_seq == 0 {
            return;
        }
        let snapshot = room.snapshot();
        let through_seq = self.next_seq - 1;
        let store = self.inner.store.clone();
        let name = self.name.clone();
        self.updates_since_compaction = 0;
        self.bytes_since_compaction = 0;
        self.compaction = Some(self.inner.tracker.spawn_blocking(move || {
            match store.compact(&name, &snapshot, through_seq) {
                Ok(()) => tracing::debug!(document = %name, through_seq, "log compacted"),
                Err(e) => {
                    tracing::warn!(document = %name, error = %e, "compaction failed; it is tried again after more updates")
                }
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manifesto_protocol::yrs::sync::awareness::AwarenessUpdateEntry;
    use manifesto_protocol::{decode_frame, FrameLimits, InboundMessage};

    #[test]
    fn large_awareness_state_is_split_into_complete_small_frames() {
        let mut clients = std::collections::HashMap::new();
        for id in 0..1500u64 {
            let json = format!(r##"{{"user":{{"name":"Delegate {id}","color":"#30bced"}}}}"##);
            clients.insert(
                ClientID::new(id),
                AwarenessUpdateEntry {
                    clock: 1,
                    json: json.into(),
                },
            );
        }
        let frames = awareness_frames(AwarenessUpdate { clients });
        assert!(frames.len() > 5, "{} frames", frames.len());
        let mut seen = HashSet::new();
        for frame in &frames {
            assert!(
                frame.len() <= AWARENESS_FRAME_BYTES + 1024,
                "frame of {} bytes",
                frame.len()
            );
            let messages = decode_frame(frame, &FrameLimits::default()).expect("a valid frame");
            for message in messages {
                let InboundMessage::Awareness(update) = message else {
                    panic!("only awareness messages");
                };
                seen.extend(update.clients.keys().copied());
            }
        }
        assert_eq!(seen.len(), 1500, "every entry is in exactly one frame");
    }
}
