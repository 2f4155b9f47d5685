//! Command-line interface: options shared by every scenario, one subcommand per scenario, and
//! `table` to turn JSON results into the comparison table. Parsing only; no IO.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for y-websocket servers: many real WebSocket delegates replaying editing
/// traces. Targets loopback addresses only.
#[derive(Debug, Parser)]
#[command(name = "manifesto-load", version)]
pub struct Cli {
    /// Options every scenario takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every scenario.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// WebSocket URL template; `{doc}` is replaced by the document name and a query string is
    /// kept (ours: ws://127.0.0.1:PORT/ws/{doc}, with --token; y-sweet:
    /// ws://127.0.0.1:PORT/d/{doc}/ws/{doc}).
    #[arg(
        long,
        global = true,
        env = "MANIFESTO_LOAD_URL",
        default_value = "ws://127.0.0.1:1234/ws/{doc}"
    )]
    pub url: String,
    /// API token appended to every WebSocket URL as `?token=` (ours refuses anonymous
    /// connections; the peers ignore the parameter). Several, comma-separated, are used in
    /// turn: delegate `i` takes token `i % n`. Never written to reports.
    #[arg(
        long = "token",
        global = true,
        env = "MANIFESTO_LOAD_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub tokens: Vec<String>,
    /// Create every document with `POST /api/documents` on the URL's host before joining it
    /// (Manifesto refuses upgrades to documents that do not exist, with 404); 201 and 409
    /// `document_exists` are both fine. Needs a secretariat's token: --secretariat-token, or
    /// else the first --token. Never for other servers.
    #[arg(long, global = true)]
    pub create_documents: bool,
    /// A secretariat's API token, sent as `Authorization: Bearer` to create documents (see
    /// --create-documents); defaults to the first --token. Never written to reports.
    #[arg(
        long,
        global = true,
        env = "MANIFESTO_LOAD_SECRETARIAT_TOKEN",
        hide_env_values = true
    )]
    pub secretariat_token: Option<String>,
    /// Name of the server under test in reports (e.g. ours, node, y-sweet).
    #[arg(long, global = true, default_value = "server")]
    pub label: String,
    /// PID of the server, to report its CPU time and memory.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Write the scenario's results as JSON to this file.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// A sequential editing trace (.json or .json.gz); never copied into the repository.
    #[arg(
        long,
        global = true,
        env = "MANIFESTO_TRACE",
        default_value = "/work/shared/traces/automerge-paper.json.gz"
    )]
    pub trace: PathBuf,
    /// Prefix of the document names; defaults to `load<unix seconds>` so that runs against the
    /// same server do not share documents.
    #[arg(long, global = true)]
    pub doc_prefix: Option<String>,
    /// Awareness renewal period in seconds, as the npm client's 15 s; 0 sends the state only
    /// on connect.
    #[arg(long, global = true, default_value_t = 15)]
    pub awareness_secs: u64,
    /// Publish no awareness at all (not even on connect), to measure edits without the
    /// all-to-all awareness fan-out.
    #[arg(long, global = true)]
    pub no_awareness: bool,
    /// Appended to the scenario name in reports (e.g. `plenary/quiet`).
    #[arg(long, global = true)]
    pub tag: Option<String>,
    /// Connection attempts in flight at once while the crowd connects.
    #[arg(long, global = true, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Deadline for one connection's WebSocket upgrade and SyncStep2.
    #[arg(long, global = true, default_value_t = 30)]
    pub handshake_timeout_secs: u64,
    /// Deadline for a whole crowd to connect; the scenario then goes on with the delegates
    /// that did.
    #[arg(long, global = true, default_value_t = 90)]
    pub connect_timeout_secs: u64,
}

/// The scenarios, and `table`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// 1,500 delegates on one document, 20 of them typing at 5 edits/s each.
    Plenary(SteadyArgs),
    /// 100 delegates, 20 of them typing at 5 edits/s each.
    Drafting(SteadyArgs),
    /// Idle connections (awareness renewals only): the server's memory per connection.
    Idle(IdleArgs),
    /// Connected, synced delegates all drop and reconnect at once: time until all are synced.
    ReconnectStorm(ReconnectArgs),
    /// Build a document from the whole trace, then time a new client's full sync.
    ColdOpen(ColdOpenArgs),
    /// One writer with a window of in-flight updates, one confirming reader: updates/s.
    DurableThroughput(DurableArgs),
    /// Print a markdown comparison table from JSON result files.
    Table(TableArgs),
}

/// Options of `plenary` and `drafting`; unset ones take the scenario's defaults.
#[derive(Debug, Args, Clone, Default)]
pub struct SteadyArgs {
    /// Delegates in total (plenary 1500, drafting 100).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Delegates that write (default 20).
    #[arg(long)]
    pub writers: Option<usize>,
    /// Edits per second per writer (default 5).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of writing measured (plenary 30, drafting 20).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Spread the delegates over this many documents (default 1).
    #[arg(long)]
    pub docs: Option<usize>,
    /// Readers that decode every update to measure latency (default 100); the others only
    /// count deliveries.
    #[arg(long)]
    pub latency_readers: Option<usize>,
    /// Seconds to keep receiving after writers stop (default 3).
    #[arg(long)]
    pub drain_secs: Option<u64>,
    /// Largest window of the trace a writer starts from, in characters (default 4096).
    #[arg(long)]
    pub max_window_chars: Option<usize>,
}

/// Options of `idle`.
#[derive(Debug, Args, Clone)]
pub struct IdleArgs {
    /// Idle delegates.
    #[arg(long, default_value_t = 1500)]
    pub clients: usize,
    /// Seconds to hold the connections after all are synced.
    #[arg(long, default_value_t = 20)]
    pub hold_secs: u64,
}

/// Options of `reconnect-storm`.
#[derive(Debug, Args, Clone)]
pub struct ReconnectArgs {
    /// Delegates.
    #[arg(long, default_value_t = 1500)]
    pub clients: usize,
    /// Give up waiting for the resync after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

/// What part of `cold-open` to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColdOpenPhase {
    /// Build the document, then measure at once (the document is warm in the server).
    All,
    /// Build the document only; restart the server before `measure`.
    Build,
    /// Measure only, against a document built earlier (`--doc` must name it).
    Measure,
}

/// Options of `cold-open`.
#[derive(Debug, Args, Clone)]
pub struct ColdOpenArgs {
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = ColdOpenPhase::All)]
    pub phase: ColdOpenPhase,
    /// Document name (needed to measure a document built by an earlier `--phase build`).
    #[arg(long)]
    pub doc: Option<String>,
    /// Trace edits per update while building.
    #[arg(long, default_value_t = 2000)]
    pub batch_edits: usize,
    /// New clients timed one after another; the first one pays for loading from disk.
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
    /// Give up on building or syncing after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

/// Options of `durable-throughput`.
#[derive(Debug, Args, Clone)]
pub struct DurableArgs {
    /// Updates sent but not yet confirmed at most.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Seconds of sending measured.
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,
}

/// Options of `table`.
#[derive(Debug, Args, Clone)]
pub struct TableArgs {
    /// JSON result files written with --json.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Label of our server's results.
    #[arg(long, default_value = "ours")]
    pub ours: String,
    /// Labels of the peers, comma-separated, in column order.
    #[arg(long, value_delimiter = ',', default_value = "node,y-sweet")]
    pub peers: Vec<String>,
    /// Text shown where our server has no result.
    #[arg(long, default_value = "pending merge")]
    pub ours_missing: String,
    /// Also write the table to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_options_go_before_or_after_the_scenario() {
        let cli = Cli::try_parse_from([
            "manifesto-load",
            "--url",
            "ws://127.0.0.1:9/{doc}",
            "plenary",
            "--clients",
            "10",
            "--label",
            "node",
        ])
        .unwrap();
        assert_eq!(cli.common.label, "node");
        assert_eq!(cli.common.url, "ws://127.0.0.1:9/{doc}");
        let Command::Plenary(args) = cli.command else {
            panic!("expected plenary")
        };
        assert_eq!(args.clients, Some(10));
        assert_eq!(args.writers, None);
    }

    #[test]
    fn tokens_are_comma_separated() {
        let cli = Cli::try_parse_from(["manifesto-load", "idle", "--token", "a,b"]).unwrap();
        assert_eq!(cli.common.tokens, vec!["a", "b"]);
        let cli = Cli::try_parse_from(["manifesto-load", "--token", "a", "idle"]).unwrap();
        assert_eq!(cli.common.tokens, vec!["a"]);
    }

    #[test]
    fn document_creation_is_off_unless_asked() {
        let cli = Cli::try_parse_from(["manifesto-load", "idle"]).unwrap();
        assert!(!cli.common.create_documents);
        let cli = Cli::try_parse_from([
            "manifesto-load",
            "--create-documents",
            "idle",
            "--secretariat-token",
            "s",
        ])
        .unwrap();
        assert!(cli.common.create_documents);
        assert_eq!(cli.common.secretariat_token.as_deref(), Some("s"));
    }

    #[test]
    fn table_takes_comma_separated_peers() {
        let cli =
            Cli::try_parse_from(["manifesto-load", "table", "--peers", "a,b", "x.json"]).unwrap();
        let Command::Table(args) = cli.command else {
            panic!("expected table")
        };
        assert_eq!(args.peers, vec!["a", "b"]);
    }
}
