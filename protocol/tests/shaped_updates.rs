//! Random updates that follow the v1 grammar yrs reads (any ids, origins, parents, contents and
//! delete ranges, within the limits): `check_frame` must accept every one, and yrs must decode
//! it without panicking. Applying them to documents is where yrs's own bugs show; those panics
//! are counted and printed (run with `--nocapture`), not failed on.
//!
//! Cases default to a few hundred; set `PROPTEST_CASES` for more.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use manifesto_protocol::FrameLimits;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::{exercise, n_cases};

fn var_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_buf(out: &mut Vec<u8>, bytes: &[u8]) {
    var_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Small client ids, shared with the sample documents so that origins can hit real items.
fn client() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..4, 2 => Just(11u64), 1 => 0u64..(1 << 53)]
}

fn id() -> impl Strategy<Value = (u64, u32)> {
    (client(), prop_oneof![4 => 0u32..40, 1 => any::<u32>()])
}

#[derive(Debug, Clone)]
enum AnyValue {
    Scalar(Vec<u8>),
    Array(Vec<AnyValue>),
    Map(Vec<(String, AnyValue)>),
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let scalar = prop_oneof![
        Just(vec![127]),
        Just(vec![126]),
        Just(vec![120]),
        Just(vec![121]),
        any::<i32>().prop_map(|n| {
            let magnitude = u64::from(n.unsigned_abs());
            let mut out = vec![125, (magnitude as u8 & 0x3f) | if n < 0 { 0x40 } else { 0 }];
            if magnitude > 0x3f {
                out[1] |= 0x80;
                var_uint(&mut out, magnitude >> 6);
            }
            out
        }),
        any::<f32>().prop_map(|x| [vec![124], x.to_be_bytes().to_vec()].concat()),
        any::<f64>().prop_map(|x| [vec![123], x.to_be_bytes().to_vec()].concat()),
        any::<i64>().prop_map(|x| [vec![122], x.to_be_bytes().to_vec()].concat()),
        ".{0,8}".prop_map(|s| {
            let mut out = vec![119];
            put_buf(&mut out, s.as_bytes());
            out
        }),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| {
            let mut out = vec![116];
            put_buf(&mut out, &bytes);
            out
        }),
    ]
    .prop_map(AnyValue::Scalar);
    scalar.prop_recursive(6, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            prop::collection::vec(("[a-c]{0,2}", inner), 0..4).prop_map(AnyValue::Map),
        ]
    })
}

fn put_any(out: &mut Vec<u8>, value: &AnyValue) {
    match value {
        AnyValue::Scalar(bytes) => out.extend_from_slice(bytes),
        AnyValue::Array(values) => {
            out.push(117);
            var_uint(out, values.len() as u64);
            values.iter().for_each(|value| put_any(out, value));
        }
        AnyValue::Map(entries) => {
            out.push(118);
            var_uint(out, entries.len() as u64);
            for (key, value) in entries {
                put_buf(out, key.as_bytes());
                put_any(out, value);
            }
        }
    }
}

fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("{\"bold\":true}".to_owned()),
        Just("[1,[2,{\"x\":\"]\"}]]".to_owned()),
        Just("not json".to_owned()),
        any::<i32>().prop_map(|n| n.to_string()),
    ]
}

/// Item content: its type number and encoded bytes. Legacy JSON content (2) is left out:
/// `check_frame` refuses it.
fn content() -> impl Strategy<Value = (u8, Vec<u8>)> {
    let string = |text: &str| {
        let mut out = Vec::new();
        put_buf(&mut out, text.as_bytes());
        out
    };
    prop_oneof![
        (1u32..20).prop_map(|len| (1, {
            let mut out = Vec::new();
            var_uint(&mut out, u64::from(len));
            out
        })),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| {
            let mut out = Vec::new();
            put_buf(&mut out, &bytes);
            (3, out)
        }),
        "\\PC{0,6}".prop_map(move |text| (4, string(&text))),
        json_text().prop_map(move |text| (5, string(&text))),
        ("[a-z]{1,4}", json_text())
            .prop_map(move |(key, text)| (6, [string(&key), string(&text)].concat())),
        prop::sample::select(vec![0u8, 1, 2, 3, 4, 5, 6, 9, 15]).prop_map(move |type_ref| {
            let mut out = vec![type_ref];
            if type_ref == 3 {
                out.extend(string("p"));
            }
            (7, out)
        }),
        prop::collection::vec(any_value(), 0..4).prop_map(|values| {
            let mut out = Vec::new();
            var_uint(&mut out, values.len() as u64);
            values.iter().for_each(|value| put_any(&mut out, value));
            (8, out)
        }),
        any_value().prop_map(move |options| {
            let mut out = string("guid");
            put_any(&mut out, &options);
            (9, out)
        }),
    ]
}

#[derive(Debug, Clone)]
enum Parent {
    Root(&'static str),
    Item((u64, u32)),
}

#[derive(Debug, Clone)]
enum Struct {
    Gc(u32),
    Skip(u32),
    Item {
        origin: Option<(u64, u32)>,
        right_origin: Option<(u64, u32)>,
        parent: Parent,
        parent_sub: Option<String>,
        content: (u8, Vec<u8>),
    },
}

fn a_struct() -> impl Strategy<Value = Struct> {
    let parent = prop_oneof![
        prop::sample::select(vec!["body", "list", "meta", "prosemirror"]).prop_map(Parent::Root),
        id().prop_map(Parent::Item),
    ];
    prop_oneof![
        1 => (1u32..10).prop_map(Struct::Gc),
        1 => (1u32..10).prop_map(Struct::Skip),
        8 => (
            prop::option::of(id()),
            prop::option::of(id()),
            parent,
            prop::option::of("[a-c]{1,2}"),
            content()
        )
            .prop_map(|(origin, right_origin, parent, parent_sub, content)| Struct::Item {
                origin,
                right_origin,
                parent,
                parent_sub,
                content,
            }),
    ]
}

fn put_id(out: &mut Vec<u8>, (client, clock): (u64, u32)) {
    var_uint(out, client);
    var_uint(out, u64::from(clock));
}

fn put_struct(out: &mut Vec<u8>, a_struct: &Struct) {
    match a_struct {
        Struct::Gc(len) | Struct::Skip(len) => {
            out.push(if matches!(a_struct, Struct::Gc(_)) {
                0
            } else {
                10
            });
            var_uint(out, u64::from(*len));
        }
        Struct::Item {
            origin,
            right_origin,
            parent,
            parent_sub,
            content,
        } => {
            let has_parent = origin.is_none() && right_origin.is_none();
            let info = content.0
                | if origin.is_some() { 0x80 } else { 0 }
                | if right_origin.is_some() { 0x40 } else { 0 }
                | if has_parent && parent_sub.is_some() {
                    0x20
                } else {
                    0
                };
            out.push(info);
            origin.iter().for_each(|id| put_id(out, *id));
            right_origin.iter().for_each(|id| put_id(out, *id));
            if has_parent {
                match parent {
                    Parent::Root(name) => {
                        out.push(1);
                        put_buf(out, name.as_bytes());
                    }
                    Parent::Item(id) => {
                        out.push(0);
                        put_id(out, *id);
                    }
                }
                if let Some(key) = parent_sub {
                    put_buf(out, key.as_bytes());
                }
            }
            out.extend_from_slice(&content.1);
        }
    }
}

/// Per-client struct runs (distinct clients) and delete-set ranges.
type ShapedUpdate = (
    BTreeMap<u64, (u32, Vec<Struct>)>,
    BTreeMap<u64, Vec<(u32, u32)>>,
);

fn shaped_update() -> impl Strategy<Value = ShapedUpdate> {
    (
        prop::collection::btree_map(
            client(),
            (0u32..30, prop::collection::vec(a_struct(), 0..6)),
            0..4,
        ),
        prop::collection::btree_map(
            client(),
            prop::collection::vec((0u32..60, 0u32..10), 0..4),
            0..3,
        ),
    )
}

fn encode_update((clients, deletes): &ShapedUpdate) -> Vec<u8> {
    let mut out = Vec::new();
    var_uint(&mut out, clients.len() as u64);
    for (client, (clock, structs)) in clients.iter().rev() {
        var_uint(&mut out, structs.len() as u64);
        var_uint(&mut out, *client);
        var_uint(&mut out, u64::from(*clock));
        structs
            .iter()
            .for_each(|a_struct| put_struct(&mut out, a_struct));
    }
    var_uint(&mut out, deletes.len() as u64);
    for (client, ranges) in deletes {
        var_uint(&mut out, *client);
        var_uint(&mut out, ranges.len() as u64);
        for (clock, len) in ranges {
            var_uint(&mut out, u64::from(*clock));
            var_uint(&mut out, u64::from(*len));
        }
    }
    out
}

#[test]
fn grammar_valid_random_updates_are_accepted_and_decode() {
    let config = Config {
        cases: n_cases(600),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let limits = FrameLimits::default();
    let panics = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let n_messages = std::cell::Cell::new(0usize);
    let started = Instant::now();
    let result = runner.run(&prop::collection::vec(shaped_update(), 1..3), |updates| {
        let frame: Vec<u8> = updates
            .iter()
            .flat_map(|update| manifesto_protocol::encode_update(encode_update(update)))
            .collect();
        let outcome = exercise(&frame, &limits).map_err(TestCaseError::fail)?;
        prop_assert_eq!(outcome.checked, None);
        n_messages.set(n_messages.get() + outcome.n_decoded);
        for panic in outcome.apply_panics {
            *panics.borrow_mut().entry(panic).or_default() += 1;
        }
        Ok(())
    });
    let panics = panics.into_inner();
    println!(
        "grammar-valid updates: {} frames ({} messages decoded) in {:.2?}; yrs apply panics: {}",
        runner.config().cases,
        n_messages.get(),
        started.elapsed(),
        panics.values().sum::<usize>()
    );
    for (panic, count) in &panics {
        println!("  {count} x yrs panicked while applying: {panic}");
    }
    if let Err(failure) = result {
        panic!("grammar-valid updates: {failure}");
    }
}
