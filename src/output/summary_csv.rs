//! summary.csv: one row per variant × phase × trial.

use super::{Export, RunData};
use crate::results::Metrics;

/// The first columns are fixed and documented; more may be appended, never reordered.
pub const SUMMARY_HEADER: &[&str] = &[
    "variant",
    "phase",
    "requests",
    "errors",
    "rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "trial",
    "responses",
    "error_rate",
    "duration_s",
    "min_ms",
    "p999_ms",
    "bytes",
    "errors_connect",
    "errors_timeout",
    "errors_reset",
    "errors_other",
    "errors_http",
];

pub struct SummaryCsv;

fn ms(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.3}")).unwrap_or_default()
}

fn row(variant: &str, phase: &str, trial: u32, m: &Metrics) -> Vec<String> {
    vec![
        variant.to_owned(),
        phase.to_owned(),
        m.requests.to_string(),
        m.errors.to_string(),
        format!("{:.2}", m.rps),
        ms(m.mean_ms),
        ms(m.p50_ms),
        ms(m.p90_ms),
        ms(m.p95_ms),
        ms(m.p99_ms),
        ms(m.max_ms),
        trial.to_string(),
        m.responses.to_string(),
        format!("{:.6}", m.error_rate),
        format!("{:.3}", m.duration_s),
        ms(m.min_ms),
        ms(m.p999_ms),
        m.bytes.to_string(),
        m.errors_connect.to_string(),
        m.errors_timeout.to_string(),
        m.errors_reset.to_string(),
        m.errors_other.to_string(),
        m.errors_http.to_string(),
    ]
}

impl Export for SummaryCsv {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(SUMMARY_HEADER)?;
        for variant in data.variants {
            for phase in &variant.phases {
                csv.write_record(row(
                    &variant.name,
                    &phase.phase,
                    phase.trial,
                    &phase.metrics,
                ))?;
            }
        }
        Ok(csv.into_inner()?)
    }
}
