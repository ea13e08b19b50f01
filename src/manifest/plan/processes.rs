//! Planning the processes benchrig starts: variants (one command or several processes) and
//! services, with their environment, working directory, readiness probe, stopping and CPUs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{check_file_name, positive};
use crate::manifest::placeholders::{self, PlaceholderContext};
use crate::manifest::types::{self, Manifest};
use crate::manifest::Problem;

pub(super) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const DEFAULT_READY_INTERVAL: Duration = Duration::from_millis(50);
pub(super) const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

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
    check_command(spec.command, at, placeholders, problems);
    let env = plan_env(&spec, at, &manifest.defaults, placeholders, problems);
    let cwd = plan_cwd(spec.cwd, at, &manifest.defaults, workdir, problems);
    let ready = merge_ready(manifest.defaults.ready.as_ref(), spec.ready);
    let (probe, ready_timeout, ready_interval) = plan_ready(&ready, at, problems);
    let stop = plan_stop(spec.stop, at, &manifest.defaults, problems);
    ProcessPlan {
        name: spec.name.to_owned(),
        log_name: spec.log_name,
        command: spec.command.to_vec(),
        env,
        cwd,
        ready: probe,
        ready_timeout,
        ready_interval,
        stop,
        cpus: check_cpus(spec.cpus, &at("cpus"), problems),
    }
}

fn check_command(
    command: &[String],
    at: &dyn Fn(&str) -> String,
    placeholders: &PlaceholderContext,
    problems: &mut Vec<Problem>,
) {
    if command.first().is_none_or(|program| program.is_empty()) {
        problems.push(Problem::new(
            at("command"),
            "empty command; write it as a list such as [target/release/hello-rs, --port, \"{{ port }}\"]",
        ));
    }
    for (j, arg) in command.iter().enumerate() {
        if let Err(e) = placeholders::render(arg, placeholders) {
            problems.push(Problem::new(at(&format!("command[{j}]")), e));
        }
    }
}

/// The process's own `env` over `defaults.env` (when it inherits them); a problem in an
/// inherited value is reported at `defaults`.
fn plan_env(
    spec: &ProcessSpec,
    at: &dyn Fn(&str) -> String,
    defaults: &types::Defaults,
    placeholders: &PlaceholderContext,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
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
    env
}

/// The process's `cwd`, else `defaults.cwd`, else `workdir`; relative ones start at `workdir`.
fn plan_cwd(
    own: Option<&PathBuf>,
    at: &dyn Fn(&str) -> String,
    defaults: &types::Defaults,
    workdir: &Path,
    problems: &mut Vec<Problem>,
) -> PathBuf {
    let written = own.or(defaults.cwd.as_ref());
    let cwd = written.map_or_else(|| workdir.to_owned(), |dir| workdir.join(dir));
    if !cwd.is_dir() {
        problems.push(Problem::new(
            if own.is_some() {
                at("cwd")
            } else {
                "defaults.cwd".to_owned()
            },
            format!(
                "directory `{}` does not exist (relative paths start at {})",
                written.map_or(cwd.clone(), |d| d.clone()).display(),
                workdir.display()
            ),
        ));
    }
    cwd
}

/// The probe, its timeout and its interval.
fn plan_ready(
    ready: &types::Ready,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> (ReadyProbe, Duration, Duration) {
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
    let timeout = positive(
        ready.timeout.map(|d| d.0),
        DEFAULT_READY_TIMEOUT,
        &at("ready.timeout"),
        problems,
    );
    let interval = positive(
        ready.interval.map(|d| d.0),
        DEFAULT_READY_INTERVAL,
        &at("ready.interval"),
        problems,
    );
    (probe, timeout, interval)
}

/// The process's `stop` settings, each one it leaves out taken from `defaults.stop`.
fn plan_stop(
    own: Option<&types::Stop>,
    at: &dyn Fn(&str) -> String,
    defaults: &types::Defaults,
    problems: &mut Vec<Problem>,
) -> StopPlan {
    let stop = own.cloned().unwrap_or_default();
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
    StopPlan {
        signal,
        to: stop.to.or(default_stop.to).unwrap_or_default(),
        grace: stop
            .grace
            .or(default_stop.grace)
            .map_or(DEFAULT_STOP_GRACE, |d| d.0),
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

pub(super) fn plan_services(
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

pub(super) fn plan_variants(
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
                plan_process_list(i, variant, list, &services, manifest, workdir, problems)
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

/// The processes of a variant, in start order, and the index of the one the load goes to.
fn plan_process_list(
    i: usize,
    variant: &types::Variant,
    list: &[types::Process],
    services: &[&str],
    manifest: &Manifest,
    workdir: &Path,
    problems: &mut Vec<Problem>,
) -> (Vec<ProcessPlan>, usize) {
    let at = |field: &str| format!("variants[{i}].{field}");
    for (field, present) in [
        ("env", !variant.env.is_empty()),
        ("cwd", variant.cwd.is_some()),
        ("ready", variant.ready.is_some()),
        ("stop", variant.stop.is_some()),
        ("cpus", variant.cpus.is_some()),
    ] {
        if present {
            problems.push(Problem::new(
                at(field),
                format!("with `processes`, set `{field}` on each process"),
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
        // A process may use the ports of the services and of the processes started before it.
        let placeholders = validation_context(manifest, workdir, &variant.name, services, &names);
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

/// Checks that the CPUs listed exist and may be used by benchrig.
pub(super) fn check_cpus(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::plan::tests::{plan, problems, VALID};

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
}
