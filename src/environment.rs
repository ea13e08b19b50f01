//! The machine and software a run happened on, so a reader can judge and reproduce the numbers.

use std::path::{Path, PathBuf};

use procfs::Current;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Start of the run, UTC, RFC 3339.
    pub date: String,
    pub benchrig_version: String,
    /// Commit of the repository benchrig ran in, and whether it had uncommitted changes.
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub rustc: Option<String>,
    /// Python environments the variants run in.
    #[serde(default)]
    pub python: Vec<PythonEnvironment>,
    /// Versions of the servers under test that benchrig can ask: nginx (`nginx -v`) and the
    /// programs built in this repository (`--version`). Python packages are in `python`.
    #[serde(default)]
    pub servers: Vec<ServerVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerVersion {
    /// The program as the manifest names it.
    pub program: String,
    /// What the program says of its version: "nginx version: nginx/1.22.1".
    pub version: String,
}

/// Whether `path` is in a cargo target folder: `…/target/release/NAME` or `…/target/debug/NAME`.
fn built_by_cargo(path: &Path) -> bool {
    let folders: Vec<_> = path.parent().into_iter().flat_map(|p| p.iter()).collect();
    folders.len() >= 2
        && folders[folders.len() - 2] == "target"
        && ["release", "debug"]
            .iter()
            .any(|b| folders[folders.len() - 1] == *b)
}

/// Asks each program that benchrig knows how to ask for its version, once per program:
/// nginx by `-v`, a program in a cargo target folder (built by this repository, like hello-rs) by
/// `--version`.
/// Others (Python servers, whose packages `pip freeze` lists) are left out.
pub fn server_versions(programs: &[String], workdir: &Path) -> Vec<ServerVersion> {
    let mut programs: Vec<&String> = programs.iter().collect();
    programs.sort();
    programs.dedup();
    programs
        .into_iter()
        .filter_map(|program| {
            let path = Path::new(program);
            let args: &[&str] = if path.file_name()? == "nginx" {
                &["-v"]
            } else if built_by_cargo(path) {
                &["--version"]
            } else {
                return None;
            };
            // nginx prints its version on stderr.
            let version = duct::cmd(workdir.join(path), args)
                .dir(workdir)
                .stderr_to_stdout()
                .stdin_null()
                .unchecked()
                .read()
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())?;
            Some(ServerVersion {
                program: program.clone(),
                version,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PythonEnvironment {
    /// The virtual environment's folder, as the variants name it.
    pub venv: String,
    pub version: String,
    /// `pip freeze` output, one `package==version` per entry.
    pub packages: Vec<String>,
}

/// Output of a short command, trimmed; `None` if it fails.
fn output_of(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    duct::cmd(program, args)
        .dir(dir)
        .stderr_null()
        .stdin_null()
        .read()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The virtual environment a program runs from: `servers/python/.venv/bin/gunicorn` →
/// `servers/python/.venv`.
pub fn venv_of(program: &str) -> Option<PathBuf> {
    let path = Path::new(program);
    let bin = path.parent()?;
    (bin.file_name()? == "bin" && bin.parent()?.join("pyvenv.cfg").is_file())
        .then(|| bin.parent().map(Path::to_owned))
        .flatten()
}

impl Environment {
    /// Reads the machine, the repository at `workdir`, and the Python `venvs` (relative to
    /// `workdir`).
    pub fn capture(workdir: &Path, venvs: &[PathBuf]) -> Environment {
        let cpu_model = procfs::CpuInfo::current()
            .ok()
            .and_then(|info| info.model_name(0).map(str::to_owned))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let memory_gib = procfs::Meminfo::current()
            .map(|m| m.mem_total as f64 / (1u64 << 30) as f64)
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let git_commit = output_of("git", &["rev-parse", "HEAD"], workdir);
        let git_dirty = git_commit
            .as_ref()
            .and_then(|_| {
                duct::cmd("git", ["status", "--porcelain"])
                    .dir(workdir)
                    .stderr_null()
                    .read()
                    .ok()
            })
            .map(|status| !status.trim().is_empty());
        let mut python: Vec<PythonEnvironment> = venvs
            .iter()
            .filter_map(|venv| {
                let interpreter = workdir.join(venv).join("bin/python");
                let interpreter = interpreter.to_str()?;
                let version = output_of(interpreter, &["--version"], workdir)?;
                let packages = output_of(interpreter, &["-m", "pip", "freeze", "--all"], workdir)
                    .map(|text| text.lines().map(str::to_owned).collect())
                    .unwrap_or_default();
                Some(PythonEnvironment {
                    venv: venv.display().to_string(),
                    version,
                    packages,
                })
            })
            .collect();
        python.sort_by(|a, b| a.venv.cmp(&b.venv));
        python.dedup_by(|a, b| a.venv == b.venv);
        Environment {
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            benchrig_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit,
            git_dirty,
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_gib * 10.0).round() / 10.0,
            kernel,
            os,
            rustc: output_of("rustc", &["--version"], workdir),
            python,
            servers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_venv_of_a_program() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("servers/python/.venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let gunicorn = venv.join("bin/gunicorn");
        assert_eq!(venv_of(gunicorn.to_str().unwrap()), Some(venv.clone()));
        assert_eq!(venv_of("target/release/hello-rs"), None);
        assert_eq!(
            venv_of("/usr/bin/python3"),
            None,
            "no pyvenv.cfg: not a venv"
        );
    }

    #[test]
    fn asks_nginx_and_programs_built_here_for_their_version() {
        let dir = tempfile::tempdir().unwrap();
        let script = |path: &Path, text: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("#!/bin/sh\n{text}\n")).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            &dir.path().join("sbin/nginx"),
            "[ \"$1\" = -v ] && echo 'nginx version: nginx/1.22.1' >&2",
        );
        script(
            &dir.path().join("target/release/hello"),
            "[ \"$1\" = --version ] && echo 'hello 0.1.0'",
        );
        script(&dir.path().join("bin/other"), "echo never asked");
        let programs = [
            "target/release/hello".to_owned(),
            "sbin/nginx".to_owned(),
            "bin/other".to_owned(),
            "sbin/nginx".to_owned(),
        ];
        let versions = server_versions(&programs, dir.path());
        assert_eq!(
            versions,
            [
                ServerVersion {
                    program: "sbin/nginx".into(),
                    version: "nginx version: nginx/1.22.1".into(),
                },
                ServerVersion {
                    program: "target/release/hello".into(),
                    version: "hello 0.1.0".into(),
                },
            ]
        );
    }

    #[test]
    fn captures_this_machine() {
        let env = Environment::capture(Path::new(env!("CARGO_MANIFEST_DIR")), &[]);
        assert!(env.cores >= 1);
        assert!(env.memory_gib > 0.0);
        assert!(!env.kernel.is_empty());
        assert!(env
            .rustc
            .as_deref()
            .is_some_and(|v| v.starts_with("rustc ")));
    }
}
