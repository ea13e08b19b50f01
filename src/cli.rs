//! Command line: parse, dispatch, map outcomes to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::adhoc;
use crate::exit_code;
use crate::manifest;
use crate::runner::{self, RunOptions};

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
    Run {
        /// The experiment manifest, e.g. experiments/quickstart.yaml.
        manifest: PathBuf,
        /// Report folder [default: reports/NAME, NAME from the manifest].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
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
    pub concurrency: u32,
    /// Total requests, shared by all users [default: 200 when no -d].
    #[arg(short = 'n', long = "requests", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Send requests for this long, e.g. 10s, 1m.
    #[arg(short = 'd', long = "duration", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Open model: send this many requests per second whatever the server does (latency from
    /// each request's intended send time), e.g. 2000 or 120/m.
    #[arg(short = 'r', long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Open model: the most requests outstanding; one due beyond it is dropped and counted.
    #[arg(long, requires = "rate")]
    pub max_in_flight: Option<u32>,
    /// Pause of each user between its requests, e.g. 100ms.
    #[arg(long, value_parser = parse_duration)]
    pub think: Option<std::time::Duration>,
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
    #[arg(short = 't', long = "timeout", value_parser = parse_duration, default_value = "30s")]
    pub timeout: std::time::Duration,
    /// Also write summary.csv and raw/requests.csv into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    manifest::Duration::parse(text).map(|d| d.0)
}

/// A plain number is per second, as in hey's -q; a unit may be given as in manifests.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(per_second) => Ok(per_second),
        Err(_) => manifest::Rate::parse(text).map(|r| r.per_second),
    }
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
        Command::Run { manifest, out } => run(
            RunOptions {
                manifest,
                out,
                workdir: workdir.clone(),
            },
            &workdir,
        ),
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

fn run(options: RunOptions, workdir: &std::path::Path) -> u8 {
    match runner::run(&options) {
        Ok(outcome) => {
            for failed in outcome.assertions.iter().filter(|a| !a.passed) {
                eprintln!(
                    "benchrig: assertion failed: `{}` for {} / {}: {}",
                    failed.expect, failed.variant, failed.phase, failed.detail
                );
            }
            let checks = outcome.assertions.len();
            eprintln!(
                "benchrig: {} of {checks} assertion checks passed; {} variant(s) failed",
                checks - outcome.assertions_failed(),
                outcome.variants_failed
            );
            let report = outcome.report_dir.join("report.md");
            let shown = report.strip_prefix(workdir).unwrap_or(&report);
            println!("report: {}", shown.display());
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            e.exit_code()
        }
    }
}

fn validate(paths: &[PathBuf], workdir: &std::path::Path) -> u8 {
    let mut code = exit_code::SUCCESS;
    for path in paths {
        match manifest::load(path, workdir) {
            Ok(plan) => println!(
                "{}: ok ({} variants, {} phases, {} requests, {} assertions)",
                path.display(),
                plan.variants.len(),
                plan.phases.len(),
                plan.requests.len(),
                plan.assertions.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                code = exit_code::INVALID_INPUT;
            }
        }
    }
    code
}

fn rerender(folders: &[PathBuf], workdir: &std::path::Path) -> u8 {
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

fn load(args: LoadArgs, workdir: &std::path::Path) -> u8 {
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
        timeout: args.timeout,
        out: args.out,
    };
    match adhoc::run(&options, workdir) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            exit_code::INVALID_INPUT
        }
    }
}
