//! Frames made by yrs itself, and a harness that feeds any frame through `decode_frame` and
//! then through a fresh yrs document, counting panics.
//!
//! Shared by several test crates, each of which uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use manifesto_protocol::yrs::sync::Awareness;
use manifesto_protocol::yrs::types::Attrs;
use manifesto_protocol::yrs::updates::decoder::Decode;
use manifesto_protocol::yrs::updates::encoder::Encode;
use manifesto_protocol::yrs::{
    Any, Array, ArrayPrelim, Doc, Map, MapPrelim, Options, ReadTxn, StateVector, Text, Transact,
    Update, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};
use manifesto_protocol::{
    check_frame, decode_frame, encode_auth_denied, encode_awareness, encode_sync_step1,
    encode_sync_step2, encode_update, FrameError, FrameLimits, InboundMessage,
};

/// An `Any` of exactly `depth` nested containers, alternating arrays and maps.
pub fn nested_any(depth: usize) -> Any {
    let mut value = Any::from("leaf");
    for level in 0..depth {
        value = if level % 2 == 0 {
            Any::Array(Arc::from(vec![value, Any::Null]))
        } else {
            Any::Map(Arc::new(HashMap::from([("k".to_owned(), value)])))
        };
    }
    value
}

/// A document with one of everything the editor and the protocol can carry, and the v1 update
/// of each transaction that built it.
pub struct SampleDoc {
    pub doc: Doc,
    pub updates: Vec<Vec<u8>>,
}

fn transact(
    doc: &Doc,
    updates: &mut Vec<Vec<u8>>,
    edit: impl FnOnce(&mut manifesto_protocol::yrs::TransactionMut),
) {
    let mut txn = doc.transact_mut();
    edit(&mut txn);
    updates.push(txn.encode_update_v1());
}

/// Formatted text with embeds, surrogate pairs and deletions.
pub fn text_doc() -> SampleDoc {
    let doc = Doc::with_client_id(11);
    let text = doc.get_or_insert_text("body");
    let mut updates = Vec::new();
    let bold = Attrs::from([(Arc::from("bold"), Any::Bool(true))]);
    let link = Attrs::from([(
        Arc::from("link"),
        Any::from("https://example.org/?q=[{\"x\"}]"),
    )]);
    transact(&doc, &mut updates, |txn| {
        text.insert(txn, 0, "The Manifesto of 😀 unité")
    });
    transact(&doc, &mut updates, |txn| {
        text.format(txn, 4, 9, bold.clone())
    });
    transact(&doc, &mut updates, |txn| {
        text.insert_with_attributes(txn, 0, "Preamble: ", link)
    });
    transact(&doc, &mut updates, |txn| {
        text.insert_embed(
            txn,
            3,
            Any::Map(Arc::new(HashMap::from([
                ("image".to_owned(), Any::from("figure.png")),
                (
                    "size".to_owned(),
                    Any::Array(Arc::from(vec![Any::from(640), Any::from(480.5)])),
                ),
            ]))),
        );
    });
    transact(&doc, &mut updates, |txn| text.remove_range(txn, 5, 3));
    transact(&doc, &mut updates, |txn| {
        text.format(txn, 0, 3, Attrs::from([(Arc::from("bold"), Any::Null)]))
    });
    SampleDoc { doc, updates }
}

/// An XML fragment of elements with attributes and formatted text, partly deleted.
pub fn xml_doc() -> SampleDoc {
    let doc = Doc::with_client_id(22);
    let fragment = doc.get_or_insert_xml_fragment("prosemirror");
    let mut updates = Vec::new();
    transact(&doc, &mut updates, |txn| {
        let paragraph = fragment.insert(txn, 0, XmlElementPrelim::empty("paragraph"));
        paragraph.insert_attribute(txn, "align", "left");
        let text = paragraph.insert(txn, 0, XmlTextPrelim::new("Article 1"));
        text.format(txn, 0, 7, Attrs::from([(Arc::from("em"), Any::Bool(true))]));
        text.insert_attribute(txn, "lang", "en");
        let heading = fragment.insert(txn, 0, XmlElementPrelim::empty("heading"));
        heading.insert_attribute(txn, "level", "2");
        heading.insert(txn, 0, XmlTextPrelim::new("Title"));
    });
    transact(&doc, &mut updates, |txn| {
        fragment.insert(txn, 2, XmlTextPrelim::new("tail"));
        fragment.remove_range(txn, 0, 1);
    });
    SampleDoc { doc, updates }
}

/// Maps and arrays of every `Any` kind, nested up to the default depth limit, with nested
/// shared types, a subdocument and deletions.
pub fn data_doc() -> SampleDoc {
    let doc = Doc::with_client_id(33);
    let meta = doc.get_or_insert_map("meta");
    let list = doc.get_or_insert_array("list");
    let limit = FrameLimits::default().max_nesting_depth;
    let mut updates = Vec::new();
    transact(&doc, &mut updates, |txn| {
        meta.insert(txn, "title", "Manifesto");
        meta.insert(txn, "small", Any::from(-42));
        meta.insert(txn, "int32", Any::from(0x7fff_ffff));
        meta.insert(txn, "float", Any::from(1.5));
        meta.insert(txn, "f64 int", Any::from(1i64 << 60));
        meta.insert(txn, "bigint", Any::from(i64::MAX - 1));
        meta.insert(txn, "undefined", Any::Undefined);
        meta.insert(txn, "null", Any::Null);
        meta.insert(txn, "yes", Any::Bool(true));
        meta.insert(txn, "bytes", Any::Buffer(Arc::from(vec![0u8, 255, 7])));
        meta.insert(txn, "deep", nested_any(limit));
        list.push_back(txn, nested_any(limit - 1));
        list.push_back(txn, "two");
        list.push_back(txn, 3);
        let nested = list.push_back(txn, MapPrelim::default());
        nested.insert(txn, "inner", ArrayPrelim::from([1, 2, 3]));
    });
    transact(&doc, &mut updates, |txn| {
        let sub = Doc::with_options(Options {
            guid: "sub-guid".into(),
            ..Options::default()
        });
        meta.insert(txn, "subdoc", sub);
    });
    transact(&doc, &mut updates, |txn| {
        meta.remove(txn, "null");
        list.remove_range(txn, 1, 2);
        meta.insert(txn, "title", "Manifesto, revised");
    });
    SampleDoc { doc, updates }
}

pub fn sample_docs() -> Vec<SampleDoc> {
    vec![text_doc(), xml_doc(), data_doc()]
}

pub fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// An awareness frame carrying a cursor state and a removed state.
pub fn awareness_frame() -> Vec<u8> {
    let mut awareness = Awareness::new(Doc::with_client_id(44));
    awareness.set_local_state_raw(
        r##"{"user":{"name":"Ana","color":"#30bced"},"cursor":{"anchor":{"type":{"client":11,"clock":3}},"head":[1,[2,[3]]]}}"##,
    );
    let mut update = awareness.update().expect("awareness update");
    let mut other = Awareness::new(Doc::with_client_id(45));
    other.set_local_state_raw("{}");
    other.clean_local_state();
    update
        .clients
        .extend(other.update().expect("awareness update").clients);
    encode_awareness(update)
}

/// A frame made by yrs, and how many messages it holds.
pub struct SampleFrame {
    pub name: String,
    pub frame: Vec<u8>,
    pub n_messages: usize,
}

/// Every kind of frame a yrs or Yjs peer sends, single and batched.
pub fn sample_frames() -> Vec<SampleFrame> {
    let mut frames = Vec::new();
    let mut single = |name: String, frame: Vec<u8>| {
        frames.push(SampleFrame {
            name,
            frame,
            n_messages: 1,
        })
    };
    for (i, sample) in sample_docs().iter().enumerate() {
        let state_vector = sample.doc.transact().state_vector();
        single(
            format!("doc {i} sync step 1"),
            encode_sync_step1(&state_vector),
        );
        single(
            format!("doc {i} sync step 2"),
            encode_sync_step2(full_state(&sample.doc)),
        );
        single(
            format!("doc {i} empty sync step 1"),
            encode_sync_step1(&StateVector::default()),
        );
        for (j, update) in sample.updates.iter().enumerate() {
            single(format!("doc {i} update {j}"), encode_update(update.clone()));
        }
        // What a peer that has the first update lacks.
        let partial = Doc::new();
        apply(&partial, &sample.updates[0]);
        let diff = sample
            .doc
            .transact()
            .encode_state_as_update_v1(&partial.transact().state_vector());
        single(format!("doc {i} sync step 2 diff"), encode_sync_step2(diff));
    }
    single("awareness".to_owned(), awareness_frame());
    single("auth denied".to_owned(), encode_auth_denied("read only"));
    single("awareness query".to_owned(), vec![3]);
    single("empty update".to_owned(), encode_update(vec![0, 0]));

    let text = text_doc();
    let mut batch = encode_sync_step1(&StateVector::default());
    for update in &text.updates {
        batch.extend(encode_update(update.clone()));
    }
    batch.extend(awareness_frame());
    batch.push(3);
    frames.push(SampleFrame {
        name: "batch".to_owned(),
        frame: batch,
        n_messages: text.updates.len() + 3,
    });
    frames
}

pub fn apply(doc: &Doc, update: &[u8]) {
    let update = Update::decode_v1(update).expect("yrs-made update");
    doc.transact_mut()
        .apply_update(update)
        .expect("yrs-made update applies");
}

/// What happened to one frame.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `check_frame`'s verdict.
    pub checked: Option<FrameError>,
    /// Messages that decoded, when the whole frame did.
    pub n_decoded: usize,
    /// Panics raised by yrs while applying decoded messages to fresh state.
    pub apply_panics: Vec<String>,
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".to_owned())
}

/// Runs `frame` through `check_frame` and `decode_frame`, then applies what decoded to a fresh
/// document and awareness. Returns an error when the protocol crate itself misbehaves (a panic
/// in check or decode, or the two disagreeing); yrs panics while applying are counted instead.
pub fn exercise(frame: &[u8], limits: &FrameLimits) -> Result<Outcome, String> {
    let checked = catch_unwind(|| check_frame(frame, limits))
        .map_err(|payload| format!("check_frame panicked: {}", panic_text(payload)))?;
    let decoded = catch_unwind(|| decode_frame(frame, limits))
        .map_err(|payload| format!("decode_frame panicked: {}", panic_text(payload)))?;
    let mut outcome = Outcome {
        checked: checked.clone().err(),
        ..Outcome::default()
    };
    let messages = match (checked, decoded) {
        (Err(checked), Err(decoded)) if checked == decoded => return Ok(outcome),
        (Err(checked), other) => {
            return Err(format!(
                "check refused ({checked}) but decode gave {other:?}"
            ))
        }
        (Ok(()), Err(FrameError::Undecodable("message count"))) => {
            return Err("yrs read fewer messages than check_frame found".to_owned())
        }
        (Ok(()), Err(FrameError::Undecodable(_))) => return Ok(outcome),
        (Ok(()), Err(other)) => return Err(format!("check accepted but decode refused: {other}")),
        (Ok(()), Ok(messages)) => messages,
    };
    outcome.n_decoded = messages.len();
    let source = text_doc().doc;
    for message in messages {
        let applied = catch_unwind(AssertUnwindSafe(|| match message {
            InboundMessage::SyncStep2(update) | InboundMessage::Update(update) => {
                // Once to a fresh document, once to one whose items the update may refer to.
                let copy = Update::decode_v1(&update.encode_v1());
                let fresh = Doc::with_client_id(99);
                let _ = fresh.transact_mut().apply_update(update);
                let _ = full_state(&fresh);
                let seeded = Doc::with_client_id(98);
                apply(&seeded, &full_state(&source));
                if let Ok(copy) = copy {
                    let _ = seeded.transact_mut().apply_update(copy);
                    let _ = full_state(&seeded);
                }
            }
            InboundMessage::SyncStep1(state_vector) => {
                let _ = source.transact().encode_state_as_update_v1(&state_vector);
            }
            InboundMessage::Awareness(update) => {
                let _ = Awareness::new(Doc::with_client_id(99)).apply_update(update);
            }
            InboundMessage::AwarenessQuery | InboundMessage::Auth => {}
        }));
        if let Err(payload) = applied {
            outcome.apply_panics.push(panic_text(payload));
        }
    }
    Ok(outcome)
}

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub fn n_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
