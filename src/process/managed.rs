//! A child process benchrig started: its own process group, its output in a log file, and a
//! stop that reaches the whole group. Dropping it without `stop` still stops the group.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::group;
use crate::manifest::{StopPlan, StopTarget};

/// How long to wait for a group to vanish after SIGKILL before giving up on it.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

pub struct ManagedProcess {
    handle: duct::Handle,
    pgid: i32,
    log_path: PathBuf,
    stop: StopPlan,
    stopped: bool,
}

/// How a stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// Exit status of the group leader, when it could be collected.
    pub status: Option<ExitStatus>,
    /// SIGKILL was needed because the group outlived the grace period.
    pub killed: bool,
    /// Pids still running after SIGKILL (should never happen; reported if it does).
    pub survivors: Vec<i32>,
}

impl ManagedProcess {
    /// Starts `argv` in its own process group with stdout and stderr appended to `log_path`.
    ///
    /// Call from the thread that lives as long as benchrig (the main thread): the leader gets
    /// SIGTERM when that thread ends, so even a benchrig killed with SIGKILL stops its servers.
    /// `cpus`: pin the process (and so everything it forks) to these CPUs.
    pub fn spawn(
        argv: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
        log_path: &Path,
        stop: StopPlan,
        cpus: Option<&[usize]>,
    ) -> io::Result<ManagedProcess> {
        let mut cpu_set = None;
        if let Some(cpus) = cpus {
            let mut set = nix::sched::CpuSet::new();
            for cpu in cpus {
                set.set(*cpu).map_err(io::Error::from)?;
            }
            cpu_set = Some(set);
        }
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let mut expression = duct::cmd(program, args)
            .dir(cwd)
            .stdin_null()
            .stdout_file(log.try_clone()?)
            .stderr_file(log)
            .unchecked()
            .before_spawn(move |command| {
                command.process_group(0);
                // SAFETY: prctl and sched_setaffinity are async-signal-safe system calls; nothing
                // else runs between fork and exec.
                unsafe {
                    command.pre_exec(move || {
                        nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from)?;
                        if let Some(set) = &cpu_set {
                            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), set)
                                .map_err(io::Error::from)?;
                        }
                        Ok(())
                    });
                }
                Ok(())
            });
        for (key, value) in env {
            expression = expression.env(key, value);
        }
        let handle = expression
            .start()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{program}`: {e}")))?;
        let pgid = handle.pids()[0] as i32;
        group::register(pgid);
        Ok(ManagedProcess {
            handle,
            pgid,
            log_path: log_path.to_owned(),
            stop,
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    pub fn process_group(&self) -> i32 {
        self.pgid
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The leader's exit status if it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.handle.try_wait() {
            Ok(Some(output)) => Some(output.status),
            Ok(None) => None,
            // The status cannot be collected; treat the leader as gone.
            Err(_) => Some(ExitStatus::from_raw(0)),
        }
    }

    /// The stop signal to the whole group (or to the leader alone), SIGKILL to the group after
    /// the grace period; returns once no process of the group is left running.
    pub fn stop(mut self) -> StopReport {
        self.stop_in_place()
    }

    fn stop_in_place(&mut self) -> StopReport {
        self.stopped = true;
        let mut report = StopReport {
            status: None,
            killed: false,
            survivors: Vec::new(),
        };
        match self.stop.to {
            StopTarget::Group => group::signal_group(self.pgid, self.stop.signal),
            StopTarget::Leader => {
                // A master that stops its own workers gracefully; whatever is left of the
                // group after the grace period is killed below.
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pgid), self.stop.signal);
            }
        }
        if !self.wait_group(Instant::now() + self.stop.grace, &mut report) {
            report.killed = true;
            group::signal_group(self.pgid, Signal::SIGKILL);
            if !self.wait_group(Instant::now() + KILL_WAIT, &mut report) {
                report.survivors = group::running_members(self.pgid);
            }
        }
        group::unregister(self.pgid);
        report
    }

    /// Polls until the group has no running member or the deadline passes.
    fn wait_group(&self, deadline: Instant, report: &mut StopReport) -> bool {
        loop {
            if report.status.is_none() {
                report.status = self.exit_status();
            }
            if report.status.is_some() {
                group::reap_orphans(self.pgid);
                if group::running_members(self.pgid).is_empty() {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if !self.stopped {
            self.stop_in_place();
        }
    }
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(grace: Duration) -> StopPlan {
        StopPlan {
            signal: Signal::SIGTERM,
            to: StopTarget::Group,
            grace,
        }
    }

    fn sh(script: &str, log: &Path, grace: Duration) -> ManagedProcess {
        let argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        ManagedProcess::spawn(
            &argv,
            &BTreeMap::new(),
            Path::new("."),
            log,
            term(grace),
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_signal_to_the_leader_alone_then_sigkill_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        // The leader exits on SIGINT; its child ignores nothing but never gets the signal.
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "trap 'echo got INT; exit 0' INT; sleep 300 & echo ready; wait".to_owned(),
        ];
        let stop = StopPlan {
            signal: Signal::SIGINT,
            to: StopTarget::Leader,
            grace: Duration::from_millis(300),
        };
        let process =
            ManagedProcess::spawn(&argv, &BTreeMap::new(), Path::new("."), &log, stop, None)
                .unwrap();
        let pgid = process.process_group();
        let deadline = Instant::now() + Duration::from_secs(5);
        while log_tail(&log, 1) != "ready" && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let report = process.stop();
        assert!(
            log_tail(&log, 1).contains("got INT"),
            "the leader got SIGINT"
        );
        assert!(
            report.killed,
            "the sleeping child only left with SIGKILL: {report:?}"
        );
        assert!(group::running_members(pgid).is_empty());
    }

    #[test]
    fn stop_terminates_the_whole_group_and_logs_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        let process = sh(
            "echo started; sleep 300 & sleep 300 & wait",
            &log,
            Duration::from_secs(5),
        );
        let pgid = process.process_group();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group::running_members(pgid).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(group::running_members(pgid).len(), 3);
        let report = process.stop();
        assert!(
            !report.killed,
            "SIGTERM should have been enough: {report:?}"
        );
        assert!(group::running_members(pgid).is_empty());
        assert!(!group::live_groups().contains(&pgid));
        assert_eq!(log_tail(&log, 5), "started");
    }

    #[test]
    fn members_ignoring_sigterm_are_killed_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("p.log");
        let process = sh(
            "trap '' TERM; sh -c \"trap '' TERM; echo ready; sleep 300\" & sleep 300",
            &log,
            Duration::from_millis(200),
        );
        let pgid = process.process_group();
        let deadline = Instant::now() + Duration::from_secs(5);
        while log_tail(&log, 1) != "ready" && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let started = Instant::now();
        let report = process.stop();
        assert!(report.killed, "{report:?}");
        assert!(report.survivors.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(group::running_members(pgid).is_empty());
    }

    #[test]
    fn dropping_stops_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let process = sh(
            "sleep 300",
            &dir.path().join("p.log"),
            Duration::from_secs(5),
        );
        let pgid = process.process_group();
        drop(process);
        assert!(group::running_members(pgid).is_empty());
    }

    #[test]
    fn exit_status_of_an_early_exit() {
        let dir = tempfile::tempdir().unwrap();
        let process = sh("exit 7", &dir.path().join("p.log"), Duration::from_secs(1));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut status = None;
        while status.is_none() && Instant::now() < deadline {
            status = process.exit_status();
            std::thread::sleep(POLL);
        }
        assert_eq!(status.and_then(|s| s.code()), Some(7));
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let argv = vec!["/nonexistent/server".to_owned()];
        let err = ManagedProcess::spawn(
            &argv,
            &BTreeMap::new(),
            Path::new("."),
            &dir.path().join("p.log"),
            term(Duration::from_secs(1)),
            None,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("cannot start `/nonexistent/server`"),
            "{err}"
        );
    }
}
