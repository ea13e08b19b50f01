//! Starting processes through a [`Launcher`]: setup commands, which must succeed, and servers,
//! which must become ready.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::launcher::{Launched, Launcher};
use super::{say, RunError, LOG_TAIL_LINES};
use crate::manifest::{self, PlaceholderContext, ProcessPlan, ReadyProbe};
use crate::process::{describe_status, log_tail};

/// A started process that answered its readiness probe.
pub(crate) struct Running<P> {
    pub name: String,
    pub process: P,
    pub port: u16,
    pub argv: Vec<String>,
    pub ready_after: Duration,
    pub log: PathBuf,
}

/// Why a process could not be started: the stage, the reason, its log.
pub(crate) struct StartFailure {
    pub stage: &'static str,
    pub reason: String,
    pub log: PathBuf,
}

/// Starts `process` on a fresh port and waits until it is ready; `label` names it in the
/// output. A process that is not ready is stopped before returning.
pub(crate) async fn start_process<L: Launcher>(
    launcher: &L,
    process: &ProcessPlan,
    label: &str,
    ctx: impl FnOnce(u16) -> PlaceholderContext,
    log: PathBuf,
) -> Result<Running<L::Process>, StartFailure> {
    let failure = |stage, reason: String| StartFailure {
        stage,
        reason,
        log: log.clone(),
    };
    let port = launcher
        .free_port()
        .map_err(|e| failure("start", format!("no free port on 127.0.0.1: {e}")))?;
    let launch = process
        .launch(&ctx(port))
        .map_err(|e| failure("start", e))?;
    let pinned = process
        .cpus
        .as_ref()
        .map(|cpus| format!(" pinned to CPUs {cpus:?}"))
        .unwrap_or_default();
    say(format!(
        "{label}: starting `{}` on 127.0.0.1:{port}{pinned}",
        shell_words::join(&launch.argv),
    ));
    let started = launcher
        .spawn(
            &launch.argv,
            &launch.env,
            &launch.cwd,
            &log,
            process.stop,
            process.cpus.as_deref(),
        )
        .map_err(|e| failure("start", e.to_string()))?;
    let probe = match &process.ready {
        ReadyProbe::Http(path) => format!("GET {path} answering 2xx"),
        ReadyProbe::Tcp => "the port accepting connections".to_owned(),
    };
    say(format!(
        "{label}: pid {} (process group {}); waiting up to {} for {probe}",
        started.pid(),
        started.process_group(),
        humantime::format_duration(process.ready_timeout)
    ));
    match launcher
        .wait_ready(
            &started,
            &process.ready,
            port,
            process.ready_timeout,
            process.ready_interval,
        )
        .await
    {
        Ok(ready_after) => Ok(Running {
            name: process.name.clone(),
            process: started,
            port,
            argv: launch.argv,
            ready_after,
            log,
        }),
        Err(e) => {
            started.stop();
            Err(failure("ready", e.to_string()))
        }
    }
}

/// Runs a setup command to its end; anything but success aborts the run.
pub(crate) async fn run_setup<L: Launcher>(
    launcher: &L,
    argv: &[String],
    workdir: &Path,
    log: &Path,
) -> Result<(), RunError> {
    let command = shell_words::join(argv);
    say(format!("setup: {command}"));
    let failed = |reason: String| RunError::Setup {
        command: command.clone(),
        reason,
        log: log.display().to_string(),
        tail: log_tail(log, LOG_TAIL_LINES),
    };
    let process = launcher
        .spawn(
            argv,
            &Default::default(),
            workdir,
            log,
            manifest::StopPlan {
                signal: nix::sys::signal::Signal::SIGTERM,
                to: manifest::StopTarget::Group,
                grace: Duration::from_secs(5),
            },
            None,
        )
        .map_err(|e| failed(e.to_string()))?;
    let status = loop {
        if let Some(status) = process.exit_status() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    process.stop();
    if status.success() {
        Ok(())
    } else {
        Err(failed(format!("exited with {}", describe_status(&status))))
    }
}
