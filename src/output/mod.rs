//! Output files. Each whole-file format is an [`Export`] that turns the run's data into bytes;
//! the [`ReportFolder`] owns where they go. raw/requests.csv is streamed while the run goes.

mod folder;
mod histograms;
pub mod hlog;
mod raw_csv;
mod run_record;
mod saved;
mod summary_csv;
mod timeseries_csv;

pub use folder::{shown, ReportFolder, ScratchRoot};
pub use histograms::HistogramsHlog;
pub use raw_csv::{RawCsvWriter, RAW_HEADER};
pub use run_record::{
    looks_secret, ClientRecord, RenderedFile, RunJson, RunRecord, ServiceRecord, VariantRecord,
    MASKED, NOT_RECORDED,
};
pub use saved::SavedRun;
pub use summary_csv::{
    read_metrics, summary_by_request_header, summary_header, MetricsRow, SummaryByRequestCsv,
    SummaryCsv,
};
pub use timeseries_csv::{read_timeseries, TimeseriesCsv, TimeseriesRow, TIMESERIES_HEADER};

use crate::environment::Environment;
use crate::manifest::Plan;
use crate::results::AssertionOutcome;
use crate::results::VariantResult;

/// Everything a finished run produced, as the exports see it.
pub struct RunData<'a> {
    /// When the run started: the base time of the histogram log.
    pub started: std::time::SystemTime,
    pub plan: &'a Plan,
    pub variants: &'a [VariantResult],
    pub assertions: &'a [AssertionOutcome],
    pub environment: &'a Environment,
    /// Files rendered for the processes, copied into the report folder.
    pub rendered: &'a [RenderedFile],
}

/// A file format rendered from the run's data.
pub trait Export {
    fn file_name(&self) -> &'static str;
    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>>;
}
