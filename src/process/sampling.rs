//! Resource sampling in the background while a trial runs, on a thread of its own: reading
//! /proc blocks, and the thread runs on the load generator's CPUs (`load.cpus`), never on the
//! server's.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ResourceSampler;
use crate::results::resources::{ResourceSample, TimedSample};

/// Samples a variant's process trees (and benchrig) until dropped.
pub struct Sampling {
    samples: Arc<Mutex<Vec<TimedSample>>>,
    /// Dropping it stops the thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampling {
    /// Samples the process trees of `leaders` (a variant's processes) as one, every `every`;
    /// each sample is timed from `run_start`. `cpus`: where the sampling thread runs.
    pub fn start(
        leaders: Vec<i32>,
        every: Duration,
        run_start: Instant,
        cpus: Option<Vec<usize>>,
    ) -> Sampling {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        let (stop, stopped) = mpsc::channel::<()>();
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
                if stopped.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
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

    /// The samples so far.
    pub fn samples(&self) -> Vec<TimedSample> {
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
