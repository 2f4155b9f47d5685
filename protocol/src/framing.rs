//! y-websocket framing on top of `yrs::sync`: decode an inbound frame into the messages the
//! server acts on, and encode each outbound message once.
//!
//! Decoding always runs [`crate::check_frame`] first, so yrs only ever sees bytes whose
//! lengths, counts and nesting are within [`FrameLimits`].

use yrs::sync::{AwarenessUpdate, Message, MessageReader, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{StateVector, Update};

use crate::validate::scan_frame;
use crate::{FrameError, FrameLimits};

/// One decoded inbound y-websocket message, in the form the server acts on.
#[derive(Debug)]
pub enum InboundMessage {
    /// The peer's state vector: answer with a SyncStep2 holding what it lacks.
    SyncStep1(StateVector),
    /// What the peer has that the server lacks, in answer to the server's SyncStep1.
    SyncStep2(Update),
    /// An incremental update made by the peer.
    Update(Update),
    /// Presence and cursor states.
    Awareness(AwarenessUpdate),
    /// A request for every known awareness state.
    AwarenessQuery,
    /// An auth message; clients do not send these, and the server ignores them.
    Auth,
}

/// Checks the structure of `frame`, then decodes every message in it.
pub fn decode_frame(frame: &[u8], limits: &FrameLimits) -> Result<Vec<InboundMessage>, FrameError> {
    // `scan_frame` is `check_frame`, also counting the messages.
    let n_messages = scan_frame(frame, limits)?;
    let mut decoder = DecoderV1::from(frame);
    let mut messages = Vec::new();
    for message in MessageReader::new(&mut decoder) {
        let message = message.map_err(|_| FrameError::Undecodable("message"))?;
        messages.push(match message {
            Message::Sync(SyncMessage::SyncStep1(sv)) => InboundMessage::SyncStep1(sv),
            Message::Sync(SyncMessage::SyncStep2(bytes)) => InboundMessage::SyncStep2(
                Update::decode_v1(&bytes).map_err(|_| FrameError::Undecodable("update"))?,
            ),
            Message::Sync(SyncMessage::Update(bytes)) => InboundMessage::Update(
                Update::decode_v1(&bytes).map_err(|_| FrameError::Undecodable("update"))?,
            ),
            Message::Awareness(update) => InboundMessage::Awareness(update),
            Message::AwarenessQuery => InboundMessage::AwarenessQuery,
            Message::Auth(_) => InboundMessage::Auth,
            // check_frame refuses unknown message types, so yrs never yields a custom one.
            Message::Custom(tag, _) => return Err(FrameError::UnknownMessageType(u64::from(tag))),
        });
    }
    // yrs's `MessageReader` ends quietly at a message that runs out of bytes; the scan rules
    // that out, and this keeps a disagreement between the two from dropping a message unseen.
    if messages.len() != n_messages {
        return Err(FrameError::Undecodable("message count"));
    }
    Ok(messages)
}

fn encode_message(message: &Message) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    message.encode(&mut encoder);
    encoder.to_vec()
}

/// A SyncStep1 frame carrying `state_vector`.
pub fn encode_sync_step1(state_vector: &StateVector) -> Vec<u8> {
    encode_message(&Message::Sync(SyncMessage::SyncStep1(state_vector.clone())))
}

/// A SyncStep2 frame carrying a v1-encoded `update`.
pub fn encode_sync_step2(update: Vec<u8>) -> Vec<u8> {
    encode_message(&Message::Sync(SyncMessage::SyncStep2(update)))
}

/// An Update frame carrying a v1-encoded `update`.
pub fn encode_update(update: Vec<u8>) -> Vec<u8> {
    encode_message(&Message::Sync(SyncMessage::Update(update)))
}

/// An awareness frame carrying `update`.
pub fn encode_awareness(update: AwarenessUpdate) -> Vec<u8> {
    encode_message(&Message::Awareness(update))
}

/// The `[2, 0, reason]` auth frame that tells an unmodified y-websocket client its writes are
/// refused (it logs the reason and keeps the connection).
pub fn encode_auth_denied(reason: &str) -> Vec<u8> {
    encode_message(&Message::Auth(Some(reason.to_owned())))
}
