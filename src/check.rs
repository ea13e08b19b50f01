//! `benchrig run MANIFEST --check`: reproduce the committed report. Refuses early (bad manifest,
//! no committed report, a fresh folder that would touch the committed one, another machine with
//! `--strict-env`), then runs into a fresh folder, compares it with the committed report,
//! prints the comparison and writes comparison.md beside the fresh report.
//!
//! Also what `benchrig compare` shares with it: loading report folders, choosing the
//! comparison thresholds, refusing another machine, the exit code of a comparison.

use std::path::{Path, PathBuf};

use crate::compare::{self, CompareOptions, Comparison, EnvironmentDifference};
use crate::environment::Environment;
use crate::exit_code;
use crate::manifest::{self, CompareSettings};
use crate::output::{shown, SavedRun};
use crate::runner::{self, RunOptions};

/// Where `run --check` writes its fresh run by default: `target/benchrig-check/NAME`.
pub const CHECK_DIR: &str = "target/benchrig-check";

/// What `run --check` was asked.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub manifest: PathBuf,
    /// The fresh report folder; `CHECK_DIR/NAME` by default.
    pub out: Option<PathBuf>,
    /// Refuse before starting anything when this machine differs from the committed report's.
    pub strict_env: bool,
    pub tolerance: Option<f64>,
    pub latency_floor: Option<f64>,
}

/// Runs the check; returns the exit code.
pub fn run_check(options: &CheckOptions, workdir: &Path) -> u8 {
    let plan = match manifest::load(&options.manifest, workdir) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            return exit_code::INVALID_INPUT;
        }
    };
    let committed_rel = Path::new("reports").join(&plan.name);
    let committed = workdir.join(&committed_rel);
    if !committed.join("run.json").is_file() {
        eprintln!(
            "benchrig: error: --check compares a fresh run with the committed report {}/, which {}; make it with `benchrig run {}` (`make experiment NAME={}`), then commit it",
            committed_rel.display(),
            if committed.exists() { "has no run.json" } else { "does not exist" },
            options.manifest.display(),
            plan.name
        );
        return exit_code::INVALID_INPUT;
    }
    let fresh_rel = options
        .out
        .clone()
        .unwrap_or_else(|| Path::new(CHECK_DIR).join(&plan.name));
    let (fresh_abs, committed_abs) = (
        resolved(&fresh_rel, workdir),
        resolved(&committed_rel, workdir),
    );
    if fresh_abs.starts_with(&committed_abs) || committed_abs.starts_with(&fresh_abs) {
        eprintln!(
            "benchrig: error: --out {}: --check never writes into the committed report {}/; choose another folder (default: {CHECK_DIR}/{})",
            fresh_rel.display(),
            committed_rel.display(),
            plan.name
        );
        return exit_code::INVALID_INPUT;
    }
    let committed_run = match load_report("committed report", &committed, workdir) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            return exit_code::INVALID_INPUT;
        }
    };
    let here = Environment::capture(workdir, &[]);
    let strict = compare::strict_differences(&committed_run.record.environment, &here);
    if options.strict_env && !strict.is_empty() {
        refuse_environment(
            &strict,
            &format!(
                "this machine differs from the one that made {}/",
                committed_rel.display()
            ),
        );
        return exit_code::ENVIRONMENT_DIFFERS;
    }
    let differences = compare::environment_differences(&committed_run.record.environment, &here);
    if !differences.is_empty() {
        eprintln!(
            "benchrig: WARNING: this machine differs from the one that made {}/; differences may come from the machine, not the code{}:",
            committed_rel.display(),
            if strict.is_empty() { "" } else { " (--strict-env refuses this)" }
        );
        for d in &differences {
            eprintln!("benchrig:   {}: {}  ->  {}", d.field, d.old, d.new);
        }
    }
    let (compare_options, thresholds) = compare_options(
        options.tolerance,
        options.latency_floor,
        Some(ManifestCompare {
            manifest: options.manifest.display().to_string(),
            settings: plan.compare.clone(),
        }),
    );

    let outcome = match runner::run_and_report(&RunOptions {
        manifest: options.manifest.clone(),
        out: Some(fresh_rel.clone()),
        workdir: workdir.to_owned(),
    }) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let fresh = match load_report("fresh report", &outcome.report_dir, workdir) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            return exit_code::RUN_ABORTED;
        }
    };
    let comparison = compare::compare(&committed_run, &fresh, &compare_options);
    println!();
    println!(
        "comparison: {}/ (committed) -> {}/ (this run); {thresholds}",
        committed_rel.display(),
        shown(&outcome.report_dir, workdir).display(),
    );
    println!();
    print!("{}", compare::render_terminal(&comparison));
    let markdown = outcome.report_dir.join("comparison.md");
    match std::fs::write(&markdown, compare::render_markdown(&comparison)) {
        Ok(()) => println!("\ncomparison: {}", shown(&markdown, workdir).display()),
        Err(e) => eprintln!(
            "benchrig: warning: cannot write {}: {e}",
            markdown.display()
        ),
    }
    match outcome.exit_code() {
        exit_code::SUCCESS => comparison_exit_code(&comparison),
        code => code,
    }
}

/// A path made absolute against `workdir`, with `.` and `..` resolved and symbolic links of
/// its existing part followed, so two spellings of one folder compare equal.
fn resolved(path: &Path, workdir: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for part in workdir.join(path).components() {
        match part {
            std::path::Component::ParentDir => {
                clean.pop();
            }
            std::path::Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut existing = clean.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return clean,
        }
    }
    let mut out = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_owned());
    out.extend(rest.iter().rev());
    out
}

/// Exit code of a comparison: a regression beyond the tolerance, or success.
pub fn comparison_exit_code(comparison: &Comparison) -> u8 {
    if comparison.is_regression() {
        exit_code::REGRESSION
    } else {
        exit_code::SUCCESS
    }
}

/// Loads a report folder, or says which folder is not one and what it lacks. `role` names it
/// in the message ("old report", "committed report").
pub fn load_report(role: &str, dir: &Path, workdir: &Path) -> Result<SavedRun, String> {
    let dir = &workdir.join(dir);
    let name = shown(dir, workdir).display();
    let what = "a report folder written by `benchrig run` has run.json and summary.csv";
    if !dir.exists() {
        return Err(format!("{role} `{name}` does not exist"));
    }
    if !dir.is_dir() {
        return Err(format!("{role} `{name}` is not a folder; {what}"));
    }
    for file in ["run.json", "summary.csv"] {
        if !dir.join(file).is_file() {
            return Err(format!(
                "{role} `{name}` is not a benchrig report folder: it has no {file}; {what}"
            ));
        }
    }
    SavedRun::load(dir).map_err(|e| format!("{role} `{name}`: {e}"))
}

/// A manifest's `compare:` settings, and its path as shown.
pub struct ManifestCompare {
    pub manifest: String,
    pub settings: CompareSettings,
}

/// The `compare:` settings of a run's manifest, read from the manifest path its run.json
/// records; `None` when it is gone or unreadable (the defaults apply).
pub fn manifest_compare_settings(run: &SavedRun, workdir: &Path) -> Option<ManifestCompare> {
    let recorded = &run.record.experiment.manifest;
    let path = workdir.join(recorded);
    if !path.is_file() {
        return None;
    }
    match manifest::parse_file(&path) {
        Ok(parsed) => Some(ManifestCompare {
            manifest: recorded.clone(),
            settings: parsed.compare,
        }),
        Err(e) => {
            eprintln!(
                "benchrig: warning: cannot read the compare settings of {recorded}, using the defaults: {e}"
            );
            None
        }
    }
}

/// The comparison thresholds, each from its flag, else the manifest's `compare:`, else the
/// default; and a line saying what they are and where they came from.
pub fn compare_options(
    tolerance_flag: Option<f64>,
    floor_flag: Option<f64>,
    manifest: Option<ManifestCompare>,
) -> (CompareOptions, String) {
    let from_manifest = |field: &str| {
        let name = manifest.as_ref().map_or("", |m| m.manifest.as_str());
        format!("compare.{field} in {name}")
    };
    let (tolerance, tolerance_source) = match (
        tolerance_flag,
        manifest.as_ref().and_then(|m| m.settings.tolerance()),
    ) {
        (Some(t), _) => (t, "--tolerance".to_owned()),
        (None, Some(t)) => (t, from_manifest("tolerance")),
        (None, None) => (compare::DEFAULT_TOLERANCE, "the default".to_owned()),
    };
    let mut line = format!(
        "tolerance {} ({tolerance_source})",
        manifest::tolerance_text(tolerance)
    );
    let floor = match (
        floor_flag,
        manifest
            .as_ref()
            .and_then(|m| m.settings.latency_floor_ms()),
    ) {
        (Some(f), _) => Some((f, "--latency-floor".to_owned())),
        (None, Some(f)) => Some((f, from_manifest("latency_floor"))),
        (None, None) => None,
    };
    if let Some((floor, source)) = &floor {
        line += &format!(
            ", latency floor {} ({source})",
            manifest::latency_floor_text(*floor)
        );
    }
    let options = CompareOptions {
        tolerance,
        latency_floor_ms: floor.map_or(0.0, |(f, _)| f),
    };
    (options, line)
}

/// Prints why `--strict-env` refuses: every differing field.
pub fn refuse_environment(differences: &[EnvironmentDifference], why: &str) {
    eprintln!("benchrig: error: --strict-env: {why}; refusing to compare:");
    for d in differences {
        eprintln!("  {}: {}  ->  {}", d.field, d.old, d.new);
    }
    eprintln!(
        "  compare without --strict-env to see the numbers anyway, or refresh the committed report on this machine"
    );
}
