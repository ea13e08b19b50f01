//! The warm-up before a trial's phases: load that is never recorded, for a fixed time or until
//! requests/s settle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::launcher::Launcher;
use super::say;
use crate::load::{LiveCounters, Target};
use crate::manifest::PhasePlan;
use crate::progress;
use crate::results::{stats, WarmupNote};

/// Seconds of per-second requests compared to decide that a warm-up is stable.
const STABLE_WINDOW: usize = 3;

/// Runs the warm-up (never recorded). With `until_stable`, ends it as soon as requests/s over
/// the last seconds vary by less than the threshold.
pub(crate) async fn warm_up<L: Launcher>(
    launcher: &L,
    variant: &str,
    warmup: &PhasePlan,
    target: &Target,
    trial: u32,
) -> WarmupNote {
    let live = Arc::new(LiveCounters::default());
    let label = format!("{variant}: warm-up");
    let work = progress::track(
        &label,
        warmup,
        &live,
        launcher.run_phase(warmup, target, None, live.clone()),
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
