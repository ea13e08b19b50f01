//! reqwest as a transport: the general client, for HTTP/2 with prior knowledge (h2c) and for
//! comparison with the lean HTTP/1.1 client. It pools connections itself, so a VU holds no
//! connection of its own. Its errors are classified here by why no response came.
//!
//! Re-sends are not counted on this path: `retries` stays 0. The requests reqwest sends again do
//! not reach [`Exchange`]: hyper's pool re-sends a request, whatever its method, only when it
//! was never written because the reused connection it was given turned out closed, and reqwest
//! re-sends HTTP/2 requests the server refused unprocessed (REFUSED_STREAM, or a graceful
//! GOAWAY) up to twice. In both cases the server did not act on the first copy, so no request
//! runs twice. A request written to a connection that then closes is an error here even when
//! idempotent, where the lean client would send it once more and count it.

use std::error::Error as _;
use std::sync::Arc;

use reqwest::header::{HeaderValue, CONNECTION};
use reqwest::Client;

use super::{Exchange, Outcome, Target, Transport};
use crate::load::target::PreparedRequest;
use crate::manifest::ClientSettings;
use crate::results::ErrorClass;

pub struct ReqwestTransport {
    client: Client,
    requests: Arc<[PreparedRequest]>,
    keep_alive: bool,
}

impl ReqwestTransport {
    pub fn new(target: &Target, settings: &ClientSettings) -> ReqwestTransport {
        let mut builder = Client::builder().no_proxy().tcp_nodelay(true);
        builder = if settings.keep_alive {
            builder.pool_max_idle_per_host(usize::MAX)
        } else {
            builder.pool_max_idle_per_host(0)
        };
        builder = if settings.http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        ReqwestTransport {
            client: builder
                .build()
                .expect("an HTTP client without TLS always builds"),
            requests: target.requests.clone(),
            keep_alive: settings.keep_alive,
        }
    }

    async fn send_request(&self, request: &PreparedRequest) -> Outcome {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .timeout(request.timeout);
        if !request.headers.is_empty() {
            builder = builder.headers(request.headers.clone());
        }
        if !self.keep_alive {
            builder = builder.header(CONNECTION, HeaderValue::from_static("close"));
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        let mut response = builder.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            bytes += chunk.len() as u64;
        }
        Ok((status, bytes))
    }
}

impl Transport for ReqwestTransport {
    /// The client's pool holds the connections.
    type Connection = ();

    fn connection(&self) {}

    async fn send(&self, _: &mut (), request: usize) -> Exchange {
        Exchange {
            outcome: self.send_request(&self.requests[request]).await,
            retries: 0,
        }
    }
}

/// Why reqwest gave no response.
fn classify(error: &reqwest::Error) -> ErrorClass {
    if error.is_timeout() {
        return ErrorClass::Timeout;
    }
    if error.is_connect() {
        return ErrorClass::Connect;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return ErrorClass::Reset
                }
                TimedOut => return ErrorClass::Timeout,
                ConnectionRefused => return ErrorClass::Connect,
                _ => {}
            }
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                return ErrorClass::Reset;
            }
            if hyper.is_timeout() {
                return ErrorClass::Timeout;
            }
        }
        source = cause.source();
    }
    ErrorClass::Other
}
