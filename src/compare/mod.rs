//! Two report folders compared: did anything change beyond noise? The basis of
//! `benchrig compare OLD NEW` and `benchrig run --check`. Pure functions on [`SavedRun`] values.
//!
//! For every variant × phase present in both runs, and every compared metric present on both
//! sides, each side's value is the median of its trials. The verdict comes from the trials when
//! both sides have at least two (order-statistic confidence intervals of the median, see
//! [`stats::estimate`]), and from the threshold alone otherwise. The threshold of a metric is
//! the larger of the tolerance and the metric's measured run-to-run noise
//! ([`metrics::Judged::noise`]). A regression is a change in the bad direction that is both
//! real (by that verdict) and beyond the threshold. A resource metric (CPU, memory) counts only
//! from trials with [`MIN_RESOURCE_SAMPLES`] samples in the phase; without such trials on both
//! sides it is "not measured".

mod render;

use serde::Serialize;

pub use render::{render_markdown, render_terminal, verdict_line};

use crate::environment::Environment;
use crate::manifest::{latency_floor_text, DEFAULT_SAMPLE_EVERY};
use crate::metrics::{self, Better, Judged, MetricSpec, Scope};
use crate::output::{MetricsRow, SavedRun};
use crate::results::{stats, Metrics};
use crate::text::short_number;

/// Relative change within which a difference is not a regression: 10 %.
pub const DEFAULT_TOLERANCE: f64 = 0.10;

/// error_rate is compared by absolute difference, not relative change: 0.01 = 1 percentage
/// point. (0 → 0.2 % is an infinite relative change, but not a regression.)
pub const ERROR_RATE_THRESHOLD: f64 = 0.01;

/// A resource metric (`cpu_mean_pct`, `pss_peak_mb`) of a trial counts only when at least this
/// many samples fell within its phase: 1.25 s at the default `sample_every` of 250 ms. Each CPU
/// sample counts 10 ms ticks over its interval (±4 % of a core at 250 ms), and a phase's first
/// sample also covers time before the phase began. With 5, that sample is at most a fifth of
/// the mean and the tick error averages to about ±2 %, below the measured noise of
/// `cpu_mean_pct`; with 1 or 2, a short phase moved CPU and memory by 20-40 % between two runs
/// of the same code.
pub const MIN_RESOURCE_SAMPLES: u64 = 5;

/// Trials spreading more than this in requests/s (coefficient of variation) get a note, as in
/// the report.
pub const NOISY_CV: f64 = 0.10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Fraction: 0.10 means changes up to ±10 % are not regressions.
    pub tolerance: f64,
    /// Latency changes (p50, p99) of at most this many milliseconds are noise, whatever their
    /// relative size: sub-millisecond latencies on a shared machine move by tens of percent from
    /// one run to the next. 0 = off.
    pub latency_floor_ms: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            tolerance: DEFAULT_TOLERANCE,
            latency_floor_ms: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Same,
    /// A resource metric with too few samples on either side: no verdict, never a regression.
    NotMeasured,
    /// rps up, latency down.
    Faster,
    /// rps down, latency up.
    Slower,
    /// error_rate, cpu_mean_pct or pss_peak_mb down.
    Better,
    /// error_rate, cpu_mean_pct or pss_peak_mb up.
    Worse,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::NotMeasured => "not measured",
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
        }
    }

    /// Slower or Worse.
    pub fn is_bad(self) -> bool {
        matches!(self, Verdict::Slower | Verdict::Worse)
    }

    /// Faster or Better.
    pub fn is_good(self) -> bool {
        matches!(self, Verdict::Faster | Verdict::Better)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric of one variant × phase, old against new.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricChange {
    pub variant: String,
    pub phase: String,
    /// One of the metrics compare judges ([`metrics::judged`]).
    pub metric: &'static str,
    /// Median across the trials of each side.
    pub old: f64,
    pub new: f64,
    /// (new − old) / old × 100; `None` when old is 0 and new is not (show the values instead).
    pub change_pct: Option<f64>,
    /// Trials with a value for this metric on each side.
    pub old_trials: usize,
    pub new_trials: usize,
    pub verdict: Verdict,
    /// Slower or Worse, and the change is beyond the metric's threshold: the tolerance or its
    /// measured run-to-run noise, whichever is larger (error_rate: in percentage points).
    pub regression: bool,
    /// How the verdict was reached: "trials do not overlap (3 vs 3)", "single trial (1 vs 1),
    /// within the measured run-to-run noise of 20 %", …
    pub basis: String,
}

impl MetricChange {
    /// "variant / phase"
    pub fn key(&self) -> String {
        format!("{} / {}", self.variant, self.phase)
    }
}

/// One environment field that differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentDifference {
    /// "CPU model", "cores", "memory", "kernel", "OS", "benchrig version".
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Every variant × phase × compared metric present on both sides, in the old run's variant
    /// and phase order, metrics in [`metrics::judged`] order.
    pub rows: Vec<MetricChange>,
    /// "variant / phase" with results in the old run only (a variant or phase removed, or a
    /// variant that failed in the new run).
    pub only_old: Vec<String>,
    /// "variant / phase" with results in the new run only.
    pub only_new: Vec<String>,
    pub environment: Vec<EnvironmentDifference>,
    /// Changes within noise, noisy trials, single trials, failed variants, changed manifest.
    pub notes: Vec<String>,
    /// The tolerance the comparison used (fraction).
    pub tolerance: f64,
    /// The latency floor the comparison used (ms; 0 = none).
    pub latency_floor_ms: f64,
}

impl Comparison {
    /// Rows that are Slower or Worse beyond the tolerance.
    pub fn regressions(&self) -> Vec<&MetricChange> {
        self.rows.iter().filter(|r| r.regression).collect()
    }

    pub fn is_regression(&self) -> bool {
        self.rows.iter().any(|r| r.regression)
    }

    /// Rows that are Faster or Better beyond the threshold.
    pub fn improvements(&self) -> Vec<&MetricChange> {
        self.rows
            .iter()
            .filter(|r| r.verdict.is_good() && beyond(r.metric, r.old, r.new, &self.options()))
            .collect()
    }

    /// The thresholds the comparison used.
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            tolerance: self.tolerance,
            latency_floor_ms: self.latency_floor_ms,
        }
    }
}

/// The verdicts of a judged metric: (improved, worsened).
fn verdicts(spec: &MetricSpec) -> (Verdict, Verdict) {
    match spec.judged {
        Judged::Quality { .. } => (Verdict::Better, Verdict::Worse),
        Judged::Speed { .. } | Judged::No => (Verdict::Faster, Verdict::Slower),
    }
}

/// (new − old) / old × 100, or `None` when old is 0 and new is not.
pub fn change_pct(old: f64, new: f64) -> Option<f64> {
    if old != 0.0 {
        Some((new - old) / old.abs() * 100.0)
    } else if new == 0.0 {
        Some(0.0)
    } else {
        None
    }
}

fn is_latency(metric: &str) -> bool {
    metrics::spec(metric).is_some_and(MetricSpec::is_latency)
}

/// A share (error_rate): compared by absolute difference, in percentage points.
fn is_fraction(metric: &str) -> bool {
    metrics::spec(metric).is_some_and(MetricSpec::is_fraction)
}

/// How far `metric` may move before it counts: the larger of the tolerance and the metric's
/// measured run-to-run noise (relative), or for error_rate the larger of
/// [`ERROR_RATE_THRESHOLD`] and its noise (absolute). The noise is what two single trials of
/// one server differ by on a quiet machine; trials within one run do not show that drift, so it
/// applies with repeats too.
fn threshold(metric: &str, options: &CompareOptions) -> f64 {
    let noise = metrics::spec(metric)
        .and_then(|spec| spec.judged.noise())
        .unwrap_or(0.0);
    let allowed = if is_fraction(metric) {
        ERROR_RATE_THRESHOLD
    } else {
        options.tolerance
    };
    allowed.max(noise)
}

/// Whether the measured noise, not the tolerance, sets `metric`'s threshold.
fn noise_decides(metric: &str, options: &CompareOptions) -> bool {
    let allowed = if is_fraction(metric) {
        ERROR_RATE_THRESHOLD
    } else {
        options.tolerance
    };
    threshold(metric, options) > allowed
}

/// Whether old → new moves more than the threshold ([`threshold`]): for error_rate an absolute
/// difference, for the others a relative change (any change from 0 counts as beyond), and for
/// latencies also more than the latency floor.
fn beyond(metric: &str, old: f64, new: f64, options: &CompareOptions) -> bool {
    let threshold = threshold(metric, options);
    if is_fraction(metric) {
        (new - old).abs() > threshold
    } else if is_latency(metric) && (new - old).abs() <= options.latency_floor_ms {
        false
    } else if old == 0.0 {
        new != 0.0
    } else {
        (new - old).abs() / old.abs() > threshold
    }
}

/// The threshold of `metric` in words: "10 % tolerance", "the measured run-to-run noise of
/// 15 %", either with " and 1 ms" for latencies with a floor, or "1 percentage point" for
/// error_rate. An empty `metric` gives the tolerance.
fn threshold_text(metric: &str, options: &CompareOptions) -> String {
    let size = threshold(metric, options) * 100.0;
    let text = if is_fraction(metric) {
        let points = format!(
            "{} percentage point{}",
            short_number(size),
            if size == 1.0 { "" } else { "s" }
        );
        if noise_decides(metric, options) {
            format!("the measured run-to-run noise of {points}")
        } else {
            points
        }
    } else if metrics::spec(metric).is_some() && noise_decides(metric, options) {
        format!("the measured run-to-run noise of {} %", short_number(size))
    } else {
        format!("{} % tolerance", short_number(options.tolerance * 100.0))
    };
    if is_latency(metric) && options.latency_floor_ms > 0.0 {
        format!(
            "{text} and {}",
            latency_floor_text(options.latency_floor_ms)
        )
    } else {
        text
    }
}

/// Samples a trial's resource metrics rest on: its `resource_samples`, or for a report written
/// before that column existed, what its phase's length allowed at the default sampling interval
/// (the fewest it can have had). The flag says it is an estimate.
fn resource_samples(m: &Metrics) -> (u64, bool) {
    match m.resource_samples {
        Some(n) => (n, false),
        None => (
            (m.duration_s / DEFAULT_SAMPLE_EVERY.as_secs_f64()).floor() as u64,
            true,
        ),
    }
}

/// Names in first-appearance order: `listed` first (run.json's order), then any others from the
/// results.
fn ordered<'a>(
    listed: impl Iterator<Item = &'a str>,
    seen: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in listed.chain(seen) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The summary rows of a run, grouped by variant × phase in the run's order.
fn groups(run: &SavedRun) -> Vec<(&str, &str, Vec<&Metrics>)> {
    let rows: Vec<&MetricsRow> = run.results.iter().filter(|r| r.request.is_none()).collect();
    let variants = ordered(
        run.record.variants.iter().map(|v| v.name.as_str()),
        rows.iter().map(|r| r.variant.as_str()),
    );
    let phases = ordered(
        run.record.phases.iter().map(|p| p.name.as_str()),
        rows.iter().map(|r| r.phase.as_str()),
    );
    let mut out = Vec::new();
    for variant in &variants {
        for phase in &phases {
            let trials: Vec<&Metrics> = rows
                .iter()
                .filter(|r| r.variant == *variant && r.phase == *phase)
                .map(|r| &r.metrics)
                .collect();
            if !trials.is_empty() {
                out.push((*variant, *phase, trials));
            }
        }
    }
    out
}

/// What a run has results for, in words: "variants a, b; phases x, y", or "no results".
pub fn results_text(run: &SavedRun) -> String {
    let groups = groups(run);
    if groups.is_empty() {
        return "no results".to_owned();
    }
    let mut variants: Vec<&str> = Vec::new();
    let mut phases: Vec<&str> = Vec::new();
    for (variant, phase, _) in &groups {
        if !variants.contains(variant) {
            variants.push(variant);
        }
        if !phases.contains(phase) {
            phases.push(phase);
        }
    }
    format!(
        "{} {}; {} {}",
        if variants.len() == 1 {
            "variant"
        } else {
            "variants"
        },
        variants.join(", "),
        if phases.len() == 1 { "phase" } else { "phases" },
        phases.join(", ")
    )
}

/// Compares `new` against `old`. Never fails: what cannot be compared is listed.
pub fn compare(old: &SavedRun, new: &SavedRun, options: &CompareOptions) -> Comparison {
    let tolerance = options.tolerance;

    let old_groups = groups(old);
    let new_groups = groups(new);
    let find = |groups: &[(&str, &str, Vec<&Metrics>)], variant: &str, phase: &str| {
        groups
            .iter()
            .position(|(v, p, _)| *v == variant && *p == phase)
    };

    let mut notes = Vec::new();
    if old.record.experiment.manifest_sha256 != new.record.experiment.manifest_sha256 {
        notes.push(format!(
            "The manifests differ (SHA-256 {} vs {}): differences may come from the experiment, not only from the code.",
            short_hash(&old.record.experiment.manifest_sha256),
            short_hash(&new.record.experiment.manifest_sha256)
        ));
    }
    for (side, run) in [("old", old), ("new", new)] {
        for variant in &run.record.variants {
            let Some(failure) = &variant.failure else {
                continue;
            };
            notes.push(format!(
                "{} failed in the {side} run (during {}: {}).",
                variant.name, failure.stage, failure.reason
            ));
        }
    }

    let mut only_old = Vec::new();
    let mut rows = Vec::new();
    let mut within_noise = Vec::new();
    let mut noisy = Vec::new();
    let mut single_trial = 0usize;
    let mut not_measured = Vec::new();
    for (variant, phase, old_trials) in &old_groups {
        let Some(index) = find(&new_groups, variant, phase) else {
            only_old.push(format!("{variant} / {phase}"));
            continue;
        };
        let new_trials = &new_groups[index].2;
        for (side, trials) in [("old", old_trials), ("new", new_trials)] {
            let rps: Vec<f64> = trials.iter().map(|m| m.rps).collect();
            if rps.len() >= 2 {
                if let Some(cv) = stats::coefficient_of_variation(&rps).filter(|cv| *cv > NOISY_CV)
                {
                    noisy.push(format!(
                        "{variant} / {phase}: the {side} run's {} trials spread {:.0} % in rps (coefficient of variation); its comparisons are less certain.",
                        rps.len(),
                        cv * 100.0
                    ));
                }
            }
        }
        let mut pair_single = false;
        let mut unmeasured: Vec<(&str, String)> = Vec::new();
        for spec in metrics::judged() {
            let resource = spec.scope == Scope::Resources;
            // The trials' values; with `sampled`, only from trials with enough resource samples.
            let values = |trials: &[&Metrics], sampled: bool| -> Vec<f64> {
                trials
                    .iter()
                    .filter(|m| !sampled || resource_samples(m).0 >= MIN_RESOURCE_SAMPLES)
                    .filter_map(|m| m.value(spec.name))
                    .filter(|v| v.is_finite())
                    .collect()
            };
            let (all_old, all_new) = (values(old_trials, false), values(new_trials, false));
            let (a, b) = (values(old_trials, resource), values(new_trials, resource));
            if a.is_empty() || b.is_empty() {
                let (Some(old_value), Some(new_value)) =
                    (stats::median(&all_old), stats::median(&all_new))
                else {
                    continue;
                };
                let samples = format!(
                    "{} vs {}",
                    most_samples(old_trials, spec.name),
                    most_samples(new_trials, spec.name)
                );
                rows.push(MetricChange {
                    variant: (*variant).to_owned(),
                    phase: (*phase).to_owned(),
                    metric: spec.name,
                    old: old_value,
                    new: new_value,
                    change_pct: change_pct(old_value, new_value),
                    old_trials: all_old.len(),
                    new_trials: all_new.len(),
                    verdict: Verdict::NotMeasured,
                    regression: false,
                    basis: format!(
                        "too few resource samples per trial ({samples}; {MIN_RESOURCE_SAMPLES} needed)"
                    ),
                });
                unmeasured.push((spec.name, samples));
                continue;
            }
            let (Some(old_value), Some(new_value)) = (stats::median(&a), stats::median(&b)) else {
                continue;
            };
            let is_beyond = beyond(spec.name, old_value, new_value, options);
            let improved = if spec.better == Better::Higher {
                new_value > old_value
            } else {
                new_value < old_value
            };
            let (good, bad) = verdicts(spec);
            let direction = if improved { good } else { bad };
            let counts = format!("{} vs {}", a.len(), b.len());
            let threshold = threshold_text(spec.name, options);
            let (verdict, basis) = if a.len() >= 2 && b.len() >= 2 {
                let (ea, eb) = (
                    stats::estimate(&a).expect("values are not empty"),
                    stats::estimate(&b).expect("values are not empty"),
                );
                let overlap = ea.low <= eb.high && eb.low <= ea.high;
                if overlap {
                    if is_beyond {
                        within_noise.push(format!(
                            "{variant} / {phase}: {} {} ({} → {}) is within noise: the trials overlap (old {}–{}, new {}–{}). Run more trials (`repeat:`) to tell whether it is real.",
                            spec.name,
                            render::change_text(spec.name, old_value, new_value),
                            render::value_text(spec.name, old_value),
                            render::value_text(spec.name, new_value),
                            render::value_text(spec.name, ea.low),
                            render::value_text(spec.name, ea.high),
                            render::value_text(spec.name, eb.low),
                            render::value_text(spec.name, eb.high),
                        ));
                    }
                    (Verdict::Same, format!("trials overlap ({counts})"))
                } else if is_beyond {
                    (direction, format!("trials do not overlap ({counts})"))
                } else {
                    // Trials of one run share the machine's state of the moment; a difference
                    // within what two runs differ by is no evidence of a change.
                    (
                        Verdict::Same,
                        format!("trials do not overlap ({counts}), but within {threshold}"),
                    )
                }
            } else {
                pair_single = true;
                if is_beyond {
                    (
                        direction,
                        format!("single trial ({counts}), beyond {threshold}"),
                    )
                } else {
                    (
                        Verdict::Same,
                        format!("single trial ({counts}), within {threshold}"),
                    )
                }
            };
            rows.push(MetricChange {
                variant: (*variant).to_owned(),
                phase: (*phase).to_owned(),
                metric: spec.name,
                old: old_value,
                new: new_value,
                change_pct: change_pct(old_value, new_value),
                old_trials: a.len(),
                new_trials: b.len(),
                verdict,
                regression: verdict.is_bad() && is_beyond,
                basis,
            });
        }
        single_trial += usize::from(pair_single);
        if let Some((_, samples)) = unmeasured.first() {
            let names: Vec<&str> = unmeasured.iter().map(|(name, _)| *name).collect();
            not_measured.push(format!(
                "{variant} / {phase}: {} not measured: the most resource samples a trial had in this phase were {samples} (old vs new), and CPU and memory need {MIN_RESOURCE_SAMPLES}. Lengthen the phase, or sample more often (`sample_every`).",
                names.join(" and "),
            ));
        }
    }
    let only_new = new_groups
        .iter()
        .filter(|(v, p, _)| find(&old_groups, v, p).is_none())
        .map(|(v, p, _)| format!("{v} / {p}"))
        .collect();

    notes.extend(within_noise);
    notes.extend(noisy);
    notes.extend(not_measured);
    if single_trial > 0 {
        notes.push(format!(
            "{single_trial} variant × phase {} a single trial on at least one side: no uncertainty is known there, so a change counts only beyond the run-to-run noise measured for its metric, or the {} tolerance if that is larger. `repeat: 3` or more lets the trials tell noise from change.",
            if single_trial == 1 { "has" } else { "have" },
            short_number(tolerance * 100.0) + " %"
        ));
    }

    Comparison {
        rows,
        only_old,
        only_new,
        environment: environment_differences(&old.record.environment, &new.record.environment),
        notes,
        tolerance,
        latency_floor_ms: options.latency_floor_ms,
    }
}

/// The most resource samples any trial with a value of `metric` had: "1", or "~1" when
/// estimated from the phase's length.
fn most_samples(trials: &[&Metrics], metric: &str) -> String {
    let counted: Vec<(u64, bool)> = trials
        .iter()
        .filter(|m| m.value(metric).is_some())
        .map(|m| resource_samples(m))
        .collect();
    let most = counted.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let estimated = counted.iter().any(|(_, estimated)| *estimated);
    format!("{}{most}", if estimated { "~" } else { "" })
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The environment fields that `--strict-env` requires to be equal.
pub const STRICT_ENVIRONMENT: [&str; 3] = ["CPU model", "cores", "kernel"];

/// The differences `--strict-env` refuses: CPU model, core count or kernel.
pub fn strict_differences(old: &Environment, new: &Environment) -> Vec<EnvironmentDifference> {
    environment_differences(old, new)
        .into_iter()
        .filter(|d| STRICT_ENVIRONMENT.contains(&d.field))
        .collect()
}

/// Every compared environment field that differs: CPU model, cores, memory, kernel, OS,
/// benchrig version.
pub fn environment_differences(a: &Environment, b: &Environment) -> Vec<EnvironmentDifference> {
    let fields: [(&'static str, String, String); 6] = [
        ("CPU model", a.cpu_model.clone(), b.cpu_model.clone()),
        ("cores", a.cores.to_string(), b.cores.to_string()),
        (
            "memory",
            format!("{:.1} GiB", a.memory_gib),
            format!("{:.1} GiB", b.memory_gib),
        ),
        ("kernel", a.kernel.clone(), b.kernel.clone()),
        ("OS", a.os.clone(), b.os.clone()),
        (
            "benchrig version",
            a.benchrig_version.clone(),
            b.benchrig_version.clone(),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| EnvironmentDifference { field, old, new })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::output::RunRecord;
    use crate::results::Tally;

    /// Builds a SavedRun in memory: every trial starts from the same baseline metrics (1000
    /// rps, p50 2 ms, p99 5 ms, no errors, 80 % CPU, 50 MB PSS) and a closure adjusts them.
    struct Run {
        cpu_model: String,
        cores: usize,
        manifest_sha256: String,
        failed: Vec<(String, String)>,
        rows: Vec<MetricsRow>,
    }

    fn run() -> Run {
        Run {
            cpu_model: "Test CPU".into(),
            cores: 2,
            manifest_sha256: "0123456789abcdef0123456789abcdef".into(),
            failed: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn baseline() -> Metrics {
        let mut m = Metrics::from_tally(&Tally::new(), Duration::from_secs(5), None);
        m.requests = 5000;
        m.responses = 5000;
        m.rps = 1000.0;
        m.p50_ms = Some(2.0);
        m.p99_ms = Some(5.0);
        m.error_rate = 0.0;
        m.cpu_mean_pct = Some(80.0);
        m.pss_peak_mb = Some(50.0);
        m
    }

    impl Run {
        /// One trial of `variant` × `phase`.
        fn trial(mut self, variant: &str, phase: &str, adjust: impl Fn(&mut Metrics)) -> Run {
            let trial = 1 + self
                .rows
                .iter()
                .filter(|r| r.variant == variant && r.phase == phase)
                .count() as u32;
            let mut metrics = baseline();
            adjust(&mut metrics);
            self.rows.push(MetricsRow {
                variant: variant.into(),
                phase: phase.into(),
                trial,
                request: None,
                metrics,
            });
            self
        }

        /// One trial per value of requests/s.
        fn rps(self, variant: &str, phase: &str, values: &[f64]) -> Run {
            values
                .iter()
                .fold(self, |run, v| run.trial(variant, phase, |m| m.rps = *v))
        }

        fn build(self) -> SavedRun {
            let mut variants: Vec<&str> = Vec::new();
            let mut phases: Vec<&str> = Vec::new();
            for row in &self.rows {
                if !variants.contains(&row.variant.as_str()) {
                    variants.push(&row.variant);
                }
                if !phases.contains(&row.phase.as_str()) {
                    phases.push(&row.phase);
                }
            }
            for (name, _) in &self.failed {
                if !variants.contains(&name.as_str()) {
                    variants.push(name);
                }
            }
            let variant = |name: &str| {
                let failure = self
                    .failed
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, reason)| serde_json::json!({ "stage": "ready", "reason": reason, "log_tail": "" }));
                serde_json::json!({
                    "name": name, "command": "server", "argv": ["server"], "port": 4000, "env": {},
                    "ready_after_s": 0.25, "stop_grace": "5s", "failure": failure, "stop_note": null
                })
            };
            let record: RunRecord = serde_json::from_value(serde_json::json!({
                "format": 1,
                "experiment": {
                    "name": "demo", "description": "", "manifest": "experiments/demo.yaml",
                    "manifest_sha256": self.manifest_sha256, "baseline": null, "template": null
                },
                "environment": {
                    "date": "2026-01-01T00:00:00Z", "benchrig_version": "0.1.0",
                    "git_commit": "abcdef0123456789", "git_dirty": false,
                    "cpu_model": self.cpu_model, "cores": self.cores, "memory_gib": 4.0,
                    "kernel": "6.0", "os": "TestOS", "rustc": "rustc 1.85.0"
                },
                "setup": [],
                "variants": variants.iter().map(|v| variant(v)).collect::<Vec<_>>(),
                "warmup": null,
                "phases": phases.iter().map(|p| serde_json::json!({
                    "name": p, "description": "", "load": "10 VUs for 5s", "open": false
                })).collect::<Vec<_>>(),
                "requests": [],
                "assertions": []
            }))
            .unwrap();
            SavedRun {
                record,
                results: self.rows,
                by_request: Vec::new(),
                timeline: Vec::new(),
                histograms: Vec::new(),
            }
        }
    }

    fn compared(old: Run, new: Run) -> Comparison {
        compare(&old.build(), &new.build(), &CompareOptions::default())
    }

    fn row<'a>(c: &'a Comparison, variant: &str, phase: &str, metric: &str) -> &'a MetricChange {
        c.rows
            .iter()
            .find(|r| r.variant == variant && r.phase == phase && r.metric == metric)
            .unwrap_or_else(|| panic!("no row {variant} / {phase} {metric}: {:#?}", c.rows))
    }

    /// Two variants, two phases, three trials each, a little noise.
    fn typical() -> Run {
        let mut run = run();
        for variant in ["fast", "slow"] {
            for phase in ["closed", "open"] {
                for (i, jitter) in [0.99, 1.0, 1.01].into_iter().enumerate() {
                    run = run.trial(variant, phase, |m| {
                        m.rps *= jitter;
                        m.p50_ms = m.p50_ms.map(|v| v * jitter);
                        m.p99_ms = m.p99_ms.map(|v| v * (2.0 - jitter));
                        m.error_rate = 0.001 * i as f64;
                    });
                }
            }
        }
        run
    }

    #[test]
    fn identical_runs_are_the_same_everywhere() {
        let c = compared(typical(), typical());
        assert_eq!(c.rows.len(), 2 * 2 * metrics::judged().count());
        assert!(
            c.rows.iter().all(|r| r.verdict == Verdict::Same),
            "{:#?}",
            c.rows
        );
        assert!(c.rows.iter().all(|r| r.change_pct == Some(0.0)));
        assert!(!c.is_regression());
        assert!(c.regressions().is_empty());
        assert!(c.only_old.is_empty() && c.only_new.is_empty());
        assert!(c.environment.is_empty());
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        assert_eq!(verdict_line(&c), "no change beyond noise");
        // In the old run's variant and phase order, metrics in their fixed order.
        let order: Vec<(&str, &str, &str)> = c
            .rows
            .iter()
            .map(|r| (r.variant.as_str(), r.phase.as_str(), r.metric))
            .collect();
        assert_eq!(order[0], ("fast", "closed", "rps"));
        let per_phase = metrics::judged().count();
        assert_eq!(order[5], ("fast", "closed", "pss_peak_mb"));
        assert_eq!(order[per_phase], ("fast", "open", "rps"));
        assert_eq!(order[2 * per_phase], ("slow", "closed", "rps"));
        let r = row(&c, "fast", "closed", "rps");
        assert_eq!((r.old, r.new), (1000.0, 1000.0));
        assert_eq!((r.old_trials, r.new_trials), (3, 3));
        assert_eq!(r.basis, "trials overlap (3 vs 3)");
    }

    #[test]
    fn a_consistent_30_percent_drop_is_slower_and_a_regression() {
        let old = run().rps("fast", "main", &[990.0, 1000.0, 1010.0]);
        let new = run().rps("fast", "main", &[693.0, 700.0, 707.0]);
        let c = compared(old, new);
        let r = row(&c, "fast", "main", "rps");
        assert_eq!(r.verdict, Verdict::Slower);
        assert!(r.regression);
        assert_eq!((r.old, r.new), (1000.0, 700.0));
        assert!((r.change_pct.unwrap() + 30.0).abs() < 1e-9);
        assert_eq!(r.basis, "trials do not overlap (3 vs 3)");
        assert!(c.is_regression());
        assert_eq!(c.regressions().len(), 1);
        assert_eq!(verdict_line(&c), "1 regression: fast / main rps -30.0 %");
        // The other metrics did not move.
        assert_eq!(row(&c, "fast", "main", "p99_ms").verdict, Verdict::Same);
    }

    #[test]
    fn a_30_percent_drop_inside_wide_noise_is_the_same_with_a_note() {
        let old = run().rps("fast", "main", &[70.0, 100.0, 130.0]);
        let new = run().rps("fast", "main", &[50.0, 70.0, 110.0]);
        let c = compared(old, new);
        let r = row(&c, "fast", "main", "rps");
        assert_eq!(r.verdict, Verdict::Same);
        assert!(!r.regression);
        assert!((r.change_pct.unwrap() + 30.0).abs() < 1e-9);
        assert_eq!(r.basis, "trials overlap (3 vs 3)");
        assert!(!c.is_regression());
        let note = c
            .notes
            .iter()
            .find(|n| n.contains("within noise"))
            .expect("a noise note");
        assert!(
            note.starts_with("fast / main: rps -30.0 % (100.0 → 70.0)"),
            "{note}"
        );
        assert!(note.contains("old 70.0–130.0, new 50.0–110.0"), "{note}");
        assert!(note.contains("more trials"), "{note}");
        // Both sides spread far more than 10 %: flagged as noisy.
        assert_eq!(
            c.notes
                .iter()
                .filter(|n| n.contains("coefficient of variation"))
                .count(),
            2,
            "{:?}",
            c.notes
        );
        assert_eq!(verdict_line(&c), "no change beyond noise");
    }

    #[test]
    fn a_consistent_small_slowdown_within_the_noise_is_the_same() {
        let old = run().rps("fast", "main", &[999.0, 1000.0, 1001.0]);
        let new = run().rps("fast", "main", &[989.0, 990.0, 991.0]);
        let c = compared(old, new);
        let r = row(&c, "fast", "main", "rps");
        assert_eq!(r.verdict, Verdict::Same);
        assert!(!r.regression);
        assert_eq!(
            r.basis,
            "trials do not overlap (3 vs 3), but within the measured run-to-run noise of 20 %"
        );
        assert!(!c.is_regression());
        assert_eq!(verdict_line(&c), "no change beyond noise");
    }

    #[test]
    fn latency_changes_within_the_floor_are_noise_whatever_their_relative_size() {
        let p99 = |value: f64| move |m: &mut Metrics| m.p99_ms = Some(value);
        let (old, new) = (
            || run().trial("a", "main", p99(0.28)),
            || run().trial("a", "main", p99(0.70)),
        );
        let floor = |ms: f64| CompareOptions {
            latency_floor_ms: ms,
            ..CompareOptions::default()
        };

        // +150 %, but 0.42 ms: noise with a 1 ms floor, a regression without one.
        let c = compare(&old().build(), &new().build(), &floor(1.0));
        let r = row(&c, "a", "main", "p99_ms");
        assert_eq!(r.verdict, Verdict::Same);
        assert_eq!(
            r.basis,
            "single trial (1 vs 1), within the measured run-to-run noise of 45 % and 1 ms"
        );
        assert!(!c.is_regression());
        let c = compare(&old().build(), &new().build(), &floor(0.0));
        assert!(row(&c, "a", "main", "p99_ms").regression);

        // A change larger than the floor is judged by the tolerance as before.
        let c = compare(
            &old().build(),
            &run().trial("a", "main", p99(2.5)).build(),
            &floor(1.0),
        );
        assert!(row(&c, "a", "main", "p99_ms").regression);
        // The floor is for latency only: rps is still judged by its threshold alone.
        let c = compare(
            &run().rps("a", "main", &[1000.0]).build(),
            &run().rps("a", "main", &[750.0]).build(),
            &floor(1000.0),
        );
        assert!(row(&c, "a", "main", "rps").regression);
    }

    #[test]
    fn single_trials_are_judged_by_the_measured_noise_or_the_tolerance_if_larger() {
        // rps: measured noise 20 %, above the default tolerance of 10 %. -12 % is within it.
        assert_eq!(metrics::spec("rps").unwrap().judged.noise(), Some(0.20));
        let c = compared(
            run().rps("a", "main", &[1000.0]),
            run().rps("a", "main", &[880.0]),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Same);
        assert!(!r.regression);
        assert_eq!(
            r.basis,
            "single trial (1 vs 1), within the measured run-to-run noise of 20 %"
        );
        assert!(!c.is_regression());
        assert!(
            c.notes.iter().any(|n| n.contains("single trial")),
            "{:?}",
            c.notes
        );

        let c = compared(
            run().rps("a", "main", &[1000.0]),
            run().rps("a", "main", &[750.0]),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Slower);
        assert_eq!(
            r.basis,
            "single trial (1 vs 1), beyond the measured run-to-run noise of 20 %"
        );
        assert!(r.regression && c.is_regression());

        // A tolerance above the noise decides instead: -20 % is within 25 %.
        let c = compare(
            &run().rps("a", "main", &[1000.0]).build(),
            &run().rps("a", "main", &[800.0]).build(),
            &CompareOptions {
                tolerance: 0.25,
                ..CompareOptions::default()
            },
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Same);
        assert_eq!(r.basis, "single trial (1 vs 1), within 25 % tolerance");

        // p99: noise 45 %. +40 % on a single trial is no evidence; +60 % is.
        let p99 = |value: f64| move |m: &mut Metrics| m.p99_ms = Some(value);
        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", p99(7.0)),
        );
        assert_eq!(row(&c, "a", "main", "p99_ms").verdict, Verdict::Same);
        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", p99(8.0)),
        );
        assert!(row(&c, "a", "main", "p99_ms").regression);

        let c = compared(
            run().rps("a", "main", &[1000.0]),
            run().rps("a", "main", &[1250.0]),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Faster);
        assert!(!r.regression && !c.is_regression());
        assert_eq!(
            verdict_line(&c),
            "no regression; 1 improvement: a / main rps +25.0 %"
        );

        // One side with trials, the other with one: still the tolerance.
        let c = compared(
            run().rps("a", "main", &[1000.0, 1001.0, 1002.0]),
            run().rps("a", "main", &[750.0]),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Slower);
        assert_eq!(
            r.basis,
            "single trial (3 vs 1), beyond the measured run-to-run noise of 20 %"
        );
    }

    #[test]
    fn latency_and_error_rate_have_their_own_directions_and_thresholds() {
        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", |m| {
                m.p99_ms = Some(8.0);
                m.p50_ms = Some(1.0);
            }),
        );
        let p99 = row(&c, "a", "main", "p99_ms");
        assert_eq!(p99.verdict, Verdict::Slower);
        assert!(p99.regression);
        assert!((p99.change_pct.unwrap() - 60.0).abs() < 1e-9);
        let p50 = row(&c, "a", "main", "p50_ms");
        assert_eq!(p50.verdict, Verdict::Faster);
        assert!(!p50.regression);

        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", |m| m.error_rate = 0.005),
        );
        let e = row(&c, "a", "main", "error_rate");
        assert_eq!(e.verdict, Verdict::Same);
        assert_eq!(e.change_pct, None);
        assert_eq!(e.basis, "single trial (1 vs 1), within 1 percentage point");
        assert!(!c.is_regression());

        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", |m| m.error_rate = 0.05),
        );
        let e = row(&c, "a", "main", "error_rate");
        assert_eq!(e.verdict, Verdict::Worse);
        assert!(e.regression);
        assert_eq!(
            verdict_line(&c),
            "1 regression: a / main error_rate +5.00 pt"
        );

        // Resources: lower is better, Better/Worse.
        let c = compared(
            run().trial("a", "main", |_| {}),
            run().trial("a", "main", |m| {
                m.cpu_mean_pct = Some(40.0);
                m.pss_peak_mb = Some(80.0);
            }),
        );
        assert_eq!(
            row(&c, "a", "main", "cpu_mean_pct").verdict,
            Verdict::Better
        );
        let pss = row(&c, "a", "main", "pss_peak_mb");
        assert_eq!(pss.verdict, Verdict::Worse);
        assert!(pss.regression);
    }

    #[test]
    fn resource_metrics_from_too_few_samples_are_not_measured_never_a_regression() {
        // The quickstart's hey-style phase: 0.2 s, one sample per trial; CPU +39 %, PSS +22 %.
        let short = |cpu: f64, pss: f64, samples: u64| {
            move |m: &mut Metrics| {
                m.duration_s = 0.2;
                m.cpu_mean_pct = Some(cpu);
                m.pss_peak_mb = Some(pss);
                m.resource_samples = Some(samples);
            }
        };
        let c = compared(
            run().trial("a", "hey", short(50.0, 4.1, 1)),
            run().trial("a", "hey", short(69.4, 5.0, 1)),
        );
        for metric in ["cpu_mean_pct", "pss_peak_mb"] {
            let r = row(&c, "a", "hey", metric);
            assert_eq!(r.verdict, Verdict::NotMeasured);
            assert!(!r.regression);
            assert_eq!(
                r.basis,
                "too few resource samples per trial (1 vs 1; 5 needed)"
            );
        }
        assert!(!c.is_regression());
        assert_eq!(verdict_line(&c), "no change beyond noise");
        assert!(render_terminal(&c).contains("+38.8 %  not measured  too few resource samples"));
        let note = c
            .notes
            .iter()
            .find(|n| n.contains("not measured"))
            .expect("a note");
        assert!(
            note.starts_with("a / hey: cpu_mean_pct and pss_peak_mb not measured"),
            "{note}"
        );

        // One side well sampled is not enough: both need it.
        let c = compared(
            run().trial("a", "hey", short(50.0, 4.1, MIN_RESOURCE_SAMPLES)),
            run().trial("a", "hey", short(90.0, 9.0, 2)),
        );
        assert_eq!(
            row(&c, "a", "hey", "cpu_mean_pct").verdict,
            Verdict::NotMeasured
        );
        // With enough samples on both sides, the same change is judged.
        let c = compared(
            run().trial("a", "hey", short(50.0, 4.1, MIN_RESOURCE_SAMPLES)),
            run().trial("a", "hey", short(90.0, 9.0, MIN_RESOURCE_SAMPLES)),
        );
        let r = row(&c, "a", "hey", "cpu_mean_pct");
        assert_eq!(r.verdict, Verdict::Worse);
        assert!(r.regression);

        // Only the well-sampled trials count, and the values shown are theirs.
        let c = compared(
            run()
                .trial("a", "hey", short(50.0, 4.0, 8))
                .trial("a", "hey", short(52.0, 4.0, 8))
                .trial("a", "hey", short(10.0, 4.0, 1)),
            run()
                .trial("a", "hey", short(51.0, 4.0, 8))
                .trial("a", "hey", short(99.0, 4.0, 2)),
        );
        let r = row(&c, "a", "hey", "cpu_mean_pct");
        assert_eq!((r.old, r.new), (51.0, 51.0));
        assert_eq!((r.old_trials, r.new_trials), (2, 1));
        assert_eq!(r.verdict, Verdict::Same);

        // A report written before resource_samples existed: estimated from the phase's length
        // at the default sampling interval (0.2 s: none).
        let old_report = |cpu: f64| {
            move |m: &mut Metrics| {
                m.duration_s = 0.2;
                m.cpu_mean_pct = Some(cpu);
                m.resource_samples = None;
            }
        };
        let c = compared(
            run().trial("a", "hey", old_report(50.0)),
            run().trial("a", "hey", short(90.0, 50.0, 1)),
        );
        let r = row(&c, "a", "hey", "cpu_mean_pct");
        assert_eq!(r.verdict, Verdict::NotMeasured);
        assert_eq!(
            r.basis,
            "too few resource samples per trial (~0 vs 1; 5 needed)"
        );
        // Request and latency metrics of that phase are judged as usual.
        assert_eq!(row(&c, "a", "hey", "rps").verdict, Verdict::Same);
    }

    #[test]
    fn repeated_trials_apart_but_within_the_measured_noise_are_no_regression() {
        // -12 % in rps, trials clearly apart: within the 20 % that two runs of one server
        // differ by, so no evidence of a change.
        let c = compared(
            run().rps("a", "main", &[999.0, 1000.0, 1001.0]),
            run().rps("a", "main", &[879.0, 880.0, 881.0]),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.verdict, Verdict::Same);
        assert!(!r.regression);
        assert_eq!(
            r.basis,
            "trials do not overlap (3 vs 3), but within the measured run-to-run noise of 20 %"
        );
        assert!(!c.is_regression());
        // Beyond it, a regression.
        let c = compared(
            run().rps("a", "main", &[999.0, 1000.0, 1001.0]),
            run().rps("a", "main", &[749.0, 750.0, 751.0]),
        );
        assert!(row(&c, "a", "main", "rps").regression);
        // Improvements obey the same rule: +12 % with the trials apart is no change.
        let c = compared(
            run().rps("a", "main", &[999.0, 1000.0, 1001.0]),
            run().rps("a", "main", &[1119.0, 1120.0, 1121.0]),
        );
        assert_eq!(row(&c, "a", "main", "rps").verdict, Verdict::Same);
        // The closing line names the noise of each judged metric.
        let text = render_terminal(&c);
        assert!(
            text.contains("measured run-to-run noise where that is larger (rps 20 %, p50_ms 25 %, p99_ms 45 %, error_rate 1 pt"),
            "{text}"
        );
    }

    #[test]
    fn metrics_missing_on_either_side_are_skipped() {
        let c = compared(
            run().trial("a", "main", |m| m.cpu_mean_pct = None),
            run().trial("a", "main", |m| {
                m.p99_ms = None;
                m.p50_ms = None;
            }),
        );
        let metrics: Vec<&str> = c.rows.iter().map(|r| r.metric).collect();
        assert_eq!(metrics, ["rps", "error_rate", "pss_peak_mb", "goodput"]);
    }

    #[test]
    fn a_zero_old_value_gives_no_percentage() {
        let c = compared(
            run().trial("a", "main", |m| m.rps = 0.0),
            run().trial("a", "main", |m| m.rps = 10.0),
        );
        let r = row(&c, "a", "main", "rps");
        assert_eq!(r.change_pct, None);
        assert_eq!(r.verdict, Verdict::Faster);
        assert!(render_terminal(&c).contains("from 0"));
    }

    #[test]
    fn what_one_side_lacks_is_listed_and_the_rest_compared() {
        let old = run()
            .rps("a", "closed", &[1000.0])
            .rps("a", "open", &[1000.0])
            .rps("gone", "closed", &[1000.0])
            .rps("gone", "open", &[1000.0]);
        let mut new = run()
            .rps("a", "closed", &[1000.0])
            .rps("added", "closed", &[1000.0]);
        new.failed
            .push(("gone".into(), "exited with status 3".into()));
        let c = compared(old, new);
        assert_eq!(c.only_old, ["a / open", "gone / closed", "gone / open"]);
        assert_eq!(c.only_new, ["added / closed"]);
        assert_eq!(c.rows.len(), metrics::judged().count());
        assert!(c.rows.iter().all(|r| r.key() == "a / closed"));
        assert!(
            c.notes
                .iter()
                .any(|n| n == "gone failed in the new run (during ready: exited with status 3)."),
            "{:?}",
            c.notes
        );
        assert_eq!(
            verdict_line(&c),
            "no change beyond noise; only in old: a / open, gone / closed, gone / open; only in new: added / closed"
        );

        let (a, b) = (run().rps("a", "x", &[1.0]), run().rps("b", "x", &[1.0]));
        assert_eq!(results_text(&a.build()), "variant a; phase x");
        let c = compared(run().rps("a", "x", &[1.0]), b);
        assert!(c.rows.is_empty());
        assert!(verdict_line(&c).starts_with("nothing compared"));
        assert!(!c.is_regression());
    }

    #[test]
    fn environment_differences_are_listed() {
        let mut new = typical();
        new.cpu_model = "Other CPU".into();
        new.cores = 8;
        new.manifest_sha256 = "fedcba9876543210fedcba9876543210".into();
        let c = compared(typical(), new);
        assert_eq!(
            c.environment,
            [
                EnvironmentDifference {
                    field: "CPU model",
                    old: "Test CPU".into(),
                    new: "Other CPU".into()
                },
                EnvironmentDifference {
                    field: "cores",
                    old: "2".into(),
                    new: "8".into()
                },
            ]
        );
        assert!(
            c.notes[0].starts_with("The manifests differ (SHA-256 0123456789ab vs fedcba987654)")
        );
        assert!(verdict_line(&c).ends_with("; environment differs: CPU model, cores"));
    }

    /// A comparison with a bit of everything: two regressions, an improvement, noise, a missing
    /// phase and another CPU.
    fn eventful() -> Comparison {
        let old = run()
            .rps("fast", "closed", &[990.0, 1000.0, 1010.0])
            .rps("slow", "closed", &[70.0, 100.0, 130.0])
            .rps("slow", "open", &[100.0]);
        let mut new = run().rps("fast", "closed", &[693.0, 700.0, 707.0]).rps(
            "slow",
            "closed",
            &[50.0, 70.0, 110.0],
        );
        new = new.trial("fast|odd", "closed", |_| {});
        let mut new_rows = std::mem::take(&mut new.rows);
        for r in &mut new_rows {
            if r.variant == "fast" {
                r.metrics.p99_ms = Some(8.0);
            }
        }
        new.rows = new_rows;
        new.cpu_model = "Other CPU".into();
        compared(old, new)
    }

    #[test]
    fn renderings_show_verdict_rows_and_environment_and_are_stable() {
        let c = eventful();
        assert_eq!(c.regressions().len(), 2);
        let text = render_terminal(&c);
        println!("{text}");
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "2 regressions: fast / closed rps -30.0 %, fast / closed p99_ms +60.0 %; only in old: slow / open; only in new: fast|odd / closed; environment differs: CPU model"
        );
        assert!(text.contains("WARNING: The runs come from different environments"));
        assert!(
            text.contains("CPU model  Test CPU  ->  Other CPU"),
            "{text}"
        );
        let header = text.lines().find(|l| l.starts_with("variant")).unwrap();
        assert!(header.contains("old") && header.contains("basis"));
        let rps = text
            .lines()
            .find(|l| l.starts_with("fast ") && l.contains(" rps "))
            .unwrap();
        assert!(rps.contains("1000.0"), "{rps}");
        assert!(
            rps.contains("-30.0 %  slower (regression)  trials do not overlap (3 vs 3)"),
            "{rps}"
        );
        // Columns line up: every table line has "closed" at the same offset.
        let offsets: Vec<usize> = text
            .lines()
            .filter(|l| l.starts_with("fast ") || l.starts_with("slow "))
            .map(|l| l.find("closed").unwrap())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] == w[1]), "{offsets:?}");
        assert!(text.contains("only in old: slow / open"));
        assert!(text.contains("within noise"));
        assert!(!text.lines().any(|l| l.ends_with(' ')));
        assert_eq!(text, render_terminal(&c));

        let md = render_markdown(&c);
        println!("{md}");
        assert!(md.starts_with("❌ **2 regressions: fast / closed rps -30.0 %"));
        assert!(md.contains("> [!WARNING]\n> The runs come from different environments"));
        assert!(md.contains("> - CPU model: Test CPU → Other CPU\n"));
        assert!(md.contains(
            "| variant | phase | metric | old | new | change | verdict | basis |\n| --- |"
        ));
        assert!(md.contains(
            "| fast | closed | `rps` | 1000.0 | 700.0 | -30.0 % | **slower (regression)** | trials do not overlap (3 vs 3) |"
        ), "{md}");
        assert!(md.contains("Only in new: fast|odd / closed"));
        assert!(md.contains("- slow / closed: rps -30.0 %"));
        assert_eq!(md, render_markdown(&c));

        let calm = compared(typical(), typical());
        assert!(render_markdown(&calm).starts_with("✅ **no change beyond noise**\n"));
        assert!(render_terminal(&calm).starts_with("no change beyond noise\n\nvariant"));
    }

    #[test]
    fn strict_environment_is_cpu_cores_and_kernel() {
        let a = typical().build().record.environment;
        let mut b = a.clone();
        b.memory_gib = 64.0;
        b.os = "Other OS".into();
        assert!(strict_differences(&a, &b).is_empty());
        assert_eq!(environment_differences(&a, &b).len(), 2);
        b.kernel = "7.0".into();
        b.cores = 16;
        let strict: Vec<&str> = strict_differences(&a, &b).iter().map(|d| d.field).collect();
        assert_eq!(strict, ["cores", "kernel"]);
    }
}
