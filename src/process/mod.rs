//! Child processes: start in their own process group, wait for readiness, stop the whole
//! group, capture logs.

pub mod group;
pub mod proc_stat;

mod managed;
mod ready;
mod sampler;
mod sampling;

pub use managed::{log_tail, ManagedProcess, StopReport};
pub use ready::{describe_status, wait_ready, NotReady};
pub use sampler::ResourceSampler;
pub use sampling::Sampling;

/// A free TCP port on 127.0.0.1, chosen by the kernel. Chosen right before a variant starts,
/// so the load generator's own ephemeral ports cannot take it in between.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
