//! One trial of a variant: a fresh start of every process, readiness, warm-up, every phase,
//! stop.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::launcher::{Launched, Launcher, Sampled};
use super::start::{start_process, Running};
use super::warmup::warm_up;
use super::{say, LOG_TAIL_LINES};
use crate::load::{LiveCounters, Target};
use crate::manifest::{PlaceholderContext, Plan, VariantPlan};
use crate::output::{RawCsvWriter, ReportFolder, ScratchRoot};
use crate::process::{describe_status, log_tail};
use crate::progress;
use crate::results::{PhaseResult, VariantFailure, VariantResult};

/// One trial of a variant.
pub(crate) struct TrialRun<'a, L> {
    pub launcher: &'a L,
    pub plan: &'a Plan,
    pub variant: &'a VariantPlan,
    pub trial: u32,
    pub folder: &'a ReportFolder,
    pub raw: &'a RawCsvWriter,
    pub run_start: Instant,
    /// Ports of the running services.
    pub services: &'a BTreeMap<String, u16>,
}

impl<L: Launcher> TrialRun<'_, L> {
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
    pub async fn run(&self, result: &mut VariantResult) {
        let variant = self.variant;
        let scratch = ScratchRoot::dir(&format!("{}-{}", variant.name, self.trial));
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
        let mut running: Vec<Running<L::Process>> = Vec::new();
        for process in &variant.processes {
            let ports: BTreeMap<String, u16> =
                running.iter().map(|p| (p.name.clone(), p.port)).collect();
            let label = if variant.processes.len() == 1 {
                variant.name.clone()
            } else {
                format!("{} ({})", variant.name, process.name)
            };
            let started = start_process(
                self.launcher,
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
        if self.trial == 1 {
            keep_rendered(self.folder, &variant.name, &running, &scratch);
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
    async fn load(
        &self,
        target: &Target,
        running: &[Running<L::Process>],
        result: &mut VariantResult,
    ) {
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
        let sampling = self
            .launcher
            .sample(leaders, plan.sample_every, self.run_start, load_cpus);
        if let Some(warmup) = &plan.warmup {
            let note = warm_up(self.launcher, &variant.name, warmup, target, trial).await;
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
                self.launcher
                    .run_phase(phase, target, Some(self.raw.sink()), live.clone()),
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
fn stop_all<P: Launched>(
    running: Vec<Running<P>>,
    variant: &VariantPlan,
    result: &mut VariantResult,
) {
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

/// Copies the files benchrig rendered into `scratch` for these processes (the arguments that
/// name them) into the report folder; a file that cannot be copied is only missing there.
pub(crate) fn keep_rendered<P>(
    folder: &crate::output::ReportFolder,
    owner: &str,
    running: &[Running<P>],
    scratch: &std::path::Path,
) {
    for arg in running.iter().flat_map(|p| &p.argv) {
        let path = std::path::Path::new(arg);
        if path.starts_with(scratch) && path.is_file() {
            let _ = folder.keep_rendered(owner, path);
        }
    }
}
