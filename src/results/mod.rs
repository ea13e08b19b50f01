//! Results of an experiment: recorded tallies, the metrics computed from them, and the outcome
//! of every variant. Pure data and arithmetic; no I/O.

pub mod resources;
pub mod stats;
mod tally;

use std::time::Duration;

use serde::Serialize;

pub use tally::{ErrorClass, SecondTally, Tally, Timeline, TransportErrors, LAG_THRESHOLD_US};

/// What one phase recorded against one variant: a tally per request name, the per-second
/// timeline, and the measured wall time from the phase's start until its last request
/// completed.
#[derive(Debug, Clone)]
pub struct PhaseRecording {
    pub elapsed: Duration,
    pub by_request: Vec<(String, Tally)>,
    pub timeline: Timeline,
    /// Open model: the requests per second the schedule asked for, on average.
    pub offered_rps: Option<f64>,
    /// Load generator threads that ran the phase.
    pub workers: usize,
}

impl PhaseRecording {
    /// All request names merged.
    pub fn total(&self) -> Tally {
        let mut total = Tally::new();
        for (_, tally) in &self.by_request {
            total.merge(tally);
        }
        total
    }
}

pub use crate::metrics::Metrics;

/// The result of one assertion on one variant × phase.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AssertionOutcome {
    pub expect: String,
    pub variant: String,
    pub phase: String,
    pub passed: bool,
    /// The values the expression used, or why it could not be evaluated.
    pub detail: String,
    /// The sentence the assertion proves, when the manifest gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

impl Metrics {
    pub fn from_tally(tally: &Tally, elapsed: Duration, offered_rps: Option<f64>) -> Metrics {
        let requests = tally.requests();
        let errors = tally.errors();
        let duration_s = elapsed.as_secs_f64();
        let error_rate = if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        };
        let hist = &tally.latency;
        let has_latency = !hist.is_empty();
        let ms = |us: u64| Some(us as f64 / 1000.0).filter(|_| has_latency);
        let quantile = |q: f64| ms(hist.value_at_quantile(q));
        let success = tally.success_latency();
        let success_quantile = |q: f64| {
            Some(success.value_at_quantile(q) as f64 / 1000.0).filter(|_| !success.is_empty())
        };
        let errors_http = tally.http_errors();
        let rps = if duration_s > 0.0 {
            requests as f64 / duration_s
        } else {
            0.0
        };
        Metrics {
            requests,
            responses: tally.responses(),
            errors,
            error_rate,
            success_rate: crate::metrics::success_rate(requests, error_rate),
            rps,
            duration_s,
            mean_ms: Some(hist.mean() / 1000.0).filter(|_| has_latency),
            min_ms: ms(hist.min()),
            p50_ms: quantile(0.50),
            p90_ms: quantile(0.90),
            p95_ms: quantile(0.95),
            p99_ms: quantile(0.99),
            p999_ms: quantile(0.999),
            max_ms: ms(hist.max()),
            bytes: tally.bytes,
            errors_connect: tally.transport_errors.get(ErrorClass::Connect),
            errors_timeout: tally.transport_errors.get(ErrorClass::Timeout),
            errors_reset: tally.transport_errors.get(ErrorClass::Reset),
            errors_other: tally.transport_errors.get(ErrorClass::Other),
            errors_http,
            dropped: tally.dropped,
            lagged: tally.lagged,
            target_rps: offered_rps,
            lag_p99_ms: tally
                .lag
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(0.99) as f64 / 1000.0),
            lag_max_ms: tally
                .lag
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.max() as f64 / 1000.0),
            service_p50_ms: tally
                .service
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(0.5) as f64 / 1000.0),
            service_p99_ms: tally
                .service
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(0.99) as f64 / 1000.0),
            cpu_mean_pct: None,
            cpu_peak_pct: None,
            rss_peak_mb: None,
            pss_peak_mb: None,
            processes: None,
            client_cpu_pct: None,
            rps_per_core: None,
            pss_per_process_mb: None,
            load_threads: None,
            retries: Some(tally.retries),
            goodput: crate::metrics::goodput(rps, requests, tally.responses(), errors_http),
            success_mean_ms: Some(success.mean() / 1000.0).filter(|_| !success.is_empty()),
            success_p50_ms: success_quantile(0.50),
            success_p99_ms: success_quantile(0.99),
            resource_samples: None,
            statuses: tally.statuses.clone(),
        }
    }

    /// Adds what the server cost during the phase, and the derived efficiency.
    pub fn with_resources(mut self, used: Option<resources::ResourceUse>) -> Metrics {
        if let Some(used) = used {
            self.cpu_mean_pct = Some(used.cpu_mean_pct);
            self.cpu_peak_pct = Some(used.cpu_peak_pct);
            self.rss_peak_mb = Some(used.rss_peak_mb);
            self.pss_peak_mb = Some(used.pss_peak_mb);
            self.processes = Some(used.processes);
            self.client_cpu_pct = Some(used.client_cpu_pct);
            self.resource_samples = Some(used.samples);
            self.rps_per_core =
                (used.cpu_mean_pct > 0.0).then(|| self.rps / (used.cpu_mean_pct / 100.0));
            self.pss_per_process_mb =
                (used.processes > 0).then(|| used.pss_peak_mb / used.processes as f64);
        }
        self
    }
}

/// One variant × phase × trial.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub phase: String,
    pub trial: u32,
    pub metrics: Metrics,
    /// Per request name, in manifest order.
    pub by_request: Vec<RequestMetrics>,
    /// Per second of the phase, by completion time.
    pub timeline: Vec<SecondStats>,
    /// Latency histograms (µs) of all requests and of each request name, for the histogram log.
    #[serde(skip)]
    pub histograms: PhaseHistograms,
}

/// The merged latency histograms of a phase and when it ran.
#[derive(Debug, Clone, Default)]
pub struct PhaseHistograms {
    /// When the phase started, since the run started.
    pub start: Duration,
    pub length: Duration,
    pub total: Option<hdrhistogram::Histogram<u64>>,
    pub by_request: Vec<(String, hdrhistogram::Histogram<u64>)>,
}

/// One second of a phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondStats {
    /// Seconds since the phase started (0 = the first second).
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Mean of the resource samples taken in this second.
    pub cpu_pct: Option<f64>,
    pub rss_mb: Option<f64>,
    pub pss_mb: Option<f64>,
    pub client_cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestMetrics {
    pub request: String,
    pub metrics: Metrics,
}

impl PhaseResult {
    /// `start`: when the phase started, since the run started; `samples`: the variant's
    /// resource samples of the trial (those within the phase are used).
    pub fn from_recording(
        phase: &str,
        trial: u32,
        start: Duration,
        recording: &PhaseRecording,
        samples: &[resources::TimedSample],
    ) -> PhaseResult {
        let total = recording.total();
        let used = resources::summarize(&resources::within(samples, start, recording.elapsed));
        let seconds = recording.timeline.seconds.len();
        let per_second = resources::per_second(samples, start, seconds);
        PhaseResult {
            histograms: PhaseHistograms {
                start,
                length: recording.elapsed,
                total: Some(total.latency.clone()),
                by_request: recording
                    .by_request
                    .iter()
                    .map(|(name, tally)| (name.clone(), tally.latency.clone()))
                    .collect(),
            },
            phase: phase.to_owned(),
            trial,
            metrics: Metrics {
                load_threads: Some(recording.workers as u64),
                ..Metrics::from_tally(&total, recording.elapsed, recording.offered_rps)
            }
            .with_resources(used),
            by_request: recording
                .by_request
                .iter()
                .map(|(name, tally)| RequestMetrics {
                    request: name.clone(),
                    metrics: Metrics::from_tally(tally, recording.elapsed, None),
                })
                .collect(),
            timeline: recording
                .timeline
                .seconds
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let quantile = |q: f64| {
                        Some(s.latency.value_at_quantile(q) as f64 / 1000.0)
                            .filter(|_| !s.latency.is_empty())
                    };
                    let sampled = per_second.get(i).copied().flatten();
                    SecondStats {
                        second: i as u64,
                        requests: s.requests,
                        errors: s.errors,
                        p50_ms: quantile(0.5),
                        p99_ms: quantile(0.99),
                        cpu_pct: sampled.map(|r| r.0),
                        rss_mb: sampled.map(|r| r.1),
                        pss_mb: sampled.map(|r| r.2),
                        client_cpu_pct: sampled.map(|r| r.3),
                    }
                })
                .collect(),
        }
    }
}

/// Where a variant failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VariantFailure {
    /// `start`, `ready`, or the name of the phase (or `warmup`) during which it exited.
    pub stage: String,
    pub reason: String,
    /// The last lines of the failing process's log.
    pub log_tail: String,
    /// That log's file name in `logs/`.
    #[serde(default)]
    pub log: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    /// The command as run, placeholders replaced.
    pub argv: Vec<String>,
    pub port: u16,
    pub ready_after_s: Option<f64>,
    pub phases: Vec<PhaseResult>,
    pub failure: Option<VariantFailure>,
    /// Notes on stopping, e.g. that the group needed SIGKILL.
    pub stop_note: Option<String>,
    /// How each trial's warm-up went.
    pub warmups: Vec<WarmupNote>,
}

/// How long a warm-up took, and whether it became stable (with `until_stable`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct WarmupNote {
    pub trial: u32,
    pub seconds: f64,
    /// `None` when the warm-up had a fixed length.
    pub stable: Option<bool>,
}

impl VariantResult {
    /// The first trial of a phase.
    pub fn phase(&self, name: &str) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.phase == name)
    }

    /// A phase's metrics: of its only trial, or the median of each metric across trials.
    pub fn metrics(&self, phase: &str) -> Option<Metrics> {
        let trials: Vec<&Metrics> = self
            .phases
            .iter()
            .filter(|p| p.phase == phase)
            .map(|p| &p.metrics)
            .collect();
        Metrics::median(&trials)
    }
}

impl Metrics {
    /// Each metric's median across trials (status counts are summed); `None` for no trials.
    pub fn median(trials: &[&Metrics]) -> Option<Metrics> {
        Metrics::combine_trials(trials, stats::median)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_from_known_latencies() {
        let mut tally = Tally::new();
        for ms in 1..=100u64 {
            tally.record_response(ms * 1000, 200, 10);
        }
        tally.record_error(ErrorClass::Reset);
        let m = Metrics::from_tally(&tally, Duration::from_secs(2), None);
        assert_eq!(m.requests, 101);
        assert_eq!(m.responses, 100);
        assert_eq!(m.errors, 1);
        assert!((m.rps - 50.5).abs() < 1e-9);
        assert!((m.error_rate - 1.0 / 101.0).abs() < 1e-12);
        let near = |v: Option<f64>, want: f64| (v.unwrap() - want).abs() <= want * 0.001 + 1e-9;
        assert!(near(m.p50_ms, 50.0), "{:?}", m.p50_ms);
        assert!(near(m.p90_ms, 90.0), "{:?}", m.p90_ms);
        assert!(near(m.p99_ms, 99.0), "{:?}", m.p99_ms);
        assert!(near(m.max_ms, 100.0), "{:?}", m.max_ms);
        assert!(near(m.min_ms, 1.0), "{:?}", m.min_ms);
        assert!(near(m.mean_ms, 50.5), "{:?}", m.mean_ms);
        assert_eq!(m.bytes, 1000);
        assert_eq!(m.errors_reset, 1);
    }

    #[test]
    fn goodput_counts_successful_responses_only() {
        let mut tally = Tally::new();
        for _ in 0..6 {
            tally.record_response(1_000, 200, 1);
        }
        tally.record_response(1_000, 302, 1);
        tally.record_response(1_000, 404, 1);
        tally.record_response(1_000, 503, 1);
        tally.record_error(ErrorClass::Timeout);
        tally.record_error(ErrorClass::Connect);
        let m = Metrics::from_tally(&tally, Duration::from_secs(2), None);
        assert_eq!(m.requests, 11);
        assert!((m.rps - 5.5).abs() < 1e-9, "every request sent");
        assert!(
            (m.goodput - 3.5).abs() < 1e-9,
            "7 responses below 400 in 2 s: {}",
            m.goodput
        );
        let clean = Metrics::from_tally(&Tally::new(), Duration::ZERO, None);
        assert_eq!(clean.goodput, 0.0, "no division by zero");
    }

    #[test]
    fn success_latency_is_all_latency_minus_the_failed_responses() {
        let mut tally = Tally::new();
        for ms in 1..=10u64 {
            tally.record_response(ms * 1000, 200, 1);
        }
        let m = Metrics::from_tally(&tally, Duration::from_secs(1), None);
        assert!(
            tally.failed_latency.is_none(),
            "no failed response, no histogram"
        );
        assert_eq!(
            (m.success_p50_ms, m.success_p99_ms, m.success_mean_ms),
            (m.p50_ms, m.p99_ms, m.mean_ms),
            "without errors the two are the same"
        );
        // Fast 503s and a slow 504, in another worker's tally; transport errors have no latency.
        let mut other = Tally::new();
        for _ in 0..30 {
            other.record_response(100, 503, 0);
        }
        other.record_response(900_000, 504, 0);
        other.record_error(ErrorClass::Timeout);
        tally.merge(&other);
        let m = Metrics::from_tally(&tally, Duration::from_secs(1), None);
        assert_eq!(
            tally.latency.len(),
            41,
            "transport errors are in neither histogram"
        );
        assert_eq!(tally.failed_latency.as_ref().unwrap().len(), 31);
        assert!(
            m.p50_ms.unwrap() < 1.0,
            "the fast 503s pull all responses' median down"
        );
        let near = |v: Option<f64>, want: f64| (v.unwrap() - want).abs() <= want * 0.001;
        assert!(near(m.success_p50_ms, 5.0), "{:?}", m.success_p50_ms);
        assert!(near(m.success_p99_ms, 10.0), "{:?}", m.success_p99_ms);
        assert!(near(m.success_mean_ms, 5.5), "{:?}", m.success_mean_ms);
        assert!(near(m.max_ms, 900.0), "the 504 is among all responses");
        let only_failures = {
            let mut t = Tally::new();
            t.record_response(5_000, 500, 0);
            Metrics::from_tally(&t, Duration::from_secs(1), None)
        };
        assert_eq!(only_failures.success_p50_ms, None);
        assert_eq!(only_failures.success_mean_ms, None);
        assert_eq!(only_failures.goodput, 0.0);
    }

    #[test]
    fn no_responses_means_no_latency_and_no_division_by_zero() {
        let mut tally = Tally::new();
        tally.record_error(ErrorClass::Connect);
        let m = Metrics::from_tally(&tally, Duration::ZERO, None);
        assert_eq!(m.p99_ms, None);
        assert_eq!(m.mean_ms, None);
        assert_eq!(m.rps, 0.0);
        assert_eq!(m.error_rate, 1.0);
        let empty = Metrics::from_tally(&Tally::new(), Duration::from_secs(1), None);
        assert_eq!(empty.error_rate, 0.0);
        assert_eq!(empty.success_rate, 0.0);
    }

    #[test]
    fn medians_across_trials() {
        let trial = |ms: u64, requests: u64| {
            let mut tally = Tally::new();
            for _ in 0..requests {
                tally.record_response(ms * 1000, 200, 1);
            }
            Metrics::from_tally(&tally, Duration::from_secs(1), None)
        };
        let (a, b, c) = (trial(1, 100), trial(3, 300), trial(2, 200));
        let m = Metrics::median(&[&a, &b, &c]).unwrap();
        assert_eq!(m.requests, 200);
        assert_eq!(m.rps, 200.0);
        assert!((m.p50_ms.unwrap() - 2.0).abs() < 0.01);
        assert_eq!(m.statuses[&200], 600, "status counts add up");
        assert_eq!(Metrics::median(&[&a]).unwrap(), a);
        assert!(Metrics::median(&[]).is_none());
    }
}
