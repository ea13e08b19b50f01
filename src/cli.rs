//! Command line: parse, dispatch, map outcomes to exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adhoc;
use crate::check::{
    self, compare_options, comparison_exit_code, load_report, manifest_compare_settings,
    nothing_compared_error, refuse_environment, CheckOptions,
};
use crate::compare;
use crate::exit_code;
use crate::manifest;
use crate::output::shown;
use crate::runner::{self, RunOptions};
use crate::text::plural;

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
    /// and memory, old against new, with a verdict. Exits 5 on a regression, 7 when no variant ×
    /// phase is in both.
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
    /// One-off load against a running server, like hey or oha, on the same engine. Exits 8
    /// when no request succeeded, 1 when an --expect failed.
    Load(LoadArgs),
    /// What an exit code of benchrig means; without CODE, the table of all of them.
    #[command(name = "exit-code")]
    ExplainExitCode {
        /// An exit code, e.g. 1.
        code: Option<u8>,
    },
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
    /// An expression over the load's metrics that must hold, in the manifest's assertion
    /// language, e.g. 'p99_ms < 50 and error_rate == 0'; repeat for more. Checked before any
    /// load; exit 1 when one fails.
    #[arg(long, value_name = "EXPR")]
    pub expect: Vec<String>,
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
        Command::Run(args) if args.check => check::run_check(
            &CheckOptions {
                manifest: args.manifest,
                out: args.out,
                strict_env: args.strict_env,
                tolerance: args.tolerance,
                latency_floor: args.latency_floor,
            },
            &workdir,
        ),
        Command::Run(args) => run(RunOptions {
            manifest: args.manifest,
            out: args.out,
            workdir: workdir.clone(),
        }),
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
        Command::ExplainExitCode { code } => {
            match code {
                Some(code) => println!("{code}: {}", exit_code::meaning(code)),
                None => print!("{}", exit_code::markdown_table()),
            }
            exit_code::SUCCESS
        }
        Command::Report { folders } => rerender(&folders, &workdir),
    };
    ExitCode::from(code)
}

fn run(options: RunOptions) -> u8 {
    match runner::run_and_report(&options) {
        Ok(outcome) => outcome.exit_code(),
        Err(code) => code,
    }
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
    let code = comparison_exit_code(&comparison);
    if code == exit_code::NOTHING_COMPARED {
        eprintln!(
            "{}",
            nothing_compared_error(
                (&args.old.display().to_string(), &old),
                (&args.new.display().to_string(), &new),
                "compare two runs of the same experiment: a variant that failed has no results, and a renamed variant or phase is another one"
            )
        );
    }
    code
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
    /// report. Exits 5 on a regression, 7 when nothing could be compared.
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
        expect: args.expect,
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
