//! Shared helpers, so that each test reads as what it checks:
//!
//! - [`Experiment`]: a manifest built line by line, run by the real benchrig in a temporary
//!   directory ([`Experiment::run`], or [`Experiment::spawn`] to signal it while it runs);
//! - [`benchrig`]: any other command (`validate`, `report`, `compare`, `schema`, `run --check`);
//! - [`Output`]: exit code, stdout and stderr, with checks that chain and print what was seen
//!   when they fail (`out.expect_code(2).stderr_contains("…")`), and the process groups
//!   benchrig started (none may be left);
//! - [`Finished`]: an [`Output`] plus the report folder's files (summary.csv, run.json, …).

mod experiment;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use experiment::{Experiment, Finished};

pub const BENCHRIG: &str = env!("CARGO_BIN_EXE_benchrig");

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The server under test, built by `make test` (cargo build --release -p hello-rs).
pub fn hello_rs() -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("release/hello-rs");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p hello-rs` (`make test` does)",
        path.display()
    );
    path.display().to_string()
}

/// `servers/python/.venv/bin`, built by `make venv` (`make test` builds it). Panics with the
/// fix when the venv is missing or older than servers/python/requirements.txt.
pub fn python_venv() -> PathBuf {
    let python = repo_root().join("servers/python");
    let venv = python.join(".venv");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let stamp = modified(&venv.join(".requirements.stamp"));
    let requirements = modified(&python.join("requirements.txt"));
    assert!(
        matches!((stamp, requirements), (Some(s), Some(r)) if s >= r)
            && venv.join("bin/python").is_file(),
        "{} is missing or older than servers/python/requirements.txt: run `make venv` \
         (`make test` does)",
        venv.display()
    );
    venv.join("bin")
}

/// The nginx binary, looked up in PATH and the sbin directories (Debian puts it in /usr/sbin,
/// which is not in every user's PATH). Panics with the fix when it is not installed.
pub fn nginx() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed: run `make nginx` (`make test` does; it installs \
                 nginx-light with apt-get)"
            )
        })
}

/// `benchrig ARGS…`, to add arguments to and run: `benchrig(&["validate"]).arg(&path).run()`.
pub fn benchrig(args: &[&str]) -> Benchrig {
    let mut command = Command::new(BENCHRIG);
    command.args(args);
    Benchrig {
        command,
        line: format!("benchrig {}", args.join(" ")),
    }
}

/// A benchrig command line under construction.
pub struct Benchrig {
    command: Command,
    /// The command as typed, for failure messages.
    line: String,
}

impl Benchrig {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Benchrig {
        self.line.push(' ');
        self.line.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<A: AsRef<OsStr>>(self, args: impl IntoIterator<Item = A>) -> Benchrig {
        args.into_iter().fold(self, Benchrig::arg)
    }

    /// Runs in `dir` (relative paths in arguments and manifests start there).
    pub fn in_dir(mut self, dir: &Path) -> Benchrig {
        self.command.current_dir(dir);
        self
    }

    pub fn run(mut self) -> Output {
        let output = self.command.output().expect("run benchrig");
        Output::new(self.line, output)
    }
}

/// What a finished benchrig command printed and how it exited.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The command (and manifest) that ran, for failure messages.
    what: String,
}

impl Output {
    fn new(what: String, output: std::process::Output) -> Output {
        Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            what,
        }
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(code),
            "exit code of {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Output {
        assert_contains(&self.stdout, needle);
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Output {
        assert_lacks(&self.stdout, needle);
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Output {
        assert_contains(&self.stderr, needle);
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Output {
        assert_lacks(&self.stderr, needle);
        self
    }

    /// Process groups benchrig reported starting ("(process group N)").
    pub fn process_groups(&self) -> Vec<i32> {
        self.stderr
            .split("(process group ")
            .skip(1)
            .filter_map(|rest| rest.split(')').next()?.parse().ok())
            .collect()
    }

    /// Asserts benchrig started at least `expected` process groups and none has a process left.
    #[track_caller]
    pub fn assert_no_process_left(&self, expected: usize) -> &Output {
        let groups = self.process_groups();
        assert!(
            groups.len() >= expected,
            "expected {expected} process groups in:\n{}",
            self.stderr
        );
        for pgid in groups {
            let left = members_of_group(pgid);
            assert!(
                left.is_empty(),
                "process group {pgid} still has processes {left:?}"
            );
        }
        self
    }

    /// Asserts benchrig started no server, service or setup process: it names the process
    /// group of each one it starts.
    #[track_caller]
    pub fn assert_nothing_started(&self) -> &Output {
        self.stderr_lacks("process group")
    }
}

/// Asserts `text` contains `needle`, showing `text` when it does not.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(
        text.contains(needle),
        "expected {needle:?} in:\n{text}\n--- (end) ---"
    );
}

/// Asserts `text` does not contain `needle`, showing `text` when it does.
#[track_caller]
pub fn assert_lacks(text: &str, needle: &str) {
    assert!(
        !text.contains(needle),
        "did not expect {needle:?} in:\n{text}\n--- (end) ---"
    );
}

/// What a stand-in report.md holds: a run that fails or is interrupted must leave it alone.
const PREVIOUS_REPORT: &str = "previous report\n";

/// Writes a stand-in report.md into the report folder `dir`.
pub fn write_previous_report(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("report.md"), PREVIOUS_REPORT).unwrap();
}

/// Asserts the stand-in report.md of [`write_previous_report`] is still there, unchanged.
#[track_caller]
pub fn assert_previous_report_kept(dir: &Path) {
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md"))
            .ok()
            .as_deref(),
        Some(PREVIOUS_REPORT),
        "{}: the previous report was touched",
        dir.display()
    );
}

/// Processes of group `pgid` still running (zombies excluded): benchrig's own reading of /proc.
pub fn members_of_group(pgid: i32) -> Vec<i32> {
    benchrig::process::group::running_members(pgid)
}

/// A CSV row by column name.
pub type Row = HashMap<String, String>;

pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed CSV row");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[track_caller]
pub fn number(row: &Row, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
