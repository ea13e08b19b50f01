//! The seam between the scheduling loop and the wire. The loop (closed VUs, open arrivals,
//! ramps) asks a [`Transport`] for connections and sends requests on them; it never knows which
//! protocol or client is underneath. A new transport (TLS, HTTP/2 on the lean path, gRPC) is a
//! new implementation of the trait and one arm in [`with_transport`]; the loop, the recorder and
//! the executors stay as they are.
//!
//! Dispatch is static: [`with_transport`] picks the transport once per worker and hands it to
//! generic code, so each transport gets its own compiled copy of the loop and a request costs no
//! virtual call and no allocation.

mod http1;
mod reqwest;

use ::reqwest::Method;

use self::http1::Http1Transport;
use self::reqwest::ReqwestTransport;
use super::target::Target;
use crate::manifest::{ClientSettings, HttpClient};
use crate::results::ErrorClass;

/// The outcome of one request: a complete response (status, body bytes) or why none came.
pub type Outcome = Result<(u16, u64), ErrorClass>;

/// What sending one request came to: its outcome, and how often it was sent again on a fresh
/// connection because the reused one turned out closed (see [`may_resend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub outcome: Outcome,
    pub retries: u32,
}

/// A way of sending the requests of a phase, built once per load worker. It owns the requests
/// in its own wire form; connections carry the per-VU state. Both live as long as the worker's
/// tasks, hence `'static`.
pub trait Transport: 'static {
    /// What one VU (closed model) or one in-flight request (open model) holds between sends:
    /// a socket for a client that manages its own, nothing for one that pools internally.
    type Connection: 'static;

    /// A new connection; it may open its socket lazily, on the first send.
    fn connection(&self) -> Self::Connection;

    /// Sends request number `request` of the target on `connection` and reads the whole
    /// response (latency covers the complete response). The request's timeout covers
    /// connecting, any re-send and the whole response.
    async fn send(&self, connection: &mut Self::Connection, request: usize) -> Exchange;
}

/// Code that runs on whichever transport a phase uses, generic over it.
pub trait OnTransport {
    type Output;
    fn run<T: Transport>(self, transport: T) -> Self::Output;
}

/// Picks the transport for a phase and runs `job` on it: the lean HTTP/1.1 client wherever it
/// applies (HTTP/1.1, a resolved address, requests it can build, and no `client: reqwest` in the
/// manifest), reqwest elsewhere (h2c, or for comparison).
pub fn with_transport<J: OnTransport>(
    settings: &ClientSettings,
    target: &Target,
    job: J,
) -> J::Output {
    if settings.client != HttpClient::Reqwest && !settings.http2 {
        if let Some(transport) = Http1Transport::for_target(target, settings.keep_alive) {
            return job.run(transport);
        }
    }
    job.run(ReqwestTransport::new(target, settings))
}

/// Whether a request may be sent again on a fresh connection when the reused connection it went
/// out on turned out closed before any byte of the response arrived (once at most): only when
/// repeating it cannot change what the server did, so GET, HEAD, PUT, DELETE and OPTIONS
/// (idempotent in RFC 9110 §9.2.2). Any other request, POST included, is recorded as an error
/// of its class, so a server that drops POSTs does not look healthy.
pub fn may_resend(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods_may_be_sent_again() {
        for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            assert!(may_resend(&Method::from_bytes(method.as_bytes()).unwrap()));
        }
        for method in ["POST", "PATCH", "CONNECT", "TRACE", "PURGE"] {
            assert!(!may_resend(&Method::from_bytes(method.as_bytes()).unwrap()));
        }
    }
}
