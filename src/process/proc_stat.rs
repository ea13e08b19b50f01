//! `/proc/PID/stat` (proc(5)), the one parser of it. Cheap enough for the resource sampler to
//! read every process on the machine at every sample: a [`ProcReader`] reuses one path and one
//! buffer, and a [`Stat`] is a few numbers, so nothing is allocated per process.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};

/// What one `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// One letter: `R` running, `S` sleeping, `Z` zombie, `X` dead, …
    pub state: u8,
    /// utime + stime of all its threads, clock ticks.
    pub ticks: u64,
    /// cutime + cstime: children (and their reaped children) it has waited for, clock ticks.
    pub cticks: u64,
    pub threads: u32,
    /// Clock ticks after boot: with the pid, identifies a process.
    pub start: u64,
    pub rss_pages: u64,
}

impl Stat {
    /// Not a zombie. A leader thread that exited while other threads run shows `Z` too, but
    /// its process is alive (a real zombie has one thread left).
    pub fn running(&self) -> bool {
        match self.state {
            b'Z' => self.threads > 1,
            b'X' | b'x' => false,
            _ => true,
        }
    }
}

/// Parses the text of `/proc/PID/stat`; the command name, in parentheses, may hold anything.
pub fn parse(text: &[u8]) -> Option<Stat> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let pid = std::str::from_utf8(&text[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let mut fields = std::str::from_utf8(text.get(close + 1..)?)
        .ok()?
        .split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?; // 3
    let ppid = fields.next()?.parse().ok()?; // 4
    let pgrp = fields.next()?.parse().ok()?; // 5
    let session = fields.next()?.parse().ok()?; // 6
    let utime: u64 = fields.nth(7)?.parse().ok()?; // 14
    let stime: u64 = fields.next()?.parse().ok()?; // 15
    let cutime: i64 = fields.next()?.parse().ok()?; // 16
    let cstime: i64 = fields.next()?.parse().ok()?; // 17
    let threads = fields.nth(2)?.parse().ok()?; // 20
    let start = fields.nth(1)?.parse().ok()?; // 22
    let rss: i64 = fields.nth(1)?.parse().ok()?; // 24
    Some(Stat {
        pid,
        ppid,
        pgrp,
        session,
        state,
        ticks: utime + stime,
        cticks: cutime.max(0) as u64 + cstime.max(0) as u64,
        threads,
        start,
        rss_pages: rss.max(0) as u64,
    })
}

/// Every process on the machine now; those that vanish while being read are left out.
pub fn all_processes() -> Vec<Stat> {
    let mut all = Vec::new();
    let _ = ProcReader::new().for_each_process(|stat| all.push(stat));
    all
}

/// Reads `/proc/PID/*` files into one reused buffer.
#[derive(Debug, Default)]
pub struct ProcReader {
    path: String,
    buf: Vec<u8>,
}

impl ProcReader {
    pub fn new() -> ProcReader {
        ProcReader {
            path: String::with_capacity(32),
            buf: Vec::with_capacity(4096),
        }
    }

    /// The stat of process `pid`.
    pub fn stat(&mut self, pid: i32) -> io::Result<Stat> {
        let text = self.file(pid, "stat")?;
        parse(text)
            .filter(|stat| stat.pid == pid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/PID/stat"))
    }

    /// The whole of `/proc/PID/NAME`, valid until the next read.
    pub fn file(&mut self, pid: i32, name: &str) -> io::Result<&[u8]> {
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/{name}");
        read_file(&self.path, &mut self.buf)?;
        Ok(&self.buf)
    }

    /// Calls `each` with the stat of every process on the machine (one pass over `/proc`);
    /// fails only when `/proc` cannot be listed.
    pub fn for_each_process(&mut self, mut each: impl FnMut(Stat)) -> io::Result<()> {
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(stat) = self.stat(pid) {
                each(stat);
            }
        }
        Ok(())
    }
}

/// Reads a whole (small, /proc) file into `buf`, without the size queries of `fs::read`.
fn read_file(path: &str, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut file = File::open(path)?;
    let mut chunk = [0u8; 4096];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_hostile_command_name() {
        let line = b"4242 (a) b (c)) R 1 4242 4000 0 -1 4194560 100 0 0 0 37 5 12 3 20 0 3 0 \
                     987654 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n";
        assert_eq!(
            parse(line),
            Some(Stat {
                pid: 4242,
                ppid: 1,
                pgrp: 4242,
                session: 4000,
                state: b'R',
                ticks: 42,
                cticks: 15,
                threads: 3,
                start: 987654,
                rss_pages: 2560,
            })
        );
        assert_eq!(parse(b"12 (x) S 1"), None);
    }

    #[test]
    fn reads_this_process_and_finds_it_among_all() {
        let pid = std::process::id() as i32;
        let me = ProcReader::new().stat(pid).unwrap();
        assert_eq!(me.pid, pid);
        assert!(me.threads >= 1 && me.rss_pages > 0 && me.running());
        assert!(all_processes()
            .iter()
            .any(|p| p.pid == pid && p.ppid == me.ppid));
        assert!(ProcReader::new().stat(i32::MAX).is_err());
    }
}
