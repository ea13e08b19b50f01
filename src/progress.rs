//! Progress while a phase runs: a live bar on a terminal, a plain line every few seconds
//! elsewhere (CI logs). It only reads the engine's live counters; it never touches the hot path.

use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::LiveCounters;
use crate::manifest::{LoadModel, PhasePlan, StopCondition};

const TERMINAL_TICK: Duration = Duration::from_millis(250);
const LOG_TICK: Duration = Duration::from_secs(10);

enum Display {
    Bar(ProgressBar),
    Log,
}

/// The iteration count of a phase that stops on one.
fn iterations(phase: &PhasePlan) -> Option<u64> {
    match phase.load {
        LoadModel::Closed {
            stop: StopCondition::Iterations(n),
            ..
        } => Some(n),
        _ => None,
    }
}

/// Runs `work` (a phase) while showing its progress under `label` ("variant: phase").
pub async fn track<F: Future>(
    label: &str,
    phase: &PhasePlan,
    live: &LiveCounters,
    work: F,
) -> F::Output {
    let terminal = std::io::stderr().is_terminal();
    let display = if terminal {
        let length = match iterations(phase) {
            Some(n) => n,
            None => phase.load.duration().map_or(0, |d| d.as_millis() as u64),
        };
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:24}] {msg}")
                .expect("a valid progress template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Display::Bar(bar)
    } else {
        Display::Log
    };
    let tick_every = if terminal { TERMINAL_TICK } else { LOG_TICK };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + tick_every, tick_every);
    let start = Instant::now();
    let mut previous = (start, 0u64);
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => {
                if let Display::Bar(bar) = &display {
                    bar.finish_and_clear();
                }
                return output;
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let requests = live.requests();
                let interval = now.duration_since(previous.0).as_secs_f64();
                let rps = if interval > 0.0 { (requests - previous.1) as f64 / interval } else { 0.0 };
                previous = (now, requests);
                let elapsed = start.elapsed();
                let status = status_line(phase, elapsed, requests, rps, live.errors());
                match &display {
                    Display::Bar(bar) => {
                        bar.set_position(match iterations(phase) {
                            Some(_) => requests,
                            None => elapsed.as_millis() as u64,
                        });
                        bar.set_message(status);
                    }
                    Display::Log => eprintln!("benchrig: {label}: {status}"),
                }
            }
        }
    }
}

/// "3.2s/8s · 245001 requests · 76543 req/s · 0 errors"
pub fn status_line(
    phase: &PhasePlan,
    elapsed: Duration,
    requests: u64,
    rps: f64,
    errors: u64,
) -> String {
    let seconds = elapsed.as_secs_f64();
    let done = match (iterations(phase), phase.load.duration()) {
        (Some(n), _) => format!("{seconds:.1}s, {requests}/{n}"),
        (None, Some(d)) => format!("{seconds:.1}s/{}", humantime::format_duration(d)),
        (None, None) => format!("{seconds:.1}s"),
    };
    format!(
        "{done} · {requests} requests · {} req/s · {errors} errors",
        rps.round() as u64
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ClientSettings;

    fn phase(load: LoadModel) -> PhasePlan {
        PhasePlan {
            name: "p".into(),
            load,
            think: None,
            client: ClientSettings::default(),
            until_stable: None,
        }
    }

    #[test]
    fn status_lines() {
        let timed = phase(LoadModel::Closed {
            vus: 1,
            stop: StopCondition::Duration(Duration::from_secs(8)),
        });
        assert_eq!(
            status_line(&timed, Duration::from_millis(3200), 245_001, 76_543.4, 0),
            "3.2s/8s · 245001 requests · 76543 req/s · 0 errors"
        );
        let counted = phase(LoadModel::Closed {
            vus: 1,
            stop: StopCondition::Iterations(1000),
        });
        assert_eq!(
            status_line(&counted, Duration::from_millis(500), 250, 500.0, 2),
            "0.5s, 250/1000 · 250 requests · 500 req/s · 2 errors"
        );
    }
}
