//! Child processes: start in their own process group, wait for readiness, stop the whole
//! group, capture logs.

pub mod group;

mod managed;
mod ready;
mod sampler;

pub use managed::{log_tail, ManagedProcess, StopReport};
pub use ready::{describe_status, wait_ready, NotReady};
pub use sampler::ResourceSampler;

/// A free TCP port on 127.0.0.1, chosen by the kernel. Chosen right before a variant starts,
/// so the load generator's own ephemeral ports cannot take it in between.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
