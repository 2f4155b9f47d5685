//! Frames that yrs itself produces must pass `check_frame`, decode with `decode_frame`, and
//! carry the same document.

mod support;

use manifesto_protocol::yrs::types::ToJson;
use manifesto_protocol::yrs::{Doc, GetString, ReadTxn, Transact};
use manifesto_protocol::{check_frame, decode_frame, FrameError, FrameLimits, InboundMessage};
use support::{exercise, full_state, sample_docs, sample_frames, text_doc};

#[test]
fn every_yrs_made_frame_passes_and_decodes_to_its_message_count() {
    let limits = FrameLimits::default();
    let frames = sample_frames();
    assert!(
        frames.len() > 20,
        "expected a varied sample, got {}",
        frames.len()
    );
    for sample in &frames {
        assert_eq!(
            check_frame(&sample.frame, &limits),
            Ok(()),
            "{}",
            sample.name
        );
        let messages =
            decode_frame(&sample.frame, &limits).unwrap_or_else(|e| panic!("{}: {e}", sample.name));
        assert_eq!(messages.len(), sample.n_messages, "{}", sample.name);
        let outcome =
            exercise(&sample.frame, &limits).unwrap_or_else(|e| panic!("{}: {e}", sample.name));
        assert_eq!(
            outcome.apply_panics,
            Vec::<String>::new(),
            "{}",
            sample.name
        );
    }
}

#[test]
fn a_full_state_sync_step_2_rebuilds_the_same_document() {
    let limits = FrameLimits::default();
    for sample in sample_docs() {
        let frame = manifesto_protocol::encode_sync_step2(full_state(&sample.doc));
        let Ok(messages) = decode_frame(&frame, &limits) else {
            panic!("sync step 2 refused")
        };
        let [InboundMessage::SyncStep2(update)] =
            <[InboundMessage; 1]>::try_from(messages).expect("one message")
        else {
            panic!("expected a sync step 2")
        };
        let copy = Doc::new();
        copy.transact_mut()
            .apply_update(update)
            .expect("update applies");
        assert_eq!(
            copy.transact().state_vector(),
            sample.doc.transact().state_vector()
        );
        // A document lists only the root types it has been asked for by type.
        for doc in [&copy, &sample.doc] {
            doc.get_or_insert_text("body");
            doc.get_or_insert_xml_fragment("prosemirror");
            doc.get_or_insert_map("meta");
            doc.get_or_insert_array("list");
        }
        let original = sample.doc.to_json(&sample.doc.transact());
        assert_eq!(copy.to_json(&copy.transact()), original);
    }
}

#[test]
fn incremental_update_frames_replay_to_the_same_text() {
    let limits = FrameLimits::default();
    let sample = text_doc();
    let copy = Doc::new();
    for update in &sample.updates {
        let frame = manifesto_protocol::encode_update(update.clone());
        for message in decode_frame(&frame, &limits).expect("update frame decodes") {
            let InboundMessage::Update(update) = message else {
                panic!("expected an update")
            };
            copy.transact_mut()
                .apply_update(update)
                .expect("update applies");
        }
    }
    let text = copy.get_or_insert_text("body");
    let expected = sample.doc.get_or_insert_text("body");
    assert_eq!(
        text.get_string(&copy.transact()),
        expected.get_string(&sample.doc.transact())
    );
    assert!(text.get_string(&copy.transact()).contains('😀'));
}

#[test]
fn a_batched_frame_decodes_in_order() {
    let limits = FrameLimits::default();
    let batch = sample_frames()
        .into_iter()
        .find(|sample| sample.name == "batch")
        .expect("batch sample");
    let messages = decode_frame(&batch.frame, &limits).expect("batch decodes");
    assert!(matches!(
        messages.first(),
        Some(InboundMessage::SyncStep1(_))
    ));
    assert!(matches!(
        messages.last(),
        Some(InboundMessage::AwarenessQuery)
    ));
    assert!(matches!(
        messages[messages.len() - 2],
        InboundMessage::Awareness(_)
    ));
    assert!(messages[1..messages.len() - 2]
        .iter()
        .all(|m| matches!(m, InboundMessage::Update(_))));
}

#[test]
fn one_level_past_the_depth_limit_is_refused_even_from_yrs() {
    let doc = Doc::with_client_id(5);
    let map = doc.get_or_insert_map("m");
    {
        use manifesto_protocol::yrs::Map;
        let mut txn = doc.transact_mut();
        map.insert(
            &mut txn,
            "deep",
            support::nested_any(FrameLimits::default().max_nesting_depth + 1),
        );
    }
    let frame = manifesto_protocol::encode_sync_step2(full_state(&doc));
    assert_eq!(
        check_frame(&frame, &FrameLimits::default()),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    let roomier = FrameLimits {
        max_nesting_depth: 33,
        ..FrameLimits::default()
    };
    assert_eq!(check_frame(&frame, &roomier), Ok(()));
}

#[test]
fn a_yrs_frame_cut_anywhere_is_refused() {
    // yrs's MessageReader would return the messages before the cut and drop the rest quietly.
    let limits = FrameLimits::default();
    for sample in sample_frames() {
        for cut in 1..sample.frame.len() {
            let prefix = &sample.frame[..cut];
            let outcome = exercise(prefix, &limits)
                .unwrap_or_else(|e| panic!("{} cut at {cut}: {e}", sample.name));
            // A cut can fall exactly between two messages of a batch; that prefix is whole.
            if outcome.checked.is_none() {
                assert_eq!(sample.name, "batch", "{} cut at {cut} passed", sample.name);
            }
        }
    }
}
