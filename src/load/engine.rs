//! The load engine's hot path: worker threads, each a single-threaded runtime with its own
//! HTTP client and recorder, running virtual users (VUs) as local tasks. Nothing is shared
//! between workers but the phase clock, the iteration counter and the cancel flag.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, Url};

use super::errors::classify;
use super::recorder::{Outcome, RawSink, Recorder};
use crate::manifest::{PhasePlan, RequestPlan, StopCondition};
use crate::results::{PhaseRecording, Tally};

/// A request ready to send: URL parsed and body built once, cloned cheaply per request.
#[derive(Debug, Clone)]
struct PreparedRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
}

/// The requests of an experiment aimed at one variant's address, with their weights.
#[derive(Debug, Clone)]
pub struct Target {
    names: Vec<String>,
    requests: Arc<[PreparedRequest]>,
    /// Running sum of weights, for weighted picking.
    cumulative_weights: Arc<[u64]>,
}

impl Target {
    /// The requests aimed at a variant listening on 127.0.0.1:`port`.
    pub fn new(port: u16, requests: &[RequestPlan]) -> Result<Target, String> {
        Self::at(&format!("http://127.0.0.1:{port}"), requests)
    }

    /// The requests aimed at `base` (scheme and authority, e.g. `http://127.0.0.1:8080`).
    pub fn at(base: &str, requests: &[RequestPlan]) -> Result<Target, String> {
        let prepared = requests
            .iter()
            .map(|r| {
                let url = format!("{base}{}", r.path);
                Ok(PreparedRequest {
                    method: r.method.clone(),
                    url: Url::parse(&url).map_err(|e| format!("invalid URL {url}: {e}"))?,
                    headers: r.headers.clone(),
                    body: r.body.clone(),
                    timeout: r.timeout,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let cumulative_weights = requests
            .iter()
            .scan(0u64, |sum, r| {
                *sum += u64::from(r.weight);
                Some(*sum)
            })
            .collect();
        Ok(Target {
            names: requests.iter().map(|r| r.name.clone()).collect(),
            requests: prepared.into(),
            cumulative_weights,
        })
    }

    pub fn request_names(&self) -> &[String] {
        &self.names
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        if self.requests.len() == 1 {
            return 0;
        }
        let total = *self
            .cumulative_weights
            .last()
            .expect("at least one request");
        let ticket = rng.u64(0..total);
        self.cumulative_weights.partition_point(|&w| w <= ticket)
    }
}

/// Counters a progress display reads while a phase runs. Each sits on its own cache line so
/// workers updating one do not slow readers of the other.
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
    live: Arc<LiveCounters>,
    stop: StopCondition,
    think: Option<Duration>,
    /// Iterations started so far (shared-iterations mode).
    issued: AtomicU64,
    cancel: Arc<AtomicBool>,
    /// Set once by the first worker through the start barrier.
    start: OnceLock<Instant>,
    barrier: Barrier,
}

impl PhaseShared {
    /// Claims the next iteration, or says the phase is over.
    fn claim_iteration(&self, start: Instant) -> bool {
        if self.cancel.load(Ordering::Relaxed) || self.live.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.stop {
            StopCondition::Duration(d) => start.elapsed() < d,
            StopCondition::Iterations(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    /// Whether a VU about to think would have any iteration left afterwards.
    fn worth_waiting(&self, start: Instant, think: Duration) -> bool {
        match self.stop {
            StopCondition::Duration(d) => start.elapsed() + think < d,
            StopCondition::Iterations(n) => self.issued.load(Ordering::Relaxed) < n,
        }
    }
}

/// How many worker threads drive a phase: one per core, never more than VUs.
fn worker_count(vus: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(vus as usize).max(1)
}

/// Runs one phase of the closed model against `target` and returns what it recorded. Raw rows
/// go to `raw` when given; `live` counts requests as they complete. Dropping the returned
/// future cancels the phase.
pub async fn run_phase(
    phase: &PhasePlan,
    target: &Target,
    raw: Option<RawSink>,
    live: Arc<LiveCounters>,
) -> PhaseRecording {
    let workers = worker_count(phase.vus);
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let shared = Arc::new(PhaseShared {
        live,
        stop: phase.stop,
        think: phase.think,
        issued: AtomicU64::new(0),
        cancel,
        start: OnceLock::new(),
        barrier: Barrier::new(workers),
    });
    let mut done = Vec::with_capacity(workers);
    for worker in 0..workers {
        // VUs are numbered 1..=vus and dealt round-robin to the workers.
        let vus: Vec<u32> = (1..=phase.vus)
            .filter(|vu| (*vu as usize - 1) % workers == worker)
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (shared, target, raw) = (shared.clone(), target.clone(), raw.clone());
        std::thread::Builder::new()
            .name(format!("benchrig-load-{worker}"))
            .spawn(move || {
                let _ = tx.send(run_worker(&shared, &target, vus, raw));
            })
            .expect("cannot start a load worker thread");
        done.push(rx);
    }
    let mut by_request: Vec<Tally> = target.names.iter().map(|_| Tally::new()).collect();
    let mut last_completion = None;
    for rx in done {
        let (tallies, finished) = rx.await.expect("a load worker panicked");
        for (sum, tally) in by_request.iter_mut().zip(&tallies) {
            sum.merge(tally);
        }
        last_completion = last_completion.max(finished);
    }
    let start = *shared.start.get().expect("workers set the start");
    let measured = last_completion.map_or(Duration::ZERO, |end| end - start);
    // A duration phase lasts at least its duration even if the last VU was thinking.
    let elapsed = match phase.stop {
        StopCondition::Duration(d) => measured.max(d),
        StopCondition::Iterations(_) => measured,
    };
    PhaseRecording {
        elapsed,
        by_request: target.names.iter().cloned().zip(by_request).collect(),
    }
}

/// One worker thread: a current-thread runtime running its share of the VUs. Returns its
/// tallies and when its last request completed.
fn run_worker(
    shared: &Arc<PhaseShared>,
    target: &Target,
    vus: Vec<u32>,
    raw: Option<RawSink>,
) -> (Vec<Tally>, Option<Instant>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a load worker runtime");
    let _context = runtime.enter();
    let client = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("an HTTP client without TLS always builds");
    let recorder = Rc::new(RefCell::new(Recorder::new(target.names.len(), raw)));
    let last_completion = Rc::new(RefCell::new(None));
    // Every worker is ready before the clock starts, so thread start-up is not measured.
    shared.barrier.wait();
    let start = *shared.start.get_or_init(Instant::now);
    let local = tokio::task::LocalSet::new();
    for vu in vus {
        local.spawn_local(run_vu(
            vu,
            start,
            shared.clone(),
            target.clone(),
            client.clone(),
            recorder.clone(),
            last_completion.clone(),
        ));
    }
    runtime.block_on(local);
    let recorder = Rc::try_unwrap(recorder)
        .ok()
        .expect("all VUs have finished")
        .into_inner();
    let last = *last_completion.borrow();
    (recorder.finish(), last)
}

async fn run_vu(
    vu: u32,
    start: Instant,
    shared: Arc<PhaseShared>,
    target: Target,
    client: Client,
    recorder: Rc<RefCell<Recorder>>,
    last_completion: Rc<RefCell<Option<Instant>>>,
) {
    let mut rng = fastrand::Rng::with_seed(u64::from(vu));
    while shared.claim_iteration(start) {
        let index = target.pick(&mut rng);
        let sent = Instant::now();
        let outcome = send(&client, &target.requests[index]).await;
        let completed = Instant::now();
        shared.live.count(&outcome);
        recorder
            .borrow_mut()
            .record(index, vu, sent - start, completed - sent, outcome);
        *last_completion.borrow_mut() = Some(completed);
        if let Some(think) = shared.think {
            if !shared.worth_waiting(start, think) {
                break;
            }
            tokio::time::sleep(think).await;
        }
    }
}

/// Sends one request and reads the whole body: latency covers the complete response.
async fn send(client: &Client, request: &PreparedRequest) -> Outcome {
    let mut builder = client
        .request(request.method.clone(), request.url.clone())
        .timeout(request.timeout);
    if !request.headers.is_empty() {
        builder = builder.headers(request.headers.clone());
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    let mut response = builder.send().await.map_err(|e| classify(&e))?;
    let status = response.status().as_u16();
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        bytes += chunk.len() as u64;
    }
    Ok((status, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, weight: u32) -> RequestPlan {
        RequestPlan {
            name: path.to_owned(),
            method: Method::GET,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            weight,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn weighted_picking_follows_the_weights() {
        let target = Target::new(1, &[request("/a", 3), request("/b", 1)]).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[target.pick(&mut rng)] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "share of /a was {share}");
    }

    #[test]
    fn urls_point_at_the_variant_port() {
        let target = Target::new(4321, &[request("/sleep?ms=20", 1)]).unwrap();
        assert_eq!(
            target.requests[0].url.as_str(),
            "http://127.0.0.1:4321/sleep?ms=20"
        );
    }
}
