//! Repeats, trial order, CPU pinning, steady-state warm-ups and server CPU, with real servers.
//! CPU and time bounds are wide enough for a busy 2-core machine; `make bench-accuracy`
//! measures the precise ones.

use crate::support::{hello_rs, number, Experiment};

/// "[3/6] a, trial 2/3" lines of benchrig's output, as (variant, trial).
fn trial_order(stderr: &str) -> Vec<(String, u32)> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("benchrig: [")?;
            let (_, rest) = rest.split_once("] ")?;
            let (variant, trial) = rest.split_once(", trial ")?;
            Some((variant.to_owned(), trial.split('/').next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn repeats_run_fresh_trials_in_interleaved_order() {
    let run = Experiment::new("repeats")
        .line("repeat: 3")
        .hello("a", 1)
        .hello("b", 1)
        .phase("{ name: quick, vus: 2, iterations: 200 }")
        .request("{ path: /hello }")
        .assertion("\"requests == 200\"")
        .run();
    run.expect_code(0);
    let order = trial_order(&run.stderr);
    let expected: Vec<(String, u32)> = [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
        .iter()
        .map(|(v, t)| (v.to_string(), *t))
        .collect();
    assert_eq!(order, expected);
    // A fresh server for every trial: six process groups, none left.
    run.assert_no_process_left(6);
    let summary = run.summary();
    assert_eq!(summary.len(), 6, "a row per variant × trial");
    for variant in ["a", "b"] {
        let mut trials: Vec<u32> = summary
            .iter()
            .filter(|r| r["variant"] == variant)
            .map(|r| r["trial"].parse().unwrap())
            .collect();
        trials.sort();
        assert_eq!(trials, [1, 2, 3]);
    }
    let raw_trials: std::collections::BTreeSet<String> =
        run.raw().iter().map(|r| r["trial"].clone()).collect();
    assert_eq!(raw_trials.len(), 3, "raw rows carry their trial");
    run.report_contains("Medians of 3 trials per variant")
        .report_contains("covering it with 75.00 % confidence")
        .report_contains("| a | 3 |");
}

#[test]
fn a_shuffled_order_is_reproducible_from_its_seed() {
    let shuffled = |name: &str| {
        let run = Experiment::new(name)
            .line("repeat: 3\norder: shuffled\nseed: 42")
            .hello("a", 1)
            .hello("b", 1)
            .hello("c", 1)
            .phase("{ name: quick, vus: 1, iterations: 5 }")
            .request("{ path: /hello }")
            .run();
        run.expect_code(0);
        let run_json = run.run_json();
        assert_eq!(run_json["experiment"]["seed"], 42);
        assert_eq!(run_json["experiment"]["order"], "shuffled");
        trial_order(&run.stderr)
    };
    let first = shuffled("shuffle-one");
    assert_eq!(first.len(), 9);
    assert_eq!(
        first,
        shuffled("shuffle-two"),
        "the same seed, the same order"
    );
    let interleaved: Vec<String> = ["a", "b", "c"]
        .iter()
        .cycle()
        .take(9)
        .map(|s| s.to_string())
        .collect();
    let variants: Vec<String> = first.iter().map(|(v, _)| v.clone()).collect();
    assert_ne!(
        variants, interleaved,
        "seed 42 does not happen to give the round-robin order"
    );
}

#[test]
fn pinned_variants_and_their_children_run_on_the_given_cpu() {
    let server = hello_rs();
    let run = Experiment::new("pinned")
        .line("load: { cpus: [0] }")
        .variant(&format!(
            "{{ name: pinned, cpus: [0], ready: {{ http: /health }}, command: [sh, -c, \
               \"grep Cpus_allowed_list /proc/self/status; sh -c 'grep Cpus_allowed_list /proc/self/status'; exec {server} --port {{{{ port }}}}\"] }}"
        ))
        .phase("{ name: quick, vus: 2, iterations: 50 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    let log = run.log("pinned");
    let allowed: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("Cpus_allowed_list"))
        .collect();
    assert_eq!(allowed.len(), 2, "{log}");
    for line in allowed {
        assert_eq!(line.split_whitespace().last(), Some("0"), "{log}");
    }
    run.report_contains("CPU pinning: **pinned** ran on CPU 0. The load generator ran on CPU 0.");
}

#[test]
fn a_warm_up_until_stable_ends_before_its_maximum() {
    let run = Experiment::new("stable")
        .hello("hello", 1)
        .warmup("{ vus: 2, think: 5ms, until_stable: 20%, max: 20s }")
        .phase("{ name: quick, vus: 2, iterations: 100 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    let record = run.variant_record("hello");
    let warmup = &record["warmups"][0];
    assert_eq!(warmup["stable"], true, "{warmup}");
    // At least 3 s of data; stable means it ended before its 20 s maximum.
    let seconds = warmup["seconds"].as_f64().unwrap();
    assert!(
        (3.0..20.0).contains(&seconds),
        "stable after {seconds} s; needs 3 s of data"
    );
    run.report_contains("hello: stable after");
    assert_eq!(number(&run.row("hello", "quick"), "requests"), 100.0);
}

#[test]
fn a_cpu_bound_server_on_one_thread_uses_about_one_core() {
    let server = hello_rs();
    let run = Experiment::new("cpu-cost")
        .line("load: { cpus: [1] }")
        .variant(&format!(
            "{{ name: one-thread, cpus: [0], ready: {{ http: /health }}, command: [{server}, --port, \"{{{{ port }}}}\", --threads, \"1\"] }}"
        ))
        .phase("{ name: burn, vus: 4, duration: 3s }")
        .request("{ path: \"/cpu?n=300000\" }")
        .run();
    run.expect_code(0);
    let row = run.row("one-thread", "burn");
    // About one core when CPU 0 is free (70–115 %, in bench/accuracy.py); other work on CPU 0
    // takes its share, so here: clearly busy, in percent of one core, and not above one core.
    let (cpu, peak) = (number(&row, "cpu_mean_pct"), number(&row, "cpu_peak_pct"));
    assert!(
        (15.0..=115.0).contains(&cpu),
        "a busy single-threaded server: {cpu} % CPU"
    );
    assert!(peak >= cpu && peak <= 140.0, "peak {peak} %");
    assert_eq!(row["processes"], "1");
    let (rss, pss) = (number(&row, "rss_peak_mb"), number(&row, "pss_peak_mb"));
    assert!(
        rss > 0.5 && pss > 0.0 && pss <= rss + 0.1,
        "rss {rss} MB, pss {pss} MB"
    );
    let per_core = number(&row, "rps_per_core");
    let expected = number(&row, "rps") / (cpu / 100.0);
    assert!(
        (per_core - expected).abs() <= expected * 0.01 + 0.1,
        "{per_core} vs {expected}"
    );
    assert_eq!(
        row["load_threads"], "1",
        "one load thread per CPU in load.cpus"
    );
    let timeseries = run.timeseries();
    let sampled = timeseries.iter().filter(|s| !s["cpu_pct"].is_empty());
    assert!(sampled.count() >= 2, "CPU per second: {timeseries:?}");
    run.report_contains("| variant | server CPU mean |");
}
