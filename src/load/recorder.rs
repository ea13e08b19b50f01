//! Per-worker recording: one tally per request name, a per-second timeline, raw rows batched to
//! the writer thread. A worker owns its recorder alone, so recording takes no lock.

use std::sync::mpsc::Sender;
use std::time::Duration;

use super::transport::Exchange;
use crate::results::{ErrorClass, Tally, Timeline};

/// Rows per batch sent to the raw writer: large enough that sending costs nothing per request.
const RAW_BATCH: usize = 4096;

/// A worker also sends its rows once this much phase time has passed since its last batch, so
/// rows reach raw/requests.csv within a second even at a few requests per second (the writer
/// flushes as often): a benchrig killed mid-phase loses at most its last second of rows.
const RAW_SEND_EVERY: Duration = Duration::from_millis(500);

/// One request as written to raw/requests.csv. Times are microseconds from the phase start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRow {
    /// Index into the phase's request names.
    pub request: u16,
    pub vu: u32,
    /// When the request was meant to be sent; equal to `start_us` in the closed model.
    pub scheduled_us: u64,
    pub start_us: u64,
    /// From `scheduled_us` to the end of the response (or the error).
    pub latency_us: u64,
    /// HTTP status, or 0 when no response arrived.
    pub status: u16,
    pub bytes: u64,
    pub error: Option<ErrorClass>,
    /// Open model: not sent because `max_in_flight` requests were outstanding.
    pub dropped: bool,
}

/// What flows to the raw writer: a header naming the variant × phase, then its rows.
#[derive(Debug, Clone)]
pub enum RawMessage {
    Phase {
        variant: String,
        phase: String,
        trial: u32,
        requests: Vec<String>,
    },
    Rows(Vec<RawRow>),
}

pub type RawSink = Sender<RawMessage>;

/// When a request was due, sent and completed, as offsets from the phase start. In the closed
/// model a request is due when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub scheduled: Duration,
    pub sent: Duration,
    pub completed: Duration,
}

pub struct Recorder {
    tallies: Vec<Tally>,
    timeline: Timeline,
    /// Open model: record lag and service time besides latency from the intended time.
    open: bool,
    raw: Option<RawBatch>,
}

/// Raw rows waiting to be sent, and when (in phase time) the last batch left.
struct RawBatch {
    sink: RawSink,
    rows: Vec<RawRow>,
    sent_at: Duration,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    pub fn new(requests: usize, open: bool, raw: Option<RawSink>) -> Recorder {
        Recorder {
            tallies: (0..requests).map(|_| Tally::new()).collect(),
            timeline: Timeline::default(),
            open,
            raw: raw.map(|sink| RawBatch {
                sink,
                rows: Vec::with_capacity(RAW_BATCH),
                sent_at: Duration::ZERO,
            }),
        }
    }

    pub fn record(&mut self, request: usize, vu: u32, timing: Timing, exchange: Exchange) {
        let Exchange { outcome, retries } = exchange;
        let latency_us = micros(timing.completed.saturating_sub(timing.scheduled));
        let tally = &mut self.tallies[request];
        match outcome {
            Ok((status, bytes)) => tally.record_response(latency_us, status, bytes),
            Err(class) => tally.record_error(class),
        }
        if retries > 0 {
            tally.record_retries(u64::from(retries));
            self.timeline
                .record_retries(micros(timing.completed), u64::from(retries));
        }
        if self.open {
            let service = timing.completed.saturating_sub(timing.sent);
            tally.record_schedule(
                micros(timing.sent.saturating_sub(timing.scheduled)),
                outcome.is_ok().then(|| micros(service)),
            );
        }
        let failed = !matches!(outcome, Ok((status, _)) if status < 400);
        self.timeline.record(
            micros(timing.completed),
            outcome.is_ok().then_some(latency_us),
            failed,
        );
        self.push_raw(
            timing.completed,
            RawRow {
                request: request as u16,
                vu,
                scheduled_us: micros(timing.scheduled),
                start_us: micros(timing.sent),
                latency_us,
                status: outcome.map_or(0, |(status, _)| status),
                bytes: outcome.map_or(0, |(_, bytes)| bytes),
                error: outcome.err(),
                dropped: false,
            },
        );
    }

    /// Open model: a request due at `scheduled` was not sent because the in-flight cap was hit.
    pub fn record_dropped(&mut self, request: usize, scheduled: Duration) {
        self.tallies[request].record_dropped();
        let at = micros(scheduled);
        self.push_raw(
            scheduled,
            RawRow {
                request: request as u16,
                vu: 0,
                scheduled_us: at,
                start_us: at,
                latency_us: 0,
                status: 0,
                bytes: 0,
                error: None,
                dropped: true,
            },
        );
    }

    /// Queues a row recorded at `now` (phase time, which the caller already has: no clock
    /// read per row) and sends the batch when it is full or old enough.
    fn push_raw(&mut self, now: Duration, row: RawRow) {
        if let Some(batch) = &mut self.raw {
            batch.rows.push(row);
            if batch.rows.len() >= RAW_BATCH || now.saturating_sub(batch.sent_at) >= RAW_SEND_EVERY
            {
                let full = std::mem::replace(&mut batch.rows, Vec::with_capacity(RAW_BATCH));
                batch.sent_at = now;
                // A closed writer only means raw rows are not wanted any more.
                let _ = batch.sink.send(RawMessage::Rows(full));
            }
        }
    }

    /// Sends the remaining raw rows and hands over the tallies and the timeline.
    pub fn finish(mut self) -> (Vec<Tally>, Timeline) {
        if let Some(batch) = self.raw.take() {
            if !batch.rows.is_empty() {
                let _ = batch.sink.send(RawMessage::Rows(batch.rows));
            }
        }
        (self.tallies, self.timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn once(outcome: crate::load::Outcome) -> Exchange {
        Exchange {
            outcome,
            retries: 0,
        }
    }

    fn closed(start: u64, latency: u64) -> Timing {
        Timing {
            scheduled: ms(start),
            sent: ms(start),
            completed: ms(start + latency),
        }
    }

    #[test]
    fn records_into_tallies_and_batches_raw_rows() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut recorder = Recorder::new(2, false, Some(tx));
        recorder.record(0, 1, closed(5, 2), once(Ok((200, 12))));
        recorder.record(1, 2, closed(6, 3), once(Err(ErrorClass::Reset)));
        let (tallies, timeline) = recorder.finish();
        assert_eq!(tallies[0].responses(), 1);
        assert_eq!(tallies[1].transport_errors.total(), 1);
        assert!(tallies[0].lag.is_none(), "no schedule in the closed model");
        assert_eq!(timeline.seconds[0].requests, 2);
        assert_eq!(timeline.seconds[0].errors, 1);
        let RawMessage::Rows(rows) = rx.recv().unwrap() else {
            panic!("expected rows")
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].start_us, 5000);
        assert_eq!(rows[0].scheduled_us, 5000);
        assert_eq!(rows[0].latency_us, 2000);
        assert_eq!(rows[0].status, 200);
        assert_eq!(rows[1].status, 0);
        assert_eq!(rows[1].error, Some(ErrorClass::Reset));
        assert!(rx.try_recv().is_err(), "everything came in one batch");
    }

    #[test]
    fn raw_rows_leave_at_least_every_half_second_of_phase_time() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut recorder = Recorder::new(1, false, Some(tx));
        recorder.record(0, 0, closed(100, 1), once(Ok((200, 1))));
        assert!(rx.try_recv().is_err(), "a young batch waits for more rows");
        recorder.record(0, 0, closed(600, 1), once(Ok((200, 1))));
        let RawMessage::Rows(rows) = rx.try_recv().unwrap() else {
            panic!("expected rows")
        };
        assert_eq!(rows.len(), 2, "sent once half a second had passed");
        recorder.record(0, 0, closed(700, 1), once(Ok((200, 1))));
        assert!(rx.try_recv().is_err(), "the clock restarts at each batch");
        recorder.finish();
        assert!(matches!(rx.try_recv(), Ok(RawMessage::Rows(rows)) if rows.len() == 1));
    }

    #[test]
    fn re_sends_are_counted_by_request_and_second_not_as_requests() {
        let mut recorder = Recorder::new(2, false, None);
        let resent = |outcome| Exchange {
            outcome,
            retries: 1,
        };
        recorder.record(0, 1, closed(5, 2), resent(Ok((200, 2))));
        recorder.record(0, 1, closed(1_500, 2), resent(Err(ErrorClass::Reset)));
        recorder.record(1, 2, closed(1_600, 2), once(Ok((200, 2))));
        let (tallies, timeline) = recorder.finish();
        assert_eq!((tallies[0].retries, tallies[0].requests()), (2, 2));
        assert_eq!(tallies[0].transport_errors.get(ErrorClass::Reset), 1);
        assert_eq!(tallies[1].retries, 0);
        let by_second: Vec<(u64, u64)> = timeline
            .seconds
            .iter()
            .map(|s| (s.requests, s.retries))
            .collect();
        assert_eq!(by_second, [(1, 1), (2, 1)]);
    }

    #[test]
    fn open_model_latency_runs_from_the_intended_time() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut recorder = Recorder::new(1, true, Some(tx));
        // Due at 10 ms, sent 5 ms late, answered 2 ms later.
        let timing = Timing {
            scheduled: ms(10),
            sent: ms(15),
            completed: ms(17),
        };
        recorder.record(0, 0, timing, once(Ok((200, 1))));
        recorder.record_dropped(0, ms(20));
        let (tallies, _) = recorder.finish();
        let tally = &tallies[0];
        assert_eq!(tally.latency.max(), tally.latency.highest_equivalent(7_000));
        let service = tally.service.as_ref().unwrap();
        assert_eq!(service.max(), service.highest_equivalent(2_000));
        assert_eq!(tally.lagged, 1);
        assert_eq!(tally.dropped, 1);
        assert_eq!(tally.requests(), 1, "a dropped request was never sent");
        let RawMessage::Rows(rows) = rx.recv().unwrap() else {
            panic!("expected rows")
        };
        assert_eq!(
            (rows[0].scheduled_us, rows[0].start_us, rows[0].latency_us),
            (10_000, 15_000, 7_000)
        );
        assert!(rows[1].dropped);
    }
}
