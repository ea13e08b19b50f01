//! The seam between the order of a run and the world outside benchrig: starting and stopping
//! processes, probing readiness, sending load and sampling resources. The runner decides what
//! happens when; a [`Launcher`] only does it. [`LocalLauncher`] does it for real (processes on
//! this machine, the load engine); the runner's unit tests use a scripted fake.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{self, LiveCounters, RawSink, Target};
use crate::manifest::{PhasePlan, ReadyProbe, StopPlan};
use crate::process::{self, group, ManagedProcess, NotReady, Sampling, StopReport};
use crate::results::resources::TimedSample;
use crate::results::PhaseRecording;

/// Everything the runner does to the outside world.
pub(crate) trait Launcher {
    type Process: Launched;
    type Sampling: Sampled;

    /// A free TCP port on 127.0.0.1 for a process about to start.
    fn free_port(&self) -> io::Result<u16>;

    /// Starts `argv` in its own process group, its output appended to `log`.
    fn spawn(
        &self,
        argv: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
        log: &Path,
        stop: StopPlan,
        cpus: Option<&[usize]>,
    ) -> io::Result<Self::Process>;

    /// Waits until `process` answers `probe` on `port`; returns how long that took.
    async fn wait_ready(
        &self,
        process: &Self::Process,
        probe: &ReadyProbe,
        port: u16,
        timeout: Duration,
        interval: Duration,
    ) -> Result<Duration, NotReady>;

    /// Runs one load phase (or the warm-up, with no `raw` sink) against `target`.
    async fn run_phase(
        &self,
        phase: &PhasePlan,
        target: &Target,
        raw: Option<RawSink>,
        live: Arc<LiveCounters>,
    ) -> PhaseRecording;

    /// Starts sampling the process trees led by `groups` until the result is dropped.
    fn sample(
        &self,
        groups: Vec<i32>,
        every: Duration,
        run_start: Instant,
        cpus: Option<Vec<usize>>,
    ) -> Self::Sampling;

    /// Kills every process group still running: the last word after an interrupt.
    fn kill_all(&self);
}

/// A started process.
pub(crate) trait Launched {
    fn pid(&self) -> u32;
    fn process_group(&self) -> i32;
    /// The leader's exit status if it has exited.
    fn exit_status(&self) -> Option<ExitStatus>;
    /// Stops the process and all it started; dropping it unstopped stops it too.
    fn stop(self) -> StopReport;
}

/// Resource samples taken so far.
pub(crate) trait Sampled {
    fn samples(&self) -> Vec<TimedSample>;
}

/// Real processes on this machine and the load engine.
pub(crate) struct LocalLauncher;

impl Launcher for LocalLauncher {
    type Process = ManagedProcess;
    type Sampling = Sampling;

    fn free_port(&self) -> io::Result<u16> {
        process::free_port()
    }

    fn spawn(
        &self,
        argv: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
        log: &Path,
        stop: StopPlan,
        cpus: Option<&[usize]>,
    ) -> io::Result<ManagedProcess> {
        ManagedProcess::spawn(argv, env, cwd, log, stop, cpus)
    }

    async fn wait_ready(
        &self,
        process: &ManagedProcess,
        probe: &ReadyProbe,
        port: u16,
        timeout: Duration,
        interval: Duration,
    ) -> Result<Duration, NotReady> {
        process::wait_ready(process, probe, port, timeout, interval).await
    }

    async fn run_phase(
        &self,
        phase: &PhasePlan,
        target: &Target,
        raw: Option<RawSink>,
        live: Arc<LiveCounters>,
    ) -> PhaseRecording {
        load::run_phase(phase, target, raw, live).await
    }

    fn sample(
        &self,
        groups: Vec<i32>,
        every: Duration,
        run_start: Instant,
        cpus: Option<Vec<usize>>,
    ) -> Sampling {
        Sampling::start(groups, every, run_start, cpus)
    }

    fn kill_all(&self) {
        group::signal_all(nix::sys::signal::Signal::SIGKILL);
    }
}

impl Launched for ManagedProcess {
    fn pid(&self) -> u32 {
        ManagedProcess::pid(self)
    }

    fn process_group(&self) -> i32 {
        ManagedProcess::process_group(self)
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        ManagedProcess::exit_status(self)
    }

    fn stop(self) -> StopReport {
        ManagedProcess::stop(self)
    }
}

impl Sampled for Sampling {
    fn samples(&self) -> Vec<TimedSample> {
        Sampling::samples(self)
    }
}
