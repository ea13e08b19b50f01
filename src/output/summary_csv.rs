//! summary.csv: one row per variant × phase × trial; summary_by_request.csv: the same per
//! request name. Written by a run, read back to render the report.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Export, RunData};
use crate::metrics::{Csv, METRICS};
use crate::results::Metrics;

/// Columns that are not metrics, each with the metric column it follows. The metric columns
/// are [`METRICS`] in order; the order of summary.csv is fixed (columns are appended, never
/// reordered), so these keep their places.
const OTHER_COLUMNS: [(&str, &str); 2] = [("trial", "max_ms"), ("statuses", "service_p99_ms")];

/// One entry of a summary.csv row, in column order.
enum Column {
    Variant,
    Phase,
    Metric(usize),
    Other(&'static str),
}

fn columns() -> Vec<Column> {
    let mut columns = vec![Column::Variant, Column::Phase];
    for (i, spec) in METRICS.iter().enumerate() {
        if spec.csv == Csv::Derived {
            continue;
        }
        columns.push(Column::Metric(i));
        for (other, after) in OTHER_COLUMNS {
            if after == spec.name {
                columns.push(Column::Other(other));
            }
        }
    }
    columns
}

/// The header of summary.csv.
pub fn summary_header() -> Vec<&'static str> {
    columns()
        .iter()
        .map(|column| match column {
            Column::Variant => "variant",
            Column::Phase => "phase",
            Column::Metric(i) => METRICS[*i].name,
            Column::Other(name) => name,
        })
        .collect()
}

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

/// "200:1234 404:2"
fn statuses(m: &Metrics) -> String {
    m.statuses
        .iter()
        .map(|(status, n)| format!("{status}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(variant: &str, phase: &str, trial: u32, m: &Metrics) -> Vec<String> {
    let mut metrics = m.csv_fields();
    columns()
        .iter()
        .map(|column| match column {
            Column::Variant => variant.to_owned(),
            Column::Phase => phase.to_owned(),
            Column::Metric(i) => std::mem::take(&mut metrics[*i]),
            Column::Other("trial") => trial.to_string(),
            Column::Other(_) => statuses(m),
        })
        .collect()
}

pub struct SummaryCsv;

impl Export for SummaryCsv {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(summary_header())?;
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

/// Whether summary_by_request.csv has the column `name`: not the metrics measured for a whole
/// phase only (the offered rate, the server's and the load generator's resources, load
/// threads: their scope in the metric table), which a request's row would always have empty.
/// Older files that have them still read.
fn per_request_column(name: &str) -> bool {
    crate::metrics::spec(name).is_none_or(|m| m.scope.per_request())
}

/// The header of summary_by_request.csv: summary.csv's with `request` third and without the
/// whole-phase-only columns.
pub fn summary_by_request_header() -> Vec<&'static str> {
    let mut header: Vec<&str> = summary_header()
        .into_iter()
        .filter(|name| per_request_column(name))
        .collect();
    header.insert(2, "request");
    header
}

pub struct SummaryByRequestCsv;

impl Export for SummaryByRequestCsv {
    fn file_name(&self) -> &'static str {
        "summary_by_request.csv"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(summary_by_request_header())?;
        let kept: Vec<bool> = summary_header()
            .iter()
            .map(|name| per_request_column(name))
            .collect();
        for variant in data.variants {
            for phase in &variant.phases {
                for request in &phase.by_request {
                    let all = row(&variant.name, &phase.phase, phase.trial, &request.metrics);
                    let mut fields: Vec<String> = all
                        .into_iter()
                        .zip(&kept)
                        .filter_map(|(field, &keep)| keep.then_some(field))
                        .collect();
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
        trial: text("trial")?
            .parse()
            .map_err(|_| "`trial` is not a whole number".to_owned())?,
        request: fields.get("request").map(|r| (*r).to_owned()),
        metrics: Metrics::from_csv(|name| fields.get(name).copied(), statuses)?,
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
        csv.write_record(summary_header()).unwrap();
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

    /// Scripts read summary.csv by position: its columns keep their order.
    #[test]
    fn the_header_keeps_its_published_order() {
        let published = "variant,phase,requests,errors,rps,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,trial,responses,error_rate,duration_s,min_ms,p999_ms,bytes,errors_connect,errors_timeout,errors_reset,errors_other,errors_http,dropped,lagged,target_rps,lag_p99_ms,lag_max_ms,service_p50_ms,service_p99_ms,statuses,cpu_mean_pct,cpu_peak_pct,rss_peak_mb,pss_peak_mb,processes,client_cpu_pct,rps_per_core,pss_per_process_mb,load_threads";
        assert!(
            summary_header().join(",").starts_with(published),
            "{}",
            summary_header().join(",")
        );
    }

    #[test]
    fn per_request_rows_leave_out_only_columns_a_request_never_has() {
        let mut tally = Tally::new();
        tally.record_response(1234, 200, 10);
        // A request's metrics, as a run computes them: no offered rate, no resources.
        let metrics = Metrics::from_tally(&tally, Duration::from_secs(1), None);
        let by_name: BTreeMap<&str, String> = summary_header()
            .into_iter()
            .zip(row("v", "p", 1, &metrics))
            .collect();
        let whole_phase: Vec<&str> = summary_header()
            .into_iter()
            .filter(|name| !per_request_column(name))
            .collect();
        assert_eq!(
            whole_phase,
            [
                "target_rps",
                "cpu_mean_pct",
                "cpu_peak_pct",
                "rss_peak_mb",
                "pss_peak_mb",
                "processes",
                "client_cpu_pct",
                "rps_per_core",
                "pss_per_process_mb",
                "load_threads",
                "resource_samples",
            ]
        );
        for name in &whole_phase {
            assert_eq!(by_name.get(name).map(String::as_str), Some(""), "{name}");
        }
        let header = summary_by_request_header();
        assert_eq!(header[..3], ["variant", "phase", "request"]);
        assert_eq!(header.len(), summary_header().len() + 1 - whole_phase.len());
        assert!(header.contains(&"p99_ms") && !header.contains(&"cpu_mean_pct"));
    }

    #[test]
    fn per_request_files_with_or_without_the_whole_phase_columns_read() {
        let dir = tempfile::tempdir().unwrap();
        let older = dir.path().join("older.csv");
        let mut header = summary_header();
        header.insert(2, "request");
        let mut fields = row(
            "v",
            "p",
            1,
            &Metrics::from_tally(&Tally::new(), Duration::from_secs(1), None),
        );
        fields.insert(2, "hello".into());
        std::fs::write(
            &older,
            format!("{}\n{}\n", header.join(","), fields.join(",")),
        )
        .unwrap();
        let newer = dir.path().join("newer.csv");
        let kept: Vec<String> = header
            .iter()
            .zip(&fields)
            .filter(|(name, _)| per_request_column(name))
            .map(|(_, field)| field.clone())
            .collect();
        std::fs::write(
            &newer,
            format!(
                "{}\n{}\n",
                summary_by_request_header().join(","),
                kept.join(",")
            ),
        )
        .unwrap();
        let (older, newer) = (read_metrics(&older).unwrap(), read_metrics(&newer).unwrap());
        assert_eq!(older, newer);
        assert_eq!(newer[0].request.as_deref(), Some("hello"));
    }

    #[test]
    fn a_broken_file_names_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        let mut text = summary_header().join(",");
        text.push_str("\na,p,x\n");
        std::fs::write(&path, text).unwrap();
        let err = read_metrics(&path).unwrap_err();
        assert!(err.contains("summary.csv"), "{err}");
    }
}
