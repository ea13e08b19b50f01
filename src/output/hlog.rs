//! histograms.hlog: every latency histogram of a run in the standard HdrHistogram interval log
//! format, as written by the Java/C/Python `HistogramLogWriter` and read by
//! `HistogramLogProcessor` and the Python `hdrh` package:
//!
//! ```text
//! #[benchrig histograms: latency in microseconds; tags: variant, phase, trial, request (percent-encoded)]
//! #[Histogram log format version 1.3]
//! #[StartTime: 1700000000.000 (seconds since epoch)]
//! #[BaseTime: 1700000000.000 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=variant=hyper-1;phase=closed-50;trial=1,12.345,8.000,20479.000,HISTFAAA…
//! Tag=variant=hyper-1;phase=closed-50;trial=1;request=hello,12.345,8.000,20479.000,HISTFAAA…
//! ```
//!
//! - Values are microseconds (the recorded latencies, unscaled); the max column is in
//!   microseconds too.
//! - StartTime and BaseTime are both the run start, so each line's start timestamp is seconds
//!   since the run start. All times are kept to the millisecond (rounded to the nearest one):
//!   the format writes three decimals.
//! - The tag names the variant, phase, trial and, for a per-request histogram, the request.
//!   `%`, `,`, `;`, `=`, whitespace and control characters in names are percent-encoded
//!   (UTF-8 bytes, `%2C`), so tags never contain a space or a comma and read back exactly.
//! - To pick lines with `HistogramLogProcessor -tag`, pass the tag as written in the file;
//!   Python's `urllib.parse.unquote` decodes the names of a tag `hdrh` returns.
//! - Histograms are encoded by hdrhistogram's V2 + DEFLATE serializer (the `HISTFAAA…`
//!   encoding every implementation reads), lines are written by its interval log writer and read
//!   by its interval log iterator.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Says what the numbers are; a comment line, which every reader skips.
const UNITS_COMMENT: &str = "[benchrig histograms: latency in microseconds; \
                             tags: variant, phase, trial, request (percent-encoded)]";
/// What Java's `HistogramLogWriter` writes first.
const VERSION_COMMENT: &str = "[Histogram log format version 1.3]";
/// The column legend line of Java's `HistogramLogWriter` (not a comment; readers skip it).
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// The first four bytes of a V2 + DEFLATE encoded histogram, the encoding of interval logs.
const V2_COMPRESSED_COOKIE: [u8; 4] = [0x1c, 0x84, 0x93, 0x14];

/// Identifies one histogram: a variant × phase × trial, optionally one request name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramTag {
    pub variant: String,
    pub phase: String,
    pub trial: u32,
    /// `None` for the phase total over all requests.
    pub request: Option<String>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedHistogram {
    pub tag: HistogramTag,
    /// When the histogram's interval began, since the run start (kept to the millisecond).
    pub start: Duration,
    /// How long the interval lasted (kept to the millisecond).
    pub length: Duration,
    /// Latencies in microseconds.
    pub histogram: Histogram<u64>,
}

/// Renders the log with its lines in start-time order, as the format expects (HdrHistogram's
/// `HistogramLogProcessor` fails on a log that goes back in time); histograms that start at the
/// same time keep the order given. The output depends only on the arguments: the same input
/// gives the same bytes.
pub fn write_hlog(
    run_start: SystemTime,
    histograms: &[TaggedHistogram],
) -> Result<Vec<u8>, String> {
    let since_epoch = run_start
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the run start is before 1970".to_owned())?;
    let run_start = UNIX_EPOCH + round_to_millis(since_epoch)?;

    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    // The crate's writer has no call for the legend line, which is not a comment: write the
    // headers with one writer, the legend by hand, and the histograms with a second writer
    // that has no headers of its own.
    IntervalLogWriterBuilder::new()
        .add_comment(UNITS_COMMENT)
        .add_comment(VERSION_COMMENT)
        .with_start_time(run_start)
        .with_base_time(run_start)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(LEGEND.as_bytes());
    let mut writer = IntervalLogWriterBuilder::new()
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;

    let mut in_start_order: Vec<&TaggedHistogram> = histograms.iter().collect();
    in_start_order.sort_by_key(|h| h.start); // stable: ties keep the given order
    for h in in_start_order {
        let tag_text = encode_tag(&h.tag);
        let tag = Tag::new(&tag_text).ok_or_else(|| format!("`{tag_text}` is not a valid tag"))?;
        writer
            .write_histogram(
                &h.histogram,
                round_to_millis(h.start)?,
                round_to_millis(h.length)?,
                Some(tag),
            )
            .map_err(|e| format!("histogram {tag_text}: {e}"))?;
    }
    Ok(out)
}

/// Parses a log written by [`write_hlog`]: the run start (the log's StartTime, or BaseTime when
/// it has no StartTime) and every histogram, in file order. `start` is relative to that run
/// start. Every histogram line must carry a benchrig tag.
pub fn read_hlog(bytes: &[u8]) -> Result<(Option<SystemTime>, Vec<TaggedHistogram>), String> {
    // The parser needs every line, the last one included, to end with a newline.
    let input: Cow<[u8]> = if bytes.is_empty() || bytes.ends_with(b"\n") {
        Cow::Borrowed(bytes)
    } else {
        let mut owned = bytes.to_vec();
        owned.push(b'\n');
        Cow::Owned(owned)
    };
    let input = &input[..];
    let line_at = |offset: usize| {
        input[..offset.min(input.len())]
            .split(|&b| b == b'\n')
            .count()
    };

    let mut start_time: Option<Duration> = None;
    let mut base_time: Option<Duration> = None;
    let mut histograms = Vec::new();
    let mut deserializer = Deserializer::new();

    for entry in IntervalLogIterator::new(input) {
        let entry = entry.map_err(|LogIteratorError::ParseError { offset }| {
            format!("line {}: not an interval log line", line_at(offset))
        })?;
        match entry {
            LogEntry::StartTime(t) => set_header(&mut start_time, t, "StartTime", &histograms)?,
            LogEntry::BaseTime(t) => set_header(&mut base_time, t, "BaseTime", &histograms)?,
            LogEntry::Interval(interval) => {
                let encoded = interval.encoded_histogram();
                // `encoded` borrows from `input`, so its address gives the line for errors.
                let line = line_at(encoded.as_ptr() as usize - input.as_ptr() as usize);
                let err = |what: String| format!("line {line}: {what}");

                let tag_text = interval
                    .tag()
                    .ok_or_else(|| err("a histogram without a Tag".to_owned()))?;
                let tag = decode_tag(&tag_text).map_err(err)?;

                let bytes = decode_base64(encoded).map_err(err)?;
                // Only the compressed encoding, which is what interval logs hold: the crate
                // allocates whatever payload length an uncompressed header claims, up front.
                if !bytes.starts_with(&V2_COMPRESSED_COOKIE) {
                    return Err(err(
                        "the histogram is not in the V2 compressed encoding".to_owned()
                    ));
                }
                let histogram = deserializer
                    .deserialize::<u64, _>(&mut &bytes[..])
                    .map_err(|e| err(format!("cannot decode the histogram: {e:?}")))?;

                // As Java's HistogramLogReader: timestamps count from BaseTime; without one,
                // from StartTime when they are more than a year before it, else from the epoch.
                let timestamp = interval.start_timestamp();
                let base = base_time
                    .or(start_time.filter(|&s| {
                        timestamp.saturating_add(Duration::from_secs(365 * 24 * 3600)) < s
                    }))
                    .unwrap_or(Duration::ZERO);
                let absolute = base.saturating_add(timestamp);
                let start = match start_time.or(base_time) {
                    Some(origin) => absolute
                        .checked_sub(origin)
                        .ok_or_else(|| err("the histogram starts before the StartTime".into()))?,
                    None => absolute,
                };

                histograms.push(TaggedHistogram {
                    tag,
                    start,
                    length: interval.duration(),
                    histogram,
                });
            }
        }
    }
    let run_start = start_time
        .or(base_time)
        .map(|t| UNIX_EPOCH.checked_add(t).ok_or("StartTime out of range"))
        .transpose()?;
    Ok((run_start, histograms))
}

/// One StartTime and one BaseTime, before the histograms: a header that changes halfway
/// through (which Java's reader allows) would make "since the run start" ambiguous.
fn set_header(
    slot: &mut Option<Duration>,
    value: Duration,
    name: &str,
    histograms_so_far: &[TaggedHistogram],
) -> Result<(), String> {
    if slot.is_some() || !histograms_so_far.is_empty() {
        return Err(format!(
            "a second {name} line, or one after the histograms (unsupported)"
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// The format keeps milliseconds; rounding here (half up) rather than in the writer's float
/// formatting makes the written value exact and predictable.
fn round_to_millis(d: Duration) -> Result<Duration, String> {
    let millis = (d.as_nanos() + 500_000) / 1_000_000;
    u64::try_from(millis)
        .map(Duration::from_millis)
        .map_err(|_| format!("time {d:?} out of range"))
}

/// `variant=V;phase=P;trial=N[;request=R]` with the names percent-encoded.
fn encode_tag(tag: &HistogramTag) -> String {
    let mut text = String::new();
    text.push_str("variant=");
    escape_into(&tag.variant, &mut text);
    text.push_str(";phase=");
    escape_into(&tag.phase, &mut text);
    write!(text, ";trial={}", tag.trial).expect("writing to a String");
    if let Some(request) = &tag.request {
        text.push_str(";request=");
        escape_into(request, &mut text);
    }
    text
}

fn decode_tag(text: &str) -> Result<HistogramTag, String> {
    let not_ours =
        || format!("tag `{text}` is not a benchrig tag (variant=…;phase=…;trial=…[;request=…])");
    let mut fields = text.split(';').map(|field| field.split_once('='));
    let mut field = |key: &str| match fields.next() {
        Some(Some((k, value))) if k == key => Ok(Some(value)),
        None if key == "request" => Ok(None),
        _ => Err(not_ours()),
    };
    let variant = unescape(field("variant")?.unwrap_or_default())?;
    let phase = unescape(field("phase")?.unwrap_or_default())?;
    let trial = field("trial")?
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or_else(not_ours)?;
    let request = field("request")?.map(unescape).transpose()?;
    if fields.next().is_some() {
        return Err(not_ours());
    }
    Ok(HistogramTag {
        variant,
        phase,
        trial,
        request,
    })
}

fn escape_into(name: &str, out: &mut String) {
    for c in name.chars() {
        if matches!(c, '%' | ',' | ';' | '=') || c.is_whitespace() || c.is_control() {
            let mut utf8 = [0; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                write!(out, "%{b:02X}").expect("writing to a String");
            }
        } else {
            out.push(c);
        }
    }
}

fn unescape(text: &str) -> Result<String, String> {
    let bad = || format!("bad percent-encoding in tag name `{text}`");
    let hex = |b: u8| (b as char).to_digit(16);
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let [hi, lo, ..] = *tail else {
                return Err(bad());
            };
            let (hi, lo) = hex(hi).zip(hex(lo)).ok_or_else(bad)?;
            bytes.push((hi * 16 + lo) as u8);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Standard base64 (RFC 4648 alphabet), padding optional, as HdrHistogram's tools write it.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    lenient
        .decode(text)
        .map_err(|_| "the histogram is not valid base64".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap()
    }

    fn tag(variant: &str, phase: &str, trial: u32, request: Option<&str>) -> HistogramTag {
        HistogramTag {
            variant: variant.to_owned(),
            phase: phase.to_owned(),
            trial,
            request: request.map(str::to_owned),
        }
    }

    fn run_start() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
    }

    /// A deterministic spread of latencies (xorshift), log-uniform over 1 µs .. 1 h.
    fn spread(n: u32, seed: u64) -> Histogram<u64> {
        let mut h = histogram();
        let mut x = seed | 1;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let exponent = (x % 10_000) as f64 / 10_000.0 * (3_600_000_000f64).ln();
            h.record(exponent.exp() as u64).unwrap();
        }
        h
    }

    fn sample() -> Vec<TaggedHistogram> {
        let mut one_to_an_hour = histogram();
        one_to_an_hour.record(1).unwrap();
        one_to_an_hour.record_n(250, 1_000).unwrap();
        one_to_an_hour.record_n(12_345, 77).unwrap();
        one_to_an_hour.record(3_600_000_000).unwrap();
        let names = [
            ("hyper-1", "closed-50", 1, None),
            ("hyper-1", "closed-50", 1, Some("hello")),
            ("a,b", "x=y", 2, Some("gunicorn 4w")),
            (
                "gunicorn 4w",
                "100% ; done",
                3,
                Some("GET /items?id=1&x=%20"),
            ),
            ("Überserver λ 服务器 ✓", "tab\there\nnewline", 4, Some("")),
            ("", "", 0, None),
            ("nbsp\u{a0}and\u{2028}ls", "=;,%", u32::MAX, Some(",")),
        ];
        names
            .iter()
            .enumerate()
            .map(|(i, &(variant, phase, trial, request))| TaggedHistogram {
                tag: tag(variant, phase, trial, request),
                start: Duration::from_millis(1_000 * i as u64 + 7),
                length: Duration::from_millis(8_000 + i as u64),
                histogram: match i {
                    0 => one_to_an_hour.clone(),
                    1 => spread(10_000, 42),
                    2 => histogram(), // empty
                    _ => spread(100 * i as u32, i as u64),
                },
            })
            .collect()
    }

    fn assert_same_histogram(a: &Histogram<u64>, b: &Histogram<u64>) {
        assert_eq!(a, b);
        assert_eq!(a.len(), b.len());
        assert_eq!(
            (a.low(), a.high(), a.sigfig()),
            (b.low(), b.high(), b.sigfig())
        );
        assert_eq!((a.min(), a.max()), (b.min(), b.max()));
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q));
        }
        let recorded = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect::<Vec<_>>()
        };
        assert_eq!(recorded(a), recorded(b));
    }

    #[test]
    fn round_trip_keeps_tags_times_and_counts() {
        let written = sample();
        let bytes = write_hlog(run_start(), &written).unwrap();
        let (start, read) = read_hlog(&bytes).unwrap();
        assert_eq!(start, Some(run_start()));
        assert_eq!(read.len(), written.len());
        for (w, r) in written.iter().zip(&read) {
            assert_eq!(w.tag, r.tag);
            assert_eq!(w.start, r.start);
            assert_eq!(w.length, r.length);
            assert_same_histogram(&w.histogram, &r.histogram);
        }
        assert_eq!(read, written);
        assert!(read[2].histogram.is_empty());
        assert_eq!(read[0].histogram.min(), 1);
        assert_eq!(
            read[0].histogram.max(),
            read[0].histogram.highest_equivalent(3_600_000_000)
        );
    }

    #[test]
    fn no_histograms_is_a_valid_log() {
        let bytes = write_hlog(run_start(), &[]).unwrap();
        assert_eq!(read_hlog(&bytes).unwrap(), (Some(run_start()), vec![]));
    }

    #[test]
    fn output_is_deterministic_and_in_the_standard_layout() {
        let first = write_hlog(run_start(), &sample()).unwrap();
        let second = write_hlog(run_start(), &sample()).unwrap();
        assert_eq!(first, second);

        let text = String::from_utf8(first).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "#[benchrig histograms: latency in microseconds; tags: variant, phase, trial, \
                 request (percent-encoded)]",
                "#[Histogram log format version 1.3]",
                "#[StartTime: 1700000000.123 (seconds since epoch)]",
                "#[BaseTime: 1700000000.123 (seconds since epoch)]",
                "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\
                 \"Interval_Compressed_Histogram\"",
            ]
        );
        assert_eq!(lines.len(), 5 + sample().len());
        assert!(lines[5].starts_with(
            "Tag=variant=hyper-1;phase=closed-50;trial=1,0.007,8.000,3600809983.000,HISTFAA"
        ));
        assert!(lines[6].starts_with("Tag=variant=hyper-1;phase=closed-50;trial=1;request=hello,"));
        assert!(lines[7].starts_with(
            "Tag=variant=a%2Cb;phase=x%3Dy;trial=2;request=gunicorn%204w,2.007,8.002,0.000,HISTFAA"
        ));
        for line in &lines[5..] {
            let tag = line
                .strip_prefix("Tag=")
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            assert!(!tag.chars().any(char::is_whitespace), "{tag}");
            // Tag, start, length, max, histogram: exactly four commas.
            assert_eq!(line.matches(',').count(), 4, "{line}");
        }
        assert!(text.contains("variant=Überserver%20λ%20服务器%20✓;"));
    }

    #[test]
    fn lines_are_written_in_start_time_order_and_read_in_any_order() {
        // Given grouped by variant (as a run's phases are), the later variant first.
        let mut given = sample();
        given.reverse();
        let bytes = write_hlog(run_start(), &given).unwrap();
        let (_, read) = read_hlog(&bytes).unwrap();
        assert_eq!(read.len(), given.len());
        assert!(read.windows(2).all(|pair| pair[0].start <= pair[1].start));
        assert_eq!(read[0].tag, sample()[0].tag);

        // Ties keep the order given.
        let mut tied = sample();
        for h in &mut tied {
            h.start = Duration::from_secs(3);
        }
        let (_, read) = read_hlog(&write_hlog(run_start(), &tied).unwrap()).unwrap();
        let tags: Vec<_> = read.iter().map(|h| h.tag.clone()).collect();
        assert_eq!(tags, tied.iter().map(|h| h.tag.clone()).collect::<Vec<_>>());

        // An older log whose lines go back in time still reads, in file order.
        let mut backwards = String::from_utf8(write_hlog(run_start(), &sample()).unwrap()).unwrap();
        let lines: Vec<&str> = backwards.lines().collect();
        let (head, body) = lines.split_at(5);
        let mut body = body.to_vec();
        body.reverse();
        backwards = head.iter().chain(&body).map(|l| format!("{l}\n")).collect();
        let (_, read) = read_hlog(backwards.as_bytes()).unwrap();
        assert!(read[0].start > read[1].start);
        assert_eq!(read.len(), sample().len());
    }

    #[test]
    fn times_are_rounded_to_the_millisecond() {
        let mut h = sample().swap_remove(0);
        h.start = Duration::from_micros(2_000_500); // half a millisecond rounds up
        h.length = Duration::from_nanos(999_499_999);
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_999_600_000);
        let bytes = write_hlog(start, &[h]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1700000001.000 "));
        assert!(text.contains(",2.001,0.999,"));
        let (read_start, read) = read_hlog(&bytes).unwrap();
        assert_eq!(
            read_start,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_001))
        );
        assert_eq!(read[0].start, Duration::from_millis(2_001));
        assert_eq!(read[0].length, Duration::from_millis(999));
    }

    #[test]
    fn tag_escaping_is_reversible() {
        for name in [
            "",
            "%",
            "%25",
            "a,b",
            "x=y",
            "a;b",
            "gunicorn 4w",
            "\r\n\t",
            "λ ✓",
            "%zz",
        ] {
            let t = tag(name, name, 9, Some(name));
            let text = encode_tag(&t);
            assert!(Tag::new(&text).is_some(), "{text}");
            assert_eq!(decode_tag(&text).unwrap(), t);
        }
        assert_eq!(
            encode_tag(&tag("a,b", "x=y", 1, Some("100% ok;"))),
            "variant=a%2Cb;phase=x%3Dy;trial=1;request=100%25%20ok%3B"
        );
    }

    #[test]
    fn reads_logs_from_other_writers() {
        // No StartTime/BaseTime and no trailing newline; the histogram from the first sample line.
        let bytes = write_hlog(run_start(), &sample()[..1]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let line = text.lines().last().unwrap();
        let (start, read) = read_hlog(line.as_bytes()).unwrap();
        assert_eq!(start, None);
        assert_eq!(read[0].start, Duration::from_millis(7));
        assert_eq!(read[0].histogram, sample()[0].histogram);

        // StartTime only, with Java's date suffix; timestamps are offsets from it.
        let java = format!(
            "#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]\n\
             {line}\r\n"
        );
        let (start, read) = read_hlog(java.as_bytes()).unwrap();
        assert_eq!(start, Some(run_start()));
        assert_eq!(read[0].start, Duration::from_millis(7));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = String::from_utf8(write_hlog(run_start(), &sample()).unwrap()).unwrap();
        let last = good.lines().last().unwrap().to_owned();
        let payload = last.rsplit(',').next().unwrap().to_owned();
        let with_line = |line: &str| format!("#[StartTime: 1.000 (seconds since epoch)]\n{line}\n");
        let bad = [
            "hello world\n".to_owned(),
            "\n".to_owned(),
            String::from_utf8_lossy(&[0, 159, 146, 150, 255, 10]).into_owned(),
            with_line("Tag=variant=a;phase=b;trial=1,0.000,1.000,1.000,not base64!"),
            with_line("Tag=variant=a;phase=b;trial=1,0.000,1.000,1.000,HISTFAAA"),
            with_line("Tag=variant=a;phase=b;trial=1,0.000,1.000,1.000,aGVsbG8gd29ybGQ="),
            with_line("Tag=variant=a;phase=b;trial=1,0.000,1.000,1.000,HISTE/////8AAAAAAAAAAwAAAAAAAAABAAAAAAAAA+g/8AAAAAAAAA=="),
            with_line(&format!("Tag=variant=a;phase=b;trial=1,0.000,1.000,1.000,{}", &payload[..40])),
            with_line(&format!("0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=other,0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=variant=a;phase=b;trial=x,0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=variant=a;phase=b;trial=1;x=y,0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=variant=a%2;phase=b;trial=1,0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=variant=%FF;phase=b;trial=1,0.000,1.000,1.000,{payload}")),
            with_line(&format!("Tag=variant=a;phase=b;trial=1,0.000,1.000,{payload}")),
            format!("{good}#[StartTime: 5.000 (seconds since epoch)]\n"),
            format!(
                "#[BaseTime: 1.000 (seconds since epoch)]\n\
                 #[StartTime: 9.000 (seconds since epoch)]\n{last}\n"
            ),
        ];
        for text in &bad {
            let result = read_hlog(text.as_bytes());
            assert!(result.is_err(), "accepted {text:?}");
        }
        let message = read_hlog(bad[9].as_bytes()).unwrap_err();
        assert!(
            message.contains("line 2") && message.contains("not a benchrig tag"),
            "{message}"
        );

        // Every truncation, and a changed byte anywhere outside the compressed payloads, gives
        // an answer (an error or, where the damage is harmless, a log), never a panic. Small
        // histograms keep the file short enough to try every position.
        let small: Vec<TaggedHistogram> = sample()
            .into_iter()
            .skip(2)
            .take(3)
            .map(|mut h| {
                if h.histogram.len() > 100 {
                    h.histogram = spread(20, u64::from(h.tag.trial));
                }
                h
            })
            .collect();
        let small = write_hlog(run_start(), &small).unwrap();
        let good = &small[..];
        for len in 0..good.len() {
            let _ = read_hlog(&good[..len]);
        }
        let mut in_payload = false;
        let mut commas = 0;
        for i in 0..good.len() {
            match good[i] {
                b'\n' => (in_payload, commas) = (false, 0),
                b',' => {
                    commas += 1;
                    in_payload = commas == 4;
                }
                _ => {}
            }
            if in_payload {
                continue;
            }
            for replacement in [b'0', b',', b'\n', b'%', 0xff] {
                let mut damaged = good.to_vec();
                damaged[i] = replacement;
                let _ = read_hlog(&damaged);
            }
        }
    }

    #[test]
    fn run_start_before_1970_is_refused() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(write_hlog(before, &sample()).is_err());
    }

    /// Interoperability check by hand: writes a sample log to `$BENCHRIG_HLOG_OUT` and, per
    /// line, `tag count p50 p99 max` to `$BENCHRIG_HLOG_OUT.expected`, for another
    /// implementation's reader to compare against.
    #[test]
    #[ignore = "writes a file for a manual check with another HdrHistogram implementation"]
    fn interop_write_sample() {
        let path = std::env::var("BENCHRIG_HLOG_OUT").expect("set BENCHRIG_HLOG_OUT");
        let histograms = sample();
        std::fs::write(&path, write_hlog(run_start(), &histograms).unwrap()).unwrap();
        let mut expected = String::new();
        for h in &histograms {
            let v = &h.histogram;
            writeln!(
                expected,
                "{} {} {} {} {}",
                encode_tag(&h.tag),
                v.len(),
                v.value_at_quantile(0.5),
                v.value_at_quantile(0.99),
                v.max()
            )
            .unwrap();
        }
        std::fs::write(format!("{path}.expected"), expected).unwrap();
    }

    /// Interoperability check by hand: reads `$BENCHRIG_HLOG_IN` and prints, per line,
    /// `tag start length count p50 p99 max`.
    #[test]
    #[ignore = "reads a file written by another HdrHistogram implementation"]
    fn interop_read_file() {
        let path = std::env::var("BENCHRIG_HLOG_IN").expect("set BENCHRIG_HLOG_IN");
        let (start, histograms) = read_hlog(&std::fs::read(path).unwrap()).unwrap();
        println!("run start {start:?}");
        for h in &histograms {
            let v = &h.histogram;
            println!(
                "{} {:?} {:?} {} {} {} {}",
                encode_tag(&h.tag),
                h.start,
                h.length,
                v.len(),
                v.value_at_quantile(0.5),
                v.value_at_quantile(0.99),
                v.max()
            );
        }
    }
}
