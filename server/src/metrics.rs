//! The server's metrics: counters and histograms over atomics, and their rendering in the
//! Prometheus text exposition format (version 0.0.4) for `GET /metrics`.
//!
//! Hand-written rather than a metrics crate: a dozen fixed series need no registry, no
//! global recorder and no dependency. Every series is owned by one [`Metrics`] per server
//! (tests run several servers in one process), passed explicitly to what updates it.
//! Recording is a relaxed atomic add: nothing here locks or allocates on a hot path.
//!
//! Must not: know about HTTP, sockets or the store; block.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use manifesto_protocol::CloseCode;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds (seconds) of the slow-operation histograms (exports, backups): 5 ms to 2 min.
const SLOW_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// A histogram of durations with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: Vec<AtomicU64>,
    /// Sum of the observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn with_bounds(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Latencies from half a millisecond to ten seconds.
    pub fn latency() -> Histogram {
        Histogram::with_bounds(&LATENCY_BUCKETS)
    }

    /// Durations from 5 ms to two minutes.
    pub fn slow() -> Histogram {
        Histogram::with_bounds(&SLOW_BUCKETS)
    }

    /// Records one observation.
    pub fn observe(&self, duration: Duration) {
        let secs = duration.as_secs_f64();
        let index = self
            .bounds
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let separator = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// Why a login did not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// Wrong email or password, or an inactive account.
    InvalidCredentials,
    /// Too many attempts from the address or for the account.
    RateLimited,
    /// The password hashing pool was full.
    Busy,
    /// Anything else (a malformed request, an internal error).
    Other,
}

impl LoginFailure {
    const ALL: [LoginFailure; 4] = [
        LoginFailure::InvalidCredentials,
        LoginFailure::RateLimited,
        LoginFailure::Busy,
        LoginFailure::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            LoginFailure::InvalidCredentials => "invalid_credentials",
            LoginFailure::RateLimited => "rate_limited",
            LoginFailure::Busy => "busy",
            LoginFailure::Other => "other",
        }
    }
}

/// The export formats, as labels.
pub const EXPORT_FORMATS: [&str; 3] = ["pdf", "md", "html"];

/// Values read at scrape time from the rest of the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Open WebSocket connections.
    pub connections_open: usize,
    /// Documents loaded in memory.
    pub rooms_live: usize,
    /// 1 when `/readyz` would answer 200.
    pub ready: bool,
}

/// Every series the server exports. One per server; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    /// WebSocket connections accepted (upgraded and authenticated).
    pub connections_total: Counter,
    /// WebSocket connections closed, by close code (indexed like [`CloseCode::ALL`]).
    disconnects: [Counter; CloseCode::ALL.len()],
    /// Connections closed because their outbound queue overflowed or a write timed out (4000).
    pub queue_overflows_total: Counter,
    /// Document updates stored and relayed.
    pub updates_total: Counter,
    /// Their size in bytes.
    pub update_bytes_total: Counter,
    /// From the arrival of a batch's first update to the broadcast of the batch (apply,
    /// append, flush, send to every member's queue).
    pub fanout_seconds: Histogram,
    /// One group-committed store flush.
    pub store_flush_seconds: Histogram,
    /// Store flushes that failed.
    pub store_flush_failures_total: Counter,
    /// `POST /api/session` calls.
    pub login_attempts_total: Counter,
    login_failures: [Counter; LoginFailure::ALL.len()],
    /// Export renders (cache hits included), by format (indexed like [`EXPORT_FORMATS`]).
    export_seconds: [Histogram; EXPORT_FORMATS.len()],
    /// Backups written (scheduled, command line or HTTP).
    pub backups_total: Counter,
    /// Backups that failed.
    pub backup_failures_total: Counter,
    /// Time to take a backup (the pause of writes included).
    pub backup_seconds: Histogram,
    /// Unix time of the last successful backup, 0 before the first.
    pub last_backup_unixtime: AtomicU64,
    /// HTTP responses by status class (1xx … 5xx).
    http_responses: [Counter; 5],
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            connections_total: Counter::default(),
            disconnects: Default::default(),
            queue_overflows_total: Counter::default(),
            updates_total: Counter::default(),
            update_bytes_total: Counter::default(),
            fanout_seconds: Histogram::latency(),
            store_flush_seconds: Histogram::latency(),
            store_flush_failures_total: Counter::default(),
            login_attempts_total: Counter::default(),
            login_failures: Default::default(),
            export_seconds: [Histogram::slow(), Histogram::slow(), Histogram::slow()],
            backups_total: Counter::default(),
            backup_failures_total: Counter::default(),
            backup_seconds: Histogram::slow(),
            last_backup_unixtime: AtomicU64::new(0),
            http_responses: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts a closed connection, and a queue overflow when that is why.
    pub fn disconnected(&self, code: CloseCode) {
        if let Some(index) = CloseCode::ALL.iter().position(|c| *c == code) {
            self.disconnects[index].inc();
        }
        if code == CloseCode::SlowConsumer {
            self.queue_overflows_total.inc();
        }
    }

    /// Counts a failed login.
    pub fn login_failed(&self, why: LoginFailure) {
        if let Some(index) = LoginFailure::ALL.iter().position(|w| *w == why) {
            self.login_failures[index].inc();
        }
    }

    /// Records an export's duration; `format` is `pdf`, `md` or `html`.
    pub fn exported(&self, format: &str, took: Duration) {
        if let Some(index) = EXPORT_FORMATS.iter().position(|f| *f == format) {
            self.export_seconds[index].observe(took);
        }
    }

    /// Counts an HTTP response by its status class.
    pub fn responded(&self, status: u16) {
        let class = usize::from(status / 100);
        if (1..=5).contains(&class) {
            self.http_responses[class - 1].inc();
        }
    }

    /// Records a successful backup that took `took`, finished at `unixtime`.
    pub fn backed_up(&self, took: Duration, unixtime: u64) {
        self.backups_total.inc();
        self.backup_seconds.observe(took);
        self.last_backup_unixtime.store(unixtime, Ordering::Relaxed);
    }

    /// Every series in the Prometheus text format.
    pub fn render(&self, now: Snapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        // A series with a single value, under its HELP and TYPE lines.
        let series = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
            head(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        };
        let histogram = |out: &mut String, name: &str, help: &str, values: &Histogram| {
            head(out, name, "histogram", help);
            values.render(out, name, "");
        };

        head(
            &mut out,
            "manifesto_build_info",
            "gauge",
            "The server's version, as a label.",
        );
        let _ = writeln!(
            out,
            "manifesto_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        series(
            &mut out,
            "manifesto_ready",
            "gauge",
            "1 while the store is open and the server is not shutting down.",
            u64::from(now.ready),
        );
        series(
            &mut out,
            "manifesto_connections_open",
            "gauge",
            "Open WebSocket connections.",
            now.connections_open as u64,
        );
        series(
            &mut out,
            "manifesto_rooms_live",
            "gauge",
            "Documents loaded in memory.",
            now.rooms_live as u64,
        );
        series(
            &mut out,
            "manifesto_connections_total",
            "counter",
            "WebSocket connections accepted.",
            self.connections_total.get(),
        );
        head(
            &mut out,
            "manifesto_disconnects_total",
            "counter",
            "WebSocket connections closed, by close code name.",
        );
        for (code, counter) in CloseCode::ALL.iter().zip(&self.disconnects) {
            let _ = writeln!(
                out,
                "manifesto_disconnects_total{{code=\"{}\"}} {}",
                code.name(),
                counter.get()
            );
        }
        series(
            &mut out,
            "manifesto_queue_overflows_total",
            "counter",
            "Connections closed because they fell too far behind (outbound queue full or write timed out).",
            self.queue_overflows_total.get(),
        );
        series(
            &mut out,
            "manifesto_updates_total",
            "counter",
            "Document updates stored and relayed (rate() of it: updates per second).",
            self.updates_total.get(),
        );
        series(
            &mut out,
            "manifesto_update_bytes_total",
            "counter",
            "Bytes of the document updates stored and relayed.",
            self.update_bytes_total.get(),
        );
        histogram(
            &mut out,
            "manifesto_fanout_seconds",
            "From the arrival of a batch's first update to its broadcast to every member (apply, store, flush, relay).",
            &self.fanout_seconds,
        );
        histogram(
            &mut out,
            "manifesto_store_flush_seconds",
            "One group-committed store flush.",
            &self.store_flush_seconds,
        );
        series(
            &mut out,
            "manifesto_store_flush_failures_total",
            "counter",
            "Store flushes that failed.",
            self.store_flush_failures_total.get(),
        );
        series(
            &mut out,
            "manifesto_login_attempts_total",
            "counter",
            "Login attempts (POST /api/session).",
            self.login_attempts_total.get(),
        );
        head(
            &mut out,
            "manifesto_login_failures_total",
            "counter",
            "Login attempts that opened no session, by reason.",
        );
        for (why, counter) in LoginFailure::ALL.iter().zip(&self.login_failures) {
            let _ = writeln!(
                out,
                "manifesto_login_failures_total{{reason=\"{}\"}} {}",
                why.label(),
                counter.get()
            );
        }
        head(
            &mut out,
            "manifesto_export_seconds",
            "histogram",
            "Time to produce an export (cache hits included), by format.",
        );
        for (format, histogram) in EXPORT_FORMATS.iter().zip(&self.export_seconds) {
            histogram.render(
                &mut out,
                "manifesto_export_seconds",
                &format!("format=\"{format}\""),
            );
        }
        series(
            &mut out,
            "manifesto_backups_total",
            "counter",
            "Backups written.",
            self.backups_total.get(),
        );
        series(
            &mut out,
            "manifesto_backup_failures_total",
            "counter",
            "Backups that failed.",
            self.backup_failures_total.get(),
        );
        histogram(
            &mut out,
            "manifesto_backup_seconds",
            "Time to take a backup, the pause of writes included.",
            &self.backup_seconds,
        );
        series(
            &mut out,
            "manifesto_last_backup_timestamp_seconds",
            "gauge",
            "Unix time of the last successful backup (0: none since start).",
            self.last_backup_unixtime.load(Ordering::Relaxed),
        );
        head(
            &mut out,
            "manifesto_http_responses_total",
            "counter",
            "HTTP responses, by status class.",
        );
        for (class, counter) in (1..=5).zip(&self.http_responses) {
            let _ = writeln!(
                out,
                "manifesto_http_responses_total{{class=\"{class}xx\"}} {}",
                counter.get()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_sum_their_observations() {
        let histogram = Histogram::latency();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render(&mut out, "x_seconds", "");
        assert!(out.contains("x_seconds_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum 60.0031\n"), "{out}");
        assert_eq!(histogram.count(), 3);
    }

    #[test]
    fn every_series_has_help_and_type() {
        let metrics = Metrics::default();
        metrics.disconnected(CloseCode::SlowConsumer);
        metrics.login_failed(LoginFailure::RateLimited);
        metrics.exported("pdf", Duration::from_millis(20));
        let text = metrics.render(Snapshot {
            connections_open: 3,
            rooms_live: 1,
            ready: true,
        });
        assert!(text.contains("manifesto_connections_open 3\n"));
        assert!(text.contains("manifesto_disconnects_total{code=\"slow_consumer\"} 1\n"));
        assert!(text.contains("manifesto_queue_overflows_total 1\n"));
        assert!(text.contains("manifesto_login_failures_total{reason=\"rate_limited\"} 1\n"));
        assert!(text.contains("manifesto_export_seconds_count{format=\"pdf\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line
                .split(['{', ' '])
                .next()
                .expect("a metric name")
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE line for {name}"
            );
        }
    }
}
