//! Validation of a parsed manifest into a [`Plan`]: defaults applied, every value checked,
//! all problems collected rather than stopping at the first.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;

use super::expressions;
use super::placeholders::{self, PlaceholderContext};
use super::schedule::{Ramp, Stage};
use super::types::{self, CompareSettings, Executor, Level, Manifest};
use super::Problem;

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_READY_INTERVAL: Duration = Duration::from_millis(50);
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A validated experiment, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub manifest_path: PathBuf,
    /// Directory commands run in unless a variant sets `cwd`.
    pub workdir: PathBuf,
    pub setup: Vec<Vec<String>>,
    /// Started once before the variants, stopped after them.
    pub services: Vec<ProcessPlan>,
    pub variants: Vec<VariantPlan>,
    pub warmup: Option<PhasePlan>,
    pub phases: Vec<PhasePlan>,
    pub requests: Vec<RequestPlan>,
    pub assertions: Vec<types::Assertion>,
    /// The variant the report compares the others with; `None`: the fastest.
    pub baseline: Option<String>,
    /// A custom report template, resolved against `workdir`.
    pub report_template: Option<PathBuf>,
    /// Environment variables whose values may appear in outputs.
    pub safe_env: Vec<String>,
    /// SHA-256 of the manifest text, hex.
    pub manifest_sha256: String,
    /// Trials per variant, each from a fresh start.
    pub repeat: u32,
    /// Interval of the resource sampler.
    pub sample_every: Duration,
    pub schedule: TrialSchedule,
    /// `compare:`, for `benchrig compare` and `run --check`.
    pub compare: CompareSettings,
}

/// A process benchrig starts: a variant's server, one of its processes, or a service.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub name: String,
    /// File name of its log in `logs/`.
    pub log_name: String,
    /// argv with placeholders still in it; see [`ProcessPlan::launch`].
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub ready: ReadyProbe,
    pub ready_timeout: Duration,
    pub ready_interval: Duration,
    pub stop: StopPlan,
    /// CPUs the process (and everything it starts) is pinned to.
    pub cpus: Option<Vec<usize>>,
}

/// How a process is stopped: `signal` to its group or its leader, SIGKILL to the group after
/// `grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPlan {
    pub signal: nix::sys::signal::Signal,
    pub to: types::StopTarget,
    pub grace: Duration,
}

/// A server variant: one process, or several started in order (e.g. an app server and nginx
/// in front of it).
#[derive(Debug, Clone)]
pub struct VariantPlan {
    pub name: String,
    pub processes: Vec<ProcessPlan>,
    /// Index of the process the load is sent to.
    pub target: usize,
}

impl VariantPlan {
    /// The commands as written, placeholders kept: `cmd`, or `app: cmd · front: cmd`.
    pub fn command_line(&self) -> String {
        match self.processes.as_slice() {
            [one] => shell_words::join(&one.command),
            many => many
                .iter()
                .map(|p| format!("{}: {}", p.name, shell_words::join(&p.command)))
                .collect::<Vec<_>>()
                .join(" · "),
        }
    }

    /// CPUs the variant is pinned to (those of its processes, in order), if any.
    pub fn cpus(&self) -> Option<Vec<usize>> {
        let mut cpus: Vec<usize> = self
            .processes
            .iter()
            .flat_map(|p| p.cpus.clone().unwrap_or_default())
            .collect();
        cpus.sort_unstable();
        cpus.dedup();
        (!cpus.is_empty()).then_some(cpus)
    }

    /// The longest stop grace period of its processes.
    pub fn stop_grace(&self) -> Duration {
        self.processes
            .iter()
            .map(|p| p.stop.grace)
            .max()
            .unwrap_or_default()
    }
}

/// A variant's command and environment with every placeholder replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyProbe {
    /// GET this path until it answers 2xx.
    Http(String),
    /// Connect until the port accepts.
    Tcp,
}

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

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub weight: u32,
    pub timeout: Duration,
}

impl ProcessPlan {
    /// The command and environment with every placeholder replaced.
    pub fn launch(&self, ctx: &PlaceholderContext) -> Result<LaunchSpec, String> {
        let argv = self
            .command
            .iter()
            .map(|arg| placeholders::render(arg, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        let env = self
            .env
            .iter()
            .map(|(key, value)| Ok((key.clone(), placeholders::render(value, ctx)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        Ok(LaunchSpec {
            argv,
            env,
            cwd: self.cwd.clone(),
            port: ctx.port,
        })
    }
}

/// Names become file names (logs, report folders): keep them portable and unsurprising.
pub(crate) fn check_file_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err(format!("`{name}` must not contain `..`"));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control()
    }) {
        return Err(format!(
            "`{}` contains {c:?}, which is not allowed in a name used for files; use letters, digits, `-`, `_` or `.`",
            name.escape_debug()
        ));
    }
    Ok(())
}

impl Plan {
    /// A plan for one ad-hoc load (`benchrig load`): a single, externally started variant.
    pub fn ad_hoc(target: &str, phase: PhasePlan, request: RequestPlan, workdir: &Path) -> Plan {
        Plan {
            name: "load".to_owned(),
            description: String::new(),
            manifest_path: PathBuf::new(),
            workdir: workdir.to_owned(),
            setup: Vec::new(),
            services: Vec::new(),
            variants: vec![VariantPlan {
                name: target.to_owned(),
                processes: vec![ProcessPlan {
                    name: target.to_owned(),
                    log_name: String::new(),
                    command: Vec::new(),
                    env: BTreeMap::new(),
                    cwd: workdir.to_owned(),
                    ready: ReadyProbe::Tcp,
                    ready_timeout: DEFAULT_READY_TIMEOUT,
                    ready_interval: DEFAULT_READY_INTERVAL,
                    stop: StopPlan {
                        signal: nix::sys::signal::Signal::SIGTERM,
                        to: types::StopTarget::Group,
                        grace: DEFAULT_STOP_GRACE,
                    },
                    cpus: None,
                }],
                target: 0,
            }],
            warmup: None,
            phases: vec![phase],
            requests: vec![request],
            assertions: Vec::new(),
            baseline: None,
            report_template: None,
            safe_env: Vec::new(),
            manifest_sha256: String::new(),
            repeat: 1,
            sample_every: DEFAULT_SAMPLE_EVERY,
            schedule: TrialSchedule::Interleaved,
            compare: CompareSettings::default(),
        }
    }

    pub fn from_manifest(
        manifest: Manifest,
        manifest_path: &Path,
        workdir: &Path,
    ) -> Result<Plan, Vec<Problem>> {
        let mut problems = Vec::new();
        if let Err(e) = check_file_name(&manifest.name) {
            problems.push(Problem::new("name", e));
        }
        for (i, argv) in manifest.setup.iter().enumerate() {
            if argv.0.first().is_none_or(|program| program.is_empty()) {
                problems.push(Problem::new(
                    format!("setup[{i}]"),
                    "empty command; write it as a list such as [cargo, build, --release]",
                ));
            }
        }

        let services = plan_services(&manifest, workdir, &mut problems);
        let variants = plan_variants(&manifest, workdir, &mut problems);
        let phases = plan_phases(&manifest.phases, &manifest.load, &mut problems);
        check_cpus(manifest.load.cpus.as_deref(), "load.cpus", &mut problems);
        let repeat = match manifest.repeat {
            None => 1,
            Some(n @ 1..=100) => n,
            Some(_) => {
                problems.push(Problem::new("repeat", "must be from 1 to 100"));
                1
            }
        };
        let sample_every = match manifest.sample_every.map(|d| d.0) {
            None => DEFAULT_SAMPLE_EVERY,
            Some(d) if d >= Duration::from_millis(50) => d,
            Some(_) => {
                problems.push(Problem::new(
                    "sample_every",
                    "must be at least 50ms: CPU time is counted in 10 ms ticks, so shorter intervals are mostly noise",
                ));
                DEFAULT_SAMPLE_EVERY
            }
        };
        let schedule = match (manifest.order, manifest.seed) {
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
        };
        let warmup = manifest
            .warmup
            .as_ref()
            .and_then(|w| plan_phase(w, "warmup", "warmup", &manifest.load, &mut problems));
        let requests = plan_requests(&manifest.requests, &mut problems);
        check_assertions(
            &manifest.assertions,
            &variants,
            &phases,
            manifest.baseline.as_deref(),
            &mut problems,
        );
        if let Some(baseline) = &manifest.baseline {
            if !variants.iter().any(|v| &v.name == baseline) {
                problems.push(Problem::new(
                    "baseline",
                    format!(
                        "no variant named `{baseline}`; variants are: {}",
                        variants
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let report_template = manifest.report.template.as_ref().map(|t| workdir.join(t));
        if let (Some(written), Some(resolved)) = (&manifest.report.template, &report_template) {
            if !resolved.is_file() {
                problems.push(Problem::new(
                    "report.template",
                    format!(
                        "template `{}` does not exist (relative paths start at {})",
                        written.display(),
                        workdir.display()
                    ),
                ));
            }
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Plan {
            name: manifest.name,
            description: manifest.description,
            manifest_path: manifest_path.to_owned(),
            workdir: workdir.to_owned(),
            setup: manifest.setup.into_iter().map(|argv| argv.0).collect(),
            services,
            variants,
            warmup,
            phases,
            requests,
            assertions: manifest.assertions,
            baseline: manifest.baseline,
            report_template,
            safe_env: manifest.report.safe_env,
            manifest_sha256: String::new(),
            repeat,
            sample_every,
            schedule,
            compare: manifest.compare.clone(),
        })
    }
}

/// The fields a process is planned from: a single-command variant, a variant's process, or
/// a service.
struct ProcessSpec<'a> {
    name: &'a str,
    log_name: String,
    command: &'a [String],
    env: &'a BTreeMap<String, String>,
    cwd: Option<&'a PathBuf>,
    ready: Option<&'a types::Ready>,
    stop: Option<&'a types::Stop>,
    cpus: Option<&'a [usize]>,
    /// Variants' processes inherit `defaults.env`; services do not: those settings configure
    /// the servers under test (often to reach the services), not the services themselves.
    inherit_env: bool,
}

/// Plans one process. `placeholders` holds the names it may refer to (ports are 0: only the
/// names are checked here).
fn plan_process(
    spec: ProcessSpec,
    at: &dyn Fn(&str) -> String,
    manifest: &Manifest,
    workdir: &Path,
    placeholders: &PlaceholderContext,
    problems: &mut Vec<Problem>,
) -> ProcessPlan {
    let defaults = &manifest.defaults;
    if spec
        .command
        .first()
        .is_none_or(|program| program.is_empty())
    {
        problems.push(Problem::new(
            at("command"),
            "empty command; write it as a list such as [target/release/hello-rs, --port, \"{{ port }}\"]",
        ));
    }
    for (j, arg) in spec.command.iter().enumerate() {
        if let Err(e) = placeholders::render(arg, placeholders) {
            problems.push(Problem::new(at(&format!("command[{j}]")), e));
        }
    }
    let mut env = if spec.inherit_env {
        defaults.env.clone()
    } else {
        BTreeMap::new()
    };
    env.extend(spec.env.clone());
    for (key, value) in &env {
        let at = |field: &str| {
            if spec.env.contains_key(key) {
                at(field)
            } else {
                format!("defaults.{field}")
            }
        };
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            problems.push(Problem::new(
                at("env"),
                format!("`{key}` is not a valid environment variable name"),
            ));
        }
        if let Err(e) = placeholders::render(value, placeholders) {
            problems.push(Problem::new(at(&format!("env.{key}")), e));
        }
    }
    let written_cwd = spec.cwd.or(defaults.cwd.as_ref());
    let cwd = written_cwd.map_or_else(|| workdir.to_owned(), |dir| workdir.join(dir));
    if !cwd.is_dir() {
        problems.push(Problem::new(
            if spec.cwd.is_some() {
                at("cwd")
            } else {
                "defaults.cwd".to_owned()
            },
            format!(
                "directory `{}` does not exist (relative paths start at {})",
                written_cwd.map_or(cwd.clone(), |d| d.clone()).display(),
                workdir.display()
            ),
        ));
    }

    let ready = merge_ready(defaults.ready.as_ref(), spec.ready);
    let probe = match (&ready.http, ready.tcp) {
        (Some(_), Some(true)) => {
            problems.push(Problem::new(
                at("ready"),
                "both `http` and `tcp` are set; choose one readiness probe",
            ));
            ReadyProbe::Tcp
        }
        (Some(path), _) => {
            if !path.starts_with('/') {
                problems.push(Problem::new(
                    at("ready.http"),
                    format!("`{path}` must be a path starting with `/`, such as /health"),
                ));
            }
            ReadyProbe::Http(path.clone())
        }
        (None, _) => ReadyProbe::Tcp,
    };
    let ready_timeout = positive(
        ready.timeout.map(|d| d.0),
        DEFAULT_READY_TIMEOUT,
        &at("ready.timeout"),
        problems,
    );
    let ready_interval = positive(
        ready.interval.map(|d| d.0),
        DEFAULT_READY_INTERVAL,
        &at("ready.interval"),
        problems,
    );
    let stop = spec.stop.cloned().unwrap_or_default();
    let default_stop = defaults.stop.clone().unwrap_or_default();
    let signal_name = stop.signal.or(default_stop.signal);
    let signal = match signal_name.as_deref().map(parse_signal) {
        None => nix::sys::signal::Signal::SIGTERM,
        Some(Ok(signal)) => signal,
        Some(Err(e)) => {
            problems.push(Problem::new(at("stop.signal"), e));
            nix::sys::signal::Signal::SIGTERM
        }
    };
    ProcessPlan {
        name: spec.name.to_owned(),
        log_name: spec.log_name,
        command: spec.command.to_vec(),
        env,
        cwd,
        ready: probe,
        ready_timeout,
        ready_interval,
        stop: StopPlan {
            signal,
            to: stop.to.or(default_stop.to).unwrap_or_default(),
            grace: stop
                .grace
                .or(default_stop.grace)
                .map_or(DEFAULT_STOP_GRACE, |d| d.0),
        },
        cpus: check_cpus(spec.cpus, &at("cpus"), problems),
    }
}

/// Signals a server may be asked to stop with.
const STOP_SIGNALS: &[&str] = &["TERM", "INT", "QUIT", "HUP", "USR1", "USR2"];

fn parse_signal(name: &str) -> Result<nix::sys::signal::Signal, String> {
    let short = name.trim().to_ascii_uppercase();
    let short = short.strip_prefix("SIG").unwrap_or(&short);
    if !STOP_SIGNALS.contains(&short) {
        return Err(format!(
            "`{name}` is not a stop signal; use one of {}",
            STOP_SIGNALS.join(", ")
        ));
    }
    format!("SIG{short}")
        .parse()
        .map_err(|_| format!("`{name}` is not a signal"))
}

/// Placeholder names for validation: every port 0, nothing written.
fn validation_context(
    manifest: &Manifest,
    workdir: &Path,
    name: &str,
    services: &[&str],
    processes: &[&str],
) -> PlaceholderContext {
    PlaceholderContext {
        experiment: manifest.name.clone(),
        name: name.to_owned(),
        port: 0,
        scratch: std::env::temp_dir().join("benchrig-validation"),
        services: services.iter().map(|s| ((*s).to_owned(), 0)).collect(),
        processes: processes.iter().map(|p| ((*p).to_owned(), 0)).collect(),
        workdir: workdir.to_owned(),
        write_files: false,
    }
}

fn plan_services(
    manifest: &Manifest,
    workdir: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<ProcessPlan> {
    let mut seen: Vec<&str> = Vec::new();
    let mut plans = Vec::new();
    for (i, service) in manifest.services.iter().enumerate() {
        let at = |field: &str| format!("services[{i}].{field}");
        if let Err(e) = check_file_name(&service.name) {
            problems.push(Problem::new(at("name"), e));
        } else if seen.contains(&service.name.as_str())
            || manifest.variants.iter().any(|v| v.name == service.name)
        {
            problems.push(Problem::new(
                at("name"),
                format!(
                    "`{}` is already the name of a service or variant; names must be unique",
                    service.name
                ),
            ));
        }
        // A service may use the ports of the services started before it.
        let placeholders = validation_context(manifest, workdir, &service.name, &seen, &[]);
        plans.push(plan_process(
            ProcessSpec {
                name: &service.name,
                log_name: format!("{}.log", service.name),
                command: &service.command.0,
                env: &service.env,
                cwd: service.cwd.as_ref(),
                ready: service.ready.as_ref(),
                stop: service.stop.as_ref(),
                cpus: service.cpus.as_deref(),
                inherit_env: false,
            },
            &at,
            manifest,
            workdir,
            &placeholders,
            problems,
        ));
        seen.push(&service.name);
    }
    plans
}

fn plan_variants(
    manifest: &Manifest,
    workdir: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<VariantPlan> {
    if manifest.variants.is_empty() {
        problems.push(Problem::new(
            "variants",
            "no variants; list at least one server to measure",
        ));
    }
    let services: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for (i, variant) in manifest.variants.iter().enumerate() {
        let at = |field: &str| format!("variants[{i}].{field}");
        if let Err(e) = check_file_name(&variant.name) {
            problems.push(Problem::new(at("name"), e));
        } else if !seen.insert(variant.name.as_str()) {
            problems.push(Problem::new(
                at("name"),
                format!(
                    "duplicate variant name `{}`; variant names must be unique",
                    variant.name
                ),
            ));
        }
        let single = ProcessSpec {
            name: &variant.name,
            log_name: format!("{}.log", variant.name),
            command: variant.command.as_ref().map_or(&[][..], |c| &c.0[..]),
            env: &variant.env,
            cwd: variant.cwd.as_ref(),
            ready: variant.ready.as_ref(),
            stop: variant.stop.as_ref(),
            cpus: variant.cpus.as_deref(),
            inherit_env: true,
        };
        let (processes, target) = match (&variant.command, &variant.processes) {
            (Some(_), Some(_)) => {
                problems.push(Problem::new(
                    at("processes"),
                    "both `command` and `processes` are set; a variant is one command or a list of processes",
                ));
                continue;
            }
            (None, None) => {
                problems.push(Problem::new(
                                        format!("variants[{i}]"),
                                        "missing field 'command'; add the command that starts the server, e.g. `command: [target/release/hello-rs, --port, \"{{ port }}\"]`, or `processes:` for several",
                ));
                continue;
            }
            (Some(_), None) => {
                if variant.target.is_some() {
                    problems.push(Problem::new(at("target"), "`target` goes with `processes`"));
                }
                let placeholders =
                    validation_context(manifest, workdir, &variant.name, &services, &[]);
                let plan = plan_process(single, &at, manifest, workdir, &placeholders, problems);
                (vec![plan], 0)
            }
            (None, Some(list)) => {
                if list.is_empty() {
                    problems.push(Problem::new(at("processes"), "list at least one process"));
                    continue;
                }
                for field in [
                    ("env", !variant.env.is_empty()),
                    ("cwd", variant.cwd.is_some()),
                    ("ready", variant.ready.is_some()),
                    ("stop", variant.stop.is_some()),
                    ("cpus", variant.cpus.is_some()),
                ] {
                    if field.1 {
                        problems.push(Problem::new(
                            at(field.0),
                            format!("with `processes`, set `{}` on each process", field.0),
                        ));
                    }
                }
                let mut names: Vec<&str> = Vec::new();
                let mut plans = Vec::new();
                for (j, process) in list.iter().enumerate() {
                    let at = |field: &str| format!("variants[{i}].processes[{j}].{field}");
                    if let Err(e) = check_file_name(&process.name) {
                        problems.push(Problem::new(at("name"), e));
                    } else if names.contains(&process.name.as_str()) {
                        problems.push(Problem::new(
                            at("name"),
                            format!("duplicate process name `{}`", process.name),
                        ));
                    }
                    let placeholders =
                        validation_context(manifest, workdir, &variant.name, &services, &names);
                    plans.push(plan_process(
                        ProcessSpec {
                            name: &process.name,
                            log_name: format!("{}.{}.log", variant.name, process.name),
                            command: &process.command.0,
                            env: &process.env,
                            cwd: process.cwd.as_ref(),
                            ready: process.ready.as_ref(),
                            stop: process.stop.as_ref(),
                            cpus: process.cpus.as_deref(),
                            inherit_env: true,
                        },
                        &at,
                        manifest,
                        workdir,
                        &placeholders,
                        problems,
                    ));
                    names.push(&process.name);
                }
                let target = match &variant.target {
                    None => plans.len() - 1,
                    Some(name) => match names.iter().position(|n| n == name) {
                        Some(index) => index,
                        None => {
                            problems.push(Problem::new(
                                at("target"),
                                format!(
                                    "no process named `{name}`; processes are: {}",
                                    names.join(", ")
                                ),
                            ));
                            0
                        }
                    },
                };
                (plans, target)
            }
        };
        plans.push(VariantPlan {
            name: variant.name.clone(),
            processes,
            target,
        });
    }
    plans
}

fn merge_ready(defaults: Option<&types::Ready>, own: Option<&types::Ready>) -> types::Ready {
    let base = defaults.cloned().unwrap_or_default();
    let Some(own) = own else { return base };
    // A variant naming its own probe kind replaces the default kind entirely.
    let (http, tcp) = if own.http.is_some() || own.tcp.is_some() {
        (own.http.clone(), own.tcp)
    } else {
        (base.http, base.tcp)
    };
    types::Ready {
        http,
        tcp,
        timeout: own.timeout.or(base.timeout),
        interval: own.interval.or(base.interval),
    }
}

fn positive(
    value: Option<Duration>,
    default: Duration,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Duration {
    match value {
        Some(d) if d.is_zero() => {
            problems.push(Problem::new(field, "must be greater than zero"));
            default
        }
        Some(d) => d,
        None => default,
    }
}

fn plan_phases(
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
        let at = format!("phases[{i}]");
        let Some(name) = phase.name.as_deref() else {
            problems.push(Problem::new(
                format!("{at}.name"),
                "every phase needs a name",
            ));
            continue;
        };
        if let Err(e) = check_file_name(name) {
            problems.push(Problem::new(format!("{at}.name"), e));
        } else if !seen.insert(name) {
            problems.push(Problem::new(
                format!("{at}.name"),
                format!("duplicate phase name `{name}`; phase names must be unique"),
            ));
        }
        if let Some(plan) = plan_phase(phase, name, &at, load, problems) {
            plans.push(plan);
        }
    }
    plans
}

fn plan_phase(
    phase: &types::Phase,
    name: &str,
    at: &str,
    load: &types::LoadSettings,
    problems: &mut Vec<Problem>,
) -> Option<PhasePlan> {
    let before = problems.len();
    // A warm-up that ends when stable lasts `max` at most: that is its duration.
    let mut phase = phase.clone();
    if name == "warmup" && phase.until_stable.is_some() {
        if phase.duration.is_some() || phase.iterations.is_some() {
            problems.push(Problem::new(
                at,
                "with `until_stable`, the warm-up lasts at most `max` (default 30s); remove `duration` and `iterations`",
            ));
        }
        phase.duration = Some(
            phase
                .max
                .unwrap_or(super::Duration(Duration::from_secs(30))),
        );
    } else {
        for (field, present) in [
            ("until_stable", phase.until_stable.is_some()),
            ("max", phase.max.is_some()),
        ] {
            if present {
                problems.push(Problem::new(
                    format!("{at}.{field}"),
                    if name == "warmup" {
                        "`max` goes with `until_stable`: warmup: { vus: 10, until_stable: 5%, max: 30s }"
                    } else {
                        "only the warm-up can end when stable: warmup: { vus: 10, until_stable: 5%, max: 30s }"
                    },
                ));
            }
        }
    }
    let phase = &phase;
    let executor = match phase.executor {
        Executor::Closed => "closed",
        Executor::Open => "open",
        Executor::Ramping => "ramping",
    };
    let mut reject = |field: &str, present: bool, instead: &str| {
        if present {
            problems.push(Problem::new(
                format!("{at}.{field}"),
                format!("`{field}` does not apply to the {executor} executor; {instead}"),
            ));
        }
    };
    let model = match phase.executor {
        Executor::Closed => {
            reject(
                "rate",
                phase.rate.is_some(),
                "use `executor: open` for an arrival rate",
            );
            reject(
                "max_in_flight",
                phase.max_in_flight.is_some(),
                "the closed model has `vus` requests in flight at most",
            );
            reject(
                "stages",
                phase.stages.is_some(),
                "use `executor: ramping` for stages",
            );
            reject(
                "start",
                phase.start.is_some(),
                "use `executor: ramping` for a ramp",
            );
            let vus = vus_count(phase.vus, &format!("{at}.vus"), problems);
            let stop = closed_stop(phase, at, problems);
            vus.zip(stop)
                .map(|(vus, stop)| LoadModel::Closed { vus, stop })
        }
        Executor::Open => {
            reject("vus", phase.vus.is_some(), "the open model sends at `rate` whatever the concurrency; cap it with `max_in_flight`");
            reject(
                "iterations",
                phase.iterations.is_some(),
                "an open phase runs for a `duration`",
            );
            reject(
                "think",
                phase.think.is_some(),
                "requests arrive at `rate`, not after a pause",
            );
            reject(
                "stages",
                phase.stages.is_some(),
                "use `executor: ramping` with rate targets such as 500/s",
            );
            reject(
                "start",
                phase.start.is_some(),
                "use `executor: ramping` for a ramp",
            );
            let rate = match phase.rate {
                None => {
                    problems.push(Problem::new(
                        at,
                        "the open executor needs `rate`, e.g. rate: 2000/s",
                    ));
                    None
                }
                Some(r) if r.per_second <= 0.0 => {
                    problems.push(Problem::new(
                        format!("{at}.rate"),
                        "must be greater than zero",
                    ));
                    None
                }
                Some(r) => Some(r.per_second),
            };
            let duration = match phase.duration {
                None => {
                    problems.push(Problem::new(
                        at,
                        "the open executor needs `duration`, e.g. duration: 30s",
                    ));
                    None
                }
                Some(d) if d.0.is_zero() => {
                    problems.push(Problem::new(
                        format!("{at}.duration"),
                        "must be greater than zero",
                    ));
                    None
                }
                Some(d) => Some(d.0),
            };
            let max_in_flight = in_flight_cap(phase.max_in_flight, at, problems);
            rate.zip(duration)
                .zip(max_in_flight)
                .map(|((rate, duration), max_in_flight)| LoadModel::Open {
                    rate: Ramp::constant(rate, duration),
                    max_in_flight,
                })
        }
        Executor::Ramping => {
            reject(
                "vus",
                phase.vus.is_some(),
                "give the VUs as stage targets, and the first value as `start`",
            );
            reject(
                "rate",
                phase.rate.is_some(),
                "give rates as stage targets (e.g. target: 500/s), and the first value as `start`",
            );
            reject(
                "duration",
                phase.duration.is_some(),
                "the phase lasts as long as its stages",
            );
            reject(
                "iterations",
                phase.iterations.is_some(),
                "the phase lasts as long as its stages",
            );
            ramping_model(phase, at, problems)
        }
    };
    let think = phase.think.map(|d| d.0).filter(|d| !d.is_zero());
    let workers = match load.workers {
        None => None,
        Some(n) if (1..=1024).contains(&n) => Some(n as u32),
        Some(_) => {
            problems.push(Problem::new("load.workers", "must be from 1 to 1024"));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(PhasePlan {
        name: name.to_owned(),
        load: model?,
        think,
        client: ClientSettings {
            keep_alive: phase.keep_alive.or(load.keep_alive).unwrap_or(true),
            http2: phase.http2.or(load.http2).unwrap_or(false),
            workers,
            cpus: load.cpus.clone(),
            client: match load.client {
                Some(types::ClientKind::Reqwest) => HttpClient::Reqwest,
                _ => HttpClient::Auto,
            },
        },
        until_stable: phase.until_stable.map(|p| p.0),
    })
}

fn check_cpus(
    cpus: Option<&[usize]>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<usize>> {
    let cpus = cpus?;
    let available = crate::affinity::available_cpus();
    let listed = available
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if cpus.is_empty() {
        problems.push(Problem::new(
            field,
            format!("list at least one CPU; available: {listed}"),
        ));
        return None;
    }
    let missing: Vec<String> = cpus
        .iter()
        .filter(|c| !available.contains(c))
        .map(usize::to_string)
        .collect();
    if !missing.is_empty() {
        problems.push(Problem::new(
            field,
            format!(
                "CPU {} not available to benchrig on this machine; available: {listed}",
                missing.join(", ")
            ),
        ));
        return None;
    }
    Some(cpus.to_vec())
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

fn in_flight_cap(cap: Option<u64>, at: &str, problems: &mut Vec<Problem>) -> Option<u32> {
    match cap {
        None => Some(DEFAULT_MAX_IN_FLIGHT),
        Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
        Some(_) => {
            problems.push(Problem::new(
                format!("{at}.max_in_flight"),
                "must be from 1 to 100000",
            ));
            None
        }
    }
}

fn closed_stop(
    phase: &types::Phase,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<StopCondition> {
    match (phase.duration, phase.iterations) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                at,
                "both `duration` and `iterations` are set; a closed phase stops on one of them",
            ));
            None
        }
        (None, None) => {
            problems.push(Problem::new(
                at,
                "needs `duration` (e.g. 10s) or `iterations` (total requests shared by all VUs)",
            ));
            None
        }
        (Some(d), None) if d.0.is_zero() => {
            problems.push(Problem::new(
                format!("{at}.duration"),
                "must be greater than zero",
            ));
            None
        }
        (Some(d), None) => Some(StopCondition::Duration(d.0)),
        (None, Some(0)) => {
            problems.push(Problem::new(
                format!("{at}.iterations"),
                "must be at least 1",
            ));
            None
        }
        (None, Some(n)) => Some(StopCondition::Iterations(n)),
    }
}

fn ramping_model(phase: &types::Phase, at: &str, problems: &mut Vec<Problem>) -> Option<LoadModel> {
    let stages = match &phase.stages {
        Some(stages) if !stages.is_empty() => stages,
        _ => {
            problems.push(Problem::new(
                at,
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
                format!("{at}.stages[{i}].duration"),
                "must be greater than zero",
            ));
            ok = false;
        }
        if matches!(stage.target, Level::Rate(_)) != rates {
            problems.push(Problem::new(
                format!("{at}.stages[{i}].target"),
                "mixes virtual users and rates; a ramp is all VU counts (200) or all rates (500/s)",
            ));
            ok = false;
        }
    }
    if let Some(start) = phase.start {
        if matches!(start, Level::Rate(_)) != rates {
            problems.push(Problem::new(
                format!("{at}.start"),
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
            format!("{at}.stages"),
            "every target is 0: the phase would send nothing",
        ));
        ok = false;
    }
    if rates {
        if phase.think.is_some() {
            problems.push(Problem::new(
                format!("{at}.think"),
                "`think` does not apply to a ramp of rates; requests arrive at the rate, not after a pause",
            ));
        }
        let cap = in_flight_cap(phase.max_in_flight, at, problems);
        (ok && cap.is_some()).then(|| LoadModel::Open {
            rate: ramp,
            max_in_flight: cap.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        })
    } else {
        if phase.max_in_flight.is_some() {
            problems.push(Problem::new(
                format!("{at}.max_in_flight"),
                "`max_in_flight` applies to a ramp of rates; with VU targets, the VUs are the cap",
            ));
        }
        if ramp.peak() > 100_000.0 {
            problems.push(Problem::new(
                format!("{at}.stages"),
                "at most 100000 virtual users",
            ));
            ok = false;
        }
        ok.then_some(LoadModel::RampingVus(ramp))
    }
}

fn plan_requests(requests: &[types::Request], problems: &mut Vec<Problem>) -> Vec<RequestPlan> {
    if requests.is_empty() {
        problems.push(Problem::new(
            "requests",
            "no requests; add at least one, e.g. { method: GET, path: /hello }",
        ));
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let at = |field: &str| format!("requests[{i}].{field}");
        let before = problems.len();
        let method = match Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                problems.push(Problem::new(
                    at("method"),
                    format!("`{}` is not an HTTP method", request.method),
                ));
                Method::GET
            }
        };
        if !request.path.starts_with('/') {
            problems.push(Problem::new(
                at("path"),
                format!(
                    "`{}` must start with `/`; the host is the variant's own address",
                    request.path
                ),
            ));
        } else if request.path.parse::<reqwest::Url>().is_err()
            && format!("http://127.0.0.1{}", request.path)
                .parse::<reqwest::Url>()
                .is_err()
        {
            problems.push(Problem::new(
                at("path"),
                format!("`{}` is not a valid URL path", request.path),
            ));
        }
        let mut literal_fields = vec![("path".to_owned(), Some(&request.path))];
        literal_fields.push(("body".to_owned(), request.body.as_ref()));
        literal_fields.extend(
            request
                .headers
                .iter()
                .map(|(k, v)| (format!("headers.{k}"), Some(v))),
        );
        for (field, text) in literal_fields {
            if text.is_some_and(|t| t.contains("{{") || t.contains("{%")) {
                problems.push(Problem::new(
                    at(&field),
                    "placeholders are not supported in requests; write the value literally",
                ));
            }
        }
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| format!("{method} {}", request.path));
        if name.is_empty() || name.chars().any(char::is_control) {
            problems.push(Problem::new(
                at("name"),
                "must be non-empty text without control characters",
            ));
        } else if !seen.insert(name.clone()) {
            problems.push(Problem::new(
                at("name"),
                format!("duplicate request name `{name}`; give each request a distinct `name`"),
            ));
        }
        let mut headers = HeaderMap::new();
        for (key, value) in &request.headers {
            match (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(k), Ok(v)) => {
                    headers.append(k, v);
                }
                (Err(_), _) => problems.push(Problem::new(
                    at(&format!("headers.{key}")),
                    format!("`{key}` is not a valid header name"),
                )),
                (_, Err(_)) => problems.push(Problem::new(
                    at(&format!("headers.{key}")),
                    "the value is not a valid header value (control characters or non-ASCII)",
                )),
            }
        }
        let body = match (&request.body, &request.json) {
            (Some(_), Some(_)) => {
                problems.push(Problem::new(
                    at("body"),
                    "both `body` and `json` are set; choose one",
                ));
                Bytes::new()
            }
            (Some(text), None) => Bytes::from(text.clone()),
            (None, Some(value)) => {
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Bytes::from(serde_json::to_vec(value).expect("a YAML value is valid JSON"))
            }
            (None, None) => Bytes::new(),
        };
        if request.weight == 0 {
            problems.push(Problem::new(at("weight"), "must be at least 1"));
        }
        let timeout = positive(
            request.timeout.map(|d| d.0),
            DEFAULT_REQUEST_TIMEOUT,
            &at("timeout"),
            problems,
        );
        if problems.len() == before {
            plans.push(RequestPlan {
                name,
                method,
                path: request.path.clone(),
                headers,
                body,
                weight: request.weight,
                timeout,
            });
        }
    }
    plans
}

fn check_assertions(
    list: &[types::Assertion],
    variants: &[VariantPlan],
    phases: &[PhasePlan],
    baseline: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    let variant_names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let phase_names: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
    for (i, assertion) in list.iter().enumerate() {
        let at = format!("assertions[{i}]");
        if let Err(e) = expressions::check_expression(&assertion.expect) {
            problems.push(Problem::new(&at, e));
        } else if let Err(e) = expressions::check_baseline(&assertion.expect, baseline) {
            problems.push(Problem::new(&at, e));
        }
        for (map, known) in [("variants", &variant_names), ("phases", &phase_names)] {
            for name in expressions::referenced_names(&assertion.expect, map) {
                if !known.contains(&name.as_str()) {
                    let kind = map.trim_end_matches('s');
                    problems.push(Problem::new(
                        &at,
                        format!(
                            "`{map}['{name}']`: no {kind} named `{name}`; {map} are: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(variant) = &assertion.variant {
            if !variant_names.contains(&variant.as_str()) {
                problems.push(Problem::new(
                    format!("{at}.variant"),
                    format!(
                        "no variant named `{variant}`; variants are: {}",
                        variant_names.join(", ")
                    ),
                ));
            }
        }
        if let Some(phase) = &assertion.phase {
            if !phase_names.contains(&phase.as_str()) {
                problems.push(Problem::new(
                    format!("{at}.phase"),
                    format!(
                        "no phase named `{phase}`; phases are: {}",
                        phase_names.join(", ")
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;

    const VALID: &str = r#"
name: demo
defaults:
  ready: { http: /health, timeout: 5s }
variants:
  - name: one
    command: [server, --port, "{{ port }}"]
    env: { URL: "http://127.0.0.1:{{ port }}/x", NAME: "{{ name }}" }
  - name: two
    command: [server, --port, "{{ port }}", --threads, "2"]
    ready: { tcp: true }
    stop: { grace: 1s }
warmup: { vus: 2, duration: 1s }
phases:
  - { name: steady, vus: 10, duration: 2s }
  - { name: fixed, vus: 5, iterations: 50, think: 100ms }
requests:
  - { path: /hello, weight: 3 }
  - { name: order, method: post, path: /items/orders, json: { id: 1 } }
assertions:
  - "error_rate < 0.01"
  - { variant: two, phase: steady, expect: "rps > 0.5 * variants['one'].rps" }
"#;

    fn plan(text: &str) -> Result<Plan, Vec<Problem>> {
        let manifest = parse_str(text, Path::new("x.yaml")).expect("parses");
        Plan::from_manifest(manifest, Path::new("x.yaml"), Path::new("."))
    }

    fn problems(text: &str) -> Vec<String> {
        plan(text)
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn applies_defaults_and_keeps_order() {
        let plan = plan(VALID).unwrap();
        let (one, two) = (
            &plan.variants[0].processes[0],
            &plan.variants[1].processes[0],
        );
        assert_eq!(one.ready, ReadyProbe::Http("/health".into()));
        assert_eq!(one.ready_timeout, Duration::from_secs(5));
        assert_eq!(one.stop.grace, DEFAULT_STOP_GRACE);
        assert_eq!(one.stop.signal, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(one.log_name, "one.log");
        assert_eq!(two.ready, ReadyProbe::Tcp);
        assert_eq!(two.ready_timeout, Duration::from_secs(5));
        assert_eq!(two.stop.grace, Duration::from_secs(1));
        assert_eq!(
            plan.phases[0].load,
            LoadModel::Closed {
                vus: 10,
                stop: StopCondition::Duration(Duration::from_secs(2))
            }
        );
        assert_eq!(
            plan.phases[1].load,
            LoadModel::Closed {
                vus: 5,
                stop: StopCondition::Iterations(50)
            }
        );
        assert_eq!(plan.phases[0].client, ClientSettings::default());
        assert_eq!(plan.phases[1].think, Some(Duration::from_millis(100)));
        assert_eq!(plan.warmup.as_ref().unwrap().name, "warmup");
        assert_eq!(plan.requests[0].name, "GET /hello");
        assert_eq!(plan.requests[0].weight, 3);
        assert_eq!(plan.requests[1].method, Method::POST);
        assert_eq!(&plan.requests[1].body[..], br#"{"id":1}"#);
        assert_eq!(plan.requests[1].headers[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn port_placeholders_are_rendered_per_launch() {
        let plan = plan(VALID).unwrap();
        let ctx = PlaceholderContext {
            experiment: "demo".into(),
            name: "one".into(),
            port: 41234,
            ..PlaceholderContext::default()
        };
        let launch = plan.variants[0].processes[0].launch(&ctx).unwrap();
        assert_eq!(launch.argv, ["server", "--port", "41234"]);
        assert_eq!(launch.env["URL"], "http://127.0.0.1:41234/x");
        assert_eq!(launch.env["NAME"], "one");
        assert_eq!(launch.port, 41234);
    }

    #[test]
    fn services_processes_and_stop_signals() {
        let text = r#"
name: demo
services:
  - { name: downstream, command: [server, --port, "{{ port }}"] }
variants:
  - name: fronted
    target: front
    processes:
      - name: app
        command: [app, --port, "{{ port }}", --downstream, "{{ services.downstream.port }}"]
        stop: { signal: QUIT, to: leader, grace: 2s }
      - { name: front, command: [proxy, --listen, "{{ port }}", --to, "{{ processes.app.port }}"] }
phases: [{ name: p, vus: 1, iterations: 1 }]
requests: [{ path: / }]
"#;
        let plan = plan(text).unwrap();
        assert_eq!(plan.services[0].name, "downstream");
        let variant = &plan.variants[0];
        assert_eq!(variant.target, 1);
        assert_eq!(variant.processes[0].log_name, "fronted.app.log");
        let stop = variant.processes[0].stop;
        assert_eq!(
            (stop.signal, stop.to, stop.grace),
            (
                nix::sys::signal::Signal::SIGQUIT,
                types::StopTarget::Leader,
                Duration::from_secs(2)
            )
        );
        assert_eq!(variant.command_line(), "app: app --port '{{ port }}' --downstream '{{ services.downstream.port }}' · front: proxy --listen '{{ port }}' --to '{{ processes.app.port }}'");

        let bad = text
            .replace("processes.app.port", "processes.front.port")
            .replace("signal: QUIT", "signal: KILL")
            .replace("target: front", "target: nginx")
            .replace("services.downstream.port", "services.db.port");
        let found = problems(&bad);
        let expect = [
            "variants[0].processes[0].command[4]: `services.db`",
            "variants[0].processes[0].stop.signal: `KILL` is not a stop signal",
            "variants[0].processes[1].command[4]: `processes.front` in `{{ processes.front.port }}` does not exist; processes started before this one: app",
            "variants[0].target: no process named `nginx`",
        ];
        for e in expect {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "missing `{e}` in {found:#?}"
            );
        }
    }

    #[test]
    fn unknown_placeholders_are_reported_with_the_field() {
        let text = VALID.replace("\"{{ port }}\", --threads", "\"{{ prot }}\", --threads");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("variants[1].command[2]: unknown placeholder `prot`"),
            "{found:?}"
        );
        assert!(found[0].contains("did you mean `{{ port }}`?"), "{found:?}");
    }

    #[test]
    fn collects_every_problem() {
        let text = r#"
name: "bad/name"
variants:
  - { name: a, command: [] }
  - { name: a, command: [x], ready: { http: health } }
phases:
  - { name: p, vus: 0, duration: 1s }
  - { name: p, vus: 1 }
  - { name: q, vus: 1, duration: 1s, iterations: 5 }
requests:
  - { path: hello, weight: 0 }
  - { method: "BAD METHOD", path: /x, body: a, json: 1 }
assertions:
  - "p99ms < 50"
  - { variant: nope, expect: "rps > 1" }
"#;
        let found = problems(text);
        let expect = [
            "name: `bad/name` contains '/'",
            "variants[0].command: empty command",
            "variants[1].name: duplicate variant name `a`",
            "variants[1].ready.http: `health` must be a path",
            "phases[0].vus: must be at least 1",
            "phases[1].name: duplicate phase name `p`",
            "phases[1]: needs `duration`",
            "phases[2]: both `duration` and `iterations`",
            "requests[0].path: `hello` must start with `/`",
            "requests[0].weight: must be at least 1",
            "requests[1].method: `BAD METHOD` is not an HTTP method",
            "requests[1].body: both `body` and `json`",
            "assertions[0]: unknown name `p99ms`; did you mean `p99_ms`?",
            "assertions[1].variant: no variant named `nope`",
        ];
        for e in expect {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "missing `{e}` in {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }

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

    #[test]
    fn safe_file_names() {
        assert!(check_file_name("hyper-1-thread").is_ok());
        assert!(check_file_name("gunicorn 4w.v2").is_ok());
        assert!(check_file_name("").is_err());
        assert!(check_file_name("a/b").is_err());
        assert!(check_file_name("..").is_err());
        assert!(check_file_name("a\nb").is_err());
    }

    #[test]
    fn compare_tolerance_is_a_percentage_or_a_fraction() {
        assert_eq!(plan(VALID).unwrap().compare.tolerance(), None);
        let with = |value: &str| format!("{VALID}compare: {{ tolerance: {value} }}\n");
        assert_eq!(plan(&with("15%")).unwrap().compare.tolerance(), Some(0.15));
        assert_eq!(plan(&with("0.2")).unwrap().compare.tolerance(), Some(0.2));
        let floor = format!("{VALID}compare: {{ latency_floor: 500us }}\n");
        assert_eq!(plan(&floor).unwrap().compare.latency_floor_ms(), Some(0.5));

        for (bad, message) in [
            ("0%", "must be above 0"),
            ("100%", "must be below 100%"),
            ("10", "as a fraction is 1000 %"),
            ("lots", "is not a tolerance"),
        ] {
            let err = parse_str(&with(bad), Path::new("x.yaml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("x.yaml:23:23: compare.tolerance: ") && err.contains(message),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn assertions_on_baseline_need_a_baseline() {
        let text = VALID.replace("error_rate < 0.01", "p99_ms < 2 * baseline.p99_ms");
        assert_eq!(
            problems(&text),
            ["assertions[0]: `baseline` is the manifest's `baseline:` variant, and this manifest sets none; add `baseline: VARIANT` at the top level, or name the variant: `variants['VARIANT'].p99_ms`"]
        );
        let plan = plan(&format!("{text}baseline: one\n")).unwrap();
        assert_eq!(plan.baseline.as_deref(), Some("one"));
    }
}
