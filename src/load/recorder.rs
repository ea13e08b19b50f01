//! Per-worker recording: one tally per request name, raw rows batched to the writer thread.
//! A worker owns its recorder alone, so recording takes no lock.

use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::results::{ErrorClass, Tally};

/// Rows per batch sent to the raw writer: large enough that sending costs nothing per request.
const RAW_BATCH: usize = 4096;

/// One request as written to raw/requests.csv. Times are microseconds from the phase start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRow {
    /// Index into the phase's request names.
    pub request: u16,
    pub vu: u32,
    /// When the request was meant to be sent; equal to `start_us` in the closed model.
    pub scheduled_us: u64,
    pub start_us: u64,
    pub latency_us: u64,
    /// HTTP status, or 0 when no response arrived.
    pub status: u16,
    pub bytes: u64,
    pub error: Option<ErrorClass>,
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

/// The outcome of one request: a complete response (status, body bytes) or why none came.
pub type Outcome = Result<(u16, u64), ErrorClass>;

pub struct Recorder {
    tallies: Vec<Tally>,
    raw: Option<(RawSink, Vec<RawRow>)>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    pub fn new(requests: usize, raw: Option<RawSink>) -> Recorder {
        Recorder {
            tallies: (0..requests).map(|_| Tally::new()).collect(),
            raw: raw.map(|sink| (sink, Vec::with_capacity(RAW_BATCH))),
        }
    }

    pub fn record(
        &mut self,
        request: usize,
        vu: u32,
        start: Duration,
        latency: Duration,
        outcome: Outcome,
    ) {
        let latency_us = micros(latency);
        let tally = &mut self.tallies[request];
        match outcome {
            Ok((status, bytes)) => tally.record_response(latency_us, status, bytes),
            Err(class) => tally.record_error(class),
        }
        if let Some((sink, rows)) = &mut self.raw {
            let start_us = micros(start);
            rows.push(RawRow {
                request: request as u16,
                vu,
                scheduled_us: start_us,
                start_us,
                latency_us,
                status: outcome.map_or(0, |(status, _)| status),
                bytes: outcome.map_or(0, |(_, bytes)| bytes),
                error: outcome.err(),
            });
            if rows.len() >= RAW_BATCH {
                let full = std::mem::replace(rows, Vec::with_capacity(RAW_BATCH));
                // A closed writer only means raw rows are not wanted any more.
                let _ = sink.send(RawMessage::Rows(full));
            }
        }
    }

    /// Sends the remaining raw rows and hands over the tallies.
    pub fn finish(mut self) -> Vec<Tally> {
        if let Some((sink, rows)) = self.raw.take() {
            if !rows.is_empty() {
                let _ = sink.send(RawMessage::Rows(rows));
            }
        }
        self.tallies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_into_tallies_and_batches_raw_rows() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut recorder = Recorder::new(2, Some(tx));
        let ms = Duration::from_millis;
        recorder.record(0, 1, ms(5), ms(2), Ok((200, 12)));
        recorder.record(1, 2, ms(6), ms(3), Err(ErrorClass::Reset));
        let tallies = recorder.finish();
        assert_eq!(tallies[0].responses(), 1);
        assert_eq!(tallies[1].transport_errors.total(), 1);
        let RawMessage::Rows(rows) = rx.recv().unwrap() else {
            panic!("expected rows")
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].start_us, 5000);
        assert_eq!(rows[0].latency_us, 2000);
        assert_eq!(rows[0].status, 200);
        assert_eq!(rows[1].status, 0);
        assert_eq!(rows[1].error, Some(ErrorClass::Reset));
        assert!(rx.try_recv().is_err(), "everything came in one batch");
    }
}
