//! Command line: parse, dispatch, map outcomes to exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adhoc;
use crate::compare::{self, CompareOptions, Comparison, EnvironmentDifference};
use crate::environment::Environment;
use crate::exit_code;
use crate::manifest::{self, CompareSettings};
use crate::output::SavedRun;
use crate::runner::{self, RunOptions, RunOutcome};
use crate::text::plural;

/// Where `run --check` writes its fresh run by default: `target/benchrig-check/NAME`.
pub const CHECK_DIR: &str = "target/benchrig-check";

#[derive(Debug, Parser)]
#[command(
    name = "benchrig",
    version,
    about = "Declarative experiments comparing web-server variants under HTTP load"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment: start each variant in turn, load it, write reports/NAME/.
    Run(RunArgs),
    /// Compare two report folders: for every variant × phase, rps, p50, p99, error rate, CPU
    /// and memory, old against new, with a verdict. Exits 5 on a regression beyond the tolerance.
    Compare(CompareArgs),
    /// Check manifests without starting or writing anything.
    Validate {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// Print the JSON Schema of manifests (committed as docs/manifest.schema.json).
    Schema,
    /// Re-render report.md and the plots of a report folder from its saved files alone.
    Report {
        /// A report folder, e.g. reports/quickstart.
        #[arg(required = true)]
        folders: Vec<PathBuf>,
    },
    /// One-off load against a running server, like hey or oha, on the same engine.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The URL to load, e.g. http://127.0.0.1:8080/hello.
    pub url: String,
    /// Concurrent virtual users (connections).
    #[arg(short = 'c', long = "concurrency", default_value_t = 50)]
    pub concurrency: u64,
    /// Total requests, shared by all users [default: 200 when no -d].
    #[arg(short = 'n', long = "requests", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Send requests for this long, e.g. 10s, 1m.
    #[arg(short = 'd', long = "duration", value_parser = manifest::Duration::parse)]
    pub duration: Option<manifest::Duration>,
    /// Open model: send this many requests per second whatever the server does (latency from
    /// each request's intended send time), e.g. 2000 or 120/m.
    #[arg(short = 'r', long, value_parser = manifest::Rate::parse_flag)]
    pub rate: Option<manifest::Rate>,
    /// Open model: the most requests outstanding; one due beyond it is dropped and counted.
    #[arg(long, requires = "rate")]
    pub max_in_flight: Option<u64>,
    /// Pause of each user between its requests, e.g. 100ms.
    #[arg(long, value_parser = manifest::Duration::parse)]
    pub think: Option<manifest::Duration>,
    /// A new connection for every request (like ab without -k).
    #[arg(long)]
    pub disable_keepalive: bool,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Send with reqwest instead of benchrig's lean HTTP/1.1 client (for comparison).
    #[arg(long)]
    pub reqwest: bool,
    /// HTTP method.
    #[arg(short = 'm', long = "method", default_value = "GET")]
    pub method: String,
    /// A header, 'Name: value'; repeat for more.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(short = 'b', long = "body")]
    pub body: Option<String>,
    /// Time allowed for each whole response.
    #[arg(
        short = 't',
        long = "timeout",
        value_parser = manifest::Duration::parse,
        default_value_t = manifest::Duration(manifest::DEFAULT_REQUEST_TIMEOUT)
    )]
    pub timeout: manifest::Duration,
    /// Also write summary.csv and raw/requests.csv into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How `benchrig compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned plain-text table.
    Terminal,
    /// Markdown, as for a pull-request comment.
    Markdown,
}

pub fn main(cli: Cli) -> ExitCode {
    let workdir = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("benchrig: cannot read the current directory: {e}");
            return ExitCode::from(exit_code::RUN_ABORTED);
        }
    };
    let code = match cli.command {
        Command::Run(args) if args.check => run_check(&args, &workdir),
        Command::Run(args) => run(
            RunOptions {
                manifest: args.manifest,
                out: args.out,
                workdir: workdir.clone(),
            },
            &workdir,
        ),
        Command::Compare(args) => compare_folders(&args, &workdir),
        Command::Validate { manifests } => validate(&manifests, &workdir),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&manifest::json_schema()).expect("a JSON value")
            );
            exit_code::SUCCESS
        }
        Command::Load(args) => load(args, &workdir),
        Command::Report { folders } => rerender(&folders, &workdir),
    };
    ExitCode::from(code)
}

fn run(options: RunOptions, workdir: &Path) -> u8 {
    match execute(&options, workdir) {
        Ok(outcome) => outcome.exit_code(),
        Err(code) => code,
    }
}

/// Runs an experiment and prints its outcome: failed assertions, counts, the report's path.
fn execute(options: &RunOptions, workdir: &Path) -> Result<RunOutcome, u8> {
    match runner::run(options) {
        Ok(outcome) => {
            for failed in outcome.assertions.iter().filter(|a| !a.passed) {
                eprintln!(
                    "benchrig: assertion failed: `{}` for {} / {}: {}",
                    failed.expect, failed.variant, failed.phase, failed.detail
                );
            }
            let checks = outcome.assertions.len();
            let assertions = if checks == 0 {
                "no assertions".to_owned()
            } else {
                format!(
                    "{} of {} passed",
                    checks - outcome.assertions_failed(),
                    plural(checks, "assertion check")
                )
            };
            eprintln!(
                "benchrig: {assertions}; {} failed",
                plural(outcome.variants_failed, "variant")
            );
            let report = outcome.report_dir.join("report.md");
            println!("report: {}", shown(&report, workdir).display());
            Ok(outcome)
        }
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            Err(e.exit_code())
        }
    }
}

/// `path` relative to `workdir` when it is inside it.
fn shown<'a>(path: &'a Path, workdir: &Path) -> &'a Path {
    path.strip_prefix(workdir).unwrap_or(path)
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference report folder, e.g. reports/quickstart.
    old: PathBuf,
    /// The report folder to judge, e.g. target/benchrig-check/quickstart.
    new: PathBuf,
    /// Relative change allowed before a worse metric is a regression, e.g. 10% or 0.1
    /// [default: compare.tolerance of NEW's manifest, else 10%].
    #[arg(long, value_parser = manifest::parse_tolerance)]
    tolerance: Option<f64>,
    /// Latency (p50, p99) changes of at most this much are noise, e.g. 1ms [default:
    /// compare.latency_floor of NEW's manifest, else none].
    #[arg(long, value_parser = manifest::parse_latency_floor, value_name = "DURATION")]
    latency_floor: Option<f64>,
    /// Also write the comparison as Markdown to FILE (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// How to print the comparison on stdout.
    #[arg(long, value_enum, default_value_t = Format::Terminal)]
    format: Format,
    /// Refuse to compare (exit 6) when the runs' CPU model, core count or kernel differ.
    #[arg(long)]
    strict_env: bool,
}

/// `benchrig compare OLD NEW`.
fn compare_folders(args: &CompareArgs, workdir: &Path) -> u8 {
    let loaded = load_report("old report", &args.old, workdir)
        .and_then(|old| Ok((old, load_report("new report", &args.new, workdir)?)));
    let (old, new) = match loaded {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            return exit_code::INVALID_INPUT;
        }
    };
    if args.strict_env {
        let differences =
            compare::strict_differences(&old.record.environment, &new.record.environment);
        if !differences.is_empty() {
            refuse_environment(&differences, "the two runs come from different machines");
            return exit_code::ENVIRONMENT_DIFFERS;
        }
    }
    let (options, thresholds) = compare_options(
        args.tolerance,
        args.latency_floor,
        manifest_compare_settings(&new, workdir),
    );
    eprintln!(
        "benchrig: comparing {} (old) with {} (new); {thresholds}",
        args.old.display(),
        args.new.display(),
    );
    let comparison = compare::compare(&old, &new, &options);
    match args.format {
        Format::Terminal => print!("{}", compare::render_terminal(&comparison)),
        Format::Markdown => print!("{}", compare::render_markdown(&comparison)),
    }
    if let Some(path) = &args.markdown {
        let path = workdir.join(path);
        if let Err(e) = std::fs::write(&path, compare::render_markdown(&comparison)) {
            eprintln!("benchrig: error: cannot write {}: {e}", path.display());
            return exit_code::RUN_ABORTED;
        }
        eprintln!(
            "benchrig: Markdown written to {}",
            shown(&path, workdir).display()
        );
    }
    comparison_exit_code(&comparison)
}

fn comparison_exit_code(comparison: &Comparison) -> u8 {
    if comparison.is_regression() {
        exit_code::REGRESSION
    } else {
        exit_code::SUCCESS
    }
}

/// Loads a report folder, or says which folder is not one and what it lacks. `role` names it
/// in the message ("old report", "committed report").
fn load_report(role: &str, dir: &Path, workdir: &Path) -> Result<SavedRun, String> {
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
struct ManifestCompare {
    manifest: String,
    settings: CompareSettings,
}

/// The `compare:` settings of a run's manifest, read from the manifest path its run.json
/// records; `None` when it is gone or unreadable (the defaults apply).
fn manifest_compare_settings(run: &SavedRun, workdir: &Path) -> Option<ManifestCompare> {
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
fn compare_options(
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
fn refuse_environment(differences: &[EnvironmentDifference], why: &str) {
    eprintln!("benchrig: error: --strict-env: {why}; refusing to compare:");
    for d in differences {
        eprintln!("  {}: {}  ->  {}", d.field, d.old, d.new);
    }
    eprintln!(
        "  compare without --strict-env to see the numbers anyway, or refresh the committed report on this machine"
    );
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment manifest, e.g. experiments/quickstart.yaml.
    manifest: PathBuf,
    /// Report folder [default: reports/NAME, NAME from the manifest; with --check:
    /// target/benchrig-check/NAME].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Reproduce the committed report: run into a fresh folder (never reports/NAME), compare
    /// it with reports/NAME/, print the comparison and write comparison.md beside the fresh
    /// report. Exits 5 on a regression beyond the tolerance.
    #[arg(long)]
    check: bool,
    /// With --check: refuse (exit 6, before starting anything) when this machine's CPU
    /// model, core count or kernel differs from the committed report's.
    #[arg(long, requires = "check")]
    strict_env: bool,
    /// With --check: relative change allowed before a worse metric is a regression, e.g.
    /// 10% or 0.1 [default: the manifest's compare.tolerance, else 10%].
    #[arg(long, requires = "check", value_parser = manifest::parse_tolerance)]
    tolerance: Option<f64>,
    /// With --check: latency (p50, p99) changes of at most this much are noise, e.g. 1ms
    /// [default: the manifest's compare.latency_floor, else none].
    #[arg(long, requires = "check", value_parser = manifest::parse_latency_floor, value_name = "DURATION")]
    latency_floor: Option<f64>,
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

/// `benchrig run MANIFEST --check`: refuses early (bad manifest, no committed report, a fresh
/// folder that would touch the committed one, another machine with --strict-env), then runs
/// into the fresh folder, compares, prints, and writes comparison.md there.
fn run_check(options: &RunArgs, workdir: &Path) -> u8 {
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

    let outcome = match execute(
        &RunOptions {
            manifest: options.manifest.clone(),
            out: Some(fresh_rel.clone()),
            workdir: workdir.to_owned(),
        },
        workdir,
    ) {
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

fn validate(paths: &[PathBuf], workdir: &Path) -> u8 {
    let mut code = exit_code::SUCCESS;
    for path in paths {
        match manifest::load(path, workdir) {
            Ok(plan) => println!(
                "{}: ok ({}, {}, {}, {})",
                path.display(),
                plural(plan.variants.len(), "variant"),
                plural(plan.phases.len(), "phase"),
                plural(plan.requests.len(), "request"),
                plural(plan.assertions.len(), "assertion")
            ),
            Err(e) => {
                eprintln!("{e}");
                code = exit_code::INVALID_INPUT;
            }
        }
    }
    code
}

fn rerender(folders: &[PathBuf], workdir: &Path) -> u8 {
    let mut code = exit_code::SUCCESS;
    for folder in folders {
        match crate::report::write_report(folder, workdir) {
            Ok(report) => println!("report: {}", report.display()),
            Err(crate::report::ReportError::Io(e)) => {
                eprintln!("benchrig: error: {e}");
                code = code.max(exit_code::RUN_ABORTED);
            }
            Err(e) => {
                eprintln!("benchrig: error: {e}");
                code = code.max(exit_code::INVALID_INPUT);
            }
        }
    }
    code
}

fn load(args: LoadArgs, workdir: &Path) -> u8 {
    let options = adhoc::LoadOptions {
        url: args.url,
        concurrency: args.concurrency,
        requests: args.requests,
        duration: args.duration,
        rate: args.rate,
        max_in_flight: args.max_in_flight,
        think: args.think,
        keep_alive: !args.disable_keepalive,
        http2: args.http2,
        reqwest: args.reqwest,
        method: args.method,
        headers: args.headers,
        body: args.body,
        timeout: Some(args.timeout),
        out: args.out,
    };
    match adhoc::run(&options, workdir) {
        Ok(code) => code,
        Err(e) => {
            // Every problem with the options on its own line.
            for line in e.lines() {
                eprintln!("benchrig: error: {line}");
            }
            exit_code::INVALID_INPUT
        }
    }
}
