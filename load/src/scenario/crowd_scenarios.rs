//! Scenarios run by a [`Crowd`]: `plenary` and `drafting` (writers and readers on one or more
//! documents), `idle` (connections only) and `reconnect-storm`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use yrs::ClientID;

use crate::cli::{IdleArgs, ReconnectArgs, SteadyArgs};
use crate::crowd::{Crowd, CrowdConfig, Phase};
use crate::delegate::Delegate;
use crate::procinfo;
use crate::report::{Better, ScenarioReport};
use crate::trace::{plan_writer_scripts, read_trace};

use super::RunEnv;

/// The steady scenarios and their defaults.
#[derive(Debug, Clone, Copy)]
pub enum SteadyScenario {
    /// 1,500 delegates, 20 writers at 5 edits/s, 30 s.
    Plenary,
    /// 100 delegates, 20 writers at 5 edits/s, 20 s.
    Drafting,
}

impl SteadyScenario {
    fn name(self) -> &'static str {
        match self {
            SteadyScenario::Plenary => "plenary",
            SteadyScenario::Drafting => "drafting",
        }
    }
}

struct SteadyParams {
    clients: usize,
    writers: usize,
    rate: f64,
    duration: Duration,
    docs: usize,
    latency_readers: usize,
    drain: Duration,
    max_window_chars: usize,
}

impl SteadyParams {
    fn resolve(scenario: SteadyScenario, args: &SteadyArgs) -> anyhow::Result<SteadyParams> {
        let (clients, duration_secs) = match scenario {
            SteadyScenario::Plenary => (1500, 30),
            SteadyScenario::Drafting => (100, 20),
        };
        let p = SteadyParams {
            clients: args.clients.unwrap_or(clients),
            writers: args.writers.unwrap_or(20),
            rate: args.rate.unwrap_or(5.0),
            duration: Duration::from_secs(args.duration_secs.unwrap_or(duration_secs)),
            docs: args.docs.unwrap_or(1),
            latency_readers: args.latency_readers.unwrap_or(100),
            drain: Duration::from_secs(args.drain_secs.unwrap_or(3)),
            max_window_chars: args.max_window_chars.unwrap_or(4096),
        };
        anyhow::ensure!(
            p.clients >= 2,
            "--clients must be at least 2 (a writer and a reader)"
        );
        anyhow::ensure!(
            p.writers <= p.clients,
            "--writers must not exceed --clients"
        );
        anyhow::ensure!(
            p.docs >= 1 && p.docs <= p.clients,
            "--docs must be between 1 and --clients"
        );
        anyhow::ensure!(
            p.rate > 0.0 && p.rate <= 1000.0,
            "--rate must be in (0, 1000] edits/s"
        );
        anyhow::ensure!(
            p.duration <= Duration::from_secs(3600),
            "--duration-secs is at most 3600"
        );
        Ok(p)
    }
}

/// Opens each document with a single client before the crowd connects, then closes it: a
/// plenary's document exists before the delegates arrive, and a crowd racing to create a
/// document measures something else (y-sweet 0.9.1 can load a document twice when its first
/// connections race, leaving clients on two diverging copies).
async fn open_documents(env: &RunEnv, urls: &[String]) -> anyhow::Result<()> {
    for url in urls {
        let id = ClientID::new(u64::from(rand::thread_rng().gen::<u32>()));
        let mut opener = Delegate::new(id, "document-opener");
        opener.set_publish_awareness(false);
        opener
            .sync(&env.connect_url(url, 0), env.handshake_timeout)
            .await
            .with_context(|| format!("cannot open document {}", crate::target::redact(url)))?;
        opener.close().await;
    }
    Ok(())
}

fn crowd_config(env: &RunEnv, doc_urls: Vec<String>, clients: usize) -> CrowdConfig {
    CrowdConfig {
        doc_urls,
        tokens: env.tokens.clone(),
        n_clients: clients,
        scripts: Vec::new(),
        edits_per_sec: 1.0,
        latency_readers: 0,
        awareness_interval: env.awareness_interval,
        publish_awareness: env.publish_awareness,
        connect_concurrency: env.connect_concurrency,
        handshake_timeout: env.handshake_timeout,
    }
}

/// Connects the crowd and records how that went.
async fn connect(
    env: &RunEnv,
    crowd: &Crowd,
    clients: usize,
    report: &mut ScenarioReport,
) -> usize {
    let started = Instant::now();
    let synced = crowd.wait_connected(env.connect_timeout).await;
    report.headline(
        "connect_all_secs",
        started.elapsed().as_secs_f64(),
        "s",
        Better::Lower,
    );
    report.detail("connected", synced as f64, "", Better::Higher);
    let failures = clients - synced.min(clients);
    report.headline("connect_failures", failures as f64, "", Better::Lower);
    if synced < clients {
        report
            .notes
            .push(format!("only {synced} of {clients} delegates connected"));
    }
    synced
}

/// Records how many connections the kernel dropped because an accept queue was full since
/// `before` (any listener on this machine, so normally the server's).
fn listen_overflow_figure(report: &mut ScenarioReport, before: Option<u64>) {
    let (Some(before), Some(after)) = (before, procinfo::listen_overflows()) else {
        return;
    };
    let overflows = after.saturating_sub(before);
    report.detail("listen_overflows", overflows as f64, "", Better::Lower);
    if overflows > 0 {
        report.notes.push(format!(
            "{overflows} connection attempts overflowed an accept queue \
             (clients resend the SYN after 1 s, 3 s, 7 s, ...)"
        ));
    }
}

fn finish_report(report: &mut ScenarioReport, crowd_metrics: &crate::crowd::CrowdMetrics) {
    report.connect_errors = crowd_metrics.connect_errors();
    report.disconnects = crowd_metrics.disconnects();
    let protocol_errors = crowd_metrics.protocol_errors.load(Ordering::Relaxed);
    if protocol_errors > 0 {
        report
            .notes
            .push(format!("{protocol_errors} undecodable frames"));
    }
}

/// `plenary` and `drafting`.
pub async fn run_steady(
    env: &RunEnv,
    scenario: SteadyScenario,
    args: &SteadyArgs,
) -> anyhow::Result<ScenarioReport> {
    let p = SteadyParams::resolve(scenario, args)?;
    let mut report = env.report(scenario.name());
    report.param("clients", p.clients);
    report.param("writers", p.writers);
    report.param("rate", p.rate);
    report.param("duration_secs", p.duration.as_secs());
    report.param("docs", p.docs);
    report.param("latency_readers", p.latency_readers);

    let trace = read_trace(&env.trace_path)?;
    // A margin of 10 % so that a writer whose ticks bunch up does not run dry.
    let edits_per_writer = (p.rate * p.duration.as_secs_f64() * 1.1).ceil() as usize + 1;
    let scripts = plan_writer_scripts(&trace, p.writers, edits_per_writer, p.max_window_chars);
    drop(trace);
    let mut doc_urls = Vec::with_capacity(p.docs);
    for k in 0..p.docs {
        doc_urls.push(env.prepare_doc(&format!("{}-{k}", scenario.name())).await?);
    }
    open_documents(env, &doc_urls).await?;
    let mut config = crowd_config(env, doc_urls, p.clients);
    config.scripts = scripts;
    config.edits_per_sec = p.rate;
    config.latency_readers = p.latency_readers;

    let own = env.monitor_self();
    let whole_run = env.monitor_server();
    let overflows_before = procinfo::listen_overflows();
    let crowd = Crowd::start(config);
    let synced = connect(env, &crowd, p.clients, &mut report).await;
    if synced < 2 {
        let _ = crowd.finish(Duration::from_secs(10)).await;
        anyhow::bail!(
            "no crowd to measure: {synced} of {} delegates connected to {} ({:?})",
            p.clients,
            env.url.authority(),
            report.notes
        );
    }
    crowd.set_phase(Phase::Prefill);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let window = env.monitor_server();
    let updates_before = crowd.metrics().update_frames.load(Ordering::Relaxed);
    let awareness_before = crowd.metrics().awareness_frames.load(Ordering::Relaxed);
    let started = Instant::now();
    crowd.set_phase(Phase::Writing);
    tokio::time::sleep(p.duration).await;
    crowd.set_phase(Phase::Draining);
    let writing_secs = started.elapsed().as_secs_f64();
    let updates_in_window = crowd.metrics().update_frames.load(Ordering::Relaxed) - updates_before;
    let awareness_in_window =
        crowd.metrics().awareness_frames.load(Ordering::Relaxed) - awareness_before;
    tokio::time::sleep(p.drain).await;
    let updates_total = crowd.metrics().update_frames.load(Ordering::Relaxed) - updates_before;
    let edits_sent = crowd.metrics().edits_sent.load(Ordering::Relaxed);
    let server_window = match window {
        Some(m) => Some(m.finish().await),
        None => None,
    };
    finish_report(&mut report, crowd.metrics());
    let outcome = crowd.finish(Duration::from_secs(30)).await;

    if let Some(latency) = outcome.latency.summary() {
        report.latency_figures("latency", &latency);
        report.latency = Some(latency);
    } else {
        report.notes.push("no latency samples".to_owned());
    }
    report.headline(
        "deliveries_per_sec",
        updates_in_window as f64 / writing_secs,
        "/s",
        Better::Higher,
    );
    // Each edit should reach every other delegate on its document once.
    let peers_per_edit = (synced as f64 / p.docs as f64 - 1.0).max(0.0);
    let expected = edits_sent as f64 * peers_per_edit;
    if expected > 0.0 {
        report.detail(
            "delivery_ratio",
            updates_total as f64 / expected,
            "",
            Better::Higher,
        );
    }
    report.detail("edits_sent", edits_sent as f64, "", Better::Higher);
    report.detail(
        "edits_sent_per_sec",
        edits_sent as f64 / writing_secs,
        "/s",
        Better::Higher,
    );
    report.detail(
        "edits_timed",
        outcome.logged_edits as f64,
        "",
        Better::Higher,
    );
    report.headline(
        "edits_missed_by_sampled_readers",
        outcome.missed_edits as f64,
        "",
        Better::Lower,
    );
    report.detail(
        "awareness_frames_per_sec",
        awareness_in_window as f64 / writing_secs,
        "/s",
        Better::Lower,
    );
    if outcome.clamped_edits > 0 {
        report.notes.push(format!(
            "{} edits clamped to their writer's window",
            outcome.clamped_edits
        ));
    }
    if outcome.stuck_delegates > 0 {
        report.notes.push(format!(
            "{} delegates did not stop in time",
            outcome.stuck_delegates
        ));
    }
    if let Some(usage) = server_window {
        report.server_figures(&usage);
    }
    if let Some(m) = whole_run {
        let usage = m.finish().await;
        report.detail(
            "server_cpu_whole_run_secs",
            usage.cpu_secs,
            "s",
            Better::Lower,
        );
    }
    listen_overflow_figure(&mut report, overflows_before);
    report.load_usage = own.finish().await;
    Ok(report)
}

/// `idle`: connections that only renew their awareness; the server's memory per connection.
pub async fn run_idle(env: &RunEnv, args: &IdleArgs) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    let mut report = env.report("idle");
    report.param("clients", args.clients);
    report.param("hold_secs", args.hold_secs);
    let baseline = env.monitor_server();
    let rss_before = baseline.as_ref().and_then(|m| m.rss_now_mib());
    let own = env.monitor_self();
    let overflows_before = procinfo::listen_overflows();
    let doc_urls = vec![env.prepare_doc("idle").await?];
    open_documents(env, &doc_urls).await?;
    let crowd = Crowd::start(crowd_config(env, doc_urls, args.clients));
    let synced = connect(env, &crowd, args.clients, &mut report).await;
    let hold = env.monitor_server();
    let awareness_before = crowd.metrics().awareness_frames.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let awareness = crowd.metrics().awareness_frames.load(Ordering::Relaxed) - awareness_before;
    report.detail(
        "awareness_frames_per_sec",
        awareness as f64 / args.hold_secs.max(1) as f64,
        "/s",
        Better::Lower,
    );
    if let Some(m) = hold {
        let usage = m.finish().await;
        report.headline("server_rss_mib", usage.rss_end_mib, "MiB", Better::Lower);
        if let (Some(before), true) = (rss_before, synced > 0) {
            let per_client_kib = (usage.rss_end_mib - before) * 1024.0 / synced as f64;
            report.headline(
                "server_rss_per_connection_kib",
                per_client_kib,
                "KiB",
                Better::Lower,
            );
        }
        report.server_figures(&usage);
    }
    if let Some(m) = baseline {
        let _ = m.finish().await;
    }
    listen_overflow_figure(&mut report, overflows_before);
    finish_report(&mut report, crowd.metrics());
    let _ = crowd.finish(Duration::from_secs(30)).await;
    report.load_usage = own.finish().await;
    Ok(report)
}

/// `reconnect-storm`: everyone synced, then everyone drops and reconnects at once.
pub async fn run_reconnect_storm(
    env: &RunEnv,
    args: &ReconnectArgs,
) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    let mut report = env.report("reconnect-storm");
    report.param("clients", args.clients);
    let own = env.monitor_self();
    let doc_urls = vec![env.prepare_doc("storm").await?];
    open_documents(env, &doc_urls).await?;
    let crowd = Crowd::start(crowd_config(env, doc_urls, args.clients));
    let synced = connect(env, &crowd, args.clients, &mut report).await;
    anyhow::ensure!(
        synced > 0,
        "no delegate connected to {}",
        env.url.authority()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let storm = env.monitor_server();
    let overflows_before = procinfo::listen_overflows();
    let started = Instant::now();
    crowd.set_phase(Phase::Reconnect);
    let all = crowd
        .wait_resynced(Duration::from_secs(args.timeout_secs))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let resynced = crowd.metrics().resynced.load(Ordering::Relaxed);
    report.headline("resync_all_secs", elapsed, "s", Better::Lower);
    report.detail("resynced", resynced as f64, "", Better::Higher);
    let resync_failures = synced - resynced.min(synced);
    report.headline("resync_failures", resync_failures as f64, "", Better::Lower);
    listen_overflow_figure(&mut report, overflows_before);
    if !all {
        report.notes.push(format!(
            "only {resynced} of {synced} resynced within the timeout"
        ));
    }
    if let Some(summary) = crowd.metrics().resync_times().summary() {
        report.headline("resync_p50_ms", summary.p50_ms, "ms", Better::Lower);
        report.headline("resync_p99_ms", summary.p99_ms, "ms", Better::Lower);
        report.detail("resync_max_ms", summary.max_ms, "ms", Better::Lower);
        report.latency = Some(summary);
    }
    if let Some(m) = storm {
        report.server_figures(&m.finish().await);
    }
    finish_report(&mut report, crowd.metrics());
    let _ = crowd.finish(Duration::from_secs(30)).await;
    report.load_usage = own.finish().await;
    Ok(report)
}
