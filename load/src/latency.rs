//! Latency histograms (microsecond resolution, HdrHistogram) and the percentile summary that
//! reports print. Pure: no clocks are read here.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded exactly; longer samples are saturated to it (and counted).
const MAX_TRACKED_MICROS: u64 = 600_000_000;

/// A latency histogram in microseconds with three significant digits.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    saturated: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram covering 1 µs to 10 min.
    pub fn new() -> LatencyHistogram {
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
            .expect("static histogram bounds are valid");
        LatencyHistogram {
            histogram,
            saturated: 0,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if micros > MAX_TRACKED_MICROS {
            self.saturated += 1;
        }
        self.histogram
            .saturating_record(micros.min(MAX_TRACKED_MICROS));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.saturated += other.saturated;
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The percentiles reports print, or `None` without samples.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(LatencySummary {
            samples: self.histogram.len(),
            p50_ms: ms(self.histogram.value_at_quantile(0.50)),
            p99_ms: ms(self.histogram.value_at_quantile(0.99)),
            p999_ms: ms(self.histogram.value_at_quantile(0.999)),
            max_ms: ms(self.histogram.max()),
            saturated: self.saturated,
        })
    }
}

/// Percentiles of one latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Samples longer than the histogram's 10-minute range, recorded as 10 minutes.
    pub saturated: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary().unwrap();
        assert_eq!(s.samples, 1000);
        // Three significant digits: within 0.1 % of the exact value.
        assert!((s.p50_ms - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.p999_ms - 999.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() <= 1.0, "{s:?}");
    }

    #[test]
    fn empty_has_no_summary_and_merge_adds() {
        let mut a = LatencyHistogram::new();
        assert!(a.summary().is_none());
        let mut b = LatencyHistogram::new();
        b.record(Duration::from_micros(250));
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        let s = a.summary().unwrap();
        assert_eq!(s.samples, 2);
        assert_eq!(s.saturated, 1);
        assert!((s.p50_ms - 0.25).abs() < 0.001, "{s:?}");
        assert!(s.max_ms >= 599_000.0, "{s:?}");
    }

    #[test]
    fn sub_microsecond_samples_count_as_one_microsecond() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_nanos(10));
        assert_eq!(h.summary().unwrap().max_ms, 0.001);
    }
}
