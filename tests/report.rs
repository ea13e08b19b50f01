//! Reports: rendered from the saved files alone, reproducible byte for byte, no secrets.

use std::path::{Path, PathBuf};

use crate::support::{benchrig, hello_rs, repo_root, Experiment};

/// The files `benchrig report` writes, relative to the folder.
fn rendered_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("report.md")];
    if let Ok(entries) = std::fs::read_dir(dir.join("plots")) {
        let mut plots: Vec<PathBuf> = entries
            .map(|e| Path::new("plots").join(e.unwrap().file_name()))
            .collect();
        plots.sort();
        files.extend(plots);
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Deletes the rendered files of a copy of `dir`, re-renders them, and compares with `dir`.
fn assert_rerenders_identically(dir: &Path, cwd: &Path) {
    let copy = tempfile::tempdir().unwrap();
    let copy = copy.path().join(dir.file_name().unwrap());
    copy_dir(dir, &copy);
    let expected = rendered_files(dir);
    for file in &expected {
        std::fs::remove_file(copy.join(file)).unwrap();
    }
    benchrig(&["report"])
        .arg(&copy)
        .in_dir(cwd)
        .run()
        .expect_code(0);
    assert_eq!(
        rendered_files(&copy),
        expected,
        "{}: the same files",
        dir.display()
    );
    for file in &expected {
        let original = std::fs::read(dir.join(file)).unwrap();
        let again = std::fs::read(copy.join(file)).unwrap();
        assert!(
            original == again,
            "{} differs after `benchrig report`; re-render committed reports with `make reports`",
            dir.join(file).display()
        );
    }
}

#[test]
fn a_report_is_reproduced_byte_for_byte_from_its_files() {
    let run = Experiment::new("rerender")
        .hello("one", 1)
        .hello("two", 2)
        .phase("{ name: closed, vus: 4, duration: 2s, think: 1ms }")
        .phase("{ name: open, executor: open, rate: 200/s, duration: 2s }")
        .request("{ name: hello, path: /hello, weight: 2 }")
        .request("{ name: sleep, path: \"/sleep?ms=2\" }")
        .assertion("\"error_rate == 0\"")
        .run();
    run.expect_code(0);
    let dir = run.report_dir();
    for file in [
        "report.md",
        "summary.csv",
        "summary_by_request.csv",
        "timeseries.csv",
        "histograms.hlog",
        "run.json",
        "plots/closed-latency.svg",
        "plots/closed-rps.svg",
        "plots/open-latency.svg",
        "plots/open-rps.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    assert_rerenders_identically(&dir, run.experiment.dir());
}

#[test]
fn two_identical_variants_repeated_show_no_significant_difference() {
    let server = hello_rs();
    let variant = |name: &str| {
        format!(
            "{{ name: {name}, cpus: [0], ready: {{ http: /health }}, command: [{server}, --port, \"{{{{ port }}}}\", --threads, \"1\"] }}"
        )
    };
    let run = Experiment::new("a-a")
        .line("repeat: 3")
        .line("load: { cpus: [1] }")
        .variant(&variant("a"))
        .variant(&variant("b"))
        .warmup("{ vus: 4, duration: 1s }")
        .phase("{ name: closed, vus: 8, duration: 1s }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    let report = run.report();
    let headline = report
        .lines()
        .find(|l| l.starts_with("- **closed**"))
        .unwrap_or_else(|| panic!("no headline for the phase:\n{report}"));
    assert!(
        headline.contains(": No significant difference between **")
            && headline.contains("medians of 3 trials"),
        "{headline}"
    );
}

#[test]
fn every_committed_report_is_what_the_current_code_renders() {
    let reports = repo_root().join("reports");
    let mut checked = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("run.json").is_file() {
            assert_rerenders_identically(&dir, &repo_root());
            checked += 1;
        }
    }
    assert!(checked >= 1, "no committed report found under reports/");
}

/// Renders a copy of each committed experiment as if its numbers had contradicted every claim:
/// each claim's checks fail in run.json, as a re-run whose numbers disagree would record them.
/// No claim may then read as true, the headline must count them all, and the explanation must
/// carry the warning that it does not describe this run.
#[test]
fn committed_experiments_state_no_contradicted_claim_as_true() {
    let reports = repo_root().join("reports");
    let mut with_claims = 0;
    for entry in std::fs::read_dir(&reports).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("run.json")) else {
            continue;
        };
        let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut sentences = Vec::new();
        for outcome in record["assertions"].as_array_mut().unwrap() {
            if let Some(claim) = outcome["claim"].as_str() {
                sentences.push(claim.split_whitespace().collect::<Vec<_>>().join(" "));
                outcome["passed"] = false.into();
            }
        }
        sentences.dedup();
        if sentences.is_empty() {
            continue;
        }
        with_claims += 1;
        let copy = tempfile::tempdir().unwrap();
        let copy = copy.path().join(dir.file_name().unwrap());
        copy_dir(&dir, &copy);
        std::fs::write(copy.join("run.json"), record.to_string()).unwrap();
        benchrig(&["report"])
            .arg(&copy)
            .in_dir(&repo_root())
            .run()
            .expect_code(0);
        let report = std::fs::read_to_string(copy.join("report.md")).unwrap();
        let name = dir.display();
        assert!(
            !report.lines().any(|l| l.starts_with("- ✅")),
            "{name}: a claim reads as held:\n{report}"
        );
        assert!(
            report.contains("claims contradicted by this run's numbers**")
                || report.contains("claim contradicted by this run's numbers**"),
            "{name}: no contradiction in the headline"
        );
        for sentence in &sentences {
            let lines: Vec<&str> = report
                .lines()
                .filter(|l| l.contains(sentence.as_str()))
                .collect();
            assert!(
                !lines.is_empty(),
                "{name}: the claim `{sentence}` is not shown"
            );
            for line in lines {
                assert!(
                    line.starts_with("- ❌ **contradicted:**"),
                    "{name}: `{sentence}` appears without its ❌: {line}"
                );
            }
        }
        if let Some(why) = report.find("## Why the numbers come out this way") {
            assert!(
                report[why..].contains("> ⚠️ This run contradicts"),
                "{name}: the explanation reads as describing this run"
            );
        }
    }
    // quickstart has no claims; every other committed experiment states its answer as claims.
    assert!(
        with_claims >= 6,
        "only {with_claims} committed reports have claims"
    );
}

#[test]
fn secret_looking_env_values_never_reach_an_output_file() {
    let secret = "s3cr3t-do-not-leak-7f3a";
    let server = hello_rs();
    let run = Experiment::new("secrets")
        .line("report: { safe_env: [API_TOKEN, REGION] }")
        .variant(&format!(
            "{{ name: hello, command: [{server}, --port, \"{{{{ port }}}}\"], ready: {{ http: /health }}, \
               env: {{ API_TOKEN: {secret}, DB_PASSWORD: {secret}, REGION: eu-west-1, OTHER: {secret} }} }}"
        ))
        .phase("{ name: quick, vus: 1, iterations: 20 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    let mut stack = vec![run.report_dir()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "{} contains the secret",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 8, "checked {files} files");
    run.report_contains("`API_TOKEN=(masked)`")
        // A safe value is shown.
        .report_contains("`REGION=eu-west-1`")
        .report_contains("`OTHER=(not recorded");
}

#[test]
fn a_broken_custom_template_names_its_line_and_keeps_nothing_half_written() {
    let experiment = Experiment::new("templated")
        .line("report: { template: custom.md.j2 }")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 1, iterations: 10 }")
        .request("{ path: /hello }");
    let template = experiment.dir().join("custom.md.j2");
    std::fs::write(
        &template,
        "{% extends \"default.md.j2\" %}\n{% block verdict %}Fastest: {{ phases[0].rows[0].variant }}\n{% endblock %}\n",
    )
    .unwrap();
    let run = experiment.run();
    run.expect_code(0).report_contains("Fastest: hello");

    // Break the template: re-rendering fails with its line, and report.md stays as it was.
    let before = run.report();
    std::fs::write(&template, "# {{ name }}\n{% for %}\n").unwrap();
    benchrig(&["report", "reports/templated"])
        .in_dir(run.experiment.dir())
        .run()
        .expect_code(2)
        .stderr_contains("custom.md.j2:2:");
    assert_eq!(run.report(), before);
}
