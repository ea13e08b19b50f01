//! A fluent builder for `benchrig run`: describe a small experiment, run the real benchrig on it
//! against real server processes, then inspect exit code, CSVs, run.json, report and logs.

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    assert_contains, assert_previous_report_kept, hello_rs, read_csv, read_json,
    write_previous_report, Output, Row, BENCHRIG,
};

/// An experiment under construction, with the temporary directory it runs in.
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

    /// A stand-in report.md in the report folder, which a failed or interrupted run must keep
    /// ([`Finished::assert_previous_report_kept`]).
    pub fn with_previous_report(self) -> Experiment {
        write_previous_report(&self.report_dir());
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

    /// The command and manifest, for failure messages.
    fn what(&self) -> String {
        format!(
            "benchrig run {}.yaml\n--- manifest ---\n{}",
            self.name,
            self.yaml()
        )
    }

    /// Writes the manifest into the experiment's directory as `file`.
    pub fn write(&self, file: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, self.yaml()).expect("write manifest");
        path
    }

    fn command(&self) -> Command {
        let manifest = self.write(&format!("{}.yaml", self.name));
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
            output: Output::new(self.what(), output),
            experiment: self,
        }
    }

    /// Starts benchrig and returns while it runs.
    pub fn spawn(self) -> Running {
        let mut child = self
            .command()
            .stdout(Stdio::null())
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

/// benchrig running in the background, its stderr collected as it comes.
pub struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    experiment: Experiment,
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until benchrig's stderr contains `text`.
    #[track_caller]
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

    /// Waits for benchrig to exit, at most `timeout`. Its stdout is not kept.
    #[track_caller]
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
        let output = std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: self.stderr().into_bytes(),
        };
        Finished {
            output: Output::new(self.experiment.what(), output),
            experiment: self.experiment,
        }
    }
}

/// A finished `benchrig run`: its [`Output`] (through `Deref`) and its report folder.
pub struct Finished {
    output: Output,
    pub experiment: Experiment,
}

impl Deref for Finished {
    type Target = Output;

    fn deref(&self) -> &Output {
        &self.output
    }
}

impl Finished {
    /// [`Output::expect_code`], with the tail of every server log when it fails.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Finished {
        if self.code != Some(code) {
            eprintln!("{}", self.logs());
        }
        self.output.expect_code(code);
        self
    }

    pub fn report_dir(&self) -> PathBuf {
        self.experiment.report_dir()
    }

    pub fn report(&self) -> String {
        std::fs::read_to_string(self.report_dir().join("report.md")).expect("report.md")
    }

    #[track_caller]
    pub fn report_contains(&self, needle: &str) -> &Finished {
        assert_contains(&self.report(), needle);
        self
    }

    #[track_caller]
    pub fn assert_previous_report_kept(&self) -> &Finished {
        assert_previous_report_kept(&self.report_dir());
        self
    }

    /// summary.csv: a row per variant × phase × trial.
    pub fn summary(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("summary.csv"))
    }

    /// The summary row of a variant × phase.
    #[track_caller]
    pub fn row(&self, variant: &str, phase: &str) -> Row {
        self.summary()
            .into_iter()
            .find(|r| r["variant"] == variant && r["phase"] == phase)
            .unwrap_or_else(|| panic!("no summary row for {variant} / {phase}"))
    }

    /// summary_by_request.csv: a row per variant × phase × trial × request name.
    pub fn by_request(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("summary_by_request.csv"))
    }

    /// timeseries.csv: a row per variant × phase × second.
    pub fn timeseries(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("timeseries.csv"))
    }

    /// raw/requests.csv: a row per request.
    pub fn raw(&self) -> Vec<Row> {
        read_csv(&self.report_dir().join("raw/requests.csv"))
    }

    /// run.json, parsed.
    pub fn run_json(&self) -> serde_json::Value {
        read_json(&self.report_dir().join("run.json"))
    }

    /// run.json's record of variant `name`.
    #[track_caller]
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

    /// The last lines of every log of the run, each with its name, for failure messages.
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
