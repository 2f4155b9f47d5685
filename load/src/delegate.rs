//! One simulated delegate: a real TCP/WebSocket connection speaking y-websocket, with its own
//! yrs replica and awareness state.
//!
//! The handshake is the npm `y-websocket` client's: on open, send our SyncStep1 and our
//! awareness state; answer the server's SyncStep1 with a SyncStep2 holding what the server
//! lacks; count as synced when the server's SyncStep2 has been applied. Awareness is renewed
//! by the caller every 15 s, as the npm client does. Pings are answered by tungstenite while
//! reading. Live updates are counted and, for latency-sampling delegates, decoded for their
//! state vector; they are not integrated into the replica (that would make the load process,
//! not the server, the bottleneck at 1,500 connections on two cores).
//!
//! Nothing here panics on what the server sends: undecodable frames are errors returned to the
//! caller, which counts them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use manifesto_protocol::{decode_frame, encode_awareness, encode_sync_step1, encode_sync_step2};
use manifesto_protocol::{FrameLimits, InboundMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::AwarenessUpdate;
use yrs::{ClientID, Doc, OffsetKind, Options, ReadTxn, StateVector, Transact, Update};

/// The WebSocket stream of one delegate.
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest frame the load tool accepts: a whole 260k-edit document arrives in one SyncStep2.
const MAX_INBOUND_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// Why a delegate could not connect or lost its connection. `reason()` gives a short,
/// aggregatable category for reports.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TCP connection or WebSocket upgrade failed.
    #[error("connect failed: {0}")]
    Connect(Box<tungstenite::Error>),
    /// The server did not complete the handshake in time.
    #[error("no SyncStep2 from the server within {0:?}")]
    HandshakeTimeout(Duration),
    /// The server closed the connection.
    #[error("server closed the connection ({0})")]
    Closed(String),
    /// Reading or writing the socket failed.
    #[error("socket error: {0}")]
    Socket(Box<tungstenite::Error>),
    /// The server sent something that is not y-websocket.
    #[error("undecodable frame from the server: {0}")]
    Protocol(String),
}

impl SessionError {
    /// A short category for aggregating errors in reports.
    pub fn reason(&self) -> String {
        match self {
            SessionError::Connect(e) => format!("connect: {}", error_category(e)),
            SessionError::HandshakeTimeout(_) => "handshake timeout".to_owned(),
            SessionError::Closed(code) => code.clone(),
            SessionError::Socket(e) => error_category(e),
            SessionError::Protocol(_) => "undecodable frame".to_owned(),
        }
    }
}

fn error_category(e: &tungstenite::Error) -> String {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(io) => format!("io {:?}", io.kind()),
        tungstenite::Error::Http(response) => format!("http {}", response.status().as_u16()),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            "reset without close".to_owned()
        }
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "closed".to_owned()
        }
        other => {
            let text = other.to_string();
            text.chars().take(60).collect()
        }
    }
}

/// What a received frame was.
#[derive(Debug)]
pub enum Received {
    /// A document update; its state vector when the caller asked for decoding.
    Update(Option<StateVector>),
    /// The server's SyncStep2 (answer to our SyncStep1), now applied to the replica.
    SyncStep2 { bytes: usize },
    /// Awareness, the server's SyncStep1 (answered), or anything else.
    Other,
    /// An awareness message (not decoded).
    Awareness,
}

/// The end of a handshake: the server's SyncStep2, applied.
#[derive(Debug, Clone, Copy)]
pub struct Synced {
    /// Size of the SyncStep2 frame, in bytes.
    pub bytes: usize,
    /// When the frame was read, before this client applied it: a server's time to serve a
    /// full sync ends here, whatever this client then spends integrating the document.
    pub received_at: Instant,
}

/// One simulated delegate.
pub struct Delegate {
    /// The replica: the document as of the last handshake, plus our own edits.
    pub doc: Doc,
    awareness_clock: u32,
    awareness_json: Arc<str>,
    publish_awareness: bool,
    limits: FrameLimits,
    ws: Option<WsStream>,
}

impl Delegate {
    /// A delegate with client id `client_id` (used for both the document and awareness) and a
    /// display name published in its awareness state.
    pub fn new(client_id: ClientID, display_name: &str) -> Delegate {
        let doc = Doc::with_options(Options {
            client_id,
            offset_kind: OffsetKind::Utf16,
            ..Options::default()
        });
        let awareness_json: Arc<str> = serde_json::json!({ "user": { "name": display_name } })
            .to_string()
            .into();
        let limits = FrameLimits {
            max_frame_bytes: MAX_INBOUND_FRAME_BYTES,
            max_messages_per_frame: 1024,
            ..FrameLimits::default()
        };
        Delegate {
            doc,
            awareness_clock: 0,
            awareness_json,
            publish_awareness: true,
            limits,
            ws: None,
        }
    }

    /// Whether this delegate publishes an awareness state (on connect and on renewal); on by
    /// default, as in the npm client.
    pub fn set_publish_awareness(&mut self, publish: bool) {
        self.publish_awareness = publish;
    }

    /// The replica's client id.
    pub fn client_id(&self) -> ClientID {
        self.doc.client_id()
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.ws.is_some()
    }

    /// Connects to `url` and runs the handshake until the server's SyncStep2 is applied, or
    /// `timeout` passes. Any previous connection is dropped first, without a close handshake,
    /// as when a network link fails.
    pub async fn sync(&mut self, url: &str, timeout: Duration) -> Result<Synced, SessionError> {
        self.ws = None;
        let deadline = Instant::now() + timeout;
        let config = WebSocketConfig::default()
            // tungstenite zeroes this much before every read: small, like the frames here.
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_INBOUND_FRAME_BYTES))
            .max_frame_size(Some(MAX_INBOUND_FRAME_BYTES));
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        let (ws, _response) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| SessionError::HandshakeTimeout(timeout))?
            .map_err(|e| SessionError::Connect(Box::new(e)))?;
        self.ws = Some(ws);
        let step1 = encode_sync_step1(&self.doc.transact().state_vector());
        self.send(step1).await?;
        self.send_awareness().await?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(remaining, self.next_frame())
                .await
                .map_err(|_| SessionError::HandshakeTimeout(timeout))??;
            let received_at = Instant::now();
            if let Received::SyncStep2 { bytes } = self.handle_frame(&frame, false).await? {
                return Ok(Synced { bytes, received_at });
            }
        }
    }

    /// Sends a binary frame.
    pub async fn send(&mut self, frame: Vec<u8>) -> Result<(), SessionError> {
        let ws = self
            .ws
            .as_mut()
            .ok_or(SessionError::Closed("not connected".into()))?;
        ws.send(Message::Binary(frame.into()))
            .await
            .map_err(|e| SessionError::Socket(Box::new(e)))
    }

    /// Publishes (or renews) this delegate's awareness state, bumping its clock as the npm
    /// client's `setLocalState` does.
    pub async fn send_awareness(&mut self) -> Result<(), SessionError> {
        if !self.publish_awareness {
            return Ok(());
        }
        self.awareness_clock += 1;
        let entry = AwarenessUpdateEntry {
            clock: self.awareness_clock,
            json: self.awareness_json.clone(),
        };
        let update = AwarenessUpdate {
            clients: HashMap::from([(self.client_id(), entry)]),
        };
        self.send(encode_awareness(update)).await
    }

    /// Waits for the next binary frame; pings are answered inside tungstenite.
    pub async fn next_frame(&mut self) -> Result<Vec<u8>, SessionError> {
        let ws = self
            .ws
            .as_mut()
            .ok_or(SessionError::Closed("not connected".into()))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => return Ok(bytes.into()),
                Some(Ok(Message::Close(frame))) => {
                    let code = match frame {
                        Some(f) => format!("close {}", u16::from(f.code)),
                        None => "close without code".to_owned(),
                    };
                    self.ws = None;
                    return Err(SessionError::Closed(code));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.ws = None;
                    return Err(SessionError::Socket(Box::new(e)));
                }
                None => {
                    self.ws = None;
                    return Err(SessionError::Closed("eof without close".into()));
                }
            }
        }
    }

    /// Handles one frame: answers a SyncStep1, applies a SyncStep2, and classifies the rest.
    /// Updates are decoded (for their state vector) only when `decode_updates` is set.
    pub async fn handle_frame(
        &mut self,
        frame: &[u8],
        decode_updates: bool,
    ) -> Result<Received, SessionError> {
        let (received, replies) = self.process_frame(frame, decode_updates)?;
        for reply in replies {
            self.send(reply).await?;
        }
        Ok(received)
    }

    /// The synchronous part of [`Delegate::handle_frame`]: yrs values are not `Send`, so they
    /// must not live across an await; replies are returned instead of sent.
    fn process_frame(
        &mut self,
        frame: &[u8],
        decode_updates: bool,
    ) -> Result<(Received, Vec<Vec<u8>>), SessionError> {
        match frame {
            [1, ..] => return Ok((Received::Awareness, Vec::new())),
            [0, 2, ..] if !decode_updates => return Ok((Received::Update(None), Vec::new())),
            _ => {}
        }
        let messages =
            decode_frame(frame, &self.limits).map_err(|e| SessionError::Protocol(e.to_string()))?;
        let mut received = Received::Other;
        let mut replies = Vec::new();
        for message in messages {
            match message {
                InboundMessage::SyncStep1(sv) => {
                    let diff = self.doc.transact().encode_diff_v1(&sv);
                    replies.push(encode_sync_step2(diff));
                }
                InboundMessage::SyncStep2(update) => {
                    self.doc
                        .transact_mut()
                        .apply_update(update)
                        .map_err(|e| SessionError::Protocol(e.to_string()))?;
                    received = Received::SyncStep2 { bytes: frame.len() };
                }
                InboundMessage::Update(update) => {
                    received = Received::Update(Some(clock_upper_bounds(&update)));
                }
                InboundMessage::Awareness(_) | InboundMessage::AwarenessQuery => {
                    received = Received::Awareness;
                }
                InboundMessage::Auth => {}
            }
        }
        Ok((received, replies))
    }

    /// Sends a close frame and waits briefly for the server's; errors are ignored because
    /// the connection is being abandoned anyway.
    pub async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
    }
}

/// For each client with items in `update`, the clock after its last item. Unlike
/// `Update::state_vector`, which is empty unless a client's blocks start at clock 0, this
/// works for the incremental updates a server relays.
pub fn clock_upper_bounds(update: &Update) -> StateVector {
    let mut bounds = StateVector::default();
    for (client, ranges) in update.insertions(true).iter() {
        if let Some(end) = ranges.iter().map(|r| r.end).max() {
            bounds.set_max(*client, end);
        }
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{GetString, Text};

    #[test]
    fn upper_bounds_of_an_incremental_update() {
        let doc = Doc::with_client_id(5);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "abc");
        let update = {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 1, "xy");
            txn.encode_update_v1()
        };
        let update = Update::decode_v1(&update).unwrap();
        assert!(
            update.state_vector().is_empty(),
            "yrs's own state vector needs clock 0"
        );
        assert_eq!(clock_upper_bounds(&update).get(&ClientID::new(5)), 5);
        assert_eq!(text.get_string(&doc.transact()), "axybc");
    }
}
