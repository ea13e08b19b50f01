//! hello-rs: the Rust server under test. Implements the endpoint contract in servers/README.md.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{CommandFactory, Parser};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

#[derive(Parser, Debug)]
#[command(version, about = "HTTP server under test for benchrig experiments")]
struct Args {
    /// TCP port to listen on (127.0.0.1).
    #[arg(long)]
    port: u16,
    /// Tokio worker threads; 1 runs a current-thread runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Freeze the whole server every DURATION from its start (`500ms`, `2s`); needs --stall-for.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "stall_for")]
    stall_every: Option<Duration>,
    /// Length of each periodic freeze (`500ms`, `1s`); shorter than --stall-every.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "stall_every")]
    stall_for: Option<Duration>,
}

/// Pending connections the kernel queues while the server is busy or stalled (as nginx and
/// gunicorn configure one; capped by net.core.somaxconn).
const LISTEN_BACKLOG: u32 = 1024;

/// Largest body `/bytes` will produce, so a typo cannot exhaust memory.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Longest wait `/sleep`, `/items`, `/io` and `/stall` accept.
const MAX_SLEEP_MS: u64 = 600_000;
/// Most downstream calls one `/io` request makes.
const MAX_CALLS: u64 = 1000;

type Body = Full<Bytes>;
type DownstreamClient = Client<HttpConnector, Empty<Bytes>>;

/// Shared by every connection.
struct State {
    stalls: Stalls,
    /// `None` when DOWNSTREAM_URL is unset: `/io` then answers 500.
    downstream: Option<Downstream>,
}

struct Downstream {
    client: DownstreamClient,
    /// DOWNSTREAM_URL without a trailing `/`.
    base: String,
}

fn main() {
    let args = Args::parse();
    let periodic = match (args.stall_every, args.stall_for) {
        (Some(every), Some(length)) if every.is_zero() || length >= every => Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                "--stall-for must be shorter than --stall-every, and --stall-every more than 0",
            )
            .exit(),
        (Some(every), Some(length)) => Some((every, length)),
        _ => None,
    };
    let base = std::env::var("DOWNSTREAM_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if let Some(Err(e)) = base.as_deref().map(check_downstream_url) {
        eprintln!("hello-rs: DOWNSTREAM_URL: {e}");
        std::process::exit(2);
    }
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("cannot build the tokio runtime");
    let state = Arc::new(State {
        stalls: Stalls::new(Instant::now(), periodic),
        downstream: base.map(|base| Downstream {
            client: downstream_client(),
            base: base.trim_end_matches('/').to_owned(),
        }),
    });
    if let Err(e) = runtime.block_on(serve(SocketAddr::new(args.host, args.port), state)) {
        eprintln!("hello-rs: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, state: Arc<State>) -> std::io::Result<()> {
    // An explicit accept queue: tokio's default of 128 overflows when a stalled server meets
    // a few hundred new connections, and each dropped SYN costs its client a 1 s retransmit.
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(LISTEN_BACKLOG)?;
    eprintln!("hello-rs: listening on http://{addr}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        // A frozen server accepts nothing either: new connections wait in the kernel's backlog.
        let accept = async {
            state.stalls.wait().await;
            listener.accept().await
        };
        let (stream, _) = tokio::select! {
            accepted = accept => accepted?,
            _ = terminate.recv() => {
                eprintln!("hello-rs: SIGTERM, exiting");
                return Ok(());
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, state.clone()));
            // Serves HTTP/1.1 and HTTP/2 with prior knowledge on the same port.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Body>, Infallible> {
    // Nothing starts during a freeze, and nothing is answered until it ends: a request that was
    // in flight when a freeze began waits below, whichever thread or connection it is on.
    state.stalls.wait().await;
    let query = req.uri().query().unwrap_or("").to_owned();
    let path = req.uri().path().to_owned();
    let response = match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/hello") => text(StatusCode::OK, "Hello World!"),
        (&Method::GET, "/sleep") => match param(&query, "ms", 0).filter(|ms| *ms <= MAX_SLEEP_MS) {
            Some(ms) => {
                precise_sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, &format!("slept {ms} ms"))
            }
            None => bad_request("ms must be an integer from 0 to 600000"),
        },
        (&Method::GET, "/cpu") => match param(&query, "n", 1000) {
            Some(n) => text(StatusCode::OK, &cpu_work(n).to_string()),
            None => bad_request("n must be a non-negative integer"),
        },
        (&Method::GET, "/bytes") => match param(&query, "n", 1024)
            .filter(|n| *n as usize <= MAX_BYTES)
        {
            Some(n) => {
                let mut response = Response::new(Full::new(Bytes::from(vec![b'x'; n as usize])));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                response
            }
            None => bad_request("n must be an integer from 0 to 67108864"),
        },
        (&Method::GET, "/io") => io(&state, &query).await,
        (&Method::GET, "/stall") => match param(&query, "ms", 0).filter(|ms| *ms <= MAX_SLEEP_MS) {
            Some(ms) => {
                state
                    .stalls
                    .freeze(Instant::now(), Duration::from_millis(ms));
                text(StatusCode::OK, &format!("stalled {ms} ms"))
            }
            None => bad_request("ms must be an integer from 0 to 600000"),
        },
        (&Method::POST, p) if item_kind(p).is_some() => items(req, &query).await,
        (_, "/health" | "/hello" | "/sleep" | "/cpu" | "/bytes" | "/io" | "/stall") => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body("method not allowed"),
        ),
        (_, p) if item_kind(p).is_some() => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body("method not allowed"),
        ),
        _ => json(StatusCode::NOT_FOUND, &error_body("not found")),
    };
    state.stalls.wait().await;
    Ok(response)
}

/// `POST /items/{kind}?ms=N`: parse the JSON body, wait N ms (the "repository call"), echo it.
async fn items(req: Request<Incoming>, query: &str) -> Response<Body> {
    let Some(ms) = param(query, "ms", 0).filter(|ms| *ms <= MAX_SLEEP_MS) else {
        return bad_request("ms must be an integer from 0 to 600000");
    };
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return bad_request(&format!("cannot read body: {e}")),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("invalid JSON: {e}")),
    };
    precise_sleep(Duration::from_millis(ms)).await;
    json(StatusCode::OK, &value)
}

/// `GET /io?calls=N&ms=M`: N concurrent `GET {DOWNSTREAM_URL}/sleep?ms=M`, answered when all
/// have returned.
async fn io(state: &State, query: &str) -> Response<Body> {
    let Some(calls) = param(query, "calls", 1).filter(|calls| *calls <= MAX_CALLS) else {
        return bad_request("calls must be an integer from 0 to 1000");
    };
    let Some(ms) = param(query, "ms", 0).filter(|ms| *ms <= MAX_SLEEP_MS) else {
        return bad_request("ms must be an integer from 0 to 600000");
    };
    let Some(downstream) = &state.downstream else {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_body("DOWNSTREAM_URL is not set"),
        );
    };
    let uri: Uri = match format!("{}/sleep?ms={ms}", downstream.base).parse() {
        Ok(uri) => uri,
        Err(e) => {
            return json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &error_body(&e.to_string()),
            )
        }
    };
    // Tasks rather than one joined future, so a multi-thread runtime spreads the calls.
    let mut pending = JoinSet::new();
    for _ in 0..calls {
        let client = downstream.client.clone();
        let uri = uri.clone();
        pending.spawn(async move { downstream_get(&client, uri).await });
    }
    // Every call completes before the answer, failed or not, as in the Python apps.
    let mut first_error = None;
    while let Some(joined) = pending.join_next().await {
        let outcome = joined.unwrap_or_else(|e| Err(format!("downstream call panicked: {e}")));
        if let Err(message) = outcome {
            first_error.get_or_insert(message);
        }
    }
    match first_error {
        Some(message) => json(StatusCode::BAD_GATEWAY, &error_body(&message)),
        None => json(
            StatusCode::OK,
            &serde_json::json!({ "calls": calls, "ms": ms }),
        ),
    }
}

async fn downstream_get(client: &DownstreamClient, uri: Uri) -> Result<(), String> {
    let response = client
        .get(uri)
        .await
        .map_err(|e| format!("downstream call failed: {}", error_chain(&e)))?;
    let status = response.status();
    // Reading the whole body hands the connection back to the pool for the next call.
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("downstream call failed: {}", error_chain(&e)))?;
    if status != StatusCode::OK {
        return Err(format!("downstream answered {}", status.as_u16()));
    }
    Ok(())
}

fn downstream_client() -> DownstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        // Without a timer, idle pooled connections never expire.
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// DOWNSTREAM_URL must be an absolute `http://` URL: checked at start, not on every request.
fn check_downstream_url(url: &str) -> Result<(), String> {
    let uri: Uri = format!("{}/sleep", url.trim_end_matches('/'))
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(format!("{url:?} must look like http://HOST:PORT"));
    }
    Ok(())
}

/// hyper's client errors say little at the top ("client error (Connect)"); the cause is below.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The "frozen until" clock for coordinated-omission tests. Handlers and the accept loop wait
/// on it, so a freeze holds every connection on every runtime thread without blocking any.
struct Stalls {
    start: Instant,
    /// `(every, length)`: frozen during `[k·every, k·every + length)` after start, k ≥ 1.
    periodic: Option<(Duration, Duration)>,
    /// End of the latest `/stall` freeze in ns after `start`; 0 when there has been none.
    manual_until_ns: AtomicU64,
}

impl Stalls {
    fn new(start: Instant, periodic: Option<(Duration, Duration)>) -> Self {
        Self {
            start,
            periodic,
            manual_until_ns: AtomicU64::new(0),
        }
    }

    /// Freezes the server from `now` for `length`, or longer if it is already frozen beyond.
    fn freeze(&self, now: Instant, length: Duration) {
        let end = now.saturating_duration_since(self.start) + length;
        let end_ns = u64::try_from(end.as_nanos()).unwrap_or(u64::MAX);
        self.manual_until_ns.fetch_max(end_ns, Ordering::Relaxed);
    }

    /// When the freeze around `now` ends, or `None` when the server is not frozen.
    fn frozen_until(&self, now: Instant) -> Option<Instant> {
        let elapsed = now.saturating_duration_since(self.start);
        let manual = Duration::from_nanos(self.manual_until_ns.load(Ordering::Relaxed));
        let manual = (manual > elapsed).then_some(manual);
        let periodic = self
            .periodic
            .and_then(|(every, length)| periodic_stall_end(elapsed, every, length));
        manual.max(periodic).map(|end| self.start + end)
    }

    async fn wait(&self) {
        if self.periodic.is_none() && self.manual_until_ns.load(Ordering::Relaxed) == 0 {
            return; // never frozen: spare the clock read on the hot path
        }
        // A loop, because a freeze can begin or be extended while waiting for another to end.
        while let Some(until) = self.frozen_until(Instant::now()) {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// End (time after start) of the periodic window that contains `elapsed`, if any. Windows are
/// `[k·every, k·every + length)` for k ≥ 1, so the server starts unfrozen and can become ready.
fn periodic_stall_end(elapsed: Duration, every: Duration, length: Duration) -> Option<Duration> {
    if elapsed < every || every.is_zero() {
        return None;
    }
    let elapsed_ns = elapsed.as_nanos();
    let window_start = elapsed_ns - elapsed_ns % every.as_nanos();
    let end = window_start + length.as_nanos();
    (elapsed_ns < end).then(|| Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX)))
}

/// `500ms` or `2s`: whole milliseconds or seconds, which is all the stall flags need.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit_ms) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000)
    } else {
        return Err(format!("{text:?}: write whole ms or s, like 500ms or 2s"));
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_ms))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?}: write whole ms or s, like 500ms or 2s"))
}

fn item_kind(path: &str) -> Option<&str> {
    path.strip_prefix("/items/")
        .filter(|kind| !kind.is_empty() && !kind.contains('/'))
}

/// CPU-bound work proportional to `n`: `n` steps of the linear congruential generator
/// x = (x * 1103515245 + 12345) mod 2^31 from x = 1. Every variant of every language computes
/// the same number, so a response can be checked, and the optimiser cannot skip the loop.
fn cpu_work(n: u64) -> u64 {
    let mut x: u64 = 1;
    for _ in 0..n {
        x = (x.wrapping_mul(1_103_515_245).wrapping_add(12_345)) & 0x7fff_ffff;
    }
    x
}

/// Integer query parameter `name`, `default` when absent, `None` when malformed.
fn param(query: &str, name: &str, default: u64) -> Option<u64> {
    match query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
    {
        Some((_, value)) => value.parse().ok(),
        None => Some(default),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({ "error": message })
}

fn bad_request(message: &str) -> Response<Body> {
    json(StatusCode::BAD_REQUEST, &error_body(message))
}

/// Sleeps for `duration` with microsecond precision. tokio's timer rounds deadlines up to the
/// next millisecond, so `/sleep?ms=20` would take 20–21 ms; the contract says 20. A one-shot
/// timerfd per sleep, awaited on the runtime, wakes within tens of microseconds.
async fn precise_sleep(duration: Duration) {
    use std::os::fd::{AsFd, AsRawFd, RawFd};

    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    struct Fd(TimerFd);
    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    if duration.is_zero() {
        return;
    }
    let armed = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )
    .ok()
    .filter(|fd| {
        fd.set(
            Expiration::OneShot(TimeSpec::from_duration(duration)),
            TimerSetTimeFlags::empty(),
        )
        .is_ok()
    })
    // SAFETY: `Fd` owns the timerfd and always returns that same open descriptor.
    .and_then(|fd| unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }.ok());
    match armed {
        // Readable once the timer has expired.
        Some(fd) => {
            let _ = fd.readable().await;
        }
        None => tokio::time::sleep(duration).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cpu_work_matches_the_documented_sequence() {
        assert_eq!(cpu_work(0), 1);
        assert_eq!(cpu_work(1), 1_103_527_590 & 0x7fff_ffff);
        // Reference value, computed independently in Python: see servers/README.md.
        assert_eq!(cpu_work(1000), 1_219_259_225);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn precise_sleep_is_not_rounded_up_to_a_tick() {
        let mut late = Vec::new();
        for _ in 0..20 {
            let start = std::time::Instant::now();
            precise_sleep(Duration::from_micros(2_300)).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_micros(2_300));
            late.push(took - Duration::from_micros(2_300));
        }
        late.sort();
        assert!(
            late[10] < Duration::from_micros(500),
            "median lateness {:?}",
            late[10]
        );
    }

    #[test]
    fn query_parameters() {
        assert_eq!(param("ms=20", "ms", 0), Some(20));
        assert_eq!(param("a=1&ms=5", "ms", 0), Some(5));
        assert_eq!(param("", "ms", 7), Some(7));
        assert_eq!(param("ms=abc", "ms", 0), None);
        assert_eq!(param("calls=3&ms=10", "calls", 1), Some(3));
        assert_eq!(param("ms=10", "calls", 1), Some(1));
        assert_eq!(param("calls=-1", "calls", 1), None);
    }

    #[test]
    fn item_paths() {
        assert_eq!(item_kind("/items/orders"), Some("orders"));
        assert_eq!(item_kind("/items/"), None);
        assert_eq!(item_kind("/items/a/b"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        for bad in [
            "",
            "2",
            "ms",
            "s",
            "1.5s",
            "-1s",
            "2m",
            "1 s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn periodic_windows_start_after_the_first_period() {
        let (every, length) = (ms(2000), ms(500));
        let end = |elapsed_ms: u64| periodic_stall_end(ms(elapsed_ms), every, length);
        assert_eq!(end(0), None);
        assert_eq!(end(400), None);
        assert_eq!(end(1999), None);
        assert_eq!(end(2000), Some(ms(2500)));
        assert_eq!(end(2499), Some(ms(2500)));
        assert_eq!(end(2500), None);
        assert_eq!(end(3999), None);
        assert_eq!(end(4100), Some(ms(4500)));
        assert_eq!(end(3_600_000_200), Some(ms(3_600_000_500)));
        assert_eq!(periodic_stall_end(ms(5000), Duration::ZERO, length), None);
    }

    #[test]
    fn stalls_combine_manual_and_periodic_freezes() {
        let start = Instant::now();
        let at = |t: u64| start + ms(t);

        let never = Stalls::new(start, None);
        assert_eq!(never.frozen_until(at(10_000)), None);

        let stalls = Stalls::new(start, Some((ms(2000), ms(500))));
        assert_eq!(stalls.frozen_until(at(100)), None);
        assert_eq!(stalls.frozen_until(at(2100)), Some(at(2500)));

        // /stall?ms=300 at 1000 ms: frozen until 1300 ms, then free again.
        stalls.freeze(at(1000), ms(300));
        assert_eq!(stalls.frozen_until(at(1000)), Some(at(1300)));
        assert_eq!(stalls.frozen_until(at(1299)), Some(at(1300)));
        assert_eq!(stalls.frozen_until(at(1300)), None);

        // A shorter freeze does not cut a longer one short.
        stalls.freeze(at(1100), ms(50));
        assert_eq!(stalls.frozen_until(at(1200)), Some(at(1300)));

        // Overlapping a periodic window: the later end wins.
        stalls.freeze(at(2400), ms(1000));
        assert_eq!(stalls.frozen_until(at(2450)), Some(at(3400)));
        assert_eq!(stalls.frozen_until(at(3400)), None);
    }

    #[test]
    fn downstream_urls() {
        assert!(check_downstream_url("http://127.0.0.1:9000").is_ok());
        assert!(check_downstream_url("http://127.0.0.1:9000/").is_ok());
        assert!(check_downstream_url("127.0.0.1:9000").is_err());
        assert!(check_downstream_url("https://example.com").is_err());
        assert!(check_downstream_url("not a url").is_err());
    }
}
