//! timeseries.csv: one row per variant × phase × trial × second of the phase.

use super::{Export, RunData};

pub const TIMESERIES_HEADER: &[&str] = &[
    "variant",
    "phase",
    "trial",
    "second",
    "requests",
    "errors",
    "p50_ms",
    "p99_ms",
    "cpu_pct",
    "rss_mb",
    "pss_mb",
    "client_cpu_pct",
    "seconds",
];

/// How much of a second the phase lasted: 1 for every whole second, less for the final
/// partial one (so its `requests` is not a drop in the rate), 0 past the phase's end.
pub fn second_length(phase_duration_s: f64, second: u64) -> f64 {
    (phase_duration_s - second as f64).clamp(0.0, 1.0)
}

pub struct TimeseriesCsv;

impl Export for TimeseriesCsv {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        let tenth = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(TIMESERIES_HEADER)?;
        for variant in data.variants {
            for phase in &variant.phases {
                for second in &phase.timeline {
                    csv.write_record([
                        variant.name.clone(),
                        phase.phase.clone(),
                        phase.trial.to_string(),
                        second.second.to_string(),
                        second.requests.to_string(),
                        second.errors.to_string(),
                        ms(second.p50_ms),
                        ms(second.p99_ms),
                        tenth(second.cpu_pct),
                        tenth(second.rss_mb),
                        tenth(second.pss_mb),
                        tenth(second.client_cpu_pct),
                        format!(
                            "{:.3}",
                            second_length(phase.metrics.duration_s, second.second)
                        ),
                    ])?;
                }
            }
        }
        Ok(csv.into_inner()?)
    }
}

/// One row of timeseries.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesRow {
    pub variant: String,
    pub phase: String,
    pub trial: u32,
    pub second: crate::results::SecondStats,
}

/// Reads timeseries.csv back; files written before the `seconds` column read the same.
pub fn read_timeseries(path: &std::path::Path) -> Result<Vec<TimeseriesRow>, String> {
    let context = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut reader = csv::Reader::from_path(path).map_err(|e| context(&e))?;
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| context(&e))?;
        let field = |i: usize| record.get(i).unwrap_or("");
        let bad = |what: &str| format!("{}: row {}: bad {what}", path.display(), line + 2);
        let whole = |i: usize, what: &str| field(i).parse::<u64>().map_err(|_| bad(what));
        let optional = |i: usize, what: &str| match field(i) {
            "" => Ok(None),
            v => v.parse::<f64>().map(Some).map_err(|_| bad(what)),
        };
        rows.push(TimeseriesRow {
            variant: field(0).to_owned(),
            phase: field(1).to_owned(),
            trial: whole(2, "trial")? as u32,
            second: crate::results::SecondStats {
                second: whole(3, "second")?,
                requests: whole(4, "requests")?,
                errors: whole(5, "errors")?,
                p50_ms: optional(6, "p50_ms")?,
                p99_ms: optional(7, "p99_ms")?,
                cpu_pct: optional(8, "cpu_pct")?,
                rss_mb: optional(9, "rss_mb")?,
                pss_mb: optional(10, "pss_mb")?,
                client_cpu_pct: optional(11, "client_cpu_pct")?,
            },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_final_partial_second_is_shorter() {
        assert_eq!(second_length(10.4, 0), 1.0);
        assert_eq!(second_length(10.4, 9), 1.0);
        assert!((second_length(10.4, 10) - 0.4).abs() < 1e-9);
        assert_eq!(second_length(10.0, 9), 1.0);
        assert_eq!(second_length(10.0, 10), 0.0);
    }

    #[test]
    fn files_with_and_without_the_seconds_column_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with.csv");
        let without = dir.path().join("without.csv");
        let row = "v,p,1,10,42,0,1.000,2.000,,,,";
        let older_header = TIMESERIES_HEADER[..TIMESERIES_HEADER.len() - 1].join(",");
        std::fs::write(&without, format!("{older_header}\n{row}\n")).unwrap();
        std::fs::write(
            &with,
            format!("{}\n{row},0.400\n", TIMESERIES_HEADER.join(",")),
        )
        .unwrap();
        let (with, without) = (
            read_timeseries(&with).unwrap(),
            read_timeseries(&without).unwrap(),
        );
        assert_eq!(with, without);
        assert_eq!((with[0].second.second, with[0].second.requests), (10, 42));
    }
}
