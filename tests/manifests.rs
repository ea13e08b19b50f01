//! Manifests as a contract: every broken manifest in tests/manifests/invalid/ is rejected with
//! exactly its expected messages, by `validate` and by `run`, without starting or writing
//! anything; the committed schema and reference match the code; every experiment validates.

use std::path::PathBuf;

use crate::support::{
    assert_previous_report_kept, benchrig, read_json, repo_root, write_previous_report,
};

/// The `.yaml` files of a folder of the repository, sorted.
fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The `# expect:` lines at the top of a corpus file.
fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .map_while(|l| l.strip_prefix("# expect: "))
        .map(str::to_owned)
        .collect()
}

fn matches(expected: &str, line: &str) -> bool {
    match expected.strip_suffix("...") {
        Some(prefix) => line.starts_with(prefix),
        None => line == expected,
    }
}

/// Every expected line is printed, and nothing else that looks like a problem.
#[track_caller]
fn check_messages(file: &str, expected: &[String], stderr: &str) {
    let problem_lines: Vec<&str> = stderr
        .lines()
        .map(|l| l.strip_prefix("benchrig: error: ").unwrap_or(l))
        .filter(|l| l.starts_with(file))
        .collect();
    for want in expected {
        assert!(
            problem_lines.iter().any(|line| matches(want, line)),
            "{file}: expected\n  {want}\nin\n{stderr}"
        );
    }
    assert_eq!(
        problem_lines.len(),
        expected.len(),
        "{file}: unexpected extra problems:\n{stderr}"
    );
}

#[test]
fn every_broken_manifest_is_rejected_with_its_message_and_nothing_happens() {
    let corpus = yaml_files("tests/manifests/invalid");
    assert!(
        corpus.len() >= 30,
        "the corpus has only {} files",
        corpus.len()
    );
    for path in corpus {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = expectations(&text);
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(!expected.is_empty(), "{file} has no `# expect:` line");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(&file), &text).unwrap();
        let previous = dir.path().join("reports/previous");
        write_previous_report(&previous);

        let validate = benchrig(&["validate", &file]).in_dir(dir.path()).run();
        validate.expect_code(2);
        check_messages(&file, &expected, &validate.stderr);

        let run = benchrig(&["run", &file, "--out", "reports/previous"])
            .in_dir(dir.path())
            .run();
        run.expect_code(2).stderr_lacks("process group");
        check_messages(&file, &expected, &run.stderr);
        assert!(
            !dir.path().join("benchrig-was-here").exists(),
            "{file}: a variant ran"
        );
        let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
            .unwrap()
            .collect();
        assert_eq!(reports.len(), 1, "{file}: a report folder was created");
        assert_previous_report_kept(&previous);
    }
}

#[test]
fn every_experiment_validates_and_names_the_schema() {
    let files = yaml_files("experiments");
    assert!(!files.is_empty());
    benchrig(&["validate"])
        .args(&files)
        .in_dir(&repo_root())
        .run()
        .expect_code(0);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../docs/manifest.schema.json\n"),
            "{} must start with the schema line so editors check it",
            file.display()
        );
    }
}

#[test]
fn committed_schema_matches_the_code() {
    let schema = benchrig(&["schema"]).run();
    schema.expect_code(0);
    let committed = std::fs::read_to_string(repo_root().join("docs/manifest.schema.json")).unwrap();
    assert!(
        schema.stdout == committed,
        "docs/manifest.schema.json is out of date: run `target/release/benchrig schema > docs/manifest.schema.json`"
    );
}

/// Every property of every object in the schema, e.g. `vus`, `ready`, `grace`.
fn schema_fields(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            for v in map.values() {
                schema_fields(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_fields(v, out)),
        _ => {}
    }
}

#[test]
fn the_reference_documents_every_field() {
    let schema = read_json(&repo_root().join("docs/manifest.schema.json"));
    let mut fields = Vec::new();
    schema_fields(&schema, &mut fields);
    fields.sort();
    fields.dedup();
    let reference = std::fs::read_to_string(repo_root().join("docs/manifest.md")).unwrap();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !reference.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/manifest.md does not document {missing:?}"
    );
}
