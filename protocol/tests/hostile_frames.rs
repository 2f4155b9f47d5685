//! Property tests over hostile frames: random bytes, yrs-made frames with random mutations, and
//! structured attacks (deep nesting, huge claimed counts, cut varints, unknown types).
//!
//! Every property asserts that `check_frame` and `decode_frame` never panic and agree, and that
//! whenever a frame is accepted yrs decodes it without panicking. Accepted updates are then
//! applied to a fresh document; panics there are yrs bugs the server contains separately, so
//! they are counted and printed (run with `--nocapture`), not failed on.
//!
//! Cases per property default to a few hundred; set `PROPTEST_CASES` for more.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use manifesto_protocol::{FrameError, FrameLimits};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::{exercise, n_cases, sample_frames};

/// What a property saw across its cases.
#[derive(Default)]
struct Tally {
    n_frames: usize,
    n_accepted: usize,
    n_messages: usize,
    apply_panics: BTreeMap<String, usize>,
}

/// Runs `property` over `strategy`, printing how many frames it tried, how many passed
/// `check_frame`, how long it took and every panic yrs raised while applying.
fn run<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    frame_of: impl Fn(S::Value) -> (Vec<u8>, Option<Result<(), FrameError>>),
) {
    let config = Config {
        cases: n_cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = std::cell::RefCell::new(Tally::default());
    let limits = FrameLimits::default();
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        let (frame, expected) = frame_of(value);
        let outcome = exercise(&frame, &limits).map_err(TestCaseError::fail)?;
        if let Some(expected) = expected {
            prop_assert_eq!(outcome.checked.clone().map_or(Ok(()), Err), expected);
        }
        let mut tally = tally.borrow_mut();
        tally.n_frames += 1;
        tally.n_accepted += usize::from(outcome.checked.is_none());
        tally.n_messages += outcome.n_decoded;
        for panic in outcome.apply_panics {
            *tally.apply_panics.entry(panic).or_default() += 1;
        }
        Ok(())
    });
    let tally = tally.into_inner();
    println!(
        "{name}: {} frames ({} accepted, {} messages decoded) in {:.2?}; yrs apply panics: {}",
        tally.n_frames,
        tally.n_accepted,
        tally.n_messages,
        started.elapsed(),
        tally.apply_panics.values().sum::<usize>()
    );
    for (panic, count) in &tally.apply_panics {
        println!("  {count} x yrs panicked while applying: {panic}");
    }
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
}

fn var_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn var(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    var_uint(&mut out, value);
    out
}

fn with_buf(mut prefix: Vec<u8>, bytes: &[u8]) -> Vec<u8> {
    var_uint(&mut prefix, bytes.len() as u64);
    prefix.extend_from_slice(bytes);
    prefix
}

fn update_frame(update: &[u8]) -> Vec<u8> {
    with_buf(vec![0, 2], update)
}

/// An update of client 1 holding one item in root "a" with content `content_ref`.
fn item_frame(content_ref: u8, content: &[u8]) -> Vec<u8> {
    let mut update = vec![1, 1, 1, 0, content_ref, 1, 1, b'a'];
    update.extend_from_slice(content);
    update.push(0);
    update_frame(&update)
}

#[test]
fn random_bytes_never_panic() {
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // A valid message and sync type first, so that the bytes reach the deeper readers.
        (0u8..4, 0u8..3, prop::collection::vec(any::<u8>(), 0..512)).prop_map(
            |(kind, sub, rest)| {
                let mut frame = vec![kind, sub];
                frame.extend(rest);
                frame
            }
        ),
    ];
    run("random bytes", 2000, strategy, |frame| (frame, None));
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Remove(Index),
    Insert(Index, Vec<u8>),
}

fn hostile_varint() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(var(u64::from(u32::MAX))),
        Just(var(1 << 28)),
        Just(var(1 << 53)),
        Just(var(u64::MAX)),
        Just([vec![0x80; 10], vec![0]].concat()),
        (1usize..10).prop_map(|n| vec![0x80; n]),
        any::<u64>().prop_map(var),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), hostile_varint()).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
    ]
}

fn mutate(mut frame: Vec<u8>, mutations: Vec<Mutation>) -> Vec<u8> {
    for mutation in mutations {
        let len = frame.len();
        match mutation {
            Mutation::Insert(at, bytes) => {
                let at = at.index(len + 1);
                frame.splice(at..at, bytes);
            }
            _ if len == 0 => {}
            Mutation::Flip(at, mask) => frame[at.index(len)] ^= mask,
            Mutation::Set(at, byte) => frame[at.index(len)] = byte,
            Mutation::Truncate(at) => frame.truncate(at.index(len)),
            Mutation::Remove(at) => {
                frame.remove(at.index(len));
            }
        }
    }
    frame
}

#[test]
fn mutated_yrs_frames_never_panic() {
    let seeds: Vec<Vec<u8>> = sample_frames()
        .into_iter()
        .map(|sample| sample.frame)
        .collect();
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 1..4),
    );
    run(
        "mutated yrs frames",
        1500,
        strategy,
        |(frame, mutations)| (mutate(frame, mutations), None),
    );
}

/// Where a deep JSON text is put.
#[derive(Debug, Clone, Copy)]
enum JsonPlace {
    Embed,
    FormatValue,
    JsonContent,
    AwarenessState,
}

/// A count that claims far more elements than the frame holds.
#[derive(Debug, Clone, Copy)]
enum CountField {
    UpdateClients,
    UpdateStructs,
    StateVectorEntries,
    DeleteSetClients,
    DeleteSetRanges,
    ItemAnyValues,
    MessageBufBytes,
    StringBytes,
    AwarenessEntries,
    AnyArrayValues,
    AnyMapEntries,
}

impl CountField {
    /// Whether yrs reads this count as a `u64` (usize) rather than a `u32`.
    fn is_wide(self) -> bool {
        matches!(
            self,
            CountField::AwarenessEntries | CountField::AnyArrayValues | CountField::AnyMapEntries
        )
    }
}

#[derive(Debug, Clone)]
enum Hostile {
    DeepAny { depth: usize, maps: bool },
    DeepJson { depth: usize, place: JsonPlace },
    HugeCount { field: CountField, count: u64 },
    CutVarint { prefix: Vec<u8>, n_bytes: usize },
    UnknownType(u32),
    UnknownSyncType(u32),
    OverlongType { n_bytes: usize },
}

fn depth() -> impl Strategy<Value = usize> {
    prop_oneof![10usize..64, 64usize..100_000]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let place = prop_oneof![
        Just(JsonPlace::Embed),
        Just(JsonPlace::FormatValue),
        Just(JsonPlace::JsonContent),
        Just(JsonPlace::AwarenessState)
    ];
    let field = prop::sample::select(vec![
        CountField::UpdateClients,
        CountField::UpdateStructs,
        CountField::StateVectorEntries,
        CountField::DeleteSetClients,
        CountField::DeleteSetRanges,
        CountField::ItemAnyValues,
        CountField::MessageBufBytes,
        CountField::StringBytes,
        CountField::AwarenessEntries,
        CountField::AnyArrayValues,
        CountField::AnyMapEntries,
    ]);
    let prefix = prop::sample::select(vec![
        vec![],
        vec![0],
        vec![0, 0],
        vec![0, 2],
        vec![1],
        vec![2],
        vec![3, 3],
    ]);
    prop_oneof![
        (depth(), any::<bool>()).prop_map(|(depth, maps)| Hostile::DeepAny { depth, maps }),
        (depth(), place).prop_map(|(depth, place)| Hostile::DeepJson { depth, place }),
        (field, 1000u64..=(1 << 53)).prop_map(|(field, count)| {
            let count = if field.is_wide() {
                count
            } else {
                count.min(u64::from(u32::MAX))
            };
            Hostile::HugeCount { field, count }
        }),
        (prefix, 1usize..=4).prop_map(|(prefix, n_bytes)| Hostile::CutVarint { prefix, n_bytes }),
        (4u32..).prop_map(Hostile::UnknownType),
        (3u32..).prop_map(Hostile::UnknownSyncType),
        (6usize..=12).prop_map(|n_bytes| Hostile::OverlongType { n_bytes }),
    ]
}

fn deep_json(depth: usize) -> Vec<u8> {
    let mut json = Vec::new();
    for level in 0..depth {
        json.extend_from_slice(if level % 2 == 0 { b"[" } else { b"{\"k\":" });
    }
    json.extend_from_slice(b"1");
    for level in (0..depth).rev() {
        json.push(if level % 2 == 0 { b']' } else { b'}' });
    }
    json
}

/// The frame for `hostile`, and what `check_frame` must say about it.
fn build(hostile: Hostile) -> (Vec<u8>, Result<(), FrameError>) {
    let limits = FrameLimits::default();
    let too_deep = |depth: usize| {
        if depth > limits.max_nesting_depth {
            Err(FrameError::TooDeep {
                max_depth: limits.max_nesting_depth,
            })
        } else {
            Ok(())
        }
    };
    match hostile {
        Hostile::DeepAny { depth, maps } => {
            let mut content = vec![1];
            for _ in 0..depth {
                content.extend_from_slice(if maps { &[118, 1, 1, b'k'] } else { &[117, 1] });
            }
            content.push(126);
            (item_frame(8, &content), too_deep(depth))
        }
        Hostile::DeepJson { depth, place } => {
            let json = with_buf(Vec::new(), &deep_json(depth));
            match place {
                JsonPlace::Embed => (item_frame(5, &json), too_deep(depth)),
                JsonPlace::FormatValue => (
                    item_frame(6, &[with_buf(Vec::new(), b"b"), json].concat()),
                    too_deep(depth),
                ),
                JsonPlace::JsonContent => (
                    item_frame(2, &[vec![0], json].concat()),
                    Err(FrameError::Malformed("json content")),
                ),
                JsonPlace::AwarenessState => {
                    let state_bytes = deep_json(depth).len();
                    let expected = if state_bytes > limits.max_awareness_state_bytes {
                        Err(FrameError::AwarenessStateTooLarge {
                            max_bytes: limits.max_awareness_state_bytes,
                        })
                    } else {
                        too_deep(depth)
                    };
                    (with_buf(vec![1], &[vec![1, 7, 0], json].concat()), expected)
                }
            }
        }
        Hostile::HugeCount { field, count } => {
            let n = var(count);
            let frame = match field {
                CountField::UpdateClients => update_frame(&[n, vec![0]].concat()),
                CountField::UpdateStructs => update_frame(&[vec![1], n, vec![1, 0, 0]].concat()),
                CountField::StateVectorEntries => with_buf(vec![0, 0], &[n, vec![1, 0]].concat()),
                CountField::DeleteSetClients => update_frame(&[vec![0], n, vec![5, 0]].concat()),
                CountField::DeleteSetRanges => {
                    update_frame(&[vec![0, 1, 5], n, vec![0, 1]].concat())
                }
                CountField::ItemAnyValues => item_frame(8, &[n, vec![126]].concat()),
                CountField::MessageBufBytes => [vec![0, 2], n, vec![0, 0]].concat(),
                CountField::StringBytes => [vec![2, 0], n, vec![b'x']].concat(),
                CountField::AwarenessEntries => with_buf(vec![1], &[n, vec![1, 0, 0]].concat()),
                CountField::AnyArrayValues => item_frame(8, &[vec![1, 117], n, vec![126]].concat()),
                CountField::AnyMapEntries => {
                    item_frame(8, &[vec![1, 118], n, vec![1, b'k', 126]].concat())
                }
            };
            (frame, Err(FrameError::LengthExceedsFrame))
        }
        Hostile::CutVarint {
            mut prefix,
            n_bytes,
        } => {
            prefix.extend(std::iter::repeat_n(0x80, n_bytes));
            (prefix, Err(FrameError::Truncated))
        }
        Hostile::UnknownType(kind) => (
            var(u64::from(kind)),
            Err(FrameError::UnknownMessageType(u64::from(kind))),
        ),
        Hostile::UnknownSyncType(kind) => (
            [vec![0], var(u64::from(kind)), vec![0]].concat(),
            Err(FrameError::UnknownSyncType(u64::from(kind))),
        ),
        Hostile::OverlongType { n_bytes } => {
            let mut frame = vec![0x80; n_bytes - 1];
            frame.push(0);
            (frame, Err(FrameError::BadVarint))
        }
    }
}

#[test]
fn structured_hostile_frames_are_refused_as_expected() {
    run("structured hostile frames", 300, hostile(), |hostile| {
        let (frame, expected) = build(hostile);
        (frame, Some(expected))
    });
}
