//! Statistics across repeated trials: how much of a difference is noise.
//!
//! - The median of each metric, with a distribution-free confidence interval from order
//!   statistics: the narrowest [x(l), x(n+1−l)] whose coverage, from the binomial
//!   distribution, is at least 95 %. With fewer than 6 trials no such interval exists; then
//!   [min, max] is given with its actual coverage (75 % for 3 trials, 93.75 % for 5).
//! - The ratio between two variants as a ratio of means, with the uncertainty propagated from
//!   the standard deviations, as hyperfine does: r ± r·√((sa/ma)² + (sb/mb)²).
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

/// A ratio a/b with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub value: f64,
    pub uncertainty: f64,
}

/// mean(a) / mean(b) ± the uncertainty propagated from both standard deviations.
pub fn ratio(a: &[f64], b: &[f64]) -> Option<Ratio> {
    let (ma, mb) = (mean(a)?, mean(b)?);
    if mb == 0.0 || ma == 0.0 {
        return None;
    }
    let (sa, sb) = (stdev(a)?, stdev(b)?);
    let value = ma / mb;
    Some(Ratio {
        value,
        uncertainty: value * ((sa / ma).powi(2) + (sb / mb).powi(2)).sqrt(),
    })
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
    fn ratio_and_spread_match_the_reference() {
        let r = ratio(&[100.0, 102.0, 98.0], &[50.0, 51.0, 49.0]).unwrap();
        assert!((r.value - 2.0).abs() < 1e-12);
        assert!(
            (r.uncertainty - 0.0565685424949238).abs() < 1e-12,
            "{}",
            r.uncertainty
        );
        assert!((coefficient_of_variation(&[100.0, 102.0, 98.0]).unwrap() - 0.02).abs() < 1e-12);
        assert!(ratio(&[1.0], &[0.0]).is_none());
        assert_eq!(stdev(&[5.0]), Some(0.0));
        assert_eq!(relative_range(&[95.0, 100.0, 105.0]), Some(0.1));
        assert_eq!(relative_range(&[0.0, 0.0]), None);
    }
}
