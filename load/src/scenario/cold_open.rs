//! `cold-open`: build a document from a whole trace (259,778 edits for automerge-paper) in
//! large batched updates, then time new clients from connect to full SyncStep2.
//!
//! With `--phase build` then `--phase measure`, a harness restarts the server in between, so
//! the first measured client pays for loading the document from disk; with `--phase all`
//! (servers without persistence) the document is still in the server's memory.

use std::time::{Duration, Instant};

use rand::Rng;
use yrs::{ClientID, GetString, Transact};

use crate::cli::{ColdOpenArgs, ColdOpenPhase};
use crate::delegate::Delegate;
use crate::report::{Better, ScenarioReport};
use crate::target::check_doc_name;
use crate::trace::{read_trace, Trace, WriterScript};
use crate::writer::ScriptPlayer;

use super::RunEnv;

/// The root text the document is built in.
const TEXT_NAME: &str = "content";

fn random_client_id() -> ClientID {
    ClientID::new(u64::from(rand::thread_rng().gen::<u32>()))
}

/// Syncs a new client and returns (time from connecting to receiving the whole SyncStep2,
/// before applying it; SyncStep2 bytes; whether the text is the trace's end content).
async fn time_sync(
    url: &str,
    expected: &str,
    timeout: Duration,
) -> anyhow::Result<(Duration, usize, bool)> {
    let mut reader = Delegate::new(random_client_id(), "cold-open-reader");
    let started = Instant::now();
    let synced = reader.sync(url, timeout).await?;
    let (elapsed, bytes) = (synced.received_at - started, synced.bytes);
    let complete = {
        let text = reader.doc.get_or_insert_text(TEXT_NAME);
        let txn = reader.doc.transact();
        text.get_string(&txn) == expected
    };
    reader.close().await;
    Ok((elapsed, bytes, complete))
}

async fn build(
    env: &RunEnv,
    url: &str,
    trace: &Trace,
    args: &ColdOpenArgs,
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut builder = Delegate::new(random_client_id(), "cold-open-builder");
    builder.sync(url, env.handshake_timeout).await?;
    let existing = {
        let text = builder.doc.get_or_insert_text(TEXT_NAME);
        let txn = builder.doc.transact();
        text.get_string(&txn).len()
    };
    anyhow::ensure!(
        existing == 0,
        "document at {} already has {existing} bytes of text; give a new --doc",
        crate::target::redact(url)
    );
    let script = WriterScript {
        first_edit: 0,
        window_start: 0,
        prefill: trace.start_content.clone(),
        edits: trace.edits.clone(),
    };
    let mut player = ScriptPlayer::new(&builder.doc, TEXT_NAME, script);
    let started = Instant::now();
    let mut updates = 0usize;
    let mut bytes = 0usize;
    if !trace.start_content.is_empty() {
        let update = player.prefill(&builder.doc);
        builder
            .send(manifesto_protocol::encode_update(update))
            .await?;
    }
    while let Some(batch) = player.next_batch(&builder.doc, args.batch_edits) {
        let frame = manifesto_protocol::encode_update(batch.update);
        bytes += frame.len();
        updates += 1;
        builder.send(frame).await?;
    }
    let sent_secs = started.elapsed().as_secs_f64();
    // Confirmed once a new client receives the whole text; bounded by the timeout.
    let deadline = Instant::now() + timeout;
    let confirmed = loop {
        let (_, _, complete) = time_sync(url, &trace.end_content, timeout).await?;
        if complete {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    builder.close().await;
    anyhow::ensure!(
        confirmed,
        "the server did not hold the whole document {}s after it was sent",
        args.timeout_secs
    );
    let build_secs = started.elapsed().as_secs_f64();
    report.detail("build_secs", build_secs, "s", Better::Lower);
    report.detail("build_send_secs", sent_secs, "s", Better::Lower);
    report.detail("build_updates", updates as f64, "", Better::Higher);
    report.detail("build_bytes", bytes as f64, "B", Better::Lower);
    report.detail(
        "build_edits_per_sec",
        trace.edits.len() as f64 / build_secs,
        "/s",
        Better::Higher,
    );
    if player.clamped > 0 {
        report.notes.push(format!(
            "{} trace edits were clamped while building",
            player.clamped
        ));
    }
    Ok(())
}

/// Runs `cold-open` as `args.phase` says.
pub async fn run_cold_open(env: &RunEnv, args: &ColdOpenArgs) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(args.batch_edits >= 1, "--batch-edits must be at least 1");
    let doc = match (&args.doc, args.phase) {
        (Some(doc), _) => doc.clone(),
        (None, ColdOpenPhase::Measure) => anyhow::bail!(
            "--phase measure needs --doc NAME, the document built earlier with --phase build"
        ),
        (None, _) => format!("{}-cold-open", env.doc_prefix),
    };
    check_doc_name(&doc)?;
    let url = env.connect_url(&env.url.url_for(&doc)?, 0);
    let mut report = env.report("cold-open");
    report.param("phase", format!("{:?}", args.phase).to_lowercase());
    report.param("doc", doc.clone());
    report.param("samples", args.samples);
    let trace = read_trace(&env.trace_path)?;
    report.param("trace_edits", trace.edits.len());

    let own = env.monitor_self();
    let server = env.monitor_server();
    let rss_before = server.as_ref().and_then(|m| m.rss_now_mib());
    if args.phase != ColdOpenPhase::Measure {
        // `measure` joins the document built earlier and never creates one: a missing
        // document must fail (404), not be measured empty.
        env.create_document(&doc).await?;
        build(env, &url, &trace, args, &mut report).await?;
    }
    if args.phase != ColdOpenPhase::Build {
        let timeout = Duration::from_secs(args.timeout_secs);
        let mut times = Vec::new();
        let mut all_complete = true;
        let mut sync_bytes = 0;
        for _ in 0..args.samples.max(1) {
            let (elapsed, bytes, complete) = time_sync(&url, &trace.end_content, timeout).await?;
            times.push(elapsed.as_secs_f64() * 1000.0);
            sync_bytes = bytes;
            all_complete &= complete;
        }
        report.headline("cold_open_first_ms", times[0], "ms", Better::Lower);
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        report.headline(
            "open_median_ms",
            sorted[sorted.len() / 2],
            "ms",
            Better::Lower,
        );
        report.detail("sync_step2_bytes", sync_bytes as f64, "B", Better::Lower);
        report.detail(
            "document_complete",
            if all_complete { 1.0 } else { 0.0 },
            "",
            Better::Higher,
        );
        if !all_complete {
            report
                .notes
                .push("a client received an incomplete document".to_owned());
        }
        if args.phase == ColdOpenPhase::All {
            report
                .notes
                .push("document warm in memory (no restart between build and open)".into());
        }
    }
    if let Some(m) = server {
        let usage = m.finish().await;
        if let Some(before) = rss_before {
            report.headline(
                "server_rss_delta_mib",
                usage.rss_end_mib - before,
                "MiB",
                Better::Lower,
            );
        }
        report.server_figures(&usage);
    }
    report.load_usage = own.finish().await;
    Ok(report)
}
