//! Orchestration: the order of things in a run, and nothing else. Setup, then each variant in
//! turn (start, ready, warm-up, phases, stop), then summary, assertions and report, then the
//! report folder replaces the previous one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

use crate::assertions;
use crate::environment::Environment;
use crate::exit_code;
use crate::load::{run_phase, LiveCounters, Target};
use crate::manifest::{
    self, ManifestError, PhasePlan, PlaceholderContext, Plan, ProcessPlan, ReadyProbe, VariantPlan,
};
use crate::output::{
    Export, HistogramsHlog, RawCsvWriter, ReportFolder, RunData, RunJson, SummaryByRequestCsv,
    SummaryCsv, TimeseriesCsv,
};
use crate::process::ResourceSampler;
use crate::process::{self, describe_status, group, log_tail, wait_ready, ManagedProcess};
use crate::progress;
use crate::report;
use crate::results::resources::ResourceSample;
use crate::results::resources::TimedSample;
use crate::results::AssertionOutcome;
use crate::results::{stats, PhaseResult, VariantFailure, VariantResult, WarmupNote};

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
    runtime.block_on(run_plan(&plan, &final_dir, &options.workdir))
}

async fn run_plan(plan: &Plan, final_dir: &Path, workdir: &Path) -> Result<RunOutcome, RunError> {
    let mut interrupt = Interrupt::listen().map_err(aborted("cannot install signal handlers"))?;
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
        final_dir
            .strip_prefix(workdir)
            .unwrap_or(final_dir)
            .display()
    ));

    // Removes the trials' scratch directories however the run ends.
    let _scratch = ScratchRoot;
    let variants = tokio::select! {
        result = execute(plan, &folder, &raw, started.1) => result?,
        signal = interrupt.recv() => {
            // Dropping `execute` stopped every server it had started; make sure of it.
            group::signal_all(Signal::SIGKILL);
            drop(raw);
            return Err(RunError::Interrupted { signal, partial: folder.path().to_owned() });
        }
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
    let data = RunData {
        started: started.0,
        plan,
        variants: &variants,
        assertions: &assertion_outcomes,
        environment: &environment,
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

/// The Python virtual environments the variants run from, relative to `plan.workdir`.
fn python_venvs(plan: &Plan) -> Vec<PathBuf> {
    plan.variants
        .iter()
        .flat_map(|v| &v.processes)
        .chain(&plan.services)
        .filter_map(|p| {
            let program = p.cwd.join(p.command.first()?);
            let venv = crate::environment::venv_of(program.to_str()?)?;
            Some(
                venv.strip_prefix(&plan.workdir)
                    .map(Path::to_owned)
                    .unwrap_or(venv),
            )
        })
        .collect()
}

async fn execute(
    plan: &Plan,
    folder: &ReportFolder,
    raw: &RawCsvWriter,
    run_start: Instant,
) -> Result<Vec<VariantResult>, RunError> {
    for argv in &plan.setup {
        run_setup(argv, &plan.workdir, &folder.logs_dir().join("setup.log")).await?;
    }
    let services = start_services(plan, folder).await?;
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

/// A started process that answered its readiness probe.
struct Running {
    name: String,
    process: ManagedProcess,
    port: u16,
    argv: Vec<String>,
    ready_after: Duration,
    log: PathBuf,
}

/// Why a process could not be started: the stage, the reason, its log.
struct StartFailure {
    stage: &'static str,
    reason: String,
    log: PathBuf,
}

/// Starts `process` on a fresh port and waits until it is ready; `label` names it in the
/// output. A process that is not ready is stopped before returning.
async fn start_process(
    process: &ProcessPlan,
    label: &str,
    ctx: impl FnOnce(u16) -> PlaceholderContext,
    log: PathBuf,
) -> Result<Running, StartFailure> {
    let failure = |stage, reason: String| StartFailure {
        stage,
        reason,
        log: log.clone(),
    };
    let port = process::free_port()
        .map_err(|e| failure("start", format!("no free port on 127.0.0.1: {e}")))?;
    let launch = process
        .launch(&ctx(port))
        .map_err(|e| failure("start", e))?;
    let pinned = process
        .cpus
        .as_ref()
        .map(|cpus| format!(" pinned to CPUs {cpus:?}"))
        .unwrap_or_default();
    say(format!(
        "{label}: starting `{}` on 127.0.0.1:{port}{pinned}",
        shell_words::join(&launch.argv),
    ));
    let managed = ManagedProcess::spawn(
        &launch.argv,
        &launch.env,
        &launch.cwd,
        &log,
        process.stop,
        process.cpus.as_deref(),
    )
    .map_err(|e| failure("start", e.to_string()))?;
    let probe = match &process.ready {
        ReadyProbe::Http(path) => format!("GET {path} answering 2xx"),
        ReadyProbe::Tcp => "the port accepting connections".to_owned(),
    };
    say(format!(
        "{label}: pid {} (process group {}); waiting up to {} for {probe}",
        managed.pid(),
        managed.process_group(),
        humantime::format_duration(process.ready_timeout)
    ));
    match wait_ready(
        &managed,
        &process.ready,
        port,
        process.ready_timeout,
        process.ready_interval,
    )
    .await
    {
        Ok(ready_after) => Ok(Running {
            name: process.name.clone(),
            process: managed,
            port,
            argv: launch.argv,
            ready_after,
            log,
        }),
        Err(e) => {
            managed.stop();
            Err(failure("ready", e.to_string()))
        }
    }
}

/// Starts the services, in order, each ready before the next.
async fn start_services(plan: &Plan, folder: &ReportFolder) -> Result<Vec<Running>, RunError> {
    let mut running: Vec<Running> = Vec::new();
    for service in &plan.services {
        let ports: BTreeMap<String, u16> =
            running.iter().map(|s| (s.name.clone(), s.port)).collect();
        let scratch = scratch_dir(&service.name);
        let started = start_process(
            service,
            &format!("service {}", service.name),
            |port| PlaceholderContext {
                experiment: plan.name.clone(),
                name: service.name.clone(),
                port,
                scratch,
                services: ports,
                processes: BTreeMap::new(),
                workdir: plan.workdir.clone(),
                write_files: true,
            },
            folder.logs_dir().join(&service.log_name),
        )
        .await;
        match started {
            Ok(service) => running.push(service),
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

/// Where this run's trials keep the files their processes render.
fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("benchrig-{}", std::process::id()))
}

/// A directory for the files a trial's processes render (`{{ scratch }}`).
fn scratch_dir(name: &str) -> PathBuf {
    scratch_root().join(name)
}

struct ScratchRoot;

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(scratch_root());
    }
}

async fn run_setup(argv: &[String], workdir: &Path, log: &Path) -> Result<(), RunError> {
    let command = shell_words::join(argv);
    say(format!("setup: {command}"));
    let failed = |reason: String| RunError::Setup {
        command: command.clone(),
        reason,
        log: log.display().to_string(),
        tail: log_tail(log, LOG_TAIL_LINES),
    };
    let process = ManagedProcess::spawn(
        argv,
        &Default::default(),
        workdir,
        log,
        manifest::StopPlan {
            signal: nix::sys::signal::Signal::SIGTERM,
            to: manifest::StopTarget::Group,
            grace: Duration::from_secs(5),
        },
        None,
    )
    .map_err(|e| failed(e.to_string()))?;
    let status = loop {
        if let Some(status) = process.exit_status() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    process.stop();
    if status.success() {
        Ok(())
    } else {
        Err(failed(format!("exited with {}", describe_status(&status))))
    }
}

/// One trial of a variant.
struct TrialRun<'a> {
    plan: &'a Plan,
    variant: &'a VariantPlan,
    trial: u32,
    folder: &'a ReportFolder,
    raw: &'a RawCsvWriter,
    run_start: Instant,
    /// Ports of the running services.
    services: &'a BTreeMap<String, u16>,
}

impl TrialRun<'_> {
    fn stage(&self, name: &str) -> String {
        if self.plan.repeat > 1 {
            format!("{name} (trial {})", self.trial)
        } else {
            name.to_owned()
        }
    }

    fn failure(&self, stage: &str, reason: String, log: &Path) -> Option<VariantFailure> {
        Some(VariantFailure {
            stage: self.stage(stage),
            reason,
            log_tail: log_tail(log, LOG_TAIL_LINES),
            log: log
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// A fresh start of every process, readiness, warm-up, every phase, stop. Adds the phases
    /// to `result`, or sets its failure.
    async fn run(&self, result: &mut VariantResult) {
        let variant = self.variant;
        let scratch = scratch_dir(&format!("{}-{}", variant.name, self.trial));
        if self.plan.repeat > 1 {
            // Trials share the variant's logs; mark where each begins.
            use std::io::Write;
            for process in &variant.processes {
                let path = self.folder.logs_dir().join(&process.log_name);
                if let Ok(mut log) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = writeln!(
                        log,
                        "=== benchrig: trial {} of {} ===",
                        self.trial, self.plan.repeat
                    );
                }
            }
        }
        let mut running: Vec<Running> = Vec::new();
        for process in &variant.processes {
            let ports: BTreeMap<String, u16> =
                running.iter().map(|p| (p.name.clone(), p.port)).collect();
            let label = if variant.processes.len() == 1 {
                variant.name.clone()
            } else {
                format!("{} ({})", variant.name, process.name)
            };
            let started = start_process(
                process,
                &label,
                |port| PlaceholderContext {
                    experiment: self.plan.name.clone(),
                    name: variant.name.clone(),
                    port,
                    scratch: scratch.clone(),
                    services: self.services.clone(),
                    processes: ports,
                    workdir: self.plan.workdir.clone(),
                    write_files: true,
                },
                self.folder.logs_dir().join(&process.log_name),
            )
            .await;
            match started {
                Ok(process) => running.push(process),
                Err(failure) => {
                    result.failure = self.failure(failure.stage, failure.reason, &failure.log);
                    stop_all(running, variant, result);
                    let _ = std::fs::remove_dir_all(&scratch);
                    return;
                }
            }
        }
        let target = &running[variant.target];
        result.argv = target.argv.clone();
        result.port = target.port;
        result.ready_after_s.get_or_insert(
            running
                .iter()
                .map(|p| p.ready_after)
                .sum::<Duration>()
                .as_secs_f64(),
        );
        match Target::new(target.port, &self.plan.requests) {
            Ok(load_target) => self.load(&load_target, &running, result).await,
            Err(e) => result.failure = self.failure("start", e, &target.log),
        }
        stop_all(running, variant, result);
        let _ = std::fs::remove_dir_all(&scratch);
    }

    /// Warm-up and phases against the running processes; stops at the first that exits.
    async fn load(&self, target: &Target, running: &[Running], result: &mut VariantResult) {
        let (plan, variant, trial) = (self.plan, self.variant, self.trial);
        // The failure of the first process that exited, if one did.
        let exited_under_load = |stage: &str| {
            running.iter().find_map(|p| {
                let status = p.process.exit_status()?;
                let reason = format!(
                    "{} exited with {} under load",
                    p.name,
                    describe_status(&status)
                );
                self.failure(stage, reason, &p.log)
            })
        };
        let leaders: Vec<i32> = running.iter().map(|p| p.process.process_group()).collect();
        let load_cpus = plan.phases.first().and_then(|p| p.client.cpus.clone());
        let sampling = Sampling::start(leaders, plan.sample_every, self.run_start, load_cpus);
        if let Some(warmup) = &plan.warmup {
            let note = warm_up(&variant.name, warmup, target, trial).await;
            result.warmups.push(note);
            if let Some(failure) = exited_under_load("warmup") {
                result.failure = Some(failure);
                return;
            }
        }
        for phase in &plan.phases {
            self.raw
                .begin_phase(&variant.name, &phase.name, trial, target.request_names());
            let phase_start = self.run_start.elapsed();
            let live = Arc::new(LiveCounters::default());
            let label = format!("{}: {}", variant.name, phase.name);
            let recording = progress::track(
                &label,
                phase,
                &live,
                run_phase(phase, target, Some(self.raw.sink()), live.clone()),
            )
            .await;
            let phase_result = PhaseResult::from_recording(
                &phase.name,
                trial,
                phase_start,
                &recording,
                &sampling.samples(),
            );
            say(describe_result(&variant.name, &phase_result));
            result.phases.push(phase_result);
            if let Some(failure) = exited_under_load(&phase.name) {
                result.failure = Some(failure);
                return;
            }
        }
    }
}

/// Stops a variant's processes, the last started first, and notes any that needed SIGKILL.
fn stop_all(running: Vec<Running>, variant: &VariantPlan, result: &mut VariantResult) {
    for process in running.into_iter().rev() {
        let grace = variant
            .processes
            .iter()
            .find(|p| p.name == process.name)
            .map_or(Duration::ZERO, |p| p.stop.grace);
        let stopped = process.process.stop();
        if stopped.killed {
            let who = if variant.processes.len() == 1 {
                String::new()
            } else {
                format!("{} ", process.name)
            };
            result.stop_note = Some(format!(
                "{who}did not exit within {} of its stop signal and was killed",
                humantime::format_duration(grace)
            ));
        }
        if !stopped.survivors.is_empty() {
            say(format!(
                "warning: {}: processes {:?} survived SIGKILL (stuck in the kernel?)",
                variant.name, stopped.survivors
            ));
        }
    }
}

/// Samples a variant's process tree (and benchrig) in the background while a trial runs, on a
/// thread of its own: reading /proc blocks, and the thread runs on the load generator's CPUs
/// (`load.cpus`), never on the server's.
struct Sampling {
    samples: Arc<std::sync::Mutex<Vec<TimedSample>>>,
    /// Dropping it stops the thread.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampling {
    /// Samples the process trees of `leaders` (a variant's processes) as one.
    fn start(
        leaders: Vec<i32>,
        every: Duration,
        run_start: Instant,
        cpus: Option<Vec<usize>>,
    ) -> Sampling {
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = samples.clone();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Some(cpus) = &cpus {
                crate::affinity::pin_current_thread(cpus, "the resource sampler");
            }
            let mut samplers: Vec<ResourceSampler> =
                leaders.into_iter().map(ResourceSampler::new).collect();
            let mut next = Instant::now() + every;
            loop {
                // Ticks keep their schedule; a slow sample delays the next one, never doubles it.
                let wait = next.saturating_duration_since(Instant::now());
                if stopped.recv_timeout(wait) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
                next = (next + every).max(Instant::now());
                let Some(sample) =
                    samplers
                        .iter_mut()
                        .map(ResourceSampler::sample)
                        .reduce(|sum, s| ResourceSample {
                            cpu_pct: sum.cpu_pct + s.cpu_pct,
                            rss_bytes: sum.rss_bytes + s.rss_bytes,
                            pss_bytes: sum.pss_bytes + s.pss_bytes,
                            uss_bytes: sum.uss_bytes + s.uss_bytes,
                            processes: sum.processes + s.processes,
                            threads: sum.threads + s.threads,
                            // benchrig's own CPU: every sampler reads the same process.
                            ..sum
                        })
                else {
                    continue;
                };
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((run_start.elapsed(), sample));
            }
        });
        Sampling {
            samples,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn samples(&self) -> Vec<TimedSample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Sampling {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Seconds of per-second requests compared to decide that a warm-up is stable.
const STABLE_WINDOW: usize = 3;

/// Runs the warm-up (never recorded). With `until_stable`, ends it as soon as requests/s over
/// the last seconds vary by less than the threshold.
async fn warm_up(variant: &str, warmup: &PhasePlan, target: &Target, trial: u32) -> WarmupNote {
    let live = Arc::new(LiveCounters::default());
    let label = format!("{variant}: warm-up");
    let work = progress::track(
        &label,
        warmup,
        &live,
        run_phase(warmup, target, None, live.clone()),
    );
    tokio::pin!(work);
    let started = Instant::now();
    let mut stable_after = None;
    let recording = match warmup.until_stable {
        None => work.await,
        Some(threshold) => {
            let monitor = async {
                let mut per_second = Vec::new();
                let mut previous = 0;
                let mut tick = tokio::time::interval_at(
                    tokio::time::Instant::now() + Duration::from_secs(1),
                    Duration::from_secs(1),
                );
                loop {
                    tick.tick().await;
                    let now = live.requests();
                    per_second.push((now - previous) as f64);
                    previous = now;
                    let window = &per_second[per_second.len().saturating_sub(STABLE_WINDOW)..];
                    if window.len() == STABLE_WINDOW
                        && stats::relative_range(window).is_some_and(|r| r < threshold)
                    {
                        live.request_stop();
                        return started.elapsed();
                    }
                }
            };
            tokio::select! {
                recording = &mut work => recording,
                at = monitor => {
                    stable_after = Some(at);
                    work.await
                }
            }
        }
    };
    let seconds = recording.elapsed.as_secs_f64();
    let how = match (warmup.until_stable, stable_after) {
        (Some(_), Some(at)) => format!("stable after {:.1} s", at.as_secs_f64()),
        (Some(threshold), None) => format!(
            "not stable within {:.0} s (requests/s varied by {:.0} % or more)",
            seconds,
            threshold * 100.0
        ),
        (None, _) => format!("{seconds:.1} s"),
    };
    say(format!(
        "{variant}: warm-up: {} requests, {how} (not recorded)",
        recording.total().requests()
    ));
    WarmupNote {
        trial,
        seconds: (seconds * 10.0).round() / 10.0,
        stable: warmup.until_stable.map(|_| stable_after.is_some()),
    }
}

fn describe_result(variant: &str, result: &PhaseResult) -> String {
    let m = &result.metrics;
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.2} ms"));
    let mut line = format!(
        "{variant}: {}: {} requests in {:.1} s, {:.1} req/s, p50 {}, p99 {}, errors {}",
        result.phase,
        m.requests,
        m.duration_s,
        m.rps,
        ms(m.p50_ms),
        ms(m.p99_ms),
        m.errors
    );
    if let Some(target) = m.target_rps {
        line.push_str(&format!(
            " (target {target:.1} req/s; dropped {}, lagged {})",
            m.dropped, m.lagged
        ));
    }
    line
}
