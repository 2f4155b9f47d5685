//! Results of one scenario run: the summary line printed to stdout, the JSON written with
//! `--json`, and the markdown comparison table built from several JSON files. Pure: callers
//! do the IO.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::latency::LatencySummary;
use crate::procinfo::ProcessUsage;

/// Which direction of a figure is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (latency, memory, CPU).
    Lower,
    /// Larger is better (throughput).
    Higher,
}

/// One measured number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Stable machine-readable name, e.g. `latency_p99_ms`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Unit for humans, e.g. `ms`, `MiB`, `/s`.
    pub unit: String,
    /// Which direction is better.
    pub better: Better,
    /// Whether the comparison table shows this figure.
    pub headline: bool,
}

/// Everything one run of one scenario measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name, e.g. `plenary`.
    pub scenario: String,
    /// Label of the server under test (`--label`), e.g. `node` or `ours`.
    pub server: String,
    /// The URL template used.
    pub url: String,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix_secs: u64,
    /// The parameters the scenario ran with.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Measured figures, in the order they were added.
    pub figures: Vec<Figure>,
    /// Edit-to-peer (or send-to-confirm) latency, when the scenario measures one.
    pub latency: Option<LatencySummary>,
    /// Failed connection attempts by reason.
    pub connect_errors: BTreeMap<String, u64>,
    /// Connections the server ended unexpectedly, by close code or reason.
    pub disconnects: BTreeMap<String, u64>,
    /// The server's CPU and memory during the run, with `--server-pid`.
    pub server_usage: Option<ProcessUsage>,
    /// This load process's own CPU and memory during the run; a load tool near 100 % of a core
    /// per worker thread means the figures measure the tool, not the server.
    pub load_usage: ProcessUsage,
    /// Remarks a reader of the results needs (a warm document, skipped steps, ...).
    pub notes: Vec<String>,
}

impl ScenarioReport {
    /// An empty report for `scenario` against the server labelled `server`.
    pub fn new(scenario: &str, server: &str, url: &str) -> ScenarioReport {
        let started_unix_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ScenarioReport {
            scenario: scenario.to_owned(),
            server: server.to_owned(),
            url: url.to_owned(),
            started_unix_secs,
            params: BTreeMap::new(),
            figures: Vec::new(),
            latency: None,
            connect_errors: BTreeMap::new(),
            disconnects: BTreeMap::new(),
            server_usage: None,
            load_usage: ProcessUsage::default(),
            notes: Vec::new(),
        }
    }

    /// Records a parameter.
    pub fn param(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.params.insert(name.to_owned(), value.into());
    }

    /// Adds a figure shown in the comparison table.
    pub fn headline(&mut self, name: &str, value: f64, unit: &str, better: Better) {
        self.push_figure(name, value, unit, better, true);
    }

    /// Adds a figure kept in the JSON and the summary line only.
    pub fn detail(&mut self, name: &str, value: f64, unit: &str, better: Better) {
        self.push_figure(name, value, unit, better, false);
    }

    fn push_figure(&mut self, name: &str, value: f64, unit: &str, better: Better, headline: bool) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            better,
            headline,
        });
    }

    /// Adds the latency percentiles as headline figures (prefixed by `prefix`).
    pub fn latency_figures(&mut self, prefix: &str, summary: &LatencySummary) {
        self.headline(
            &format!("{prefix}_p50_ms"),
            summary.p50_ms,
            "ms",
            Better::Lower,
        );
        self.headline(
            &format!("{prefix}_p99_ms"),
            summary.p99_ms,
            "ms",
            Better::Lower,
        );
        self.headline(
            &format!("{prefix}_p999_ms"),
            summary.p999_ms,
            "ms",
            Better::Lower,
        );
        self.headline(
            &format!("{prefix}_max_ms"),
            summary.max_ms,
            "ms",
            Better::Lower,
        );
        self.detail(
            &format!("{prefix}_samples"),
            summary.samples as f64,
            "",
            Better::Higher,
        );
    }

    /// Adds the server's CPU and memory figures.
    pub fn server_figures(&mut self, usage: &ProcessUsage) {
        self.headline("server_cpu_secs", usage.cpu_secs, "s", Better::Lower);
        self.headline(
            "server_rss_peak_mib",
            usage.rss_peak_sampled_mib,
            "MiB",
            Better::Lower,
        );
        self.detail("server_vm_hwm_mib", usage.vm_hwm_mib, "MiB", Better::Lower);
        self.detail(
            "server_rss_anon_peak_mib",
            usage.rss_anon_peak_sampled_mib,
            "MiB",
            Better::Lower,
        );
        self.server_usage = Some(usage.clone());
    }

    /// The value of figure `name`, if present.
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    /// One line for a terminal: scenario, server, parameters, figures, errors.
    pub fn summary_line(&self) -> String {
        let mut line = format!("{} server={}", self.scenario, self.server);
        for (name, value) in &self.params {
            let _ = write!(line, " {name}={}", compact_json(value));
        }
        for f in &self.figures {
            let _ = write!(line, " {}={}{}", f.name, format_value(f.value), f.unit);
        }
        let _ = write!(
            line,
            " connect_errors={}",
            self.connect_errors.values().sum::<u64>()
        );
        let _ = write!(
            line,
            " disconnects={}",
            self.disconnects.values().sum::<u64>()
        );
        for (reason, n) in self.connect_errors.iter().chain(&self.disconnects) {
            let _ = write!(line, " [{reason}: {n}]");
        }
        let _ = write!(
            line,
            " load_cpu={}s",
            format_value(self.load_usage.cpu_secs)
        );
        for note in &self.notes {
            let _ = write!(line, " note=\"{note}\"");
        }
        line
    }
}

fn compact_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Three significant digits, without exponent notation for the ranges reports use.
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let abs = value.abs();
    if abs == 0.0 || abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else if abs >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// The order of scenarios in the comparison table.
pub const SCENARIO_ORDER: [&str; 6] = [
    "plenary",
    "drafting",
    "idle",
    "reconnect-storm",
    "cold-open",
    "durable-throughput",
];

/// How the comparison table names its columns.
#[derive(Debug, Clone)]
pub struct TableColumns {
    /// Label of our server's reports.
    pub ours: String,
    /// Labels of the peers' reports, in column order.
    pub peers: Vec<String>,
    /// Text shown where our server has no report (for example `pending merge`).
    pub ours_missing: String,
}

/// A markdown table: one row per headline figure of every scenario, a column for ours, one per
/// peer, and one ratio (ours / peer) per peer. Later reports for the same server, scenario
/// and figure replace earlier ones.
pub fn markdown_table(reports: &[ScenarioReport], columns: &TableColumns) -> String {
    // (scenario, figure) rows in first-seen order; values per server.
    let mut rows: Vec<(String, String, String, Better)> = Vec::new();
    let mut values: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for report in reports {
        for f in report.figures.iter().filter(|f| f.headline) {
            let key = (report.scenario.clone(), f.name.clone());
            if !rows.iter().any(|(s, n, _, _)| (s, n) == (&key.0, &key.1)) {
                rows.push((key.0.clone(), key.1.clone(), f.unit.clone(), f.better));
            }
            values.insert((key.0, key.1, report.server.clone()), f.value);
        }
    }
    // Scenarios in the order the issue lists them, whatever order the files came in.
    let rank = |scenario: &str| {
        let base = scenario.split('/').next().unwrap_or(scenario);
        SCENARIO_ORDER
            .iter()
            .position(|s| *s == base)
            .unwrap_or(SCENARIO_ORDER.len())
    };
    rows.sort_by_key(|(scenario, _, _, _)| (rank(scenario), scenario.contains('/')));
    let mut out = String::from("| figure | ours |");
    for peer in &columns.peers {
        let _ = write!(out, " {peer} |");
    }
    for peer in &columns.peers {
        let _ = write!(out, " ours/{peer} |");
    }
    out.push_str("\n| --- | ---: |");
    for _ in 0..columns.peers.len() * 2 {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (scenario, name, unit, better) in rows {
        let get = |server: &str| values.get(&(scenario.clone(), name.clone(), server.to_owned()));
        let direction = match better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!("{unit}, ")
        };
        let ours = get(&columns.ours).copied();
        let _ = write!(
            out,
            "| {scenario}: {name} ({unit}{direction}) | {} |",
            ours.map(format_value)
                .unwrap_or_else(|| columns.ours_missing.clone())
        );
        for peer in &columns.peers {
            let _ = write!(
                out,
                " {} |",
                get(peer)
                    .map(|v| format_value(*v))
                    .unwrap_or_else(|| "—".into())
            );
        }
        for peer in &columns.peers {
            let ratio = match (ours, get(peer)) {
                (Some(o), Some(p)) if *p != 0.0 => format!("{:.2}", o / p),
                _ => "—".to_owned(),
            };
            let _ = write!(out, " {ratio} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(server: &str, p99: f64) -> ScenarioReport {
        let mut r = ScenarioReport::new("plenary", server, "ws://127.0.0.1:1/{doc}");
        r.param("clients", 1500);
        r.headline("latency_p99_ms", p99, "ms", Better::Lower);
        r.detail("edits_sent", 3000.0, "", Better::Higher);
        r
    }

    #[test]
    fn summary_line_names_params_figures_and_errors() {
        let mut r = report("node", 12.345);
        r.disconnects.insert("close 1006".into(), 2);
        let line = r.summary_line();
        assert!(
            line.starts_with("plenary server=node clients=1500"),
            "{line}"
        );
        assert!(line.contains("latency_p99_ms=12.3ms"), "{line}");
        assert!(line.contains("disconnects=2 [close 1006: 2]"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn json_round_trip() {
        let r = report("node", 1.0);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<ScenarioReport>(&json).unwrap(), r);
    }

    #[test]
    fn table_has_ratios_and_placeholders() {
        let mut idle = ScenarioReport::new("idle", "node", "ws://127.0.0.1:1/{doc}");
        idle.headline("server_rss_mib", 60.0, "MiB", Better::Lower);
        let reports = vec![
            idle,
            report("ours", 5.0),
            report("node", 10.0),
            report("node", 20.0),
        ];
        let columns = TableColumns {
            ours: "ours".into(),
            peers: vec!["node".into(), "y-sweet".into()],
            ours_missing: "pending merge".into(),
        };
        let table = markdown_table(&reports, &columns);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert_eq!(
            lines[0],
            "| figure | ours | node | y-sweet | ours/node | ours/y-sweet |"
        );
        // The later node report (20 ms) replaces the earlier one; edits_sent is not a headline.
        assert_eq!(
            lines[2],
            "| plenary: latency_p99_ms (ms, lower is better) | 5.00 | 20.0 | — | 0.25 | — |"
        );
        assert!(lines[3].starts_with("| idle: server_rss_mib"), "{table}");
        let without_ours = markdown_table(&reports[2..], &columns);
        assert!(
            without_ours.contains("| pending merge | 20.0 | — | — | — |"),
            "{without_ours}"
        );
    }

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(format_value(0.01234), "0.012");
        assert_eq!(format_value(1.234), "1.23");
        assert_eq!(format_value(12.34), "12.3");
        assert_eq!(format_value(1234.6), "1235");
        assert_eq!(format_value(0.0), "0");
    }
}
