//! The load engine against the real hello-rs: latency in both models, the coordinated-omission
//! gap, overload accounting, ramps, client settings, and what is recorded.
//!
//! Timing bounds here are wide enough to hold on a busy 2-core machine: a lower bound is what
//! physics allows (a 20 ms sleep takes at least 20 ms), an upper bound rules out a wrong unit or
//! clock. The precise claims (p50 within 20–21.5 ms, rates within 5 %) are measured on pinned
//! CPUs by `make bench-accuracy` (bench/accuracy.py).

use std::collections::HashMap;

use crate::support::{hello_rs, number, Experiment, Finished};

fn stalling_server(name: &str) -> String {
    format!(
        "{{ name: {name}, command: [{}, --port, \"{{{{ port }}}}\", --threads, \"1\", --stall-every, 1s, --stall-for, 250ms], ready: {{ http: /health }} }}",
        hello_rs()
    )
}

#[test]
fn a_20ms_sleep_measures_from_20_to_60_ms_in_both_models() {
    let run = Experiment::new("sleep-accuracy")
        .hello("hello", 2)
        .phase("{ name: closed, vus: 5, duration: 2s }")
        .phase("{ name: open, executor: open, rate: 100/s, duration: 2s }")
        .request("{ path: \"/sleep?ms=20\" }")
        .run();
    run.expect_code(0);
    // Not 0 (the clock started late) nor seconds (a wrong unit), whatever else runs.
    for phase in ["closed", "open"] {
        let p50 = number(&run.row("hello", phase), "p50_ms");
        assert!((20.0..=60.0).contains(&p50), "{phase}: p50 was {p50} ms");
    }
    // 200 requests due over 2 s; the phase cannot be shorter, only a little longer.
    let open = run.row("hello", "open");
    let rps = number(&open, "rps");
    assert!((80.0..=105.0).contains(&rps), "open rps {rps}");
    assert_eq!(open["target_rps"], "100.00");
    assert_eq!(open["dropped"], "0");
}

#[test]
fn periodic_stalls_show_in_the_open_model_and_hide_in_the_closed_one() {
    let run = Experiment::new("stalls")
        .variant(&stalling_server("stalling"))
        .phase("{ name: closed, vus: 8, duration: 4s, think: 5ms }")
        .phase("{ name: open, executor: open, rate: 400/s, duration: 4s }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    // Stalled a quarter of the time for 250 ms: a quarter of the open model's requests wait
    // 0–250 ms, so its p99 ≈ 250 × (1 − 0.01 / 0.25) = 240 ms and its p90 ≈ 150 ms. A busy
    // machine only adds to that.
    let open = run.row("stalling", "open");
    let (open_p90, open_p99) = (number(&open, "p90_ms"), number(&open, "p99_ms"));
    assert!(
        (180.0..=1000.0).contains(&open_p99),
        "open p99 {open_p99} ms"
    );
    // The closed model records a handful of stalled requests (one per VU per stall) and hides
    // the rest. Compared at p90: when a busy machine slows the VUs, those few can pass 1 % of
    // the closed model's requests and reach its p99.
    let closed = run.row("stalling", "closed");
    let closed_p90 = number(&closed, "p90_ms");
    assert!(
        closed_p90 * 5.0 < open_p90,
        "closed p90 {closed_p90} ms vs open {open_p90} ms"
    );
    assert!(
        number(&closed, "max_ms") > 150.0,
        "the stalls are in the closed model's max"
    );
}

#[test]
fn a_rate_far_above_capacity_is_counted_as_dropped_not_hidden() {
    let run = Experiment::new("overload")
        .hello("hello", 1)
        .phase("{ name: flood, executor: open, rate: 1000/s, duration: 2s, max_in_flight: 10 }")
        .request("{ path: \"/sleep?ms=100\" }")
        .assertion("{ phase: flood, expect: \"dropped == 0\" }")
        .run();
    // At most 10 in flight for 100 ms each: about 100 requests/s can be sent of 1000/s due.
    run.expect_code(1);
    let row = run.row("hello", "flood");
    let (sent, dropped) = (number(&row, "requests"), number(&row, "dropped"));
    assert!(sent < 400.0, "sent {sent}");
    assert!(dropped > 1400.0, "dropped {dropped}");
    assert!(
        (sent + dropped - 2000.0).abs() <= 2.0,
        "every due request is accounted for"
    );
    let raw_dropped = run.raw().iter().filter(|r| r["error"] == "dropped").count();
    assert_eq!(
        raw_dropped as f64, dropped,
        "raw rows carry every dropped request"
    );
    run.report_contains("did not keep to the schedule")
        .report_contains("requests dropped at the in-flight cap");
}

#[test]
fn ramping_vus_and_rates_follow_their_stages() {
    let run = Experiment::new("ramps")
        .hello("hello", 1)
        .phase("{ name: vus, executor: ramping, stages: [{ duration: 3s, target: 6 }], think: 20ms }")
        .phase("{ name: rate, executor: ramping, start: 0/s, stages: [{ duration: 2s, target: 200/s }, { duration: 1s, target: 200/s }] }")
        .request("{ path: /hello }")
        .run();
    run.expect_code(0);
    // 0 → 200/s over 2 s then 200/s for 1 s: 200 + 200 requests.
    let rate = number(&run.row("hello", "rate"), "requests");
    assert!((rate - 400.0).abs() <= 4.0, "ramping rate sent {rate}");
    // Ramping VUs: each second busier than the one before.
    let per_second: Vec<f64> = run
        .timeseries()
        .iter()
        .filter(|r| r["phase"] == "vus")
        .map(|r| number(r, "requests"))
        .collect();
    assert!(per_second.len() >= 3, "{per_second:?}");
    assert!(
        per_second[0] < per_second[1] && per_second[1] < per_second[2],
        "requests per second should grow with the VUs: {per_second:?}"
    );
}

#[test]
fn keep_alive_off_and_http2_work_end_to_end() {
    let run = Experiment::new("clients")
        .hello("hello", 1)
        .phase("{ name: no-keepalive, vus: 4, iterations: 200, keep_alive: false }")
        .phase("{ name: h2c, vus: 4, iterations: 200, http2: true }")
        .request("{ path: /hello }")
        .assertion("\"error_rate == 0\"")
        .run();
    run.expect_code(0);
    assert_eq!(number(&run.row("hello", "no-keepalive"), "requests"), 200.0);
    assert_eq!(number(&run.row("hello", "h2c"), "requests"), 200.0);
    run.report_contains("A new connection for every request")
        .report_contains("HTTP/2 without TLS");
}

#[test]
fn weights_requests_and_seconds_add_up() {
    let run = Experiment::new("accounting")
        .hello("hello", 2)
        .phase("{ name: mix, vus: 4, duration: 2s, think: 1ms }")
        .request("{ name: hello, path: /hello, weight: 3 }")
        .request("{ name: order, method: POST, path: /items/orders, json: { id: 1 } }")
        .run();
    run.expect_code(0);
    let total = number(&run.row("hello", "mix"), "requests");
    let mut by_request: HashMap<String, f64> = HashMap::new();
    for row in run.raw() {
        *by_request.entry(row["request"].clone()).or_default() += 1.0;
        assert_eq!(
            row["scheduled_us"], row["start_us"],
            "closed model: due when sent"
        );
    }
    // Picked at random by weight 3 : 1; a busy machine sends only a few hundred requests, so
    // the share can stray several points from 0.75 (0.5 would mean the weights are ignored).
    let hello_share = by_request["hello"] / total;
    assert!(
        (hello_share - 0.75).abs() < 0.1,
        "hello share {hello_share} of {total}"
    );
    let summed: f64 = run.timeseries().iter().map(|r| number(r, "requests")).sum();
    assert_eq!(summed, total, "the seconds add up to the phase");
    run.report_contains("<summary>Per request</summary>");
}

#[test]
fn the_lean_client_and_reqwest_record_the_same_facts() {
    let run_with = |client: &str| {
        let run = Experiment::new(&format!("client-{client}"))
            .line(&format!("load: {{ client: {client} }}"))
            .hello("hello", 2)
            .phase("{ name: closed, vus: 4, iterations: 400 }")
            .phase("{ name: no-keepalive, vus: 2, iterations: 100, keep_alive: false }")
            .phase("{ name: open, executor: open, rate: 200/s, duration: 1s }")
            .request("{ name: hello, path: /hello, weight: 3 }")
            .request("{ name: order, method: POST, path: \"/items/orders?ms=1\", json: { id: 7, items: [a, b] } }")
            .request("{ name: missing, path: /nope }")
            .run();
        run.expect_code(0);
        run
    };
    let (lean, general) = (run_with("auto"), run_with("reqwest"));
    for phase in ["closed", "no-keepalive", "open"] {
        let (a, b) = (lean.row("hello", phase), general.row("hello", phase));
        assert_eq!(a["requests"], b["requests"], "{phase}: same request count");
        // Only the 404s of /nope are errors, whichever client sends them.
        assert_eq!(
            number(&a, "errors"),
            number(&a, "errors_http"),
            "{phase}: no transport errors with the lean client"
        );
        assert_eq!(number(&b, "errors"), number(&b, "errors_http"));
    }
    // Every request name gets the same response, byte for byte, from both clients.
    let per_response = |run: &Finished| -> HashMap<String, f64> {
        run.by_request()
            .iter()
            .filter(|r| r["phase"] == "closed")
            .map(|r| {
                (
                    r["request"].clone(),
                    number(r, "bytes") / number(r, "responses"),
                )
            })
            .collect()
    };
    assert_eq!(per_response(&lean), per_response(&general));
    assert_eq!(per_response(&lean)["hello"], 12.0);
}
