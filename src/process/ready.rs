//! Readiness: poll a variant until it answers, exits, or runs out of time.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::manifest::ReadyProbe;

use super::ManagedProcess;

#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("exited with {} before becoming ready", describe_status(.0))]
    Exited(ExitStatus),
    #[error("not ready after {}: {last_attempt}", humantime::format_duration(*.waited))]
    TimedOut {
        waited: Duration,
        last_attempt: String,
    },
}

pub fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(sig) => format!("signal {sig}"),
            Err(_) => format!("signal {signal}"),
        },
        _ => status.to_string(),
    }
}

/// Polls `probe` against 127.0.0.1:`port` every `interval` until it succeeds; returns how long
/// that took. Fails at once when the process exits, or after `timeout`.
pub async fn wait_ready(
    process: &ManagedProcess,
    probe: &ReadyProbe,
    port: u16,
    timeout: Duration,
    interval: Duration,
) -> Result<Duration, NotReady> {
    let started = Instant::now();
    let deadline = started + timeout;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client without TLS always builds");
    loop {
        if let Some(status) = process.exit_status() {
            return Err(NotReady::Exited(status));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt_timeout = remaining.clamp(Duration::from_millis(10), Duration::from_secs(2));
        let last_attempt = match attempt(&client, probe, port, attempt_timeout).await {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            if let Some(status) = process.exit_status() {
                return Err(NotReady::Exited(status));
            }
            return Err(NotReady::TimedOut {
                waited: timeout,
                last_attempt,
            });
        }
        tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

async fn attempt(
    client: &reqwest::Client,
    probe: &ReadyProbe,
    port: u16,
    timeout: Duration,
) -> Result<(), String> {
    match probe {
        ReadyProbe::Tcp => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(("127.0.0.1", port)))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to 127.0.0.1:{port}: {e}")),
                Err(_) => Err(format!("TCP connect to 127.0.0.1:{port} timed out")),
            }
        }
        ReadyProbe::Http(path) => {
            let url = format!("http://127.0.0.1:{port}{path}");
            match client.get(&url).timeout(timeout).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("GET {url} answered {}", response.status())),
                Err(e) => Err(format!("GET {url}: {}", crate::text::error_chain(&e))),
            }
        }
    }
}
