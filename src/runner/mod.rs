//! Orchestration: the order of things in a run, and nothing else. Setup, then each variant in
//! turn (start, ready, warm-up, phases, stop), then summary, assertions and report, then the
//! report folder replaces the previous one.

mod launcher;
mod start;
mod trial;
mod warmup;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

use crate::assertions;
use crate::environment::{server_versions, Environment};
use crate::exit_code;
use crate::manifest::{self, ManifestError, PlaceholderContext, Plan};
use crate::output::{
    shown, Export, HistogramsHlog, RawCsvWriter, ReportFolder, RunData, RunJson, ScratchRoot,
    SummaryByRequestCsv, SummaryCsv, TimeseriesCsv,
};
use crate::process::{group, log_tail};
use crate::report;
use crate::results::{AssertionOutcome, VariantResult};
use crate::text::plural;
use launcher::{Launched, Launcher, LocalLauncher};
use start::{run_setup, start_process, Running};
use trial::TrialRun;

/// Lines of a failing process's log quoted in errors and reports.
const LOG_TAIL_LINES: usize = 20;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub manifest: PathBuf,
    /// Report folder; `reports/NAME` under `workdir` by default.
    pub out: Option<PathBuf>,
    /// Where relative commands and paths are resolved: the directory benchrig runs in.
    pub workdir: PathBuf,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub report_dir: PathBuf,
    pub variants_failed: usize,
    pub assertions: Vec<AssertionOutcome>,
    pub raw_rows: u64,
}

impl RunOutcome {
    pub fn assertions_failed(&self) -> usize {
        self.assertions.iter().filter(|a| !a.passed).count()
    }

    pub fn exit_code(&self) -> u8 {
        if self.variants_failed > 0 {
            exit_code::VARIANT_FAILED
        } else if self.assertions_failed() > 0 {
            exit_code::ASSERTIONS_FAILED
        } else {
            exit_code::SUCCESS
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Usage(String),
    #[error("setup command `{command}` failed: {reason}\nlast lines of {log}:\n{tail}")]
    Setup {
        command: String,
        reason: String,
        log: String,
        tail: String,
    },
    #[error("{0:#}")]
    Aborted(anyhow::Error),
    #[error("service `{name}` did not start: {reason}\nlast lines of {log}:\n{tail}")]
    Service {
        name: String,
        reason: String,
        log: String,
        tail: String,
    },
    #[error("interrupted by {signal}; every server was stopped; partial results are in {}", partial.display())]
    Interrupted { signal: Signal, partial: PathBuf },
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Manifest(_) | RunError::Usage(_) => exit_code::INVALID_INPUT,
            RunError::Setup { .. } | RunError::Service { .. } | RunError::Aborted(_) => {
                exit_code::RUN_ABORTED
            }
            RunError::Interrupted { signal, .. } => exit_code::INTERRUPTED_BASE + *signal as u8,
        }
    }
}

fn aborted(context: &str) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |e| RunError::Aborted(anyhow::Error::new(e).context(context.to_owned()))
}

fn say(message: impl AsRef<str>) {
    eprintln!("benchrig: {}", message.as_ref());
}

/// Runs an experiment and prints its outcome: failed assertions, counts, the report's path;
/// or prints the error and returns its exit code.
pub fn run_and_report(options: &RunOptions) -> Result<RunOutcome, u8> {
    match run(options) {
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
            println!("report: {}", shown(&report, &options.workdir).display());
            Ok(outcome)
        }
        Err(e) => {
            eprintln!("benchrig: error: {e}");
            Err(e.exit_code())
        }
    }
}

/// Validates the manifest, runs the experiment and writes its report folder.
pub fn run(options: &RunOptions) -> Result<RunOutcome, RunError> {
    let plan = manifest::load(&options.manifest, &options.workdir)?;
    let final_dir = options
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join(&plan.name));
    let final_dir = options.workdir.join(final_dir);
    ReportFolder::check_replaceable(&final_dir).map_err(RunError::Usage)?;

    group::become_subreaper();
    group::install_panic_hook();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(aborted("cannot start the runtime"))?;
    runtime.block_on(async {
        let mut interrupt =
            Interrupt::listen().map_err(aborted("cannot install signal handlers"))?;
        run_plan(
            &plan,
            &final_dir,
            &options.workdir,
            &LocalLauncher,
            interrupt.recv(),
        )
        .await
    })
}

/// The run itself, through `launcher`, until it ends or `interrupt` comes.
async fn run_plan<L: Launcher>(
    plan: &Plan,
    final_dir: &Path,
    workdir: &Path,
    launcher: &L,
    interrupt: impl Future<Output = Signal>,
) -> Result<RunOutcome, RunError> {
    let folder =
        ReportFolder::create(final_dir).map_err(aborted("cannot create the report folder"))?;
    let started = (SystemTime::now(), Instant::now());
    let raw = RawCsvWriter::create(&folder.raw_dir().join("requests.csv"))
        .map_err(aborted("cannot create raw/requests.csv"))?;
    say(format!(
        "running `{}` ({} variants × {} phases); results go to {}",
        plan.name,
        plan.variants.len(),
        plan.phases.len(),
        shown(final_dir, workdir).display()
    ));

    // Removes the trials' scratch directories however the run ends.
    let _scratch = ScratchRoot;
    let variants = tokio::select! {
        // An interrupt that has come wins over further progress of the run.
        biased;
        signal = interrupt => {
            // Dropping `execute` stopped every server it had started; make sure of it.
            launcher.kill_all();
            drop(raw);
            return Err(RunError::Interrupted { signal, partial: folder.path().to_owned() });
        }
        result = execute(launcher, plan, &folder, &raw, started.1) => result?,
    };

    let raw_rows = match raw.finish() {
        Ok(rows) => rows,
        Err(e) => {
            say(format!("warning: raw/requests.csv is incomplete: {e}"));
            0
        }
    };
    let phase_names: Vec<String> = plan.phases.iter().map(|p| p.name.clone()).collect();
    let assertion_outcomes = assertions::evaluate(
        &plan.assertions,
        &variants,
        &phase_names,
        plan.baseline.as_deref(),
    );
    let mut environment = Environment::capture(workdir, &python_venvs(plan));
    environment.date = humantime::format_rfc3339_seconds(started.0).to_string();
    environment.servers = server_versions(&programs(plan), workdir);
    let rendered = folder.rendered_files().unwrap_or_else(|e| {
        say(format!("warning: cannot list the rendered files: {e}"));
        Vec::new()
    });
    let data = RunData {
        started: started.0,
        plan,
        variants: &variants,
        assertions: &assertion_outcomes,
        environment: &environment,
        rendered: &rendered,
    };
    // The data files first; the report is then rendered from them alone, exactly as
    // `benchrig report` would.
    let exports: [&dyn Export; 5] = [
        &SummaryCsv,
        &SummaryByRequestCsv,
        &TimeseriesCsv,
        &HistogramsHlog,
        &RunJson,
    ];
    for export in exports {
        let bytes = export.render(&data).map_err(|e| {
            RunError::Aborted(e.context(format!("cannot render {}", export.file_name())))
        })?;
        folder
            .write(export.file_name(), &bytes)
            .map_err(aborted("cannot write the report"))?;
    }
    report::write_report(folder.path(), workdir).map_err(|e| {
        let partial = folder.path().display();
        RunError::Aborted(anyhow::anyhow!(
            "cannot render report.md: {e}\nthe measurements are kept in {partial}: fix the problem, then `benchrig report {partial}` renders the report from them"
        ))
    })?;
    let report_dir = folder
        .commit()
        .map_err(aborted("cannot move the report into place"))?;
    Ok(RunOutcome {
        report_dir,
        variants_failed: variants.iter().filter(|v| v.failure.is_some()).count(),
        assertions: assertion_outcomes,
        raw_rows,
    })
}

/// SIGINT, SIGTERM and SIGHUP end the run in order rather than kill benchrig outright.
struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> std::io::Result<Interrupt> {
        Ok(Interrupt {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
        }
    }
}

/// The program of every variant's and service's processes, resolved against its cwd.
fn program_paths(plan: &Plan) -> impl Iterator<Item = PathBuf> + '_ {
    plan.variants
        .iter()
        .flat_map(|v| &v.processes)
        .chain(&plan.services)
        .filter_map(|p| Some(p.cwd.join(p.command.first()?)))
}

/// The programs of every variant's and service's processes, relative to the workdir when
/// inside it.
fn programs(plan: &Plan) -> Vec<String> {
    program_paths(plan)
        .map(|program| shown(&program, &plan.workdir).display().to_string())
        .collect()
}

/// The Python virtual environments the variants run from, relative to `plan.workdir`.
fn python_venvs(plan: &Plan) -> Vec<PathBuf> {
    program_paths(plan)
        .filter_map(|program| {
            let venv = crate::environment::venv_of(program.to_str()?)?;
            Some(
                venv.strip_prefix(&plan.workdir)
                    .map(Path::to_owned)
                    .unwrap_or(venv),
            )
        })
        .collect()
}

/// Setup, services, every trial in the plan's order, then the services stopped.
async fn execute<L: Launcher>(
    launcher: &L,
    plan: &Plan,
    folder: &ReportFolder,
    raw: &RawCsvWriter,
    run_start: Instant,
) -> Result<Vec<VariantResult>, RunError> {
    for argv in &plan.setup {
        run_setup(
            launcher,
            argv,
            &plan.workdir,
            &folder.logs_dir().join("setup.log"),
        )
        .await?;
    }
    let services = start_services(launcher, plan, folder).await?;
    let service_ports: BTreeMap<String, u16> =
        services.iter().map(|s| (s.name.clone(), s.port)).collect();
    let mut results: Vec<VariantResult> = plan
        .variants
        .iter()
        .map(|v| VariantResult {
            name: v.name.clone(),
            argv: v.processes[v.target].command.clone(),
            port: 0,
            ready_after_s: None,
            phases: Vec::new(),
            failure: None,
            stop_note: None,
            warmups: Vec::new(),
        })
        .collect();
    let runs = plan.schedule.order(plan.variants.len(), plan.repeat);
    for (i, &(index, trial)) in runs.iter().enumerate() {
        let variant = &plan.variants[index];
        let result = &mut results[index];
        if result.failure.is_some() {
            continue;
        }
        let of_trials = if plan.repeat > 1 {
            format!(", trial {trial}/{}", plan.repeat)
        } else {
            String::new()
        };
        say(format!(
            "[{}/{}] {}{of_trials}",
            i + 1,
            runs.len(),
            variant.name
        ));
        let trial_run = TrialRun {
            launcher,
            plan,
            variant,
            trial,
            folder,
            raw,
            run_start,
            services: &service_ports,
        };
        trial_run.run(result).await;
        if let Some(failure) = &result.failure {
            say(format!(
                "{}: FAILED during {}: {}\n--- last lines of {}/logs/{} ---\n{}\n---",
                variant.name,
                failure.stage,
                failure.reason,
                folder.final_dir().display(),
                failure.log,
                failure.log_tail
            ));
        }
    }
    for service in services.into_iter().rev() {
        let stopped = service.process.stop();
        if stopped.killed {
            say(format!(
                "service {}: did not stop within its grace period and was killed",
                service.name
            ));
        }
    }
    Ok(results)
}

/// Starts the services, in order, each ready before the next.
async fn start_services<L: Launcher>(
    launcher: &L,
    plan: &Plan,
    folder: &ReportFolder,
) -> Result<Vec<Running<L::Process>>, RunError> {
    let mut running: Vec<Running<L::Process>> = Vec::new();
    for service in &plan.services {
        let ports: BTreeMap<String, u16> =
            running.iter().map(|s| (s.name.clone(), s.port)).collect();
        let scratch = ScratchRoot::dir(&service.name);
        let started = start_process(
            launcher,
            service,
            &format!("service {}", service.name),
            |port| PlaceholderContext {
                experiment: plan.name.clone(),
                name: service.name.clone(),
                port,
                scratch: scratch.clone(),
                services: ports,
                processes: BTreeMap::new(),
                workdir: plan.workdir.clone(),
                write_files: true,
            },
            folder.logs_dir().join(&service.log_name),
        )
        .await;
        match started {
            Ok(started) => {
                trial::keep_rendered(
                    folder,
                    &service.name,
                    std::slice::from_ref(&started),
                    &scratch,
                );
                running.push(started)
            }
            Err(failure) => {
                return Err(RunError::Service {
                    name: service.name.clone(),
                    reason: format!("{}: {}", failure.stage, failure.reason),
                    log: failure.log.display().to_string(),
                    tail: log_tail(&failure.log, LOG_TAIL_LINES),
                })
            }
        }
    }
    Ok(running)
}
