//! CPU time and memory of a process, read from `/proc/PID/stat` and `/proc/PID/status`, and a
//! sampler that follows the server under test during a run.
//!
//! CPU time is `utime + stime` in clock ticks; peak memory is `VmHWM` (the kernel's high-water
//! mark since the process started, so it spans every earlier run against the same server) and
//! the largest `VmRSS` seen by this sampler during the run. `RssAnon` is sampled too: the
//! memory the process allocated, without the pages of its executable and libraries that
//! `VmRSS` also counts (for a large binary, over 10 MiB at start).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Peak resident set size since the process started, KiB.
    pub hwm_kib: u64,
    /// Resident anonymous memory (`RssAnon`), KiB; 0 if the kernel does not report it.
    pub anon_kib: u64,
}

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The process does not exist (any more) or cannot be read.
    #[error("cannot read /proc/{pid}: {source}; is the server still running?")]
    Io { pid: String, source: std::io::Error },
    /// The file did not have the expected fields.
    #[error("unexpected format of /proc/{0}")]
    Format(String),
}

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// This load process.
    OwnProcess,
    /// Another process.
    Id(u32),
}

impl Pid {
    fn dir(self) -> String {
        match self {
            Pid::OwnProcess => "self".to_owned(),
            Pid::Id(id) => id.to_string(),
        }
    }
}

/// Reads `pid`'s counters now.
pub fn sample(pid: Pid) -> Result<ProcSample, ProcError> {
    let dir = pid.dir();
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{dir}/{file}")).map_err(|source| ProcError::Io {
            pid: dir.clone(),
            source,
        })
    };
    let cpu_ticks = parse_stat_cpu_ticks(&read("stat")?)
        .ok_or_else(|| ProcError::Format(format!("{dir}/stat")))?;
    let status = read("status")?;
    let (rss_kib, hwm_kib) =
        parse_status_memory(&status).ok_or_else(|| ProcError::Format(format!("{dir}/status")))?;
    Ok(ProcSample {
        cpu_ticks,
        rss_kib,
        hwm_kib,
        anon_kib: status_field_kib(&status, "RssAnon").unwrap_or(0),
    })
}

/// `utime + stime` from the text of `/proc/PID/stat`. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // after_name starts at field 3 (state); utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `(VmRSS, VmHWM)` in KiB from the text of `/proc/PID/status`.
pub fn parse_status_memory(status: &str) -> Option<(u64, u64)> {
    Some((
        status_field_kib(status, "VmRSS")?,
        status_field_kib(status, "VmHWM")?,
    ))
}

/// The value of field `name` (in kB) of the text of `/proc/PID/status`.
pub fn status_field_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    })
}

/// The kernel's count of connections dropped because a listening socket's accept queue was
/// full (`TcpExt: ListenOverflows` in `/proc/net/netstat`), for this network namespace.
pub fn listen_overflows() -> Option<u64> {
    parse_listen_overflows(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// `ListenOverflows` from the text of `/proc/net/netstat`, where a header line of names is
/// followed by a line of values with the same prefix.
pub fn parse_listen_overflows(netstat: &str) -> Option<u64> {
    let mut lines = netstat.lines();
    while let Some(header) = lines.next() {
        let values = lines.next()?;
        if !header.starts_with("TcpExt:") {
            continue;
        }
        let index = header
            .split_whitespace()
            .position(|name| name == "ListenOverflows")?;
        return values.split_whitespace().nth(index)?.parse().ok();
    }
    None
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// What a process used between two points of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// CPU seconds (user + system) used in the interval.
    pub cpu_secs: f64,
    /// Resident memory at the start, MiB.
    pub rss_start_mib: f64,
    /// Resident memory at the end, MiB.
    pub rss_end_mib: f64,
    /// Largest resident memory sampled during the interval, MiB.
    pub rss_peak_sampled_mib: f64,
    /// The kernel's high-water mark (VmHWM) at the end, MiB; covers the process's whole life.
    pub vm_hwm_mib: f64,
    /// Largest anonymous resident memory (`RssAnon`) sampled during the interval, MiB: what
    /// the process allocated, without its executable's and libraries' pages.
    #[serde(default)]
    pub rss_anon_peak_sampled_mib: f64,
    /// Set when the process could not be read at some point (for example, it exited).
    pub error: Option<String>,
}

/// Follows a process during a run, sampling VmRSS every `interval`.
pub struct ProcessMonitor {
    pid: Pid,
    start: Option<ProcSample>,
    stop: CancellationToken,
    sampler: JoinHandle<(u64, u64, Option<String>)>,
}

impl ProcessMonitor {
    /// Takes a first sample and starts sampling.
    pub fn start(pid: Pid, interval: Duration) -> ProcessMonitor {
        let start = sample(pid).ok();
        let stop = CancellationToken::new();
        let stop_sampler = stop.clone();
        let sampler = tokio::spawn(async move {
            let mut peak_kib = 0;
            let mut peak_anon_kib = 0;
            let mut error = None;
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = stop_sampler.cancelled() => break,
                    _ = ticker.tick() => match sample(pid) {
                        Ok(s) => {
                            peak_kib = peak_kib.max(s.rss_kib);
                            peak_anon_kib = peak_anon_kib.max(s.anon_kib);
                        }
                        Err(e) => {
                            error = Some(e.to_string());
                            break;
                        }
                    },
                }
            }
            (peak_kib, peak_anon_kib, error)
        });
        ProcessMonitor {
            pid,
            start,
            stop,
            sampler,
        }
    }

    /// Resident memory now, MiB, if the process can be read.
    pub fn rss_now_mib(&self) -> Option<f64> {
        sample(self.pid).ok().map(|s| kib_to_mib(s.rss_kib))
    }

    /// Stops sampling and returns the usage since [`ProcessMonitor::start`].
    pub async fn finish(self) -> ProcessUsage {
        let end = sample(self.pid);
        self.stop.cancel();
        let (peak_kib, peak_anon_kib, sampler_error) =
            self.sampler
                .await
                .unwrap_or((0, 0, Some("sampler failed".into())));
        let mut usage = ProcessUsage {
            error: sampler_error,
            ..ProcessUsage::default()
        };
        match (self.start, end) {
            (Some(start), Ok(end)) => {
                usage.cpu_secs =
                    end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / clock_ticks_per_sec();
                usage.rss_start_mib = kib_to_mib(start.rss_kib);
                usage.rss_end_mib = kib_to_mib(end.rss_kib);
                usage.rss_peak_sampled_mib = kib_to_mib(peak_kib.max(end.rss_kib));
                usage.vm_hwm_mib = kib_to_mib(end.hwm_kib);
                usage.rss_anon_peak_sampled_mib = kib_to_mib(peak_anon_kib.max(end.anon_kib));
            }
            (None, _) => usage.error = Some(format!("cannot read process {:?} at start", self.pid)),
            (_, Err(e)) => usage.error = Some(e.to_string()),
        }
        usage
    }
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194304 5000 0 0 0 250 75 0 0 20 0 11 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_stat_cpu_ticks("1 (a) S 1 2"), None);
    }

    #[test]
    fn status_memory_fields() {
        let status = "Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   80000 kB\n\
                      RssAnon:\t   61000 kB\n";
        assert_eq!(parse_status_memory(status), Some((80000, 81234)));
        assert_eq!(status_field_kib(status, "RssAnon"), Some(61000));
        assert_eq!(status_field_kib(status, "RssFile"), None);
        assert_eq!(parse_status_memory("Name: x\n"), None);
    }

    #[test]
    fn listen_overflows_from_netstat() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 18409 18409\n\
                       IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_listen_overflows(netstat), Some(18409));
        assert_eq!(parse_listen_overflows("IpExt: A\nIpExt: 1\n"), None);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let s = sample(Pid::OwnProcess).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib, "{s:?}");
        assert!(s.anon_kib > 0 && s.anon_kib <= s.rss_kib, "{s:?}");
    }
}
