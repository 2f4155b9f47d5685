//! `durable-throughput`: one writer sends updates as fast as a window of unconfirmed updates
//! allows; a second connection confirms each by receiving it. Our server relays an update only
//! after it is flushed to disk, so confirmed updates per second is durable throughput; for
//! peers without that guarantee it is relay throughput.
//!
//! The writer replays the trace's inserting edits (pure deletions are skipped, since only
//! edits that create items can be matched to a clock; later positions are clamped), one
//! update per edit; when the trace runs out it types it again into a fresh `Y.Text`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use yrs::ClientID;

use crate::cli::DurableArgs;
use crate::delegate::{Delegate, Received};
use crate::delivery::{DeliveryTracker, SendLogs};
use crate::latency::LatencyHistogram;
use crate::report::{Better, ScenarioReport};
use crate::trace::{read_trace, WriterScript};
use crate::writer::{ScriptPlayer, WriterLog};

use super::RunEnv;

/// How long the writer waits for a confirmation with a full window before counting a stall.
const STALL: Duration = Duration::from_secs(5);

/// Runs `durable-throughput`.
pub async fn run_durable_throughput(
    env: &RunEnv,
    args: &DurableArgs,
) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(args.window >= 1, "--window must be at least 1");
    let mut report = env.report("durable-throughput");
    report.param("window", args.window);
    report.param("duration_secs", args.duration_secs);
    let url = env.prepare_doc("durable").await?;
    let trace = read_trace(&env.trace_path)?;
    let script = WriterScript {
        first_edit: 0,
        window_start: 0,
        prefill: String::new(),
        edits: trace.inserting_edits().cloned().collect(),
    };
    drop(trace);

    let mut rng = rand::thread_rng();
    let writer_id = ClientID::new(u64::from(rng.gen::<u32>()));
    let confirmer_id = loop {
        let id = ClientID::new(u64::from(rng.gen::<u32>()));
        if id != writer_id {
            break id;
        }
    };
    let log = Arc::new(WriterLog::new(writer_id, 0));
    let logs: SendLogs = Arc::new(HashMap::from([(writer_id, log.clone())]));
    let mut writer = Delegate::new(writer_id, "durable-writer");
    let mut confirmer = Delegate::new(confirmer_id, "durable-confirmer");
    writer
        .sync(&env.connect_url(&url, 0), env.handshake_timeout)
        .await?;
    confirmer
        .sync(&env.connect_url(&url, 1), env.handshake_timeout)
        .await?;

    let confirmed = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let confirm_task = tokio::spawn(confirm(
        confirmer,
        DeliveryTracker::new(logs),
        confirmed.clone(),
        progress.clone(),
        stop.clone(),
    ));

    let own = env.monitor_self();
    let server = env.monitor_server();
    let mut round = 0;
    let mut player = ScriptPlayer::new(&writer.doc, "content-0", script.clone());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    let mut stalls = 0usize;
    let mut writer_error = None;
    while Instant::now() < deadline {
        let in_flight = log.len().saturating_sub(confirmed.load(Ordering::Relaxed));
        if in_flight < args.window {
            let edit = match player.next_edit(&writer.doc) {
                Some(edit) => edit,
                None => {
                    // The trace ran out: type it again into a fresh text of the same document.
                    round += 1;
                    let text = format!("content-{round}");
                    player = ScriptPlayer::new(&writer.doc, &text, script.clone());
                    continue;
                }
            };
            if let Some(clock) = edit.clock_after {
                log.record(clock, Instant::now());
            }
            if let Err(e) = writer
                .send(manifesto_protocol::encode_update(edit.update))
                .await
            {
                writer_error = Some(e.reason());
                break;
            }
            continue;
        }
        let wait = STALL.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = progress.notified() => {}
            _ = tokio::time::sleep(wait) => {
                if wait == STALL {
                    stalls += 1;
                }
            }
            // Keeps answering pings and draining what the server sends the writer.
            frame = writer.next_frame() => match frame {
                Ok(frame) => { let _ = writer.handle_frame(&frame, false).await; }
                Err(e) => {
                    writer_error = Some(e.reason());
                    break;
                }
            },
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let confirmed_in_time = confirmed.load(Ordering::Relaxed);
    let sent = log.len();
    // Let the last window arrive before stopping the confirmer (bounded).
    crate::crowd::wait_until(Duration::from_secs(5), || {
        confirmed.load(Ordering::Relaxed) >= sent
    })
    .await;
    stop.cancel();
    let (latency, confirmer_error) = confirm_task.await.unwrap_or_else(|_| {
        (
            LatencyHistogram::new(),
            Some("confirmer task failed".to_owned()),
        )
    });
    writer.close().await;

    report.headline(
        "confirmed_updates_per_sec",
        confirmed_in_time as f64 / elapsed,
        "/s",
        Better::Higher,
    );
    report.detail("updates_sent", sent as f64, "", Better::Higher);
    report.detail(
        "updates_confirmed",
        confirmed.load(Ordering::Relaxed) as f64,
        "",
        Better::Higher,
    );
    report.detail("window_stalls", stalls as f64, "", Better::Lower);
    report.detail("trace_rounds", (round + 1) as f64, "", Better::Lower);
    if let Some(summary) = latency.summary() {
        report.headline("confirm_p50_ms", summary.p50_ms, "ms", Better::Lower);
        report.headline("confirm_p99_ms", summary.p99_ms, "ms", Better::Lower);
        report.latency = Some(summary);
    }
    for error in [
        writer_error.map(|e| format!("writer: {e}")),
        confirmer_error.map(|e| format!("confirmer: {e}")),
    ]
    .into_iter()
    .flatten()
    {
        *report.disconnects.entry(error).or_insert(0) += 1;
    }
    if let Some(m) = server {
        report.server_figures(&m.finish().await);
    }
    report.load_usage = own.finish().await;
    Ok(report)
}

/// The confirming connection: decodes every update and advances `confirmed` to the number of
/// the writer's updates received. Returns the send-to-confirm latencies and the error that
/// ended it early, if any.
async fn confirm(
    mut confirmer: Delegate,
    mut tracker: DeliveryTracker,
    confirmed: Arc<AtomicUsize>,
    progress: Arc<Notify>,
    stop: CancellationToken,
) -> (LatencyHistogram, Option<String>) {
    let mut error = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            frame = confirmer.next_frame() => {
                let received = Instant::now();
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(e) => {
                        error = Some(e.reason());
                        break;
                    }
                };
                if let Ok(Received::Update(Some(sv))) = confirmer.handle_frame(&frame, true).await {
                    let delivered = tracker.on_update(&sv, received);
                    if delivered > 0 {
                        confirmed.fetch_add(delivered, Ordering::Relaxed);
                        progress.notify_one();
                    }
                }
            }
        }
    }
    confirmer.close().await;
    (tracker.histogram, error)
}
