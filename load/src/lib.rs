//! Manifesto's load generator: many real WebSocket delegates, each with its own TCP
//! connection, speaking the y-websocket protocol to any compatible server on this machine,
//! replaying real editing traces and measuring what a delegate would feel.
//!
//! Code map: [`cli`] parses options; [`target`] checks the URL template (loopback only);
//! [`documents`] creates documents on servers that need it (ours, with --create-documents);
//! [`trace`] reads traces and cuts them into writer scripts; [`delegate`] is one connection;
//! [`writer`] and [`delivery`] match sent edits to received updates; [`crowd`] runs many
//! delegates through phases; `scenario` holds the scenarios; [`latency`], [`procinfo`] and
//! [`report`] measure and report. This crate never targets a non-loopback address and every
//! loop in it stops by itself.

pub mod cli;
pub mod crowd;
pub mod delegate;
pub mod delivery;
pub mod documents;
pub mod fdlimit;
pub mod latency;
pub mod procinfo;
pub mod report;
mod scenario;
pub mod target;
pub mod trace;
pub mod writer;

use std::time::Duration;

use anyhow::Context;

use cli::{Cli, Command, CommonArgs, TableArgs};
use documents::DocumentCreator;
use report::{markdown_table, ScenarioReport, TableColumns};
use scenario::{RunEnv, SteadyScenario};
use target::UrlTemplate;

/// Runs the command `cli` names: one scenario (printing its summary line and writing JSON
/// when asked) or `table`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Scenarios need the checked URL and settings; `table` needs neither.
    let env = || run_env(&cli.common);
    let report = match &cli.command {
        Command::Table(args) => return print_table(args),
        Command::Plenary(args) => {
            scenario::run_steady(&env()?, SteadyScenario::Plenary, args).await?
        }
        Command::Drafting(args) => {
            scenario::run_steady(&env()?, SteadyScenario::Drafting, args).await?
        }
        Command::Idle(args) => scenario::run_idle(&env()?, args).await?,
        Command::ReconnectStorm(args) => scenario::run_reconnect_storm(&env()?, args).await?,
        Command::ColdOpen(args) => scenario::run_cold_open(&env()?, args).await?,
        Command::DurableThroughput(args) => scenario::run_durable_throughput(&env()?, args).await?,
    };
    println!("{}", report.summary_line());
    if let Some(path) = &cli.common.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write results to {}", path.display()))?;
    }
    Ok(())
}

fn run_env(common: &CommonArgs) -> anyhow::Result<RunEnv> {
    let url = UrlTemplate::parse(&common.url)?;
    for token in &common.tokens {
        target::check_token(token)?;
    }
    if let Some(tag) = &common.tag {
        target::check_doc_name(tag).context("--tag must be letters, digits, '-' or '_'")?;
    }
    let doc_prefix = match &common.doc_prefix {
        Some(prefix) => prefix.clone(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("load{secs}")
        }
    };
    target::check_doc_name(&doc_prefix).context("--doc-prefix must be a valid document name")?;
    anyhow::ensure!(
        common.connect_concurrency >= 1 && common.connect_concurrency <= 10_000,
        "--connect-concurrency must be between 1 and 10000"
    );
    let documents = if common.create_documents {
        let token = common
            .secretariat_token
            .clone()
            .or_else(|| common.tokens.first().cloned())
            .context(
                "--create-documents needs a secretariat's API token: --secretariat-token \
                 (MANIFESTO_LOAD_SECRETARIAT_TOKEN) or --token",
            )?;
        target::check_token(&token).context("--secretariat-token")?;
        Some(DocumentCreator::new(
            &url,
            token,
            Duration::from_secs(common.handshake_timeout_secs.max(1)),
        )?)
    } else {
        None
    };
    Ok(RunEnv {
        documents,
        url,
        tokens: common.tokens.clone(),
        label: common.label.clone(),
        server_pid: common.server_pid,
        trace_path: common.trace.clone(),
        doc_prefix,
        awareness_interval: (common.awareness_secs > 0)
            .then(|| Duration::from_secs(common.awareness_secs)),
        publish_awareness: !common.no_awareness,
        tag: common.tag.clone(),
        connect_concurrency: common.connect_concurrency,
        handshake_timeout: Duration::from_secs(common.handshake_timeout_secs.max(1)),
        connect_timeout: Duration::from_secs(common.connect_timeout_secs.max(1)),
    })
}

fn print_table(args: &TableArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read results {}", path.display()))?;
        let report: ScenarioReport = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a manifesto-load result", path.display()))?;
        reports.push(report);
    }
    let columns = TableColumns {
        ours: args.ours.clone(),
        peers: args.peers.clone(),
        ours_missing: args.ours_missing.clone(),
    };
    let table = markdown_table(&reports, &columns);
    print!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}
