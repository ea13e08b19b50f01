//! `benchrig compare OLD NEW` on fixed report folders, and `benchrig run --check` end to end
//! against a real hello-rs: verdicts, exit codes, environment differences, and a committed
//! report that is never touched.
//!
//! The fixture tests/fixtures/compare/base/ is a small report folder (run.json, summary.csv):
//! variants `fast` and `slow`, phases `closed` and `open`, three trials each within ±1 %.
//! Each test copies it and edits the copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use benchrig::metrics;

use crate::support::{assert_contains, assert_lacks, benchrig, repo_root, Experiment, Output, Row};

/// Exit code of a regression beyond the tolerance (README, "Exit codes").
const REGRESSION: i32 = 5;
/// Exit code of `--strict-env` refusing another machine.
const ENVIRONMENT_DIFFERS: i32 = 6;
/// Exit code of a comparison without a variant × phase in common.
const NOTHING_COMPARED: i32 = 7;

/// `compare`'s terminal table, read from its stdout.
impl Output {
    /// The table line of `variant`, `phase` and `metric`, its cells separated by single spaces.
    fn row(&self, variant: &str, phase: &str, metric: &str) -> String {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with(&format!("{variant} {phase} {metric} ")))
            .unwrap_or_else(|| panic!("no row {variant} {phase} {metric} in:\n{}", self.stdout))
    }
}

/// A temporary working directory holding copies of the fixture report.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A copy of the fixture report at `name`.
    fn report(&self, name: &str) -> PathBuf {
        let to = self.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        let from = repo_root().join("tests/fixtures/compare/base");
        for file in ["run.json", "summary.csv"] {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
        to
    }

    /// experiments/demo.yaml, the manifest the fixture's run.json names, with these
    /// `compare:` settings.
    fn demo_manifest(&self, compare: &str) {
        std::fs::create_dir_all(self.path().join("experiments")).unwrap();
        std::fs::write(
            self.path().join("experiments/demo.yaml"),
            format!("name: demo\nvariants: [{{ name: fast, command: [server] }}]\nphases: [{{ name: closed, vus: 1, duration: 1s }}]\nrequests: [{{ path: / }}]\ncompare: {compare}\n"),
        )
        .unwrap();
    }

    fn compare(&self, args: &[&str]) -> Output {
        benchrig(&["compare"]).args(args).in_dir(self.path()).run()
    }
}

/// Rewrites a report's summary.csv: `edit` may change a row, or return false to drop it.
fn edit_summary(dir: &Path, edit: impl Fn(&mut Row) -> bool) {
    let path = dir.join("summary.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let mut row: Row = headers
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        if edit(&mut row) {
            rows.push(row);
        }
    }
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer.write_record(&headers).unwrap();
    for row in rows {
        writer
            .write_record(headers.iter().map(|h| row[h].as_str()))
            .unwrap();
    }
    writer.flush().unwrap();
}

/// Sets requests/s of `variant` × `phase`, one value per trial.
fn set_rps(dir: &Path, variant: &str, phase: &str, values: &[f64]) {
    edit_summary(dir, |row| {
        if row["variant"] == variant && row["phase"] == phase {
            let trial: usize = row["trial"].parse().unwrap();
            row.insert("rps".into(), format!("{:.2}", values[trial - 1]));
        }
        true
    });
}

fn edit_run_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("run.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// Every table line of the terminal output (after the header line).
fn table_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("variant "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn identical_reports_are_the_same_everywhere_and_exit_0() {
    let ws = Workspace::new();
    ws.report("old");
    ws.report("new");
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout.lines().next(),
        Some("no change beyond noise"),
        "{}",
        out.stdout
    );
    // Two variants × two phases × every compared metric, each the same.
    let judged: Vec<&str> = metrics::judged().map(|m| m.name).collect();
    assert!(judged.contains(&"rps") && judged.contains(&"p99_ms"));
    let rows = table_lines(&out.stdout);
    assert_eq!(rows.len(), 2 * 2 * judged.len(), "{}", out.stdout);
    for line in &rows {
        assert_contains(line, "  same  ");
        assert!(!line.contains("regression"), "{line}");
    }
    for metric in judged {
        out.row("slow", "open", metric);
    }
    out.stdout_lacks("WARNING");
    out.stderr_contains("tolerance 10 % (the default)");
}

#[test]
fn a_tight_30_percent_rps_drop_is_slower_and_exits_with_the_regression_code() {
    let ws = Workspace::new();
    ws.report("old");
    let new = ws.report("new");
    set_rps(&new, "fast", "closed", &[6930.0, 7000.0, 7070.0]);
    let out = ws.compare(&["old", "new", "--markdown", "comment.md"]);
    out.expect_code(REGRESSION);
    assert_eq!(
        out.stdout.lines().next(),
        // Nothing failed, so goodput (computed from rps in these files) dropped as much.
        Some("2 regressions: fast / closed rps -30.0 %, fast / closed goodput -30.0 %"),
        "{}",
        out.stdout
    );
    let row = out.row("fast", "closed", "rps");
    for cell in ["10000.0", "7000.0", "-30.0 %"] {
        assert_contains(&row, cell);
    }
    assert_contains(&row, "slower (regression) trials do not overlap (3 vs 3)");
    // Only that row moved.
    assert_contains(&out.row("fast", "open", "rps"), " same ");
    assert_contains(&out.row("fast", "closed", "p99_ms"), " same ");

    let markdown = std::fs::read_to_string(ws.path().join("comment.md")).unwrap();
    assert!(
        markdown.starts_with(
            "❌ **2 regressions: fast / closed rps -30.0 %, fast / closed goodput -30.0 %**"
        ),
        "{markdown}"
    );
    assert_contains(
        &markdown,
        "| fast | closed | `rps` | 10000.0 | 7000.0 | -30.0 % | **slower (regression)** |",
    );

    // The same, printed as Markdown.
    let out = ws.compare(&["old", "new", "--format", "markdown"]);
    out.expect_code(REGRESSION);
    assert_eq!(out.stdout, markdown);

    // A tolerance above the drop: trials apart, but within the threshold, so the same.
    let out = ws.compare(&["old", "new", "--tolerance", "40%"]);
    out.expect_code(0);
    assert_contains(
        &out.row("fast", "closed", "rps"),
        "same trials do not overlap (3 vs 3), but within 40 % tolerance",
    );
    out.stderr_contains("tolerance 40 % (--tolerance)");
}

#[test]
fn a_30_percent_drop_inside_wide_noise_is_the_same_with_a_warning() {
    let ws = Workspace::new();
    let old = ws.report("old");
    let new = ws.report("new");
    set_rps(&old, "fast", "closed", &[7000.0, 10000.0, 13000.0]);
    set_rps(&new, "fast", "closed", &[5000.0, 7000.0, 11000.0]);
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    let row = out.row("fast", "closed", "rps");
    assert_contains(&row, "-30.0 %");
    assert_contains(&row, " same trials overlap (3 vs 3)");
    out.stdout_contains(
        "fast / closed: rps -30.0 % (10000.0 → 7000.0) is within noise: the trials overlap",
    );
    out.stdout_contains("Run more trials");
    // Noisy trials are flagged.
    out.stdout_contains("coefficient of variation");
}

#[test]
fn a_variant_or_phase_on_one_side_only_is_reported_not_a_crash() {
    let ws = Workspace::new();
    ws.report("old");
    let new = ws.report("new");
    // `slow` is gone and `fast` lost its open phase; a new variant appeared.
    edit_summary(&new, |row| {
        row["variant"] == "fast" && row["phase"] == "closed"
    });
    // Append one row for a variant only the new run has.
    let text = std::fs::read_to_string(new.join("summary.csv")).unwrap();
    let first_row = text.lines().nth(1).unwrap().replacen("fast,", "added,", 1);
    std::fs::write(new.join("summary.csv"), format!("{text}{first_row}\n")).unwrap();
    edit_run_json(&new, |json| {
        let variants = json["variants"].as_array_mut().unwrap();
        variants[1]["failure"] = serde_json::json!({
            "stage": "ready",
            "reason": "exited with status 3",
            "log_tail": "",
            "log": "slow.log"
        });
    });
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout.lines().next(),
        Some("no change beyond noise; only in old: fast / open, slow / closed, slow / open; only in new: added / closed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        table_lines(&out.stdout).len(),
        metrics::judged().count(),
        "the one variant × phase in common: {}",
        out.stdout
    );
    out.stdout_contains("only in old: fast / open, slow / closed, slow / open\n");
    out.stdout_contains("only in new: added / closed\n");
    out.stdout_contains("slow failed in the new run (during ready: exited with status 3).");

    // Nothing in common at all: an error with its own exit code, naming what each side has.
    let other = ws.report("other");
    edit_summary(&other, |row| {
        let renamed = format!("x-{}", row["variant"]);
        row.insert("variant".into(), renamed);
        true
    });
    let out = ws.compare(&["old", "other"]);
    out.expect_code(NOTHING_COMPARED);
    assert!(out.stdout.starts_with("nothing compared"), "{}", out.stdout);
    out.stderr_contains(
        "error: nothing compared: no variant × phase has results in both old (variants fast, slow; phases closed, open) and other (variants x-fast, x-slow; phases closed, open); compare two runs of the same experiment",
    );
}

#[test]
fn the_tolerance_comes_from_the_flag_then_the_new_runs_manifest_then_10_percent() {
    let ws = Workspace::new();
    ws.report("old");
    let new = ws.report("new");
    set_rps(&new, "fast", "closed", &[7000.0, 7000.0, 7000.0]);
    ws.compare(&["old", "new"]).expect_code(REGRESSION);

    // run.json records the manifest as experiments/demo.yaml: its compare.tolerance applies.
    ws.demo_manifest("{ tolerance: 35% }");
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    out.stderr_contains("tolerance 35 % (compare.tolerance in experiments/demo.yaml)");
    out.stdout_contains("Compared with a 35 % tolerance");

    // The flag wins.
    let out = ws.compare(&["old", "new", "--tolerance", "0.2"]);
    out.expect_code(REGRESSION);
    out.stdout_contains("Compared with a 20 % tolerance");

    let out = ws.compare(&["old", "new", "--tolerance", "150%"]);
    out.expect_code(2);
    out.stderr_contains("must be below 100%");
}

#[test]
fn sub_millisecond_latency_changes_within_the_latency_floor_are_noise() {
    let ws = Workspace::new();
    ws.report("old");
    let new = ws.report("new");
    // fast / closed: p50 0.505 / 0.500 / … → 0.9 ms in every trial: +80 %, but 0.4 ms.
    edit_summary(&new, |row| {
        if row["variant"] == "fast" && row["phase"] == "closed" {
            row.insert("p50_ms".into(), "0.900".into());
        }
        true
    });
    let out = ws.compare(&["old", "new"]);
    out.expect_code(REGRESSION);
    out.stdout_contains("p50_ms");

    let out = ws.compare(&["old", "new", "--latency-floor", "1ms"]);
    out.expect_code(0);
    out.stderr_contains("tolerance 10 % (the default), latency floor 1 ms (--latency-floor)");
    out.stdout_contains("latency: also more than 1 ms");

    // From the new run's manifest, as compare.latency_floor.
    ws.demo_manifest("{ latency_floor: 500us }");
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    out.stderr_contains("latency floor 0.5 ms (compare.latency_floor in experiments/demo.yaml)");
    // A floor below the change: a regression again.
    ws.compare(&["old", "new", "--latency-floor", "100us"])
        .expect_code(REGRESSION);
    let out = ws.compare(&["old", "new", "--latency-floor", "1"]);
    out.expect_code(2);
    out.stderr_contains("has no unit");
}

#[test]
fn another_machine_is_shown_and_refused_with_strict_env() {
    let ws = Workspace::new();
    ws.report("old");
    let new = ws.report("new");
    edit_run_json(&new, |json| {
        json["environment"]["cpu_model"] = "Other CPU @ 2.0GHz".into();
        json["environment"]["cores"] = 16.into();
    });
    let out = ws.compare(&["old", "new"]);
    out.expect_code(0);
    out.stdout_contains("WARNING: The runs come from different environments");
    out.stdout_contains("CPU model  Fixture CPU @ 3.00GHz  ->  Other CPU @ 2.0GHz");

    let out = ws.compare(&["old", "new", "--strict-env"]);
    out.expect_code(ENVIRONMENT_DIFFERS);
    assert!(out.stdout.is_empty(), "nothing compared:\n{}", out.stdout);
    out.stderr_contains("--strict-env")
        .stderr_contains("CPU model: Fixture CPU @ 3.00GHz  ->  Other CPU @ 2.0GHz")
        .stderr_contains("cores: 2  ->  16");

    // Memory or OS alone do not make --strict-env refuse.
    edit_run_json(&new, |json| {
        json["environment"]["cpu_model"] = "Fixture CPU @ 3.00GHz".into();
        json["environment"]["cores"] = 2.into();
        json["environment"]["memory_gib"] = 64.0.into();
    });
    ws.compare(&["old", "new", "--strict-env"]).expect_code(0);
}

#[test]
fn a_folder_that_is_not_a_report_is_named_with_what_it_lacks() {
    let ws = Workspace::new();
    ws.report("old");
    std::fs::create_dir_all(ws.path().join("notes")).unwrap();
    let out = ws.compare(&["old", "notes"]);
    out.expect_code(2);
    out.stderr_contains("new report `notes` is not a benchrig report folder: it has no run.json");
    let out = ws.compare(&["missing", "old"]);
    out.expect_code(2);
    out.stderr_contains("old report `missing` does not exist");
    std::fs::remove_file(ws.path().join("old/summary.csv")).unwrap();
    let out = ws.compare(&["old", "old"]);
    out.expect_code(2);
    out.stderr_contains("it has no summary.csv");
}

/// SHA-256 of every file under `dir`, by relative path.
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    benchrig::manifest::sha256_hex(&bytes),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `benchrig run checked.yaml --check ARGS…` in `dir`; none of the processes it started is left.
#[track_caller]
fn check(dir: &Path, args: &[&str]) -> Output {
    let out = benchrig(&["run", "checked.yaml", "--check"])
        .args(args)
        .in_dir(dir)
        .run();
    out.assert_no_process_left(0);
    out
}

#[test]
fn run_check_compares_with_the_committed_report_and_never_touches_it() {
    // The committed report: a first, ordinary run in a temporary directory.
    let first = Experiment::new("checked")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 2, iterations: 300 }")
        .request("{ path: /hello }")
        .assertion("\"error_rate < 0.01\"")
        .run();
    first.expect_code(0);
    let dir = first.experiment.dir().to_owned();
    let committed = first.report_dir();
    assert!(committed.join("run.json").is_file());

    // Pretend it was made on another machine, ten times faster.
    edit_run_json(&committed, |json| {
        json["environment"]["cpu_model"] = "Committed CPU @ 9.9GHz".into();
    });
    edit_summary(&committed, |row| {
        let rps: f64 = row["rps"].parse().unwrap();
        row.insert("rps".into(), format!("{:.2}", rps * 10.0));
        true
    });
    let before = hashes(&committed);
    assert!(before.len() >= 5, "{before:?}");

    // --strict-env refuses before starting anything.
    let out = check(&dir, &["--strict-env"]);
    out.expect_code(ENVIRONMENT_DIFFERS);
    out.stderr_contains("CPU model: Committed CPU @ 9.9GHz  ->  ")
        .assert_nothing_started();
    assert!(!dir.join("target/benchrig-check").exists());

    // --out may not be the committed folder, nor inside it.
    for out_dir in [
        "reports/checked",
        "./reports/../reports/checked/",
        "reports/checked/x",
    ] {
        check(&dir, &["--out", out_dir])
            .expect_code(2)
            .stderr_contains("never writes into the committed report");
    }

    // The check itself: a fresh run elsewhere, compared, a regression (the committed numbers
    // are ten times better), the other machine shown.
    let out = check(&dir, &[]);
    out.expect_code(REGRESSION);
    out.stderr_contains("WARNING: this machine differs from the one that made reports/checked/");
    // Not a git checkout: the folder itself, never called committed.
    out.stderr_contains("reports/checked/ is not committed (not a git checkout): comparing with the folder in the working tree");
    out.stdout_contains(
        "comparison: reports/checked/ (working tree, not committed) -> target/benchrig-check/checked/ (this run); tolerance 10 % (the default)",
    );
    out.stdout_lacks("(committed");
    out.stdout_contains("WARNING: The runs come from different environments");
    assert_contains(&out.row("hello", "quick", "rps"), "slower (regression)");
    let fresh = dir.join("target/benchrig-check/checked");
    assert!(fresh.join("report.md").is_file());
    let markdown = std::fs::read_to_string(fresh.join("comparison.md")).unwrap();
    // The run's latency moves too on a busy machine: only rps is certain to regress.
    assert!(markdown.starts_with("❌ **"), "{markdown}");
    assert_contains(&markdown, "| hello | quick | `rps` | ");
    assert_contains(&markdown, "**slower (regression)**");
    out.stdout_contains("comparison: target/benchrig-check/checked/comparison.md");

    // A generous tolerance: the run passes its assertions, and no regression is beyond it.
    // Latency and CPU of a tiny run can move a lot, so only the rps row is checked. At 99 %,
    // this run may be ten times slower than the first before its rps is a regression: as much
    // room as the check above has the other way.
    let out = check(&dir, &["--tolerance", "0.99"]);
    assert!(
        out.code == Some(0) || out.code == Some(REGRESSION),
        "{:?}\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(
        !out.row("hello", "quick", "rps").contains("regression"),
        "{}",
        out.stdout
    );

    assert_eq!(hashes(&committed), before, "the committed report changed");
    let reports: Vec<_> = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(reports, ["checked"], "nothing else appeared in reports/");
    first.assert_no_process_left(1);
}

/// `git ARGS…` in `dir`, which must succeed.
fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=benchrig tests",
            "-c",
            "user.email=tests@benchrig.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

#[test]
fn run_check_compares_with_the_report_committed_at_head_not_the_working_tree() {
    let first = Experiment::new("checked")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 2, iterations: 300 }")
        .request("{ path: /hello }")
        .run();
    first.expect_code(0);
    let dir = first.experiment.dir().to_owned();
    let committed = first.report_dir();
    // HEAD's report: ten times faster than this machine can be.
    edit_summary(&committed, |row| {
        let rps: f64 = row["rps"].parse().unwrap();
        row.insert("rps".into(), format!("{:.2}", rps * 10.0));
        true
    });
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "checked.yaml", "reports/checked"]);
    git(&dir, &["commit", "-q", "-m", "the committed report"]);
    // The working tree's copy, overwritten as `make experiment` would: a hundred times slower,
    // so that a comparison with it would find no regression. And a file HEAD does not have.
    edit_summary(&committed, |row| {
        let rps: f64 = row["rps"].parse().unwrap();
        row.insert("rps".into(), format!("{:.2}", rps / 1000.0));
        true
    });
    std::fs::write(committed.join("notes.txt"), "local").unwrap();
    let before = hashes(&committed);

    let out = check(&dir, &[]);
    out.expect_code(REGRESSION);
    out.stdout_contains("comparison: reports/checked/ (committed at HEAD ")
        .stdout_contains(
            "note: the working tree's reports/checked/ differs from HEAD (modified: summary.csv; untracked: notes.txt); compared with HEAD's",
        )
        .stderr_lacks("not committed");
    assert_contains(&out.row("hello", "quick", "rps"), "slower (regression)");
    assert_eq!(
        hashes(&committed),
        before,
        "the working tree's report changed"
    );
}

#[test]
fn run_check_without_a_committed_report_starts_nothing() {
    let experiment = Experiment::new("checked")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 1, iterations: 10 }")
        .request("{ path: /hello }");
    experiment.write("checked.yaml");
    let dir = experiment.dir();
    check(dir, &[])
        .expect_code(2)
        .stderr_contains("--check compares a fresh run with the committed report reports/checked/, which does not exist")
        .stderr_contains("make experiment NAME=checked")
        .assert_nothing_started();
    assert!(!dir.join("reports").exists());
    assert!(!dir.join("target").exists());
}

#[test]
fn the_ci_workflow_is_valid_yaml_and_does_its_work_through_make() {
    let text =
        std::fs::read_to_string(repo_root().join(".github/workflows/experiments.yml")).unwrap();
    let workflow: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let steps = workflow["jobs"]["experiments"]["steps"]
        .as_sequence()
        .expect("jobs.experiments.steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.iter().any(|r| r.contains("make validate")), "{runs:?}");
    assert!(
        runs.iter().any(|r| r.contains("make ci-experiments")),
        "{runs:?}"
    );
    for run in &runs {
        for line in run.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert!(
                line.starts_with("make "),
                "the workflow does its work through Makefile targets; found `{line}`"
            );
        }
    }
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    for action in [
        "actions/checkout",
        "dtolnay/rust-toolchain",
        "Swatinem/rust-cache",
        "actions/upload-artifact",
    ] {
        let pinned = uses
            .iter()
            .find_map(|u| u.strip_prefix(&format!("{action}@")));
        assert!(
            pinned.is_some_and(|c| c.len() == 40 && c.chars().all(|c| c.is_ascii_hexdigit())),
            "{action} missing or not pinned by commit in {uses:?}"
        );
    }
    assert!(
        workflow["concurrency"]["cancel-in-progress"].as_bool() == Some(true),
        "superseded runs are cancelled"
    );
    assert!(text.contains("cache-on-failure: true"));
    assert!(text.contains("!target/benchrig-check/*/raw/"));
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(
        makefile.contains("\nci-experiments:"),
        "Makefile has no ci-experiments target"
    );
}

/// The A/A tests load the machine; one at a time, so neither is the other's noise.
static A_A: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `manifest` (named `name`.yaml) twice and compares the two runs: on one machine at one
/// commit, nothing may be a regression. Servers are pinned to CPU 0 and the load to CPU 1, as
/// in the quickstart, and every phase whose CPU and memory are judged lasts long enough to
/// sample. The two runs go side by side: the machine that runs the tests is shared, and load
/// that comes and goes between two runs made one after the other (a server given 30 % of its
/// core in one run and 40 % in the next was seen) is a real difference between them, which no
/// noise rule can tell from a regression. Side by side, both see it; what keeps the comparison
/// quiet is then the noise handling (the trials' spread, each metric's measured run-to-run
/// noise, too few samples as not measured). Each run has its own folder and its own copy of
/// the server (`bin/hello-rs` in the manifest), so that the two runs' servers share no pages:
/// PSS splits shared pages between the processes that map them.
#[track_caller]
fn a_a(name: &str, manifest: &str) -> Output {
    let _one_at_a_time = A_A.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = format!("{name}.yaml");
    for side in ["first", "second"] {
        let bin = dir.path().join(side).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(crate::support::hello_rs(), bin.join("hello-rs")).unwrap();
        std::fs::write(dir.path().join(side).join(&file), manifest).unwrap();
    }
    let runs: Vec<Output> = std::thread::scope(|scope| {
        let started: Vec<_> = ["first", "second"]
            .map(|side| {
                let side = dir.path().join(side);
                let file = &file;
                scope.spawn(move || benchrig(&["run", file]).in_dir(&side).run())
            })
            .into_iter()
            .collect();
        started.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for run in &runs {
        run.expect_code(0);
        run.assert_no_process_left(0);
    }
    let report = |side: &str| format!("{side}/reports/{name}");
    let out = benchrig(&["compare", &report("first"), &report("second")])
        .in_dir(dir.path())
        .run();
    out.expect_code(0);
    out.stdout_lacks("(regression)");
    // Same manifest, same machine.
    out.stdout_lacks("manifests differ").stdout_lacks("WARNING");
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("no change beyond") || first.starts_with("no regression"),
        "{}",
        out.stdout
    );
    // Every row was judged from three trials a side; CPU and memory only from the trials with
    // enough samples, or not measured.
    for line in table_lines(&out.stdout) {
        let resource = line.contains("cpu_mean_pct") || line.contains("pss_peak_mb");
        assert!(line.contains("(3 vs 3") || resource, "{line}");
    }
    out
}

#[test]
fn two_runs_of_two_identical_variants_with_three_trials_compare_as_no_change() {
    let variant = |name: &str| {
        format!("{{ name: {name}, command: [bin/hello-rs, --port, \"{{{{ port }}}}\", --threads, \"1\"], ready: {{ http: /health }}, cpus: [0] }}")
    };
    let manifest = Experiment::new("twins")
        .line("repeat: 3")
        .line("load: { cpus: [1] }")
        .variant(&variant("a"))
        .variant(&variant("b"))
        .warmup("{ vus: 10, duration: 500ms }")
        .phase("{ name: closed-20, vus: 20, duration: 1500ms }")
        .request("{ path: /hello }")
        .yaml();
    let out = a_a("twins", &manifest);
    // 1.5 s at 250 ms: enough samples, so CPU and memory were judged.
    assert_lacks(&out.row("a", "closed-20", "cpu_mean_pct"), "not measured");
}

#[test]
fn two_runs_of_a_shortened_quickstart_compare_as_no_change() {
    // The quickstart as committed, with shorter phases: same variants, pinning, requests and
    // repeats.
    let text = std::fs::read_to_string(repo_root().join("experiments/quickstart.yaml")).unwrap();
    let mut manifest: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let map = manifest.as_mapping_mut().unwrap();
    map.remove("setup");
    map.insert(
        "warmup".into(),
        serde_yaml::from_str("{ vus: 10, duration: 500ms }").unwrap(),
    );
    map.insert(
        "phases".into(),
        serde_yaml::from_str(
            "[{ name: closed-50, vus: 50, duration: 1500ms }, { name: hey-style, vus: 10, duration: 1s }]",
        )
        .unwrap(),
    );
    let text = serde_yaml::to_string(&manifest)
        .unwrap()
        .replace("target/release/hello-rs", "bin/hello-rs");
    assert!(text.contains("bin/hello-rs"), "{text}");
    let out = a_a("quickstart", &text);
    // A second at 250 ms gives 4 or 5 samples: CPU and memory of hey-style are judged only
    // from the trials that got 5.
    assert_lacks(
        &out.row("current-thread", "closed-50", "pss_peak_mb"),
        "not measured",
    );
}
