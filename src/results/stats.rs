//! Statistics across repeated trials: how much of a difference is noise.
//!
//! - The median of each metric, with a distribution-free confidence interval from order
//!   statistics: the narrowest [x(l), x(n+1−l)] whose coverage, from the binomial
//!   distribution, is at least 95 %. With fewer than 6 trials no such interval exists; then
//!   [min, max] is given with its actual coverage (75 % for 3 trials, 93.75 % for 5).
//! - The ratio between two variants as the ratio of their medians (the numbers the report
//!   shows), with the distribution-free interval that goes with the Mann–Whitney rank test:
//!   order statistics of the ratios between every trial of one side and every trial of the
//!   other, their coverage from the exact null distribution of the rank statistic. The
//!   interval excludes 1 exactly when the two-sided rank test rejects at its level.
//! - Whether a difference is significant: at 95 % when the trials allow it, otherwise only
//!   beyond the metric's measured run-to-run noise ([`judge`]).
//! - The coefficient of variation (standard deviation / mean) to flag noisy trials.

use serde::{Deserialize, Serialize};

/// Coverage the confidence intervals aim for.
pub const CONFIDENCE: f64 = 0.95;

/// A median with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    /// The probability that [low, high] contains the true median (from the binomial law).
    pub coverage: f64,
    pub trials: usize,
}

fn binomial_cdf_half(n: usize, k: usize) -> f64 {
    // P(B ≤ k) for B ~ Binomial(n, 1/2), exactly, with f64 binomial coefficients.
    let mut coefficient = 1.0f64;
    let mut sum = 1.0f64;
    for i in 1..=k {
        coefficient = coefficient * (n + 1 - i) as f64 / i as f64;
        sum += coefficient;
    }
    sum / 2f64.powi(n as i32)
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// The median of `values` with its order-statistics confidence interval.
pub fn estimate(values: &[f64]) -> Option<Estimate> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = median(&sorted)?;
    // The largest l (1-based) whose interval [x(l), x(n+1−l)] still covers ≥ 95 %; l = 1 (min,
    // max) when even that falls short.
    let mut l = 1;
    for candidate in 1..=n.div_ceil(2) {
        if 1.0 - 2.0 * binomial_cdf_half(n, candidate - 1) >= CONFIDENCE {
            l = candidate;
        } else {
            break;
        }
    }
    let coverage = if n == 1 {
        0.0
    } else {
        1.0 - 2.0 * binomial_cdf_half(n, l - 1)
    };
    Some(Estimate {
        median,
        low: sorted[l - 1],
        high: sorted[n - l],
        coverage,
        trials: n,
    })
}

/// (max − min) / mean: how much a short series moves; `None` for a mean of 0.
pub fn relative_range(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    (m > 0.0).then(|| (high - low) / m)
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (n − 1); 0 for a single value.
pub fn stdev(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    if values.len() < 2 {
        return Some(0.0);
    }
    let variance = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    Some(variance.sqrt())
}

/// Coefficient of variation: standard deviation over mean; `None` for a mean of 0.
pub fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (m != 0.0).then(|| stdev(values).unwrap_or(0.0) / m.abs())
}

/// P(U ≤ u) for u = 0..=m·n, U the Mann–Whitney count (pairs in which the first sample's value
/// is the larger) when both samples come from one distribution. The number of orderings with
/// each U are the coefficients of the Gaussian binomial [m+n choose m]_q = ∏ᵢ (1 − q^(n+i)) /
/// (1 − q^i), i = 1..=m.
fn mann_whitney_cdf(m: usize, n: usize) -> Vec<f64> {
    let degree = m * n;
    // Room for the product before each division by (1 − q^i).
    let mut counts = vec![0.0f64; degree + m + 1];
    counts[0] = 1.0;
    for i in 1..=m {
        for j in (n + i..counts.len()).rev() {
            counts[j] -= counts[j - n - i];
        }
        for j in i..counts.len() {
            counts[j] += counts[j - i];
        }
    }
    counts.truncate(degree + 1);
    let total: f64 = counts.iter().sum();
    let mut cumulative = 0.0;
    counts
        .iter()
        .map(|c| {
            cumulative += c;
            cumulative / total
        })
        .collect()
}

/// The ratio of two medians with an interval for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// median(a) / median(b).
    pub value: f64,
    /// The medians it was computed from.
    pub a: f64,
    pub b: f64,
    pub low: f64,
    pub high: f64,
    /// The probability that [low, high] contains the true ratio: at least 95 % when the trials
    /// allow it, else the coverage of [min, max] of the pairwise ratios (90 % for 3 and 3
    /// trials, 0 for 1 and 1: no uncertainty known).
    pub coverage: f64,
    pub trials: (usize, usize),
}

impl Ratio {
    /// The interval reaches 95 % (4 trials each, 3 and 5, 2 and 8, …).
    pub fn is_confident(&self) -> bool {
        self.coverage >= CONFIDENCE
    }

    /// The interval lies wholly on one side of 1.
    pub fn excludes_one(&self) -> bool {
        self.low > 1.0 || self.high < 1.0
    }

    /// How much the larger median exceeds the smaller, relatively: 0.25 for 1.25× or 0.8×.
    pub fn difference(&self) -> f64 {
        self.value.max(1.0 / self.value) - 1.0
    }

    /// The half-width that makes value ± it reach both ends of the interval.
    pub fn reach(&self) -> f64 {
        (self.high - self.value).max(self.value - self.low)
    }
}

/// median(a) / median(b), with the interval [R(k), R(mn+1−k)] of the m·n sorted ratios
/// aᵢ / bⱼ for the largest k whose coverage 1 − 2·P(U ≤ k−1) is at least 95 %; k = 1 (min,
/// max) with its actual coverage when even that falls short. `None` without values on both
/// sides; values of `b` at or below 0 (a trial that served nothing) give no ratio and are left
/// out, as are values that are not finite.
pub fn ratio(a: &[f64], b: &[f64]) -> Option<Ratio> {
    let a: Vec<f64> = a.iter().copied().filter(|v| v.is_finite()).collect();
    let b: Vec<f64> = b
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let (median_a, median_b) = (median(&a)?, median(&b)?);
    let (m, n) = (a.len(), b.len());
    let mut ratios: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x / y))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let cdf = mann_whitney_cdf(m, n);
    let coverage_of = |k: usize| (1.0 - 2.0 * cdf[k - 1]).max(0.0);
    let mut k = 1;
    for candidate in 1..=ratios.len().div_ceil(2) {
        if coverage_of(candidate) >= CONFIDENCE {
            k = candidate;
        } else {
            break;
        }
    }
    Some(Ratio {
        value: median_a / median_b,
        a: median_a,
        b: median_b,
        low: ratios[k - 1],
        high: ratios[ratios.len() - k],
        coverage: coverage_of(k),
        trials: (m, n),
    })
}

/// How a difference between two variants was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Significance {
    /// The 95 % interval of the ratio excludes 1.
    Significant,
    /// The 95 % interval of the ratio includes 1.
    NotSignificant,
    /// Too few trials for 95 %, but every trial of one side beat every trial of the other and
    /// the medians differ by more than the metric's run-to-run noise.
    BeyondNoise,
    /// Too few trials for 95 %, and the trials overlap or the medians differ by no more than
    /// the run-to-run noise.
    WithinNoise,
}

impl Significance {
    /// Whether a winner may be named.
    pub fn names_a_winner(self) -> bool {
        matches!(self, Significance::Significant | Significance::BeyondNoise)
    }
}

/// The verdict rule. With a 95 % interval (enough trials for the rank test to reach p < 0.05),
/// the interval decides. Otherwise a difference counts only when the [min, max] interval of
/// the ratios excludes 1 and the medians differ by more than `noise` (the metric's run-to-run
/// noise between single trials; `None`: nothing counts without 95 %).
pub fn judge(ratio: &Ratio, noise: Option<f64>) -> Significance {
    if ratio.is_confident() {
        if ratio.excludes_one() {
            Significance::Significant
        } else {
            Significance::NotSignificant
        }
    } else if ratio.excludes_one() && noise.is_some_and(|noise| ratio.difference() > noise) {
        Significance::BeyondNoise
    } else {
        Significance::WithinNoise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed independently with Python's `statistics` and `math.comb`:
    //   xs = [10, 12, 11, 13, 9, 14, 10.5, 11.5, 12.5, 13.5]; median 11.75
    //   narrowest order-statistic interval with ≥ 95 %: l = 2 → [10.0, 13.5], 97.8515625 %
    //   a = [100, 102, 98], b = [50, 51, 49]: ratio 2.0 ± 0.0565685424949238, CV(a) = 0.02
    const XS: [f64; 10] = [10.0, 12.0, 11.0, 13.0, 9.0, 14.0, 10.5, 11.5, 12.5, 13.5];

    #[test]
    fn median_interval_matches_the_reference() {
        let e = estimate(&XS).unwrap();
        assert_eq!(e.median, 11.75);
        assert_eq!((e.low, e.high), (10.0, 13.5));
        assert!((e.coverage - 0.978515625).abs() < 1e-12, "{}", e.coverage);
        assert_eq!(e.trials, 10);
    }

    #[test]
    fn few_trials_give_min_max_with_their_real_coverage() {
        let three = estimate(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((three.median, three.low, three.high), (2.0, 1.0, 3.0));
        assert_eq!(three.coverage, 0.75);
        assert_eq!(
            estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap().coverage,
            0.9375
        );
        let six = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!((six.low, six.high), (1.0, 6.0));
        assert_eq!(six.coverage, 0.96875);
        let one = estimate(&[7.0]).unwrap();
        assert_eq!(
            (one.median, one.low, one.high, one.coverage),
            (7.0, 7.0, 7.0, 0.0)
        );
        assert!(estimate(&[]).is_none());
    }

    #[test]
    fn spread_matches_the_reference() {
        assert!((coefficient_of_variation(&[100.0, 102.0, 98.0]).unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(stdev(&[5.0]), Some(0.0));
        assert_eq!(relative_range(&[95.0, 100.0, 105.0]), Some(0.1));
        assert_eq!(relative_range(&[0.0, 0.0]), None);
    }

    // The null distribution of the Mann–Whitney count, by hand: the number of orderings of
    // m + n values with each U are the coefficients of the Gaussian binomial, which sum to
    // C(m+n, m): 3 and 3 → 1 1 2 3 3 3 3 2 1 1 (20); 4 and 4 → 1 1 2 3 5 5 7 7 8 7 7 5 5 3 2 1 1
    // (70); 5 and 5 starts 1 1 2 3 5 7 … of 252.
    #[test]
    fn rank_statistic_distribution_matches_the_counts() {
        let expect = |m, n, counts: &[f64], total: f64| {
            let cdf = mann_whitney_cdf(m, n);
            let mut sum = 0.0;
            for (u, c) in counts.iter().enumerate() {
                sum += c;
                assert!((cdf[u] - sum / total).abs() < 1e-12, "{m}×{n} U ≤ {u}");
            }
            assert!((cdf[m * n] - 1.0).abs() < 1e-12);
        };
        expect(1, 1, &[1.0, 1.0], 2.0);
        expect(
            3,
            3,
            &[1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0],
            20.0,
        );
        expect(
            4,
            4,
            &[
                1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 7.0, 7.0, 8.0, 7.0, 7.0, 5.0, 5.0, 3.0, 2.0, 1.0, 1.0,
            ],
            70.0,
        );
        expect(5, 5, &[1.0, 1.0, 2.0, 3.0, 5.0, 7.0], 252.0);
        // 2 and 3: C(5, 2) = 10 orderings, U = 0..6: 1 1 2 2 2 1 1.
        expect(2, 3, &[1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0], 10.0);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    // 5 and 5 trials: P(U ≤ 2) = 4/252 gives k = 3, coverage 1 − 8/252 = 0.968253968…; the
    // third smallest of the 25 ratios is 110/100, the third largest 130/100.
    #[test]
    fn ratio_interval_of_five_trials_each_reaches_95_percent() {
        let a = [110.0, 120.0, 130.0, 125.0, 115.0];
        let b = [100.0, 98.0, 102.0, 101.0, 99.0];
        let r = ratio(&a, &b).unwrap();
        assert!(close(r.value, 1.2) && r.a == 120.0 && r.b == 100.0, "{r:?}");
        assert!(close(r.low, 1.1) && close(r.high, 1.3), "{r:?}");
        assert!(close(r.coverage, 1.0 - 8.0 / 252.0), "{r:?}");
        assert!(r.is_confident() && r.excludes_one());
        assert_eq!(judge(&r, Some(0.15)), Significance::Significant);
        // The same trials, unchanged by swapping the sides but for the direction.
        let back = ratio(&b, &a).unwrap();
        assert!(
            close(back.low, 1.0 / 1.3) && close(back.high, 1.0 / 1.1),
            "{back:?}"
        );
        // Interleaved trials: the interval includes 1.
        let same = ratio(&[100.0, 104.0, 98.0, 102.0, 96.0], &b).unwrap();
        assert!(same.is_confident() && !same.excludes_one(), "{same:?}");
        assert_eq!(judge(&same, Some(0.15)), Significance::NotSignificant);
    }

    // 3 and 3 trials: the rank test cannot reach 95 % (its smallest two-sided p is 2/20), so
    // [min, max] of the 9 ratios is given with coverage 1 − 2/20 = 0.9, and the noise decides.
    #[test]
    fn three_trials_each_fall_back_to_the_noise() {
        let overlapping = ratio(&[100.0, 104.0, 98.0], &[101.0, 97.0, 103.0]).unwrap();
        assert!(close(overlapping.value, 100.0 / 101.0));
        assert!(close(overlapping.low, 98.0 / 103.0) && close(overlapping.high, 104.0 / 97.0));
        assert!(close(overlapping.coverage, 0.9) && !overlapping.is_confident());
        assert_eq!(judge(&overlapping, Some(0.15)), Significance::WithinNoise);

        let far = ratio(&[130.0, 135.0, 128.0], &[100.0, 104.0, 98.0]).unwrap();
        assert!(
            close(far.value, 1.3) && close(far.low, 128.0 / 104.0),
            "{far:?}"
        );
        assert_eq!(judge(&far, Some(0.15)), Significance::BeyondNoise);
        assert_eq!(judge(&far, None), Significance::WithinNoise);

        // Apart, but by less than the noise.
        let near = ratio(&[105.0, 106.0, 107.0], &[100.0, 101.0, 99.0]).unwrap();
        assert!(near.excludes_one());
        assert_eq!(judge(&near, Some(0.15)), Significance::WithinNoise);
    }

    #[test]
    fn one_trial_each_has_no_uncertainty() {
        let r = ratio(&[120.0], &[100.0]).unwrap();
        assert_eq!((r.low, r.high, r.coverage), (r.value, r.value, 0.0));
        assert!(close(r.difference(), 0.2));
        assert_eq!(judge(&r, Some(0.15)), Significance::BeyondNoise);
        assert_eq!(
            judge(&ratio(&[110.0], &[100.0]).unwrap(), Some(0.15)),
            Significance::WithinNoise
        );
        // Lower and higher are judged alike: 0.8× is a 25 % difference.
        assert!(close(ratio(&[80.0], &[100.0]).unwrap().difference(), 0.25));
        assert!(ratio(&[1.0], &[0.0]).is_none());
        assert!(ratio(&[], &[1.0]).is_none());
    }
}
