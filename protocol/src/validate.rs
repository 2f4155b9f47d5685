//! Structural check of an inbound y-websocket frame, run before yrs decodes any of it.
//!
//! [`check_frame`] walks the frame exactly as yrs 0.28's v1 decoders will (`Message::decode`,
//! `StateVector`, `Update`, `ItemContent`, `Any`, `IdSet`, `AwarenessUpdate`) and refuses anything
//! that could make yrs abort the process or allocate far more than the frame:
//!
//! - nesting: `Any` arrays and maps (decoded recursively by yrs) and JSON texts (parsed by
//!   serde_json) deeper than [`FrameLimits::max_nesting_depth`];
//! - counts: every count yrs hands to `try_reserve` must fit in the bytes left in its enclosing
//!   buffer, at the smallest encoded size of one element;
//! - integers: varints longer than their type, client ids of 2^53 or more (yrs
//!   `debug_assert`s on them and folds them onto smaller ids in release), clock ranges past
//!   `u32::MAX` (yrs adds them in `u32` and panics on overflow in debug builds), signed varints
//!   yrs would shift or negate out of range;
//! - legacy JSON item content, which yrs decodes and encodes differently;
//! - repeated clients: an update listing one client twice makes yrs give two items one id;
//! - truncation: yrs's `MessageReader` silently stops at the first message that ends early, so
//!   every message must be complete and every nested buffer must be consumed exactly.
//!
//! This module must not recurse on client input, allocate more than a small multiple of the
//! frame, or call into yrs: it only reads bytes.

use crate::{FrameError, FrameLimits};

#[cfg(test)]
mod tests;

/// Message types of the y-websocket protocol.
const MSG_SYNC: u32 = 0;
const MSG_AWARENESS: u32 = 1;
const MSG_AUTH: u32 = 2;
const MSG_QUERY_AWARENESS: u32 = 3;

/// Sub-types of a sync message.
const SYNC_STEP_1: u32 = 0;
const SYNC_STEP_2: u32 = 1;
const SYNC_UPDATE: u32 = 2;

/// `info` values of a struct that is not an item (yrs matches the whole byte).
const STRUCT_GC: u8 = 0;
const STRUCT_SKIP: u8 = 10;
/// Flag bits of an item's `info` byte.
const HAS_ORIGIN: u8 = 0x80;
const HAS_RIGHT_ORIGIN: u8 = 0x40;
const HAS_PARENT_SUB: u8 = 0x20;
/// Yjs never sets this bit; yrs ignores it and Yjs fails on it.
const UNUSED_INFO_BIT: u8 = 0x10;
/// yrs reads an item's content type from the low four bits.
const CONTENT_MASK: u8 = 0x0f;

/// Item content types.
const CONTENT_DELETED: u8 = 1;
const CONTENT_JSON: u8 = 2;
const CONTENT_BINARY: u8 = 3;
const CONTENT_STRING: u8 = 4;
const CONTENT_EMBED: u8 = 5;
const CONTENT_FORMAT: u8 = 6;
const CONTENT_TYPE: u8 = 7;
const CONTENT_ANY: u8 = 8;
const CONTENT_DOC: u8 = 9;

/// Shared type refs yrs 0.28 decodes without its `weak` feature; only XmlElement carries a name
/// (yrs reads nothing after XmlHook, unlike Yjs).
const TYPE_REF_XML_ELEMENT: u8 = 3;
const TYPE_REFS_WITHOUT_NAME: [u8; 7] = [0, 1, 2, 4, 5, 6, 9];
const TYPE_REF_UNDEFINED: u8 = 15;

/// lib0 `Any` tags.
const ANY_UNDEFINED: u8 = 127;
const ANY_NULL: u8 = 126;
const ANY_VARINT: u8 = 125;
const ANY_F32: u8 = 124;
const ANY_F64: u8 = 123;
const ANY_BIGINT: u8 = 122;
const ANY_FALSE: u8 = 121;
const ANY_TRUE: u8 = 120;
const ANY_STRING: u8 = 119;
const ANY_MAP: u8 = 118;
const ANY_ARRAY: u8 = 117;
const ANY_BUFFER: u8 = 116;

/// yrs turns client ids into a 53-bit `ClientID` (the JavaScript safe-integer range).
const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// Smallest encoded size, in bytes, of one element of each counted sequence.
const MIN_SV_ENTRY_BYTES: u64 = 2; // client, clock
const MIN_CLIENT_STRUCTS_BYTES: u64 = 3; // n_structs, client, clock
const MIN_STRUCT_BYTES: u64 = 2; // info, one varint
const MIN_DS_CLIENT_BYTES: u64 = 2; // client, n_ranges
const MIN_DS_RANGE_BYTES: u64 = 2; // clock, len
const MIN_AWARENESS_ENTRY_BYTES: u64 = 3; // client, clock, state
const MIN_ANY_BYTES: u64 = 1; // tag
const MIN_ANY_MAP_ENTRY_BYTES: u64 = 2; // key, value tag

/// Checks that `frame` is one or more complete y-websocket messages that yrs can decode without
/// deep recursion or allocations out of proportion to the frame, within `limits`.
///
/// A frame that passes still may not decode (for example a JSON embed that is not JSON): this
/// checks structure, not meaning.
pub fn check_frame(frame: &[u8], limits: &FrameLimits) -> Result<(), FrameError> {
    scan_frame(frame, limits).map(|_| ())
}

/// [`check_frame`], returning how many messages the frame holds, so that the decoder can tell
/// when yrs read fewer of them than there are.
pub(crate) fn scan_frame(frame: &[u8], limits: &FrameLimits) -> Result<usize, FrameError> {
    if frame.len() > limits.max_frame_bytes {
        return Err(FrameError::TooLarge {
            n_bytes: frame.len(),
            max_bytes: limits.max_frame_bytes,
        });
    }
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut reader = Reader::new(frame);
    let mut n_messages = 0usize;
    while !reader.is_at_end() {
        n_messages += 1;
        if n_messages > limits.max_messages_per_frame {
            return Err(FrameError::TooManyMessages);
        }
        check_message(&mut reader, limits)?;
    }
    Ok(n_messages)
}

/// One message: `Message::decode` in yrs's `sync/protocol.rs`.
fn check_message(reader: &mut Reader<'_>, limits: &FrameLimits) -> Result<(), FrameError> {
    match reader.var_u32()? {
        MSG_SYNC => match reader.var_u32()? {
            SYNC_STEP_1 => check_state_vector(reader.buf()?),
            SYNC_STEP_2 | SYNC_UPDATE => check_update(reader.buf()?, limits),
            other => Err(FrameError::UnknownSyncType(u64::from(other))),
        },
        MSG_AWARENESS => check_awareness(reader.buf()?, limits),
        MSG_AUTH => {
            // yrs reads the permission as a `u8` varint; 0 (denied) is followed by a reason.
            let permission = reader.var_u32()?;
            if permission > u32::from(u8::MAX) {
                return Err(FrameError::BadVarint);
            }
            if permission == 0 {
                reader.string()?;
            }
            Ok(())
        }
        MSG_QUERY_AWARENESS => Ok(()),
        other => Err(FrameError::UnknownMessageType(u64::from(other))),
    }
}

/// `StateVector::decode`: a count of (client, clock) pairs.
fn check_state_vector(buf: &[u8]) -> Result<(), FrameError> {
    let mut reader = Reader::new(buf);
    let n_entries = reader.var_u32()?;
    reader.fits(u64::from(n_entries), MIN_SV_ENTRY_BYTES)?;
    for _ in 0..n_entries {
        reader.client_id()?;
        reader.var_u32()?;
    }
    reader.expect_end("state vector")
}

/// Items of an update whose content is a shared type or a subdocument, by id, as listed by
/// [`nested_content`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NestedContent {
    /// `(client, clock)` of every item holding a shared type.
    pub type_items: Vec<(u64, u32)>,
    /// Number of items holding a subdocument.
    pub n_subdocs: usize,
}

/// Lists the shared-type and subdocument items of a v1 `update`, checking its structure as
/// [`check_frame`] does. The server runs it on the deltas yrs re-encodes, to bound how deeply
/// shared types nest, which no single frame can show.
pub fn nested_content(update: &[u8], limits: &FrameLimits) -> Result<NestedContent, FrameError> {
    let mut nested = NestedContent::default();
    scan_update(update, limits, &mut nested)?;
    Ok(nested)
}

/// `Update::decode`: structs per client, then the delete set, and nothing after it.
fn check_update(buf: &[u8], limits: &FrameLimits) -> Result<(), FrameError> {
    scan_update(buf, limits, &mut NestedContent::default())
}

fn scan_update(
    buf: &[u8],
    limits: &FrameLimits,
    nested: &mut NestedContent,
) -> Result<(), FrameError> {
    let mut reader = Reader::new(buf);
    let n_clients = reader.var_u32()?;
    reader.fits(u64::from(n_clients), MIN_CLIENT_STRUCTS_BYTES)?;
    // At most a third of the buffer's length: the count was checked against it.
    let mut clients = Vec::with_capacity(n_clients as usize);
    for _ in 0..n_clients {
        let n_structs = reader.var_u32()?;
        let client = reader.client_id()?;
        clients.push(client);
        // yrs adds every struct's length to this `u32` clock.
        let mut clock = u64::from(reader.var_u32()?);
        reader.fits(u64::from(n_structs), MIN_STRUCT_BYTES)?;
        for _ in 0..n_structs {
            let (len, content) = check_struct(&mut reader, limits)?;
            match content {
                // `clock` is at most u32::MAX here (checked after every struct).
                Some(CONTENT_TYPE) => nested.type_items.push((client, clock as u32)),
                Some(CONTENT_DOC) => nested.n_subdocs += 1,
                _ => {}
            }
            clock += u64::from(len);
            if clock > u64::from(u32::MAX) {
                return Err(FrameError::Malformed("clock range"));
            }
        }
    }
    // yrs appends a repeated client's structs to the first run, clocks restarting, so two
    // items can share one id; Yjs and yrs never write a client twice.
    clients.sort_unstable();
    if clients.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(FrameError::Malformed("duplicate client"));
    }
    check_delete_set(&mut reader)?;
    reader.expect_end("update")
}

/// `Update::decode_block`: one GC, skip or item struct. Returns the number of clock ticks it
/// takes, as yrs counts them, and the content kind of an item.
fn check_struct(
    reader: &mut Reader<'_>,
    limits: &FrameLimits,
) -> Result<(u32, Option<u8>), FrameError> {
    let info = reader.u8()?;
    if info == STRUCT_GC || info == STRUCT_SKIP {
        let len = reader.var_u32()?;
        if len == 0 {
            return Err(FrameError::Malformed("empty block"));
        }
        return Ok((len, None));
    }
    if info & UNUSED_INFO_BIT != 0 {
        return Err(FrameError::Malformed("struct info"));
    }
    let content = info & CONTENT_MASK;
    if !(CONTENT_DELETED..=CONTENT_DOC).contains(&content) {
        return Err(FrameError::Malformed("content type"));
    }
    if info & HAS_ORIGIN != 0 {
        reader.id()?;
    }
    if info & HAS_RIGHT_ORIGIN != 0 {
        reader.id()?;
    }
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        // The parent is named (a root type) when the parent info is 1, else it is an item id.
        if reader.var_u32()? == 1 {
            reader.string()?;
        } else {
            reader.id()?;
        }
        if info & HAS_PARENT_SUB != 0 {
            reader.string()?;
        }
    }
    Ok((check_content(reader, content, limits)?, Some(content)))
}

/// `ItemContent::decode`. Returns the content's length in clock ticks (yrs's `len_utf16`).
fn check_content(
    reader: &mut Reader<'_>,
    content: u8,
    limits: &FrameLimits,
) -> Result<u32, FrameError> {
    let depth = limits.max_nesting_depth;
    match content {
        CONTENT_DELETED => reader.var_u32(),
        // yrs 0.28 decodes JSON content as count + 1 strings (`while remaining >= 0`) but
        // encodes it as count strings, so a document holding one can no longer be encoded:
        // `encode_state_as_update_v1` then panics on its own output. Current Yjs writes `Any`
        // content instead and reads this legacy content only from old documents.
        CONTENT_JSON => Err(FrameError::Malformed("json content")),
        CONTENT_BINARY => reader.buf().map(|_| 1),
        CONTENT_STRING => {
            let text = reader.string()?;
            // Bounded by the frame length, which yrs reads as a `u32`.
            Ok(text.encode_utf16().count() as u32)
        }
        CONTENT_EMBED => {
            check_json_depth(reader.string()?, depth)?;
            Ok(1)
        }
        CONTENT_FORMAT => {
            reader.string()?;
            check_json_depth(reader.string()?, depth)?;
            Ok(1)
        }
        CONTENT_TYPE => {
            // A raw byte, not a varint.
            let type_ref = reader.u8()?;
            if type_ref == TYPE_REF_XML_ELEMENT {
                reader.string()?;
            } else if !TYPE_REFS_WITHOUT_NAME.contains(&type_ref) && type_ref != TYPE_REF_UNDEFINED
            {
                return Err(FrameError::Malformed("type ref"));
            }
            Ok(1)
        }
        CONTENT_ANY => {
            let n_values = reader.var_u32()?;
            reader.fits(u64::from(n_values), MIN_ANY_BYTES)?;
            for _ in 0..n_values {
                check_any(reader, depth)?;
            }
            Ok(n_values)
        }
        CONTENT_DOC => {
            reader.string()?;
            check_any(reader, depth)?;
            Ok(1)
        }
        _ => Err(FrameError::Malformed("content type")),
    }
}

/// `IdSet::decode`: ranges of deleted clocks per client.
fn check_delete_set(reader: &mut Reader<'_>) -> Result<(), FrameError> {
    let n_clients = reader.var_u32()?;
    reader.fits(u64::from(n_clients), MIN_DS_CLIENT_BYTES)?;
    for _ in 0..n_clients {
        reader.client_id()?;
        let n_ranges = reader.var_u32()?;
        reader.fits(u64::from(n_ranges), MIN_DS_RANGE_BYTES)?;
        for _ in 0..n_ranges {
            let clock = reader.var_u32()?;
            let len = reader.var_u32()?;
            if clock.checked_add(len).is_none() {
                return Err(FrameError::Malformed("clock range"));
            }
        }
    }
    Ok(())
}

/// `AwarenessUpdate::decode`: (client, clock, JSON state) entries.
fn check_awareness(buf: &[u8], limits: &FrameLimits) -> Result<(), FrameError> {
    let mut reader = Reader::new(buf);
    let n_entries = reader.var_u64()?;
    reader.fits(n_entries, MIN_AWARENESS_ENTRY_BYTES)?;
    for _ in 0..n_entries {
        reader.client_id()?;
        // yrs adds 1 to the clock of a state that claims to remove the server's own.
        if reader.var_u32()? == u32::MAX {
            return Err(FrameError::Malformed("awareness clock"));
        }
        let state = reader.string()?;
        if state.len() > limits.max_awareness_state_bytes {
            return Err(FrameError::AwarenessStateTooLarge {
                max_bytes: limits.max_awareness_state_bytes,
            });
        }
        check_json_depth(state, limits.max_nesting_depth)?;
    }
    reader.expect_end("awareness update")
}

/// `Any::decode`, without recursion: `open` holds how many values each enclosing array or map
/// still holds, so its length is the current nesting depth.
fn check_any(reader: &mut Reader<'_>, max_depth: usize) -> Result<(), FrameError> {
    struct Open {
        n_left: u64,
        is_map: bool,
    }
    let mut open: Vec<Open> = Vec::new();
    loop {
        if open.last().is_some_and(|container| container.is_map) {
            reader.string()?;
        }
        let tag = reader.u8()?;
        match tag {
            ANY_UNDEFINED | ANY_NULL | ANY_FALSE | ANY_TRUE => {}
            ANY_VARINT => reader.var_i64()?,
            ANY_F32 => reader.skip(4)?,
            ANY_F64 | ANY_BIGINT => reader.skip(8)?,
            ANY_STRING => {
                reader.string()?;
            }
            ANY_BUFFER => {
                reader.buf()?;
            }
            ANY_MAP | ANY_ARRAY => {
                // yrs recurses once per container, empty or not.
                if open.len() >= max_depth {
                    return Err(FrameError::TooDeep { max_depth });
                }
                let is_map = tag == ANY_MAP;
                let n_values = reader.var_u64()?;
                let min_bytes = if is_map {
                    MIN_ANY_MAP_ENTRY_BYTES
                } else {
                    MIN_ANY_BYTES
                };
                reader.fits(n_values, min_bytes)?;
                if n_values > 0 {
                    open.push(Open {
                        n_left: n_values,
                        is_map,
                    });
                    continue;
                }
            }
            _ => return Err(FrameError::Malformed("any value")),
        }
        // One value is complete: count it against its container, closing every container
        // that this completes.
        loop {
            let Some(container) = open.last_mut() else {
                return Ok(());
            };
            container.n_left -= 1;
            if container.n_left > 0 {
                break;
            }
            open.pop();
        }
    }
}

/// Refuses JSON text whose arrays and objects nest deeper than `max_depth`. Brackets inside
/// string literals do not count. The grammar is left to serde_json, which fails cleanly.
fn check_json_depth(text: &str, max_depth: usize) -> Result<(), FrameError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(FrameError::TooDeep { max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Whether seven varint `bits` placed at `shift` stay within `max_bits` bits.
fn fits_in(bits: u64, shift: u32, max_bits: u32) -> bool {
    match max_bits.checked_sub(shift) {
        None | Some(0) => false,
        Some(room) if room < 7 => bits >> room == 0,
        Some(_) => true,
    }
}

/// A cursor over one buffer that reads lib0 encodings and never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn expect_end(&self, what: &'static str) -> Result<(), FrameError> {
        if self.is_at_end() {
            Ok(())
        } else {
            Err(FrameError::TrailingBytes(what))
        }
    }

    /// Refuses a count of elements that could not fit in what is left, at `min_bytes` each.
    fn fits(&self, count: u64, min_bytes: u64) -> Result<(), FrameError> {
        match count.checked_mul(min_bytes) {
            Some(n_bytes) if n_bytes <= self.remaining() as u64 => Ok(()),
            _ => Err(FrameError::LengthExceedsFrame),
        }
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        let byte = *self.buf.get(self.pos).ok_or(FrameError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    /// Skips a fixed-size field.
    fn skip(&mut self, n_bytes: usize) -> Result<(), FrameError> {
        if n_bytes > self.remaining() {
            return Err(FrameError::Truncated);
        }
        self.pos += n_bytes;
        Ok(())
    }

    /// An unsigned lib0 varint of at most `max_bits` bits (32 or 64). yrs reads up to ten bytes
    /// for every width and wraps the excess; here any bit beyond `max_bits` is refused.
    fn var_uint(&mut self, max_bits: u32) -> Result<u64, FrameError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if !fits_in(bits, shift, max_bits) {
                return Err(FrameError::BadVarint);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn var_u32(&mut self) -> Result<u32, FrameError> {
        // `var_uint(32)` never returns more than 32 bits.
        self.var_uint(32).map(|value| value as u32)
    }

    fn var_u64(&mut self) -> Result<u64, FrameError> {
        self.var_uint(64)
    }

    /// A signed lib0 varint: sign and six bits in the first byte, seven in each next one.
    /// yrs's `read_var_i64` panics in debug builds on an eleventh byte (shift overflow) and on
    /// a magnitude of 2^63 (negation overflow), so the magnitude must fit in 63 bits.
    fn var_i64(&mut self) -> Result<(), FrameError> {
        let first = self.u8()?;
        let mut more = first & 0x80 != 0;
        let mut shift = 6u32;
        while more {
            let byte = self.u8()?;
            if !fits_in(u64::from(byte & 0x7f), shift, 63) {
                return Err(FrameError::BadVarint);
            }
            more = byte & 0x80 != 0;
            shift += 7;
        }
        Ok(())
    }

    /// A client id, which yrs keeps in 53 bits.
    fn client_id(&mut self) -> Result<u64, FrameError> {
        let client = self.var_u64()?;
        if client > MAX_CLIENT_ID {
            return Err(FrameError::Malformed("client id"));
        }
        Ok(client)
    }

    /// An item id: client and clock.
    fn id(&mut self) -> Result<(), FrameError> {
        self.client_id()?;
        self.var_u32()?;
        Ok(())
    }

    /// A length-prefixed byte buffer (the length is a `u32` varint in yrs).
    fn buf(&mut self) -> Result<&'a [u8], FrameError> {
        let len = self.var_u32()? as usize;
        if len > self.remaining() {
            return Err(FrameError::LengthExceedsFrame);
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// A length-prefixed UTF-8 string.
    fn string(&mut self) -> Result<&'a str, FrameError> {
        std::str::from_utf8(self.buf()?).map_err(|_| FrameError::InvalidUtf8)
    }
}
