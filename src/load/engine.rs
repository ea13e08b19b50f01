//! The load engine's hot path: worker threads, each a single-threaded runtime with its own
//! transport and recorder. Closed models run virtual users (VUs) as local tasks; the open
//! model runs an arrival loop that sends each request at its intended time, whatever the
//! server does. Nothing is shared between workers but the phase clock, the iteration counter,
//! the live counters and the cancel flag.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use super::recorder::{RawSink, Recorder, Timing};
use super::target::Target;
use super::timer::PreciseTimer;
use super::transport::{with_transport, OnTransport, Outcome, Transport};
use crate::manifest::{ClientSettings, LoadModel, PhasePlan, Ramp, StopCondition};
use crate::results::{PhaseRecording, Tally, Timeline};

/// Counters a progress display reads while a phase runs, and a way to end the phase early.
/// Each counter sits on its own cache line so workers updating one do not slow the other.
#[derive(Debug, Default)]
pub struct LiveCounters {
    requests: PaddedCounter,
    errors: PaddedCounter,
    stop: AtomicBool,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

impl LiveCounters {
    pub fn requests(&self) -> u64 {
        self.requests.0.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.0.load(Ordering::Relaxed)
    }

    /// Asks the phase to start no new requests; those in flight complete and are recorded.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn count(&self, outcome: &Outcome) {
        self.requests.0.fetch_add(1, Ordering::Relaxed);
        if !matches!(outcome, Ok((status, _)) if *status < 400) {
            self.errors.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sets the cancel flag when dropped, so a phase abandoned mid-way (Ctrl-C) stops its VUs.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What every worker of a phase shares.
struct PhaseShared {
    load: LoadModel,
    think: Option<Duration>,
    client: ClientSettings,
    workers: usize,
    live: Arc<LiveCounters>,
    /// Iterations started so far (shared-iterations mode).
    issued: AtomicU64,
    cancel: Arc<AtomicBool>,
    /// Set once by the first worker through the start barrier.
    start: OnceLock<Instant>,
    barrier: Barrier,
}

impl PhaseShared {
    fn stopped(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.live.stop.load(Ordering::Relaxed)
    }

    /// Claims the next iteration of a closed model, or says the phase is over.
    fn claim_iteration(&self, start: Instant) -> bool {
        if self.stopped() {
            return false;
        }
        match &self.load {
            LoadModel::Closed {
                stop: StopCondition::Duration(d),
                ..
            } => start.elapsed() < *d,
            LoadModel::Closed {
                stop: StopCondition::Iterations(n),
                ..
            } => self.issued.fetch_add(1, Ordering::Relaxed) < *n,
            LoadModel::RampingVus(ramp) => start.elapsed() < ramp.total_duration(),
            LoadModel::Open { .. } => false,
        }
    }

    /// Whether a VU about to think would have any iteration left afterwards.
    fn worth_waiting(&self, start: Instant, think: Duration) -> bool {
        match &self.load {
            LoadModel::Closed {
                stop: StopCondition::Iterations(n),
                ..
            } => self.issued.load(Ordering::Relaxed) < *n,
            model => model
                .duration()
                .is_some_and(|d| start.elapsed() + think < d),
        }
    }
}

/// How many worker threads drive a phase: as configured or one per core, never more than the
/// phase's concurrency.
fn worker_count(phase: &PhasePlan) -> usize {
    let cores = match &phase.client.cpus {
        Some(cpus) => cpus.len(),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let wanted = phase.client.workers.map_or(cores, |w| w as usize);
    wanted.min(phase.load.concurrency() as usize).max(1)
}

/// Runs one phase against `target` and returns what it recorded. Raw rows go to `raw` when
/// given; `live` counts requests as they complete and can end the phase early. Dropping the
/// returned future cancels the phase.
pub async fn run_phase(
    phase: &PhasePlan,
    target: &Target,
    raw: Option<RawSink>,
    live: Arc<LiveCounters>,
) -> PhaseRecording {
    let workers = worker_count(phase);
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let shared = Arc::new(PhaseShared {
        load: phase.load.clone(),
        think: phase.think,
        client: phase.client.clone(),
        workers,
        live,
        issued: AtomicU64::new(0),
        cancel,
        start: OnceLock::new(),
        barrier: Barrier::new(workers),
    });
    let mut done = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (shared, target, raw) = (shared.clone(), target.clone(), raw.clone());
        std::thread::Builder::new()
            .name(format!("benchrig-load-{worker}"))
            .spawn(move || {
                let _ = tx.send(run_worker(&shared, &target, worker, raw));
            })
            .expect("cannot start a load worker thread");
        done.push(rx);
    }
    let names = target.request_names();
    let mut by_request: Vec<Tally> = names.iter().map(|_| Tally::new()).collect();
    let mut timeline = Timeline::default();
    let mut last_completion = None;
    for rx in done {
        let outcome = rx.await.expect("a load worker panicked");
        for (sum, tally) in by_request.iter_mut().zip(&outcome.tallies) {
            sum.merge(tally);
        }
        timeline.merge(&outcome.timeline);
        last_completion = last_completion.max(outcome.last_completion);
    }
    let start = *shared.start.get().expect("workers set the start");
    let measured = last_completion.map_or(Duration::ZERO, |end| end - start);
    // A timed phase lasts at least its duration even if its last VU was thinking, unless it
    // was asked to stop early.
    let stopped_early = shared.live.stop.load(Ordering::Relaxed);
    let elapsed = match phase.load.duration() {
        Some(d) if !stopped_early => measured.max(d),
        _ => measured,
    };
    let offered_rps = match &phase.load {
        LoadModel::Open { rate, .. } => Some(rate.integral() / rate.total_duration().as_secs_f64()),
        _ => None,
    };
    PhaseRecording {
        elapsed,
        by_request: names.iter().cloned().zip(by_request).collect(),
        timeline,
        offered_rps,
        workers,
    }
}

struct WorkerOutcome {
    tallies: Vec<Tally>,
    timeline: Timeline,
    last_completion: Option<Instant>,
}

/// The state the tasks of one worker share, on that worker's thread only.
struct WorkerContext<T: Transport> {
    shared: Arc<PhaseShared>,
    target: Target,
    transport: T,
    /// Open model: connections not in use, kept for the next arrivals.
    idle: RefCell<Vec<T::Connection>>,
    start: Instant,
    recorder: RefCell<Recorder>,
    last_completion: Cell<Option<Instant>>,
}

impl<T: Transport> WorkerContext<T> {
    /// Sends request `index` on `connection` and records it; `due` is its intended time in the
    /// open model (the closed model sends when due).
    async fn send_and_record(
        &self,
        index: usize,
        vu: u32,
        due: Option<Instant>,
        connection: &mut T::Connection,
    ) {
        let sent = Instant::now();
        let scheduled = due.unwrap_or(sent);
        let exchange = self.transport.send(connection, index).await;
        let completed = Instant::now();
        self.shared.live.count(&exchange.outcome);
        let timing = Timing {
            scheduled: scheduled - self.start,
            sent: sent - self.start,
            completed: completed - self.start,
        };
        self.recorder
            .borrow_mut()
            .record(index, vu, timing, exchange);
        self.last_completion.set(Some(completed));
    }
}

/// One worker thread: a current-thread runtime running its share of the phase on the phase's
/// transport.
fn run_worker(
    shared: &Arc<PhaseShared>,
    target: &Target,
    worker: usize,
    raw: Option<RawSink>,
) -> WorkerOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a load worker runtime");
    let _context = runtime.enter();
    if let Some(cpus) = &shared.client.cpus {
        crate::affinity::pin_current_thread(&[cpus[worker % cpus.len()]], "a load thread");
    }
    let job = WorkerJob {
        runtime: &runtime,
        shared,
        target,
        worker,
        raw,
    };
    with_transport(&shared.client, target, job)
}

/// What a worker runs once its transport is chosen.
struct WorkerJob<'a> {
    runtime: &'a tokio::runtime::Runtime,
    shared: &'a Arc<PhaseShared>,
    target: &'a Target,
    worker: usize,
    raw: Option<RawSink>,
}

impl OnTransport for WorkerJob<'_> {
    type Output = WorkerOutcome;

    fn run<T: Transport>(self, transport: T) -> WorkerOutcome {
        let WorkerJob {
            runtime,
            shared,
            target,
            worker,
            raw,
        } = self;
        let recorder = Recorder::new(target.request_names().len(), shared.load.is_open(), raw);
        // Every worker is ready before the clock starts, so thread start-up is not measured.
        shared.barrier.wait();
        let start = *shared.start.get_or_init(Instant::now);
        let context = Rc::new(WorkerContext {
            shared: shared.clone(),
            target: target.clone(),
            transport,
            idle: RefCell::new(Vec::new()),
            start,
            recorder: RefCell::new(recorder),
            last_completion: Cell::new(None),
        });
        let local = tokio::task::LocalSet::new();
        match &shared.load {
            LoadModel::Closed { .. } | LoadModel::RampingVus(_) => {
                // VUs are numbered from 1 and dealt round-robin to the workers.
                let vus = shared.load.concurrency();
                for vu in (1..=vus).filter(|vu| (*vu as usize - 1) % shared.workers == worker) {
                    local.spawn_local(run_vu(vu, context.clone()));
                }
            }
            LoadModel::Open {
                rate,
                max_in_flight,
            } => {
                let cap = (*max_in_flight as usize).div_ceil(shared.workers);
                local.spawn_local(run_arrivals(worker, rate.clone(), cap, context.clone()));
            }
        }
        runtime.block_on(local);
        let context = Rc::try_unwrap(context)
            .ok()
            .expect("all tasks of the worker have finished");
        let (tallies, timeline) = context.recorder.into_inner().finish();
        WorkerOutcome {
            tallies,
            timeline,
            last_completion: context.last_completion.get(),
        }
    }
}

/// A closed-model virtual user: request, response, think, repeat.
async fn run_vu<T: Transport>(vu: u32, context: Rc<WorkerContext<T>>) {
    let shared = &context.shared;
    let start = context.start;
    let mut rng = fastrand::Rng::with_seed(u64::from(vu));
    // One connection per VU, as wrk keeps one per connection slot.
    let mut connection = context.transport.connection();
    loop {
        if let LoadModel::RampingVus(ramp) = &shared.load {
            if !wait_until_active(ramp, vu, start, shared).await {
                break;
            }
        }
        if !shared.claim_iteration(start) {
            break;
        }
        let index = context.target.pick(&mut rng);
        context
            .send_and_record(index, vu, None, &mut connection)
            .await;
        if let Some(think) = shared.think {
            if !shared.worth_waiting(start, think) {
                break;
            }
            tokio::time::sleep(think).await;
        }
    }
}

/// Ramping VUs: VU number `vu` runs while the ramp is at or above it. Waits until it is;
/// false when that never happens again.
async fn wait_until_active(ramp: &Ramp, vu: u32, start: Instant, shared: &PhaseShared) -> bool {
    let now = start.elapsed().as_secs_f64();
    if ramp.value_at(now) >= f64::from(vu) {
        return true;
    }
    match ramp.first_time_at_least(f64::from(vu), now) {
        Some(at) if !shared.stopped() => {
            tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
            !shared.stopped()
        }
        _ => false,
    }
}

/// The open model on one worker: request k (counting over all workers) is due at the time the
/// rate schedule says; this worker sends every k ≡ worker (mod workers). A request due while
/// `cap` of this worker's requests are outstanding is dropped and counted, never delayed.
async fn run_arrivals<T: Transport>(
    worker: usize,
    rate: Ramp,
    cap: usize,
    context: Rc<WorkerContext<T>>,
) {
    let start = context.start;
    let in_flight = Rc::new(Cell::new(0usize));
    let timer = PreciseTimer::new();
    let mut rng = fastrand::Rng::with_seed(worker as u64);
    let mut k = worker as u64;
    while !context.shared.stopped() {
        let Some(at) = rate.time_of_event(k) else {
            break;
        };
        let due = start + Duration::from_secs_f64(at);
        timer.sleep_until(due).await;
        let index = context.target.pick(&mut rng);
        if in_flight.get() >= cap {
            context
                .recorder
                .borrow_mut()
                .record_dropped(index, due - start);
        } else {
            in_flight.set(in_flight.get() + 1);
            let (context, in_flight) = (context.clone(), in_flight.clone());
            tokio::task::spawn_local(async move {
                // Reuse an idle connection of this worker, or open one.
                let idle = context.idle.borrow_mut().pop();
                let mut connection = idle.unwrap_or_else(|| context.transport.connection());
                context
                    .send_and_record(index, 0, Some(due), &mut connection)
                    .await;
                context.idle.borrow_mut().push(connection);
                in_flight.set(in_flight.get() - 1);
            });
        }
        k += context.shared.workers as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_never_exceed_the_concurrency() {
        let phase = |load: LoadModel, workers: Option<u32>| PhasePlan {
            name: "p".into(),
            load,
            think: None,
            client: ClientSettings {
                workers,
                ..ClientSettings::default()
            },
            until_stable: None,
        };
        let closed = |vus| LoadModel::Closed {
            vus,
            stop: StopCondition::Iterations(1),
        };
        assert_eq!(worker_count(&phase(closed(1), Some(8))), 1);
        assert_eq!(worker_count(&phase(closed(100), Some(3))), 3);
        let open = LoadModel::Open {
            rate: Ramp::constant(10.0, Duration::from_secs(1)),
            max_in_flight: 2,
        };
        assert_eq!(worker_count(&phase(open, Some(4))), 2);
    }
}
