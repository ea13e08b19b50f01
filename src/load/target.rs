//! What a phase sends: the experiment's requests aimed at one variant's address, parsed once,
//! with their weights. Each transport builds its own wire form from these when a phase starts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};

use crate::manifest::RequestPlan;

/// A request ready to send: URL parsed and body built once, cloned cheaply per request.
#[derive(Debug, Clone)]
pub(super) struct PreparedRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
}

/// The requests of an experiment aimed at one variant's address, with their weights.
#[derive(Debug, Clone)]
pub struct Target {
    names: Vec<String>,
    /// The server's address, for transports that open their own sockets; `None` if it did not
    /// resolve.
    pub(super) addr: Option<std::net::SocketAddr>,
    pub(super) requests: Arc<[PreparedRequest]>,
    /// Running sum of weights, for weighted picking.
    cumulative_weights: Arc<[u64]>,
}

impl Target {
    /// The requests aimed at a variant listening on 127.0.0.1:`port`.
    pub fn new(port: u16, requests: &[RequestPlan]) -> Result<Target, String> {
        Self::at(&format!("http://127.0.0.1:{port}"), requests)
    }

    /// The requests aimed at `base` (scheme and authority, e.g. `http://127.0.0.1:8080`).
    pub fn at(base: &str, requests: &[RequestPlan]) -> Result<Target, String> {
        let prepared = requests
            .iter()
            .map(|r| {
                let url = format!("{base}{}", r.path);
                Ok(PreparedRequest {
                    method: r.method.clone(),
                    url: Url::parse(&url).map_err(|e| format!("invalid URL {url}: {e}"))?,
                    headers: r.headers.clone(),
                    body: r.body.clone(),
                    timeout: r.timeout,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let cumulative_weights = requests
            .iter()
            .scan(0u64, |sum, r| {
                *sum += u64::from(r.weight);
                Some(*sum)
            })
            .collect();
        let addr = Url::parse(base).ok().and_then(|url| {
            use std::net::ToSocketAddrs;
            let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
            (host, url.port_or_known_default()?)
                .to_socket_addrs()
                .ok()?
                .next()
        });
        Ok(Target {
            names: requests.iter().map(|r| r.name.clone()).collect(),
            addr,
            requests: prepared.into(),
            cumulative_weights,
        })
    }

    pub fn request_names(&self) -> &[String] {
        &self.names
    }

    /// Picks a request index at random, in proportion to the weights.
    pub(super) fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        if self.requests.len() == 1 {
            return 0;
        }
        let total = *self
            .cumulative_weights
            .last()
            .expect("at least one request");
        let ticket = rng.u64(0..total);
        self.cumulative_weights.partition_point(|&w| w <= ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, weight: u32) -> RequestPlan {
        RequestPlan {
            name: path.to_owned(),
            method: Method::GET,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            weight,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn weighted_picking_follows_the_weights() {
        let target = Target::new(1, &[request("/a", 3), request("/b", 1)]).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[target.pick(&mut rng)] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "share of /a was {share}");
    }

    #[test]
    fn urls_point_at_the_variant_port() {
        let target = Target::new(4321, &[request("/sleep?ms=20", 1)]).unwrap();
        assert_eq!(
            target.requests[0].url.as_str(),
            "http://127.0.0.1:4321/sleep?ms=20"
        );
    }
}
