//! Load generation: workers → per-worker recorders → merged [`PhaseRecording`]; raw rows flow
//! through a channel to a writer thread, never written from the request loop.
//!
//! [`PhaseRecording`]: crate::results::PhaseRecording

mod engine;
mod errors;
pub mod http1;
mod recorder;
mod timer;

pub use engine::{run_phase, LiveCounters, Target};
pub use errors::classify;
pub use recorder::{Outcome, RawMessage, RawRow, RawSink, Recorder, Timing};
