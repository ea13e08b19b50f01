//! Phases described in words, for reports, run.json and `benchrig load`.

use super::{LoadModel, PhasePlan, Ramp, StopCondition};
use crate::text::{format_number, plural};

/// The load of a phase in a few words: "50 VUs for 10s", "10 VUs, 200 requests",
/// "2000 requests/s for 10s".
pub fn describe_load(phase: &PhasePlan) -> String {
    match &phase.load {
        LoadModel::Closed {
            vus,
            stop: StopCondition::Duration(d),
        } => format!("{vus} VUs for {}", humantime::format_duration(*d)),
        LoadModel::Closed {
            vus,
            stop: StopCondition::Iterations(n),
        } => format!("{vus} VUs, {n} requests"),
        LoadModel::RampingVus(ramp) => format!("{} VUs", describe_ramp(ramp)),
        LoadModel::Open { rate, .. } if is_constant(rate) => format!(
            "{} requests/s for {}",
            format_number(rate.start),
            humantime::format_duration(rate.total_duration())
        ),
        LoadModel::Open { rate, .. } => format!("{} requests/s", describe_ramp(rate)),
    }
}

fn is_constant(ramp: &Ramp) -> bool {
    ramp.stages.iter().all(|s| s.target == ramp.start)
}

/// "from 0 to 50 over 10s, then to 0 over 5s"
fn describe_ramp(ramp: &Ramp) -> String {
    let stages: Vec<String> = ramp
        .stages
        .iter()
        .map(|s| {
            format!(
                "to {} over {}",
                format_number(s.target),
                humantime::format_duration(s.duration)
            )
        })
        .collect();
    format!(
        "from {} {}",
        format_number(ramp.start),
        stages.join(", then ")
    )
}

/// One or two sentences on how a phase loads the server, for the report.
pub fn describe_phase(phase: &PhasePlan) -> String {
    let users = |n: u32| plural(n as usize, "virtual user");
    let think = phase
        .think
        .map(|t| {
            format!(
                ", each pausing {} between requests",
                humantime::format_duration(t)
            )
        })
        .unwrap_or_default();
    let mut text = match &phase.load {
        LoadModel::Closed { vus, stop } => {
            let stop = match stop {
                StopCondition::Duration(d) => format!("for {}", humantime::format_duration(*d)),
                StopCondition::Iterations(n) => format!("{n} requests shared between them"),
            };
            format!("Closed model: {}, {stop}{think}.", users(*vus))
        }
        LoadModel::RampingVus(ramp) => {
            format!(
                "Closed model, ramping {} virtual users{think}.",
                describe_ramp(ramp)
            )
        }
        LoadModel::Open {
            rate,
            max_in_flight,
        } => {
            let schedule = if is_constant(rate) {
                format!(
                    "{} requests/s for {}",
                    format_number(rate.start),
                    humantime::format_duration(rate.total_duration())
                )
            } else {
                format!("ramping {} requests/s", describe_ramp(rate))
            };
            format!(
                "Open model: {schedule}, at most {max_in_flight} in flight. Latency runs from each request's intended send time, so time lost by the server or the load generator counts."
            )
        }
    };
    if !phase.client.keep_alive {
        text.push_str(" A new connection for every request (no keep-alive).");
    }
    if phase.client.http2 {
        text.push_str(" HTTP/2 without TLS (h2c).");
    }
    text
}
