//! Exit codes of `benchrig`, documented in README.md. When several apply, the highest in this
//! list wins: INTERRUPTED, RUN_ABORTED, INVALID_INPUT, ENVIRONMENT_DIFFERS, VARIANT_FAILED,
//! ASSERTIONS_FAILED, NOTHING_COMPARED, REGRESSION.

/// Everything ran and every assertion passed.
pub const SUCCESS: u8 = 0;
/// The run completed and the report was written, but at least one assertion failed.
pub const ASSERTIONS_FAILED: u8 = 1;
/// The manifest or the command line is invalid; nothing was started or written.
pub const INVALID_INPUT: u8 = 2;
/// The run completed and the report was written, but at least one variant failed to start,
/// never became ready, or exited while under load. The report marks it.
pub const VARIANT_FAILED: u8 = 3;
/// The run stopped before a report could be written: a setup command failed or benchrig could
/// not write its output. Any previous report is left untouched.
pub const RUN_ABORTED: u8 = 4;
/// `benchrig compare` or `benchrig run --check`: a metric got worse beyond the tolerance (and,
/// with repeated trials, beyond noise). With `--check`, the run itself succeeded: every
/// variant ran and every assertion passed.
pub const REGRESSION: u8 = 5;
/// `--strict-env`: the machine differs from the one that made the committed report (CPU model,
/// core count or kernel), so benchrig refused to compare; `run --check` started nothing.
pub const ENVIRONMENT_DIFFERS: u8 = 6;
/// `benchrig compare` or `benchrig run --check`: no variant × phase has results in both runs,
/// so nothing was compared (every variant renamed, another experiment, or every variant failed).
/// With `--check`, the run itself succeeded.
pub const NOTHING_COMPARED: u8 = 7;
/// Interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP: 128 + the signal number (130, 143, 129).
pub const INTERRUPTED_BASE: u8 = 128;
