//! Hand-built frames, one per rule of [`check_frame`]. Each test names the error it expects.

use super::*;

fn limits() -> FrameLimits {
    FrameLimits::default()
}

fn check(frame: &[u8]) -> Result<(), FrameError> {
    check_frame(frame, &limits())
}

fn var_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn with_buf(mut prefix: Vec<u8>, bytes: &[u8]) -> Vec<u8> {
    var_uint(&mut prefix, bytes.len() as u64);
    prefix.extend_from_slice(bytes);
    prefix
}

fn update_frame(update: &[u8]) -> Vec<u8> {
    with_buf(vec![0, 2], update)
}

fn state_vector_frame(state_vector: &[u8]) -> Vec<u8> {
    with_buf(vec![0, 0], state_vector)
}

fn awareness_frame(update: &[u8]) -> Vec<u8> {
    with_buf(vec![1], update)
}

fn string(text: &[u8]) -> Vec<u8> {
    with_buf(Vec::new(), text)
}

/// An update of client 1 from clock 0 holding `structs` (already encoded, `n_structs` of them),
/// then an empty delete set.
fn update_of(n_structs: u64, structs: &[u8]) -> Vec<u8> {
    let mut update = vec![1];
    var_uint(&mut update, n_structs);
    update.extend_from_slice(&[1, 0]);
    update.extend_from_slice(structs);
    update.push(0);
    update
}

/// One item in root type "a" with `content` of type `content_ref`.
fn item(content_ref: u8, content: &[u8]) -> Vec<u8> {
    let mut item = vec![content_ref, 1, 1, b'a'];
    item.extend_from_slice(content);
    item
}

/// A frame with one item whose Any content is the single value `value`.
fn any_frame(value: &[u8]) -> Vec<u8> {
    let mut content = vec![1];
    content.extend_from_slice(value);
    update_frame(&update_of(1, &item(8, &content)))
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut value = [117, 1].repeat(depth);
    value.push(126);
    value
}

fn nested_json(depth: usize) -> Vec<u8> {
    let mut json = b"[".repeat(depth);
    json.extend_from_slice(&b"]".repeat(depth));
    json
}

const ACCEPTED: Result<(), FrameError> = Ok(());

#[test]
fn empty_and_oversized_frames_are_refused() {
    assert_eq!(check(&[]), Err(FrameError::Empty));
    let small = FrameLimits {
        max_frame_bytes: 4,
        ..limits()
    };
    assert_eq!(
        check_frame(&[3, 3, 3, 3, 3], &small),
        Err(FrameError::TooLarge {
            n_bytes: 5,
            max_bytes: 4
        })
    );
    assert_eq!(check_frame(&[3, 3, 3, 3], &small), ACCEPTED);
}

#[test]
fn unknown_message_and_sync_types_are_refused() {
    assert_eq!(check(&[4]), Err(FrameError::UnknownMessageType(4)));
    assert_eq!(
        check(&[0xc8, 0x01]),
        Err(FrameError::UnknownMessageType(200))
    );
    assert_eq!(check(&[0, 3, 0]), Err(FrameError::UnknownSyncType(3)));
}

#[test]
fn message_count_is_limited() {
    let at_limit = vec![3u8; limits().max_messages_per_frame];
    assert_eq!(check(&at_limit), ACCEPTED);
    let over = vec![3u8; limits().max_messages_per_frame + 1];
    assert_eq!(check(&over), Err(FrameError::TooManyMessages));
}

#[test]
fn a_partly_written_trailing_message_is_refused() {
    // yrs's MessageReader would return the query and quietly drop the rest.
    assert_eq!(check(&[3, 0]), Err(FrameError::Truncated));
    assert_eq!(check(&[3, 0, 2]), Err(FrameError::Truncated));
    assert_eq!(check(&[3, 0, 2, 5, 0]), Err(FrameError::LengthExceedsFrame));
    assert_eq!(check(&[3, 0x80]), Err(FrameError::Truncated));
    assert_eq!(check(&[3, 1]), Err(FrameError::Truncated));
    // A state vector cut inside its buffer is also a silent drop in yrs.
    assert_eq!(
        check(&state_vector_frame(&[1, 5, 0x80])),
        Err(FrameError::Truncated)
    );
    assert_eq!(
        check(&state_vector_frame(&[1, 5])),
        Err(FrameError::LengthExceedsFrame)
    );
}

#[test]
fn varints_longer_than_their_type_are_refused() {
    // Message type: a u8 read through a u32 varint; yrs wraps up to ten bytes.
    assert_eq!(
        check(&[0x83, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(FrameError::BadVarint)
    );
    // The fifth byte of a u32 may carry four bits only.
    assert_eq!(
        check(&[0x80, 0x80, 0x80, 0x80, 0x10]),
        Err(FrameError::BadVarint)
    );
    // u32 clock of a state vector entry: 2^32.
    assert_eq!(
        check(&state_vector_frame(&[1, 5, 0x80, 0x80, 0x80, 0x80, 0x10])),
        Err(FrameError::BadVarint)
    );
    // u32::MAX itself fits.
    assert_eq!(
        check(&state_vector_frame(&[1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f])),
        ACCEPTED
    );
    // A varint cut short.
    assert_eq!(
        check(&state_vector_frame(&[1, 5, 0x80])),
        Err(FrameError::Truncated)
    );
}

#[test]
fn client_ids_must_fit_in_53_bits() {
    let mut max = vec![1];
    var_uint(&mut max, (1 << 53) - 1);
    max.push(0);
    assert_eq!(check(&state_vector_frame(&max)), ACCEPTED);
    let mut over = vec![1];
    var_uint(&mut over, 1 << 53);
    over.push(0);
    assert_eq!(
        check(&state_vector_frame(&over)),
        Err(FrameError::Malformed("client id"))
    );
    let mut u64_max = vec![1];
    var_uint(&mut u64_max, u64::MAX);
    u64_max.push(0);
    assert_eq!(
        check(&state_vector_frame(&u64_max)),
        Err(FrameError::Malformed("client id"))
    );
}

#[test]
fn state_vector_counts_and_trailing_bytes_are_checked() {
    assert_eq!(check(&state_vector_frame(&[0])), ACCEPTED);
    assert_eq!(
        check(&state_vector_frame(&[2, 5, 1])),
        Err(FrameError::LengthExceedsFrame)
    );
    assert_eq!(
        check(&state_vector_frame(&[0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
    assert_eq!(
        check(&state_vector_frame(&[1, 5, 1, 0])),
        Err(FrameError::TrailingBytes("state vector"))
    );
    assert_eq!(check(&state_vector_frame(&[])), Err(FrameError::Truncated));
}

#[test]
fn update_counts_are_bounded_by_the_bytes_left() {
    assert_eq!(check(&update_frame(&[0, 0])), ACCEPTED);
    // 2^28 clients in a few bytes.
    assert_eq!(
        check(&update_frame(&[0x80, 0x80, 0x80, 0x80, 0x01, 0])),
        Err(FrameError::LengthExceedsFrame)
    );
    // One client claiming 2^28 structs.
    assert_eq!(
        check(&update_frame(&[1, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 0, 0])),
        Err(FrameError::LengthExceedsFrame)
    );
    // A varbuf longer than the frame.
    assert_eq!(
        check(&[0, 2, 0xff, 0xff, 0x03, 0, 0]),
        Err(FrameError::LengthExceedsFrame)
    );
}

#[test]
fn an_update_must_end_exactly_after_its_delete_set() {
    assert_eq!(check(&update_frame(&[0])), Err(FrameError::Truncated));
    assert_eq!(
        check(&update_frame(&[0, 0, 0])),
        Err(FrameError::TrailingBytes("update"))
    );
    assert_eq!(check(&update_frame(&[])), Err(FrameError::Truncated));
}

#[test]
fn gc_and_skip_structs_need_a_length() {
    assert_eq!(
        check(&update_frame(&update_of(2, &[0, 3, 10, 4]))),
        ACCEPTED
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &[0, 0]))),
        Err(FrameError::Malformed("empty block"))
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &[10, 0]))),
        Err(FrameError::Malformed("empty block"))
    );
}

#[test]
fn clocks_may_not_run_past_u32_max() {
    // GC of u32::MAX ticks from clock 0 ends exactly at u32::MAX: accepted.
    let mut gc = vec![0];
    var_uint(&mut gc, u64::from(u32::MAX));
    assert_eq!(check(&update_frame(&update_of(1, &gc))), ACCEPTED);
    // One more tick overflows yrs's `clock += len`.
    let mut two = gc.clone();
    two.extend_from_slice(&[0, 1]);
    assert_eq!(
        check(&update_frame(&update_of(2, &two))),
        Err(FrameError::Malformed("clock range"))
    );
    // The same through a deleted item's length.
    let mut deleted = gc;
    deleted.extend_from_slice(&item(1, &[1]));
    assert_eq!(
        check(&update_frame(&update_of(2, &deleted))),
        Err(FrameError::Malformed("clock range"))
    );
    // A delete-set range (client 5, clock, len) past u32::MAX: `clock..clock + len` overflows.
    let range = |clock: u8| [0, 1, 5, 1, clock, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(check(&update_frame(&range(0))), ACCEPTED);
    assert_eq!(
        check(&update_frame(&range(1))),
        Err(FrameError::Malformed("clock range"))
    );
}

#[test]
fn item_info_bits_yjs_never_writes_are_refused() {
    assert_eq!(
        check(&update_frame(&update_of(1, &item(4, &string(b"x"))))),
        ACCEPTED
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(0x14, &string(b"x"))))),
        Err(FrameError::Malformed("struct info"))
    );
    // Content 0 with a flag set is not GC (yrs matches the whole byte) and not content either.
    assert_eq!(
        check(&update_frame(&update_of(1, &item(0x20, &[])))),
        Err(FrameError::Malformed("content type"))
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(11, &[])))),
        Err(FrameError::Malformed("content type"))
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(0x8a, &[])))),
        Err(FrameError::Malformed("content type"))
    );
}

#[test]
fn item_origins_and_parents_are_read_as_yrs_reads_them() {
    // Left origin (1, 0), then a string; no parent is read.
    let left = [0x84, 1, 0, 1, b'x'];
    assert_eq!(check(&update_frame(&update_of(1, &left))), ACCEPTED);
    // Both origins.
    let both = [0xc4, 1, 0, 2, 7, 1, b'x'];
    assert_eq!(check(&update_frame(&update_of(1, &both))), ACCEPTED);
    // Parent by id (parent info 0), with a parent sub (map key).
    let by_id = [0x24, 0, 2, 3, 1, b'k', 1, b'x'];
    assert_eq!(check(&update_frame(&update_of(1, &by_id))), ACCEPTED);
    // A parent sub flag is ignored when an origin is present: then "k" is the content.
    let ignored_sub = [0xa4, 1, 0, 1, b'k'];
    assert_eq!(check(&update_frame(&update_of(1, &ignored_sub))), ACCEPTED);
    // An origin client id over 53 bits.
    let mut big_origin = vec![0x84];
    var_uint(&mut big_origin, 1 << 60);
    big_origin.extend_from_slice(&[0, 1, b'x']);
    assert_eq!(
        check(&update_frame(&update_of(1, &big_origin))),
        Err(FrameError::Malformed("client id"))
    );
    // A root name that is not UTF-8.
    assert_eq!(
        check(&update_frame(&update_of(1, &[4, 1, 1, 0xff, 1, b'x']))),
        Err(FrameError::InvalidUtf8)
    );
}

#[test]
fn repeated_clients_in_one_update_are_refused() {
    let update = [2, 1, 5, 0, 0, 1, 1, 5, 4, 0, 1, 0];
    assert_eq!(
        check(&update_frame(&update)),
        Err(FrameError::Malformed("duplicate client"))
    );
    let distinct = [2, 1, 5, 0, 0, 1, 1, 6, 0, 0, 1, 0];
    assert_eq!(check(&update_frame(&distinct)), ACCEPTED);
}

#[test]
fn binary_and_string_contents_are_length_checked() {
    assert_eq!(
        check(&update_frame(&update_of(1, &item(3, &[2, 0, 255])))),
        ACCEPTED
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(3, &[9, 0])))),
        Err(FrameError::LengthExceedsFrame)
    );
    // An empty string is an item yrs drops (length 0), not an error.
    assert_eq!(
        check(&update_frame(&update_of(1, &item(4, &[0])))),
        ACCEPTED
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(4, &[2, 0xc3, 0x28])))),
        Err(FrameError::InvalidUtf8)
    );
}

#[test]
fn type_refs_follow_yrs_without_its_weak_feature() {
    for type_ref in [0u8, 1, 2, 4, 5, 6, 9, 15] {
        assert_eq!(
            check(&update_frame(&update_of(1, &item(7, &[type_ref])))),
            ACCEPTED,
            "type ref {type_ref}"
        );
    }
    // XmlElement carries a name; XmlHook (5) does not in yrs 0.28.
    let mut element = vec![3];
    element.extend_from_slice(&string(b"p"));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(7, &element)))),
        ACCEPTED
    );
    assert_eq!(
        check(&update_frame(&update_of(1, &item(7, &[3])))),
        Err(FrameError::Truncated)
    );
    for type_ref in [7u8, 8, 10, 14, 16, 255] {
        assert_eq!(
            check(&update_frame(&update_of(1, &item(7, &[type_ref])))),
            Err(FrameError::Malformed("type ref")),
            "type ref {type_ref}"
        );
    }
}

#[test]
fn legacy_json_content_is_refused() {
    // yrs reads count + 1 strings and writes count: such an item breaks re-encoding.
    let mut one = vec![0];
    one.extend_from_slice(&string(b"1"));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(2, &one)))),
        Err(FrameError::Malformed("json content"))
    );
}

#[test]
fn json_in_embeds_and_formats_is_depth_checked() {
    let at_limit = string(&nested_json(32));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(5, &at_limit)))),
        ACCEPTED
    );
    let too_deep = string(&nested_json(33));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(5, &too_deep)))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    let mut format = string(b"bold");
    format.extend_from_slice(&string(
        &[b"{\"a\":".repeat(33), b"1".to_vec(), b"}".repeat(33)].concat(),
    ));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(6, &format)))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    // Brackets inside strings, including after an escaped quote, do not count.
    let mut quoted = b"[\"\\\"".to_vec();
    quoted.extend_from_slice(&b"[{".repeat(100));
    quoted.extend_from_slice(b"\"]");
    assert_eq!(
        check(&update_frame(&update_of(1, &item(5, &string(&quoted))))),
        ACCEPTED
    );
}

#[test]
fn any_nesting_is_limited() {
    assert_eq!(check(&any_frame(&nested_arrays(32))), ACCEPTED);
    assert_eq!(
        check(&any_frame(&nested_arrays(33))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    // Far deeper than any stack: refused without recursion.
    assert_eq!(
        check(&any_frame(&nested_arrays(100_000))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    let mut maps = [118, 1, 1, b'k'].repeat(33);
    maps.push(126);
    assert_eq!(
        check(&any_frame(&maps)),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    // Empty containers count too: yrs recurses into them.
    let mut empty_innermost = [117, 1].repeat(32);
    empty_innermost.extend_from_slice(&[117, 0]);
    assert_eq!(
        check(&any_frame(&empty_innermost)),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    // Siblings do not add depth.
    let mut wide = vec![117, 3];
    for _ in 0..3 {
        wide.extend_from_slice(&nested_arrays(31));
    }
    assert_eq!(check(&any_frame(&wide)), ACCEPTED);
}

#[test]
fn every_any_tag_is_read_to_its_end() {
    let mut all = vec![117, 12, 127, 126, 125, 5, 121, 120];
    all.push(124);
    all.extend_from_slice(&[0; 4]);
    all.push(123);
    all.extend_from_slice(&[0; 8]);
    all.push(122);
    all.extend_from_slice(&[0; 8]);
    all.push(119);
    all.extend_from_slice(&string(b"s"));
    all.extend_from_slice(&[118, 1, 1, b'k', 126]);
    all.extend_from_slice(&[117, 0]);
    all.extend_from_slice(&[116, 2, 1, 2]);
    assert_eq!(check(&any_frame(&all)), ACCEPTED);
    assert_eq!(
        check(&any_frame(&[115])),
        Err(FrameError::Malformed("any value"))
    );
    assert_eq!(check(&any_frame(&[123, 0, 0])), Err(FrameError::Truncated));
    assert_eq!(
        check(&any_frame(&[117, 0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
    assert_eq!(
        check(&any_frame(&[118, 0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
}

#[test]
fn signed_varints_stay_within_what_yrs_can_negate() {
    // Ten bytes with a 63-bit magnitude: accepted.
    let mut max = vec![125, 0xff];
    max.extend_from_slice(&[0xff; 8]);
    max.push(0x01);
    assert_eq!(check(&any_frame(&max)), ACCEPTED);
    // A magnitude of 2^63 overflows `-num`.
    let mut min = vec![125, 0xc0];
    min.extend_from_slice(&[0x80; 8]);
    min.push(0x02);
    assert_eq!(check(&any_frame(&min)), Err(FrameError::BadVarint));
    // An eleventh byte overflows the shift.
    let mut long = vec![125, 0x80];
    long.extend_from_slice(&[0x80; 9]);
    long.push(0x00);
    assert_eq!(check(&any_frame(&long)), Err(FrameError::BadVarint));
}

#[test]
fn subdocuments_read_a_guid_and_options() {
    let mut doc = string(b"guid");
    doc.extend_from_slice(&[118, 1, 2, b'g', b'c', 121]);
    assert_eq!(
        check(&update_frame(&update_of(1, &item(9, &doc)))),
        ACCEPTED
    );
    let mut deep = string(b"guid");
    deep.extend_from_slice(&nested_arrays(33));
    assert_eq!(
        check(&update_frame(&update_of(1, &item(9, &deep)))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
}

#[test]
fn delete_set_counts_are_bounded() {
    assert_eq!(check(&update_frame(&[0, 1, 5, 1, 0, 2])), ACCEPTED);
    assert_eq!(
        check(&update_frame(&[0, 0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
    assert_eq!(
        check(&update_frame(&[0, 1, 5, 0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
}

#[test]
fn awareness_entries_are_checked() {
    let entry = |clock: &[u8], state: &[u8]| {
        let mut update = vec![1, 7];
        update.extend_from_slice(clock);
        update.extend_from_slice(&string(state));
        awareness_frame(&update)
    };
    assert_eq!(
        check(&entry(&[3], b"{\"user\":{\"name\":\"a\"}}")),
        ACCEPTED
    );
    assert_eq!(check(&entry(&[3], b"null")), ACCEPTED);
    let large = vec![b' '; limits().max_awareness_state_bytes + 1];
    assert_eq!(
        check(&entry(&[3], &large)),
        Err(FrameError::AwarenessStateTooLarge {
            max_bytes: limits().max_awareness_state_bytes
        })
    );
    assert_eq!(
        check(&entry(&[3], &nested_json(33))),
        Err(FrameError::TooDeep { max_depth: 32 })
    );
    // A clock of u32::MAX leaves no room for yrs's `clock += 1`; past it is a bad varint.
    assert_eq!(
        check(&entry(&[0xfe, 0xff, 0xff, 0xff, 0x0f], b"1")),
        ACCEPTED
    );
    assert_eq!(
        check(&entry(&[0xff, 0xff, 0xff, 0xff, 0x0f], b"1")),
        Err(FrameError::Malformed("awareness clock"))
    );
    assert_eq!(
        check(&entry(&[0x80, 0x80, 0x80, 0x80, 0x10], b"1")),
        Err(FrameError::BadVarint)
    );
    assert_eq!(
        check(&awareness_frame(&[0x80, 0x80, 0x80, 0x80, 0x01])),
        Err(FrameError::LengthExceedsFrame)
    );
    assert_eq!(
        check(&awareness_frame(&[0, 0])),
        Err(FrameError::TrailingBytes("awareness update"))
    );
    assert_eq!(
        check(&awareness_frame(&[1, 7, 0, 1, 0xc3])),
        Err(FrameError::InvalidUtf8)
    );
}

#[test]
fn auth_messages_follow_yrs() {
    assert_eq!(check(&[2, 1]), ACCEPTED);
    assert_eq!(check(&[2, 0, 2, b'n', b'o']), ACCEPTED);
    assert_eq!(check(&[2, 0]), Err(FrameError::Truncated));
    assert_eq!(check(&[2, 0x80, 0x02]), Err(FrameError::BadVarint));
}

#[test]
fn several_messages_are_each_checked() {
    let mut frame = vec![3];
    frame.extend_from_slice(&state_vector_frame(&[0]));
    frame.extend_from_slice(&update_frame(&[0, 0]));
    frame.extend_from_slice(&[2, 1]);
    assert_eq!(scan_frame(&frame, &limits()), Ok(4));
    frame.extend_from_slice(&any_frame(&nested_arrays(40)));
    assert_eq!(check(&frame), Err(FrameError::TooDeep { max_depth: 32 }));
}
