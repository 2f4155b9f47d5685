//! Sequential editing traces (the `josephg/editing-traces` format, CC BY 4.0): reading them,
//! and cutting one into per-writer scripts.
//!
//! A trace is `{ startContent, endContent, txns: [{ patches: [[pos, deleteCount, insert]] }] }`
//! with positions in Unicode code points. Every patch becomes one [`Edit`]; a load writer sends
//! each edit as one Yjs update, as an editor sends each keystroke.
//!
//! # How a trace is shared among writers
//!
//! Writer `i` of `n` replays the contiguous slice starting at edit `i * len / n`, so the
//! writers type different parts of the paper. Each writer owns its own `Y.Text` (named by the
//! caller) and first fills it with a *window* of the real document as it stood at the slice's
//! start: from the lowest position the slice touches, long enough that no edit of the slice
//! reaches past its end (capped at `max_window_chars`). Positions are shifted by the window's
//! start, so each edit lands exactly where it landed in the real document, and the writer's
//! text stays equal to that window of the real document (see the tests). Edits that would reach
//! past a capped window are clamped to it. No IO happens here apart from [`read_trace`].

use std::io::Read;
use std::path::Path;

use ropey::Rope;
use serde::Deserialize;

/// One patch of a trace: delete `delete` code points at `pos`, then insert `insert` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Position in code points.
    pub pos: usize,
    /// Number of code points deleted at `pos`.
    pub delete: usize,
    /// Text inserted at `pos` after the deletion.
    pub insert: String,
}

impl Edit {
    /// Whether sending this edit creates new Yjs items (and so advances the writer's clock).
    pub fn inserts(&self) -> bool {
        !self.insert.is_empty()
    }
}

/// A sequential trace, flattened to edits.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The document before the first edit.
    pub start_content: String,
    /// The document after the last edit, as recorded in the trace.
    pub end_content: String,
    /// Every patch of every transaction, in order.
    pub edits: Vec<Edit>,
}

/// Why a trace could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read or decompressed.
    #[error("cannot read trace {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The JSON does not have the sequential-trace shape.
    #[error("trace is not a sequential editing trace: {0}")]
    Format(String),
    /// A concurrent trace was given; only sequential ones are replayed.
    #[error("trace is a concurrent trace; give a sequential one such as automerge-paper.json.gz")]
    Concurrent,
    /// The trace has no edits.
    #[error("trace has no edits")]
    Empty,
}

#[derive(Deserialize)]
struct RawTrace {
    kind: Option<String>,
    #[serde(rename = "startContent", default)]
    start_content: String,
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<RawTxn>,
}

#[derive(Deserialize)]
struct RawTxn {
    patches: Vec<(usize, usize, String)>,
}

/// Reads a trace file, gzip-compressed (detected by its magic bytes) or plain JSON.
pub fn read_trace(path: &Path) -> Result<Trace, TraceError> {
    let io_err = |source| TraceError::Io {
        path: path.display().to_string(),
        source,
    };
    let raw = std::fs::read(path).map_err(io_err)?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(io_err)?;
        out
    } else {
        raw
    };
    parse_trace(&json)
}

/// Parses the JSON text of a sequential trace.
pub fn parse_trace(json: &[u8]) -> Result<Trace, TraceError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| TraceError::Format(e.to_string()))?;
    if value.get("kind").and_then(|k| k.as_str()) == Some("concurrent") {
        return Err(TraceError::Concurrent);
    }
    let raw: RawTrace =
        serde_json::from_value(value).map_err(|e| TraceError::Format(e.to_string()))?;
    debug_assert!(raw.kind.as_deref() != Some("concurrent"));
    let edits: Vec<Edit> = raw
        .txns
        .into_iter()
        .flat_map(|t| t.patches)
        .map(|(pos, delete, insert)| Edit {
            pos,
            delete,
            insert,
        })
        .collect();
    if edits.is_empty() {
        return Err(TraceError::Empty);
    }
    Ok(Trace {
        start_content: raw.start_content,
        end_content: raw.end_content,
        edits,
    })
}

/// Applies `edit` to `rope`, clamping it to the rope's length; returns whether it was clamped
/// and the (possibly clamped) edit that was applied.
pub fn apply_clamped(rope: &mut Rope, edit: &Edit) -> (Edit, bool) {
    let len = rope.len_chars();
    let pos = edit.pos.min(len);
    let delete = edit.delete.min(len - pos);
    let clamped = pos != edit.pos || delete != edit.delete;
    if delete > 0 {
        rope.remove(pos..pos + delete);
    }
    if !edit.insert.is_empty() {
        rope.insert(pos, &edit.insert);
    }
    (
        Edit {
            pos,
            delete,
            insert: edit.insert.clone(),
        },
        clamped,
    )
}

impl Trace {
    /// Replays every edit from the start content; the result should equal `end_content`.
    pub fn replay(&self) -> String {
        let mut rope = Rope::from_str(&self.start_content);
        for edit in &self.edits {
            apply_clamped(&mut rope, edit);
        }
        rope.to_string()
    }

    /// The edits that insert something, for workloads that need every update to create items;
    /// pure deletions are dropped and later positions are clamped at replay time.
    pub fn inserting_edits(&self) -> impl Iterator<Item = &Edit> {
        self.edits.iter().filter(|e| e.inserts())
    }
}

/// What one writer replays: the window it starts from and its shifted edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterScript {
    /// Index of the slice's first edit in the trace.
    pub first_edit: usize,
    /// Code-point offset of the window in the real document at the slice's start.
    pub window_start: usize,
    /// The window's text, sent once before measuring.
    pub prefill: String,
    /// The slice's edits with positions relative to the window.
    pub edits: Vec<Edit>,
}

/// Cuts `trace` into `n_writers` scripts of up to `edits_per_writer` edits each (see the
/// module docs). Slices may overlap when `n_writers * edits_per_writer` exceeds the trace.
pub fn plan_writer_scripts(
    trace: &Trace,
    n_writers: usize,
    edits_per_writer: usize,
    max_window_chars: usize,
) -> Vec<WriterScript> {
    let total = trace.edits.len();
    if n_writers == 0 || total == 0 {
        return Vec::new();
    }
    let stride = (total / n_writers).max(1);
    let starts: Vec<usize> = (0..n_writers)
        .map(|i| (i * stride).min(total - 1))
        .collect();
    // One pass over the trace, keeping a cheap (shared-structure) rope clone at each start.
    let mut snapshots: Vec<Option<Rope>> = vec![None; n_writers];
    let mut rope = Rope::from_str(&trace.start_content);
    let mut order: Vec<usize> = (0..n_writers).collect();
    order.sort_by_key(|&i| starts[i]);
    let mut next = 0;
    for (k, edit) in trace.edits.iter().enumerate() {
        while next < order.len() && starts[order[next]] == k {
            snapshots[order[next]] = Some(rope.clone());
            next += 1;
        }
        if next == order.len() {
            break;
        }
        apply_clamped(&mut rope, edit);
    }
    starts
        .iter()
        .zip(snapshots)
        .map(|(&start, snapshot)| {
            let doc = snapshot.unwrap_or_else(|| rope.clone());
            let slice = &trace.edits[start..(start + edits_per_writer).min(total)];
            let lo = slice
                .iter()
                .map(|e| e.pos)
                .min()
                .unwrap_or(0)
                .min(doc.len_chars());
            let hi = slice.iter().map(|e| e.pos + e.delete).max().unwrap_or(lo);
            let deleted: usize = slice.iter().map(|e| e.delete).sum();
            let want = hi.saturating_sub(lo) + deleted;
            let take = want.min(doc.len_chars() - lo).min(max_window_chars);
            WriterScript {
                first_edit: start,
                window_start: lo,
                prefill: doc.slice(lo..lo + take).to_string(),
                edits: slice
                    .iter()
                    .map(|e| Edit {
                        pos: e.pos - lo,
                        delete: e.delete,
                        insert: e.insert.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const TINY: &str = r#"{"startContent":"","endContent":"hxllo!",
        "txns":[{"time":"t","patches":[[0,0,"hello"]]},{"time":"t","patches":[[1,1,"x"],[5,0,"!"]]}]}"#;

    #[test]
    fn parses_and_flattens_patches() {
        let trace = parse_trace(TINY.as_bytes()).unwrap();
        assert_eq!(trace.edits.len(), 3);
        assert_eq!(
            trace.edits[1],
            Edit {
                pos: 1,
                delete: 1,
                insert: "x".into()
            }
        );
        assert_eq!(trace.replay(), trace.end_content);
    }

    #[test]
    fn refuses_concurrent_and_empty_traces() {
        let concurrent = r#"{"kind":"concurrent","endContent":"","numAgents":2,"txns":[]}"#;
        assert!(matches!(
            parse_trace(concurrent.as_bytes()),
            Err(TraceError::Concurrent)
        ));
        let empty = r#"{"startContent":"","endContent":"","txns":[]}"#;
        assert!(matches!(
            parse_trace(empty.as_bytes()),
            Err(TraceError::Empty)
        ));
        assert!(matches!(parse_trace(b"[1,2]"), Err(TraceError::Format(_))));
    }

    #[test]
    fn reads_gzip_files() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(TINY.as_bytes()).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        assert_eq!(read_trace(&path).unwrap().edits.len(), 3);
        assert!(matches!(
            read_trace(&dir.path().join("missing")),
            Err(TraceError::Io { .. })
        ));
    }

    /// A seeded trace of local typing with occasional jumps and deletions, multi-byte text
    /// included, so that code-point positions are exercised.
    fn synthetic_trace(seed: u64, n: usize) -> Trace {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut rope = Rope::new();
        let mut cursor = 0usize;
        let mut edits = Vec::new();
        for _ in 0..n {
            let len = rope.len_chars();
            if rng.gen_bool(0.05) {
                cursor = rng.gen_range(0..=len);
            }
            cursor = cursor.min(len);
            let edit = if len > 0 && cursor > 0 && rng.gen_bool(0.25) {
                cursor -= 1;
                Edit {
                    pos: cursor,
                    delete: 1,
                    insert: String::new(),
                }
            } else {
                let ch = ["a", "é", "😀", " ", "z"][rng.gen_range(0..5)];
                Edit {
                    pos: cursor,
                    delete: 0,
                    insert: ch.to_owned(),
                }
            };
            apply_clamped(&mut rope, &edit);
            if !edit.insert.is_empty() {
                cursor += 1;
            }
            edits.push(edit);
        }
        Trace {
            start_content: String::new(),
            end_content: rope.to_string(),
            edits,
        }
    }

    /// Replays each script on its window and checks the result equals the same window of the
    /// real document after the slice.
    fn assert_scripts_replay_exactly(trace: &Trace, n_writers: usize, per_writer: usize) {
        let scripts = plan_writer_scripts(trace, n_writers, per_writer, usize::MAX);
        assert_eq!(scripts.len(), n_writers);
        // Scripts start in increasing order, so one replay of the real document serves them all.
        let mut real = Rope::from_str(&trace.start_content);
        let mut applied = 0;
        for script in scripts {
            let mut own = Rope::from_str(&script.prefill);
            for edit in &script.edits {
                let (_, clamped) = apply_clamped(&mut own, edit);
                assert!(
                    !clamped,
                    "edit {edit:?} of slice {} was clamped",
                    script.first_edit
                );
            }
            let end = (script.first_edit + per_writer).min(trace.edits.len());
            assert!(end >= applied, "scripts are not in trace order");
            for edit in &trace.edits[applied..end] {
                apply_clamped(&mut real, edit);
            }
            applied = end;
            let start = script.window_start;
            let window = real.slice(start..start + own.len_chars()).to_string();
            assert_eq!(own.to_string(), window, "slice at {}", script.first_edit);
        }
    }

    #[test]
    fn writer_windows_replay_exactly() {
        for seed in 0..20 {
            let trace = synthetic_trace(seed, 400);
            assert_eq!(trace.replay(), trace.end_content, "seed {seed}");
            assert_scripts_replay_exactly(&trace, 5, 60);
        }
    }

    #[test]
    fn capped_windows_clamp_instead_of_failing() {
        let trace = synthetic_trace(7, 500);
        let scripts = plan_writer_scripts(&trace, 3, 200, 4);
        for script in scripts {
            assert!(script.prefill.chars().count() <= 4);
            let mut own = Rope::from_str(&script.prefill);
            for edit in &script.edits {
                apply_clamped(&mut own, edit);
            }
        }
    }

    #[test]
    fn more_writers_than_edits_still_yields_one_script_each() {
        let trace = parse_trace(TINY.as_bytes()).unwrap();
        let scripts = plan_writer_scripts(&trace, 5, 2, 100);
        assert_eq!(scripts.len(), 5);
        assert!(scripts.iter().all(|s| !s.edits.is_empty()));
    }

    /// The real trace, when the shared traces are present on this machine: the full replay must
    /// reproduce `endContent`, and 20 writers' windows must replay exactly.
    #[test]
    fn automerge_paper_trace_replays() {
        let path = Path::new("/work/shared/traces/automerge-paper.json.gz");
        if !path.exists() {
            eprintln!("skipped: {} not present", path.display());
            return;
        }
        let trace = read_trace(path).unwrap();
        assert_eq!(trace.edits.len(), 259_778);
        assert_eq!(trace.replay(), trace.end_content);
        assert_scripts_replay_exactly(&trace, 20, 150);
    }
}
