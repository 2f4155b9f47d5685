//! The WebSocket side of a connection: upgrade, a writer task that sends queued frames and
//! pings, and a read loop that checks, decodes and hands messages to the room.
//!
//! Only this module and `http` know about close frames and status codes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use manifesto_protocol::yrs::sync::AwarenessUpdate;
use manifesto_protocol::{
    decode_frame, encode_auth_denied, CloseCode, FrameLimits, InboundMessage,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::auth::live::ConnCredential;
use crate::auth::Auth;
use crate::rooms::{Broadcast, CloseReason, ConnId, Member, Rooms};

/// Direct (non-broadcast) frames queued for one connection before it is closed as too slow.
const DIRECT_QUEUE_FRAMES: usize = 64;
/// Most queued broadcast frames written with one flush.
const MAX_FRAMES_PER_FLUSH: usize = 64;
/// How long one frame may take to be written before the connection counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the close frame may take to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// What a connection needs from the server. Shared behind an `Arc`.
pub struct SocketContext {
    /// The room registry.
    pub rooms: Rooms,
    /// Limits on inbound frames.
    pub limits: FrameLimits,
    /// Time between pings.
    pub ping_interval: Duration,
    /// Time without inbound frames after which the connection is closed.
    pub idle_timeout: Duration,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Open WebSocket connections, for health and metrics.
    pub n_connections: AtomicUsize,
    /// Connections accepted and closed, queue overflows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Shutdown waits on it until every connection has let go of the shared state (the
    /// rooms, the store): a connection holds one of its tokens while it does.
    pub tracker: tokio_util::task::TaskTracker,
}

/// Who a connection belongs to and what it may do, decided at the upgrade.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The account.
    pub user_id: u64,
    /// The account's display name: what other people see in this connection's awareness.
    pub name: String,
    /// The session or token it authenticated with.
    pub credential: ConnCredential,
    /// Whether its updates are applied; a read-only connection's are dropped.
    pub can_write: bool,
    /// When its session ends (unix seconds), for a connection opened with a session.
    pub expires_at: Option<i64>,
}

/// Runs one upgraded connection on document `document` until it closes.
pub async fn serve_socket(
    socket: WebSocket,
    document: String,
    identity: Identity,
    context: Arc<SocketContext>,
    auth: Arc<Auth>,
) {
    let holding = context.tracker.token();
    context.n_connections.fetch_add(1, Ordering::Relaxed);
    context.metrics.connections_total.inc();
    let stream = serve_member(socket, document, identity, &context, &auth).await;
    context.n_connections.fetch_sub(1, Ordering::Relaxed);
    // Nothing shared is held while waiting for the peer: shutdown does not wait for this.
    drop(context);
    drop(auth);
    drop(holding);
    // Wait for the peer's close frame (or its end) before the socket is dropped: dropping it
    // with unread bytes makes the kernel reset the connection, and the peer may then lose the
    // close frame and its code.
    if let Some(mut stream) = stream {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Runs the connection as a member of its document's room; returns the read half, to be
/// drained until the peer's close, once the close frame has been sent.
async fn serve_member(
    socket: WebSocket,
    document: String,
    identity: Identity,
    context: &Arc<SocketContext>,
    auth: &Auth,
) -> Option<SplitStream<WebSocket>> {
    let conn = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    let (close_tx, close_rx) = watch::channel(None::<CloseReason>);
    // Subscribed before anything can set a reason, so the read loop never misses it.
    let close_tx = Arc::new(close_tx);
    // Registered before joining: a logout from now on closes this connection.
    auth.live.register(
        conn,
        identity.user_id,
        identity.credential,
        close_tx.clone(),
    );
    // A session's absolute expiry ends its connections too.
    let expiry = identity.expires_at.map(|expires_at| {
        let close = close_tx.clone();
        let left = u64::try_from(expires_at - crate::auth::now()).unwrap_or(0);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(left)).await;
            set_close(
                &close,
                CloseReason::new(CloseCode::SessionEnded, "session expired; log in again"),
            );
        })
    });
    let stream = serve_registered(
        socket, document, identity, context, conn, close_tx, close_rx,
    )
    .await;
    auth.live.unregister(conn);
    if let Some(expiry) = expiry {
        expiry.abort();
    }
    stream
}

async fn serve_registered(
    socket: WebSocket,
    document: String,
    identity: Identity,
    context: &Arc<SocketContext>,
    conn: ConnId,
    close_tx: Arc<watch::Sender<Option<CloseReason>>>,
    close_rx: watch::Receiver<Option<CloseReason>>,
) -> Option<SplitStream<WebSocket>> {
    let (direct_tx, direct_rx) = mpsc::channel(DIRECT_QUEUE_FRAMES);
    let member = Member {
        conn,
        direct: direct_tx.clone(),
        close: close_tx.clone(),
    };
    let (mut sink, mut stream) = socket.split();

    let joined = match context.rooms.join(&document, member).await {
        Ok(joined) => joined,
        Err(e) => {
            tracing::error!(%document, conn, error = %e, "could not join document");
            let reason = CloseReason::new(
                CloseCode::InternalError,
                "document unavailable; retry later",
            );
            let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close_message(&reason))).await;
            context.metrics.disconnected(reason.code);
            return Some(stream);
        }
    };
    tracing::debug!(%document, conn, "connected");

    let writer = tokio::spawn(write_loop(
        sink,
        joined.initial,
        joined.broadcast,
        direct_rx,
        close_tx.clone(),
        conn,
        context.clone(),
    ));
    let mut guard = MessageGuard {
        identity,
        text_open: joined.text_open.clone(),
        own_awareness_id: None,
        told_read_only: false,
        direct: direct_tx,
    };
    read_loop(
        &mut stream,
        &joined.room,
        &mut guard,
        &close_tx,
        close_rx,
        context,
    )
    .await;
    joined.room.leave().await;
    // The writer stops once the close reason is set (the read loop always sets one) or the
    // socket fails; it sends the close frame.
    if writer.await.is_err() {
        tracing::error!(%document, conn, "writer task failed");
    }
    let code = close_tx
        .borrow()
        .as_ref()
        .map_or(CloseCode::GoingAway, |reason| reason.code);
    context.metrics.disconnected(code);
    tracing::debug!(%document, conn, "disconnected");
    Some(stream)
}

fn close_message(reason: &CloseReason) -> Message {
    // A close reason is at most 123 bytes; ours are short, but cut on a char boundary anyway.
    let mut text = reason.reason.clone();
    while text.len() > 123 {
        text.pop();
    }
    Message::Close(Some(CloseFrame {
        code: reason.code.code(),
        reason: text.into(),
    }))
}

fn set_close(close: &watch::Sender<Option<CloseReason>>, reason: CloseReason) {
    close.send_if_modified(|current| {
        if current.is_some() {
            return false;
        }
        *current = Some(reason);
        true
    });
}

/// Applies the connection's rights to its messages before the room sees them.
struct MessageGuard {
    identity: Identity,
    /// Whether the document's phase lets anyone edit the text now. It changes under a live
    /// connection: a phase change turns every connection read-only in place.
    text_open: Option<watch::Receiver<bool>>,
    /// The awareness client id this connection publishes: the first one it sent.
    own_awareness_id: Option<manifesto_protocol::yrs::block::ClientID>,
    /// Whether `[2, 0, "read-only"]` has been sent since the connection last could write.
    told_read_only: bool,
    /// This connection's direct queue.
    direct: mpsc::Sender<Bytes>,
}

impl MessageGuard {
    /// Drops what the connection may not do, rewrites awareness names; an error closes it.
    fn filter(
        &mut self,
        messages: Vec<InboundMessage>,
    ) -> Result<Vec<InboundMessage>, CloseReason> {
        let mut allowed = Vec::with_capacity(messages.len());
        let can_write =
            self.identity.can_write && self.text_open.as_ref().is_none_or(|open| *open.borrow());
        if can_write {
            // Frozen again later, the connection is told again.
            self.told_read_only = false;
        }
        for message in messages {
            match message {
                InboundMessage::SyncStep2(update) | InboundMessage::Update(update)
                    if !can_write =>
                {
                    // Tell a vanilla client once, and only when it tried to change something
                    // (its answer to our SyncStep1 is often empty).
                    if !self.told_read_only && update_is_not_empty(&update) {
                        self.told_read_only = true;
                        let _ = self
                            .direct
                            .try_send(Bytes::from(encode_auth_denied("read-only")));
                    }
                }
                InboundMessage::Awareness(update) => {
                    let update = self.own_awareness(update)?;
                    if !update.clients.is_empty() {
                        allowed.push(InboundMessage::Awareness(update));
                    }
                }
                other => allowed.push(other),
            }
        }
        Ok(allowed)
    }

    /// Keeps, of an awareness update, only the entry of this connection's own client id, with
    /// the name other people see set to the account's.
    ///
    /// The own id is the one of the first awareness message holding a single client: the
    /// y-websocket provider sends its own state alone as soon as it connects. Entries for other
    /// ids are dropped without closing the connection: the stock provider re-sends every
    /// awareness change it applies, other people's included, so such entries are normal relays
    /// of states the server already has, never a reason to disconnect.
    fn own_awareness(
        &mut self,
        mut update: AwarenessUpdate,
    ) -> Result<AwarenessUpdate, CloseReason> {
        if self.own_awareness_id.is_none() && update.clients.len() == 1 {
            self.own_awareness_id = update.clients.keys().next().copied();
        }
        let own = self.own_awareness_id;
        update.clients.retain(|id, _| Some(*id) == own);
        for entry in update.clients.values_mut() {
            entry.json = named_awareness_state(&entry.json, &self.identity)?.into();
        }
        Ok(update)
    }
}

fn update_is_not_empty(update: &manifesto_protocol::yrs::Update) -> bool {
    use manifesto_protocol::yrs::updates::encoder::Encode;
    // An update with nothing in it encodes as two zero counts.
    update.encode_v1().len() > 2
}

/// `state` (an awareness state as JSON) with `user.name` and `user.id` set from the account.
/// `null` (the client left) stays as it is; anything but an object is refused.
fn named_awareness_state(state: &str, identity: &Identity) -> Result<String, CloseReason> {
    let refused = || {
        CloseReason::new(
            CloseCode::PolicyViolation,
            "awareness state must be a JSON object or null",
        )
    };
    let mut value: serde_json::Value = serde_json::from_str(state).map_err(|_| refused())?;
    match &mut value {
        serde_json::Value::Null => return Ok(state.to_owned()),
        serde_json::Value::Object(fields) => {
            let user = fields
                .entry("user")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !user.is_object() {
                *user = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(user) = user {
                user.insert("name".into(), identity.name.clone().into());
                user.insert("id".into(), identity.user_id.into());
            }
        }
        _ => return Err(refused()),
    }
    Ok(value.to_string())
}

async fn read_loop(
    stream: &mut SplitStream<WebSocket>,
    room: &crate::rooms::RoomSender,
    guard: &mut MessageGuard,
    close: &watch::Sender<Option<CloseReason>>,
    mut close_rx: watch::Receiver<Option<CloseReason>>,
    context: &SocketContext,
) {
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(context.idle_timeout, stream.next()) => next,
            _ = close_rx.changed() => return,
            _ = context.shutdown.cancelled() => {
                set_close(close, CloseReason::new(CloseCode::GoingAway, "server shutting down"));
                return;
            }
        };
        let reason = match next {
            Err(_) => CloseReason::new(
                CloseCode::IdleTimeout,
                "no message or pong received in time",
            ),
            // The client went away without a close frame, or after one: nothing left to say.
            Ok(None) => CloseReason::new(CloseCode::GoingAway, "client closed"),
            Ok(Some(Err(e))) => read_error_reason(e, &context.limits),
            Ok(Some(Ok(Message::Binary(frame)))) => match decode_frame(&frame, &context.limits)
                .map_err(|e| CloseReason::new(e.close_code(), e.to_string()))
                .and_then(|messages| guard.filter(messages))
            {
                Ok(messages) if messages.is_empty() => continue,
                Ok(messages) => {
                    if room.send(messages).await.is_err() {
                        document_stopped()
                    } else {
                        continue;
                    }
                }
                Err(reason) => reason,
            },
            Ok(Some(Ok(Message::Text(_)))) => CloseReason::new(
                CloseCode::UnsupportedData,
                "text frames are not accepted; send binary y-websocket frames",
            ),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) => {
                CloseReason::new(CloseCode::GoingAway, "client closed")
            }
        };
        set_close(close, reason);
        return;
    }
}

fn read_error_reason(error: axum::Error, limits: &FrameLimits) -> CloseReason {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => CloseReason::new(
            CloseCode::MessageTooBig,
            format!("frame over the limit of {} bytes", limits.max_frame_bytes),
        ),
        Some(tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_)) => {
            CloseReason::new(CloseCode::ProtocolError, "websocket protocol error")
        }
        _ => CloseReason::new(CloseCode::GoingAway, "connection lost"),
    }
}

async fn send_frame(
    sink: &mut SplitSink<WebSocket, Message>,
    message: Message,
) -> Result<(), CloseReason> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CloseReason::new(CloseCode::GoingAway, "connection lost")),
        Err(_) => Err(CloseReason::new(CloseCode::SlowConsumer, "write timed out")),
    }
}

fn fell_behind(conn: ConnId, n_missed: u64) -> CloseReason {
    tracing::info!(conn, n_missed, "closing a connection that fell behind");
    CloseReason::new(
        CloseCode::SlowConsumer,
        "fell behind the document; reconnect to resync",
    )
}

fn document_stopped() -> CloseReason {
    CloseReason::new(CloseCode::InternalError, "document stopped; reconnect")
}

/// Writes `frames` and flushes once.
async fn send_frames(
    sink: &mut SplitSink<WebSocket, Message>,
    frames: Vec<Bytes>,
) -> Result<(), CloseReason> {
    if frames.is_empty() {
        return Ok(());
    }
    let write = async {
        for frame in frames {
            sink.feed(Message::Binary(frame)).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CloseReason::new(CloseCode::GoingAway, "connection lost")),
        Err(_) => Err(CloseReason::new(CloseCode::SlowConsumer, "write timed out")),
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    initial: Vec<Bytes>,
    mut broadcast: broadcast::Receiver<Arc<Broadcast>>,
    mut direct: mpsc::Receiver<Bytes>,
    close: Arc<watch::Sender<Option<CloseReason>>>,
    conn: ConnId,
    context: Arc<SocketContext>,
) {
    let mut close_rx = close.subscribe();
    let result = write_frames(
        &mut sink,
        initial,
        &mut broadcast,
        &mut direct,
        &mut close_rx,
        conn,
        &context,
    )
    .await;
    let (Ok(reason) | Err(reason)) = result;
    // The first reason set wins (the read loop may have set one meanwhile); setting it also
    // stops the read loop.
    set_close(&close, reason);
    let reason = close.borrow().clone();
    if let Some(reason) = reason {
        // A slow peer may still be reading what was queued before the close frame: give it
        // time to reach it. A peer that is gone makes this fail at once.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(close_message(&reason))).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Sends frames until a close reason is known; returns it.
async fn write_frames(
    sink: &mut SplitSink<WebSocket, Message>,
    initial: Vec<Bytes>,
    broadcast: &mut broadcast::Receiver<Arc<Broadcast>>,
    direct: &mut mpsc::Receiver<Bytes>,
    close_rx: &mut watch::Receiver<Option<CloseReason>>,
    conn: ConnId,
    context: &SocketContext,
) -> Result<CloseReason, CloseReason> {
    for frame in initial {
        send_frame(sink, Message::Binary(frame)).await?;
    }
    let mut ping = tokio::time::interval(context.ping_interval);
    ping.reset();
    // Both signals are created once and polled on every wake-up: re-creating them in each
    // `select!` registered and removed a waiter on a locked list for every frame sent.
    let mut close_watch = close_rx.clone();
    let closed = async move { close_watch.changed().await.is_ok() };
    tokio::pin!(closed);
    let shutdown = context.shutdown.cancelled();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            // Closing wins over sending more.
            biased;
            _ = &mut closed => {
                // Only `Some` is ever sent; a dropped sender means the connection ended.
                let reason = close_rx.borrow_and_update().clone();
                return Ok(reason.unwrap_or_else(|| CloseReason::new(CloseCode::GoingAway, "connection ended")));
            }
            _ = &mut shutdown => {
                return Ok(CloseReason::new(CloseCode::GoingAway, "server shutting down"));
            }
            frame = direct.recv() => match frame {
                Some(frame) => send_frame(sink, Message::Binary(frame)).await?,
                None => return Ok(document_stopped()),
            },
            received = broadcast.recv() => {
                let mut frames = Vec::new();
                match received {
                    Ok(item) => {
                        if item.origin != Some(conn) {
                            frames.push(item.frame.clone());
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n_missed)) => return Err(fell_behind(conn, n_missed)),
                    Err(broadcast::error::RecvError::Closed) => return Ok(document_stopped()),
                }
                // Frames already queued go out with the same flush: a connection that fell a
                // little behind catches up in one write, not one per frame.
                while frames.len() < MAX_FRAMES_PER_FLUSH {
                    match broadcast.try_recv() {
                        Ok(item) => {
                            if item.origin != Some(conn) {
                                frames.push(item.frame.clone());
                            }
                        }
                        Err(broadcast::error::TryRecvError::Lagged(n_missed)) => return Err(fell_behind(conn, n_missed)),
                        Err(broadcast::error::TryRecvError::Closed) => return Ok(document_stopped()),
                        Err(broadcast::error::TryRecvError::Empty) => break,
                    }
                }
                send_frames(sink, frames).await?;
            }
            _ = ping.tick() => send_frame(sink, Message::Ping(Bytes::new())).await?,
        }
    }
}
