//! What a variant cost while a phase ran: its process tree's CPU and memory, and benchrig's
//! own CPU, from the samples taken during the phase.

use std::time::Duration;

const MB: f64 = 1024.0 * 1024.0;

/// One sample of a variant's process tree (and of benchrig itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceSample {
    /// Since the sampler was created.
    pub at: Duration,
    /// CPU used by the tree since the previous sample, as in `docker stats`: 100 = one core busy.
    pub cpu_pct: f64,
    /// Resident set size, summed over the tree: pages shared between processes count once per
    /// process. `Rss` of `/proc/PID/smaps_rollup` (exact, the `VmRSS` that `ps` and `top` show),
    /// or `/proc/PID/stat`'s (kernel counters read without summing per-CPU deltas: up to a
    /// few hundred KiB low per process) where that is unreadable.
    pub rss_bytes: u64,
    /// Proportional set size (`Pss` of `/proc/PID/smaps_rollup`), summed over the tree: shared
    /// pages are counted once in total. The RSS of a process whose `smaps_rollup` is unreadable.
    pub pss_bytes: u64,
    /// Unique set size (`Private_Clean + Private_Dirty`), summed over the tree: memory that would
    /// be freed if only that process exited. The RSS of a process whose `smaps_rollup` is
    /// unreadable.
    pub uss_bytes: u64,
    /// Live (non-zombie) processes in the tree.
    pub processes: u32,
    /// Threads of those processes.
    pub threads: u32,
    /// CPU of benchrig's own process (all its threads) since the previous sample, 100 = one core.
    pub client_cpu_pct: f64,
}

/// A sample and when it was taken, since the run started.
pub type TimedSample = (Duration, ResourceSample);

/// Resource use over one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceUse {
    /// Mean CPU of the server's process tree: 100 = one core busy.
    pub cpu_mean_pct: f64,
    pub cpu_peak_pct: f64,
    pub rss_peak_mb: f64,
    pub pss_peak_mb: f64,
    /// The most processes the tree had.
    pub processes: u64,
    /// Mean CPU of benchrig itself (load generator included).
    pub client_cpu_pct: f64,
    /// How many samples the figures rest on.
    pub samples: u64,
}

/// The samples taken within [start, start + length].
pub fn within(samples: &[TimedSample], start: Duration, length: Duration) -> Vec<ResourceSample> {
    samples
        .iter()
        .filter(|(at, _)| *at > start && *at <= start + length)
        .map(|(_, s)| *s)
        .collect()
}

/// Summarizes a phase's samples; `None` without samples.
pub fn summarize(samples: &[ResourceSample]) -> Option<ResourceUse> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f64;
    Some(ResourceUse {
        cpu_mean_pct: samples.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
        cpu_peak_pct: samples.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
        rss_peak_mb: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0) as f64 / MB,
        pss_peak_mb: samples.iter().map(|s| s.pss_bytes).max().unwrap_or(0) as f64 / MB,
        processes: samples
            .iter()
            .map(|s| u64::from(s.processes))
            .max()
            .unwrap_or(0),
        client_cpu_pct: samples.iter().map(|s| s.client_cpu_pct).sum::<f64>() / n,
        samples: samples.len() as u64,
    })
}

/// Per second of a phase: mean CPU, mean RSS and PSS (MB), and benchrig's mean CPU of the
/// samples taken in that second.
pub fn per_second(
    samples: &[TimedSample],
    start: Duration,
    seconds: usize,
) -> Vec<Option<(f64, f64, f64, f64)>> {
    (0..seconds)
        .map(|second| {
            let from = start + Duration::from_secs(second as u64);
            let in_second = within(samples, from, Duration::from_secs(1));
            let n = in_second.len() as f64;
            (!in_second.is_empty()).then(|| {
                (
                    in_second.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
                    in_second.iter().map(|s| s.rss_bytes as f64).sum::<f64>() / n / MB,
                    in_second.iter().map(|s| s.pss_bytes as f64).sum::<f64>() / n / MB,
                    in_second.iter().map(|s| s.client_cpu_pct).sum::<f64>() / n,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: f64, rss_mb: u64, pss_mb: u64, processes: u32, client: f64) -> ResourceSample {
        ResourceSample {
            at: Duration::ZERO,
            cpu_pct: cpu,
            rss_bytes: rss_mb << 20,
            pss_bytes: pss_mb << 20,
            uss_bytes: 0,
            processes,
            threads: processes,
            client_cpu_pct: client,
        }
    }

    #[test]
    fn summarizes_means_and_peaks() {
        let use_ = summarize(&[
            sample(100.0, 40, 20, 2, 50.0),
            sample(150.0, 60, 30, 4, 70.0),
        ])
        .unwrap();
        assert_eq!(use_.cpu_mean_pct, 125.0);
        assert_eq!(use_.cpu_peak_pct, 150.0);
        assert_eq!((use_.rss_peak_mb, use_.pss_peak_mb), (60.0, 30.0));
        assert_eq!(use_.processes, 4);
        assert_eq!(use_.client_cpu_pct, 60.0);
        assert_eq!(use_.samples, 2);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn picks_the_samples_of_a_phase_and_of_each_second() {
        let at = |ms: u64| Duration::from_millis(ms);
        let samples: Vec<TimedSample> = [
            (at(900), sample(10.0, 1, 1, 1, 0.0)),
            (at(1250), sample(100.0, 10, 5, 1, 20.0)),
            (at(1750), sample(200.0, 20, 10, 1, 40.0)),
            (at(2250), sample(50.0, 30, 15, 1, 60.0)),
            (at(3500), sample(70.0, 1, 1, 1, 0.0)),
        ]
        .into_iter()
        .collect();
        let phase = within(&samples, at(1000), at(2000));
        assert_eq!(phase.len(), 3);
        let seconds = per_second(&samples, at(1000), 2);
        assert_eq!(seconds[0], Some((150.0, 15.0, 7.5, 30.0)));
        assert_eq!(seconds[1], Some((50.0, 30.0, 15.0, 60.0)));
        assert_eq!(per_second(&samples, at(5000), 1), vec![None]);
    }
}
