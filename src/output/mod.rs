//! Output files. Each whole-file format is an [`Export`] that turns the run's data into bytes;
//! the [`ReportFolder`] owns where they go. raw/requests.csv is streamed while the run goes.

mod folder;
mod raw_csv;
mod summary_csv;

pub use folder::ReportFolder;
pub use raw_csv::{RawCsvWriter, RAW_HEADER};
pub use summary_csv::{SummaryCsv, SUMMARY_HEADER};

use crate::assertions::AssertionOutcome;
use crate::environment::Environment;
use crate::manifest::Plan;
use crate::results::VariantResult;

/// Everything a finished run produced, as the exports see it.
pub struct RunData<'a> {
    pub plan: &'a Plan,
    pub variants: &'a [VariantResult],
    pub assertions: &'a [AssertionOutcome],
    pub environment: &'a Environment,
}

/// A file format rendered from the run's data.
pub trait Export {
    fn file_name(&self) -> &'static str;
    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>>;
}
