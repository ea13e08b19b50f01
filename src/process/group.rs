//! Process groups: every child benchrig starts leads its own group, so stopping a variant
//! reaches the master and every worker it forked. A registry of live groups lets the panic hook
//! and the interrupt path stop whatever is still running.

use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn register(pgid: i32) {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(pgid);
}

pub(crate) fn unregister(pgid: i32) {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|g| *g != pgid);
}

/// Process groups started by benchrig and not yet stopped.
pub fn live_groups() -> Vec<i32> {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Sends `signal` to every live group. Used where orderly stopping is impossible (panics).
pub fn signal_all(signal: Signal) {
    for pgid in live_groups() {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Sends `signal` to the group; a group that is already gone is not an error.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => eprintln!("benchrig: cannot send {signal} to process group {pgid}: {e}"),
    }
}

/// Pids of the processes in group `pgid` that are still running (zombies excluded).
pub fn running_members(pgid: i32) -> Vec<i32> {
    // Cheap check first: no member at all, not even a zombie.
    if killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH) {
        return Vec::new();
    }
    let mut members = Vec::new();
    let listed = super::proc_stat::ProcReader::new().for_each_process(|stat| {
        if stat.pgrp == pgid && stat.running() {
            members.push(stat.pid);
        }
    });
    match listed {
        Ok(()) => members,
        // Cannot tell: assume the leader still runs.
        Err(_) => vec![pgid],
    }
}

/// Reaps exited members of the group that were re-parented to benchrig (it is a subreaper).
/// Call only after the group leader itself has been reaped through its handle, so the
/// leader's exit status is not taken from under it.
pub(crate) fn reap_orphans(pgid: i32) {
    loop {
        match waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

/// Makes benchrig the reaper of orphaned descendants: workers whose master died are
/// re-parented here, so they can be reaped and their group seen to be empty.
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("benchrig: warning: cannot become a child subreaper ({e}); orphaned workers may linger as zombies");
    }
}

/// On panic, stop every child group before the panic message, so a bug in benchrig never
/// leaves servers running.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        signal_all(Signal::SIGKILL);
        default_hook(info);
    }));
}
