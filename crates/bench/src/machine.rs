//! The machine a run happened on: cores, memory, CPU model, load.

use serde::{Deserialize, Serialize};

/// What `docs/benchmarks.md` reports about the machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// Cores this process may use.
    pub nproc: usize,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// `model name` of the first CPU.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// 1, 5 and 15 minute load averages when the run started.
    pub load_avg_at_start: [f64; 3],
}

impl Machine {
    /// Reads `/proc`.
    pub fn detect() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            memory_mib: memory_kib / 1024,
            cpu_model,
            kernel,
            load_avg_at_start: load_avg(),
        }
    }
}

/// The 1, 5 and 15 minute load averages (zeros when unreadable).
pub fn load_avg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut values = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        values.next().unwrap_or(0.0),
        values.next().unwrap_or(0.0),
        values.next().unwrap_or(0.0),
    ]
}
