//! The machine a run happened on, so a reader can judge and reproduce the numbers.

use procfs::Current;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Environment {
    /// Start of the run, UTC, RFC 3339.
    pub date: String,
    pub benchrig_version: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
}

impl Environment {
    pub fn capture() -> Environment {
        let cpu_model = procfs::CpuInfo::current()
            .ok()
            .and_then(|info| info.model_name(0).map(str::to_owned))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let memory_gib = procfs::Meminfo::current()
            .map(|m| m.mem_total as f64 / (1u64 << 30) as f64)
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        Environment {
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            benchrig_version: env!("CARGO_PKG_VERSION").to_owned(),
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_gib * 10.0).round() / 10.0,
            kernel,
            os,
        }
    }
}
