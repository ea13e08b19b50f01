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
    let committed_abs = resolved(&committed_rel, workdir);
    let at_head = match committed_at_head(workdir, &committed_abs) {
        Ok(found) => found,
        Err(e) => {
            eprintln!(
                "benchrig: error: cannot copy {}/ from HEAD into a temporary folder: {e}",
                committed_rel.display()
            );
            return exit_code::RUN_ABORTED;
        }
    };
    if at_head.is_err() && !committed.join("run.json").is_file() {
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
    let fresh_abs = resolved(&fresh_rel, workdir);
    if fresh_abs.starts_with(&committed_abs) || committed_abs.starts_with(&fresh_abs) {
        eprintln!(
            "benchrig: error: --out {}: --check never writes into the committed report {}/; choose another folder (default: {CHECK_DIR}/{})",
            fresh_rel.display(),
            committed_rel.display(),
            plan.name
        );
        return exit_code::INVALID_INPUT;
    }
    let (loaded, label) = match &at_head {
        Ok(head) => (
            load_report("committed report (HEAD)", head.copy.path(), workdir),
            format!("committed at HEAD {}", head.commit),
        ),
        Err(why) => {
            eprintln!(
                "benchrig: note: {}/ is not committed ({why}): comparing with the folder in the working tree",
                committed_rel.display()
            );
            (
                load_report("report", &committed, workdir),
                "working tree, not committed".to_owned(),
            )
        }
    };
    let committed_run = match loaded {
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
        "comparison: {}/ ({label}) -> {}/ (this run); {thresholds}",
        committed_rel.display(),
        shown(&outcome.report_dir, workdir).display(),
    );
    if let Ok(HeadCopy {
        changes: Some(changes),
        ..
    }) = &at_head
    {
        println!(
            "note: the working tree's {}/ differs from HEAD ({changes}); compared with HEAD's",
            committed_rel.display()
        );
    }
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
        exit_code::SUCCESS => {
            let code = comparison_exit_code(&comparison);
            if code == exit_code::NOTHING_COMPARED {
                eprintln!(
                    "{}",
                    nothing_compared_error(
                        (&format!("{}/ ({label})", committed_rel.display()), &committed_run),
                        (&format!("{}/", shown(&outcome.report_dir, workdir).display()), &fresh),
                        &format!(
                            "the manifest's variants or phases were renamed since the report was made: if that is intended, make a new report with `make experiment NAME={}` and commit it",
                            plan.name
                        ),
                    )
                );
            }
            code
        }
        code => code,
    }
}

/// HEAD's copy of the committed report: the files a comparison reads, extracted from git into a
/// temporary folder, so that a report `make experiment` just overwrote is not taken for the
/// committed one.
struct HeadCopy {
    copy: TemporaryFolder,
    /// HEAD's commit, abbreviated.
    commit: String,
    /// How the working tree's folder differs from HEAD's: "modified: summary.csv; untracked:
    /// x.svg"; `None` when it does not.
    changes: Option<String>,
}

/// A folder removed when dropped.
struct TemporaryFolder(PathBuf);

impl TemporaryFolder {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files of a report that a comparison reads.
const COMPARED_FILES: [&str; 2] = ["run.json", "summary.csv"];

/// `git -C dir ARGS…`: its stdout when it succeeds, `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}

/// HEAD's copy of the report folder `folder` (absolute), `Ok(Err(why))` when HEAD has none (not
/// a git checkout, outside the repository, or not committed), `Err` when it cannot be written
/// out.
fn committed_at_head(workdir: &Path, folder: &Path) -> Result<Result<HeadCopy, String>, String> {
    let Some(top) = git(workdir, &["rev-parse", "--show-toplevel"]) else {
        return Ok(Err("not a git checkout".to_owned()));
    };
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end());
    let top = top.canonicalize().unwrap_or(top);
    let Ok(inside) = folder.strip_prefix(&top) else {
        return Ok(Err("outside the git checkout".to_owned()));
    };
    let inside = inside.to_string_lossy().into_owned();
    let Some(commit) = git(&top, &["rev-parse", "--short=12", "HEAD"]) else {
        return Ok(Err("the repository has no commit".to_owned()));
    };
    let blobs: Option<Vec<Vec<u8>>> = COMPARED_FILES
        .iter()
        .map(|file| {
            git(
                &top,
                &["cat-file", "blob", &format!("HEAD:{inside}/{file}")],
            )
        })
        .collect();
    let Some(blobs) = blobs else {
        return Ok(Err("HEAD has no run.json and summary.csv there".to_owned()));
    };
    let copy = TemporaryFolder(std::env::temp_dir().join(format!(
        "benchrig-committed-{}-{}",
        std::process::id(),
        folder.file_name().unwrap_or_default().to_string_lossy()
    )));
    std::fs::create_dir_all(copy.path()).map_err(|e| format!("{}: {e}", copy.path().display()))?;
    for (file, bytes) in COMPARED_FILES.iter().zip(blobs) {
        let path = copy.path().join(file);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let status = git(
        &top,
        &[
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--",
            &inside,
        ],
    )
    .unwrap_or_default();
    Ok(Ok(HeadCopy {
        copy,
        commit: String::from_utf8_lossy(&commit).trim().to_owned(),
        changes: changes_text(&String::from_utf8_lossy(&status), &inside),
    }))
}

/// How many file names a kind of change lists before "and N more".
const LISTED_CHANGES: usize = 4;

/// `git status --porcelain -z` entries in words: "modified: summary.csv, run.json; untracked:
/// x.svg", names relative to `folder`; `None` for no entry.
fn changes_text(status: &str, folder: &str) -> Option<String> {
    let mut kinds: Vec<(&str, Vec<String>)> = vec![
        ("modified", Vec::new()),
        ("deleted", Vec::new()),
        ("untracked", Vec::new()),
    ];
    let mut entries = status.split('\0').filter(|e| e.len() > 3);
    while let Some(entry) = entries.next() {
        let (code, path) = entry.split_at(3);
        if code.starts_with('R') || code.starts_with('C') {
            entries.next(); // the original name of a rename or copy
        }
        let kind = match code.trim() {
            "??" => 2,
            c if c.contains('D') => 1,
            _ => 0,
        };
        let name = path
            .strip_prefix(folder)
            .map_or(path, |p| p.trim_start_matches('/'));
        kinds[kind].1.push(name.to_owned());
    }
    let parts: Vec<String> = kinds
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(kind, names)| {
            let total = names.len();
            let mut shown: Vec<String> = names.into_iter().take(LISTED_CHANGES).collect();
            if total > LISTED_CHANGES {
                shown.push(format!("and {} more", total - LISTED_CHANGES));
            }
            format!("{kind}: {}", shown.join(", "))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
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

/// Exit code of a comparison: nothing compared, a regression beyond the threshold, or success.
pub fn comparison_exit_code(comparison: &Comparison) -> u8 {
    if comparison.rows.is_empty() {
        exit_code::NOTHING_COMPARED
    } else if comparison.is_regression() {
        exit_code::REGRESSION
    } else {
        exit_code::SUCCESS
    }
}

/// The error for a comparison without rows: both folders, what each has results for, and the
/// fix (`fix`, which differs between `compare` and `run --check`).
pub fn nothing_compared_error(
    (old_name, old): (&str, &SavedRun),
    (new_name, new): (&str, &SavedRun),
    fix: &str,
) -> String {
    format!(
        "benchrig: error: nothing compared: no variant × phase has results in both {old_name} ({}) and {new_name} ({}); {fix}",
        compare::results_text(old),
        compare::results_text(new),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_status_entries_in_words() {
        let status = " M reports/q/summary.csv\0M  reports/q/run.json\0?? reports/q/new.svg\0 D reports/q/old.svg\0";
        assert_eq!(
            changes_text(status, "reports/q").as_deref(),
            Some("modified: summary.csv, run.json; deleted: old.svg; untracked: new.svg")
        );
        assert_eq!(changes_text("", "reports/q"), None);
        let many: String = (0..6).map(|i| format!("?? reports/q/{i}.svg\0")).collect();
        assert_eq!(
            changes_text(&many, "reports/q").as_deref(),
            Some("untracked: 0.svg, 1.svg, 2.svg, 3.svg, and 2 more")
        );
        // A rename carries its old name as a second entry.
        assert_eq!(
            changes_text("R  reports/q/b.csv\0reports/q/a.csv\0", "reports/q").as_deref(),
            Some("modified: b.csv")
        );
    }

    #[test]
    fn nothing_compared_has_its_own_exit_code() {
        let empty = Comparison {
            rows: Vec::new(),
            only_old: vec!["a / x".into()],
            only_new: vec!["b / x".into()],
            environment: Vec::new(),
            notes: Vec::new(),
            tolerance: compare::DEFAULT_TOLERANCE,
            latency_floor_ms: 0.0,
        };
        assert_eq!(comparison_exit_code(&empty), exit_code::NOTHING_COMPARED);
        assert_ne!(exit_code::NOTHING_COMPARED, exit_code::SUCCESS);
    }
}
