//! Exit codes of `benchrig`. Their meanings are in [`TABLE`], the one place they are written:
//! README.md's table is its Markdown (a test keeps them equal) and `benchrig exit-code N`
//! prints one (`make experiment` does when benchrig fails). When several apply, the highest in
//! this list wins: INTERRUPTED, RUN_ABORTED, INVALID_INPUT, ENVIRONMENT_DIFFERS, VARIANT_FAILED,
//! NO_REQUEST_SUCCEEDED, ASSERTIONS_FAILED, NOTHING_COMPARED, REGRESSION.

pub const SUCCESS: u8 = 0;
pub const ASSERTIONS_FAILED: u8 = 1;
pub const INVALID_INPUT: u8 = 2;
pub const VARIANT_FAILED: u8 = 3;
pub const RUN_ABORTED: u8 = 4;
pub const REGRESSION: u8 = 5;
pub const ENVIRONMENT_DIFFERS: u8 = 6;
pub const NOTHING_COMPARED: u8 = 7;
pub const NO_REQUEST_SUCCEEDED: u8 = 8;
/// Interrupted by a signal: 128 + the signal number.
pub const INTERRUPTED_BASE: u8 = 128;
const SIGHUP: u8 = 1;
const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

/// Each exit code (or codes, for one meaning) with what it means.
pub const TABLE: &[(&[u8], &str)] = &[
    (
        &[SUCCESS],
        "everything ran and every assertion passed (`compare`, `run --check`: and no regression)",
    ),
    (
        &[ASSERTIONS_FAILED],
        "the report was written, but an assertion failed (`load`: an `--expect` failed)",
    ),
    (
        &[INVALID_INPUT],
        "invalid manifest or command line; nothing was started or written (also: `compare` given a folder that is not a report, `run --check` without a committed `reports/NAME/`)",
    ),
    (
        &[VARIANT_FAILED],
        "the report was written, but a variant failed to start, never became ready, or exited under load (takes precedence over 1)",
    ),
    (
        &[RUN_ABORTED],
        "the run was aborted before a report could be written (a setup command failed, output could not be written); the previous report is untouched",
    ),
    (
        &[REGRESSION],
        "`compare` or `run --check`: a metric got worse beyond the tolerance and its measured run-to-run noise (and beyond the trials' spread, with repeated trials). With `--check`, 1 and 3 take precedence: 5 means the run itself passed",
    ),
    (
        &[ENVIRONMENT_DIFFERS],
        "`--strict-env`: the CPU model, core count or kernel differs from the committed report's; nothing was compared (`run --check` started nothing)",
    ),
    (
        &[NOTHING_COMPARED],
        "`compare` or `run --check`: nothing compared, no variant × phase has results in both runs (variants or phases renamed, another experiment, every variant failed). With `--check`, 1 and 3 take precedence",
    ),
    (
        &[NO_REQUEST_SUCCEEDED],
        "`load`: no request succeeded (every one was refused, timed out, or answered with a status of 400 or more); the summary says which (takes precedence over 1)",
    ),
    (
        &[
            INTERRUPTED_BASE + SIGINT,
            INTERRUPTED_BASE + SIGTERM,
            INTERRUPTED_BASE + SIGHUP,
        ],
        "interrupted by SIGINT / SIGTERM / SIGHUP; every server was stopped; partial results in `reports/NAME.partial/`",
    ),
];

/// What an exit code of benchrig means, for `benchrig exit-code N`: a line of the table, or
/// what a code benchrig never chooses tells.
pub fn meaning(code: u8) -> String {
    match TABLE.iter().find(|(codes, _)| codes.contains(&code)) {
        Some((_, meaning)) => (*meaning).to_owned(),
        None if code > INTERRUPTED_BASE => format!(
            "not a code benchrig chooses: it was killed by signal {} (128 + the signal's number)",
            code - INTERRUPTED_BASE
        ),
        None => "not a code benchrig chooses (a crash? the lines before it say more)".to_owned(),
    }
}

/// README.md's table of exit codes.
pub fn markdown_table() -> String {
    let mut table = String::from("| code | meaning |\n| --- | --- |\n");
    for (codes, meaning) in TABLE {
        let codes: Vec<String> = codes.iter().map(u8::to_string).collect();
        table.push_str(&format!("| {} | {meaning} |\n", codes.join(" / ")));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_exit_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        assert!(
            readme.contains(&markdown_table()),
            "README.md is out of date: replace its table of exit codes with the output of \
             `benchrig exit-code`:\n{}",
            markdown_table()
        );
    }

    #[test]
    fn every_code_has_one_meaning() {
        let mut codes: Vec<u8> = TABLE.iter().flat_map(|(c, _)| c.iter().copied()).collect();
        let listed = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), listed, "a code is listed twice");
        assert!(meaning(ASSERTIONS_FAILED).starts_with("the report was written"));
        assert!(meaning(143).starts_with("interrupted by SIGINT"));
        assert_eq!(
            meaning(137),
            "not a code benchrig chooses: it was killed by signal 9 (128 + the signal's number)"
        );
        assert!(meaning(101).contains("a crash?"));
    }
}
