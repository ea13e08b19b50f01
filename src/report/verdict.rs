//! The headline of a phase: a winner only when the difference is significant (see
//! [`stats::judge`]), otherwise "no significant difference", always with the ratio, the
//! medians it was computed from, and how sure it is.

use crate::metrics;
use crate::results::stats::{self, Ratio, Significance};
use crate::results::Metrics;

use super::filters;

/// A variant's trials of a phase and the median of each metric across them.
pub struct Side<'a> {
    pub name: &'a str,
    pub trials: Vec<&'a Metrics>,
    pub median: Metrics,
}

fn values(trials: &[&Metrics], get: fn(&Metrics) -> Option<f64>) -> Vec<f64> {
    trials.iter().filter_map(|m| get(m)).collect()
}

fn percent(fraction: f64) -> String {
    format!("{:.0} %", fraction * 100.0)
}

/// "; medians of 3 trials, ratio 0.82–1.24 with 90.00 % confidence, too few trials for 95 % (4
/// each): a difference of 6.0 %, within the 15 % run-to-run noise": what the ratio rests on and why a
/// winner is or is not named.
fn evidence(ratio: &Ratio, significance: Significance, noise: Option<f64>) -> String {
    // Beyond doubling, a factor reads better than a percentage.
    let difference = if ratio.difference() < 1.0 {
        format!("a difference of {:.1} %", ratio.difference() * 100.0)
    } else {
        format!("a factor of {:.2}", ratio.difference() + 1.0)
    };
    let against_noise = match noise {
        Some(noise) if significance.names_a_winner() => format!(
            "{difference}, beyond the {} run-to-run noise",
            percent(noise)
        ),
        Some(noise) => format!(
            "{difference}, within the {} run-to-run noise",
            percent(noise)
        ),
        None => format!("{difference}; no run-to-run noise is known for it"),
    };
    if ratio.trials == (1, 1) {
        return format!("; one trial each, so no uncertainty is known: {against_noise}");
    }
    let trials = match ratio.trials {
        (a, b) if a == b => format!("medians of {a} trials"),
        (a, b) => format!("medians of {a} and {b} trials"),
    };
    let interval = format!(
        "ratio {:.2}–{:.2} with {} confidence",
        ratio.low,
        ratio.high,
        filters::pct(ratio.coverage.into())
    );
    const TOO_FEW: &str = ", too few trials for 95 % (4 each)";
    let why = match significance {
        Significance::Significant | Significance::NotSignificant => String::new(),
        Significance::BeyondNoise => {
            format!("{TOO_FEW}: no overlap between trials, and {against_noise}")
        }
        Significance::WithinNoise if !ratio.excludes_one() => {
            format!("{TOO_FEW}: the trials overlap")
        }
        Significance::WithinNoise => format!("{TOO_FEW}: {against_noise}"),
    };
    format!("; {trials}, {interval}{why}")
}

fn noise(metric: &str) -> Option<f64> {
    metrics::spec(metric).and_then(|m| m.judged.noise())
}

/// Closed model: "**a** served the most requests/s: 1.39× **b** (78,706.0 vs 56,543.2 req/s;
/// …), p99 1.60 vs 2.45 ms." or "No significant difference between **a** and **b** in
/// requests/s: 1.02× (…)".
pub fn closed(results: &[Side]) -> Option<String> {
    let mut ranked: Vec<&Side> = results.iter().collect();
    ranked.sort_by(|a, b| b.median.rps.total_cmp(&a.median.rps));
    let [best, runner_up, ..] = ranked.as_slice() else {
        return None;
    };
    let (top, next) = (&best.median, &runner_up.median);
    if next.rps <= 0.0 {
        return Some(format!("Only **{}** completed requests.", best.name));
    }
    let ratio = stats::ratio(
        &values(&best.trials, |m| Some(m.rps)),
        &values(&runner_up.trials, |m| Some(m.rps)),
    )?;
    let noise = noise("rps");
    let significance = stats::judge(&ratio, noise);
    let numbers = format!(
        "{} vs {} req/s{}",
        filters::rate(ratio.a.into()),
        filters::rate(ratio.b.into()),
        evidence(&ratio, significance, noise)
    );
    let p99 = match (top.p99_ms, next.p99_ms) {
        (Some(a), Some(b)) => format!(
            ", p99 {} vs {} ms",
            filters::ms(a.into()),
            filters::ms(b.into())
        ),
        _ => String::new(),
    };
    let cpu = match (top.cpu_mean_pct, next.cpu_mean_pct) {
        (Some(a), Some(b)) => format!(", server CPU {a:.0} % vs {b:.0} %"),
        _ => String::new(),
    };
    let (best, second) = (best.name, runner_up.name);
    Some(if significance.names_a_winner() {
        format!(
            "**{best}** served the most requests/s: {} **{second}** ({numbers}){p99}{cpu}.",
            filters::ratio(ratio.value.into())
        )
    } else {
        format!(
            "No significant difference between **{best}** and **{second}** in requests/s: {} ({numbers}){p99}{cpu}.",
            filters::ratio(ratio.value.into())
        )
    })
}

/// Open model: at a fixed rate every variant serves about the same requests/s, so the one
/// with the lowest p99 latency wins, when the difference is significant.
pub fn open(results: &[Side]) -> Option<String> {
    let mut ranked: Vec<(&Side, f64)> = results
        .iter()
        .filter_map(|v| Some((v, v.median.p99_ms?)))
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let [(best, _), (runner_up, _), ..] = ranked.as_slice() else {
        return None;
    };
    // The runner-up over the best, so that the ratio reads as "times higher".
    let ratio = stats::ratio(
        &values(&runner_up.trials, |m| m.p99_ms),
        &values(&best.trials, |m| m.p99_ms),
    )?;
    let noise = noise("p99_ms");
    let significance = stats::judge(&ratio, noise);
    let (best, second) = (best.name, runner_up.name);
    let higher = filters::ratio(ratio.value.into());
    let evidence = evidence(&ratio, significance, noise);
    let (low, next) = (filters::ms(ratio.b.into()), filters::ms(ratio.a.into()));
    Some(if significance.names_a_winner() {
        format!(
            "**{best}** kept the lowest p99 latency at this rate: {low} ms against {next} ms for **{second}** ({higher} higher{evidence})."
        )
    } else {
        format!(
            "No significant difference between **{best}** and **{second}** in p99 latency at this rate: {low} vs {next} ms ({higher} higher for **{second}**{evidence})."
        )
    })
}
