//! The metrics benchrig reports, each declared once: its name (also its summary.csv column and
//! its name in assertions), type, unit, which direction is better, whether `compare` judges it,
//! how summary.csv writes it, and a one-line description. The `Metrics` struct, the table
//! [`METRICS`], reading a metric by name, the CSV columns, the median across trials and the
//! metrics table of docs/manifest.md all come from the one declaration below.
//!
//! A leaf module: the manifest checks assertion names against it, results compute the values,
//! output, assertions, report and compare read them.

use std::collections::BTreeMap;

use serde::Serialize;

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// A count or a setting: neither more nor less is better in itself.
    Neither,
}

/// Whether `benchrig compare` and `run --check` judge a metric, and with which words. A judged
/// metric carries its run-to-run noise: the largest difference between the trial medians of
/// two runs of the same manifest on a quiet machine (relative; absolute for fractions),
/// measured by A/A runs of the quickstart (see docs/manifest.md, "Metrics"). A difference
/// within it is no evidence of a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Judged {
    No,
    /// Throughput and latency: a change is "faster" or "slower".
    Speed {
        noise: f64,
    },
    /// Errors and cost: a change is "better" or "worse".
    Quality {
        noise: f64,
    },
}

impl Judged {
    /// The run-to-run noise of one trial; `None` for a metric that is not judged.
    pub fn noise(&self) -> Option<f64> {
        match *self {
            Judged::No => None,
            Judged::Speed { noise } | Judged::Quality { noise } => Some(noise),
        }
    }
}

/// When a metric has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every phase, and each request name within it.
    Always,
    /// Open-model phases only, and each request name within them.
    OpenModel,
    /// Every phase as a whole, never per request name.
    Phase,
    /// Open-model phases as a whole, never per request name.
    OpenModelPhase,
    /// Only when the server's resources were sampled (in `benchrig run`), for a whole phase.
    Resources,
}

impl Scope {
    /// The metric exists only in open-model phases.
    pub fn open_model_only(self) -> bool {
        matches!(self, Scope::OpenModel | Scope::OpenModelPhase)
    }

    /// The metric has a value per request name too (summary_by_request.csv).
    pub fn per_request(self) -> bool {
        matches!(self, Scope::Always | Scope::OpenModel)
    }
}

/// How a metric is written to summary.csv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csv {
    /// A whole number.
    Whole,
    /// A number with this many decimals.
    Decimals(usize),
    /// A number with this many decimals, in a column added after summary.csv files were
    /// written without it: computed from the other columns when reading such a file.
    AddedDecimals(usize),
    /// Not written: computed from other columns when read back.
    Derived,
}

/// One metric of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSpec {
    pub name: &'static str,
    /// "ms", "req/s", "fraction", …; empty for plain counts.
    pub unit: &'static str,
    pub better: Better,
    pub judged: Judged,
    pub scope: Scope,
    pub csv: Csv,
    pub description: &'static str,
}

impl MetricSpec {
    /// A latency: compared with the latency floor as well as the tolerance.
    pub fn is_latency(&self) -> bool {
        self.unit == "ms"
    }

    /// A share between 0 and 1: compared by absolute difference, not relative change.
    pub fn is_fraction(&self) -> bool {
        self.unit == "fraction"
    }
}

/// A median of numbers, `None` for none: `results::stats::median`, passed in so that statistics
/// stay in one place.
pub type Median = fn(&[f64]) -> Option<f64>;

/// What a metric's value can be: a count, a real number, or either one that may be absent.
pub trait MetricValue: Sized {
    fn as_f64(&self) -> Option<f64>;
    fn to_csv(&self, csv: Csv) -> String;
    /// `None` when the column is missing from the file (columns added later are absent from
    /// older files; only metrics that may be absent allow that).
    fn from_csv(text: Option<&str>, name: &str) -> Result<Self, String>;
    /// The median across trials by `median`; absent values are left out.
    fn median(values: &[Self], median: Median) -> Self;
}

fn write_number(value: f64, csv: Csv) -> String {
    match csv {
        Csv::Whole => format!("{value:.0}"),
        Csv::Decimals(places) | Csv::AddedDecimals(places) => format!("{value:.places$}"),
        Csv::Derived => String::new(),
    }
}

fn required<'a>(text: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    text.ok_or_else(|| format!("column `{name}` is missing"))
}

impl MetricValue for u64 {
    fn as_f64(&self) -> Option<f64> {
        Some(*self as f64)
    }
    fn to_csv(&self, csv: Csv) -> String {
        match csv {
            Csv::Derived => String::new(),
            _ => self.to_string(),
        }
    }
    fn from_csv(text: Option<&str>, name: &str) -> Result<Self, String> {
        required(text, name)?
            .parse()
            .map_err(|_| format!("`{name}` is not a whole number"))
    }
    fn median(values: &[Self], median: Median) -> Self {
        let values: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        median(&values).map_or(0, |v| v.round() as u64)
    }
}

impl MetricValue for f64 {
    fn as_f64(&self) -> Option<f64> {
        Some(*self)
    }
    fn to_csv(&self, csv: Csv) -> String {
        write_number(*self, csv)
    }
    fn from_csv(text: Option<&str>, name: &str) -> Result<Self, String> {
        required(text, name)?
            .parse()
            .map_err(|_| format!("`{name}` is not a number"))
    }
    fn median(values: &[Self], median: Median) -> Self {
        median(values).unwrap_or(0.0)
    }
}

impl MetricValue for Option<f64> {
    fn as_f64(&self) -> Option<f64> {
        *self
    }
    fn to_csv(&self, csv: Csv) -> String {
        self.map(|v| write_number(v, csv)).unwrap_or_default()
    }
    fn from_csv(text: Option<&str>, name: &str) -> Result<Self, String> {
        match text.unwrap_or("") {
            "" => Ok(None),
            value => value
                .parse()
                .map(Some)
                .map_err(|_| format!("`{name}` is not a number")),
        }
    }
    fn median(values: &[Self], median: Median) -> Self {
        median(&values.iter().filter_map(|v| *v).collect::<Vec<_>>())
    }
}

impl MetricValue for Option<u64> {
    fn as_f64(&self) -> Option<f64> {
        self.map(|v| v as f64)
    }
    fn to_csv(&self, _: Csv) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
    fn from_csv(text: Option<&str>, name: &str) -> Result<Self, String> {
        Ok(Option::<f64>::from_csv(text, name)?.map(|v| v as u64))
    }
    fn median(values: &[Self], median: Median) -> Self {
        let values: Vec<f64> = values.iter().filter_map(|v| v.map(|v| v as f64)).collect();
        median(&values).map(|v| v.round() as u64)
    }
}

/// Declares the metrics: the struct, the table and the by-name accessors, from one list.
macro_rules! metrics {
    ($(
        $name:ident: $type:ty, $unit:literal, $better:ident, $judged:expr, $scope:ident, $csv:expr,
            $description:literal;
    )*) => {
        /// Summary statistics of one variant × phase (or of one request name within it). Fields
        /// in summary.csv's column order; see [`METRICS`].
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Metrics {
            $(
                #[doc = $description]
                pub $name: $type,
            )*
            /// Responses per HTTP status code.
            pub statuses: BTreeMap<u16, u64>,
        }

        /// Every metric, in summary.csv's column order. New metrics go at the end: the columns
        /// of summary.csv are appended to, never reordered.
        pub const METRICS: &[MetricSpec] = &[$(
            MetricSpec {
                name: stringify!($name),
                unit: $unit,
                better: Better::$better,
                judged: $judged,
                scope: Scope::$scope,
                csv: $csv,
                description: $description,
            },
        )*];

        impl Metrics {
            /// The value of the metric `name` as a number; `None` when it has no value here or
            /// no metric has that name.
            pub fn value(&self, name: &str) -> Option<f64> {
                match name {
                    $(stringify!($name) => self.$name.as_f64(),)*
                    _ => None,
                }
            }

            /// Each metric as summary.csv writes it, in [`METRICS`] order (`Derived` ones as
            /// empty text).
            pub fn csv_fields(&self) -> Vec<String> {
                vec![$(self.$name.to_csv($csv),)*]
            }

            /// Reads the metrics of a summary.csv row; `column` gives a column's text, `None`
            /// when the file has no such column. `Derived` metrics are computed, and so are
            /// `AddedDecimals` ones whose column the file does not have.
            pub fn from_csv<'a>(
                column: impl Fn(&str) -> Option<&'a str>,
                statuses: BTreeMap<u16, u64>,
            ) -> Result<Metrics, String> {
                let absent = |name: &str| column(name).is_none();
                let mut metrics = Metrics {
                    $($name: if matches!($csv, Csv::Derived)
                        || matches!($csv, Csv::AddedDecimals(_)) && absent(stringify!($name))
                    {
                        Default::default()
                    } else {
                        MetricValue::from_csv(column(stringify!($name)), stringify!($name))?
                    },)*
                    statuses,
                };
                metrics.success_rate = success_rate(metrics.requests, metrics.error_rate);
                if absent("goodput") {
                    metrics.goodput = goodput(
                        metrics.rps,
                        metrics.requests,
                        metrics.responses,
                        metrics.errors_http,
                    );
                }
                Ok(metrics)
            }

            /// Each metric's median across trials by `median` (status counts are summed);
            /// `None` for no trials.
            pub fn combine_trials(trials: &[&Metrics], median: Median) -> Option<Metrics> {
                let first = *trials.first()?;
                if trials.len() == 1 {
                    return Some(first.clone());
                }
                let mut statuses = BTreeMap::new();
                for m in trials {
                    for (status, n) in &m.statuses {
                        *statuses.entry(*status).or_insert(0) += n;
                    }
                }
                Some(Metrics {
                    $($name: MetricValue::median(
                        &trials.iter().map(|m| m.$name).collect::<Vec<_>>(),
                        median,
                    ),)*
                    statuses,
                })
            }
        }
    };
}

use Csv::{AddedDecimals, Decimals, Derived, Whole};
use Judged::{No, Quality, Speed};

metrics! {
    requests: u64, "", Neither, No, Always, Whole,
        "requests sent (with a response or a transport error)";
    errors: u64, "", Lower, No, Always, Whole,
        "transport errors plus responses with status ≥ 400";
    rps: f64, "req/s", Higher, Speed { noise: 0.20 }, Always, Decimals(2),
        "requests per second: `requests / duration_s`";
    mean_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "mean latency of responses";
    p50_ms: Option<f64>, "ms", Lower, Speed { noise: 0.25 }, Always, Decimals(3),
        "median latency of responses";
    p90_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "90th percentile latency of responses";
    p95_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "95th percentile latency of responses";
    p99_ms: Option<f64>, "ms", Lower, Speed { noise: 0.45 }, Always, Decimals(3),
        "99th percentile latency of responses";
    max_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "slowest response";
    responses: u64, "", Neither, No, Always, Whole,
        "requests that got a complete response, whatever its status";
    error_rate: f64, "fraction", Lower, Quality { noise: 0.01 }, Always, Decimals(6),
        "`errors / requests`; 0 when nothing was sent";
    duration_s: f64, "s", Neither, No, Always, Decimals(3),
        "measured time of the phase: from its start until its last response (at least `duration`)";
    min_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "fastest response";
    p999_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "99.9th percentile latency of responses";
    bytes: u64, "bytes", Neither, No, Always, Whole,
        "response body bytes received";
    errors_connect: u64, "", Lower, No, Always, Whole,
        "requests without a response: the connection could not be opened";
    errors_timeout: u64, "", Lower, No, Always, Whole,
        "requests without a response: the request's `timeout` passed";
    errors_reset: u64, "", Lower, No, Always, Whole,
        "requests without a response: the server reset or closed the connection";
    errors_other: u64, "", Lower, No, Always, Whole,
        "requests without a response for another reason (e.g. a malformed response)";
    errors_http: u64, "", Lower, No, Always, Whole,
        "responses with status ≥ 400";
    dropped: u64, "", Lower, No, Always, Whole,
        "open model: requests not sent because `max_in_flight` were outstanding";
    lagged: u64, "", Lower, No, Always, Whole,
        "open model: requests sent more than 2 ms after their intended time";
    target_rps: Option<f64>, "req/s", Neither, No, OpenModelPhase, Decimals(2),
        "the average rate the schedule asked for";
    lag_p99_ms: Option<f64>, "ms", Lower, No, OpenModel, Decimals(3),
        "how late requests were sent, 99th percentile";
    lag_max_ms: Option<f64>, "ms", Lower, No, OpenModel, Decimals(3),
        "how late requests were sent, at most";
    service_p50_ms: Option<f64>, "ms", Lower, No, OpenModel, Decimals(3),
        "from the actual send to the end of the response, median";
    service_p99_ms: Option<f64>, "ms", Lower, No, OpenModel, Decimals(3),
        "from the actual send to the end of the response, 99th percentile";
    cpu_mean_pct: Option<f64>, "% of a core", Lower, Quality { noise: 0.05 }, Resources, Decimals(1),
        "CPU of the variant's whole process tree (master and every worker, including workers replaced during the phase), mean of the samples; 100 = one core, as in `docker stats`";
    cpu_peak_pct: Option<f64>, "% of a core", Lower, No, Resources, Decimals(1),
        "CPU of the variant's whole process tree, highest sample";
    rss_peak_mb: Option<f64>, "MB", Lower, No, Resources, Decimals(1),
        "peak resident memory of the tree; RSS counts shared pages in every process";
    pss_peak_mb: Option<f64>, "MB", Lower, Quality { noise: 0.10 }, Resources, Decimals(1),
        "peak proportional memory of the tree (smaps_rollup): shared pages split between processes, what a pre-fork server really costs";
    processes: Option<u64>, "", Neither, No, Resources, Whole,
        "the most processes the tree had";
    client_cpu_pct: Option<f64>, "% of a core", Neither, No, Resources, Decimals(1),
        "benchrig's own CPU (all load threads) during the phase, mean";
    rps_per_core: Option<f64>, "req/s per core", Higher, No, Resources, Decimals(1),
        "requests/s per core of server CPU: `rps / (cpu_mean_pct / 100)`";
    pss_per_process_mb: Option<f64>, "MB", Lower, No, Resources, Decimals(1),
        "memory per worker: `pss_peak_mb / processes`";
    load_threads: Option<u64>, "", Neither, No, Phase, Whole,
        "load generator threads that ran the phase";
    success_rate: f64, "fraction", Higher, No, Always, Derived,
        "`1 − error_rate`; 0 when nothing was sent";
    retries: Option<u64>, "", Lower, No, Always, Whole,
        "requests sent a second time, on a fresh connection, because the kept-alive connection they went out on closed before any byte of the response (GET, HEAD, PUT, DELETE and OPTIONS only, at most once; the lean HTTP/1.1 client)";
    // Judged with the noise measured for rps: the A/A runs behind that figure had no errors, so
    // their goodput was their rps; where errors move goodput, `error_rate` is judged as well.
    goodput: f64, "req/s", Higher, Speed { noise: 0.20 }, Always, AddedDecimals(2),
        "successful responses (status < 400) per second: `(responses − errors_http) / duration_s`";
    success_mean_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "mean latency of successful responses (status < 400)";
    success_p50_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "median latency of successful responses (status < 400)";
    success_p99_ms: Option<f64>, "ms", Lower, No, Always, Decimals(3),
        "99th percentile latency of successful responses (status < 400)";
    resource_samples: Option<u64>, "", Neither, No, Resources, Whole,
        "resource samples taken within the phase; `compare` judges `cpu_mean_pct` and `pss_peak_mb` only from trials with enough of them";
}

/// `goodput`, `(responses − errors_http) / duration_s`, computed as the share of `rps` that
/// succeeded: the same number, and in a file written without a goodput column it equals the
/// rounded `rps` beside it exactly when nothing failed. 0 when nothing was sent.
pub fn goodput(rps: f64, requests: u64, responses: u64, errors_http: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        rps * (responses.saturating_sub(errors_http) as f64 / requests as f64)
    }
}

/// `success_rate` from `requests` and `error_rate`: 0 when nothing was sent.
pub fn success_rate(requests: u64, error_rate: f64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        1.0 - error_rate
    }
}

/// What the samples of a latency percentile are, i.e. what its sample count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Samples {
    /// Every response, whatever its status (`responses`).
    Responses,
    /// Responses with status < 400 (`responses − errors_http`).
    Successes,
    /// Every request sent (`requests`): how late each went out.
    Sent,
}

impl Samples {
    /// The count, from metric values by name (a `Metrics` or a report's row of them).
    pub fn count(self, value: impl Fn(&str) -> Option<f64>) -> u64 {
        let count = |name: &str| value(name).unwrap_or(0.0).max(0.0).round() as u64;
        match self {
            Samples::Responses => count("responses"),
            Samples::Successes => count("responses").saturating_sub(count("errors_http")),
            Samples::Sent => count("requests"),
        }
    }

    /// The samples in words, for a count of `n`: "16 responses".
    pub fn describe(self, n: u64) -> String {
        let noun = match (self, n) {
            (Samples::Responses, 1) => "response",
            (Samples::Responses, _) => "responses",
            (Samples::Successes, 1) => "successful response",
            (Samples::Successes, _) => "successful responses",
            (Samples::Sent, 1) => "request",
            (Samples::Sent, _) => "requests",
        };
        format!("{n} {noun}")
    }
}

/// A latency metric that is a percentile of its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentile {
    pub metric: &'static str,
    /// "p99", "p99.9"
    pub label: &'static str,
    pub quantile: f64,
    pub samples: Samples,
}

impl Percentile {
    /// The fewest samples this percentile can rest on; see [`samples_needed`].
    pub fn samples_needed(&self) -> u64 {
        samples_needed(self.quantile)
    }

    /// `Some(n)` when the metric rests on `n` samples, fewer than it needs.
    pub fn too_few(&self, value: impl Fn(&str) -> Option<f64>) -> Option<u64> {
        let n = self.samples.count(value);
        (n < self.samples_needed()).then_some(n)
    }
}

/// Every percentile metric and the samples it rests on.
pub const PERCENTILES: &[Percentile] = {
    use Samples::{Responses, Sent, Successes};
    const fn p(
        metric: &'static str,
        label: &'static str,
        quantile: f64,
        samples: Samples,
    ) -> Percentile {
        Percentile {
            metric,
            label,
            quantile,
            samples,
        }
    }
    &[
        p("p50_ms", "p50", 0.50, Responses),
        p("p90_ms", "p90", 0.90, Responses),
        p("p95_ms", "p95", 0.95, Responses),
        p("p99_ms", "p99", 0.99, Responses),
        p("p999_ms", "p99.9", 0.999, Responses),
        p("service_p50_ms", "p50", 0.50, Responses),
        p("service_p99_ms", "p99", 0.99, Responses),
        p("lag_p99_ms", "p99", 0.99, Sent),
        p("success_p50_ms", "p50", 0.50, Successes),
        p("success_p99_ms", "p99", 0.99, Successes),
    ]
};

/// The percentile metric `name`, if it is one.
pub fn percentile(name: &str) -> Option<&'static Percentile> {
    PERCENTILES.iter().find(|p| p.metric == name)
}

/// A percentile q needs at least 1/(1 − q) samples: 2 for p50, 10 for p90, 20 for p95, 100 for
/// p99, 1,000 for p99.9. With fewer, nothing lies above it, so it is merely the largest sample:
/// "p99" of 16 responses is their maximum.
pub fn samples_needed(quantile: f64) -> u64 {
    // Rounded: 1 / (1 − 0.99) is 100.00000000000009 in floating point.
    (1.0 / (1.0 - quantile)).round() as u64
}

/// The table entry of `name`.
pub fn spec(name: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|m| m.name == name)
}

/// Whether `name` is a metric.
pub fn is_metric(name: &str) -> bool {
    spec(name).is_some()
}

/// Every metric's name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    METRICS.iter().map(|m| m.name)
}

/// The metrics compare judges, in table order (the order of comparison rows).
pub fn judged() -> impl Iterator<Item = &'static MetricSpec> {
    METRICS.iter().filter(|m| m.judged != Judged::No)
}

fn verdict_words(judged: Judged) -> &'static str {
    match judged {
        Judged::No => "",
        Judged::Speed { .. } => "faster / slower",
        Judged::Quality { .. } => "better / worse",
    }
}

/// The metrics table of docs/manifest.md.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| metric | unit | better | compared | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for m in METRICS {
        let better = match m.better {
            Better::Higher => "higher",
            Better::Lower => "lower",
            Better::Neither => "",
        };
        let judged = match m.judged {
            Judged::No => String::new(),
            Judged::Speed { noise } | Judged::Quality { noise } if m.is_fraction() => {
                format!("{} (noise {} pt)", verdict_words(m.judged), noise * 100.0)
            }
            Judged::Speed { noise } | Judged::Quality { noise } => {
                format!("{} (noise {} %)", verdict_words(m.judged), noise * 100.0)
            }
        };
        let scope = match m.scope {
            Scope::Always => "",
            Scope::Phase => " (whole phase only)",
            Scope::OpenModel => " (open-model phases only)",
            Scope::OpenModelPhase => " (open-model phases, whole phase only)",
            Scope::Resources => {
                " (only when resources are sampled, in `benchrig run`; whole phase only)"
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {better} | {judged} | {}{scope} |\n",
            m.name, m.unit, m.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_serialized_as_fields() {
        let mut seen = std::collections::BTreeSet::new();
        for name in names() {
            assert!(seen.insert(name), "{name} twice");
        }
        let m = Metrics::from_csv(|_| Some("0"), BTreeMap::new()).unwrap();
        let json = serde_json::to_value(&m).unwrap();
        let fields = json.as_object().unwrap();
        assert_eq!(fields.len(), METRICS.len() + 1, "the metrics plus statuses");
        for name in names() {
            assert!(fields.contains_key(name), "{name} is not a Metrics field");
        }
    }

    #[test]
    fn values_by_name() {
        let mut m = Metrics::from_csv(|_| Some("1"), BTreeMap::new()).unwrap();
        m.p99_ms = None;
        m.rps = 12.5;
        assert_eq!(m.value("rps"), Some(12.5));
        assert_eq!(m.value("requests"), Some(1.0));
        assert_eq!(m.value("p99_ms"), None);
        assert_eq!(m.value("no_such_metric"), None);
    }

    #[test]
    fn csv_round_trip_and_missing_columns() {
        let mut m = Metrics::from_csv(|_| Some("3"), BTreeMap::from([(200, 3)])).unwrap();
        m.rps = 1.0 / 3.0;
        m.p50_ms = None;
        let fields = m.csv_fields();
        assert_eq!(fields.len(), METRICS.len());
        let at = |name: &str| METRICS.iter().position(|s| s.name == name).unwrap();
        assert_eq!(fields[at("rps")], "0.33");
        assert_eq!(fields[at("p50_ms")], "");
        assert_eq!(fields[at("success_rate")], "", "derived, not written");
        let back =
            Metrics::from_csv(|name| Some(fields[at(name)].as_str()), m.statuses.clone()).unwrap();
        assert_eq!(back.p50_ms, None);
        assert_eq!(back.requests, 3);
        // An optional column absent from an older file reads as no value; a required one is an
        // error naming it.
        let old = Metrics::from_csv(
            |name| (name != "load_threads").then_some("2"),
            BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(old.load_threads, None);
        let err = Metrics::from_csv(|name| (name != "bytes").then_some("2"), BTreeMap::new())
            .unwrap_err();
        assert_eq!(err, "column `bytes` is missing");
        let err = Metrics::from_csv(
            |name| Some(if name == "rps" { "fast" } else { "2" }),
            BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(err, "`rps` is not a number");
    }

    #[test]
    fn goodput_is_derived_when_reading_a_file_without_its_column() {
        let old_file = |name: &str| match name {
            "goodput" | "success_mean_ms" | "success_p50_ms" | "success_p99_ms" => None,
            "requests" => Some("100"),
            "responses" => Some("90"),
            "errors_http" => Some("30"),
            "duration_s" => Some("2.000"),
            "rps" => Some("50.00"),
            _ => Some("1"),
        };
        let m = Metrics::from_csv(old_file, BTreeMap::new()).unwrap();
        assert_eq!(m.goodput, 30.0, "(90 − 30) / 2 s");
        let error_free = |name: &str| match name {
            "requests" | "responses" => Some("50"),
            "errors_http" => Some("0"),
            "duration_s" => Some("6.290"),
            "rps" => Some("7.95"),
            _ => old_file(name),
        };
        let m = Metrics::from_csv(error_free, BTreeMap::new()).unwrap();
        assert_eq!(
            m.goodput, m.rps,
            "not 50 / 6.290 = 7.949…, which would round differently"
        );
        assert_eq!(m.success_p50_ms, None, "not derivable: no value");
        let written = |name: &str| {
            if name == "goodput" {
                Some("12.5")
            } else {
                old_file(name)
            }
        };
        let m = Metrics::from_csv(written, BTreeMap::new()).unwrap();
        assert_eq!(m.goodput, 12.5, "a written column is read, not derived");
        let at = METRICS.iter().position(|s| s.name == "goodput").unwrap();
        assert_eq!(m.csv_fields()[at], "12.50", "and written with two decimals");
        let err = Metrics::from_csv(
            |name| Some(if name == "goodput" { "lots" } else { "1" }),
            BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(err, "`goodput` is not a number");
    }

    #[test]
    fn a_percentile_needs_one_over_one_minus_q_samples() {
        let needed: Vec<(&str, u64)> = ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms"]
            .iter()
            .map(|name| (*name, percentile(name).unwrap().samples_needed()))
            .collect();
        assert_eq!(
            needed,
            [
                ("p50_ms", 2),
                ("p90_ms", 10),
                ("p95_ms", 20),
                ("p99_ms", 100),
                ("p999_ms", 1000)
            ]
        );
        let counts = |name: &str| match name {
            "requests" => Some(120.0),
            "responses" => Some(100.0),
            "errors_http" => Some(30.0),
            _ => None,
        };
        let p99 = percentile("p99_ms").unwrap();
        assert_eq!(
            p99.too_few(counts),
            None,
            "100 responses are enough for a p99"
        );
        assert_eq!(percentile("p999_ms").unwrap().too_few(counts), Some(100));
        let success_p99 = percentile("success_p99_ms").unwrap();
        assert_eq!(success_p99.too_few(counts), Some(70), "100 − 30 successful");
        assert_eq!(success_p99.samples.describe(70), "70 successful responses");
        assert_eq!(
            percentile("lag_p99_ms").unwrap().too_few(counts),
            None,
            "120 sent"
        );
        assert_eq!(percentile("max_ms"), None);
        for p in PERCENTILES {
            let spec = spec(p.metric).expect("a percentile is a metric");
            assert!(spec.is_latency(), "{}", p.metric);
        }
    }

    #[test]
    fn medians_leave_out_absent_values() {
        let trial = |rps: f64, p99: Option<f64>, processes: Option<u64>| {
            let mut m = Metrics::from_csv(|_| Some("1"), BTreeMap::from([(200, 1)])).unwrap();
            m.rps = rps;
            m.p99_ms = p99;
            m.processes = processes;
            m
        };
        let (a, b, c) = (
            trial(1.0, Some(5.0), Some(2)),
            trial(3.0, None, Some(3)),
            trial(2.0, Some(7.0), None),
        );
        let median = |values: &[f64]| {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            match sorted.len() {
                0 => None,
                n if n % 2 == 1 => Some(sorted[n / 2]),
                n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
            }
        };
        let m = Metrics::combine_trials(&[&a, &b, &c], median).unwrap();
        assert_eq!(m.rps, 2.0);
        assert_eq!(m.p99_ms, Some(6.0));
        assert_eq!(m.processes, Some(3), "2.5 rounds to 3");
        assert_eq!(m.statuses[&200], 3);
    }

    #[test]
    fn compare_judges_throughput_latency_errors_and_cost() {
        let names: Vec<&str> = judged().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "rps",
                "p50_ms",
                "p99_ms",
                "error_rate",
                "cpu_mean_pct",
                "pss_peak_mb",
                "goodput"
            ]
        );
        for m in judged() {
            assert_ne!(m.better, Better::Neither, "{} is judged", m.name);
        }
    }

    /// docs/manifest.md shows the table as `markdown_table` writes it.
    #[test]
    fn the_manifest_reference_lists_every_metric() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/manifest.md");
        let docs = std::fs::read_to_string(&path).unwrap();
        assert!(
            docs.contains(&markdown_table()),
            "docs/manifest.md is out of date: replace its metrics table with the output of \
             `cargo test metrics -- --ignored --nocapture print_markdown_table`:\n{}",
            markdown_table()
        );
    }

    #[test]
    #[ignore = "prints the docs table"]
    fn print_markdown_table() {
        print!("{}", markdown_table());
    }
}
