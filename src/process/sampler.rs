//! Resource use of a variant's whole process tree, read from Linux `/proc`: CPU as `docker stats`
//! shows it (100 % = one core busy), RSS, PSS and USS, process and thread counts, and the CPU of
//! benchrig itself, so a report can say "CPU 180 %, PSS 651 MiB" next to requests/s.
//!
//! Built for pre-fork servers (gunicorn, uwsgi): a master plus workers that appear, die and are
//! replaced while the load runs.
//!
//! * The tree is every live process whose process group is the leader's, plus every descendant
//!   of a tree process by parent links, whatever group or session it moved to (`setsid`). A
//!   process once seen in the tree stays in it while it lives, even when its parent dies and it
//!   is re-parented out of the tree.
//! * CPU between two samples is the growth of `utime + stime` of every tree process (all of a
//!   process's ticks when it is new). A worker that exits between two samples would take the
//!   ticks of its last interval with it. They are recovered from the growth of its parent's
//!   `cutime + cstime` (children it waited for), minus what the sampler had already counted
//!   for that worker. So CPU stays right across worker replacement without counting anything
//!   twice. A sum of `cpu_pct × interval` over many samples telescopes to the exact tick count.
//! * Memory: RSS, PSS and USS from `/proc/PID/smaps_rollup` (RSS from `/proc/PID/stat` and
//!   PSS = USS = RSS where that is unreadable). PSS divides each page among the processes that
//!   share it, so copy-on-write pages shared by a master and its workers count once in the
//!   tree's total, where RSS counts them once per process.
//!
//! One pass over `/proc/*/stat` per sample, then a second read of the tree's own `stat` and
//! `smaps_rollup` files.
//!
//! Reading `smaps_rollup` walks the page tables of a process, under its memory lock: 0.8 ms for
//! a 30 MB Python worker, 160 ms for uwsgi's 200 workers. Read every 250 ms, that would take
//! most of a core from the machine under test and stall the workers' page faults. So memory is
//! read only as often as keeps its reads under [`MEMORY_READ_SHARE`] of the time; the samples in
//! between repeat the last memory values. CPU and process counts are read at every sample.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use super::proc_stat::{ProcReader, Stat};
use crate::results::resources::ResourceSample;

/// The most of the time the sampler spends reading memory: after a read that took `t`, the next
/// one comes no sooner than `t / MEMORY_READ_SHARE` later (at every sample for small trees).
pub const MEMORY_READ_SHARE: f64 = 0.05;

/// Samples the resource use of one process tree; see the module documentation.
pub struct ResourceSampler {
    leader: i32,
    /// The leader's start time, to ignore another process that reuses its pid.
    leader_start: Option<u64>,
    created: Instant,
    last_at: Instant,
    last_client_cpu: Option<Duration>,
    ticks_per_second: f64,
    page_size: u64,
    /// `/proc/PID/smaps_rollup` exists on this kernel (Linux 4.14+).
    smaps_rollup: bool,
    /// Tree processes as of the previous sample (zombies included: their CPU is final until a
    /// parent reaps them), by pid.
    members: HashMap<i32, Member>,
    pss_fallback: bool,
    /// Memory of the last read (RSS, PSS, USS), repeated until the next one.
    memory: (u64, u64, u64),
    /// When memory may be read again, per [`MEMORY_READ_SHARE`].
    next_memory_read: Instant,
    /// Reused between samples.
    scan: Vec<Stat>,
    reader: ProcReader,
}

/// A tree process as of the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    start: u64,
    ticks: u64,
    cticks: u64,
    ppid: i32,
    /// Start time of its parent, when the parent was in the tree.
    parent_start: Option<u64>,
    /// Ticks of children that vanished before this process's `cticks` were seen to grow by
    /// them: the parent's stat can be read just before it reaps a child whose own stat is then
    /// gone. Subtracted from the next sample's growth, then forgotten.
    debt: u64,
}

/// A read of a `/proc/PID/*` file failed because the process is gone (or going).
fn is_vanished(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(nix::libc::ESRCH)
}

impl ResourceSampler {
    /// Samples the tree of `leader` (the variant's process group leader, pgid == leader pid).
    /// Reads `/proc` once to know what the tree has used so far.
    pub fn new(leader: i32) -> ResourceSampler {
        let now = Instant::now();
        let ticks = procfs::ticks_per_second();
        let page_size = procfs::page_size();
        let mut sampler = ResourceSampler {
            leader,
            leader_start: None,
            created: now,
            last_at: now,
            last_client_cpu: own_cpu_time(),
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page_size > 0 { page_size } else { 4096 },
            smaps_rollup: std::path::Path::new("/proc/self/smaps_rollup").exists(),
            members: HashMap::new(),
            pss_fallback: false,
            memory: (0, 0, 0),
            next_memory_read: now,
            scan: Vec::new(),
            reader: ProcReader::new(),
        };
        if leader > 0 {
            if let Ok(stat) = sampler.reader.stat(leader) {
                sampler.leader_start = Some(stat.start);
            }
        }
        sampler.observe(false);
        sampler
    }

    /// Reads `/proc` now. The first call's CPU covers the time since `new`.
    pub fn sample(&mut self) -> ResourceSample {
        let now = Instant::now();
        let client_cpu = own_cpu_time();
        let read_memory = now >= self.next_memory_read;
        let tally = self.observe(read_memory);
        if read_memory {
            self.memory = (tally.rss_bytes, tally.pss_bytes, tally.uss_bytes);
            self.next_memory_read = now + now.elapsed().div_f64(MEMORY_READ_SHARE);
        }
        let (rss_bytes, pss_bytes, uss_bytes) = self.memory;
        let elapsed = now.saturating_duration_since(self.last_at);
        self.last_at = now;
        let client_seconds = match (client_cpu, self.last_client_cpu) {
            (Some(now), Some(before)) => now.saturating_sub(before).as_secs_f64(),
            _ => 0.0,
        };
        if client_cpu.is_some() {
            self.last_client_cpu = client_cpu;
        }
        ResourceSample {
            at: now.saturating_duration_since(self.created),
            cpu_pct: percent(tally.ticks as f64 / self.ticks_per_second, elapsed),
            rss_bytes,
            pss_bytes,
            uss_bytes,
            processes: tally.processes,
            threads: tally.threads,
            client_cpu_pct: percent(client_seconds, elapsed),
        }
    }

    /// Whether the last sample had to use RSS for the PSS and USS of some process, because its
    /// `smaps_rollup` was unreadable (another user's process, Linux older than 4.14). The
    /// sample's PSS and USS are then upper bounds.
    pub fn pss_fallback(&self) -> bool {
        self.pss_fallback
    }

    /// One pass over `/proc`: finds the tree, updates the CPU bookkeeping and, if `memory`,
    /// reads the tree's memory.
    fn observe(&mut self, memory: bool) -> Tally {
        let mut scan = std::mem::take(&mut self.scan);
        scan.clear();
        let _ = self.reader.for_each_process(|stat| scan.push(stat));
        // Read the tree's stat again, parents before children: a child then either still shows
        // in /proc, and its parent's cticks do not contain it yet, or it is gone, and its
        // parent's cticks contain it now or by the next sample. Read in pid order, a child with
        // a lower pid than its parent (pids wrap around) reaped between the two reads would be
        // counted twice, its own ticks and in the parent's cticks.
        let order = self.parents_first(&scan);
        let mut current = Vec::with_capacity(order.len());
        let mut tally = Tally::default();
        let mut fallback = false;
        for i in order {
            let Ok(stat) = self.reader.stat(scan[i].pid) else {
                continue;
            };
            if stat.start != scan[i].start {
                continue;
            }
            current.push(stat);
            if !stat.running() {
                continue;
            }
            if memory {
                let (rss, pss, uss) = match self.smaps(stat.pid) {
                    Ok(Some(memory)) => memory,
                    Ok(None) => {
                        fallback = true;
                        let rss = stat.rss_pages * self.page_size;
                        (rss, rss, rss)
                    }
                    // Exited between the two reads: skipped.
                    Err(()) => continue,
                };
                tally.rss_bytes += rss;
                tally.pss_bytes += pss;
                tally.uss_bytes += uss;
            }
            tally.processes += 1;
            tally.threads += stat.threads;
        }
        tally.ticks = self.account(&current);
        if memory {
            self.pss_fallback = fallback;
        }
        self.scan = scan;
        tally
    }

    /// Indices into `scan` of the tree's processes, every parent before its children.
    fn parents_first(&self, scan: &[Stat]) -> Vec<usize> {
        let index: HashMap<i32, usize> = scan.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let leader_valid = self.leader > 0
            && match (self.leader_start, index.get(&self.leader)) {
                (Some(start), Some(&i)) => scan[i].start == start,
                _ => true,
            };
        // Membership, memoized along parent chains: 0 unknown, 1 in the tree, 2 not.
        let mut state = vec![0u8; scan.len()];
        let mut chain = Vec::new();
        for i in 0..scan.len() {
            let mut cur = i;
            let verdict = loop {
                if state[cur] != 0 {
                    break state[cur];
                }
                let p = &scan[cur];
                let sticky = self.members.get(&p.pid).is_some_and(|m| m.start == p.start);
                if sticky || (leader_valid && (p.pid == self.leader || p.pgrp == self.leader)) {
                    break 1;
                }
                chain.push(cur);
                match index.get(&p.ppid) {
                    // A cycle is impossible in one instant; a scan spans several.
                    Some(&parent) if chain.len() <= scan.len() => cur = parent,
                    _ => break 2,
                }
            };
            state[cur] = verdict;
            for &c in &chain {
                state[c] = verdict;
            }
            chain.clear();
        }
        // Breadth first from the members whose parent is not a member.
        let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for (i, p) in scan.iter().enumerate() {
            if state[i] != 1 {
                continue;
            }
            match index.get(&p.ppid) {
                Some(&parent) if state[parent] == 1 && parent != i => {
                    children.entry(p.ppid).or_default().push(i)
                }
                _ => order.push(i),
            }
        }
        let mut next = 0;
        while next < order.len() {
            if let Some(kids) = children.remove(&scan[order[next]].pid) {
                order.extend(kids);
            }
            next += 1;
        }
        // Members on a parent cycle (a scan that saw pids reused) are never reached; keep them.
        for kids in children.into_values() {
            for kid in kids {
                if !order.contains(&kid) {
                    order.push(kid);
                }
            }
        }
        order
    }

    /// CPU ticks the tree used since the previous call, `current` being the tree now (zombies
    /// included); makes `current` the new previous state.
    fn account(&mut self, current: &[Stat]) -> u64 {
        let index: HashMap<i32, usize> = current
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pid, i))
            .collect();
        let alive = |pid: i32, start: Option<u64>| {
            index
                .get(&pid)
                .copied()
                .filter(|&i| Some(current[i].start) == start)
        };
        // Each process that vanished since the previous call was reaped, normally by its
        // parent, whose cticks grew by all the ticks it ever had (its children's included).
        // What was already counted for it is owed by the nearest live ancestor.
        let mut owed = vec![0u64; current.len()];
        for (&pid, gone) in &self.members {
            if alive(pid, Some(gone.start)).is_some() {
                continue;
            }
            let (mut ppid, mut pstart) = (gone.ppid, gone.parent_start);
            for _ in 0..=self.members.len() {
                if let Some(i) = alive(ppid, pstart) {
                    owed[i] += gone.ticks + gone.cticks;
                    break;
                }
                // The parent vanished too: its own reaper got both.
                match self.members.get(&ppid) {
                    Some(parent) if Some(parent.start) == pstart => {
                        (ppid, pstart) = (parent.ppid, parent.parent_start);
                    }
                    _ => break,
                }
            }
        }
        let mut ticks = 0u64;
        let mut members = HashMap::with_capacity(current.len());
        for (i, p) in current.iter().enumerate() {
            let before = self
                .members
                .get(&p.pid)
                .filter(|m| m.start == p.start)
                .copied();
            // New since the previous call: all its ticks are new, its reaped children too.
            let (ticks0, cticks0, debt) = before.map_or((0, 0, 0), |m| (m.ticks, m.cticks, m.debt));
            let reaped = p.cticks.saturating_sub(cticks0);
            let due = owed[i] + debt;
            ticks += p.ticks.saturating_sub(ticks0) + reaped.saturating_sub(due);
            members.insert(
                p.pid,
                Member {
                    start: p.start,
                    ticks: p.ticks,
                    cticks: p.cticks,
                    ppid: p.ppid,
                    parent_start: index.get(&p.ppid).map(|&j| current[j].start),
                    // Only what this call found owed waits one more sample.
                    debt: due.saturating_sub(reaped).min(owed[i]),
                },
            );
        }
        self.members = members;
        ticks
    }

    /// RSS, PSS and USS in bytes from `/proc/PID/smaps_rollup`: `Ok(None)` if unreadable for
    /// another reason than the process being gone (`Err`).
    fn smaps(&mut self, pid: i32) -> Result<Option<(u64, u64, u64)>, ()> {
        if !self.smaps_rollup {
            return Ok(None);
        }
        match self.reader.file(pid, "smaps_rollup") {
            Ok(text) => Ok(parse_smaps_rollup(text)
                .map(|(rss, pss, uss)| (rss * 1024, pss * 1024, uss * 1024))),
            Err(e) if is_vanished(&e) => Err(()),
            Err(_) => Ok(None),
        }
    }

    #[cfg(test)]
    fn member_pids(&self) -> Vec<i32> {
        self.members.keys().copied().collect()
    }
}

#[derive(Debug, Default)]
struct Tally {
    ticks: u64,
    rss_bytes: u64,
    pss_bytes: u64,
    uss_bytes: u64,
    processes: u32,
    threads: u32,
}

/// `seconds` of CPU over `elapsed` as a percentage of one core; 0 rather than NaN or negative.
fn percent(seconds: f64, elapsed: Duration) -> f64 {
    let elapsed = elapsed.as_secs_f64();
    let pct = seconds / elapsed * 100.0;
    if elapsed > 0.0 && pct.is_finite() && pct > 0.0 {
        pct
    } else {
        0.0
    }
}

/// CPU time of benchrig's process, all threads. The kernel's counter behind `utime + stime` in
/// `/proc/self/stat`, in nanoseconds instead of 10 ms ticks (±4 points at 250 ms otherwise).
fn own_cpu_time() -> Option<Duration> {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID) {
        Ok(time) => Some(Duration::from(time)),
        Err(_) => {
            let stat = ProcReader::new().stat(std::process::id() as i32).ok()?;
            let ticks = procfs::ticks_per_second().max(1);
            Some(Duration::from_secs_f64(stat.ticks as f64 / ticks as f64))
        }
    }
}

/// `(Rss, Pss, Private_Clean + Private_Dirty)` in kB from `/proc/PID/smaps_rollup`.
fn parse_smaps_rollup(text: &[u8]) -> Option<(u64, u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut rss = None;
    let mut pss = None;
    let mut private = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kb = || -> Option<u64> { value.trim().strip_suffix("kB")?.trim().parse().ok() };
        match key {
            "Rss" => rss = kb(),
            "Pss" => pss = kb(),
            "Private_Clean" | "Private_Dirty" => private += kb()?,
            _ => {}
        }
    }
    Some((rss?, pss?, private))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::proc_stat::all_processes;
    use std::fmt::Write as _;
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Mutex, MutexGuard};
    use std::thread::sleep;

    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;

    const MIB: u64 = 1024 * 1024;

    /// CPU figures need the cores this file can get: its tests run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A child leading its own process group. Dropping it, also when a test fails, SIGKILLs its
    /// whole tree (descendants that left the group included) and reaps it. The leader also gets
    /// SIGKILL if the test thread dies; fixtures bound their workers' lifetime themselves.
    struct Tree {
        child: Child,
        also_kill: Vec<i32>,
    }

    impl Tree {
        fn spawn(command: &mut Command) -> Tree {
            command.process_group(0).stdin(Stdio::null());
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
                });
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
            Tree {
                child,
                also_kill: Vec::new(),
            }
        }

        fn sh(script: &str) -> Tree {
            Tree::spawn(Command::new("sh").args(["-c", script]))
        }

        fn pid(&self) -> i32 {
            self.child.id() as i32
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let pgid = self.pid();
            let mut pids = ResourceSampler::new(pgid).member_pids();
            pids.extend(&self.also_kill);
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Samples until `done` holds (returning that sample) or panics after `timeout`.
    fn sample_until(
        sampler: &mut ResourceSampler,
        timeout: Duration,
        what: &str,
        done: impl Fn(&ResourceSample) -> bool,
    ) -> ResourceSample {
        let deadline = Instant::now() + timeout;
        loop {
            let sample = sampler.sample();
            if done(&sample) {
                return sample;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in {timeout:?}: {sample:?}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// On-CPU time of a process's main thread from `/proc/PID/schedstat`, in nanoseconds: an
    /// independent, nanosecond measure to check the tick-based figures against.
    fn schedstat_ns(pid: i32) -> Option<(u64, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
        let mut fields = text.split_whitespace();
        let on_cpu = fields.next()?.parse().ok()?;
        let waiting = fields.next()?.parse().ok()?;
        Some((on_cpu, waiting))
    }

    fn check_sane(sample: &ResourceSample) {
        for value in [sample.cpu_pct, sample.client_cpu_pct] {
            assert!(value.is_finite() && value >= 0.0, "{sample:?}");
        }
    }

    // --- parsing and bookkeeping, without processes ---

    #[test]
    fn parses_smaps_rollup() {
        let text = b"55d0c0a0e000-7ffd5a3f1000 ---p 00000000 00:00 0    [rollup]\n\
                     Rss:               61440 kB\nPss:               15872 kB\n\
                     Pss_Dirty:         12800 kB\nPss_Anon:          12800 kB\n\
                     Shared_Clean:       3000 kB\nShared_Dirty:      51200 kB\n\
                     Private_Clean:       120 kB\nPrivate_Dirty:      7120 kB\nSwap: 0 kB\n";
        assert_eq!(parse_smaps_rollup(text), Some((61440, 15872, 7240)));
        assert_eq!(parse_smaps_rollup(b""), None);
    }

    fn stat(pid: i32, ppid: i32, ticks: u64, cticks: u64) -> Stat {
        Stat {
            pid,
            ppid,
            pgrp: 100,
            session: 100,
            state: b'S',
            ticks,
            cticks,
            threads: 1,
            start: pid as u64,
            rss_pages: 0,
        }
    }

    fn offline(leader: i32) -> ResourceSampler {
        let mut sampler = ResourceSampler::new(-1);
        sampler.leader = leader;
        sampler
    }

    #[test]
    fn replaced_worker_counts_its_last_interval_once() {
        let mut s = offline(100);
        // A master (100) and a worker (101) that has used 40 ticks.
        assert_eq!(s.account(&[stat(100, 1, 5, 0), stat(101, 100, 40, 0)]), 45);
        // The worker used 10 more ticks, exited and was reaped (cticks + 50); its replacement
        // (102) used 7. Counting the master's whole cticks growth would say 67.
        assert_eq!(s.account(&[stat(100, 1, 5, 50), stat(102, 100, 7, 0)]), 17);
        // Nothing happened.
        assert_eq!(s.account(&[stat(100, 1, 5, 50), stat(102, 100, 7, 0)]), 0);
    }

    #[test]
    fn worker_reaped_after_its_parent_was_read_is_counted_one_sample_late() {
        let mut s = offline(100);
        s.account(&[stat(100, 1, 5, 0), stat(101, 100, 40, 0)]);
        // The worker is gone, but the master's stat was read before it reaped it.
        assert_eq!(s.account(&[stat(100, 1, 5, 0), stat(102, 100, 3, 0)]), 3);
        // Now the master's cticks show the worker's 46 ticks: 6 of them were not counted yet.
        assert_eq!(s.account(&[stat(100, 1, 5, 46), stat(102, 100, 5, 0)]), 8);
        // The debt is forgotten after one sample: a later child reaped is counted in full.
        assert_eq!(s.account(&[stat(100, 1, 5, 66), stat(102, 100, 5, 0)]), 20);
    }

    #[test]
    fn reaped_grandchildren_and_unreaped_exits_never_go_negative() {
        let mut s = offline(100);
        s.account(&[
            stat(100, 1, 1, 0),
            stat(101, 100, 10, 0),
            stat(102, 101, 20, 0),
        ]);
        // 102 (2 more ticks) was reaped by 101, which (3 more ticks) was reaped by 100.
        assert_eq!(s.account(&[stat(100, 1, 1, 35)]), 5);
        // A new worker exits unseen and is reaped: all its ticks are new.
        assert_eq!(s.account(&[stat(100, 1, 1, 47)]), 12);
        // Workers reaped without cticks (SIGCHLD ignored) lose their last interval, nothing more.
        s.account(&[stat(100, 1, 1, 47), stat(103, 100, 30, 0)]);
        assert_eq!(s.account(&[stat(100, 1, 2, 47)]), 1);
        // A reused pid is a new process.
        let mut reused = stat(100, 1, 4, 0);
        reused.start = 7;
        assert_eq!(s.account(&[reused]), 4);
    }

    #[test]
    fn tree_follows_setsid_and_orphans_but_not_a_reused_leader_pid() {
        let mut s = offline(100);
        let mut escaped = stat(102, 101, 0, 0);
        escaped.pgrp = 102; // setsid
        let mut grandchild = stat(103, 102, 0, 0);
        grandchild.pgrp = 102;
        let other = |pid, ppid| Stat {
            pgrp: 1,
            ..stat(pid, ppid, 0, 0)
        };
        let scan = [
            other(1, 0),
            other(50, 1),
            stat(100, 50, 0, 0),
            stat(101, 100, 0, 0),
            escaped,
            grandchild,
            other(104, 50),
        ];
        let order: Vec<i32> = s
            .parents_first(&scan)
            .iter()
            .map(|&i| scan[i].pid)
            .collect();
        assert_eq!(order, [100, 101, 102, 103]);
        let tree: Vec<Stat> = order.iter().map(|&pid| scan[pid as usize - 98]).collect();
        s.account(&tree);
        // The leader and 101 died; 102 was re-parented to 50 (a subreaper): still in the tree.
        let orphan = Stat {
            ppid: 50,
            ..escaped
        };
        let scan = [other(1, 0), other(50, 1), orphan, grandchild];
        let order: Vec<i32> = s
            .parents_first(&scan)
            .iter()
            .map(|&i| scan[i].pid)
            .collect();
        assert_eq!(order, [102, 103]);
        // Another process got pid 100 and leads a group 100 again: not the variant's.
        let mut s = offline(100);
        s.leader_start = Some(100);
        let impostor = Stat {
            start: 9999,
            ..stat(100, 1, 0, 0)
        };
        assert!(s
            .parents_first(&[impostor, stat(101, 100, 0, 0)])
            .is_empty());
    }

    // --- real processes ---

    #[test]
    fn busy_loop_uses_one_core_and_sleep_uses_none() {
        let _serial = serial();
        let busy = Tree::sh("while :; do :; done");
        let idle = Tree::spawn(Command::new("sleep").arg("30"));
        let mut busy_sampler = ResourceSampler::new(busy.pid());
        let mut idle_sampler = ResourceSampler::new(idle.pid());
        let (on_cpu_before, waited_before) = schedstat_ns(busy.pid()).unwrap();
        let wall = Instant::now();
        sleep(Duration::from_secs(1));
        let sample = busy_sampler.sample();
        let (on_cpu_after, waited_after) = schedstat_ns(busy.pid()).unwrap();
        let wall = wall.elapsed().as_secs_f64();
        let quiet = idle_sampler.sample();
        check_sane(&sample);
        check_sane(&quiet);
        // What the scheduler says the loop got, to the nanosecond, and how long it waited for
        // a core (other engineers' builds share this machine).
        let reference = (on_cpu_after - on_cpu_before) as f64 / 1e9 / wall * 100.0;
        let waited = (waited_after - waited_before) as f64 / 1e9 / wall * 100.0;
        eprintln!("busy: {sample:?}\n  schedstat: {reference:.1} % on CPU, {waited:.1} % waiting");
        eprintln!("idle: {quiet:?}");
        assert!(
            (sample.cpu_pct - reference).abs() < 5.0,
            "sampler {:.1} % vs schedstat {reference:.1} %",
            sample.cpu_pct
        );
        // A busy loop is one core, unless it had to wait for one.
        let low = if waited > 20.0 {
            100.0 - waited - 15.0
        } else {
            70.0
        };
        assert!(
            sample.cpu_pct > low && sample.cpu_pct < 130.0,
            "{:.1} % (waited {waited:.1} %)",
            sample.cpu_pct
        );
        assert_eq!((sample.processes, sample.threads), (1, 1));
        assert!(sample.rss_bytes > 0 && sample.pss_bytes > 0 && sample.uss_bytes > 0);
        assert!(quiet.cpu_pct < 5.0, "{quiet:?}");
        assert_eq!((quiet.processes, quiet.threads), (1, 1));
    }

    #[test]
    fn prefork_workers_share_the_masters_pages() {
        let _serial = serial();
        let master = Tree::spawn(
            Command::new("python3")
                .args([&fixture("prefork.py"), "50", "3", "60"])
                .stdout(Stdio::null()),
        );
        let mut sampler = ResourceSampler::new(master.pid());
        let sample = sample_until(&mut sampler, Duration::from_secs(15), "4 processes", |s| {
            s.processes == 4 && s.rss_bytes > 4 * 50 * MIB
        });
        sleep(Duration::from_millis(300));
        let sample = ResourceSample {
            cpu_pct: sample.cpu_pct,
            ..sampler.sample()
        };
        eprintln!(
            "prefork: {sample:?}\n  RSS {} MiB, PSS {} MiB, USS {} MiB",
            sample.rss_bytes / MIB,
            sample.pss_bytes / MIB,
            sample.uss_bytes / MIB
        );
        check_sane(&sample);
        assert!(!sampler.pss_fallback());
        assert_eq!((sample.processes, sample.threads), (4, 4));
        assert!(sample.rss_bytes > 4 * 50 * MIB, "{sample:?}");
        assert!(sample.pss_bytes > 40 * MIB, "{sample:?}");
        assert!(
            (sample.pss_bytes as f64) < 0.5 * sample.rss_bytes as f64,
            "{sample:?}"
        );
        // The 50 MiB are shared by four processes: private to none.
        assert!(sample.uss_bytes < sample.pss_bytes - 30 * MIB, "{sample:?}");
    }

    #[test]
    fn cpu_stays_at_one_core_while_workers_are_replaced() {
        let _serial = serial();
        let generations = 5;
        let mut master = Tree::spawn(
            Command::new("python3")
                .args([&fixture("churn.py"), &generations.to_string(), "0.5", "1.0"])
                .stdout(Stdio::piped()),
        );
        let mut sampler = ResourceSampler::new(master.pid());
        let mut samples = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while master.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "churn.py did not finish");
            sleep(Duration::from_millis(250));
            samples.push(sampler.sample());
        }
        samples.pop(); // may have seen the master exit
        let mut report = String::new();
        let stdout = master.child.stdout.take().unwrap();
        let mut lines = Vec::new();
        for line in io::BufReader::new(stdout).lines() {
            lines.push(line.unwrap());
        }
        // "worker G wall SECONDS cpu SECONDS" per worker, then "total cpu SECONDS".
        let field = |line: &str, name: &str| -> f64 {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == name).unwrap();
            words[at + 1].parse().unwrap()
        };
        let workers: Vec<(f64, f64)> = lines
            .iter()
            .filter(|l| l.starts_with("worker"))
            .map(|l| (field(l, "wall"), field(l, "cpu")))
            .collect();
        assert_eq!(workers.len(), generations, "{lines:?}");
        let total_cpu = field(lines.last().unwrap(), "cpu");
        let worker_wall: f64 = workers.iter().map(|w| w.0).sum();
        let worker_cpu: f64 = workers.iter().map(|w| w.1).sum();
        // Share of a core the workers got: 1 unless the machine was busy.
        let got = worker_cpu / worker_wall * 100.0;
        let mut integral = 0.0;
        let mut previous = Duration::ZERO;
        for s in &samples {
            check_sane(s);
            integral += s.cpu_pct / 100.0 * (s.at - previous).as_secs_f64();
            previous = s.at;
            let _ = writeln!(
                report,
                "  {:>6.3}s cpu {:>5.1} % processes {}",
                s.at.as_secs_f64(),
                s.cpu_pct,
                s.processes
            );
        }
        eprintln!(
            "churn: workers got {got:.1} % of a core; CPU by the sampler {integral:.3} s, \
             by the fixture {total_cpu:.3} s\n{report}"
        );
        // Nothing lost and nothing counted twice over the whole run (the sampler starts a few
        // ms after the fixture and ends at its last sample, during a one-second idle tail).
        assert!(
            (integral - total_cpu).abs() < 0.06,
            "sampler {integral:.3} s vs fixture {total_cpu:.3} s"
        );
        // While workers run, every 250 ms sample is near one core (what the workers got of one),
        // replacements included: a worker's lost last interval would take 50 points on average
        // from a sample, its whole life counted twice (parent's cticks) add 200.
        let busy: Vec<&ResourceSample> = samples
            .iter()
            .filter(|s| s.at.as_secs_f64() > 0.4 && s.at.as_secs_f64() < worker_wall - 0.1)
            .collect();
        assert!(busy.len() >= 6, "{report}");
        for s in &busy {
            assert!(
                (s.cpu_pct - got).abs() < 35.0 && s.cpu_pct > 70.0_f64.min(got - 35.0),
                "{:.1} % at {:?}, workers got {got:.1} %\n{report}",
                s.cpu_pct,
                s.at
            );
        }
        let two = busy.iter().filter(|s| s.processes == 2).count();
        assert!(
            busy.iter().all(|s| (1..=3).contains(&s.processes)) && two * 10 >= busy.len() * 8,
            "{report}"
        );
    }

    #[test]
    fn a_child_that_called_setsid_is_still_counted() {
        let _serial = serial();
        let mut leader = Tree::sh("setsid sleep 30 & wait");
        let pgid = leader.pid();
        // The child of the leader that runs in a session of its own.
        let deadline = Instant::now() + Duration::from_secs(5);
        let escaped = loop {
            let found = all_processes()
                .into_iter()
                .find(|stat| stat.ppid == pgid && stat.session == stat.pid)
                .map(|stat| stat.pid);
            if let Some(pid) = found {
                break pid;
            }
            assert!(Instant::now() < deadline, "setsid sleep did not start");
            sleep(Duration::from_millis(20));
        };
        leader.also_kill.push(escaped);
        assert_eq!(crate::process::group::running_members(pgid), [pgid]);
        let mut sampler = ResourceSampler::new(pgid);
        let sample = sampler.sample();
        check_sane(&sample);
        assert_eq!((sample.processes, sample.threads), (2, 2), "{sample:?}");
        // Its parent dies and it is re-parented out of the tree: still counted.
        let _ = kill(Pid::from_raw(pgid), Signal::SIGKILL);
        leader.child.wait().unwrap();
        let sample = sample_until(&mut sampler, Duration::from_secs(5), "1 process", |s| {
            s.processes == 1
        });
        assert_eq!(sample.threads, 1);
        assert_eq!(sampler.member_pids(), [escaped]);
    }

    #[test]
    fn client_cpu_counts_this_process() {
        let _serial = serial();
        let idle = Tree::spawn(Command::new("sleep").arg("30"));
        let mut sampler = ResourceSampler::new(idle.pid());
        let thread_cpu = || {
            let time = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID);
            Duration::from(time.unwrap()).as_secs_f64()
        };
        let before = sampler.sample();
        let spun_from = thread_cpu();
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            std::hint::black_box(0);
        }
        let spun = thread_cpu() - spun_from;
        let after = sampler.sample();
        check_sane(&after);
        let interval = (after.at - before.at).as_secs_f64();
        eprintln!("client: spun {spun:.3} s in {interval:.3} s: {after:?}");
        assert!(after.client_cpu_pct > 0.0);
        // The process used at least what this thread did.
        assert!(
            after.client_cpu_pct / 100.0 * interval >= spun - 1e-6,
            "{:.1} % over {interval:.3} s < {spun:.3} s spun",
            after.client_cpu_pct
        );
        assert!(after.cpu_pct < 5.0, "{after:?}");
        // Back-to-back samples (microseconds apart) and a tree that does not exist.
        for _ in 0..200 {
            check_sane(&sampler.sample());
        }
        let mut nobody = ResourceSampler::new(i32::MAX);
        let empty = nobody.sample();
        check_sane(&empty);
        assert_eq!(
            (empty.processes, empty.rss_bytes, empty.cpu_pct),
            (0, 0, 0.0)
        );
    }

    #[test]
    fn a_sample_of_ten_processes_is_cheap() {
        let _serial = serial();
        let tree = Tree::sh("for i in 1 2 3 4 5 6 7 8 9; do sleep 30 & done; wait");
        let mut sampler = ResourceSampler::new(tree.pid());
        sample_until(&mut sampler, Duration::from_secs(5), "10 processes", |s| {
            s.processes == 10
        });
        let machine = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        let mut times = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let sample = sampler.sample();
            times.push(started.elapsed());
            assert_eq!(sample.processes, 10);
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        eprintln!(
            "sample of 10 processes ({machine} on the machine): mean {mean:?}, median {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
        assert!(mean < Duration::from_millis(25), "{mean:?}");
    }
}
