//! raw/requests.csv: one row per request, written by a thread of its own from batches the
//! load workers send, so the request loop never waits on the disk. The header is on disk as
//! soon as the file is created and rows are flushed at least every half second, so a benchrig
//! killed mid-run (even by SIGKILL) leaves a file that parses up to its last complete line,
//! missing at most the last second of rows.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// The longest rows wait in the writer's buffer. The workers send theirs as often, so a row is
/// on disk within about a second of its response.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The writer's buffer: rows are written in large blocks, which hold whole lines only.
const BUFFER_BYTES: usize = 1 << 20;

pub struct RawCsvWriter {
    sink: Option<RawSink>,
    thread: Option<JoinHandle<io::Result<u64>>>,
}

impl RawCsvWriter {
    pub fn create(path: &Path) -> io::Result<RawCsvWriter> {
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, File::create(path)?);
        out.write_all(RAW_HEADER.join(",").as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        let (sink, messages) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("benchrig-raw-csv".to_owned())
            .spawn(move || write_rows(out, messages))?;
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

/// A field as CSV writes it: quoted and escaped when it needs to be.
fn csv_field(text: &str) -> Vec<u8> {
    // A one-field record: the writer closes quotes only when a field ends.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = writer.write_record([text]);
    let mut field = writer.into_inner().unwrap_or_default();
    while matches!(field.last(), Some(b'\n' | b'\r')) {
        field.pop();
    }
    field
}

/// Writes the rows of each message as it comes, and flushes once `FLUSH_EVERY` has passed
/// since the last flush: after a batch, or when no batch came in time. A clock read per
/// batch, never per row.
fn write_rows(mut out: BufWriter<File>, messages: mpsc::Receiver<RawMessage>) -> io::Result<u64> {
    let mut rows = RowFormatter::default();
    let mut flushed_at = Instant::now();
    let mut unflushed = false;
    loop {
        let message = if unflushed {
            match messages.recv_timeout(FLUSH_EVERY.saturating_sub(flushed_at.elapsed())) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            // Nothing waits in the buffer: sleep until rows come.
            match messages.recv() {
                Ok(message) => Some(message),
                Err(_) => break,
            }
        };
        if let Some(message) = message {
            rows.write(message, &mut out)?;
            unflushed = true;
        }
        if unflushed && flushed_at.elapsed() >= FLUSH_EVERY {
            out.flush()?;
            flushed_at = Instant::now();
            unflushed = false;
        }
    }
    out.flush()?;
    Ok(rows.written)
}

/// Turns messages into CSV lines. Rows are formatted by hand: the variant/phase/trial prefix
/// and the request names are escaped once per phase, numbers go through itoa. Going through
/// serde for every row cost about 1 µs of CPU per request, next to the 6 µs the whole request
/// costs.
#[derive(Default)]
struct RowFormatter {
    written: u64,
    prefix: Vec<u8>,
    names: Vec<Vec<u8>>,
    line: Vec<u8>,
    number: itoa::Buffer,
}

impl RowFormatter {
    fn write(&mut self, message: RawMessage, out: &mut impl Write) -> io::Result<()> {
        let RowFormatter {
            written,
            prefix,
            names,
            line,
            number,
        } = self;
        match message {
            RawMessage::Phase {
                variant,
                phase,
                trial,
                requests,
            } => {
                prefix.clear();
                prefix.extend(csv_field(&variant));
                prefix.push(b',');
                prefix.extend(csv_field(&phase));
                prefix.push(b',');
                prefix.extend(number.format(trial).as_bytes());
                prefix.push(b',');
                *names = requests.iter().map(|r| csv_field(r)).collect();
            }
            RawMessage::Rows(rows) => {
                for row in rows {
                    line.clear();
                    line.extend_from_slice(prefix);
                    line.extend_from_slice(
                        names
                            .get(row.request as usize)
                            .map_or(&b"?"[..], Vec::as_slice),
                    );
                    for value in [u64::from(row.vu), row.scheduled_us, row.start_us] {
                        line.push(b',');
                        line.extend_from_slice(number.format(value).as_bytes());
                    }
                    line.push(b',');
                    if !row.dropped {
                        line.extend_from_slice(number.format(row.latency_us).as_bytes());
                    }
                    line.push(b',');
                    if row.status != 0 {
                        line.extend_from_slice(number.format(row.status).as_bytes());
                    }
                    line.push(b',');
                    line.extend_from_slice(number.format(row.bytes).as_bytes());
                    line.push(b',');
                    let error = if row.dropped {
                        "dropped"
                    } else {
                        row.error.map_or("", |e| e.as_str())
                    };
                    line.extend_from_slice(error.as_bytes());
                    line.push(b'\n');
                    out.write_all(line)?;
                    *written += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::RawRow;
    use crate::results::ErrorClass;

    /// A request of VU 3 sent at 10 µs and answered 200 with 12 bytes after 250 µs.
    fn answered() -> RawRow {
        RawRow {
            request: 0,
            vu: 3,
            scheduled_us: 10,
            start_us: 10,
            latency_us: 250,
            status: 200,
            bytes: 12,
            error: None,
            dropped: false,
        }
    }

    #[test]
    fn writes_labelled_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.csv");
        let writer = RawCsvWriter::create(&path).unwrap();
        writer.begin_phase("a", "p", 1, &["hello".to_owned()]);
        let row = answered();
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

    #[test]
    fn the_header_is_on_disk_at_once_and_rows_within_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.csv");
        let writer = RawCsvWriter::create(&path).unwrap();
        let on_disk = || std::fs::read_to_string(&path).unwrap();
        assert_eq!(on_disk(), format!("{}\n", RAW_HEADER.join(",")));
        writer.begin_phase("a", "p", 1, &["hello".to_owned()]);
        writer
            .sink()
            .send(RawMessage::Rows(vec![answered()]))
            .unwrap();
        // Only the file is read: the writer stays open, as in a run killed mid-phase.
        let deadline = Instant::now() + Duration::from_secs(2);
        while on_disk().lines().count() < 2 {
            assert!(Instant::now() < deadline, "the row never reached the disk");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(on_disk().ends_with("a,p,1,hello,3,10,10,250,200,12,\n"));
        assert_eq!(writer.finish().unwrap(), 1);
    }

    #[test]
    fn names_that_need_quoting_are_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.csv");
        let writer = RawCsvWriter::create(&path).unwrap();
        writer.begin_phase("a,b", "p\"q", 2, &["GET /x?a=1,2".to_owned()]);
        let row = RawRow {
            request: 0,
            vu: 0,
            scheduled_us: 5,
            start_us: 7,
            latency_us: 0,
            status: 0,
            bytes: 0,
            error: None,
            dropped: true,
        };
        writer.sink().send(RawMessage::Rows(vec![row])).unwrap();
        writer.finish().unwrap();
        let rows: Vec<Vec<String>> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "a,b",
                "p\"q",
                "2",
                "GET /x?a=1,2",
                "0",
                "5",
                "7",
                "",
                "",
                "0",
                "dropped"
            ]
        );
    }
}
