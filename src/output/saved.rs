//! A report folder read back: the only input of report rendering, so a report is reproducible
//! from the committed files alone.

use std::path::Path;

use super::hlog::{read_hlog, TaggedHistogram};
use super::{read_metrics, read_timeseries, MetricsRow, RunRecord, TimeseriesRow};

pub struct SavedRun {
    pub record: RunRecord,
    /// summary.csv: one row per variant × phase × trial.
    pub results: Vec<MetricsRow>,
    /// summary_by_request.csv, when present.
    pub by_request: Vec<MetricsRow>,
    /// timeseries.csv, when present.
    pub timeline: Vec<TimeseriesRow>,
    /// histograms.hlog, when present.
    pub histograms: Vec<TaggedHistogram>,
}

impl SavedRun {
    pub fn load(dir: &Path) -> Result<SavedRun, String> {
        let run_json = dir.join("run.json");
        let text = std::fs::read_to_string(&run_json).map_err(|e| {
            format!(
                "cannot read {}: {e}; a report folder written by `benchrig run` has run.json, summary.csv, timeseries.csv and histograms.hlog",
                run_json.display()
            )
        })?;
        let record: RunRecord =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", run_json.display()))?;
        let optional = |name: &str| {
            let path = dir.join(name);
            path.is_file().then_some(path)
        };
        Ok(SavedRun {
            record,
            results: read_metrics(&dir.join("summary.csv"))?,
            by_request: match optional("summary_by_request.csv") {
                Some(path) => read_metrics(&path)?,
                None => Vec::new(),
            },
            timeline: match optional("timeseries.csv") {
                Some(path) => read_timeseries(&path)?,
                None => Vec::new(),
            },
            histograms: match optional("histograms.hlog") {
                Some(path) => {
                    let bytes =
                        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    read_hlog(&bytes)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                        .1
                }
                None => Vec::new(),
            },
        })
    }
}
