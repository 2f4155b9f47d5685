//! The scenarios: each builds its workload, runs it against the server and returns a
//! [`ScenarioReport`]. They share [`RunEnv`], the settings common to every scenario.

mod cold_open;
mod crowd_scenarios;
mod durable;

pub use cold_open::run_cold_open;
pub use crowd_scenarios::{run_idle, run_reconnect_storm, run_steady, SteadyScenario};
pub use durable::run_durable_throughput;

use std::path::PathBuf;
use std::time::Duration;

use crate::documents::DocumentCreator;
use crate::procinfo::{Pid, ProcessMonitor};
use crate::report::ScenarioReport;
use crate::target::UrlTemplate;

/// How often the server's memory is sampled during a run.
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Settings shared by every scenario.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Where the server is.
    pub url: UrlTemplate,
    /// Creates each document before it is joined, for servers that need it (`--create-documents`).
    pub documents: Option<DocumentCreator>,
    /// API tokens sent as `?token=`; connection `i` uses token `i % len` (none when empty).
    pub tokens: Vec<String>,
    /// The server's name in reports.
    pub label: String,
    /// The server's process, for CPU and memory figures.
    pub server_pid: Option<u32>,
    /// The trace to replay.
    pub trace_path: PathBuf,
    /// Prefix of document names.
    pub doc_prefix: String,
    /// Awareness renewal period, if any.
    pub awareness_interval: Option<Duration>,
    /// Whether crowd delegates publish awareness at all.
    pub publish_awareness: bool,
    /// Appended to the scenario name in reports (`plenary/quiet`), to tell variants apart.
    pub tag: Option<String>,
    /// Connection attempts in flight at once.
    pub connect_concurrency: usize,
    /// Deadline of one handshake.
    pub handshake_timeout: Duration,
    /// Deadline for a whole crowd to connect; the scenario goes on with those connected.
    pub connect_timeout: Duration,
}

impl RunEnv {
    /// Makes sure document `{prefix}-{name}` can be joined (see [`RunEnv::create_document`])
    /// and returns its URL, without a token: safe to show in messages.
    pub async fn prepare_doc(&self, name: &str) -> anyhow::Result<String> {
        let doc = format!("{}-{name}", self.doc_prefix);
        let url = self.url.url_for(&doc)?;
        self.create_document(&doc).await?;
        Ok(url)
    }

    /// Creates document `doc` on the server when asked to (`--create-documents`); one that
    /// exists already is kept. Does nothing otherwise: other servers create documents on
    /// first connect.
    pub async fn create_document(&self, doc: &str) -> anyhow::Result<()> {
        if let Some(creator) = &self.documents {
            creator.create(doc).await?;
        }
        Ok(())
    }

    /// The URL connection number `index` opens: `url` with token `index % n`, if any.
    pub fn connect_url(&self, url: &str, index: usize) -> String {
        crate::target::connect_url(url, &self.tokens, index)
    }

    /// An empty report for `scenario`.
    pub fn report(&self, scenario: &str) -> ScenarioReport {
        let name = match &self.tag {
            Some(tag) => format!("{scenario}/{tag}"),
            None => scenario.to_owned(),
        };
        let mut report = ScenarioReport::new(&name, &self.label, &self.url.redacted());
        if !self.tokens.is_empty() {
            report.param("tokens", self.tokens.len());
        }
        if self.documents.is_some() {
            report.param("create_documents", true);
        }
        if !self.publish_awareness {
            report.param("awareness", "off");
        } else if let Some(interval) = self.awareness_interval {
            report.param("awareness_secs", interval.as_secs());
        }
        // Another busy process on a two-core machine skews every figure; say so in the results.
        if let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") {
            let one_minute = loadavg.split_whitespace().next().unwrap_or("?").to_owned();
            report.param("loadavg_1m_at_start", one_minute);
        }
        report
    }

    /// Starts following the server, when its PID is known.
    pub fn monitor_server(&self) -> Option<ProcessMonitor> {
        self.server_pid
            .map(|pid| ProcessMonitor::start(Pid::Id(pid), RSS_SAMPLE_INTERVAL))
    }

    /// Starts following this process.
    pub fn monitor_self(&self) -> ProcessMonitor {
        ProcessMonitor::start(Pid::OwnProcess, RSS_SAMPLE_INTERVAL)
    }
}
