//! summary.csv: one row per variant × phase × trial; summary_by_request.csv: the same per
//! request name. Written by a run, read back to render the report.

use std::collections::BTreeMap;
use std::path::Path;

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
    "dropped",
    "lagged",
    "target_rps",
    "lag_p99_ms",
    "lag_max_ms",
    "service_p50_ms",
    "service_p99_ms",
    "statuses",
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

/// One row of either file.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub variant: String,
    pub phase: String,
    pub trial: u32,
    /// `None` in summary.csv (all requests of the phase).
    pub request: Option<String>,
    pub metrics: Metrics,
}

fn ms(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// One decimal: CPU percentages, megabytes, requests/s per core.
fn tenth(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// "200:1234 404:2"
fn statuses(m: &Metrics) -> String {
    m.statuses
        .iter()
        .map(|(status, n)| format!("{status}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
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
        m.dropped.to_string(),
        m.lagged.to_string(),
        m.target_rps.map(|r| format!("{r:.2}")).unwrap_or_default(),
        ms(m.lag_p99_ms),
        ms(m.lag_max_ms),
        ms(m.service_p50_ms),
        ms(m.service_p99_ms),
        statuses(m),
        tenth(m.cpu_mean_pct),
        tenth(m.cpu_peak_pct),
        tenth(m.rss_peak_mb),
        tenth(m.pss_peak_mb),
        m.processes.map(|p| p.to_string()).unwrap_or_default(),
        tenth(m.client_cpu_pct),
        tenth(m.rps_per_core),
        tenth(m.pss_per_process_mb),
        m.load_threads.map(|p| p.to_string()).unwrap_or_default(),
    ]
}

pub struct SummaryCsv;

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

pub struct SummaryByRequestCsv;

impl Export for SummaryByRequestCsv {
    fn file_name(&self) -> &'static str {
        "summary_by_request.csv"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut header = SUMMARY_HEADER.to_vec();
        header.insert(2, "request");
        csv.write_record(&header)?;
        for variant in data.variants {
            for phase in &variant.phases {
                for request in &phase.by_request {
                    let mut fields =
                        row(&variant.name, &phase.phase, phase.trial, &request.metrics);
                    fields.insert(2, request.request.clone());
                    csv.write_record(fields)?;
                }
            }
        }
        Ok(csv.into_inner()?)
    }
}

/// Reads summary.csv or summary_by_request.csv back.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>, String> {
    let context = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut reader = csv::Reader::from_path(path).map_err(|e| context(&e))?;
    let headers = reader.headers().map_err(|e| context(&e))?.clone();
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| context(&e))?;
        let fields: BTreeMap<&str, &str> = headers.iter().zip(record.iter()).collect();
        rows.push(
            parse_row(&fields).map_err(|e| format!("{}: row {}: {e}", path.display(), line + 2))?,
        );
    }
    Ok(rows)
}

fn parse_row(fields: &BTreeMap<&str, &str>) -> Result<MetricsRow, String> {
    let text = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| format!("column `{name}` is missing"))
    };
    let number = |name: &str| -> Result<u64, String> {
        text(name)?
            .parse()
            .map_err(|_| format!("`{name}` is not a whole number"))
    };
    let real = |name: &str| -> Result<f64, String> {
        text(name)?
            .parse()
            .map_err(|_| format!("`{name}` is not a number"))
    };
    // Columns added by later versions are absent from older files: read as no value.
    let optional = |name: &str| -> Result<Option<f64>, String> {
        match fields.get(name).copied().unwrap_or("") {
            "" => Ok(None),
            value => value
                .parse()
                .map(Some)
                .map_err(|_| format!("`{name}` is not a number")),
        }
    };
    let statuses = text("statuses")?
        .split_whitespace()
        .map(|pair| {
            let (status, n) = pair.split_once(':').ok_or("bad `statuses` entry")?;
            Ok((
                status.parse().map_err(|_| "bad status code")?,
                n.parse().map_err(|_| "bad status count")?,
            ))
        })
        .collect::<Result<BTreeMap<u16, u64>, &str>>()?;
    Ok(MetricsRow {
        variant: text("variant")?.to_owned(),
        phase: text("phase")?.to_owned(),
        trial: number("trial")? as u32,
        request: fields.get("request").map(|r| (*r).to_owned()),
        metrics: Metrics {
            requests: number("requests")?,
            responses: number("responses")?,
            errors: number("errors")?,
            error_rate: real("error_rate")?,
            success_rate: if number("requests")? == 0 {
                0.0
            } else {
                1.0 - real("error_rate")?
            },
            rps: real("rps")?,
            duration_s: real("duration_s")?,
            mean_ms: optional("mean_ms")?,
            min_ms: optional("min_ms")?,
            p50_ms: optional("p50_ms")?,
            p90_ms: optional("p90_ms")?,
            p95_ms: optional("p95_ms")?,
            p99_ms: optional("p99_ms")?,
            p999_ms: optional("p999_ms")?,
            max_ms: optional("max_ms")?,
            bytes: number("bytes")?,
            errors_connect: number("errors_connect")?,
            errors_timeout: number("errors_timeout")?,
            errors_reset: number("errors_reset")?,
            errors_other: number("errors_other")?,
            errors_http: number("errors_http")?,
            dropped: number("dropped")?,
            lagged: number("lagged")?,
            target_rps: optional("target_rps")?,
            lag_p99_ms: optional("lag_p99_ms")?,
            lag_max_ms: optional("lag_max_ms")?,
            service_p50_ms: optional("service_p50_ms")?,
            service_p99_ms: optional("service_p99_ms")?,
            cpu_mean_pct: optional("cpu_mean_pct")?,
            cpu_peak_pct: optional("cpu_peak_pct")?,
            rss_peak_mb: optional("rss_peak_mb")?,
            pss_peak_mb: optional("pss_peak_mb")?,
            processes: optional("processes")?.map(|p| p as u64),
            client_cpu_pct: optional("client_cpu_pct")?,
            rps_per_core: optional("rps_per_core")?,
            pss_per_process_mb: optional("pss_per_process_mb")?,
            load_threads: optional("load_threads")?.map(|p| p as u64),
            statuses,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ErrorClass, Tally};
    use std::time::Duration;

    #[test]
    fn rows_read_back_as_written() {
        let mut tally = Tally::new();
        tally.record_response(1234, 200, 10);
        tally.record_response(2345, 503, 0);
        tally.record_error(ErrorClass::Timeout);
        let metrics = Metrics::from_tally(&tally, Duration::from_millis(1500), Some(3.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        let mut csv = csv::Writer::from_path(&path).unwrap();
        csv.write_record(SUMMARY_HEADER).unwrap();
        csv.write_record(row("a, b", "p", 2, &metrics)).unwrap();
        drop(csv);
        let rows = read_metrics(&path).unwrap();
        let back = &rows[0];
        assert_eq!(
            (back.variant.as_str(), back.phase.as_str(), back.trial),
            ("a, b", "p", 2)
        );
        assert_eq!(back.request, None);
        let m = &back.metrics;
        assert_eq!((m.requests, m.responses, m.errors), (3, 2, 2));
        assert_eq!(m.statuses, metrics.statuses);
        assert_eq!(m.errors_timeout, 1);
        assert_eq!(m.target_rps, Some(3.0));
        assert_eq!(m.p50_ms, Some(1.234));
        assert_eq!(m.service_p99_ms, None);
        assert!((m.rps - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_broken_file_names_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        let mut text = SUMMARY_HEADER.join(",");
        text.push_str("\na,p,x\n");
        std::fs::write(&path, text).unwrap();
        let err = read_metrics(&path).unwrap_err();
        assert!(err.contains("summary.csv"), "{err}");
    }
}
