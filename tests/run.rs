//! `benchrig run` end to end: real hello-rs processes on loopback, real load, real files.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::support::{benchrig, hello_rs, number, Experiment};

#[test]
fn two_variants_produce_consistent_csvs_and_report() {
    let run = Experiment::new("consistent")
        .hello("one-thread", 1)
        .hello("two-threads", 2)
        .warmup("{ vus: 2, duration: 300ms }")
        .phase("{ name: timed, vus: 4, duration: 1s, think: 2ms }")
        .phase("{ name: counted, vus: 5, iterations: 300 }")
        .request("{ name: hello, path: /hello, weight: 3 }")
        .request("{ name: order, method: POST, path: /items/orders, json: { id: 7 } }")
        .assertion("\"error_rate == 0\"")
        .run();
    run.expect_code(0);
    run.assert_no_process_left(2);

    let header = std::fs::read_to_string(run.report_dir().join("summary.csv")).unwrap();
    assert!(
        header.starts_with(
            "variant,phase,requests,errors,rps,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms"
        ),
        "{header}"
    );
    let summary = run.summary();
    assert_eq!(summary.len(), 4, "two variants × two phases");

    // Every request in raw/requests.csv is counted in the summary, and nothing else is.
    let mut raw_counts: HashMap<(String, String), f64> = HashMap::new();
    for row in run.raw() {
        *raw_counts
            .entry((row["variant"].clone(), row["phase"].clone()))
            .or_default() += 1.0;
        assert!(row["status"] == "200", "unexpected raw row {row:?}");
    }
    for row in &summary {
        let key = (row["variant"].clone(), row["phase"].clone());
        assert_eq!(
            raw_counts.get(&key),
            Some(&number(row, "requests")),
            "{key:?}"
        );
        assert!(number(row, "rps") > 0.0, "{row:?}");
        assert_eq!(number(row, "errors"), 0.0);
    }
    // Shared iterations are exact.
    assert_eq!(number(&run.row("one-thread", "counted"), "requests"), 300.0);
    assert_eq!(
        number(&run.row("two-threads", "counted"), "requests"),
        300.0
    );

    run.report_contains("### timed")
        .report_contains("### counted")
        .report_contains("| one-thread |")
        .report_contains("| two-threads |")
        .report_contains("<summary>Per request</summary>")
        .report_contains("✅ pass")
        .report_contains("All variants ran");
    run.stdout_contains("report: reports/consistent/report.md");

    // Outputs other tools read: the histogram log goes forward in time, the per-request file
    // has no always-empty columns, every second says how much of it the phase lasted, and
    // run.json records the client.
    let hlog = std::fs::read_to_string(run.report_dir().join("histograms.hlog")).unwrap();
    let starts: Vec<f64> = hlog
        .lines()
        .filter(|l| l.starts_with("Tag="))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(starts.len() >= 8, "{hlog}");
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let by_request = run.by_request();
    assert!(!by_request.is_empty());
    assert!(!by_request[0].contains_key("cpu_mean_pct"));
    assert!(by_request[0].contains_key("p99_ms"));
    let timeline = std::fs::read_to_string(run.report_dir().join("timeseries.csv")).unwrap();
    assert!(timeline.lines().next().unwrap().ends_with(",seconds"));
    let record = run.run_json();
    assert_eq!(record["format"], 2);
    assert_eq!(record["phases"][0]["client"]["keep_alive"], true);
    assert_eq!(record["phases"][0]["client"]["client"], "lean HTTP/1.1");
    assert!(record["requests"][0]["timeout_s"].as_f64().unwrap() > 0.0);
    let servers = record["environment"]["servers"].as_array().unwrap();
    assert!(
        servers
            .iter()
            .any(|s| s["version"].as_str().unwrap().starts_with("hello-rs ")),
        "{servers:?}"
    );
}

/// Bounds wide enough for a busy machine; `make bench-accuracy` measures the precise p50.
#[test]
fn sleep_20ms_shows_p50_from_20_to_60_ms() {
    let run = Experiment::new("sleep")
        .hello("hello", 2)
        .phase("{ name: sleep, vus: 8, duration: 2s }")
        .request("{ path: \"/sleep?ms=20\" }")
        .run();
    run.expect_code(0);
    let p50 = number(&run.row("hello", "sleep"), "p50_ms");
    assert!((20.0..=60.0).contains(&p50), "p50 was {p50} ms");
    // Closed model: 8 users each waiting ≥ 20 ms cannot exceed 400 requests/s.
    let rps = number(&run.row("hello", "sleep"), "rps");
    assert!(rps > 50.0 && rps <= 400.0, "rps was {rps}");
}

#[test]
fn a_failed_assertion_exits_1_after_writing_the_report() {
    let run = Experiment::new("failing")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 2, iterations: 50 }")
        .request("{ path: /hello }")
        .assertion("{ phase: quick, expect: \"rps < 1\" }")
        .run();
    run.expect_code(1)
        .report_contains("❌ fail")
        .stderr_contains("assertion failed: `rps < 1`")
        .assert_no_process_left(1);
}

#[test]
fn a_variant_that_exits_at_once_is_reported_while_the_others_run() {
    let run = Experiment::new("crash")
        .variant("{ name: broken, command: [sh, -c, \"echo 'fatal: cannot bind {{ port }}' >&2; exit 3\"] }")
        .hello("healthy", 1)
        .phase("{ name: quick, vus: 2, iterations: 100 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(3)
        .stderr_contains("broken: FAILED during ready: exited with status 3");
    run.report_contains("### broken: failed during ready")
        // The log tail is quoted.
        .report_contains("fatal: cannot bind");
    assert_eq!(number(&run.row("healthy", "quick"), "requests"), 100.0);
    assert!(run.summary().iter().all(|r| r["variant"] != "broken"));
    run.assert_no_process_left(2);
}

#[test]
fn a_variant_that_never_becomes_ready_times_out() {
    let run = Experiment::new("never-ready")
        .variant("{ name: silent, command: [sleep, \"60\"], ready: { tcp: true, timeout: 500ms } }")
        .phase("{ name: quick, vus: 1, iterations: 1 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(3)
        .report_contains("not ready after 500ms")
        .assert_no_process_left(1);
}

#[test]
fn forked_children_and_sigterm_ignorers_are_stopped_with_the_group() {
    let server = hello_rs();
    let run = Experiment::new("tree")
        .variant(&format!(
            "{{ name: tree, command: [sh, -c, \"(trap '' TERM; sleep 300) & sleep 300 & exec {server} --port {{{{ port }}}}\"], \
               ready: {{ http: /health }}, stop: {{ grace: 300ms }} }}"
        ))
        .phase("{ name: quick, vus: 2, iterations: 50 }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0).assert_no_process_left(1);
    // The SIGKILL is noted.
    run.report_contains("was killed");
}

#[test]
fn sigint_stops_every_server_and_keeps_the_previous_report() {
    let running = Experiment::new("interrupted")
        .hello("hello", 1)
        .phase("{ name: long, vus: 2, duration: 60s, think: 5ms }")
        .request("{ path: /hello }")
        .with_previous_report()
        .spawn();
    running.wait_for("(process group", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(700));
    running.signal(Signal::SIGINT);
    let finished = running.wait(Duration::from_secs(15));
    finished
        .expect_code(130)
        .assert_previous_report_kept()
        .assert_no_process_left(1)
        .stderr_contains("interrupted by SIGINT");
    let partial = finished.report_dir().with_file_name("interrupted.partial");
    assert!(
        partial.join("raw/requests.csv").is_file(),
        "partial results are kept"
    );
}

#[test]
fn a_sigkill_mid_phase_leaves_raw_rows_up_to_the_last_second() {
    let running = Experiment::new("killed")
        .hello("hello", 1)
        .phase("{ name: long, vus: 2, duration: 60s, think: 5ms }")
        .request("{ path: /hello }")
        .spawn();
    running.wait_for("(process group", Duration::from_secs(10));
    // The phase starts once the server is ready, a little after this.
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    running.signal(Signal::SIGKILL);
    let killed_after = started.elapsed().as_secs_f64();
    let finished = running.wait(Duration::from_secs(10));
    // A SIGKILLed benchrig cannot stop its servers itself; stop them so none outlives the test.
    for pgid in finished.process_groups() {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    assert_eq!(finished.code, None, "killed by a signal");

    let path = finished
        .report_dir()
        .with_file_name("killed.partial")
        .join("raw/requests.csv");
    let bytes = std::fs::read(&path).expect("raw/requests.csv exists");
    // A killed writer may stop mid-line; everything up to the last newline must parse.
    let complete = &bytes[..bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)];
    let mut reader = csv::Reader::from_reader(complete);
    assert_eq!(
        reader
            .headers()
            .expect("the header is there")
            .iter()
            .collect::<Vec<_>>(),
        benchrig::output::RAW_HEADER
    );
    let mut rows = 0;
    let mut last_done_s: f64 = 0.0;
    for record in reader.records() {
        let record = record.expect("every complete line is a well-formed row");
        assert_eq!(
            (&record[0], &record[1], &record[8]),
            ("hello", "long", "200")
        );
        let micros = |i: usize| record[i].parse::<f64>().unwrap();
        last_done_s = last_done_s.max((micros(6) + micros(7)) / 1e6);
        rows += 1;
    }
    // About 300 requests a second for over 3 s: a writer that held its rows back until a
    // large buffer filled would have left only the header.
    assert!(rows >= 200, "{rows} rows in {}", path.display());
    // At most the last second is missing (a second more allowed for the server's start).
    assert!(
        last_done_s >= killed_after - 2.0,
        "the last row on disk completed at {last_done_s:.2} s of a phase killed at about {killed_after:.2} s"
    );
}

#[test]
fn sigterm_is_handled_like_sigint() {
    let running = Experiment::new("terminated")
        .hello("hello", 1)
        .phase("{ name: long, vus: 1, duration: 60s, think: 5ms }")
        .request("{ path: /hello }")
        .spawn();
    running.wait_for("(process group", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    running.signal(Signal::SIGTERM);
    let finished = running.wait(Duration::from_secs(15));
    finished.expect_code(143).assert_no_process_left(1);
}

#[test]
fn an_invalid_manifest_starts_and_writes_nothing() {
    let run = Experiment::new("invalid")
        .hello("hello", 1)
        .phase("{ name: p, vus: 0, duration: 1s }")
        .request("{ path: /hello }")
        .assertion("\"p99ms < 5\"")
        .run();
    run.expect_code(2)
        .stderr_contains("phases[0].vus: must be at least 1")
        .stderr_contains("did you mean `p99_ms`?")
        .assert_nothing_started();
    assert!(
        !run.experiment.dir().join("reports").exists(),
        "nothing was written"
    );
}

#[test]
fn a_failing_setup_aborts_and_keeps_the_previous_report() {
    let run = Experiment::new("setup-fails")
        .line("setup:\n  - [sh, -c, \"echo compiling; echo 'error: no such crate' >&2; exit 101\"]")
        .hello("hello", 1)
        .phase("{ name: p, vus: 1, iterations: 1 }")
        .request("{ path: /hello }")
        .with_previous_report()
        .run();
    run.expect_code(4)
        .assert_previous_report_kept()
        .stderr_contains("exited with status 101")
        .stderr_contains("error: no such crate")
        .assert_nothing_started();
}

#[test]
fn validate_checks_without_running() {
    let experiment = Experiment::new("checked")
        .hello("hello", 1)
        .phase("{ name: p, vus: 1, iterations: 1 }")
        .request("{ path: /hello }");
    let good = experiment.write("good.yaml");
    let bad = experiment.dir().join("bad.yaml");
    std::fs::write(
        &bad,
        experiment
            .yaml()
            .replace("iterations: 1", "iterations: 1, duraton: 2s"),
    )
    .unwrap();

    benchrig(&["validate"])
        .arg(&good)
        .arg(&bad)
        .in_dir(experiment.dir())
        .run()
        .expect_code(2)
        .stdout_contains("good.yaml: ok")
        .stderr_contains("bad.yaml:")
        .stderr_contains("unknown field 'duraton' in phases[0]; did you mean 'duration'?");
    assert!(!experiment.dir().join("reports").exists());
}
