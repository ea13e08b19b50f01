//! The runner's order of things and its failure paths, through the scripted fake launcher:
//! no process is started and no request is sent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::fake::{FakeLauncher, Script, REQUESTS_PER_PHASE};
use super::{execute, run_plan, RunError, RunOutcome};
use crate::exit_code;
use crate::manifest::{self, Plan};
use crate::output::{RawCsvWriter, ReportFolder};
use crate::results::VariantResult;

/// A plan of `variants` (one process each) and `phases`, from manifest lines `extra`.
fn plan(dir: &Path, extra: &str, variants: &[&str], phases: &[&str]) -> Plan {
    let mut yaml = format!("name: fake\n{extra}\nvariants:\n");
    for v in variants {
        yaml += &format!("  - {{ name: {v}, command: [serve-{v}, \"{{{{ port }}}}\"] }}\n");
    }
    yaml += "phases:\n";
    for p in phases {
        yaml += &format!("  - {{ name: {p}, vus: 1, iterations: 10 }}\n");
    }
    yaml += "requests:\n  - { path: /hello }\n";
    let path = dir.join("fake.yaml");
    std::fs::write(&path, yaml).unwrap();
    manifest::load(&path, dir).unwrap_or_else(|e| panic!("{e}"))
}

fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// The trials' results, as `execute` returns them, and what the fake was asked.
fn trials(plan: &Plan, script: Script) -> (Vec<VariantResult>, Vec<String>) {
    let folder = ReportFolder::create(&plan.workdir.join("reports/fake")).unwrap();
    let raw = RawCsvWriter::create(&folder.raw_dir().join("requests.csv")).unwrap();
    let fake = FakeLauncher::new(script);
    let results = block_on(execute(&fake, plan, &folder, &raw, Instant::now()))
        .unwrap_or_else(|e| panic!("{e}"));
    (results, fake.calls())
}

/// A whole run through the fake, report folder included.
fn whole_run(plan: &Plan, script: Script) -> (Result<RunOutcome, RunError>, Vec<String>) {
    let fake = FakeLauncher::new(script);
    let final_dir = plan.workdir.join("reports/fake");
    let outcome = block_on(run_plan(
        plan,
        &final_dir,
        &plan.workdir,
        &fake,
        fake.interrupt(),
    ));
    (outcome, fake.calls())
}

/// The variants in the order they were started.
fn started(calls: &[String]) -> Vec<&str> {
    calls
        .iter()
        .filter_map(|c| c.strip_prefix("start "))
        .collect()
}

fn count(calls: &[String], call: &str) -> usize {
    calls.iter().filter(|c| *c == call).count()
}

/// (variant, trial) of every phase result, in each variant's order.
fn trials_of(results: &[VariantResult]) -> Vec<(String, Vec<u32>)> {
    results
        .iter()
        .map(|v| (v.name.clone(), v.phases.iter().map(|p| p.trial).collect()))
        .collect()
}

#[test]
fn interleaved_trials_take_turns_and_each_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "repeat: 3", &["a", "b"], &["quick", "long"]);
    let (results, calls) = trials(&plan, Script::default());
    assert_eq!(started(&calls), ["a", "b", "a", "b", "a", "b"]);
    // Every trial is one block: start, ready, sampling, its phases in order, stop; nothing of
    // another variant in between.
    let block = |v: &str| {
        [
            format!("start {v}"),
            format!("ready {v}"),
            format!("sample {v} (groups "),
            format!("phase {v} quick"),
            format!("phase {v} long"),
            format!("stop {v}"),
        ]
    };
    assert_eq!(calls.len(), 6 * 6, "{calls:#?}");
    for (trial, chunk) in calls.chunks(6).enumerate() {
        let variant = ["a", "b"][trial % 2];
        for (call, expected) in chunk.iter().zip(block(variant)) {
            assert!(call.starts_with(&expected), "{calls:#?}");
        }
    }
    assert_eq!(
        trials_of(&results),
        [
            ("a".to_owned(), vec![1, 1, 2, 2, 3, 3]),
            ("b".to_owned(), vec![1, 1, 2, 2, 3, 3])
        ]
    );
    let phases: Vec<&str> = results[0].phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["quick", "long", "quick", "long", "quick", "long"]);
    assert!(results
        .iter()
        .flat_map(|v| &v.phases)
        .all(|p| p.metrics.requests == REQUESTS_PER_PHASE));
    assert!(results.iter().all(|v| v.failure.is_none()));
}

#[test]
fn a_shuffled_order_follows_the_seed_and_keeps_each_variants_trials_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(
        dir.path(),
        "repeat: 3\norder: shuffled\nseed: 42",
        &["a", "b", "c"],
        &["quick"],
    );
    let (results, calls) = trials(&plan, Script::default());
    let expected: Vec<&str> = plan
        .schedule
        .order(3, 3)
        .iter()
        .map(|&(v, _)| ["a", "b", "c"][v])
        .collect();
    assert_eq!(started(&calls), expected);
    assert_ne!(
        expected,
        ["a", "b", "c", "a", "b", "c", "a", "b", "c"],
        "seed 42 is not the round-robin order"
    );
    for (name, trials) in trials_of(&results) {
        assert_eq!(trials, [1, 2, 3], "{name}: every trial once, in order");
    }
    // Still one trial at a time: a variant is stopped before the next one starts.
    let mut running: Option<&str> = None;
    for call in &calls {
        if let Some(v) = call.strip_prefix("start ") {
            assert_eq!(running, None, "{calls:#?}");
            running = Some(v);
        } else if call.starts_with("stop ") {
            running = None;
        }
    }
}

#[test]
fn a_variant_that_never_becomes_ready_fails_alone_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "repeat: 2", &["a", "b", "c"], &["quick"]);
    let script = || Script {
        never_ready: vec!["b"],
        ..Script::default()
    };
    let (results, calls) = trials(&plan, script());
    assert_eq!(started(&calls), ["a", "b", "c", "a", "c"]);
    assert_eq!(
        count(&calls, "stop b"),
        1,
        "stopped after failing: {calls:#?}"
    );
    let failure = results[1].failure.as_ref().expect("b failed");
    assert_eq!(failure.stage, "ready (trial 1)");
    assert_eq!(failure.reason, "exited with status 3 before becoming ready");
    assert!(results[1].phases.is_empty());
    assert_eq!(trials_of(&results)[0].1, [1, 2]);
    assert_eq!(trials_of(&results)[2].1, [1, 2]);

    let (outcome, _) = whole_run(&plan, script());
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.variants_failed, 1);
    assert_eq!(outcome.exit_code(), exit_code::VARIANT_FAILED);
    let report = std::fs::read_to_string(outcome.report_dir.join("report.md")).unwrap();
    assert!(report.contains("### b: failed during ready"), "{report}");
}

#[test]
fn a_variant_that_exits_under_load_keeps_its_phase_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "", &["a", "b"], &["quick", "long", "last"]);
    let script = || Script {
        crash: Some(("a", "long")),
        ..Script::default()
    };
    let (results, calls) = trials(&plan, script());
    assert_eq!(count(&calls, "phase a last"), 0, "{calls:#?}");
    assert_eq!(count(&calls, "stop a"), 1);
    let failure = results[0].failure.as_ref().expect("a failed");
    assert_eq!(failure.stage, "long");
    assert_eq!(failure.reason, "a exited with status 1 under load");
    let phases: Vec<&str> = results[0].phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["quick", "long"], "what was measured is kept");
    assert_eq!(results[1].phases.len(), 3, "b ran all its phases");

    let (outcome, _) = whole_run(&plan, script());
    assert_eq!(outcome.unwrap().exit_code(), exit_code::VARIANT_FAILED);
}

#[test]
fn a_failing_setup_aborts_before_any_variant() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "setup:\n  - [make, build]", &["a"], &["quick"]);
    let (outcome, calls) = whole_run(
        &plan,
        Script {
            setup_fails: true,
            ..Script::default()
        },
    );
    let error = outcome.unwrap_err();
    assert!(matches!(error, RunError::Setup { .. }), "{error}");
    assert_eq!(error.exit_code(), exit_code::RUN_ABORTED);
    assert_eq!(calls, ["start setup", "stop setup"]);
    assert!(!dir.path().join("reports/fake").exists());
}

/// The partial folder of an interrupted run, and its raw rows per variant.
fn partial_rows(dir: &Path) -> (PathBuf, Vec<String>) {
    let partial = dir.join("reports/fake.partial");
    let raw = std::fs::read_to_string(partial.join("raw/requests.csv")).unwrap();
    let variants = raw
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    (partial, variants)
}

#[test]
fn an_interrupt_within_a_phase_stops_everything_and_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "repeat: 2", &["a", "b"], &["quick"]);
    let (outcome, calls) = whole_run(
        &plan,
        Script {
            interrupt_at: Some("phase b quick"),
            ..Script::default()
        },
    );
    let error = outcome.unwrap_err();
    let RunError::Interrupted { signal, partial } = &error else {
        panic!("{error}");
    };
    assert_eq!(*signal, nix::sys::signal::Signal::SIGINT);
    assert_eq!(error.exit_code(), 130);
    assert_eq!(started(&calls), ["a", "b"], "no trial after the interrupt");
    assert_eq!(
        count(&calls, "stop b"),
        1,
        "the interrupted server is stopped"
    );
    assert_eq!(calls.last().map(String::as_str), Some("kill all"));
    let (kept, rows) = partial_rows(dir.path());
    assert_eq!(partial, &kept);
    assert_eq!(rows, vec!["a"; REQUESTS_PER_PHASE as usize]);
    assert!(!dir.path().join("reports/fake").exists(), "no report");
}

#[test]
fn an_interrupt_between_trials_starts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), "repeat: 2", &["a", "b"], &["quick"]);
    let (outcome, calls) = whole_run(
        &plan,
        Script {
            interrupt_at: Some("stop a"),
            ..Script::default()
        },
    );
    assert_eq!(outcome.unwrap_err().exit_code(), 130);
    // b may have been spawned before the interrupt was seen, never made ready or loaded.
    assert_eq!(count(&calls, "ready b"), 0, "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("phase b")),
        "{calls:#?}"
    );
    assert_eq!(count(&calls, "start b"), count(&calls, "stop b"));
    let (_, rows) = partial_rows(dir.path());
    assert_eq!(rows, vec!["a"; REQUESTS_PER_PHASE as usize]);
}
