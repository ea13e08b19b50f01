//! What report templates see, built from a saved report folder (see docs/templates.md).

use serde::Serialize;

use super::filters;
use crate::assertions::AssertionOutcome;
use crate::environment::Environment;
use crate::output::{MetricsRow, RunRecord, SavedRun, VariantRecord};
use crate::results::{Metrics, VariantFailure};

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
    pub variants: Vec<VariantRow>,
    pub failures: Vec<VariantRow>,
    pub requests: Vec<RequestRow>,
    pub assertions: Vec<AssertionOutcome>,
    pub assertions_failed: usize,
    pub failed_variants: usize,
    /// The stop grace period if all variants share it.
    pub stop_grace: Option<String>,
    /// Which optional files the folder has, for links.
    pub files: Files,
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
    pub rows: Vec<ResultRow>,
    /// Per request name; empty when the experiment has a single request.
    pub by_request: Vec<RequestResultRow>,
    /// Paths of the plots, relative to the report.
    pub latency_plot: Option<String>,
    pub rps_plot: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResultRow {
    pub variant: String,
    pub metrics: Option<Metrics>,
    /// Requests/s relative to the baseline (or the fastest variant) of the phase.
    pub relative: Option<f64>,
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
}

#[derive(Debug, Serialize)]
pub struct RequestRow {
    pub name: String,
    pub method: String,
    pub path: String,
    pub weight: u32,
    pub body_bytes: usize,
}

/// Requests/s of each complete second of a variant's first trial of a phase, at the middle of
/// the second; a last second cut short by the phase's end would show as a false dip.
pub fn rps_points(data: &SavedRun, variant: &str, phase: &str) -> Vec<(f64, f64)> {
    let Some(duration) = data
        .results
        .iter()
        .find(|r| r.variant == variant && r.phase == phase)
        .map(|r| r.metrics.duration_s)
    else {
        return Vec::new();
    };
    data.timeline
        .iter()
        .filter(|t| t.variant == variant && t.phase == phase && t.trial == 1)
        .filter(|t| (t.second.second + 1) as f64 <= duration + 0.05)
        .map(|t| (t.second.second as f64 + 0.5, t.second.requests as f64))
        .collect()
}

/// The file names of a phase's plots inside the report folder.
pub fn plot_paths(phase: &str) -> (String, String) {
    (
        format!("plots/{phase}-latency.svg"),
        format!("plots/{phase}-rps.svg"),
    )
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

/// The first trial of each variant in a phase, in variant order.
fn phase_results<'a>(data: &'a SavedRun, phase: &str) -> Vec<(&'a str, &'a Metrics, usize)> {
    data.record
        .variants
        .iter()
        .filter_map(|v| {
            let trials: Vec<&MetricsRow> = data
                .results
                .iter()
                .filter(|r| r.variant == v.name && r.phase == phase)
                .collect();
            trials
                .first()
                .map(|first| (v.name.as_str(), &first.metrics, trials.len()))
        })
        .collect()
}

/// Closed model: "**a** served the most requests/s: 1.39× **b** (78,706.0 vs 56,543.2),
/// p99 1.60 vs 2.45 ms."
fn closed_verdict(results: &[(&str, &Metrics, usize)]) -> Option<String> {
    let mut ranked: Vec<(&str, &Metrics)> = results.iter().map(|(n, m, _)| (*n, *m)).collect();
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
            filters::ms(a.into()),
            filters::ms(b.into())
        ),
        _ => String::new(),
    };
    Some(format!(
        "**{best}** served the most requests/s: {} **{second}** ({} vs {}){p99}.",
        filters::ratio((top.rps / next.rps).into()),
        filters::rate(top.rps.into()),
        filters::rate(next.rps.into()),
    ))
}

/// Open model: at a fixed rate every variant serves about the same requests/s, so the one
/// with the lowest p99 latency wins.
fn open_verdict(results: &[(&str, &Metrics, usize)]) -> Option<String> {
    let mut ranked: Vec<(&str, f64)> = results
        .iter()
        .filter_map(|(name, m, _)| m.p99_ms.map(|p99| (*name, p99)))
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let [(best, low), (second, next), ..] = ranked.as_slice() else {
        return None;
    };
    Some(format!(
        "**{best}** kept the lowest p99 latency at this rate: {} ms against {} ms for **{second}**.",
        filters::ms((*low).into()),
        filters::ms((*next).into()),
    ))
}

/// "hyper-1: 1,204 requests dropped at the in-flight cap, 88 sent over 2 ms late"
fn generator_limited(results: &[(&str, &Metrics, usize)]) -> Option<String> {
    let notes: Vec<String> = results
        .iter()
        .filter_map(|(name, m, _)| {
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
    }
}

pub fn build(data: &SavedRun) -> ReportContext {
    let record: &RunRecord = &data.record;
    let baseline = record.experiment.baseline.clone();
    let phases = record
        .phases
        .iter()
        .map(|phase| {
            let results = phase_results(data, &phase.name);
            let reference = match &baseline {
                Some(b) => results
                    .iter()
                    .find(|(n, _, _)| n == b)
                    .map(|(_, m, _)| m.rps),
                None => results.iter().map(|(_, m, _)| m.rps).reduce(f64::max),
            }
            .filter(|r| *r > 0.0);
            let rows = record
                .variants
                .iter()
                .map(|v| {
                    let result = results.iter().find(|(n, _, _)| *n == v.name);
                    ResultRow {
                        variant: v.name.clone(),
                        metrics: result.map(|(_, m, _)| (*m).clone()),
                        relative: result.zip(reference).map(|((_, m, _), r)| m.rps / r),
                        errors: result
                            .map(|(_, m, _)| describe_errors(m))
                            .unwrap_or_default(),
                        failure: v
                            .failure
                            .as_ref()
                            .filter(|_| result.is_none())
                            .map(|f| f.reason.clone()),
                        trials: result.map_or(0, |(_, _, n)| *n),
                    }
                })
                .collect();
            let by_request = if record.requests.len() > 1 {
                record
                    .variants
                    .iter()
                    .flat_map(|v| {
                        data.by_request
                            .iter()
                            .filter(|r| {
                                r.variant == v.name && r.phase == phase.name && r.trial == 1
                            })
                            .map(|r| RequestResultRow {
                                variant: r.variant.clone(),
                                request: r.request.clone().unwrap_or_default(),
                                metrics: r.metrics.clone(),
                            })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let (latency_plot, rps_plot) = plot_paths(&phase.name);
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
                    open_verdict(&results)
                } else {
                    closed_verdict(&results)
                },
                open: phase.open,
                generator_limited: if phase.open {
                    generator_limited(&results)
                } else {
                    None
                },
                rows,
                by_request,
                latency_plot: has_histograms.then_some(latency_plot),
                rps_plot: has_timeline.then_some(rps_plot),
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
    }
}
