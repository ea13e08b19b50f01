//! Re-sends end to end, through the real binary: a server that closes every third request of
//! each kept-alive connection after reading it, without answering. benchrig must not send a
//! dropped POST again (the server would run it twice) and must count it as a reset; a dropped
//! GET may go out once more, on a fresh connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::support::{benchrig, number, read_csv, Row};

/// Every this many requests on one connection, the server reads the request and closes the
/// connection instead of answering. Never the first, so the dropped request always went out on
/// a reused connection.
const DROP_EVERY: u64 = 3;
const REQUESTS: u64 = 300;
const BODY: &str = r#"{"item":42}"#;

/// What the server saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    body_bytes: AtomicU64,
    /// Requests read and left unanswered (the connection closed instead).
    dropped: AtomicU64,
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1, a thread per connection; it lives until the
/// test process exits.
fn start_server() -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let counts = counts.clone();
            std::thread::spawn(move || serve_connection(stream, &counts));
        }
    });
    (port, seen)
}

fn serve_connection(stream: TcpStream, seen: &Seen) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    for n in 1.. {
        let Some(body_length) = read_head(&mut reader) else {
            return; // the client closed the connection
        };
        let mut body = vec![0; body_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.requests.fetch_add(1, Ordering::SeqCst);
        seen.body_bytes
            .fetch_add(body.len() as u64, Ordering::SeqCst);
        if n % DROP_EVERY == 0 {
            seen.dropped.fetch_add(1, Ordering::SeqCst);
            return; // closes the connection, the request unanswered
        }
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// Reads a request head; returns its Content-Length (0 when absent), or `None` at the end of
/// the stream.
fn read_head(reader: &mut impl BufRead) -> Option<usize> {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(length);
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a numeric Content-Length");
            }
        }
    }
}

/// Runs `benchrig load` against the server with `args`; returns its summary.csv row.
fn load(port: u16, args: &[&str], out: &Path) -> Row {
    benchrig(&["load", &format!("http://127.0.0.1:{port}/items")])
        .args(["-n", &REQUESTS.to_string(), "-c", "4", "-t", "10s", "--out"])
        .arg(out)
        .args(args)
        .run()
        .expect_code(0);
    read_csv(&out.join("summary.csv")).remove(0)
}

fn count(row: &Row, column: &str) -> u64 {
    number(row, column) as u64
}

#[test]
fn a_dropped_post_is_a_reset_and_reaches_the_server_once() {
    for client in [None, Some("--reqwest")] {
        let (port, seen) = start_server();
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["-m", "POST", "-b", BODY];
        args.extend(client);
        let row = load(port, &args, &out.path().join("out"));
        let label = client.unwrap_or("lean client");
        let received = seen.requests.load(Ordering::SeqCst);
        let dropped = seen.dropped.load(Ordering::SeqCst);
        assert_eq!(count(&row, "requests"), REQUESTS, "{label}");
        assert_eq!(
            received, REQUESTS,
            "{label}: the server got every POST once, none twice"
        );
        assert_eq!(
            seen.body_bytes.load(Ordering::SeqCst),
            REQUESTS * BODY.len() as u64,
            "{label}"
        );
        // 300 requests over 4 connections at a time: some connection served a third.
        assert!(dropped > 0, "{label}: the server dropped no request");
        assert_eq!(count(&row, "errors_reset"), dropped, "{label}");
        assert_eq!(count(&row, "errors"), dropped, "{label}");
        assert_eq!(count(&row, "responses"), REQUESTS - dropped, "{label}");
        assert_eq!(count(&row, "retries"), 0, "{label}: no POST is sent twice");
    }
}

#[test]
fn a_dropped_get_is_sent_again_once_and_answered() {
    let (port, seen) = start_server();
    let out = tempfile::tempdir().unwrap();
    let row = load(port, &[], &out.path().join("out"));
    let dropped = seen.dropped.load(Ordering::SeqCst);
    assert!(dropped > 0, "the server dropped no request");
    // Each dropped GET went out again as the first request of a fresh connection, which the
    // server answers.
    assert_eq!(seen.requests.load(Ordering::SeqCst), REQUESTS + dropped);
    assert_eq!(count(&row, "requests"), REQUESTS);
    assert_eq!(count(&row, "errors"), 0);
    assert_eq!(count(&row, "responses"), REQUESTS);
    assert_eq!(count(&row, "retries"), dropped, "each re-send is counted");
}
