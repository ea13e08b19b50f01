//! Claims and published numbers end to end: a real run whose claims hold or are contradicted by
//! what it measured, and published numbers beside the measured ones.

use crate::support::Experiment;

fn experiment(name: &str) -> Experiment {
    Experiment::new(name)
        .hello("hello", 1)
        .phase("{ name: main, vus: 2, iterations: 200 }")
        .request("{ path: /hello }")
}

#[test]
fn a_true_claim_renders_held_and_the_run_passes() {
    let run = experiment("claim-holds")
        .assertion(r#"{ expect: "error_rate == 0", claim: "hello-rs answers every request" }"#)
        .line(r#"published: [{ source: "a write-up", variant: hello, phase: main, error_rate: 0, requests: 200, note: "same load" }]"#)
        .run();
    run.expect_code(0);
    run.report_contains(
        "- ✅ hello-rs answers every request (`error_rate == 0`; hello / main: error_rate = 0)",
    )
    .report_contains("## Published vs measured")
    .report_contains("| hello | main | `requests` | 200 | 200 | 1.00× | a write-up | same load |");
    assert!(!run.report().contains("contradicted"), "{}", run.report());
}

#[test]
fn a_false_claim_renders_contradicted_in_the_headline_and_fails_the_run() {
    let run = experiment("claim-fails")
        .assertion(
            r#"{ expect: "requests > 1000", claim: "hello-rs served over a thousand requests" }"#,
        )
        .run();
    run.expect_code(1);
    run.report_contains("> ❌ **1 of 1 claim contradicted by this run's numbers**")
        .report_contains("- ❌ **contradicted:** hello-rs served over a thousand requests (`requests > 1000`; hello / main: requests = 200)");
}
