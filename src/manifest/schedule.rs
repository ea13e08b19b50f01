//! Load over time, as piecewise-linear schedules: how many virtual users should be active at a
//! moment, and when the k-th request of an arrival-rate phase is due. Pure arithmetic.

use std::time::Duration;

/// One linear segment: over `duration`, the value moves from where the previous stage ended
/// (or the schedule's start) to `target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// A value (virtual users, or requests per second) that changes linearly between stages.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    pub start: f64,
    pub stages: Vec<Stage>,
}

impl Ramp {
    /// A constant value held for `duration`.
    pub fn constant(value: f64, duration: Duration) -> Ramp {
        Ramp {
            start: value,
            stages: vec![Stage {
                duration,
                target: value,
            }],
        }
    }

    pub fn total_duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The largest value reached.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }

    /// (start time, duration, from, to) of every stage.
    fn segments(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        let mut t = 0.0;
        let mut from = self.start;
        self.stages.iter().map(move |stage| {
            let segment = (t, stage.duration.as_secs_f64(), from, stage.target);
            t += segment.1;
            from = stage.target;
            segment
        })
    }

    /// The value at `t` seconds; the last target after the end.
    pub fn value_at(&self, t: f64) -> f64 {
        let mut last = self.start;
        for (begin, length, from, to) in self.segments() {
            if t < begin + length {
                if length <= 0.0 {
                    return to;
                }
                return from + (to - from) * ((t - begin).max(0.0) / length);
            }
            last = to;
        }
        last
    }

    /// The first time at or after `now` (seconds) when the value is at least `level`, within
    /// the schedule; `None` if it never is again.
    pub fn first_time_at_least(&self, level: f64, now: f64) -> Option<f64> {
        for (begin, length, from, to) in self.segments() {
            let end = begin + length;
            if end <= now {
                continue;
            }
            let from_now = self.value_at(now.max(begin));
            if from_now >= level {
                return Some(now.max(begin));
            }
            if to >= level && to > from {
                // Linear: solve from + (to - from) * (t - begin) / length = level.
                let t = begin + (level - from) / (to - from) * length;
                return Some(t.max(now));
            }
        }
        None
    }

    /// Events expected over the whole schedule when the value is a rate per second.
    pub fn integral(&self) -> f64 {
        self.segments()
            .map(|(_, length, from, to)| (from + to) / 2.0 * length)
            .sum()
    }

    /// When the k-th event (from 0) of a rate schedule is due, in seconds from the start:
    /// the time t at which the rate's integral reaches k. `None` when it falls after the end.
    pub fn time_of_event(&self, k: u64) -> Option<f64> {
        let mut remaining = k as f64;
        for (begin, length, from, to) in self.segments() {
            let count = (from + to) / 2.0 * length;
            if remaining < count {
                let slope = (to - from) / length;
                // Solve from·t + slope·t²/2 = remaining for the smallest t ≥ 0.
                let t = if slope.abs() < 1e-12 {
                    remaining / from
                } else {
                    let discriminant = (from * from + 2.0 * slope * remaining).max(0.0);
                    (discriminant.sqrt() - from) / slope
                };
                return Some(begin + t.clamp(0.0, length));
            }
            remaining -= count;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn ramp(start: f64, stages: &[(f64, f64)]) -> Ramp {
        Ramp {
            start,
            stages: stages
                .iter()
                .map(|&(d, target)| Stage {
                    duration: secs(d),
                    target,
                })
                .collect(),
        }
    }

    #[test]
    fn constant_rate_events_are_evenly_spaced() {
        let r = Ramp::constant(1000.0, secs(2.0));
        assert_eq!(r.time_of_event(0), Some(0.0));
        assert!((r.time_of_event(1).unwrap() - 0.001).abs() < 1e-12);
        assert!((r.time_of_event(1999).unwrap() - 1.999).abs() < 1e-9);
        assert_eq!(r.time_of_event(2000), None);
        assert_eq!(r.integral(), 2000.0);
    }

    #[test]
    fn ramping_rate_events_follow_the_integral() {
        // 0 → 100/s over 10 s, then 100/s for 5 s: 500 + 500 events.
        let r = ramp(0.0, &[(10.0, 100.0), (5.0, 100.0)]);
        assert!((r.integral() - 1000.0).abs() < 1e-9);
        // N(t) = 5 t² in the first stage: event 125 at t = 5 s.
        assert!((r.time_of_event(125).unwrap() - 5.0).abs() < 1e-9);
        // Event 500 starts the flat stage, event 750 is 2.5 s into it.
        assert!((r.time_of_event(500).unwrap() - 10.0).abs() < 1e-9);
        assert!((r.time_of_event(750).unwrap() - 12.5).abs() < 1e-9);
        assert_eq!(r.time_of_event(1000), None);
        // Events are in order.
        let times: Vec<f64> = (0..1000).map(|k| r.time_of_event(k).unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn ramping_down_rate() {
        // 100/s → 0 over 10 s: 500 events, dense first.
        let r = ramp(100.0, &[(10.0, 0.0)]);
        let first = r.time_of_event(1).unwrap();
        let late = r.time_of_event(499).unwrap() - r.time_of_event(498).unwrap();
        assert!(first < 0.011 && late > 0.05, "{first} {late}");
    }

    #[test]
    fn vus_over_time_and_activation() {
        // 0 → 10 VUs over 10 s, hold 5 s, down to 2 over 4 s.
        let r = ramp(0.0, &[(10.0, 10.0), (5.0, 10.0), (4.0, 2.0)]);
        assert_eq!(r.value_at(0.0), 0.0);
        assert!((r.value_at(5.0) - 5.0).abs() < 1e-12);
        assert_eq!(r.value_at(12.0), 10.0);
        assert!((r.value_at(17.0) - 6.0).abs() < 1e-12);
        assert_eq!(r.value_at(100.0), 2.0);
        assert_eq!(r.peak(), 10.0);
        assert_eq!(r.total_duration(), secs(19.0));
        // VU 3 becomes active at t = 3 s; VU 10 at 10 s; an active one at once.
        assert!((r.first_time_at_least(3.0, 0.0).unwrap() - 3.0).abs() < 1e-9);
        assert!((r.first_time_at_least(10.0, 0.0).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(r.first_time_at_least(2.0, 12.0), Some(12.0));
        // VU 8 after the ramp-down has begun past it: never again.
        assert_eq!(r.first_time_at_least(8.0, 17.0), None);
    }
}
