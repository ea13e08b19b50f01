//! What report templates see, built from a saved report folder (see docs/templates.md).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::filters;
use super::verdict::{self, Side, Throughput};
use crate::environment::Environment;
use crate::output::{RunRecord, SavedRun, VariantRecord};
use crate::results::stats::{self, Estimate};
use crate::results::AssertionOutcome;
use crate::results::{Metrics, VariantFailure};
use crate::text::plural;

/// Trials whose requests/s spread more than this (coefficient of variation) get a warning.
pub const NOISY_CV: f64 = 0.10;

#[derive(Debug, Serialize)]
pub struct ReportContext {
    pub name: String,
    pub description: String,
    pub manifest: String,
    pub manifest_sha256: String,
    pub environment: Environment,
    /// The variant the "vs" column compares with; none: the fastest of each phase.
    pub baseline: Option<String>,
    pub phases: Vec<PhaseSection>,
    pub warmup: Option<String>,
    pub setup: Vec<String>,
    pub services: Vec<crate::output::ServiceRecord>,
    pub variants: Vec<VariantRow>,
    pub failures: Vec<VariantRow>,
    pub requests: Vec<RequestRow>,
    pub assertions: Vec<AssertionOutcome>,
    pub assertions_failed: usize,
    /// The manifest's `published:` numbers beside the measured ones.
    pub published: Vec<super::published::PublishedRow>,
    /// Assertions with a sentence, each with whether it held.
    pub claims: Vec<super::claims::ClaimView>,
    pub claims_contradicted: usize,
    pub failed_variants: usize,
    /// The stop grace period if all variants share it.
    pub stop_grace: Option<String>,
    /// Which optional files the folder has, for links.
    pub files: Files,
    /// Trials per variant, and their order.
    pub repeat: u32,
    pub order: String,
    pub seed: Option<u64>,
    /// How processes were pinned to CPUs, one sentence each; empty when nothing was pinned.
    pub pinning: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Files {
    pub summary_by_request: bool,
    pub timeseries: bool,
    pub histograms: bool,
}

#[derive(Debug, Serialize)]
pub struct PhaseSection {
    pub name: String,
    pub description: String,
    /// The load in a few words: "50 VUs for 10s".
    pub load: String,
    /// One sentence naming the winner and its margin; none with fewer than two results.
    pub verdict: Option<String>,
    pub open: bool,
    /// Open model: why the load generator fell behind, when it did.
    pub generator_limited: Option<String>,
    /// Variants some of whose requests were sent a second time, and how many.
    pub resent: Option<String>,
    pub rows: Vec<ResultRow>,
    /// Requests failed in this closed-model phase, so "vs" and the headline compare goodput
    /// rather than requests/s (see [`Throughput`]).
    pub ranked_by_goodput: bool,
    /// The most trials of any variant in this phase.
    pub trials: usize,
    /// With repeats: the lowest coverage of the intervals shown (95 % needs 6 trials or more).
    pub coverage: Option<f64>,
    /// With repeats: the lowest coverage of the intervals of the "vs" ratios (95 % needs 4
    /// trials each).
    pub relative_coverage: Option<f64>,
    /// Variants whose trials spread more than 10 %, with the spread.
    pub noisy: Vec<String>,
    /// The server's CPU and memory were sampled: the cost table has data.
    pub has_resources: bool,
    /// A variant got responses with status ≥ 400 and the latency of its successful ones is
    /// known (summary.csv files written before it was recorded lack it): a table shows it.
    pub failed_responses: bool,
    /// Variants whose results the load generator limited, and why; empty when none was.
    pub client_bound: Vec<String>,
    /// Per request name; empty when the experiment has a single request.
    pub by_request: Vec<RequestResultRow>,
    /// Paths of the plots, relative to the report.
    pub latency_plot: Option<String>,
    pub rps_plot: Option<String>,
    /// The plots' titles, which say which trials they draw.
    pub latency_plot_title: String,
    pub rps_plot_title: String,
}

#[derive(Debug, Serialize)]
pub struct ResultRow {
    pub variant: String,
    /// The only trial's metrics, or each metric's median across trials.
    pub metrics: Option<Metrics>,
    /// Median requests/s relative to the baseline's (or the fastest variant's) in the phase.
    pub relative: Option<f64>,
    /// With repeats: how far the interval of `relative` reaches on either side (see
    /// `stats::ratio`), so that `relative ± relative_uncertainty` covers it.
    pub relative_uncertainty: Option<f64>,
    /// With repeats: the coverage of that interval.
    pub relative_coverage: Option<f64>,
    /// With repeats: medians with confidence intervals.
    pub rps: Option<Estimate>,
    pub p50_ms: Option<Estimate>,
    pub p99_ms: Option<Estimate>,
    /// With repeats: coefficient of variation of requests/s across trials.
    pub rps_cv: Option<f64>,
    /// "0" or "12 (connect 2, http ≥400 10)".
    pub errors: String,
    pub failure: Option<String>,
    pub trials: usize,
}

#[derive(Debug, Serialize)]
pub struct RequestResultRow {
    pub variant: String,
    pub request: String,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantRow {
    pub name: String,
    /// As written in the manifest, placeholders kept, so reports diff cleanly between runs.
    pub command: String,
    pub port: u16,
    pub ready_after: String,
    pub status: String,
    pub failure: Option<VariantFailure>,
    /// Recorded environment variables ("NAME=value" or the reason a value is not recorded).
    pub env: Vec<String>,
    /// How the warm-ups went: "2.0 s", "stable after 4.0 s", one per trial.
    pub warmups: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RequestRow {
    pub name: String,
    pub method: String,
    pub path: String,
    pub weight: u32,
    pub body_bytes: usize,
}

/// Requests/s of each complete second of a phase, the median across a variant's trials, at the
/// middle of the second; a last second cut short by the phase's end would show as a false dip.
pub fn rps_points(data: &SavedRun, variant: &str, phase: &str) -> Vec<(f64, f64)> {
    let mut seconds: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for trial in data
        .results
        .iter()
        .filter(|r| r.variant == variant && r.phase == phase)
    {
        let duration = trial.metrics.duration_s;
        for t in data.timeline.iter().filter(|t| {
            t.variant == variant
                && t.phase == phase
                && t.trial == trial.trial
                && (t.second.second + 1) as f64 <= duration + 0.05
        }) {
            seconds
                .entry(t.second.second)
                .or_default()
                .push(t.second.requests as f64);
        }
    }
    seconds
        .into_iter()
        .filter_map(|(second, requests)| Some((second as f64 + 0.5, stats::median(&requests)?)))
        .collect()
}

/// The latencies of every trial of a variant's phase in one histogram (µs); `None` when the
/// folder has none.
pub fn pooled_latency(data: &SavedRun, variant: &str, phase: &str) -> Option<Histogram<u64>> {
    let mut trials = data
        .histograms
        .iter()
        .filter(|h| h.tag.variant == variant && h.tag.phase == phase && h.tag.request.is_none());
    let mut pooled = trials.next()?.histogram.clone();
    for h in trials {
        // Histograms of one run share their bounds, so adding cannot fail.
        pooled.add(&h.histogram).ok()?;
    }
    Some(pooled)
}

/// The most trials any variant ran of a phase.
pub fn phase_trials(data: &SavedRun, phase: &str) -> usize {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in data.results.iter().filter(|r| r.phase == phase) {
        *counts.entry(r.variant.as_str()).or_default() += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// The titles of a phase's plots, saying which trials they draw: (latency, requests/s).
pub fn plot_titles(phase: &str, trials: usize) -> (String, String) {
    if trials > 1 {
        (
            format!("{phase}: latency by percentile, {trials} trials pooled"),
            format!("{phase}: requests per second, median of {trials} trials"),
        )
    } else {
        (
            format!("{phase}: latency by percentile, 1 trial"),
            format!("{phase}: requests per second, 1 trial"),
        )
    }
}

/// The file names of a phase's plots inside the report folder.
pub fn plot_paths(phase: &str) -> (String, String) {
    (
        format!("plots/{phase}-latency.svg"),
        format!("plots/{phase}-rps.svg"),
    )
}

/// A variant's rows of the per-request table: each metric's median across its trials, as in
/// the results table, one row per request name in the order they were saved.
fn requests_by_median(data: &SavedRun, variant: &str, phase: &str) -> Vec<RequestResultRow> {
    let mut requests: Vec<(&str, Vec<&Metrics>)> = Vec::new();
    for r in data
        .by_request
        .iter()
        .filter(|r| r.variant == variant && r.phase == phase)
    {
        let name = r.request.as_deref().unwrap_or_default();
        match requests.iter_mut().find(|(n, _)| *n == name) {
            Some((_, trials)) => trials.push(&r.metrics),
            None => requests.push((name, vec![&r.metrics])),
        }
    }
    requests
        .into_iter()
        .filter_map(|(request, trials)| {
            Some(RequestResultRow {
                variant: variant.to_owned(),
                request: request.to_owned(),
                metrics: Metrics::median(&trials)?,
            })
        })
        .collect()
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

fn phase_results<'a>(data: &'a SavedRun, phase: &str) -> Vec<Side<'a>> {
    data.record
        .variants
        .iter()
        .filter_map(|v| {
            let trials: Vec<&Metrics> = data
                .results
                .iter()
                .filter(|r| r.variant == v.name && r.phase == phase)
                .map(|r| &r.metrics)
                .collect();
            Some(Side {
                name: &v.name,
                median: Metrics::median(&trials)?,
                trials,
            })
        })
        .collect()
}

fn values(trials: &[&Metrics], get: fn(&Metrics) -> Option<f64>) -> Vec<f64> {
    trials.iter().filter_map(|m| get(m)).collect()
}

/// benchrig near the limit of its own threads: the phase measured the load generator, not the
/// server. Open phases that could not keep their rate are flagged by `generator_limited`.
pub const CLIENT_BOUND_SHARE: f64 = 0.9;

fn client_bound(variant: &str, m: &Metrics, open: bool) -> Option<String> {
    let client = m.client_cpu_pct?;
    let threads = m.load_threads? as f64;
    let late = open && (m.dropped > 0 || m.lagged as f64 > 0.01 * m.requests.max(1) as f64);
    if client >= CLIENT_BOUND_SHARE * threads * 100.0 || late {
        Some(format!(
            "{variant}: benchrig used {client:.0} % CPU of the {:.0} % its {threads:.0} load thread{} can use",
            threads * 100.0,
            if threads == 1.0 { "" } else { "s" }
        ))
    } else {
        None
    }
}

/// "hyper-1: 1,204 requests dropped at the in-flight cap, 88 sent over 2 ms late"
fn generator_limited(results: &[Side]) -> Option<String> {
    let notes: Vec<String> = results
        .iter()
        .map(|v| (v.name, &v.median))
        .filter_map(|(name, m)| {
            // A few requests late by a few ms are scheduling noise, not a generator at its limit.
            let late_share = m.lagged as f64 / (m.requests + m.dropped).max(1) as f64;
            if m.dropped == 0 && late_share <= 0.01 {
                return None;
            }
            let mut parts = Vec::new();
            if m.dropped > 0 {
                parts.push(format!(
                    "{} requests dropped at the in-flight cap",
                    filters::int(m.dropped.into())
                ));
            }
            if m.lagged > 0 {
                parts.push(format!(
                    "{} sent over 2 ms late (lag max {} ms)",
                    filters::int(m.lagged.into()),
                    filters::ms(m.lag_max_ms.into())
                ));
            }
            Some(format!("{name}: {}", parts.join(", ")))
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// "hyper-1: 12 requests; hyper-2: 1 request" (medians across trials)
fn resent(results: &[Side]) -> Option<String> {
    let notes: Vec<String> = results
        .iter()
        .filter_map(|v| {
            let n = v.median.retries.filter(|n| *n > 0)?;
            Some(format!("{}: {}", v.name, plural(n as usize, "request")))
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn variant_row(v: &VariantRecord) -> VariantRow {
    VariantRow {
        name: v.name.clone(),
        command: v.command.clone(),
        port: v.port,
        ready_after: v
            .ready_after_s
            .map(|s| format!("{s:.2} s"))
            .unwrap_or_else(|| "—".to_owned()),
        status: match (&v.failure, &v.stop_note) {
            (Some(f), _) => format!("failed during {}: {}", f.stage, f.reason),
            (None, Some(note)) => format!("ok; {note}"),
            (None, None) => "ok".to_owned(),
        },
        failure: v.failure.clone(),
        env: v.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        warmups: v
            .warmups
            .iter()
            .map(|w| match w.stable {
                Some(true) => format!("stable after {:.1} s", w.seconds),
                Some(false) => format!("not stable within {:.0} s", w.seconds),
                None => format!("{:.1} s", w.seconds),
            })
            .collect(),
    }
}

pub fn build(data: &SavedRun) -> ReportContext {
    let record: &RunRecord = &data.record;
    let baseline = record.experiment.baseline.clone();
    let claims = super::claims::claims(&record.assertions);
    let phases = record
        .phases
        .iter()
        .map(|phase| {
            let results = phase_results(data, &phase.name);
            let by = Throughput::of_phase(results.iter().flat_map(|s| s.trials.iter().copied()));
            let reference = match &baseline {
                Some(b) => results.iter().find(|v| v.name == b),
                None => results
                    .iter()
                    .max_by(|a, b| by.value(&a.median).total_cmp(&by.value(&b.median))),
            }
            .filter(|v| by.value(&v.median) > 0.0);
            let trials = results.iter().map(|v| v.trials.len()).max().unwrap_or(0);
            let repeated = trials > 1;
            let rows: Vec<ResultRow> = record
                .variants
                .iter()
                .map(|v| {
                    let result = results.iter().find(|r| r.name == v.name);
                    let rps: Vec<f64> = result
                        .map(|r| values(&r.trials, |m| Some(m.rps)))
                        .unwrap_or_default();
                    let throughput =
                        |side: &Side| side.trials.iter().map(|m| by.value(m)).collect::<Vec<_>>();
                    let ratio = result.zip(reference).and_then(|(r, base)| {
                        stats::ratio(&throughput(r), &throughput(base))
                            .filter(|_| r.name != base.name)
                    });
                    ResultRow {
                        variant: v.name.clone(),
                        metrics: result.map(|r| r.median.clone()),
                        relative: result
                            .zip(reference)
                            .map(|(r, base)| by.value(&r.median) / by.value(&base.median)),
                        relative_uncertainty: ratio.filter(|_| repeated).map(|r| r.reach()),
                        relative_coverage: ratio.filter(|_| repeated).map(|r| r.coverage),
                        rps: result
                            .filter(|_| repeated)
                            .and_then(|_| stats::estimate(&rps)),
                        p50_ms: result
                            .filter(|_| repeated)
                            .and_then(|r| stats::estimate(&values(&r.trials, |m| m.p50_ms))),
                        p99_ms: result
                            .filter(|_| repeated)
                            .and_then(|r| stats::estimate(&values(&r.trials, |m| m.p99_ms))),
                        rps_cv: result
                            .filter(|_| repeated)
                            .and_then(|_| stats::coefficient_of_variation(&rps)),
                        errors: result
                            .map(|r| describe_errors(&r.median))
                            .unwrap_or_default(),
                        failure: v
                            .failure
                            .as_ref()
                            .filter(|_| result.is_none())
                            .map(|f| f.reason.clone()),
                        trials: result.map_or(0, |r| r.trials.len()),
                    }
                })
                .collect();
            let coverage = rows
                .iter()
                .filter_map(|r| r.rps.map(|e| e.coverage))
                .reduce(f64::min);
            let relative_coverage = rows
                .iter()
                .filter_map(|r| r.relative_coverage)
                .reduce(f64::min);
            let has_resources = rows
                .iter()
                .any(|r| r.metrics.as_ref().is_some_and(|m| m.cpu_mean_pct.is_some()));
            let failed_responses = rows.iter().any(|r| {
                r.metrics
                    .as_ref()
                    .is_some_and(|m| m.errors_http > 0 && m.success_mean_ms.is_some())
            });
            let client_bound = rows
                .iter()
                .filter_map(|r| client_bound(&r.variant, r.metrics.as_ref()?, phase.open))
                .collect();
            let noisy = rows
                .iter()
                .filter_map(|r| {
                    let cv = r.rps_cv.filter(|cv| *cv > NOISY_CV)?;
                    Some(format!("{} ({:.0} %)", r.variant, cv * 100.0))
                })
                .collect();
            let by_request = if record.requests.len() > 1 {
                record
                    .variants
                    .iter()
                    .flat_map(|v| requests_by_median(data, &v.name, &phase.name))
                    .collect()
            } else {
                Vec::new()
            };
            let (latency_plot, rps_plot) = plot_paths(&phase.name);
            let (latency_plot_title, rps_plot_title) = plot_titles(&phase.name, trials);
            let has_histograms = data
                .histograms
                .iter()
                .any(|h| h.tag.phase == phase.name && h.tag.request.is_none());
            let has_timeline = record
                .variants
                .iter()
                .any(|v| !rps_points(data, &v.name, &phase.name).is_empty());
            PhaseSection {
                name: phase.name.clone(),
                description: phase.description.clone(),
                load: phase.load.clone(),
                verdict: if phase.open {
                    verdict::open(&results)
                } else {
                    verdict::closed(&results)
                },
                open: phase.open,
                generator_limited: if phase.open {
                    generator_limited(&results)
                } else {
                    None
                },
                resent: resent(&results),
                rows,
                ranked_by_goodput: !phase.open && by == Throughput::Goodput,
                trials,
                coverage,
                relative_coverage,
                noisy,
                has_resources,
                failed_responses,
                client_bound,
                by_request,
                latency_plot: has_histograms.then_some(latency_plot),
                rps_plot: has_timeline.then_some(rps_plot),
                latency_plot_title,
                rps_plot_title,
            }
        })
        .collect();

    let variants: Vec<VariantRow> = record.variants.iter().map(variant_row).collect();
    let failures: Vec<VariantRow> = variants
        .iter()
        .filter(|v| v.failure.is_some())
        .cloned()
        .collect();
    let mut graces: Vec<&str> = record
        .variants
        .iter()
        .map(|v| v.stop_grace.as_str())
        .collect();
    graces.dedup();
    ReportContext {
        name: record.experiment.name.clone(),
        description: record.experiment.description.clone(),
        manifest: record.experiment.manifest.clone(),
        manifest_sha256: record.experiment.manifest_sha256.clone(),
        environment: record.environment.clone(),
        baseline,
        phases,
        warmup: record.warmup.clone(),
        setup: record.setup.clone(),
        services: record.services.clone(),
        failed_variants: failures.len(),
        variants,
        failures,
        requests: record
            .requests
            .iter()
            .map(|r| RequestRow {
                name: r.name.clone(),
                method: r.method.clone(),
                path: r.path.clone(),
                weight: r.weight,
                body_bytes: r.body_bytes,
            })
            .collect(),
        assertions_failed: record.assertions.iter().filter(|a| !a.passed).count(),
        published: super::published::rows(data),
        claims_contradicted: claims.iter().filter(|c| !c.holds).count(),
        claims,
        assertions: record.assertions.clone(),
        stop_grace: match graces.as_slice() {
            [one] => Some((*one).to_owned()),
            _ => None,
        },
        files: Files {
            summary_by_request: !data.by_request.is_empty(),
            timeseries: !data.timeline.is_empty(),
            histograms: !data.histograms.is_empty(),
        },
        repeat: record.experiment.repeat,
        order: record.experiment.order.clone(),
        seed: record.experiment.seed,
        pinning: pinning(record),
    }
}

/// "hyper-1-thread ran on CPU 0.", "The load generator ran on CPU 1."
fn pinning(record: &RunRecord) -> Vec<String> {
    let cpus = |list: &[usize]| {
        let names: Vec<String> = list.iter().map(usize::to_string).collect();
        format!(
            "CPU{} {}",
            if list.len() == 1 { "" } else { "s" },
            names.join(", ")
        )
    };
    let mut notes: Vec<String> = record
        .variants
        .iter()
        .filter_map(|v| {
            Some(format!(
                "**{}** ran on {}.",
                v.name,
                cpus(v.cpus.as_deref()?)
            ))
        })
        .collect();
    if let Some(load) = &record.load_cpus {
        notes.push(format!("The load generator ran on {}.", cpus(load)));
    }
    notes
}
