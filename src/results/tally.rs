//! What the load engine records for one request name in one phase. Each load worker fills its
//! own tallies (no sharing, no locks); they are merged when the phase ends.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, from 1 µs to one hour, 3 significant digits.
const HIGHEST_TRACKABLE_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Why a request got no HTTP response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The connection could not be opened (refused, unreachable).
    Connect,
    /// No complete response within the request's timeout.
    Timeout,
    /// The connection was closed or reset before the response was complete.
    Reset,
    /// Anything else (protocol errors, body decoding).
    Other,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 4] = [Self::Connect, Self::Timeout, Self::Reset, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
            Self::Other => "other",
        }
    }
}

/// Counts of requests that got no response, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportErrors {
    counts: [u64; 4],
}

impl TransportErrors {
    pub fn add(&mut self, class: ErrorClass, n: u64) {
        self.counts[class as usize] += n;
    }

    pub fn get(&self, class: ErrorClass) -> u64 {
        self.counts[class as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Requests sent later than this after their intended time count as lagged: the load
/// generator fell behind its schedule (tokio timers alone account for up to about 1 ms).
pub const LAG_THRESHOLD_US: u64 = 2_000;

#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every request that got a complete response, whatever its status: from the
    /// intended send time in the open model, from the actual send in the closed model.
    pub latency: Histogram<u64>,
    /// The part of `latency` that had status 400 or above; `None` until one came (rare, so a
    /// tally without failed responses stays lean). Successful latency is `latency` minus this.
    pub failed_latency: Option<Histogram<u64>>,
    /// Open model only: from the actual send to the end of the response.
    pub service: Option<Histogram<u64>>,
    /// Open model only: how late each request was sent after its intended time.
    pub lag: Option<Histogram<u64>>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: TransportErrors,
    /// Response body bytes received.
    pub bytes: u64,
    /// Open model: requests not sent because `max_in_flight` were outstanding.
    pub dropped: u64,
    /// Open model: requests sent more than LAG_THRESHOLD_US after their intended time.
    pub lagged: u64,
    /// Re-sends: times a request went out again on a fresh connection because the reused
    /// connection it was sent on closed before any byte of the response came. A re-sent request
    /// counts once in `requests()`, with the outcome of its last send.
    pub retries: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_US, SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds")
}

fn merge_optional(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
    if let Some(from) = from {
        into.get_or_insert_with(histogram)
            .add(from)
            .expect("histograms with the same bounds merge");
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            latency: histogram(),
            failed_latency: None,
            service: None,
            lag: None,
            statuses: BTreeMap::new(),
            transport_errors: TransportErrors::default(),
            bytes: 0,
            dropped: 0,
            lagged: 0,
            retries: 0,
        }
    }

    /// Open model: how late the request was sent, and how long the server took from then.
    pub fn record_schedule(&mut self, lag_us: u64, service_us: Option<u64>) {
        self.lag
            .get_or_insert_with(histogram)
            .saturating_record(lag_us);
        if lag_us > LAG_THRESHOLD_US {
            self.lagged += 1;
        }
        if let Some(us) = service_us {
            self.service
                .get_or_insert_with(histogram)
                .saturating_record(us.max(1));
        }
    }

    pub fn record_dropped(&mut self) {
        self.dropped += 1;
    }

    pub fn record_response(&mut self, latency_us: u64, status: u16, bytes: u64) {
        self.latency.saturating_record(latency_us.max(1));
        if status >= 400 {
            self.failed_latency
                .get_or_insert_with(histogram)
                .saturating_record(latency_us.max(1));
        }
        *self.statuses.entry(status).or_insert(0) += 1;
        self.bytes += bytes;
    }

    pub fn record_error(&mut self, class: ErrorClass) {
        self.transport_errors.add(class, 1);
    }

    /// A request was sent `n` more times than once.
    pub fn record_retries(&mut self, n: u64) {
        self.retries += n;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds merge");
        merge_optional(&mut self.failed_latency, &other.failed_latency);
        merge_optional(&mut self.service, &other.service);
        merge_optional(&mut self.lag, &other.lag);
        self.dropped += other.dropped;
        self.lagged += other.lagged;
        self.retries += other.retries;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += n;
        }
        for class in ErrorClass::ALL {
            self.transport_errors
                .add(class, other.transport_errors.get(class));
        }
        self.bytes += other.bytes;
    }

    /// Requests that got a response (any status).
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// All requests sent: with a response or with a transport error.
    pub fn requests(&self) -> u64 {
        self.responses() + self.transport_errors.total()
    }

    /// Responses with status 400 or above.
    pub fn http_errors(&self) -> u64 {
        self.statuses.range(400..).map(|(_, n)| n).sum()
    }

    /// Latency of the responses with status below 400: all minus the failed ones.
    pub fn success_latency(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.failed_latency {
            None => std::borrow::Cow::Borrowed(&self.latency),
            Some(failed) => {
                let mut success = self.latency.clone();
                success
                    .subtract(failed)
                    .expect("failed responses are recorded in both histograms");
                std::borrow::Cow::Owned(success)
            }
        }
    }

    /// Failed requests: transport errors and responses with status 400 or above.
    pub fn errors(&self) -> u64 {
        self.transport_errors.total() + self.http_errors()
    }
}

/// Per-second counts and latency of a phase, by the second in which requests completed.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub seconds: Vec<SecondTally>,
}

#[derive(Debug, Clone)]
pub struct SecondTally {
    pub requests: u64,
    pub errors: u64,
    /// Re-sends of the requests completed in this second (see [`Tally::retries`]).
    pub retries: u64,
    /// Coarser than the phase histograms (2 significant digits): enough for a time series.
    pub latency: Histogram<u32>,
}

impl SecondTally {
    fn new() -> Self {
        SecondTally {
            requests: 0,
            errors: 0,
            retries: 0,
            latency: Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_US, 2)
                .expect("valid histogram bounds"),
        }
    }
}

impl Timeline {
    fn second(&mut self, index: usize) -> &mut SecondTally {
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, SecondTally::new);
        }
        &mut self.seconds[index]
    }

    /// A request that completed `completed_us` after the phase start.
    pub fn record(&mut self, completed_us: u64, latency_us: Option<u64>, error: bool) {
        let second = self.second((completed_us / 1_000_000) as usize);
        second.requests += 1;
        if error {
            second.errors += 1;
        }
        if let Some(us) = latency_us {
            second.latency.saturating_record(us.max(1));
        }
    }

    /// `n` re-sends of a request that completed `completed_us` after the phase start.
    pub fn record_retries(&mut self, completed_us: u64, n: u64) {
        self.second((completed_us / 1_000_000) as usize).retries += n;
    }

    pub fn merge(&mut self, other: &Timeline) {
        for (i, theirs) in other.seconds.iter().enumerate() {
            let ours = self.second(i);
            ours.requests += theirs.requests;
            ours.errors += theirs.errors;
            ours.retries += theirs.retries;
            ours.latency
                .add(&theirs.latency)
                .expect("histograms with the same bounds merge");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_errors_and_merges() {
        let mut a = Tally::new();
        a.record_response(1_000, 200, 12);
        a.record_response(2_000, 500, 3);
        a.record_error(ErrorClass::Timeout);
        let mut b = Tally::new();
        b.record_response(3_000, 200, 12);
        b.record_response(4_000, 404, 0);
        b.record_error(ErrorClass::Connect);
        b.record_retries(1);
        a.record_retries(2);
        a.merge(&b);
        assert_eq!(a.retries, 3);
        assert_eq!(a.requests(), 6);
        assert_eq!(a.responses(), 4);
        assert_eq!(a.http_errors(), 2);
        assert_eq!(a.errors(), 4);
        assert_eq!(a.bytes, 27);
        assert_eq!(a.statuses[&200], 2);
        assert_eq!(a.transport_errors.get(ErrorClass::Timeout), 1);
        assert_eq!(a.transport_errors.get(ErrorClass::Connect), 1);
        assert_eq!(a.latency.len(), 4);
        assert!(
            a.service.is_none() && a.lag.is_none(),
            "closed-model tallies stay lean"
        );
    }

    #[test]
    fn open_model_schedule_and_drops_merge() {
        let mut a = Tally::new();
        a.record_schedule(500, Some(1_000));
        a.record_schedule(5_000, Some(2_000));
        a.record_dropped();
        let mut b = Tally::new();
        b.record_schedule(3_000, None);
        a.merge(&b);
        assert_eq!(a.lag.as_ref().unwrap().len(), 3);
        assert_eq!(a.service.as_ref().unwrap().len(), 2);
        assert_eq!(
            a.lagged, 2,
            "5 ms and 3 ms are over the threshold, 0.5 ms is not"
        );
        assert_eq!(a.dropped, 1);
    }

    #[test]
    fn timeline_buckets_by_completion_second() {
        let mut t = Timeline::default();
        t.record(100, Some(100), false);
        t.record(999_999, Some(200), true);
        t.record(2_500_000, None, true);
        let mut other = Timeline::default();
        other.record(1_000_000, Some(300), false);
        other.record_retries(1_000_000, 1);
        t.record_retries(2_500_000, 2);
        t.merge(&other);
        let retries: Vec<u64> = t.seconds.iter().map(|s| s.retries).collect();
        assert_eq!(retries, [0, 1, 2]);
        let counts: Vec<(u64, u64)> = t.seconds.iter().map(|s| (s.requests, s.errors)).collect();
        assert_eq!(counts, [(2, 1), (1, 0), (1, 1)]);
        assert_eq!(t.seconds[0].latency.len(), 2);
    }
}
