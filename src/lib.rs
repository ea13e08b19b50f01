//! benchrig: a declarative experiment runner for comparing web-server variants under HTTP load.
//!
//! Data flows manifest → plan → runner (process + load) → results → output, assertions, report.

pub mod adhoc;
pub mod affinity;
pub mod assertions;
pub mod check;
pub mod cli;
pub mod compare;
pub mod environment;
pub mod exit_code;
pub mod load;
pub mod manifest;
pub mod metrics;
pub mod output;
pub mod process;
pub mod progress;
pub mod report;
pub mod results;
pub mod runner;
pub mod text;
