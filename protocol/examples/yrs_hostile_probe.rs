//! Measures what raw yrs 0.28 does with hostile frames when `check_frame` is not run first, and
//! shows that `check_frame` refuses each of them. Every probe runs in a child process, because
//! the interesting outcomes are aborts.
//!
//! `cargo run --release -p manifesto-protocol --example yrs_hostile_probe` prints a report;
//! the figures are recorded in `protocol/HOSTILE_INPUT.md`.

use std::process::{Command, ExitCode};
use std::time::Instant;

use manifesto_protocol::yrs::sync::{Message, MessageReader, SyncMessage};
use manifesto_protocol::yrs::types::ToJson;
use manifesto_protocol::yrs::updates::decoder::{Decode, DecoderV1};
use manifesto_protocol::yrs::{Array, Doc, Transact, Update};
use manifesto_protocol::{check_frame, FrameLimits};

/// The default stack of a tokio worker thread.
const TOKIO_WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("nest") => child_nest(&args[1], args[2].parse().unwrap_or(0), &args[3]),
        Some("alloc") => child_alloc(&args[1]),
        Some("amplify") => child_amplify(&args[1]),
        Some("typenest") => child_typenest(args[1].parse().unwrap_or(0), &args[2], &args[3]),
        _ => {
            report();
            ExitCode::SUCCESS
        }
    }
}

fn var_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn var_buf(out: &mut Vec<u8>, bytes: &[u8]) {
    var_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A sync Update message (`[0, 2, buf]`).
fn update_frame(update: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 2];
    var_buf(&mut frame, update);
    frame
}

/// One item in root type "a" with Any content made of `values`, then an empty delete set.
fn any_item_update(n_values: u64, values: &[u8]) -> Vec<u8> {
    let mut update = vec![1, 1, 1, 0, 8, 1, 1, b'a'];
    var_uint(&mut update, n_values);
    update.extend_from_slice(values);
    update.push(0);
    update
}

/// One Any value of `depth` nested arrays (or maps, keyed by "") around a null.
fn nested_any(kind: &str, depth: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(depth * 3 + 1);
    for _ in 0..depth {
        if kind == "map" {
            value.extend_from_slice(&[118, 1, 0]);
        } else {
            value.extend_from_slice(&[117, 1]);
        }
    }
    value.push(126);
    value
}

/// What the server would do without `check_frame`: read every message, decode every update.
fn raw_decode(frame: &[u8]) -> Result<usize, String> {
    let mut decoder = DecoderV1::from(frame);
    let mut n_messages = 0;
    for message in MessageReader::new(&mut decoder) {
        match message.map_err(|e| e.to_string())? {
            Message::Sync(SyncMessage::SyncStep2(bytes))
            | Message::Sync(SyncMessage::Update(bytes)) => {
                Update::decode_v1(&bytes).map_err(|e| e.to_string())?;
            }
            _ => {}
        }
        n_messages += 1;
    }
    Ok(n_messages)
}

fn child_nest(kind: &str, depth: usize, stack: &str) -> ExitCode {
    let frame = update_frame(&any_item_update(1, &nested_any(kind, depth)));
    let run = move || raw_decode(&frame).is_ok();
    run_on_stack(stack, run)
}

/// Frames of a few bytes that claim a huge count.
fn count_bomb(kind: &str) -> Vec<u8> {
    let count = 1u64 << 28;
    let mut body = Vec::new();
    match kind {
        "update-clients" => {
            var_uint(&mut body, count);
            update_frame(&body)
        }
        "update-structs" => {
            body.push(1);
            var_uint(&mut body, count);
            body.extend_from_slice(&[1, 0]);
            update_frame(&body)
        }
        "state-vector" => {
            var_uint(&mut body, count);
            let mut frame = vec![0, 0];
            var_buf(&mut frame, &body);
            frame
        }
        "awareness" => {
            var_uint(&mut body, count);
            let mut frame = vec![1];
            var_buf(&mut frame, &body);
            frame
        }
        "any-array" => {
            let mut value = vec![117];
            var_uint(&mut value, count);
            update_frame(&any_item_update(1, &value))
        }
        "any-map" => {
            let mut value = vec![118];
            var_uint(&mut value, count);
            update_frame(&any_item_update(1, &value))
        }
        "item-any-content" => update_frame(&any_item_update(count, &[])),
        _ => {
            // JSON content: info 2, the count, then nothing.
            let mut update = vec![1, 1, 1, 0, 2, 1, 1, b'a'];
            var_uint(&mut update, count);
            update_frame(&update)
        }
    }
}

const COUNT_BOMBS: [&str; 8] = [
    "update-clients",
    "update-structs",
    "state-vector",
    "awareness",
    "any-array",
    "any-map",
    "item-any-content",
    "json-content",
];

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn child_alloc(kind: &str) -> ExitCode {
    let frame = count_bomb(kind);
    let (hwm, peak) = (status_kib("VmHWM:"), status_kib("VmPeak:"));
    let started = Instant::now();
    let result = raw_decode(&frame);
    println!(
        "{} {} {} {} {} {:?}",
        frame.len(),
        status_kib("VmHWM:") - hwm,
        status_kib("VmPeak:").saturating_sub(peak),
        started.elapsed().as_millis(),
        check_frame(&frame, &FrameLimits::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
        result
            .map(|n| format!("decoded {n} messages"))
            .unwrap_or_else(|e| e),
    );
    ExitCode::SUCCESS
}

/// A frame near the 1 MiB limit, made of many small structs of one kind.
fn amplifier(kind: &str) -> Vec<u8> {
    let budget = 1024 * 1024 - 16;
    let mut structs = Vec::new();
    let mut n_structs = 0u64;
    while structs.len() < budget - 64 {
        match kind {
            // GC structs of length 1.
            "gc" => structs.extend_from_slice(&[0, 1]),
            // Array types in root "a".
            "type" => structs.extend_from_slice(&[7, 1, 1, b'a', 0]),
            // Subdocuments with an empty guid and null options, in root "a".
            "doc" => structs.extend_from_slice(&[9, 1, 1, b'a', 0, 126]),
            // One-character strings in root "a".
            _ => structs.extend_from_slice(&[4, 1, 1, b'a', 1, b'x']),
        }
        n_structs += 1;
    }
    let mut update = vec![1];
    var_uint(&mut update, n_structs);
    update.extend_from_slice(&[1, 0]);
    update.extend_from_slice(&structs);
    update.push(0);
    update_frame(&update)
}

fn child_amplify(kind: &str) -> ExitCode {
    let frame = amplifier(kind);
    let hwm = status_kib("VmHWM:");
    let started = Instant::now();
    let result = raw_decode(&frame);
    println!(
        "{} {} {} {:?} {:?}",
        frame.len(),
        status_kib("VmHWM:") - hwm,
        started.elapsed().as_millis(),
        check_frame(&frame, &FrameLimits::default())
            .err()
            .map(|e| e.to_string()),
        result.err(),
    );
    ExitCode::SUCCESS
}

/// An update of `depth` nested Array types: the first in root "a", each next one inside the
/// one before (parent by id). Every level is a few bytes, and every frame passes `check_frame`.
fn nested_types_update(depth: u64) -> Vec<u8> {
    let mut update = vec![1];
    var_uint(&mut update, depth);
    update.extend_from_slice(&[1, 0]);
    update.extend_from_slice(&[7, 1, 1, b'a', 0]);
    for clock in 0..depth.saturating_sub(1) {
        update.extend_from_slice(&[7, 0, 1]);
        var_uint(&mut update, clock);
        update.push(0);
    }
    update.push(0);
    update
}

/// Applies nested types, then runs `op` on them: `apply` (and drop), `json` or `delete`.
fn child_typenest(depth: u64, op: &str, stack: &str) -> ExitCode {
    let update = nested_types_update(depth);
    let op = op.to_owned();
    let run = move || {
        let doc = Doc::new();
        let Ok(update) = Update::decode_v1(&update) else {
            return false;
        };
        if doc.transact_mut().apply_update(update).is_err() {
            return false;
        }
        let root = doc.get_or_insert_array("a");
        match op.as_str() {
            "json" => drop(root.to_json(&doc.transact())),
            "delete" => root.remove(&mut doc.transact_mut(), 0),
            _ => {}
        }
        true
    };
    run_on_stack(stack, run)
}

fn run_child(args: &[&str]) -> (bool, String) {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .output()
        .expect("child process");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

/// The smallest depth in `1..=max_depth` for which `child` (given the depth) dies, by bisection.
fn smallest_aborting_depth(
    child: impl Fn(usize) -> Vec<String>,
    max_depth: usize,
) -> Option<usize> {
    let survives = |depth: usize| {
        let args = child(depth);
        run_child(&args.iter().map(String::as_str).collect::<Vec<_>>()).0
    };
    if survives(max_depth) {
        return None;
    }
    let (mut low, mut high) = (1usize, max_depth);
    while low < high {
        let mid = low + (high - low) / 2;
        if survives(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Some(high)
}

fn report() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("## nesting ({profile} build): smallest Any nesting whose decode aborts");
    for kind in ["array", "map"] {
        for stack in ["main", "2mib"] {
            let child = |depth: usize| {
                vec![
                    "nest".to_owned(),
                    kind.to_owned(),
                    depth.to_string(),
                    stack.to_owned(),
                ]
            };
            match smallest_aborting_depth(child, 2_000_000) {
                Some(depth) => {
                    let frame = update_frame(&any_item_update(1, &nested_any(kind, depth)));
                    let refusal = check_frame(&frame, &FrameLimits::default());
                    println!(
                        "{kind} on {stack} stack: depth {depth}, frame {} bytes; check_frame: {:?}",
                        frame.len(),
                        refusal.err().map(|e| e.to_string())
                    );
                }
                None => println!("{kind} on {stack} stack: no abort up to depth 2000000"),
            }
        }
    }
    println!("## nested Y types ({profile} build): smallest depth that aborts; every frame passes check_frame");
    let max_depth = 150_000;
    for op in ["apply", "json", "delete"] {
        for stack in ["main", "2mib"] {
            let child = |depth: usize| {
                vec![
                    "typenest".to_owned(),
                    depth.to_string(),
                    op.to_owned(),
                    stack.to_owned(),
                ]
            };
            match smallest_aborting_depth(child, max_depth) {
                Some(depth) => {
                    let frame = update_frame(&nested_types_update(depth as u64));
                    let verdict = check_frame(&frame, &FrameLimits::default());
                    println!("{op} on {stack} stack: depth {depth}, frame {} bytes; check_frame: {verdict:?}", frame.len());
                }
                None => println!("{op} on {stack} stack: no abort up to depth {max_depth}"),
            }
        }
    }
    println!("## count bombs ({profile} build): frame bytes, VmHWM delta KiB, VmPeak delta KiB, ms, check_frame, raw yrs");
    for kind in COUNT_BOMBS {
        let (ok, line) = run_child(&["alloc", kind]);
        println!("{kind}: {line}{}", if ok { "" } else { " (child died)" });
    }
    println!("## amplification ({profile} build): frame bytes, VmHWM delta KiB, ms, check_frame, raw yrs error");
    for kind in ["gc", "string", "type", "doc"] {
        let (ok, line) = run_child(&["amplify", kind]);
        println!("{kind}: {line}{}", if ok { "" } else { " (child died)" });
    }
}

/// Runs `run` on the main thread (`stack` "main") or on a thread with tokio's worker stack;
/// exits 0 when it returns true, 2 when it returns false or its thread fails.
fn run_on_stack(stack: &str, run: impl FnOnce() -> bool + Send + 'static) -> ExitCode {
    let ok = if stack == "main" {
        run()
    } else {
        let worker = std::thread::Builder::new()
            .stack_size(TOKIO_WORKER_STACK_BYTES)
            .spawn(run);
        worker
            .map(|handle| handle.join().unwrap_or(false))
            .unwrap_or(false)
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
