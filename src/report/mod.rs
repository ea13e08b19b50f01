//! report.md: the run's data rendered through a minijinja template.

pub mod filters;
pub mod plots;

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::assertions::AssertionOutcome;
use crate::environment;
use crate::manifest::{PhasePlan, StopCondition};
use crate::output::{Export, RunData};
use crate::results::{Metrics, VariantFailure};

const DEFAULT_TEMPLATE: &str = include_str!("default.md.j2");

pub struct MarkdownReport;

impl Export for MarkdownReport {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        Ok(render(data)?.into_bytes())
    }
}

pub fn template_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    filters::register(&mut env);
    env
}

pub fn render(data: &RunData) -> Result<String, minijinja::Error> {
    let mut env = template_environment();
    env.add_template("default.md.j2", DEFAULT_TEMPLATE)?;
    let context = Value::from(Serde(build_context(data)));
    env.get_template("default.md.j2")?.render(context)
}

#[derive(Serialize)]
struct Context<'a> {
    name: &'a str,
    description: &'a str,
    manifest: String,
    environment: &'a environment::Environment,
    phases: Vec<PhaseSection<'a>>,
    warmup: Option<String>,
    setup: Vec<String>,
    variants: Vec<VariantRow<'a>>,
    failures: Vec<VariantRow<'a>>,
    requests: Vec<RequestRow<'a>>,
    assertions: &'a [AssertionOutcome],
    assertions_failed: usize,
    failed_variants: usize,
    stop_grace: String,
}

#[derive(Serialize)]
struct PhaseSection<'a> {
    name: &'a str,
    description: String,
    /// One sentence naming the fastest variant and its margin; none with a single variant.
    verdict: Option<String>,
    rows: Vec<ResultRow<'a>>,
    /// Per request name; empty when the experiment has a single request.
    by_request: Vec<RequestResultRow<'a>>,
}

#[derive(Serialize)]
struct ResultRow<'a> {
    variant: &'a str,
    metrics: Option<&'a Metrics>,
    /// Requests/s relative to the fastest variant of the phase.
    relative: Option<f64>,
    errors: String,
    failure: Option<String>,
}

#[derive(Serialize)]
struct RequestResultRow<'a> {
    variant: &'a str,
    request: &'a str,
    metrics: &'a Metrics,
}

#[derive(Serialize, Clone)]
struct VariantRow<'a> {
    name: &'a str,
    /// As written in the manifest, placeholders kept, so reports diff cleanly between runs.
    command: String,
    port: u16,
    ready_after: String,
    status: String,
    failure: Option<&'a VariantFailure>,
}

#[derive(Serialize)]
struct RequestRow<'a> {
    name: &'a str,
    method: &'a str,
    path: &'a str,
    weight: u32,
    body_bytes: usize,
}

/// "for 10s" or "200 requests".
pub fn describe_stop(phase: &PhasePlan) -> String {
    match phase.stop {
        StopCondition::Duration(d) => format!("for {}", humantime::format_duration(d)),
        StopCondition::Iterations(n) => format!("{n} requests"),
    }
}

/// "closed model, 50 VUs, for 10s" and the like.
pub fn describe_phase(phase: &PhasePlan) -> String {
    let vus = if phase.vus == 1 {
        "1 virtual user".to_owned()
    } else {
        format!("{} virtual users", phase.vus)
    };
    let stop = match phase.stop {
        StopCondition::Duration(d) => format!("for {}", humantime::format_duration(d)),
        StopCondition::Iterations(n) => format!("{n} requests shared between them"),
    };
    let think = phase
        .think
        .map(|t| {
            format!(
                ", each pausing {} between requests",
                humantime::format_duration(t)
            )
        })
        .unwrap_or_default();
    format!("Closed model: {vus}, {stop}{think}.")
}

fn describe_errors(m: &Metrics) -> String {
    if m.errors == 0 {
        return "0".to_owned();
    }
    let parts: Vec<String> = [
        ("connect", m.errors_connect),
        ("timeout", m.errors_timeout),
        ("reset", m.errors_reset),
        ("other", m.errors_other),
        ("http ≥400", m.errors_http),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, n)| format!("{name} {n}"))
    .collect();
    format!("{} ({})", m.errors, parts.join(", "))
}

/// "**a** served the most requests/s: 1.39× **b** (78,706.0 vs 56,543.2), p99 1.60 vs 2.45 ms."
fn verdict(data: &RunData, phase: &str) -> Option<String> {
    let mut ranked: Vec<(&str, &Metrics)> = data
        .variants
        .iter()
        .filter_map(|v| v.phase(phase).map(|p| (v.name.as_str(), &p.metrics)))
        .collect();
    ranked.sort_by(|a, b| b.1.rps.total_cmp(&a.1.rps));
    let [(best, top), (second, next), ..] = ranked.as_slice() else {
        return None;
    };
    if next.rps <= 0.0 {
        return Some(format!("Only **{best}** completed requests."));
    }
    let p99 = match (top.p99_ms, next.p99_ms) {
        (Some(a), Some(b)) => format!(
            ", p99 {} vs {} ms",
            filters::ms(Value::from(a)),
            filters::ms(Value::from(b))
        ),
        _ => String::new(),
    };
    Some(format!(
        "**{best}** served the most requests/s: {} **{second}** ({} vs {}){p99}.",
        filters::ratio(Value::from(top.rps / next.rps)),
        filters::rate(Value::from(top.rps)),
        filters::rate(Value::from(next.rps)),
    ))
}

fn build_context<'a>(data: &'a RunData) -> Context<'a> {
    let plan = data.plan;
    let phases = plan
        .phases
        .iter()
        .map(|phase| {
            let best = data
                .variants
                .iter()
                .filter_map(|v| v.phase(&phase.name))
                .map(|p| p.metrics.rps)
                .fold(0.0, f64::max);
            let rows = data
                .variants
                .iter()
                .map(|v| {
                    let result = v.phase(&phase.name);
                    ResultRow {
                        variant: &v.name,
                        metrics: result.map(|r| &r.metrics),
                        relative: result.filter(|_| best > 0.0).map(|r| r.metrics.rps / best),
                        errors: result
                            .map(|r| describe_errors(&r.metrics))
                            .unwrap_or_default(),
                        failure: v
                            .failure
                            .as_ref()
                            .filter(|_| result.is_none())
                            .map(|f| f.reason.clone()),
                    }
                })
                .collect();
            let by_request = if plan.requests.len() > 1 {
                data.variants
                    .iter()
                    .filter_map(|v| v.phase(&phase.name).map(|r| (v, r)))
                    .flat_map(|(v, r)| {
                        r.by_request.iter().map(move |req| RequestResultRow {
                            variant: &v.name,
                            request: &req.request,
                            metrics: &req.metrics,
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            PhaseSection {
                name: &phase.name,
                description: describe_phase(phase),
                verdict: verdict(data, &phase.name),
                rows,
                by_request,
            }
        })
        .collect();

    let variants: Vec<VariantRow> = data
        .variants
        .iter()
        .zip(&plan.variants)
        .map(|(v, planned)| VariantRow {
            name: &v.name,
            command: shell_words::join(&planned.command),
            port: v.port,
            ready_after: v
                .ready_after_s
                .map(|s| format!("{:.2} s", s))
                .unwrap_or_else(|| "—".to_owned()),
            status: match (&v.failure, &v.stop_note) {
                (Some(f), _) => format!("failed during {}: {}", f.stage, f.reason),
                (None, Some(note)) => format!("ok; {note}"),
                (None, None) => "ok".to_owned(),
            },
            failure: v.failure.as_ref(),
        })
        .collect();
    let failures: Vec<VariantRow> = variants
        .iter()
        .filter(|v| v.failure.is_some())
        .cloned()
        .collect();

    let mut graces: Vec<_> = plan.variants.iter().map(|v| v.stop_grace).collect();
    graces.dedup();
    let stop_grace = match graces.as_slice() {
        [one] => humantime::format_duration(*one).to_string(),
        _ => "its stop grace period".to_owned(),
    };

    Context {
        name: &plan.name,
        description: plan.description.trim(),
        manifest: plan.manifest_path.display().to_string(),
        environment: data.environment,
        phases,
        warmup: plan.warmup.as_ref().map(|w| {
            describe_phase(w)
                .trim_start_matches("Closed model: ")
                .trim_end_matches('.')
                .to_owned()
        }),
        setup: plan.setup.iter().map(shell_words::join).collect(),
        failed_variants: failures.len(),
        variants,
        failures,
        requests: plan
            .requests
            .iter()
            .map(|r| RequestRow {
                name: &r.name,
                method: r.method.as_str(),
                path: &r.path,
                weight: r.weight,
                body_bytes: r.body.len(),
            })
            .collect(),
        assertions: data.assertions,
        assertions_failed: data.assertions.iter().filter(|a| !a.passed).count(),
        stop_grace,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::manifest::{parse_str, Plan};
    use crate::results::{PhaseResult, Tally, VariantResult};

    fn plan() -> Plan {
        let text = r#"
name: demo
description: Does a second thread help?
setup: [[cargo, build, --release]]
variants:
  - { name: fast, command: [server, --port, "{{ port }}"] }
  - { name: slow, command: [server, --port, "{{ port }}", --slow] }
  - { name: broken, command: [server, --broken] }
warmup: { vus: 2, duration: 1s }
phases:
  - { name: main, vus: 10, duration: 5s }
requests:
  - { name: hello, path: /hello, weight: 3 }
  - { name: "odd|name", method: POST, path: /items/x, body: "{}" }
"#;
        let manifest = parse_str(text, Path::new("experiments/demo.yaml")).unwrap();
        Plan::from_manifest(manifest, Path::new("experiments/demo.yaml"), Path::new(".")).unwrap()
    }

    fn variant(name: &str, latency_ms: u64, requests: u64) -> VariantResult {
        let mut tally = Tally::new();
        for _ in 0..requests {
            tally.record_response(latency_ms * 1000, 200, 12);
        }
        let recording = crate::results::PhaseRecording {
            elapsed: Duration::from_secs(5),
            by_request: vec![("hello".into(), tally), ("odd|name".into(), Tally::new())],
        };
        VariantResult {
            name: name.into(),
            argv: vec!["server".into(), "--port".into(), "4000".into()],
            port: 4000,
            ready_after_s: Some(0.25),
            phases: vec![PhaseResult::from_recording("main", 1, &recording)],
            failure: None,
            stop_note: None,
        }
    }

    fn render_demo() -> String {
        let plan = plan();
        let mut broken = variant("broken", 1, 0);
        broken.phases.clear();
        broken.ready_after_s = None;
        broken.failure = Some(VariantFailure {
            stage: "ready".into(),
            reason: "exited with status 3 before becoming ready".into(),
            log_tail: "fatal: address in use".into(),
        });
        let variants = vec![variant("fast", 2, 1000), variant("slow", 8, 250), broken];
        let assertions = crate::assertions::evaluate(
            &[crate::manifest::Assertion {
                expect: "p99_ms < 5".into(),
                variant: None,
                phase: None,
            }],
            &variants,
            &["main".to_owned()],
        );
        let environment = environment::Environment {
            date: "2026-01-01T00:00:00Z".into(),
            benchrig_version: "0.0.0".into(),
            cpu_model: "Test CPU".into(),
            cores: 2,
            memory_gib: 4.0,
            kernel: "6.0".into(),
            os: "TestOS".into(),
        };
        render(&RunData {
            plan: &plan,
            variants: &variants,
            assertions: &assertions,
            environment: &environment,
        })
        .unwrap()
    }

    #[test]
    fn renders_tables_verdict_assertions_and_failures() {
        let report = render_demo();
        let expected_lines = [
            "# demo",
            "Does a second thread help?",
            "> **1 variant failed, 2 of 3 assertion checks failed** — see below.",
            "Closed model: 10 virtual users, for 5s. **fast** served the most requests/s: 4.00× **slow** (200.0 vs 50.0), p99 2.00 vs 8.00 ms.",
            "| fast | 1,000 | 200.0 | 1.00× | 100.00 % | 0 | 2.00 | 2.00 | 2.00 | 2.00 | 2.00 | 2.00 |",
            "| slow | 250 | 50.0 | 0.25× | 100.00 % | 0 | 8.00 | 8.00 | 8.00 | 8.00 | 8.00 | 8.00 |",
            "| broken | — | — | — | — | failed: exited with status 3 before becoming ready | — | — | — | — | — | — |",
            "| fast | odd\\|name | 0 | 0.0 | 0.00 % | — | — | — | — |",
            "| ✅ pass | `p99_ms < 5` | fast | main | p99_ms = 2 |",
            "| ❌ fail | `p99_ms < 5` | slow | main | p99_ms = 8.003 |",
            "### broken: failed during ready",
            "fatal: address in use",
            "| fast | `server --port '{{ port }}'` | 4000 | 0.25 s | ok |",
            "- `cargo build --release`",
            "Before its phases, each variant was warmed up with 2 virtual users, for 1s; the warm-up is not recorded.",
        ];
        let lines: Vec<&str> = report.lines().collect();
        for expected in expected_lines {
            assert!(
                lines.contains(&expected),
                "missing line {expected:?} in:\n{report}"
            );
        }
    }

    #[test]
    fn markdown_blocks_are_separated_by_blank_lines() {
        let report = render_demo();
        let lines: Vec<&str> = report.lines().collect();
        for (i, line) in lines.iter().enumerate().skip(1) {
            if line.starts_with('#') {
                assert_eq!(lines[i - 1], "", "no blank line before {line:?}:\n{report}");
            }
            if line.starts_with("| variant |")
                || line.starts_with("| result |")
                || line.starts_with("| name |")
            {
                assert_eq!(
                    lines[i - 1],
                    "",
                    "no blank line before the table at {line:?}:\n{report}"
                );
            }
        }
        assert!(report.ends_with("(not committed)\n"));
        assert!(
            !report.contains("\n\n\n"),
            "no runs of blank lines:\n{report}"
        );
    }
}
