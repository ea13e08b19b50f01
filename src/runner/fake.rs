//! A scripted [`Launcher`] for the runner's unit tests, like hyperfine's mock executor: no
//! process, no socket, no load. It records what the runner asked, in order, and answers from a
//! script: which processes never become ready, which exit during a phase, when an interrupt
//! comes.
//!
//! Processes are known by the stem of their log file: the variant's name for a variant of one
//! process, `setup` for setup commands.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::Notify;

use super::launcher::{Launched, Launcher, Sampled};
use crate::load::{LiveCounters, RawMessage, RawRow, RawSink, Target};
use crate::manifest::{PhasePlan, ReadyProbe, StopPlan};
use crate::process::{NotReady, StopReport};
use crate::results::resources::TimedSample;
use crate::results::{PhaseRecording, Tally, Timeline};

/// Requests every fake phase records, one raw row each.
pub const REQUESTS_PER_PHASE: u64 = 10;

/// What the fake does besides succeeding.
#[derive(Debug, Default)]
pub struct Script {
    /// Processes that exit with status 3 instead of becoming ready.
    pub never_ready: Vec<&'static str>,
    /// (process, phase): the process exits with status 1 during the first run of the phase.
    pub crash: Option<(&'static str, &'static str)>,
    /// Setup commands exit with status 101.
    pub setup_fails: bool,
    /// The call (as recorded, e.g. `stop a` or `phase b quick`) at whose first occurrence SIGINT
    /// arrives. A phase interrupted this way never ends.
    pub interrupt_at: Option<&'static str>,
}

pub struct FakeLauncher {
    script: Script,
    log: Rc<CallLog>,
    next_pid: Cell<u32>,
    /// The process that last became ready: the one the load goes to.
    loaded: RefCell<Option<FakeProcess>>,
}

/// The calls so far, shared with the fake processes, and the interrupt they may send.
struct CallLog {
    calls: RefCell<Vec<String>>,
    interrupt_at: Option<&'static str>,
    interrupt: Rc<Notify>,
    /// Scripted events that already happened.
    fired: RefCell<Vec<String>>,
}

impl CallLog {
    /// Records `call`; true the first time the script interrupts there (the interrupt is sent).
    fn record(&self, call: String) -> bool {
        let interrupts = self.interrupt_at == Some(call.as_str()) && self.fire(&call);
        if interrupts {
            self.interrupt.notify_one();
        }
        self.calls.borrow_mut().push(call);
        interrupts
    }

    /// True the first time `event` is asked for.
    fn fire(&self, event: &str) -> bool {
        let mut fired = self.fired.borrow_mut();
        let first = !fired.iter().any(|e| e == event);
        if first {
            fired.push(event.to_owned());
        }
        first
    }
}

impl FakeLauncher {
    pub fn new(script: Script) -> FakeLauncher {
        FakeLauncher {
            log: Rc::new(CallLog {
                calls: RefCell::default(),
                interrupt_at: script.interrupt_at,
                interrupt: Rc::new(Notify::new()),
                fired: RefCell::default(),
            }),
            script,
            next_pid: Cell::new(1000),
            loaded: RefCell::new(None),
        }
    }

    /// Every call so far, e.g. `start a`, `ready a`, `sample a`, `phase a quick`, `stop a`.
    pub fn calls(&self) -> Vec<String> {
        self.log.calls.borrow().clone()
    }

    /// Resolves when the script's interrupt comes.
    pub fn interrupt(&self) -> impl std::future::Future<Output = Signal> {
        let notify = self.log.interrupt.clone();
        async move {
            notify.notified().await;
            Signal::SIGINT
        }
    }

    fn record(&self, call: String) -> bool {
        self.log.record(call)
    }

    fn loaded_name(&self) -> String {
        self.loaded
            .borrow()
            .as_ref()
            .map_or_else(String::new, |p| p.name.clone())
    }
}

/// A process that exists only in the fake's record.
#[derive(Clone)]
pub struct FakeProcess {
    name: String,
    pid: u32,
    exited: Rc<Cell<Option<ExitStatus>>>,
    log: Rc<CallLog>,
    stopped: Rc<Cell<bool>>,
}

impl FakeProcess {
    fn exit(&self, code: i32) {
        self.exited.set(Some(ExitStatus::from_raw(code << 8)));
    }

    fn stop_once(&self) {
        if !self.stopped.replace(true) {
            self.log.record(format!("stop {}", self.name));
        }
    }
}

/// The runner's handle of a fake process: stopping or dropping it stops the process, as with a
/// real one. The fake's own clone (the loaded process) never does.
pub struct Handle(FakeProcess);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.stop_once();
    }
}

impl Launched for Handle {
    fn pid(&self) -> u32 {
        self.0.pid
    }

    fn process_group(&self) -> i32 {
        self.0.pid as i32
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        self.0.exited.get()
    }

    fn stop(self) -> StopReport {
        self.0.stop_once();
        StopReport {
            status: self.0.exited.get(),
            killed: false,
            survivors: Vec::new(),
        }
    }
}

pub struct NoSamples;

impl Sampled for NoSamples {
    fn samples(&self) -> Vec<TimedSample> {
        Vec::new()
    }
}

impl Launcher for FakeLauncher {
    type Process = Handle;
    type Sampling = NoSamples;

    fn free_port(&self) -> io::Result<u16> {
        Ok(40000 + (self.next_pid.get() % 1000) as u16)
    }

    fn spawn(
        &self,
        _argv: &[String],
        _env: &BTreeMap<String, String>,
        _cwd: &Path,
        log: &Path,
        _stop: StopPlan,
        _cpus: Option<&[usize]>,
    ) -> io::Result<Handle> {
        let name = log
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.record(format!("start {name}"));
        let pid = self.next_pid.get();
        self.next_pid.set(pid + 1);
        let process = FakeProcess {
            name: name.clone(),
            pid,
            exited: Rc::default(),
            log: self.log.clone(),
            stopped: Rc::default(),
        };
        if name == "setup" {
            process.exit(if self.script.setup_fails { 101 } else { 0 });
        }
        Ok(Handle(process))
    }

    async fn wait_ready(
        &self,
        process: &Handle,
        _probe: &ReadyProbe,
        _port: u16,
        _timeout: Duration,
        _interval: Duration,
    ) -> Result<Duration, NotReady> {
        // A real probe always waits: this is where an interrupt between trials is noticed.
        tokio::task::yield_now().await;
        let process = &process.0;
        if self.script.never_ready.contains(&process.name.as_str()) {
            process.exit(3);
            return Err(NotReady::Exited(process.exited.get().expect("just exited")));
        }
        self.record(format!("ready {}", process.name));
        *self.loaded.borrow_mut() = Some(process.clone());
        Ok(Duration::from_millis(5))
    }

    async fn run_phase(
        &self,
        phase: &PhasePlan,
        target: &Target,
        raw: Option<RawSink>,
        _live: Arc<LiveCounters>,
    ) -> PhaseRecording {
        tokio::task::yield_now().await;
        let name = self.loaded_name();
        let what = if raw.is_some() {
            phase.name.as_str()
        } else {
            "warm-up"
        };
        if self.record(format!("phase {name} {what}")) {
            std::future::pending::<()>().await;
        }
        if self.script.crash == Some((name.as_str(), phase.name.as_str()))
            && self.log.fire(&format!("crash {name}"))
        {
            if let Some(process) = &*self.loaded.borrow() {
                process.exit(1);
            }
        }
        recording(target, raw)
    }

    fn sample(
        &self,
        groups: Vec<i32>,
        _every: Duration,
        _run_start: Instant,
        _cpus: Option<Vec<usize>>,
    ) -> NoSamples {
        self.record(format!("sample {} (groups {groups:?})", self.loaded_name()));
        NoSamples
    }

    fn kill_all(&self) {
        self.record("kill all".to_owned());
    }
}

/// [`REQUESTS_PER_PHASE`] answers of 1 ms, sent to `raw` as rows.
fn recording(target: &Target, raw: Option<RawSink>) -> PhaseRecording {
    let mut tally = Tally::new();
    let mut timeline = Timeline::default();
    let mut rows = Vec::new();
    for i in 0..REQUESTS_PER_PHASE {
        let start_us = i * 1000;
        tally.record_response(1000, 200, 5);
        timeline.record(start_us + 1000, Some(1000), false);
        rows.push(RawRow {
            request: 0,
            vu: 0,
            scheduled_us: start_us,
            start_us,
            latency_us: 1000,
            status: 200,
            bytes: 5,
            error: None,
            dropped: false,
        });
    }
    if let Some(raw) = raw {
        let _ = raw.send(RawMessage::Rows(rows));
    }
    PhaseRecording {
        // One answer a millisecond.
        elapsed: Duration::from_millis(REQUESTS_PER_PHASE),
        by_request: vec![(target.request_names()[0].clone(), tally)],
        timeline,
        offered_rps: None,
        workers: 1,
    }
}
