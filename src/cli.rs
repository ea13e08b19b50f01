//! Command line: parse, dispatch, map outcomes to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
