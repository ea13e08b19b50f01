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
/// each): a difference of 6.0 %, within the 20 % run-to-run noise": what the ratio rests on and why a
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

/// What a closed-model phase ranks its variants by: requests/s, or goodput (successful
/// responses per second) as soon as any variant's requests failed there, so that timed-out
/// requests never count as throughput. Without failures the two are the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throughput {
    Requests,
    Goodput,
}

impl Throughput {
    pub fn of_phase<'a>(trials: impl IntoIterator<Item = &'a Metrics>) -> Self {
        if trials.into_iter().any(|m| m.errors > 0) {
            Throughput::Goodput
        } else {
            Throughput::Requests
        }
    }

    pub fn value(self, m: &Metrics) -> f64 {
        match self {
            Throughput::Requests => m.rps,
            Throughput::Goodput => m.goodput,
        }
    }

    /// The metric's name in the table of metrics, for its noise.
    fn metric(self) -> &'static str {
        match self {
            Throughput::Requests => "rps",
            Throughput::Goodput => "goodput",
        }
    }

    /// What it counts, in a sentence.
    pub fn words(self) -> &'static str {
        match self {
            Throughput::Requests => "requests/s",
            Throughput::Goodput => "successful responses/s (goodput)",
        }
    }
}

/// Closed model: "**a** served the most requests/s: 1.39× **b** (78,706.0 vs 56,543.2 req/s;
/// …), p99 1.60 vs 2.45 ms." or "No significant difference between **a** and **b** in
/// requests/s: 1.02× (…)". Ranked by goodput when requests failed ([`Throughput`]).
pub fn closed(results: &[Side]) -> Option<String> {
    let by = Throughput::of_phase(results.iter().flat_map(|s| s.trials.iter().copied()));
    let mut ranked: Vec<&Side> = results.iter().collect();
    ranked.sort_by(|a, b| by.value(&b.median).total_cmp(&by.value(&a.median)));
    let [best, runner_up, ..] = ranked.as_slice() else {
        return None;
    };
    let (top, next) = (&best.median, &runner_up.median);
    if by.value(top) <= 0.0 {
        return Some(match by {
            Throughput::Requests => "No variant completed requests.".to_owned(),
            Throughput::Goodput => "No variant got a successful response.".to_owned(),
        });
    }
    if by.value(next) <= 0.0 {
        return Some(match by {
            Throughput::Requests => format!("Only **{}** completed requests.", best.name),
            Throughput::Goodput => format!("Only **{}** got successful responses.", best.name),
        });
    }
    let ratio = stats::ratio(
        &best.trials.iter().map(|m| by.value(m)).collect::<Vec<_>>(),
        &runner_up
            .trials
            .iter()
            .map(|m| by.value(m))
            .collect::<Vec<_>>(),
    )?;
    let noise = noise(by.metric());
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
            "**{best}** served the most {}: {} **{second}** ({numbers}){p99}{cpu}.",
            by.words(),
            filters::ratio(ratio.value.into())
        )
    } else {
        format!(
            "No significant difference between **{best}** and **{second}** in {}: {} ({numbers}){p99}{cpu}.",
            by.words(),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::results::Tally;

    /// One trial per value: that requests/s, and a p99 of `p99` ms.
    fn trials(rps: &[f64], p99: f64) -> Vec<Metrics> {
        rps.iter()
            .map(|&rps| {
                let mut m = Metrics::from_tally(&Tally::new(), Duration::from_secs(1), None);
                m.rps = rps;
                m.p99_ms = Some(p99);
                m
            })
            .collect()
    }

    fn side<'a>(name: &'a str, trials: &'a [Metrics]) -> Side<'a> {
        let trials: Vec<&Metrics> = trials.iter().collect();
        Side {
            name,
            median: Metrics::median(&trials).unwrap(),
            trials,
        }
    }

    fn closed_of(a: &[Metrics], b: &[Metrics]) -> String {
        closed(&[side("a", a), side("b", b)]).unwrap()
    }

    fn closed_rps(a: &[f64], b: &[f64]) -> String {
        closed_of(&trials(a, 1.0), &trials(b, 2.0))
    }

    #[test]
    fn failed_requests_are_not_throughput() {
        // a sends more requests, but most of them time out: b serves more successful ones.
        let mut a = trials(&[40.0, 41.0, 39.0, 40.0], 1.0);
        for m in &mut a {
            m.errors = 38;
            m.goodput = 0.2;
        }
        let mut b = trials(&[10.0, 10.5, 9.5, 10.0], 2.0);
        for m in &mut b {
            m.goodput = m.rps;
        }
        let verdict = closed_of(&a, &b);
        assert!(
            verdict.starts_with(
                "**b** served the most successful responses/s (goodput): 50.00× **a** (10.0 vs 0.2 req/s"
            ),
            "{verdict}"
        );
        let mut none = a.clone();
        for m in &mut none {
            m.goodput = 0.0;
        }
        assert_eq!(closed_of(&b, &none), "Only **a** got successful responses.");
        assert_eq!(
            closed_of(&none, &none.clone()),
            "No variant got a successful response."
        );
    }

    #[test]
    fn a_significant_difference_names_the_winner() {
        let verdict = closed_rps(
            &[110.0, 120.0, 130.0, 125.0, 115.0],
            &[100.0, 98.0, 102.0, 101.0, 99.0],
        );
        assert_eq!(
            verdict,
            "**a** served the most requests/s: 1.20× **b** (120.0 vs 100.0 req/s; medians of 5 \
             trials, ratio 1.10–1.30 with 96.83 % confidence), p99 1.00 vs 2.00 ms."
        );
        // The order of the variants does not matter, only their numbers.
        let swapped = closed_rps(
            &[100.0, 98.0, 102.0, 101.0, 99.0],
            &[110.0, 120.0, 130.0, 125.0, 115.0],
        );
        assert!(swapped.starts_with("**b** served the most requests/s: 1.20× **a**"));
    }

    #[test]
    fn overlapping_repeats_are_no_significant_difference() {
        let five = closed_rps(
            &[104.0, 100.0, 98.0, 102.0, 96.0],
            &[101.0, 97.0, 103.0, 99.0, 100.0],
        );
        assert_eq!(
            five,
            "No significant difference between **a** and **b** in requests/s: 1.00× (100.0 vs \
             100.0 req/s; medians of 5 trials, ratio 0.95–1.05 with 96.83 % confidence), p99 \
             1.00 vs 2.00 ms."
        );
        // 3 and 3 trials, medians 30 % apart, but one trial of b beats one of a: no winner.
        let three = closed_rps(&[130.0, 135.0, 90.0], &[100.0, 104.0, 98.0]);
        assert!(
            three.starts_with(
                "No significant difference between **a** and **b** in requests/s: 1.30×"
            ) && three.contains(
                "with 90.00 % confidence, too few trials for 95 % (4 each): the trials overlap"
            ),
            "{three}"
        );
    }

    #[test]
    fn with_too_few_trials_only_a_difference_beyond_the_noise_names_a_winner() {
        let apart = closed_rps(&[130.0, 135.0, 128.0], &[100.0, 104.0, 98.0]);
        assert!(
            apart.starts_with("**a** served the most requests/s: 1.30× **b** (130.0 vs 100.0 req/s; medians of 3 trials, ratio 1.23–1.38 with 90.00 % confidence, too few trials for 95 % (4 each): no overlap between trials, and a difference of 30.0 %, beyond the 20 % run-to-run noise)"),
            "{apart}"
        );
        let near = closed_rps(&[105.0, 106.0, 107.0], &[100.0, 101.0, 99.0]);
        assert!(
            near.starts_with("No significant difference between **a** and **b**")
                && near.contains("a difference of 6.0 %, within the 20 % run-to-run noise"),
            "{near}"
        );
    }

    #[test]
    fn a_single_trial_each_has_no_uncertainty_and_needs_a_difference_beyond_the_noise() {
        assert_eq!(
            closed_rps(&[110.0], &[100.0]),
            "No significant difference between **a** and **b** in requests/s: 1.10× (110.0 vs \
             100.0 req/s; one trial each, so no uncertainty is known: a difference of 10.0 %, \
             within the 20 % run-to-run noise), p99 1.00 vs 2.00 ms."
        );
        assert_eq!(
            closed_rps(&[130.0], &[100.0]),
            "**a** served the most requests/s: 1.30× **b** (130.0 vs 100.0 req/s; one trial \
             each, so no uncertainty is known: a difference of 30.0 %, beyond the 20 % \
             run-to-run noise), p99 1.00 vs 2.00 ms."
        );
    }

    #[test]
    fn two_identical_variants_differ_by_nothing_significant() {
        let same = [100.0, 101.0, 99.0];
        let verdict = closed_of(&trials(&same, 1.0), &trials(&same, 1.0));
        assert!(
            verdict.starts_with("No significant difference between **a** and **b** in requests/s: 1.00× (100.0 vs 100.0 req/s"),
            "{verdict}"
        );
        // The same data always gives the same sentence.
        assert_eq!(verdict, closed_of(&trials(&same, 1.0), &trials(&same, 1.0)));
    }

    #[test]
    fn open_phases_judge_the_p99() {
        let with_p99 = |p99s: &[f64]| -> Vec<Metrics> {
            p99s.iter()
                .map(|&p99| trials(&[100.0], p99).remove(0))
                .collect()
        };
        let verdict = |a: &[f64], b: &[f64]| {
            let (a, b) = (with_p99(a), with_p99(b));
            open(&[side("a", &a), side("b", &b)]).unwrap()
        };
        assert_eq!(
            verdict(&[2.0], &[1.0]),
            "**b** kept the lowest p99 latency at this rate: 1.00 ms against 2.00 ms for **a** \
             (2.00× higher; one trial each, so no uncertainty is known: a factor of 2.00, beyond \
             the 45 % run-to-run noise)."
        );
        assert!(verdict(&[1.3], &[1.0]).starts_with(
            "No significant difference between **b** and **a** in p99 latency at this rate: 1.00 vs 1.30 ms (1.30× higher for **a**; one trial each"
        ));
    }
}
