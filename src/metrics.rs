//! The metrics benchrig reports: every name, once. A leaf: the manifest checks assertion
//! names against it, results compute the values, output, report and compare read them.

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
    "dropped",
    "lagged",
    "target_rps",
    "lag_p99_ms",
    "lag_max_ms",
    "service_p50_ms",
    "service_p99_ms",
    "cpu_mean_pct",
    "cpu_peak_pct",
    "rss_peak_mb",
    "pss_peak_mb",
    "processes",
    "client_cpu_pct",
    "rps_per_core",
    "pss_per_process_mb",
    "load_threads",
];

/// Metrics that exist only when the server's resources were sampled (in `benchrig run`).
pub const RESOURCE_METRICS: &[&str] = &[
    "cpu_mean_pct",
    "cpu_peak_pct",
    "rss_peak_mb",
    "pss_peak_mb",
    "processes",
    "client_cpu_pct",
    "rps_per_core",
    "pss_per_process_mb",
];

/// Metrics that only exist in open-model phases.
pub const OPEN_MODEL_METRICS: &[&str] = &[
    "target_rps",
    "lag_p99_ms",
    "lag_max_ms",
    "service_p50_ms",
    "service_p99_ms",
];
