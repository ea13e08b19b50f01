//! Assertions: minijinja expressions evaluated against the metrics of each variant × phase.
//!
//! The context of an evaluation holds every metric of that variant × phase by name
//! (`rps`, `p99_ms`, `error_rate`, …), `variant` and `phase` (names), and `variants`, a map
//! from each variant's name to its metrics in the same phase, for relative claims such as
//! `rps > 1.3 * variants['hyper-1-thread'].rps`, and `baseline`, the metrics of the manifest's
//! `baseline:` variant in the same phase (`p99_ms < 2 * baseline.p99_ms`).

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value, ValueKind};

use crate::manifest::expressions::{describe_error, environment, lookups};
use crate::manifest::Assertion;
use crate::metrics::{self, Scope, METRICS};
use crate::results::{AssertionOutcome, Metrics, VariantResult};
use crate::text::format_number;

/// Evaluates every assertion on every variant × phase in its scope. A variant × phase in scope
/// without data (the variant failed) fails the assertion: the claim could not be checked, and
/// so does an assertion using `baseline` where the `baseline` variant has no data.
pub fn evaluate(
    assertions: &[Assertion],
    variants: &[VariantResult],
    phases: &[String],
    baseline: Option<&str>,
) -> Vec<AssertionOutcome> {
    let env = environment();
    let mut outcomes = Vec::new();
    for assertion in assertions {
        let compiled = match env.compile_expression(&assertion.expect) {
            Ok(c) => c,
            Err(e) => {
                outcomes.push(AssertionOutcome {
                    expect: assertion.expect.clone(),
                    variant: assertion.variants.join(", "),
                    phase: assertion.phase.clone().unwrap_or_default(),
                    passed: false,
                    detail: format!("invalid expression: {}", describe_error(&e)),
                    claim: assertion.claim.clone(),
                });
                continue;
            }
        };
        let mut names: Vec<String> = compiled.undeclared_variables(false).into_iter().collect();
        names.sort();
        let in_scope =
            |wanted: &Option<String>, name: &str| wanted.as_deref().is_none_or(|w| w == name);
        let variant_in_scope = |name: &str| {
            assertion.variants.is_empty() || assertion.variants.iter().any(|v| v == name)
        };
        // "Every variant against the baseline" means the others: an unscoped assertion using
        // `baseline` skips the baseline variant itself.
        let skip_baseline = (assertion.variants.is_empty()
            && names.iter().any(|n| n == "baseline"))
        .then_some(baseline)
        .flatten();
        for variant in variants
            .iter()
            .filter(|v| variant_in_scope(&v.name))
            .filter(|v| Some(v.name.as_str()) != skip_baseline)
        {
            for phase in phases.iter().filter(|p| in_scope(&assertion.phase, p)) {
                let mut outcome = AssertionOutcome {
                    expect: assertion.expect.clone(),
                    variant: variant.name.clone(),
                    phase: phase.clone(),
                    passed: false,
                    detail: String::new(),
                    claim: assertion.claim.clone(),
                };
                // With repeated trials, the median of each metric across them.
                let Some(result) = variant.metrics(phase) else {
                    outcome.detail = match &variant.failure {
                        Some(f) => {
                            format!("no data: the variant failed ({}: {})", f.stage, f.reason)
                        }
                        None => "no data for this phase".to_owned(),
                    };
                    outcomes.push(outcome);
                    continue;
                };
                let metrics = metric_map(&result);
                let missing = names
                    .iter()
                    .find(|n| metrics::is_metric(n) && !metrics.contains_key(n.as_str()));
                if let Some(missing) = missing {
                    let scope = metrics::spec(missing).map(|m| m.scope);
                    outcome.detail = if scope.is_some_and(Scope::open_model_only) {
                        format!("`{missing}` exists only in open-model phases")
                    } else if scope == Some(Scope::Resources) {
                        format!(
                            "`{missing}` has no value: no resource sample fell within this phase (make it longer than `sample_every`)"
                        )
                    } else {
                        format!("no responses arrived, so `{missing}` has no value")
                    };
                    outcomes.push(outcome);
                    continue;
                }
                let baseline_metrics = baseline
                    .and_then(|b| variants.iter().find(|v| v.name == b))
                    .and_then(|v| v.metrics(phase))
                    .map(|m| metric_map(&m));
                if names.iter().any(|n| n == "baseline") && baseline_metrics.is_none() {
                    outcome.detail = match baseline {
                        None => "no `baseline:` variant is set in the manifest".to_owned(),
                        Some(name) => {
                            match variants
                                .iter()
                                .find(|v| v.name == name)
                                .and_then(|v| v.failure.as_ref())
                            {
                                Some(f) => format!(
                                    "no data for the baseline `{name}`: it failed ({}: {})",
                                    f.stage, f.reason
                                ),
                                None => format!("no data for the baseline `{name}` in this phase"),
                            }
                        }
                    };
                    outcomes.push(outcome);
                    continue;
                }
                let context = context(
                    &metrics,
                    &variant.name,
                    phase,
                    variants,
                    baseline_metrics.as_ref(),
                );
                match compiled.eval(context) {
                    Ok(value) if value.kind() == ValueKind::Bool => {
                        outcome.passed = value.is_true();
                        outcome.detail = used_values(
                            &assertion.expect,
                            &names,
                            &metrics,
                            variant,
                            phase,
                            variants,
                            baseline_metrics.as_ref(),
                        );
                        for note in few_samples(&names, &result) {
                            outcome.detail.push_str(&format!("; {note}"));
                        }
                    }
                    Ok(value) => {
                        outcome.detail =
                            format!("the expression gave `{value}`, not true or false");
                    }
                    Err(e) => outcome.detail = format!("cannot evaluate: {}", describe_error(&e)),
                }
                outcomes.push(outcome);
            }
        }
    }
    outcomes
}

/// The numeric metrics by name; latency metrics without a value are left out so that using
/// them is an error rather than a comparison with nothing.
fn metric_map(metrics: &Metrics) -> BTreeMap<&'static str, f64> {
    METRICS
        .iter()
        .filter_map(|spec| metrics.value(spec.name).map(|v| (spec.name, v)))
        .collect()
}

fn context(
    metrics: &BTreeMap<&'static str, f64>,
    variant: &str,
    phase: &str,
    variants: &[VariantResult],
    baseline: Option<&BTreeMap<&'static str, f64>>,
) -> Value {
    let mut ctx: BTreeMap<&str, Value> = metrics
        .iter()
        .map(|(name, value)| (*name, Value::from(*value)))
        .collect();
    ctx.insert("variant", Value::from(variant));
    ctx.insert("phase", Value::from(phase));
    let peers: BTreeMap<&str, Value> = variants
        .iter()
        .filter_map(|v| {
            v.metrics(phase)
                .map(|m| (v.name.as_str(), Value::from(Serde(metric_map(&m)))))
        })
        .collect();
    ctx.insert("variants", Value::from(peers));
    let own_phases: BTreeMap<&str, Value> = variants
        .iter()
        .filter(|v| v.name == variant)
        .flat_map(|v| {
            v.phases
                .iter()
                .filter_map(|p| Some((p.phase.as_str(), v.metrics(&p.phase)?)))
        })
        .map(|(name, m)| (name, Value::from(Serde(metric_map(&m)))))
        .collect();
    ctx.insert("phases", Value::from(own_phases));
    if let Some(baseline) = baseline {
        ctx.insert("baseline", Value::from(Serde(baseline)));
    }
    Value::from(ctx)
}

/// A note for each percentile the expression used that rests on fewer samples than it needs:
/// "p99_ms rests on 16 responses (a p99 needs 100)". The assertion is still evaluated: the
/// manifest's author chose the threshold, the note tells the reader how little it rests on.
fn few_samples(names: &[String], metrics: &Metrics) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| {
            let percentile = metrics::percentile(name)?;
            let n = percentile.too_few(|m| metrics.value(m))?;
            Some(format!(
                "{name} rests on {} (a {} needs {})",
                percentile.samples.describe(n),
                percentile.label,
                percentile.samples_needed()
            ))
        })
        .collect()
}

/// The values an expression used: its own metrics, then those it looked up in `variants`,
/// `phases` and `baseline`, e.g. "p99_ms = 483.8, phases['closed'].p99_ms = 3.6".
#[allow(clippy::too_many_arguments)]
fn used_values(
    expr: &str,
    names: &[String],
    metrics: &BTreeMap<&'static str, f64>,
    variant: &VariantResult,
    phase: &str,
    variants: &[VariantResult],
    baseline: Option<&BTreeMap<&'static str, f64>>,
) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .filter_map(|n| {
            metrics
                .get(n.as_str())
                .map(|v| format!("{n} = {}", format_number(*v)))
        })
        .collect();
    for map in ["variants", "phases"] {
        for (name, metric) in lookups(expr, map) {
            let Some(metric) = metric else { continue };
            let result = match map {
                "variants" => variants
                    .iter()
                    .find(|v| v.name == name)
                    .and_then(|v| v.metrics(phase)),
                _ => variant.metrics(&name),
            };
            if let Some(value) = result.and_then(|m| metric_map(&m).get(metric.as_str()).copied()) {
                let entry = format!("{map}['{name}'].{metric} = {}", format_number(value));
                if !shown.contains(&entry) {
                    shown.push(entry);
                }
            }
        }
    }
    if let Some(baseline) = baseline {
        for (metric, _) in lookups(expr, "baseline") {
            if let Some(value) = baseline.get(metric.as_str()) {
                let entry = format!("baseline.{metric} = {}", format_number(*value));
                if !shown.contains(&entry) {
                    shown.push(entry);
                }
            }
        }
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{PhaseResult, Tally, VariantFailure};
    use std::time::Duration;

    fn variant(name: &str, latency_ms: u64, requests: u64) -> VariantResult {
        let mut tally = Tally::new();
        for _ in 0..requests {
            tally.record_response(latency_ms * 1000, 200, 2);
        }
        VariantResult {
            name: name.to_owned(),
            argv: vec![],
            port: 1,
            ready_after_s: Some(0.1),
            phases: vec![PhaseResult {
                phase: "main".to_owned(),
                trial: 1,
                metrics: Metrics::from_tally(&tally, Duration::from_secs(1), None),
                by_request: vec![],
                timeline: vec![],
                histograms: Default::default(),
            }],
            failure: None,
            stop_note: None,
            warmups: Vec::new(),
        }
    }

    fn assertion(expect: &str, variant: Option<&str>) -> Assertion {
        Assertion {
            expect: expect.to_owned(),
            variants: variant.into_iter().map(str::to_owned).collect(),
            phase: None,
            claim: None,
        }
    }

    fn phases() -> Vec<String> {
        vec!["main".to_owned()]
    }

    #[test]
    fn a_percentile_on_too_few_responses_is_evaluated_with_a_note() {
        let variants = [variant("few", 5, 16), variant("many", 5, 100)];
        let outcomes = evaluate(
            &[assertion("p99_ms < 20 and p50_ms < 20", None)],
            &variants,
            &phases(),
            None,
        );
        assert!(outcomes.iter().all(|o| o.passed), "{outcomes:?}");
        assert_eq!(
            outcomes[0].detail,
            "p50_ms = 5.003, p99_ms = 5.003; p99_ms rests on 16 responses (a p99 needs 100)"
        );
        assert_eq!(
            outcomes[1].detail, "p50_ms = 5.003, p99_ms = 5.003",
            "100 are enough"
        );
    }

    #[test]
    fn a_list_of_variants_checks_those_variants_only() {
        let variants = [
            variant("a", 5, 100),
            variant("b", 50, 100),
            variant("c", 50, 100),
        ];
        let mut scoped = assertion("p99_ms < 20", None);
        scoped.variants = vec!["a".to_owned(), "c".to_owned()];
        let outcomes = evaluate(&[scoped], &variants, &phases(), None);
        let checked: Vec<(&str, bool)> = outcomes
            .iter()
            .map(|o| (o.variant.as_str(), o.passed))
            .collect();
        assert_eq!(checked, [("a", true), ("c", false)]);
    }

    #[test]
    fn passes_and_fails_on_the_numbers() {
        let variants = [variant("fast", 5, 100), variant("slow", 50, 10)];
        let outcomes = evaluate(
            &[assertion("p99_ms < 20", None)],
            &variants,
            &phases(),
            None,
        );
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes[0].passed, "{outcomes:?}");
        assert!(!outcomes[1].passed, "{outcomes:?}");
        assert!(
            outcomes[1].detail.starts_with("p99_ms = 50"),
            "{}",
            outcomes[1].detail
        );
    }

    #[test]
    fn relative_assertions_see_the_other_variants() {
        let variants = [variant("fast", 5, 100), variant("slow", 50, 10)];
        let ok = evaluate(
            &[assertion("rps > 5 * variants['slow'].rps", Some("fast"))],
            &variants,
            &phases(),
            None,
        );
        assert_eq!(ok.len(), 1);
        assert!(ok[0].passed, "{ok:?}");
        let bad = evaluate(
            &[assertion("rps > 20 * variants['slow'].rps", Some("fast"))],
            &variants,
            &phases(),
            None,
        );
        assert!(!bad[0].passed);
    }

    /// A variant that never became ready: no phase data, only the failure.
    fn failed_variant(name: &str) -> VariantResult {
        let mut failed = variant(name, 1, 0);
        failed.phases.clear();
        failed.failure = Some(VariantFailure {
            stage: "ready".into(),
            reason: "exited with status 1".into(),
            log_tail: String::new(),
            log: format!("{name}.log"),
        });
        failed
    }

    #[test]
    fn a_failed_variant_fails_the_assertion_with_the_reason() {
        let broken = failed_variant("broken");
        let outcomes = evaluate(
            &[assertion("error_rate < 0.01", None)],
            &[broken],
            &phases(),
            None,
        );
        assert!(!outcomes[0].passed);
        assert!(
            outcomes[0].detail.contains("exited with status 1"),
            "{outcomes:?}"
        );
    }

    #[test]
    fn latency_without_responses_is_not_a_pass() {
        let empty = variant("empty", 1, 0);
        let outcomes = evaluate(&[assertion("p99_ms < 50", None)], &[empty], &phases(), None);
        assert!(!outcomes[0].passed);
        assert!(outcomes[0].detail.contains("no responses"), "{outcomes:?}");
    }

    #[test]
    fn open_model_metrics_in_a_closed_phase_say_so() {
        let outcomes = evaluate(
            &[assertion("service_p99_ms < 5", None)],
            &[variant("a", 1, 10)],
            &phases(),
            None,
        );
        assert!(!outcomes[0].passed);
        assert_eq!(
            outcomes[0].detail,
            "`service_p99_ms` exists only in open-model phases"
        );
    }

    #[test]
    fn non_boolean_and_unknown_peer_are_failures() {
        let variants = [variant("a", 1, 1)];
        let outcomes = evaluate(
            &[
                assertion("rps * 2", None),
                assertion("rps > variants['nope'].rps", None),
            ],
            &variants,
            &phases(),
            None,
        );
        assert!(!outcomes[0].passed && outcomes[0].detail.contains("not true or false"));
        assert!(!outcomes[1].passed && outcomes[1].detail.starts_with("cannot evaluate"));
    }

    #[test]
    fn phases_compare_a_variant_with_itself() {
        let mut v = variant("a", 5, 10);
        let mut slow = v.phases[0].clone();
        slow.phase = "slow".to_owned();
        slow.metrics.p99_ms = Some(50.0);
        v.phases.push(slow);
        let phases = vec!["main".to_owned(), "slow".to_owned()];
        let outcomes = evaluate(
            &[Assertion {
                expect: "p99_ms > 5 * phases['main'].p99_ms".into(),
                variants: Vec::new(),
                phase: Some("slow".into()),
                claim: None,
            }],
            &[v],
            &phases,
            None,
        );
        assert!(outcomes[0].passed, "{outcomes:?}");
        assert_eq!(
            outcomes[0].detail,
            "p99_ms = 50, phases['main'].p99_ms = 5.003; p99_ms rests on 10 responses (a p99 needs 100)"
        );
    }

    #[test]
    fn number_formatting() {}

    #[test]
    fn baseline_is_the_manifests_baseline_variant_in_the_same_phase() {
        // fast: 5 ms, 100 requests in 1 s; slow: 50 ms, 10 requests in 1 s.
        let variants = [variant("fast", 5, 100), variant("slow", 50, 10)];
        let outcomes = evaluate(
            &[
                assertion("p99_ms < 2 * baseline.p99_ms", None),
                assertion("rps > 5 * baseline['rps']", Some("fast")),
            ],
            &variants,
            &phases(),
            Some("fast"),
        );
        // Unscoped, the baseline is not checked against itself: only `slow`, with ten times
        // its latency.
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert_eq!(outcomes[0].variant, "slow");
        assert!(!outcomes[0].passed, "{outcomes:?}");
        assert_eq!(
            outcomes[0].detail,
            "p99_ms = 50.015, baseline.p99_ms = 5.003; p99_ms rests on 10 responses (a p99 needs 100)"
        );
        // Scoped to the baseline itself, it is: rps > 5 × its own rps is false.
        assert_eq!(outcomes[1].variant, "fast");
        assert!(!outcomes[1].passed);
        assert_eq!(outcomes[1].detail, "rps = 100, baseline.rps = 100");

        let outcomes = evaluate(
            &[assertion("rps < 20 * baseline.rps", Some("fast"))],
            &variants,
            &phases(),
            Some("slow"),
        );
        assert!(outcomes[0].passed, "{outcomes:?}");
    }

    #[test]
    fn a_baseline_without_data_fails_the_assertion() {
        let broken = failed_variant("broken");
        let outcomes = evaluate(
            &[assertion("rps > baseline.rps", Some("ok"))],
            &[variant("ok", 1, 10), broken],
            &phases(),
            Some("broken"),
        );
        assert!(!outcomes[0].passed);
        assert_eq!(
            outcomes[0].detail,
            "no data for the baseline `broken`: it failed (ready: exited with status 1)"
        );
        // Assertions that do not use `baseline` are unaffected.
        let outcomes = evaluate(
            &[assertion("rps > 1", Some("ok"))],
            &[variant("ok", 1, 10)],
            &phases(),
            Some("missing"),
        );
        assert!(outcomes[0].passed, "{outcomes:?}");
    }
}
