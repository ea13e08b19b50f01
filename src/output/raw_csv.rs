//! raw/requests.csv: one row per request, written by a thread of its own from batches the
//! load workers send, so the request loop never waits on the disk.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::Serialize;

use crate::load::{RawMessage, RawSink};

pub const RAW_HEADER: &[&str] = &[
    "variant",
    "phase",
    "trial",
    "request",
    "vu",
    "scheduled_us",
    "start_us",
    "latency_us",
    "status",
    "bytes",
    "error",
];

#[derive(Serialize)]
struct CsvRow<'a> {
    variant: &'a str,
    phase: &'a str,
    trial: u32,
    request: &'a str,
    vu: u32,
    scheduled_us: u64,
    start_us: u64,
    latency_us: Option<u64>,
    status: Option<u16>,
    bytes: u64,
    error: &'a str,
}

pub struct RawCsvWriter {
    sink: Option<RawSink>,
    thread: Option<JoinHandle<io::Result<u64>>>,
}

impl RawCsvWriter {
    pub fn create(path: &Path) -> io::Result<RawCsvWriter> {
        let file = File::create(path)?;
        let (sink, messages) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("benchrig-raw-csv".to_owned())
            .spawn(move || write_rows(BufWriter::with_capacity(1 << 20, file), messages))?;
        Ok(RawCsvWriter {
            sink: Some(sink),
            thread: Some(thread),
        })
    }

    /// A sender for load workers and for phase headers.
    pub fn sink(&self) -> RawSink {
        self.sink.clone().expect("the writer is open until finish")
    }

    /// Announces the variant × phase the following rows belong to.
    pub fn begin_phase(&self, variant: &str, phase: &str, trial: u32, requests: &[String]) {
        let _ = self.sink().send(RawMessage::Phase {
            variant: variant.to_owned(),
            phase: phase.to_owned(),
            trial,
            requests: requests.to_vec(),
        });
    }

    /// Waits for every row to be written; returns how many were.
    pub fn finish(mut self) -> io::Result<u64> {
        self.close()
    }

    fn close(&mut self) -> io::Result<u64> {
        self.sink = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the raw CSV writer panicked"))),
            None => Ok(0),
        }
    }
}

impl Drop for RawCsvWriter {
    fn drop(&mut self) {
        // Flushes what arrived, so an interrupted run keeps its raw rows.
        let _ = self.close();
    }
}

fn write_rows(out: BufWriter<File>, messages: mpsc::Receiver<RawMessage>) -> io::Result<u64> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    csv.write_record(RAW_HEADER)?;
    let mut rows_written = 0;
    let (mut variant, mut phase, mut trial, mut names) =
        (String::new(), String::new(), 0, Vec::new());
    for message in messages {
        match message {
            RawMessage::Phase {
                variant: v,
                phase: p,
                trial: t,
                requests,
            } => {
                (variant, phase, trial, names) = (v, p, t, requests);
            }
            RawMessage::Rows(rows) => {
                for row in rows {
                    csv.serialize(CsvRow {
                        variant: &variant,
                        phase: &phase,
                        trial,
                        request: names.get(row.request as usize).map_or("?", String::as_str),
                        vu: row.vu,
                        scheduled_us: row.scheduled_us,
                        start_us: row.start_us,
                        latency_us: (!row.dropped).then_some(row.latency_us),
                        status: (row.status != 0).then_some(row.status),
                        bytes: row.bytes,
                        error: if row.dropped {
                            "dropped"
                        } else {
                            row.error.map_or("", |e| e.as_str())
                        },
                    })?;
                    rows_written += 1;
                }
            }
        }
    }
    csv.flush()?;
    Ok(rows_written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::RawRow;
    use crate::results::ErrorClass;

    #[test]
    fn writes_labelled_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.csv");
        let writer = RawCsvWriter::create(&path).unwrap();
        writer.begin_phase("a", "p", 1, &["hello".to_owned()]);
        let row = RawRow {
            request: 0,
            vu: 3,
            scheduled_us: 10,
            start_us: 10,
            latency_us: 250,
            status: 200,
            bytes: 12,
            error: None,
            dropped: false,
        };
        let failed = RawRow {
            status: 0,
            bytes: 0,
            error: Some(ErrorClass::Connect),
            ..row
        };
        writer
            .sink()
            .send(RawMessage::Rows(vec![row, failed]))
            .unwrap();
        assert_eq!(writer.finish().unwrap(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], RAW_HEADER.join(","));
        assert_eq!(lines[1], "a,p,1,hello,3,10,10,250,200,12,");
        assert_eq!(lines[2], "a,p,1,hello,3,10,10,250,,0,connect");
    }
}
