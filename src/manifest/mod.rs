//! Manifest: YAML in, a validated [`Plan`] out. Every error names the file, the line and
//! column, the field, and how to fix it; all problems are reported together.

mod describe;
mod diagnose;
pub mod expressions;
mod locate;
mod placeholders;
mod plan;
mod published;
mod schedule;
mod types;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

pub use describe::{describe_load, describe_phase};
pub use diagnose::closest_name;
pub use locate::{Location, LocationIndex};
pub use placeholders::PlaceholderContext;
pub use plan::{
    split_header_line, ClientSettings, HttpClient, LaunchSpec, LoadModel, PhasePlan, Plan,
    ProcessPlan, ReadyProbe, RequestPlan, RequestSpec, StopCondition, StopPlan, TrialSchedule,
    VariantPlan, DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SAMPLE_EVERY,
};
pub use published::Published;
pub use schedule::{Ramp, Stage};
pub use types::{
    Assertion, ClientKind, CompareSettings, Executor, LoadSettings, Manifest, Phase, StopTarget,
};
pub use values::{
    latency_floor_text, parse_latency_floor, parse_tolerance, tolerance_text, Argv, Duration, Rate,
};

/// One problem found in a manifest: where, which field (a path such as `phases[1].vus`), what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Option<Location>,
    /// Empty when the message names its place itself.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            location: None,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(Location { line, column }) = self.location {
            write!(f, "{line}:{column}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read the manifest: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The manifest does not parse or does not make sense; every problem found is listed.
    #[error("{}", format_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn format_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| match problem.location {
            // "file:line:col: field: message", the form editors and terminals link to.
            Some(_) => format!("{}:{problem}", path.display()),
            None => format!("{}: {problem}", path.display()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and parses a manifest file, without validating it.
pub fn parse_file(path: &Path) -> Result<Manifest, ManifestError> {
    let text = read(path)?;
    parse_str(&text, path)
}

fn read(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parses manifest text; `path` is only used in error messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    let blank = text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    if blank {
        return Err(ManifestError::Invalid {
            path: path.to_owned(),
            problems: vec![Problem::new(
                "",
                "the manifest is empty; it needs at least name, variants, phases and requests",
            )],
        });
    }
    serde_yaml::from_str(text).map_err(|e| ManifestError::Invalid {
        path: path.to_owned(),
        problems: vec![diagnose::yaml_problem(
            &e,
            text,
            &LocationIndex::build(text),
        )],
    })
}

/// Parses and validates manifest text into a runnable plan.
pub fn plan_str(text: &str, path: &Path, workdir: &Path) -> Result<Plan, ManifestError> {
    let manifest = parse_str(text, path)?;
    let plan = Plan::from_manifest(manifest, path, workdir).map_err(|mut problems| {
        let index = LocationIndex::build(text);
        for problem in &mut problems {
            problem.location = index.find(&problem.field);
        }
        // File order reads best; problems without a place go last.
        problems.sort_by_key(|p| p.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
        ManifestError::Invalid {
            path: path.to_owned(),
            problems,
        }
    })?;
    Ok(Plan {
        manifest_sha256: sha256_hex(text.as_bytes()),
        ..plan
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads, parses and validates a manifest into a runnable plan. `workdir` is the directory
/// relative commands and `cwd` values are resolved against.
pub fn load(path: &Path, workdir: &Path) -> Result<Plan, ManifestError> {
    plan_str(&read(path)?, path, workdir)
}

/// The JSON Schema of the manifest, generated from the types above.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<Manifest>();
    schema.insert(
        "$id".to_owned(),
        "https://benchrig.dev/manifest.schema.json".into(),
    );
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_file_line_column_and_field() {
        let text = "name: x\nvariants:\n  - name: a\n    command: target/release/hello-rs\n";
        let err = parse_str(text, Path::new("experiments/x.yaml")).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(
                "experiments/x.yaml:4:14: variants[0].command: expected a list of strings"
            ),
            "{shown}"
        );
    }

    #[test]
    fn semantic_problems_are_located_and_sorted() {
        let text = "name: x
variants:
  - { name: a, command: [server] }
phases:
  - name: p
    vus: 0
    duration: 1s
requests:
  - { path: hello }
";
        let err = plan_str(text, Path::new("x.yaml"), Path::new("."))
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[0], "x.yaml:6:5: phases[0].vus: must be at least 1");
        assert!(
            lines[1].starts_with("x.yaml:9:7: requests[0].path: `hello` must start with `/`"),
            "{err}"
        );
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
  - { variant: [a, b], expect: "rps > 1" }
"#;
        let manifest = parse_str(text, Path::new("x.yaml")).unwrap();
        assert_eq!(manifest.assertions[0].expect, "error_rate < 0.01");
        assert!(manifest.assertions[0].variants.is_empty());
        assert_eq!(manifest.assertions[1].variants, ["a"]);
        assert_eq!(manifest.assertions[2].variants, ["a", "b"]);
        assert_eq!(manifest.assertions[1].phase.as_deref(), Some("p"));
    }

    #[test]
    fn schema_describes_every_top_level_field() {
        let schema = json_schema();
        let properties = schema["properties"].as_object().unwrap();
        for field in [
            "name",
            "variants",
            "phases",
            "requests",
            "assertions",
            "warmup",
            "setup",
            "defaults",
        ] {
            assert!(properties.contains_key(field), "{field}");
        }
        assert_eq!(schema["additionalProperties"], false);
    }
}
