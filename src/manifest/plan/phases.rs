//! Planning the load: phases and the warm-up (executors, load models, client settings), and
//! the order of trials.

use std::collections::HashSet;
use std::time::Duration;

use super::check_file_name;
use crate::manifest::schedule::{Ramp, Stage};
use crate::manifest::types::{self, Executor, Level};
use crate::manifest::Problem;

/// The longest a warm-up with `until_stable` lasts unless it sets `max`.
const DEFAULT_WARMUP_MAX: Duration = Duration::from_secs(30);

/// A load phase (or the warm-up), checked and with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PhasePlan {
    pub name: String,
    pub load: LoadModel,
    /// Pause of each VU between iterations (closed models only).
    pub think: Option<Duration>,
    pub client: ClientSettings,
    /// Warm-up only: end once requests/s of the last seconds vary by less than this fraction.
    pub until_stable: Option<f64>,
}

/// The order of the trials of a repeated experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialSchedule {
    Interleaved,
    Shuffled { seed: u64 },
}

impl TrialSchedule {
    /// (variant index, trial number from 1) in the order to run them.
    pub fn order(self, variants: usize, repeat: u32) -> Vec<(usize, u32)> {
        let mut runs: Vec<(usize, u32)> = (1..=repeat)
            .flat_map(|trial| (0..variants).map(move |v| (v, trial)))
            .collect();
        if let TrialSchedule::Shuffled { seed } = self {
            fastrand::Rng::with_seed(seed).shuffle(&mut runs);
            // Within a variant, trials still run in their own order (1, 2, …).
            let mut next = vec![1u32; variants];
            for run in &mut runs {
                run.1 = next[run.0];
                next[run.0] += 1;
            }
        }
        runs
    }
}

/// How a phase generates load.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// Closed model: a fixed number of VUs until a duration or an iteration count.
    Closed { vus: u32, stop: StopCondition },
    /// Closed model whose active VUs follow a ramp.
    RampingVus(Ramp),
    /// Open model: requests due on a rate schedule (constant or ramping), at most
    /// `max_in_flight` outstanding.
    Open { rate: Ramp, max_in_flight: u32 },
}

impl LoadModel {
    /// The most requests that can be outstanding at once.
    pub fn concurrency(&self) -> u32 {
        match self {
            LoadModel::Closed { vus, .. } => *vus,
            LoadModel::RampingVus(ramp) => ramp.peak().ceil() as u32,
            LoadModel::Open { max_in_flight, .. } => *max_in_flight,
        }
    }

    /// How long the phase sends requests; `None` when it stops on an iteration count.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            LoadModel::Closed {
                stop: StopCondition::Duration(d),
                ..
            } => Some(*d),
            LoadModel::Closed { .. } => None,
            LoadModel::RampingVus(ramp) | LoadModel::Open { rate: ramp, .. } => {
                Some(ramp.total_duration())
            }
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, LoadModel::Open { .. })
    }
}

/// The load generator's HTTP client for a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub keep_alive: bool,
    pub http2: bool,
    /// Load generator threads; `None`: one per core, or per CPU in `cpus`.
    pub workers: Option<u32>,
    /// CPUs the load generator's threads are pinned to, one thread per CPU in turn.
    pub cpus: Option<Vec<usize>>,
    pub client: HttpClient,
}

/// Which HTTP client sends the requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpClient {
    /// The lean HTTP/1.1 client wherever it applies (plain HTTP/1.1), reqwest elsewhere (h2c).
    #[default]
    Auto,
    /// reqwest everywhere: the general client, for comparison.
    Reqwest,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            keep_alive: true,
            http2: false,
            workers: None,
            cpus: None,
            client: HttpClient::Auto,
        }
    }
}

/// Requests outstanding at most in an open phase unless the manifest says otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCondition {
    /// Start new iterations until this much time has passed since the phase began.
    Duration(Duration),
    /// Run this many iterations in total, shared by all VUs.
    Iterations(u64),
}

impl PhasePlan {
    /// Plans one phase outside a manifest (`benchrig load`). `at` names the field each problem
    /// is about (`"vus"`, `"rate"`, …; `""` for the phase as a whole).
    pub fn from_phase(
        phase: &types::Phase,
        name: &str,
        load: &types::LoadSettings,
        at: &dyn Fn(&str) -> String,
    ) -> Result<PhasePlan, Vec<Problem>> {
        let mut problems = Vec::new();
        match plan_phase(phase, name, at, load, &mut problems) {
            Some(plan) if problems.is_empty() => Ok(plan),
            _ => Err(problems),
        }
    }
}

/// Names the fields of one phase for its problems: `phases[0].vus`, and `phases[0]` for `""`.
pub(super) fn fields_of(phase: &str) -> impl Fn(&str) -> String + '_ {
    move |field| match field {
        "" => phase.to_owned(),
        field => format!("{phase}.{field}"),
    }
}

pub(super) fn plan_phases(
    phases: &[types::Phase],
    load: &types::LoadSettings,
    problems: &mut Vec<Problem>,
) -> Vec<PhasePlan> {
    if phases.is_empty() {
        problems.push(Problem::new(
            "phases",
            "no phases; add at least one, e.g. { name: main, vus: 10, duration: 10s }",
        ));
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for (i, phase) in phases.iter().enumerate() {
        let item = format!("phases[{i}]");
        let at = fields_of(&item);
        let Some(name) = phase.name.as_deref() else {
            problems.push(Problem::new(at("name"), "every phase needs a name"));
            continue;
        };
        if let Err(e) = check_file_name(name) {
            problems.push(Problem::new(at("name"), e));
        } else if !seen.insert(name) {
            problems.push(Problem::new(
                at("name"),
                format!("duplicate phase name `{name}`; phase names must be unique"),
            ));
        }
        if let Some(plan) = plan_phase(phase, name, &at, load, problems) {
            plans.push(plan);
        }
    }
    plans
}

/// Plans a phase, or the warm-up when `name` is `warmup`; `None` when a problem was found.
pub(super) fn plan_phase(
    phase: &types::Phase,
    name: &str,
    at: &dyn Fn(&str) -> String,
    load: &types::LoadSettings,
    problems: &mut Vec<Problem>,
) -> Option<PhasePlan> {
    let before = problems.len();
    let phase = &warmup_length(phase, name, at, problems);
    reject_foreign_fields(phase, at, problems);
    let model = match phase.executor {
        Executor::Closed => closed_model(phase, at, problems),
        Executor::Open => open_model(phase, at, problems),
        Executor::Ramping => ramping_model(phase, at, problems),
    };
    let client = client_settings(phase, load, problems);
    if problems.len() > before {
        return None;
    }
    Some(PhasePlan {
        name: name.to_owned(),
        load: model?,
        think: phase.think.map(|d| d.0).filter(|d| !d.is_zero()),
        client,
        until_stable: phase.until_stable.map(|p| p.0),
    })
}

/// A warm-up that ends when stable lasts `max` at most: that becomes its duration. Only the
/// warm-up may end when stable.
fn warmup_length(
    phase: &types::Phase,
    name: &str,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> types::Phase {
    let mut phase = phase.clone();
    if name == "warmup" && phase.until_stable.is_some() {
        if phase.duration.is_some() || phase.iterations.is_some() {
            problems.push(Problem::new(
                at(""),
                "with `until_stable`, the warm-up lasts at most `max` (default 30s); remove `duration` and `iterations`",
            ));
        }
        phase.duration = Some(
            phase
                .max
                .unwrap_or(crate::manifest::Duration(DEFAULT_WARMUP_MAX)),
        );
        return phase;
    }
    for (field, present) in [
        ("until_stable", phase.until_stable.is_some()),
        ("max", phase.max.is_some()),
    ] {
        if present {
            problems.push(Problem::new(
                at(field),
                if name == "warmup" {
                    "`max` goes with `until_stable`: warmup: { vus: 10, until_stable: 5%, max: 30s }"
                } else {
                    "only the warm-up can end when stable: warmup: { vus: 10, until_stable: 5%, max: 30s }"
                },
            ));
        }
    }
    phase
}

/// Names fields set for another executor than the phase's, with what to write instead.
fn reject_foreign_fields(
    phase: &types::Phase,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let (executor, foreign) = match phase.executor {
        Executor::Closed => (
            "closed",
            [
                ("rate", phase.rate.is_some(), "use `executor: open` for an arrival rate"),
                (
                    "max_in_flight",
                    phase.max_in_flight.is_some(),
                    "the closed model has `vus` requests in flight at most",
                ),
                ("stages", phase.stages.is_some(), "use `executor: ramping` for stages"),
                ("start", phase.start.is_some(), "use `executor: ramping` for a ramp"),
            ]
            .to_vec(),
        ),
        Executor::Open => (
            "open",
            [
                (
                    "vus",
                    phase.vus.is_some(),
                    "the open model sends at `rate` whatever the concurrency; cap it with `max_in_flight`",
                ),
                (
                    "iterations",
                    phase.iterations.is_some(),
                    "an open phase runs for a `duration`",
                ),
                (
                    "think",
                    phase.think.is_some(),
                    "requests arrive at `rate`, not after a pause",
                ),
                (
                    "stages",
                    phase.stages.is_some(),
                    "use `executor: ramping` with rate targets such as 500/s",
                ),
                ("start", phase.start.is_some(), "use `executor: ramping` for a ramp"),
            ]
            .to_vec(),
        ),
        Executor::Ramping => (
            "ramping",
            [
                (
                    "vus",
                    phase.vus.is_some(),
                    "give the VUs as stage targets, and the first value as `start`",
                ),
                (
                    "rate",
                    phase.rate.is_some(),
                    "give rates as stage targets (e.g. target: 500/s), and the first value as `start`",
                ),
                (
                    "duration",
                    phase.duration.is_some(),
                    "the phase lasts as long as its stages",
                ),
                (
                    "iterations",
                    phase.iterations.is_some(),
                    "the phase lasts as long as its stages",
                ),
            ]
            .to_vec(),
        ),
    };
    for (field, _, instead) in foreign.into_iter().filter(|(_, present, _)| *present) {
        problems.push(Problem::new(
            at(field),
            format!("`{field}` does not apply to the {executor} executor; {instead}"),
        ));
    }
}

fn closed_model(
    phase: &types::Phase,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<LoadModel> {
    let vus = vus_count(phase.vus, &at("vus"), problems);
    let stop = closed_stop(phase, at, problems);
    vus.zip(stop)
        .map(|(vus, stop)| LoadModel::Closed { vus, stop })
}

fn open_model(
    phase: &types::Phase,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<LoadModel> {
    let rate = match phase.rate {
        None => {
            problems.push(Problem::new(
                at(""),
                "the open executor needs `rate`, e.g. rate: 2000/s",
            ));
            None
        }
        Some(r) if r.per_second <= 0.0 => {
            problems.push(Problem::new(at("rate"), "must be greater than zero"));
            None
        }
        Some(r) => Some(r.per_second),
    };
    let duration = match phase.duration {
        None => {
            problems.push(Problem::new(
                at(""),
                "the open executor needs `duration`, e.g. duration: 30s",
            ));
            None
        }
        Some(d) if d.0.is_zero() => {
            problems.push(Problem::new(at("duration"), "must be greater than zero"));
            None
        }
        Some(d) => Some(d.0),
    };
    let max_in_flight = in_flight_cap(phase.max_in_flight, &at("max_in_flight"), problems);
    rate.zip(duration)
        .zip(max_in_flight)
        .map(|((rate, duration), max_in_flight)| LoadModel::Open {
            rate: Ramp::constant(rate, duration),
            max_in_flight,
        })
}

/// The phase's client: its own `keep_alive` and `http2`, else those of `load:`.
fn client_settings(
    phase: &types::Phase,
    load: &types::LoadSettings,
    problems: &mut Vec<Problem>,
) -> ClientSettings {
    let workers = match load.workers {
        None => None,
        Some(n) if (1..=1024).contains(&n) => Some(n as u32),
        Some(_) => {
            problems.push(Problem::new("load.workers", "must be from 1 to 1024"));
            None
        }
    };
    ClientSettings {
        keep_alive: phase.keep_alive.or(load.keep_alive).unwrap_or(true),
        http2: phase.http2.or(load.http2).unwrap_or(false),
        workers,
        cpus: load.cpus.clone(),
        client: match load.client {
            Some(types::ClientKind::Reqwest) => HttpClient::Reqwest,
            _ => HttpClient::Auto,
        },
    }
}

fn vus_count(vus: Option<u64>, field: &str, problems: &mut Vec<Problem>) -> Option<u32> {
    match vus {
        None => {
            problems.push(Problem::new(
                field,
                "missing; the closed executor needs the number of virtual users, e.g. vus: 10",
            ));
            None
        }
        Some(0) => {
            problems.push(Problem::new(field, "must be at least 1"));
            None
        }
        Some(n) if n > 100_000 => {
            problems.push(Problem::new(field, "must be at most 100000"));
            None
        }
        Some(n) => Some(n as u32),
    }
}

fn in_flight_cap(cap: Option<u64>, field: &str, problems: &mut Vec<Problem>) -> Option<u32> {
    match cap {
        None => Some(DEFAULT_MAX_IN_FLIGHT),
        Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
        Some(_) => {
            problems.push(Problem::new(field, "must be from 1 to 100000"));
            None
        }
    }
}

fn closed_stop(
    phase: &types::Phase,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<StopCondition> {
    match (phase.duration, phase.iterations) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                at(""),
                "both `duration` and `iterations` are set; a closed phase stops on one of them",
            ));
            None
        }
        (None, None) => {
            problems.push(Problem::new(
                at(""),
                "needs `duration` (e.g. 10s) or `iterations` (total requests shared by all VUs)",
            ));
            None
        }
        (Some(d), None) if d.0.is_zero() => {
            problems.push(Problem::new(at("duration"), "must be greater than zero"));
            None
        }
        (Some(d), None) => Some(StopCondition::Duration(d.0)),
        (None, Some(0)) => {
            problems.push(Problem::new(at("iterations"), "must be at least 1"));
            None
        }
        (None, Some(n)) => Some(StopCondition::Iterations(n)),
    }
}

fn ramping_model(
    phase: &types::Phase,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<LoadModel> {
    let stages = match &phase.stages {
        Some(stages) if !stages.is_empty() => stages,
        _ => {
            problems.push(Problem::new(
                at(""),
                "the ramping executor needs `stages`, e.g. stages: [{ duration: 30s, target: 200 }]",
            ));
            return None;
        }
    };
    let rates = matches!(stages[0].target, Level::Rate(_));
    let value = |level: Level| match level {
        Level::Vus(n) => n as f64,
        Level::Rate(r) => r.per_second,
    };
    let mut ok = true;
    for (i, stage) in stages.iter().enumerate() {
        if stage.duration.0.is_zero() {
            problems.push(Problem::new(
                at(&format!("stages[{i}].duration")),
                "must be greater than zero",
            ));
            ok = false;
        }
        if matches!(stage.target, Level::Rate(_)) != rates {
            problems.push(Problem::new(
                at(&format!("stages[{i}].target")),
                "mixes virtual users and rates; a ramp is all VU counts (200) or all rates (500/s)",
            ));
            ok = false;
        }
    }
    if let Some(start) = phase.start {
        if matches!(start, Level::Rate(_)) != rates {
            problems.push(Problem::new(
                at("start"),
                "must be in the same unit as the stage targets (VUs or a rate)",
            ));
            ok = false;
        }
    }
    let ramp = Ramp {
        start: phase.start.map_or(0.0, value),
        stages: stages
            .iter()
            .map(|s| Stage {
                duration: s.duration.0,
                target: value(s.target),
            })
            .collect(),
    };
    if ramp.peak() <= 0.0 {
        problems.push(Problem::new(
            at("stages"),
            "every target is 0: the phase would send nothing",
        ));
        ok = false;
    }
    if rates {
        if phase.think.is_some() {
            problems.push(Problem::new(
                at("think"),
                "`think` does not apply to a ramp of rates; requests arrive at the rate, not after a pause",
            ));
        }
        let cap = in_flight_cap(phase.max_in_flight, &at("max_in_flight"), problems);
        (ok && cap.is_some()).then(|| LoadModel::Open {
            rate: ramp,
            max_in_flight: cap.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        })
    } else {
        if phase.max_in_flight.is_some() {
            problems.push(Problem::new(
                at("max_in_flight"),
                "`max_in_flight` applies to a ramp of rates; with VU targets, the VUs are the cap",
            ));
        }
        if ramp.peak() > 100_000.0 {
            problems.push(Problem::new(at("stages"), "at most 100000 virtual users"));
            ok = false;
        }
        ok.then_some(LoadModel::RampingVus(ramp))
    }
}

/// `repeat:`: trials per variant, 1 unless set.
pub(super) fn plan_repeat(repeat: Option<u32>, problems: &mut Vec<Problem>) -> u32 {
    match repeat {
        None => 1,
        Some(n @ 1..=100) => n,
        Some(_) => {
            problems.push(Problem::new("repeat", "must be from 1 to 100"));
            1
        }
    }
}

/// `order:` and `seed:`: the order of the trials.
pub(super) fn plan_schedule(
    order: types::TrialOrder,
    seed: Option<u64>,
    problems: &mut Vec<Problem>,
) -> TrialSchedule {
    match (order, seed) {
        (types::TrialOrder::Interleaved, None) => TrialSchedule::Interleaved,
        (types::TrialOrder::Interleaved, Some(_)) => {
            problems.push(Problem::new(
                "seed",
                "`seed` only applies to `order: shuffled`",
            ));
            TrialSchedule::Interleaved
        }
        (types::TrialOrder::Shuffled, seed) => TrialSchedule::Shuffled {
            seed: seed.unwrap_or_else(|| fastrand::u64(..)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::plan::tests::plan;

    fn phase_problems(phase: &str) -> Vec<String> {
        let text = format!(
            "name: x\nvariants: [{{ name: a, command: [server] }}]\nphases:\n  - {phase}\nrequests: [{{ path: / }}]\n"
        );
        match plan(&text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn single_phase(phase: &str) -> PhasePlan {
        let text = format!(
            "name: x\nload: {{ keep_alive: false }}\nvariants: [{{ name: a, command: [server] }}]\nphases:\n  - {phase}\nrequests: [{{ path: / }}]\n"
        );
        plan(&text).unwrap().phases.remove(0)
    }

    #[test]
    fn open_and_ramping_executors() {
        let open =
            single_phase("{ name: o, executor: open, rate: 2000/s, duration: 10s, http2: true }");
        assert_eq!(
            open.load,
            LoadModel::Open {
                rate: Ramp::constant(2000.0, Duration::from_secs(10)),
                max_in_flight: DEFAULT_MAX_IN_FLIGHT
            }
        );
        assert!(
            open.client.http2 && !open.client.keep_alive,
            "{:?}",
            open.client
        );

        let vus = single_phase(
            "{ name: r, executor: ramping, stages: [{ duration: 10s, target: 20 }, { duration: 5s, target: 0 }] }",
        );
        let LoadModel::RampingVus(ramp) = &vus.load else {
            panic!("{:?}", vus.load)
        };
        assert_eq!((ramp.start, ramp.peak()), (0.0, 20.0));
        assert_eq!(vus.load.concurrency(), 20);
        assert_eq!(vus.load.duration(), Some(Duration::from_secs(15)));

        let rates = single_phase(
            "{ name: r, executor: ramping, start: 10/s, max_in_flight: 50, stages: [{ duration: 30s, target: 500/s }] }",
        );
        let LoadModel::Open {
            rate,
            max_in_flight,
        } = &rates.load
        else {
            panic!("{:?}", rates.load)
        };
        assert_eq!((rate.start, rate.peak(), *max_in_flight), (10.0, 500.0, 50));
    }

    #[test]
    fn executor_fields_that_do_not_belong_are_named() {
        let found = phase_problems(
            "{ name: o, executor: open, rate: 100/s, duration: 1s, vus: 5, think: 1s }",
        );
        assert!(
            found[0].starts_with("phases[0].vus: `vus` does not apply to the open executor"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("phases[0].think: `think` does not apply to the open executor"),
            "{found:?}"
        );
        let found = phase_problems("{ name: o, executor: open, duration: 1s }");
        assert_eq!(
            found,
            ["phases[0]: the open executor needs `rate`, e.g. rate: 2000/s"]
        );
        let found = phase_problems("{ name: c, vus: 1, duration: 1s, rate: 5/s }");
        assert!(found[0].contains("use `executor: open`"), "{found:?}");
        let found = phase_problems(
            "{ name: r, executor: ramping, stages: [{ duration: 1s, target: 5 }, { duration: 1s, target: 10/s }] }",
        );
        assert!(
            found[0].starts_with("phases[0].stages[1].target: mixes virtual users and rates"),
            "{found:?}"
        );
        let found =
            phase_problems("{ name: r, executor: ramping, stages: [{ duration: 1s, target: 0 }] }");
        assert!(found[0].contains("every target is 0"), "{found:?}");
        let found = phase_problems("{ name: r, executor: ramping }");
        assert!(found[0].contains("needs `stages`"), "{found:?}");
    }
}
