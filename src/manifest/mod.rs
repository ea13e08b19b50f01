//! Manifest: YAML in, a validated [`Plan`] out. Every error names the file and the place.

mod plan;
mod types;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

pub use plan::{LaunchSpec, PhasePlan, Plan, ReadyProbe, RequestPlan, StopCondition, VariantPlan};
pub use types::{Assertion, Executor, Manifest};
pub use values::Duration;

/// One problem found in a manifest: where (a field path such as `phases[1].vus`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read the manifest: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// YAML syntax or shape error, located by the YAML parser.
    #[error("{}", format_located(path, *line, *column, message))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The manifest parsed but does not make sense; every problem found is listed.
    #[error("{}", format_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn format_located(
    path: &Path,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{}:{line}:{column}: {message}", path.display()),
        _ => format!("{}: {message}", path.display()),
    }
}

fn format_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, problem) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: {}: {}",
            path.display(),
            problem.field,
            problem.message
        ));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Reads and parses a manifest file, without validating it.
pub fn parse_file(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&text, path)
}

/// Parses manifest text; `path` is only used in error messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        let message = strip_location_suffix(&e.to_string());
        ManifestError::Syntax {
            path: path.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// Loads, parses and validates a manifest into a runnable plan. `workdir` is the directory
/// relative commands and `cwd` values are resolved against.
pub fn load(path: &Path, workdir: &Path) -> Result<Plan, ManifestError> {
    let manifest = parse_file(path)?;
    Plan::from_manifest(manifest, path, workdir).map_err(|problems| ManifestError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// The YAML library appends " at line L column C"; the location is already in front.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) if message[idx..].contains(" column ") => message[..idx].to_owned(),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_file_line_and_column() {
        let text = "name: x\nvariants:\n  - name: a\n    command: target/release/hello-rs\n";
        let err = parse_str(text, Path::new("experiments/x.yaml")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("experiments/x.yaml:4:"), "{shown}");
        assert!(shown.contains("variants[0].command"), "{shown}");
        assert!(!shown.contains(" at line "), "{shown}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text =
            "name: x\nvariants: []\nphases:\n  - { name: p, vus: 1, duraton: 1s }\nrequests: []\n";
        let err = parse_str(text, Path::new("x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `duraton`"), "{err}");
        assert!(err.starts_with("x.yaml:4:"), "{err}");
    }

    #[test]
    fn assertions_accept_strings_and_scoped_maps() {
        let text = r#"
name: x
variants: []
phases: []
requests: []
assertions:
  - "error_rate < 0.01"
  - { variant: a, phase: p, expect: "rps > 1" }
"#;
        let manifest = parse_str(text, Path::new("x.yaml")).unwrap();
        assert_eq!(manifest.assertions[0].expect, "error_rate < 0.01");
        assert_eq!(manifest.assertions[0].variant, None);
        assert_eq!(manifest.assertions[1].variant.as_deref(), Some("a"));
        assert_eq!(manifest.assertions[1].phase.as_deref(), Some("p"));
    }
}
