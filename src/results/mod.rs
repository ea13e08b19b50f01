//! Results of an experiment: recorded tallies, the metrics computed from them, and the outcome
//! of every variant. Pure data and arithmetic; no I/O.

mod tally;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub use tally::{ErrorClass, Tally, TransportErrors};

/// What one phase recorded against one variant: a tally per request name, and the measured
/// wall time from the phase's start until its last request completed.
#[derive(Debug, Clone)]
pub struct PhaseRecording {
    pub elapsed: Duration,
    pub by_request: Vec<(String, Tally)>,
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

/// Names of the numeric metrics, as used in summary.csv, reports and assertions.
pub const METRIC_NAMES: &[&str] = &[
    "requests",
    "responses",
    "errors",
    "error_rate",
    "success_rate",
    "rps",
    "duration_s",
    "mean_ms",
    "min_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "bytes",
    "errors_connect",
    "errors_timeout",
    "errors_reset",
    "errors_other",
    "errors_http",
];

/// Metrics that only exist when at least one response arrived.
pub const LATENCY_METRICS: &[&str] = &[
    "mean_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
];

/// Summary statistics of one variant × phase (or of one request name within it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    /// errors / requests; 0 when nothing was sent.
    pub error_rate: f64,
    /// 1 − error_rate.
    pub success_rate: f64,
    /// requests / duration_s.
    pub rps: f64,
    pub duration_s: f64,
    /// Latency statistics in milliseconds; `None` when no response arrived.
    pub mean_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub bytes: u64,
    pub errors_connect: u64,
    pub errors_timeout: u64,
    pub errors_reset: u64,
    pub errors_other: u64,
    pub errors_http: u64,
    /// Responses per HTTP status code.
    pub statuses: BTreeMap<u16, u64>,
}

impl Metrics {
    pub fn from_tally(tally: &Tally, elapsed: Duration) -> Metrics {
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
        Metrics {
            requests,
            responses: tally.responses(),
            errors,
            error_rate,
            success_rate: if requests == 0 { 0.0 } else { 1.0 - error_rate },
            rps: if duration_s > 0.0 {
                requests as f64 / duration_s
            } else {
                0.0
            },
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
            errors_http: tally.http_errors(),
            statuses: tally.statuses.clone(),
        }
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
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestMetrics {
    pub request: String,
    pub metrics: Metrics,
}

impl PhaseResult {
    pub fn from_recording(phase: &str, trial: u32, recording: &PhaseRecording) -> PhaseResult {
        PhaseResult {
            phase: phase.to_owned(),
            trial,
            metrics: Metrics::from_tally(&recording.total(), recording.elapsed),
            by_request: recording
                .by_request
                .iter()
                .map(|(name, tally)| RequestMetrics {
                    request: name.clone(),
                    metrics: Metrics::from_tally(tally, recording.elapsed),
                })
                .collect(),
        }
    }
}

/// Where a variant failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantFailure {
    /// `start`, `ready`, or the name of the phase (or `warmup`) during which it exited.
    pub stage: String,
    pub reason: String,
    /// The last lines of the variant's log.
    pub log_tail: String,
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
}

impl VariantResult {
    pub fn phase(&self, name: &str) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.phase == name)
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
        let m = Metrics::from_tally(&tally, Duration::from_secs(2));
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
    fn no_responses_means_no_latency_and_no_division_by_zero() {
        let mut tally = Tally::new();
        tally.record_error(ErrorClass::Connect);
        let m = Metrics::from_tally(&tally, Duration::ZERO);
        assert_eq!(m.p99_ms, None);
        assert_eq!(m.mean_ms, None);
        assert_eq!(m.rps, 0.0);
        assert_eq!(m.error_rate, 1.0);
        let empty = Metrics::from_tally(&Tally::new(), Duration::from_secs(1));
        assert_eq!(empty.error_rate, 0.0);
        assert_eq!(empty.success_rate, 0.0);
    }

    #[test]
    fn metric_names_match_the_serialized_fields() {
        let value =
            serde_json::to_value(Metrics::from_tally(&Tally::new(), Duration::ZERO)).unwrap();
        let fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for name in METRIC_NAMES {
            assert!(fields.contains(name), "{name} is not a Metrics field");
        }
        assert_eq!(
            fields.len(),
            METRIC_NAMES.len() + 1,
            "statuses plus the metric names"
        );
    }
}
