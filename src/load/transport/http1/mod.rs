//! A lean HTTP/1.1 client for the closed-model hot path, built the way wrk is: one connection
//! per VU, the request bytes built once, a minimal response parser that counts body bytes
//! without copying them, and no allocation per request once a connection is warm. reqwest
//! costs about twice wrk's CPU per request; on a shared machine that CPU is taken from the
//! server under test.
//!
//! Response framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; otherwise
//! `Transfer-Encoding` (chunked, or read until close when chunked is not the final coding),
//! then `Content-Length`, then read until the server closes. Interim 1xx responses (100
//! Continue, 103 Early Hints) are skipped.
//!
//! Error classes: a failed connect is [`ErrorClass::Connect`]; the deadline passing is
//! [`ErrorClass::Timeout`]; end of stream or a reset before the response is complete (or a
//! failed write) is [`ErrorClass::Reset`]; a malformed or oversized response (bad status line,
//! invalid `Content-Length`, bad chunk framing, a head over 64 KiB or with more than 64 header
//! fields, an unrequested 101) is [`ErrorClass::Other`], as hyper's parse errors are for the
//! reqwest path.
//!
//! Re-sending: when a reused connection turns out closed before any byte of the response
//! arrived (the server closed it while idle, and the request raced the close), an idempotent
//! request is sent once more on a fresh connection and counted in [`Exchange::retries`]; any
//! other request, and any failure after a byte arrived or after the re-send, is an error of its
//! class (see [`may_resend`]).
//!
//! Limits: one request in flight per connection (no pipelining); the request is written whole
//! before the response is read, so a server that answers early and closes while a large body
//! is still being sent yields Reset; http:// only. Sending needs a tokio runtime with I/O and
//! time enabled.

mod framing;

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use reqwest::header::{HeaderMap, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use reqwest::{Method, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use self::framing::{has_token, parse_head, ChunkedDecoder, Framing};
use super::{may_resend, Exchange, Target, Transport};
use crate::results::ErrorClass;

/// Read buffer of a connection at first: small, as there is one per VU (wrk uses 8 KiB).
const INITIAL_BUFFER: usize = 16 * 1024;
/// The buffer grows up to this for a large head or a large body. A response head must fit in
/// it, which caps heads at 64 KiB.
const MAX_BUFFER: usize = 64 * 1024;

/// The lean client as a transport: the target's requests built once as bytes, one
/// [`Http1Connection`] per VU.
pub struct Http1Transport {
    addr: SocketAddr,
    /// Request bytes and timeout, by request index.
    requests: Vec<(Http1Request, Duration)>,
}

impl Http1Transport {
    /// `None` when the lean client cannot send these requests: the address did not resolve, or
    /// a request is not plain http://.
    pub fn for_target(target: &Target, keep_alive: bool) -> Option<Http1Transport> {
        let requests = target
            .requests
            .iter()
            .map(|r| {
                let built = Http1Request::build(&r.method, &r.url, &r.headers, &r.body, keep_alive);
                built.map(|request| (request, r.timeout))
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(Http1Transport {
            addr: target.addr?,
            requests,
        })
    }
}

impl Transport for Http1Transport {
    type Connection = Http1Connection;

    fn connection(&self) -> Http1Connection {
        Http1Connection::new(self.addr)
    }

    async fn send(&self, connection: &mut Http1Connection, request: usize) -> Exchange {
        let (request, timeout) = &self.requests[request];
        let outcome = connection.send(request, *timeout).await;
        Exchange {
            outcome,
            retries: u32::from(connection.resent()),
        }
    }
}

/// A request prepared once: the complete HTTP/1.1 request bytes (request line, Host, headers,
/// Content-Length, body), cloned cheaply for every send.
#[derive(Debug, Clone)]
pub struct Http1Request {
    bytes: Bytes,
    /// A response to HEAD has no body whatever its headers say.
    head: bool,
    /// The request asks the server to close the connection after the response.
    close: bool,
    /// The request may be sent again if its reused connection was closed under it.
    resendable: bool,
}

impl Http1Request {
    /// Builds the bytes. `keep_alive: false` adds `Connection: close` (one connection per
    /// request, like `ab` without -k). Errors if the URL is not plain http.
    ///
    /// `Host` is derived from the URL unless `headers` has one; `Content-Length` and
    /// `Transfer-Encoding` in `headers` are replaced by a `Content-Length` of `body`, sent when
    /// the body is not empty or the method is POST, PUT or PATCH.
    pub fn build(
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Bytes,
        keep_alive: bool,
    ) -> Result<Http1Request, String> {
        if url.scheme() != "http" {
            return Err(format!(
                "{url}: the HTTP/1.1 client only speaks plain http://"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{url}: credentials in the URL are not supported"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{url}: the URL has no host"))?;
        let mut bytes = BytesMut::with_capacity(256 + body.len());
        bytes.put_slice(method.as_str().as_bytes());
        bytes.put_u8(b' ');
        bytes.put_slice(url.path().as_bytes());
        if let Some(query) = url.query() {
            bytes.put_u8(b'?');
            bytes.put_slice(query.as_bytes());
        }
        bytes.put_slice(b" HTTP/1.1\r\n");
        if !headers.contains_key(HOST) {
            bytes.put_slice(b"Host: ");
            bytes.put_slice(host.as_bytes());
            if let Some(port) = url.port() {
                bytes.put_slice(format!(":{port}").as_bytes());
            }
            bytes.put_slice(b"\r\n");
        }
        let mut close = !keep_alive;
        for (name, value) in headers {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            if name == CONNECTION {
                close |= has_token(value.as_bytes(), b"close");
                if !keep_alive {
                    continue;
                }
            }
            bytes.put_slice(name.as_str().as_bytes());
            bytes.put_slice(b": ");
            bytes.put_slice(value.as_bytes());
            bytes.put_slice(b"\r\n");
        }
        if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            bytes.put_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        if !keep_alive {
            bytes.put_slice(b"Connection: close\r\n");
        }
        bytes.put_slice(b"\r\n");
        bytes.put_slice(body);
        Ok(Http1Request {
            bytes: bytes.freeze(),
            head: *method == Method::HEAD,
            close,
            resendable: may_resend(method),
        })
    }
}

/// One client connection, reconnected when the server closes it. One per VU.
pub struct Http1Connection {
    io: Io,
    /// One timer per connection, re-armed lazily: it is moved to a request's deadline only
    /// when it fires before it, so a request normally registers and cancels no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Http1Connection {
    /// Connects lazily, on the first send.
    pub fn new(addr: SocketAddr) -> Self {
        Http1Connection {
            io: Io {
                addr,
                stream: None,
                buffer: vec![0; INITIAL_BUFFER],
                start: 0,
                end: 0,
                in_flight: false,
                resent: false,
                #[cfg(test)]
                connects: 0,
            },
            timer: None,
        }
    }

    /// Sends the request and reads the whole response (status line, headers, body until its
    /// end). Returns (status, body bytes) or the error class. `timeout` covers connect + the
    /// whole response.
    ///
    /// A kept-alive connection that turns out to be closed before any byte of the response
    /// arrives (the server closed it while idle) is reopened and an idempotent request sent
    /// again, once; [`resent`](Self::resent) tells.
    pub async fn send(
        &mut self,
        request: &Http1Request,
        timeout: Duration,
    ) -> Result<(u16, u64), ErrorClass> {
        // No deadline when it is beyond what an Instant can hold.
        let deadline = Instant::now().checked_add(timeout);
        if let Some(deadline) = deadline {
            self.arm(deadline);
        }
        let outcome = {
            let timer = &mut self.timer;
            let mut exchange = pin!(self.io.exchange(request));
            poll_fn(|cx| {
                if let Poll::Ready(outcome) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(outcome);
                }
                if let (Some(deadline), Some(timer)) = (deadline, timer.as_mut()) {
                    while timer.as_mut().poll(cx).is_ready() {
                        // `arm` never leaves the timer later than this request's deadline.
                        if timer.deadline() >= deadline {
                            return Poll::Ready(Err(ErrorClass::Timeout));
                        }
                        // An earlier request's deadline: wait for this one's.
                        timer.as_mut().reset(deadline);
                    }
                }
                Poll::Pending
            })
            .await
        };
        if outcome == Err(ErrorClass::Timeout) {
            // Abandoned mid-response: close now rather than on the next send.
            self.io.disconnect();
        }
        outcome
    }

    /// Whether the last send re-sent its request on a fresh connection (whatever came of it).
    pub fn resent(&self) -> bool {
        self.io.resent
    }

    /// Makes sure the timer fires no later than `deadline`; an earlier firing is re-armed by
    /// `send`, which happens about once per timeout period rather than once per request.
    fn arm(&mut self, deadline: Instant) {
        match &mut self.timer {
            Some(timer) if timer.deadline() > deadline => timer.as_mut().reset(deadline),
            Some(_) => {}
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
}

/// Why a round trip failed.
enum Failure {
    /// The connection was closed before any byte of the response arrived (or the request
    /// could not be written): on a reused connection the server most likely closed it while
    /// idle, and may never have seen the request.
    Unanswered,
    Error(ErrorClass),
}

impl From<ErrorClass> for Failure {
    fn from(class: ErrorClass) -> Self {
        Failure::Error(class)
    }
}

/// The connection and its read buffer, apart from the timer so that both can be borrowed at
/// once in `send`.
struct Io {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Bytes received and not yet consumed are `buffer[start..end]`. Bytes past the end of a
    /// response stay for the next one.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    /// An exchange started and did not finish (its future was dropped): where the stream
    /// stands in the response is unknown, so it cannot be reused.
    in_flight: bool,
    /// The current or last exchange sent its request a second time.
    resent: bool,
    #[cfg(test)]
    connects: u32,
}

impl Io {
    async fn exchange(&mut self, request: &Http1Request) -> Result<(u16, u64), ErrorClass> {
        if self.in_flight {
            self.disconnect();
        }
        self.in_flight = true;
        self.resent = false;
        let outcome = self.exchange_with_retry(request).await;
        self.in_flight = false;
        if outcome.is_err() {
            self.disconnect();
        }
        outcome
    }

    async fn exchange_with_retry(
        &mut self,
        request: &Http1Request,
    ) -> Result<(u16, u64), ErrorClass> {
        // A stream kept from an earlier send has served a complete response; a fresh one
        // closing without an answer is the server's doing, not a stale connection.
        let reused = self.stream.is_some();
        loop {
            if self.stream.is_none() {
                self.connect().await?;
            }
            match self.round_trip(request).await {
                Ok(response) => return Ok(response),
                Err(Failure::Unanswered) if reused && request.resendable && !self.resent => {
                    self.disconnect();
                    self.resent = true;
                }
                Err(Failure::Unanswered) => return Err(ErrorClass::Reset),
                Err(Failure::Error(class)) => return Err(class),
            }
        }
    }

    async fn connect(&mut self) -> Result<(), ErrorClass> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // Requests are small single writes; Nagle would hold them back waiting for an ACK.
        stream.set_nodelay(true).map_err(|_| ErrorClass::Connect)?;
        self.stream = Some(stream);
        self.start = 0;
        self.end = 0;
        #[cfg(test)]
        {
            self.connects += 1;
        }
        Ok(())
    }

    fn disconnect(&mut self) {
        self.stream = None;
        self.start = 0;
        self.end = 0;
    }

    async fn round_trip(&mut self, request: &Http1Request) -> Result<(u16, u64), Failure> {
        let stream = self.stream.as_mut().expect("connected before a round trip");
        if stream.write_all(&request.bytes).await.is_err() {
            return Err(Failure::Unanswered);
        }
        let mut received = self.start < self.end;
        let head = loop {
            if self.start < self.end {
                if let Some((length, head)) =
                    parse_head(&self.buffer[self.start..self.end], request.head)?
                {
                    self.start += length;
                    if head.interim {
                        continue;
                    }
                    break head;
                }
                if self.start == 0 && self.end == MAX_BUFFER {
                    return Err(ErrorClass::Other.into()); // head too large
                }
            }
            match self.fill().await {
                Ok(0) if received => return Err(ErrorClass::Reset.into()),
                Ok(0) => return Err(Failure::Unanswered),
                Ok(_) => received = true,
                Err(e) if !received && is_closed(&e) => return Err(Failure::Unanswered),
                Err(_) => return Err(ErrorClass::Reset.into()),
            }
        };
        let bytes = match head.framing {
            Framing::Empty => 0,
            Framing::Length(length) => self.read_length(length).await?,
            Framing::Chunked => self.read_chunked().await?,
            Framing::UntilClose => self.read_until_close().await?,
        };
        if !head.keep_alive || request.close {
            self.disconnect();
        }
        Ok((head.status, bytes))
    }

    /// Reads more bytes into the buffer after the unconsumed ones; 0 at end of stream. The
    /// caller makes sure there are fewer than `MAX_BUFFER` unconsumed bytes.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buffer.len() && self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buffer.len() {
            self.grow(); // a head longer than the buffer
        }
        let space = self.buffer.len() - self.end;
        debug_assert!(space > 0, "fill called with a full buffer");
        let stream = self.stream.as_mut().expect("connected while reading");
        let n = stream.read(&mut self.buffer[self.end..]).await?;
        self.end += n;
        if n == space {
            self.grow(); // a large body: read it in larger steps
        }
        Ok(n)
    }

    /// Doubles the buffer, up to `MAX_BUFFER`; happens a few times per connection at most.
    fn grow(&mut self) {
        let size = (self.buffer.len() * 2).min(MAX_BUFFER);
        self.buffer.resize(size, 0);
    }

    /// Consumes a body of `length` bytes.
    async fn read_length(&mut self, length: u64) -> Result<u64, ErrorClass> {
        let mut remaining = length;
        loop {
            let take = remaining.min((self.end - self.start) as u64);
            self.start += take as usize;
            remaining -= take;
            if remaining == 0 {
                return Ok(length);
            }
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return Err(ErrorClass::Reset);
            }
        }
    }

    /// Consumes a chunked body and its trailers; returns the size of the decoded body.
    async fn read_chunked(&mut self) -> Result<u64, ErrorClass> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = 0;
        loop {
            let fed = decoder.feed(&self.buffer[self.start..self.end])?;
            self.start += fed.consumed;
            body += fed.body;
            if fed.done {
                return Ok(body);
            }
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return Err(ErrorClass::Reset);
            }
        }
    }

    /// Consumes a body that ends when the server closes the connection.
    async fn read_until_close(&mut self) -> Result<u64, ErrorClass> {
        let mut body = 0;
        loop {
            body += (self.end - self.start) as u64;
            self.start = self.end;
            match self.fill().await {
                Ok(0) => return Ok(body),
                Ok(_) => {}
                Err(_) => return Err(ErrorClass::Reset),
            }
        }
    }
}

/// The connection went away under us (rather than some local failure).
fn is_closed(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use reqwest::header::{HeaderValue, CONTENT_TYPE};
    use tokio::net::TcpListener;

    use super::framing::tests::CHUNKED;
    use super::framing::MAX_HEADERS;
    use super::*;

    const LONG: Duration = Duration::from_secs(10);

    fn request(method: Method, addr: SocketAddr, path: &str, keep_alive: bool) -> Http1Request {
        let url = Url::parse(&format!("http://{addr}{path}")).unwrap();
        Http1Request::build(&method, &url, &HeaderMap::new(), &Bytes::new(), keep_alive).unwrap()
    }

    fn get(addr: SocketAddr) -> Http1Request {
        request(Method::GET, addr, "/", true)
    }

    /// The server side of one test connection.
    struct Peer {
        stream: TcpStream,
        buffer: Vec<u8>,
    }

    impl Peer {
        /// Reads one request (head and Content-Length body) and returns it as text; `None`
        /// when the client closed the connection.
        async fn request(&mut self) -> Option<String> {
            loop {
                let mut fields = [httparse::EMPTY_HEADER; 32];
                let mut parsed = httparse::Request::new(&mut fields);
                if let httparse::Status::Complete(head) = parsed.parse(&self.buffer).unwrap() {
                    let body = parsed
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |h| {
                            std::str::from_utf8(h.value).unwrap().parse().unwrap()
                        });
                    if self.buffer.len() >= head + body {
                        let rest = self.buffer.split_off(head + body);
                        let text = String::from_utf8(std::mem::replace(&mut self.buffer, rest));
                        return Some(text.unwrap());
                    }
                }
                let mut chunk = [0; 4096];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                }
            }
        }

        async fn send(&mut self, bytes: &[u8]) {
            let _ = self.stream.write_all(bytes).await;
        }

        /// Sends one byte per write, letting the client run in between.
        async fn trickle(&mut self, bytes: &[u8]) {
            for byte in bytes {
                let _ = self.stream.write_all(&[*byte]).await;
                tokio::task::yield_now().await;
            }
        }
    }

    /// A server on 127.0.0.1 that runs `script` on every connection it accepts, with the
    /// connection's index. Returns its address and the number of connections accepted.
    async fn serve<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
    where
        F: Fn(Peer, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                let index = counter.fetch_add(1, Ordering::SeqCst);
                let peer = Peer {
                    stream,
                    buffer: Vec::new(),
                };
                tokio::spawn(script(peer, index));
            }
        });
        (addr, accepted)
    }

    /// A server that answers every request on every connection with `response`.
    async fn canned(response: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
        serve(move |mut peer, _| async move {
            while peer.request().await.is_some() {
                peer.send(response).await;
            }
        })
        .await
    }

    #[test]
    fn request_bytes() {
        let url = Url::parse("http://127.0.0.1:8080/items/x?ms=1#fragment").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let body = Bytes::from_static(b"{\"a\":1}");
        let post = Http1Request::build(&Method::POST, &url, &headers, &body, true).unwrap();
        assert_eq!(
            post.bytes,
            &b"POST /items/x?ms=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
               content-type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"[..]
        );
        assert!(!post.head && !post.close);
        let url = Url::parse("http://example.com/").unwrap();
        let head =
            Http1Request::build(&Method::HEAD, &url, &HeaderMap::new(), &Bytes::new(), false)
                .unwrap();
        assert_eq!(
            head.bytes,
            &b"HEAD / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"[..]
        );
        assert!(head.head && head.close);
        let https = Url::parse("https://example.com/").unwrap();
        let built = Http1Request::build(&Method::GET, &https, &headers, &Bytes::new(), true);
        assert!(built.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn content_length_bodies_on_one_connection() {
        let (addr, accepted) = serve(|mut peer, _| async move {
            while let Some(request) = peer.request().await {
                match request.split(' ').nth(1).unwrap() {
                    "/five" => peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await,
                    "/empty" => peer.send(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await,
                    // Duplicate equal lengths are allowed; the body arrives in several writes.
                    _ => {
                        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\nContent-Length: 300000, 300000\r\n\r\n").await;
                        for _ in 0..3 {
                            peer.send(&[b'x'; 100_000]).await;
                        }
                    }
                }
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let five = request(Method::GET, addr, "/five", true);
        let empty = request(Method::GET, addr, "/empty", true);
        let big = request(Method::GET, addr, "/big", true);
        for _ in 0..3 {
            assert_eq!(connection.send(&five, LONG).await, Ok((200, 5)));
            assert_eq!(connection.send(&empty, LONG).await, Ok((404, 0)));
            assert_eq!(connection.send(&big, LONG).await, Ok((200, 300_000)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(connection.io.connects, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn chunked_body_byte_by_byte_with_extensions_and_trailers() {
        let (addr, accepted) = serve(|mut peer, _| async move {
            while peer.request().await.is_some() {
                peer.trickle(CHUNKED).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..3 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 23)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn chunked_body_in_large_chunks() {
        let (addr, _) = serve(|mut peer, _| async move {
            while peer.request().await.is_some() {
                peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await;
                for _ in 0..4 {
                    peer.send(b"30000\r\n").await;
                    peer.send(&[b'y'; 0x30000]).await;
                    peer.send(b"\r\n").await;
                }
                peer.send(b"0\r\n\r\n").await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..2 {
            assert_eq!(
                connection.send(&get(addr), LONG).await,
                Ok((200, 4 * 0x30000))
            );
        }
        assert_eq!(connection.io.connects, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn body_until_close_then_reconnect() {
        let (addr, accepted) = serve(|mut peer, _| async move {
            if peer.request().await.is_some() {
                peer.send(b"HTTP/1.1 200 OK\r\n\r\n").await;
                peer.send(&[b'z'; 10_000]).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..3 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 10_000)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_body_for_204_304_and_head() {
        let (addr, accepted) = serve(|mut peer, _| async move {
            while let Some(request) = peer.request().await {
                let response: &[u8] = match request.split(' ').nth(1).unwrap() {
                    "/204" => b"HTTP/1.1 204 No Content\r\n\r\n",
                    "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                    "/chunked-304" => {
                        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
                    }
                    _ if request.starts_with("HEAD") => {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
                    }
                    _ => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                };
                peer.send(response).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let get = |path| request(Method::GET, addr, path, true);
        assert_eq!(connection.send(&get("/204"), LONG).await, Ok((204, 0)));
        assert_eq!(connection.send(&get("/x"), LONG).await, Ok((200, 3)));
        assert_eq!(connection.send(&get("/304"), LONG).await, Ok((304, 0)));
        assert_eq!(
            connection.send(&get("/chunked-304"), LONG).await,
            Ok((304, 0))
        );
        let head = request(Method::HEAD, addr, "/hello", true);
        assert_eq!(connection.send(&head, LONG).await, Ok((200, 0)));
        assert_eq!(connection.send(&get("/x"), LONG).await, Ok((200, 3)));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn interim_responses_are_skipped() {
        let (addr, accepted) = serve(|mut peer, index| async move {
            while peer.request().await.is_some() {
                if index == 0 {
                    peer.send(b"HTTP/1.1 100 Continue\r\n\r\n").await;
                    tokio::task::yield_now().await;
                    peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok").await;
                } else {
                    peer.trickle(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!").await;
                }
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        assert_eq!(connection.send(&get(addr), LONG).await, Ok((201, 2)));
        assert_eq!(connection.send(&get(addr), LONG).await, Ok((201, 2)));
        let mut other = Http1Connection::new(addr);
        assert_eq!(other.send(&get(addr), LONG).await, Ok((200, 1)));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connection_close_from_the_server_reconnects() {
        // The server keeps its side open: the client must close on the header alone.
        let (addr, accepted) = serve(|mut peer, index| async move {
            while peer.request().await.is_some() {
                let response: &[u8] = if index % 2 == 0 {
                    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok"
                } else {
                    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
                };
                peer.send(response).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..4 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        // HTTP/1.0 with keep-alive persists.
        let (addr, accepted) =
            canned(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
                .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..4 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connection_close_from_the_client() {
        let (addr, accepted) = serve(|mut peer, _| async move {
            while let Some(request) = peer.request().await {
                assert!(request.contains("Connection: close\r\n"));
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let close = request(Method::GET, addr, "/", false);
        for _ in 0..3 {
            assert_eq!(connection.send(&close, LONG).await, Ok((200, 2)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idle_connection_closed_by_the_server_is_reopened() {
        // Each connection answers one request, then closes while the client is idle.
        let (addr, accepted) = serve(|mut peer, _| async move {
            if peer.request().await.is_some() {
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..3 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    /// How connection 0 of [`drops_its_second_request`] treats the request it leaves unanswered.
    #[derive(Clone, Copy)]
    enum Dropping {
        /// Closes the connection (FIN) after reading it.
        Close,
        /// Resets the connection (RST) after reading it.
        Reset,
        /// Sends the start of a response head, then resets.
        PartlyAnswer,
    }

    /// A server whose connection 0 answers its first request and drops its second as `how`
    /// says; connection 1 answers every request unless `second_connection_drops` (then it
    /// reads one and closes), and later connections read one request and close. Returns its
    /// address, the connections accepted, and the requests it read.
    async fn drops_its_second_request(
        how: Dropping,
        second_connection_drops: bool,
    ) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let received = Arc::new(AtomicUsize::new(0));
        let counter = received.clone();
        let (addr, accepted) = serve(move |mut peer, index| {
            let received = counter.clone();
            async move {
                let mut answered = 0;
                while peer.request().await.is_some() {
                    received.fetch_add(1, Ordering::SeqCst);
                    let drops = match index {
                        0 => answered == 1,
                        1 => second_connection_drops,
                        _ => true,
                    };
                    if !drops {
                        peer.send(OK).await;
                        answered += 1;
                        continue;
                    }
                    match how {
                        Dropping::Close => {}
                        Dropping::Reset => peer.stream.set_zero_linger().unwrap(),
                        Dropping::PartlyAnswer => {
                            peer.send(b"HTTP/1.1 200 OK\r\nContent-Le").await;
                            // A zero-linger close discards unsent bytes: let these leave first.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            peer.stream.set_zero_linger().unwrap();
                        }
                    }
                    return;
                }
            }
        })
        .await;
        (addr, accepted, received)
    }

    fn post(addr: SocketAddr) -> Http1Request {
        let url = Url::parse(&format!("http://{addr}/items")).unwrap();
        let body = Bytes::from_static(b"{\"n\":1}");
        Http1Request::build(&Method::POST, &url, &HeaderMap::new(), &body, true).unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idempotent_request_unanswered_on_a_reused_connection_is_sent_again_once() {
        for how in [Dropping::Close, Dropping::Reset] {
            let (addr, accepted, received) = drops_its_second_request(how, false).await;
            let mut connection = Http1Connection::new(addr);
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
            assert!(!connection.resent());
            // Dropped on reused connection 0, sent again on connection 1.
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
            assert!(connection.resent());
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
            assert_eq!(received.load(Ordering::SeqCst), 3);
            // Connection 1 carries on; nothing is sent twice.
            let put = request(Method::PUT, addr, "/", true);
            assert_eq!(connection.send(&put, LONG).await, Ok((200, 2)));
            assert!(!connection.resent());
            assert_eq!(received.load(Ordering::SeqCst), 4);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn post_unanswered_on_a_reused_connection_is_an_error_not_sent_again() {
        for how in [Dropping::Close, Dropping::Reset] {
            let (addr, accepted, received) = drops_its_second_request(how, false).await;
            let mut connection = Http1Connection::new(addr);
            assert_eq!(connection.send(&post(addr), LONG).await, Ok((200, 2)));
            assert_eq!(
                connection.send(&post(addr), LONG).await,
                Err(ErrorClass::Reset)
            );
            assert!(!connection.resent());
            assert_eq!(received.load(Ordering::SeqCst), 2, "the POST arrived once");
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                1,
                "no new connection for it"
            );
            // The next request opens connection 1.
            assert_eq!(connection.send(&post(addr), LONG).await, Ok((200, 2)));
            assert_eq!(received.load(Ordering::SeqCst), 3);
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn request_that_got_part_of_a_response_is_not_sent_again() {
        let (addr, accepted, received) =
            drops_its_second_request(Dropping::PartlyAnswer, false).await;
        let mut connection = Http1Connection::new(addr);
        assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
        assert_eq!(
            connection.send(&get(addr), LONG).await,
            Err(ErrorClass::Reset)
        );
        assert!(!connection.resent());
        assert_eq!(received.load(Ordering::SeqCst), 2);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_is_sent_again_at_most_once() {
        let (addr, accepted, received) = drops_its_second_request(Dropping::Close, true).await;
        let mut connection = Http1Connection::new(addr);
        assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
        // Dropped on reused connection 0, sent again on connection 1, dropped there too.
        assert_eq!(
            connection.send(&get(addr), LONG).await,
            Err(ErrorClass::Reset)
        );
        assert!(connection.resent(), "the failed request was re-sent once");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(received.load(Ordering::SeqCst), 3);
        // A fresh connection that closes without a response is an error straight away.
        assert_eq!(
            connection.send(&get(addr), LONG).await,
            Err(ErrorClass::Reset)
        );
        assert!(!connection.resent());
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(received.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_transport_reports_re_sends() {
        let (addr, _, _) = drops_its_second_request(Dropping::Close, false).await;
        let target = Target::at(
            &format!("http://{addr}"),
            &[crate::manifest::RequestPlan {
                name: "get".to_owned(),
                method: Method::GET,
                path: "/".to_owned(),
                headers: HeaderMap::new(),
                body: Bytes::new(),
                weight: 1,
                timeout: LONG,
            }],
        )
        .unwrap();
        let transport = Http1Transport::for_target(&target, true).unwrap();
        let mut connection = transport.connection();
        let first = transport.send(&mut connection, 0).await;
        let second = transport.send(&mut connection, 0).await;
        assert_eq!(
            (first.outcome, first.retries, second.outcome, second.retries),
            (Ok((200, 2)), 0, Ok((200, 2)), 1)
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn incomplete_responses_are_resets() {
        let (addr, _) = serve(|mut peer, index| async move {
            if peer.request().await.is_some() {
                let response: &[u8] = match index {
                    0 => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                    1 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                    _ => b"HTTP/1.1 200 OK\r\nContent-Le",
                };
                peer.send(response).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..3 {
            assert_eq!(
                connection.send(&get(addr), LONG).await,
                Err(ErrorClass::Reset)
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn timeout_covers_the_whole_response() {
        // Connection 0 answers after 300 ms; later ones send half a response and hang.
        let (addr, _) = serve(|mut peer, index| async move {
            while peer.request().await.is_some() {
                if index == 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                } else {
                    peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no")
                        .await;
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let started = Instant::now();
        assert_eq!(
            connection
                .send(&get(addr), Duration::from_millis(100))
                .await,
            Err(ErrorClass::Timeout)
        );
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        // The timed-out connection 0 is gone: this goes to connection 1, which hangs.
        let started = Instant::now();
        assert_eq!(
            connection
                .send(&get(addr), Duration::from_millis(150))
                .await,
            Err(ErrorClass::Timeout)
        );
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(connection.io.connects, 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_lazily_armed_timer_follows_each_request_deadline() {
        // Request 0 is answered at once, request 1 after 300 ms, request 2 never.
        let (addr, _) = serve(|mut peer, _| async move {
            let mut n = 0;
            while peer.request().await.is_some() {
                match n {
                    0 => {}
                    1 => tokio::time::sleep(Duration::from_millis(300)).await,
                    _ => std::future::pending::<()>().await,
                }
                n += 1;
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let short = Duration::from_millis(100);
        assert_eq!(connection.send(&get(addr), short).await, Ok((200, 2)));
        // The timer still points at request 0's deadline, which passes during request 1.
        assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 2)));
        // The timer now points 10 s ahead; a shorter deadline brings it forward.
        let started = Instant::now();
        assert_eq!(
            connection.send(&get(addr), short).await,
            Err(ErrorClass::Timeout)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(connection.io.connects, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connection_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut connection = Http1Connection::new(addr);
        assert_eq!(
            connection.send(&get(addr), LONG).await,
            Err(ErrorClass::Connect)
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn large_heads_up_to_the_cap() {
        // 40 KiB of header fields: more than the initial buffer, less than the cap.
        let (addr, accepted) = serve(|mut peer, _| async move {
            let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n".to_vec();
            for i in 0..40 {
                head.extend_from_slice(format!("X-Big-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
            }
            head.extend_from_slice(b"\r\nbody");
            while peer.request().await.is_some() {
                peer.send(&head).await;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for _ in 0..3 {
            assert_eq!(connection.send(&get(addr), LONG).await, Ok((200, 4)));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn malformed_responses_are_other_errors() {
        let big_head = {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..3000 {
                head.extend_from_slice(format!("X-Filler-{i}: some value\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            head
        };
        let many_fields = {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..=MAX_HEADERS {
                head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
            }
            head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            head
        };
        let responses: Vec<Vec<u8>> = vec![
            b"HTTP/1.1 abc OK\r\n\r\n".to_vec(),
            b"garbage\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec(),
            b"HTTP/1.1 099 Odd\r\n\r\n".to_vec(),
            big_head,
            many_fields,
        ];
        let count = responses.len();
        let responses = Arc::new(responses);
        let (addr, _) = serve(move |mut peer, index| {
            let responses = responses.clone();
            async move {
                if peer.request().await.is_some() {
                    peer.send(&responses[index]).await;
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        for index in 0..count {
            assert_eq!(
                connection.send(&get(addr), LONG).await,
                Err(ErrorClass::Other),
                "response {index}"
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn back_to_back_and_pipelined_responses_count_bytes_exactly() {
        // The response to request n has n bytes of body, chunked when n is odd. Every fifth
        // request also gets the next response early, in the same write (as if pipelined).
        fn response(n: usize) -> Vec<u8> {
            let mut out = Vec::new();
            if n % 2 == 1 {
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.resize(out.len() + n, b'c');
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            } else {
                out.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes(),
                );
                out.resize(out.len() + n, b'l');
            }
            out
        }
        const REQUESTS: usize = 500;
        let (addr, accepted) = serve(|mut peer, _| async move {
            let mut n = 0;
            while peer.request().await.is_some() {
                if n % 5 == 4 {
                    // Already sent with the previous response.
                } else if n % 5 == 3 {
                    let mut both = response(n);
                    both.extend_from_slice(&response(n + 1));
                    peer.send(&both).await;
                } else {
                    peer.send(&response(n)).await;
                }
                n += 1;
            }
        })
        .await;
        let mut connection = Http1Connection::new(addr);
        let mut total = 0;
        for n in 0..REQUESTS {
            let (status, bytes) = connection.send(&get(addr), LONG).await.unwrap();
            assert_eq!((status, bytes), (200, n as u64));
            total += bytes;
        }
        assert_eq!(total, (REQUESTS * (REQUESTS - 1) / 2) as u64);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    /// Kills the server when the test ends, passed or not.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn against_hello_rs() {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let binary = target.join("release/hello-rs");
        assert!(
            binary.is_file(),
            "{} is missing: build it with `cargo build --release -p hello-rs`",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _server = KillOnDrop(
            std::process::Command::new(&binary)
                .args(["--port", &port.to_string(), "--threads", "1"])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            assert!(started.elapsed() < LONG, "hello-rs did not start listening");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut connection = Http1Connection::new(addr);
        let hello = request(Method::GET, addr, "/hello", true);
        for _ in 0..1000 {
            assert_eq!(connection.send(&hello, LONG).await, Ok((200, 12)));
        }
        assert_eq!(connection.io.connects, 1);
        let url = Url::parse(&format!("http://{addr}/items/x")).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Keys in order and no spaces, so the echo has exactly these bytes.
        let body = Bytes::from_static(br#"{"id":7,"name":"widget","tags":["a","b"]}"#);
        let post = Http1Request::build(&Method::POST, &url, &headers, &body, true).unwrap();
        assert_eq!(
            connection.send(&post, LONG).await,
            Ok((200, body.len() as u64))
        );
        let missing = request(Method::GET, addr, "/nope", true);
        assert!(matches!(connection.send(&missing, LONG).await, Ok((404, n)) if n > 0));
        assert_eq!(connection.io.connects, 1);
    }
}
