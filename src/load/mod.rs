//! Load generation: workers → per-worker recorders → merged [`PhaseRecording`]; raw rows flow
//! through a channel to a writer thread, never written from the request loop. The scheduling
//! loop (`engine`) sends through a `transport` and never knows which client is underneath.
//!
//! [`PhaseRecording`]: crate::results::PhaseRecording

mod engine;
mod recorder;
mod target;
mod timer;
mod transport;

pub use engine::{run_phase, LiveCounters};
pub use recorder::{RawMessage, RawRow, RawSink, Recorder, Timing};
pub use target::Target;
pub use transport::{Exchange, Outcome};
