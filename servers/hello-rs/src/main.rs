//! hello-rs: the Rust server under test. Implements the endpoint contract in servers/README.md.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(about = "HTTP server under test for benchrig experiments")]
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
}

/// Largest body `/bytes` will produce, so a typo cannot exhaust memory.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Longest wait `/sleep` and `/items` accept.
const MAX_SLEEP_MS: u64 = 600_000;

type Body = Full<Bytes>;

fn main() {
    let args = Args::parse();
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
    if let Err(e) = runtime.block_on(serve(SocketAddr::new(args.host, args.port))) {
        eprintln!("hello-rs: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("hello-rs: listening on http://{addr}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = terminate.recv() => {
                eprintln!("hello-rs: SIGTERM, exiting");
                return Ok(());
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            // Serves HTTP/1.1 and HTTP/2 with prior knowledge on the same port.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let query = req.uri().query().unwrap_or("").to_owned();
    let path = req.uri().path().to_owned();
    let response = match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/hello") => text(StatusCode::OK, "Hello World!"),
        (&Method::GET, "/sleep") => match param(&query, "ms", 0).filter(|ms| *ms <= MAX_SLEEP_MS) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
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
        (&Method::POST, p) if item_kind(p).is_some() => items(req, &query).await,
        (_, "/health" | "/hello" | "/sleep" | "/cpu" | "/bytes") => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body("method not allowed"),
        ),
        (_, p) if item_kind(p).is_some() => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &error_body("method not allowed"),
        ),
        _ => json(StatusCode::NOT_FOUND, &error_body("not found")),
    };
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
    tokio::time::sleep(Duration::from_millis(ms)).await;
    json(StatusCode::OK, &value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_work_matches_the_documented_sequence() {
        assert_eq!(cpu_work(0), 1);
        assert_eq!(cpu_work(1), 1_103_527_590 & 0x7fff_ffff);
        // Reference value, computed independently in Python: see servers/README.md.
        assert_eq!(cpu_work(1000), 1_219_259_225);
    }

    #[test]
    fn query_parameters() {
        assert_eq!(param("ms=20", "ms", 0), Some(20));
        assert_eq!(param("a=1&ms=5", "ms", 0), Some(5));
        assert_eq!(param("", "ms", 7), Some(7));
        assert_eq!(param("ms=abc", "ms", 0), None);
    }

    #[test]
    fn item_paths() {
        assert_eq!(item_kind("/items/orders"), Some("orders"));
        assert_eq!(item_kind("/items/"), None);
        assert_eq!(item_kind("/items/a/b"), None);
    }
}
