//! A fluent builder for integration tests: describe a small experiment, run the real benchrig
//! binary on it against real server processes, then inspect exit code, CSVs, report and /proc.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BENCHRIG: &str = env!("CARGO_BIN_EXE_benchrig");

/// The server under test, built by `make test` (cargo build --release -p hello-rs).
pub fn hello_rs() -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("release/hello-rs");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p hello-rs` (`make test` does)",
        path.display()
    );
    path.display().to_string()
}

/// An experiment under construction.
pub struct Experiment {
    name: String,
    variants: Vec<String>,
    warmup: Option<String>,
    phases: Vec<String>,
    requests: Vec<String>,
    assertions: Vec<String>,
    extra: Vec<String>,
    services: Vec<String>,
    dir: tempfile::TempDir,
}

impl Experiment {
    pub fn new(name: &str) -> Experiment {
        Experiment {
            name: name.to_owned(),
            variants: Vec::new(),
            warmup: None,
            phases: Vec::new(),
            requests: Vec::new(),
            assertions: Vec::new(),
            extra: Vec::new(),
            services: Vec::new(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A hello-rs variant with `threads` worker threads, ready on GET /health.
    pub fn hello(self, name: &str, threads: u32) -> Experiment {
        let server = hello_rs();
        self.variant(&format!(
            "{{ name: {name}, command: [{server}, --port, \"{{{{ port }}}}\", --threads, \"{threads}\"], ready: {{ http: /health }} }}"
        ))
    }

    /// A variant written in YAML flow style.
    pub fn variant(mut self, yaml: &str) -> Experiment {
        self.variants.push(yaml.to_owned());
        self
    }

    pub fn warmup(mut self, yaml: &str) -> Experiment {
        self.warmup = Some(yaml.to_owned());
        self
    }

    pub fn phase(mut self, yaml: &str) -> Experiment {
        self.phases.push(yaml.to_owned());
        self
    }

    pub fn request(mut self, yaml: &str) -> Experiment {
        self.requests.push(yaml.to_owned());
        self
    }

    pub fn assertion(mut self, yaml: &str) -> Experiment {
        self.assertions.push(yaml.to_owned());
        self
    }

    /// A service (started once, before the variants) written in YAML flow style.
    pub fn service(mut self, yaml: &str) -> Experiment {
        self.services.push(yaml.to_owned());
        self
    }

    /// A hello-rs service named `name` (one thread, ready on GET /health), e.g. the downstream
    /// of `/io`: variants reach it at `http://127.0.0.1:{{ services.NAME.port }}`.
    pub fn hello_service(self, name: &str) -> Experiment {
        let server = hello_rs();
        self.service(&format!(
            "{{ name: {name}, command: [{server}, --port, \"{{{{ port }}}}\"], ready: {{ http: /health }} }}"
        ))
    }

    /// Any other top-level manifest line.
    pub fn line(mut self, yaml: &str) -> Experiment {
        self.extra.push(yaml.to_owned());
        self
    }

    pub fn yaml(&self) -> String {
        let list = |items: &[String]| {
            items
                .iter()
                .map(|i| format!("  - {i}\n"))
                .collect::<String>()
        };
        let mut text = format!("name: {}\n", self.name);
        for line in &self.extra {
            text.push_str(line);
            text.push('\n');
        }
        if !self.services.is_empty() {
            text.push_str(&format!("services:\n{}", list(&self.services)));
        }
        text.push_str(&format!("variants:\n{}", list(&self.variants)));
        if let Some(w) = &self.warmup {
            text.push_str(&format!("warmup: {w}\n"));
        }
        text.push_str(&format!("phases:\n{}", list(&self.phases)));
        text.push_str(&format!("requests:\n{}", list(&self.requests)));
        if !self.assertions.is_empty() {
            text.push_str(&format!("assertions:\n{}", list(&self.assertions)));
        }
        text
    }

    /// Where the report goes: `<tmp>/reports/NAME`.
    pub fn report_dir(&self) -> PathBuf {
        self.dir.path().join("reports").join(&self.name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let manifest = self.dir.path().join(format!("{}.yaml", self.name));
        std::fs::write(&manifest, self.yaml()).expect("write manifest");
        let mut command = Command::new(BENCHRIG);
        command
            .arg("run")
            .arg(&manifest)
            .current_dir(self.dir.path());
        command
    }

    /// Runs benchrig to completion.
    pub fn run(self) -> Finished {
        let output = self.command().output().expect("run benchrig");
        Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            experiment: self,
        }
    }

    /// Starts benchrig and returns while it runs.
    pub fn spawn(self) -> Running {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start benchrig");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Running {
            child,
            stderr,
            experiment: self,
        }
    }
}

pub struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub experiment: Experiment,
}

impl Running {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until benchrig's stderr contains `text`.
    pub fn wait_for(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "benchrig never printed {text:?}; stderr so far:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal)
            .expect("signal benchrig");
    }

    /// Waits for benchrig to exit, at most `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "benchrig did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader thread drain the pipe.
        std::thread::sleep(Duration::from_millis(100));
        Finished {
            code: status.code(),
            stdout: String::new(),
            stderr: self.stderr(),
            experiment: self.experiment,
        }
    }
}

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub experiment: Experiment,
}

pub type Row = HashMap<String, String>;

impl Finished {
    pub fn expect_code(&self, code: i32) -> &Finished {
        assert_eq!(
            self.code,
            Some(code),
            "benchrig exit code\n--- manifest ---\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.experiment.yaml(),
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn report_dir(&self) -> PathBuf {
        self.experiment.report_dir()
    }

    pub fn report(&self) -> String {
        std::fs::read_to_string(self.report_dir().join("report.md")).expect("report.md")
    }

    pub fn summary(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("summary.csv"))
    }

    pub fn raw(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("raw/requests.csv"))
    }

    /// The summary row of a variant × phase.
    pub fn row(&self, variant: &str, phase: &str) -> Row {
        self.summary()
            .into_iter()
            .find(|r| r["variant"] == variant && r["phase"] == phase)
            .unwrap_or_else(|| panic!("no summary row for {variant} / {phase}"))
    }

    /// Process groups benchrig reported starting ("process group N").
    pub fn process_groups(&self) -> Vec<i32> {
        process_groups_in(&self.stderr)
    }

    /// Asserts benchrig started at least `expected` groups and none has a process left.
    pub fn assert_no_process_left(&self, expected: usize) {
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
    }
}

impl Finished {
    /// summary_by_request.csv: a row per variant × phase × trial × request name.
    pub fn by_request(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("summary_by_request.csv"))
    }

    /// run.json, parsed.
    pub fn run_json(&self) -> serde_json::Value {
        let path = self.report_dir().join("run.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("run.json is JSON")
    }

    /// run.json's record of variant `name`.
    pub fn variant_record(&self, name: &str) -> serde_json::Value {
        let run_json = self.run_json();
        run_json["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("run.json has no variant {name}"))
    }

    /// The log of a variant, process (`VARIANT.PROCESS`) or service (`logs/NAME.log`), or ""
    /// when there is none.
    pub fn log(&self, name: &str) -> String {
        let path = self.report_dir().join("logs").join(format!("{name}.log"));
        std::fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Every log of the run, each with its name, for failure messages.
    pub fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.report_dir().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text =
                    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                format!("--- {} (last 30 lines) ---\n{tail}\n", path.display())
            })
            .collect()
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

pub fn process_groups_in(stderr: &str) -> Vec<i32> {
    stderr
        .split("(process group ")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect()
}

/// Non-zombie processes whose process group is `pgid`, read from /proc.
pub fn members_of_group(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may contain spaces.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let (state, group) = (fields[0], fields[2].parse::<i32>().unwrap_or(-1));
        if group == pgid && state != "Z" && state != "X" {
            members.push(pid);
        }
    }
    members
}

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

pub fn number(row: &Row, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}
