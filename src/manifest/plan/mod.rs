//! Validation of a parsed manifest into a [`Plan`]: defaults applied, every value checked,
//! all problems collected rather than stopping at the first. What is planned has a module each:
//! the processes started, the load phases, the requests sent.

mod phases;
mod processes;
mod requests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::expressions;
use super::types::{self, CompareSettings, Manifest};
use super::Problem;

pub use phases::{
    ClientSettings, HttpClient, LoadModel, PhasePlan, StopCondition, TrialSchedule,
    DEFAULT_MAX_IN_FLIGHT,
};
pub use processes::{LaunchSpec, ProcessPlan, ReadyProbe, StopPlan, VariantPlan};
pub use requests::{split_header_line, RequestPlan, RequestSpec, DEFAULT_REQUEST_TIMEOUT};

use phases::{fields_of, plan_phase, plan_phases, plan_repeat, plan_schedule};
use processes::{
    check_cpus, plan_services, plan_variants, DEFAULT_READY_INTERVAL, DEFAULT_READY_TIMEOUT,
    DEFAULT_STOP_GRACE,
};
use requests::plan_requests;

/// How often resources are sampled when `sample_every` is not set.
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_millis(250);

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
    /// Numbers published elsewhere, for the report's "published vs measured" table.
    pub published: Vec<super::Published>,
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
            published: Vec::new(),
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
        check_setup(&manifest.setup, &mut problems);
        let services = plan_services(&manifest, workdir, &mut problems);
        let variants = plan_variants(&manifest, workdir, &mut problems);
        let phases = plan_phases(&manifest.phases, &manifest.load, &mut problems);
        check_cpus(manifest.load.cpus.as_deref(), "load.cpus", &mut problems);
        let repeat = plan_repeat(manifest.repeat, &mut problems);
        let sample_every = plan_sample_every(manifest.sample_every, &mut problems);
        let schedule = plan_schedule(manifest.order, manifest.seed, &mut problems);
        let warmup = manifest.warmup.as_ref().and_then(|warmup| {
            let at = fields_of("warmup");
            plan_phase(warmup, "warmup", &at, &manifest.load, &mut problems)
        });
        let requests = plan_requests(&manifest.requests, &mut problems);
        check_assertions(
            &manifest.assertions,
            &variants,
            &phases,
            manifest.baseline.as_deref(),
            &mut problems,
        );
        check_baseline(manifest.baseline.as_deref(), &variants, &mut problems);
        super::published::check(
            &manifest.published,
            &variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            &phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            &mut problems,
        );
        let report_template =
            plan_report_template(manifest.report.template.as_ref(), workdir, &mut problems);

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
            published: manifest.published,
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

fn check_setup(setup: &[super::Argv], problems: &mut Vec<Problem>) {
    for (i, argv) in setup.iter().enumerate() {
        if argv.0.first().is_none_or(|program| program.is_empty()) {
            problems.push(Problem::new(
                format!("setup[{i}]"),
                "empty command; write it as a list such as [cargo, build, --release]",
            ));
        }
    }
}

fn plan_sample_every(written: Option<super::Duration>, problems: &mut Vec<Problem>) -> Duration {
    match written.map(|d| d.0) {
        None => DEFAULT_SAMPLE_EVERY,
        Some(d) if d >= Duration::from_millis(50) => d,
        Some(_) => {
            problems.push(Problem::new(
                "sample_every",
                "must be at least 50ms: CPU time is counted in 10 ms ticks, so shorter intervals are mostly noise",
            ));
            DEFAULT_SAMPLE_EVERY
        }
    }
}

fn check_baseline(baseline: Option<&str>, variants: &[VariantPlan], problems: &mut Vec<Problem>) {
    let Some(baseline) = baseline else { return };
    if !variants.iter().any(|v| v.name == baseline) {
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

/// `report.template`, resolved against `workdir`.
fn plan_report_template(
    written: Option<&PathBuf>,
    workdir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<PathBuf> {
    let written = written?;
    let resolved = workdir.join(written);
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
    Some(resolved)
}

/// A duration that must not be zero, or `default` when not given.
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

/// Names become file names (logs, report folders): keep them portable and unsurprising.
fn check_file_name(name: &str) -> Result<(), String> {
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
        for (i, variant) in assertion.variants.iter().enumerate() {
            if !variant_names.contains(&variant.as_str()) {
                let field = if assertion.variants.len() == 1 {
                    format!("{at}.variant")
                } else {
                    format!("{at}.variant[{i}]")
                };
                problems.push(Problem::new(
                    field,
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
        if assertion
            .claim
            .as_ref()
            .is_some_and(|c| c.trim().is_empty())
        {
            problems.push(Problem::new(
                format!("{at}.claim"),
                "the claim is empty; write the sentence the expression proves (e.g. `claim: \"one worker serves at most 4 req/s\"`), or remove `claim`",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use reqwest::header::CONTENT_TYPE;
    use reqwest::Method;

    use super::*;
    use crate::manifest::parse_str;

    pub(crate) const VALID: &str = r#"
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

    pub(crate) fn plan(text: &str) -> Result<Plan, Vec<Problem>> {
        let manifest = parse_str(text, Path::new("x.yaml")).expect("parses");
        Plan::from_manifest(manifest, Path::new("x.yaml"), Path::new("."))
    }

    pub(crate) fn problems(text: &str) -> Vec<String> {
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
