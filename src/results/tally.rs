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

#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every request that got a complete response, whatever its status.
    pub latency: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: TransportErrors,
    /// Response body bytes received.
    pub bytes: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            latency: Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_US, SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds"),
            statuses: BTreeMap::new(),
            transport_errors: TransportErrors::default(),
            bytes: 0,
        }
    }

    pub fn record_response(&mut self, latency_us: u64, status: u16, bytes: u64) {
        self.latency.saturating_record(latency_us.max(1));
        *self.statuses.entry(status).or_insert(0) += 1;
        self.bytes += bytes;
    }

    pub fn record_error(&mut self, class: ErrorClass) {
        self.transport_errors.add(class, 1);
    }

    pub fn merge(&mut self, other: &Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds merge");
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

    /// Failed requests: transport errors and responses with status 400 or above.
    pub fn errors(&self) -> u64 {
        self.transport_errors.total() + self.http_errors()
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
        a.merge(&b);
        assert_eq!(a.requests(), 6);
        assert_eq!(a.responses(), 4);
        assert_eq!(a.http_errors(), 2);
        assert_eq!(a.errors(), 4);
        assert_eq!(a.bytes, 27);
        assert_eq!(a.statuses[&200], 2);
        assert_eq!(a.transport_errors.get(ErrorClass::Timeout), 1);
        assert_eq!(a.transport_errors.get(ErrorClass::Connect), 1);
        assert_eq!(a.latency.len(), 4);
    }
}
