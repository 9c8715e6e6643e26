//! CPU time and memory of a process from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// User plus system CPU seconds since the process started.
    pub cpu_secs: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// When the reading was taken.
    pub at: Instant,
}

/// Reads `pid`; `None` when the process is gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<Sample> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Sample {
        cpu_secs: cpu_secs(&stat)?,
        rss_bytes: status_kib(&status, "VmRSS:")? * 1024,
        at,
    })
}

/// utime + stime (fields 14 and 15) in seconds. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after the last `)`.
fn cpu_secs(stat: &str) -> Option<f64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// CPU use between two samples, in percent of one core.
pub fn cpu_percent(from: &Sample, to: &Sample) -> f64 {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    100.0 * (to.cpu_secs - from.cpu_secs).max(0.0) / wall
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// CPU and memory of one process over a window.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Usage {
    /// Average CPU over the window, percent of one core.
    pub cpu_pct: f64,
    /// RSS when the window started, MiB.
    pub rss_mib_start: f64,
    /// Largest RSS seen in the window, MiB.
    pub rss_mib_max: f64,
    /// RSS at the end of the window, MiB.
    pub rss_mib_end: f64,
    /// RSS every [`SERIES_EVERY`] from the start, MiB: shows whether memory levels off.
    #[serde(default)]
    pub rss_mib_series: Vec<f64>,
}

/// Spacing of [`Usage::rss_mib_series`].
pub const SERIES_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Tracks one process over a window: first sample, running RSS maximum, last sample.
#[derive(Debug, Clone)]
pub struct Window {
    first: Sample,
    last: Sample,
    rss_max: u64,
    series: Vec<u64>,
}

impl Window {
    /// Starts a window at `first`.
    pub fn new(first: Sample) -> Self {
        Self {
            first,
            last: first,
            rss_max: first.rss_bytes,
            series: vec![first.rss_bytes],
        }
    }

    /// Adds a sample.
    pub fn push(&mut self, sample: Sample) {
        self.rss_max = self.rss_max.max(sample.rss_bytes);
        let due =
            self.first.at + SERIES_EVERY * u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        if sample.at >= due {
            self.series.push(sample.rss_bytes);
        }
        self.last = sample;
    }

    /// The usage over the window.
    pub fn usage(&self) -> Usage {
        Usage {
            cpu_pct: round2(cpu_percent(&self.first, &self.last)),
            rss_mib_start: round2(mib(self.first.rss_bytes)),
            rss_mib_max: round2(mib(self.rss_max)),
            rss_mib_end: round2(mib(self.last.rss_bytes)),
            rss_mib_series: self.series.iter().map(|b| round2(mib(*b))).collect(),
        }
    }
}

/// Rounds to two decimals for readable JSON.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "4242 (deal (to) order) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 1000 200";
        let cpu = cpu_secs(stat).expect("parsed");
        assert!((cpu - 3.0).abs() < 1e-9, "{cpu}");
    }

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tingress\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = sample(std::process::id()).expect("own /proc entry");
        assert!(me.rss_bytes > 0);
    }
}
