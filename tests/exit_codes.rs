//! Exit codes that gate CI: `benchrig load` when nothing succeeded or an `--expect` failed,
//! `benchrig exit-code`, and `make experiment` passing benchrig's code on with its meaning.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{benchrig, hello_rs, repo_root, Experiment, BENCHRIG};

/// hello-rs started by the test on a free port of 127.0.0.1, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let port = free_port();
        let child = Command::new(hello_rs())
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hello-rs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "hello-rs never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a port")
        .port()
}

#[test]
fn load_exits_8_when_no_request_succeeds() {
    let server = Server::start();
    benchrig(&["load", &server.url("/nope"), "-n", "50", "-c", "2"])
        .run()
        .expect_code(8)
        .stdout_contains("Status codes:\n  404        50")
        .stderr_contains(
            "no request succeeded: of 50 requests sent, 0 got no response and 50 a status of 400 or more",
        );
    let refused = format!("http://127.0.0.1:{}/", free_port());
    benchrig(&["load", &refused, "-n", "20", "-c", "2"])
        .run()
        .expect_code(8)
        .stdout_contains("  connect    20")
        .stderr_contains("of 20 requests sent, 20 got no response");
    // One success is enough.
    benchrig(&["load", &server.url("/hello"), "-n", "20", "-c", "2"])
        .run()
        .expect_code(0)
        .stderr_lacks("no request succeeded");
}

#[test]
fn load_expectations_print_their_values_and_gate_the_exit_code() {
    let server = Server::start();
    let load = |expectations: &[&str]| {
        benchrig(&["load", &server.url("/hello"), "-n", "200", "-c", "2"])
            .args(expectations.iter().flat_map(|e| ["--expect", e]))
            .run()
    };
    load(&["error_rate == 0", "requests == 200 and p99_ms > 0"])
        .expect_code(0)
        .stdout_contains("Expectations:\n  pass  error_rate == 0  (error_rate = 0)\n")
        .stdout_contains("  pass  requests == 200 and p99_ms > 0  (p99_ms = ");
    load(&["error_rate == 0", "rps < 1"])
        .expect_code(1)
        .stdout_contains("  pass  error_rate == 0")
        .stdout_contains("  FAIL  rps < 1  (rps = ");
    // Nothing succeeding outranks a failed expectation.
    benchrig(&[
        "load",
        &server.url("/nope"),
        "-n",
        "20",
        "--expect",
        "rps < 1",
    ])
    .run()
    .expect_code(8)
    .stdout_contains("  FAIL  rps < 1");
}

#[test]
fn a_bad_expectation_is_refused_before_any_load() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    benchrig(&[
        "load",
        &url,
        "--expect",
        "error_rate == 0",
        "--expect",
        "p99ms < 5",
    ])
    .run()
    .expect_code(2)
    .stderr_contains(
        "benchrig: error: --expect `p99ms < 5`: unknown name `p99ms`; did you mean `p99_ms`?",
    )
    .stdout_lacks("Summary");
    assert!(
        listener.accept().is_err(),
        "benchrig connected although an expectation was invalid"
    );
}

#[test]
fn exit_code_explains_each_code() {
    benchrig(&["exit-code", "3"])
        .run()
        .expect_code(0)
        .stdout_contains("3: the report was written, but a variant failed to start");
    benchrig(&["exit-code"])
        .run()
        .expect_code(0)
        .stdout_contains("| code | meaning |\n")
        .stdout_contains("| 8 | `load`: no request succeeded");
    benchrig(&["exit-code", "137"])
        .run()
        .expect_code(0)
        .stdout_contains("killed by signal 9");
}

#[test]
fn make_experiment_exits_with_benchrigs_code_and_says_what_it_means() {
    let experiment = Experiment::new("gated")
        .hello("hello", 1)
        .phase("{ name: quick, vus: 1, iterations: 20 }")
        .request("{ path: /hello }")
        .assertion("\"rps < 1\"");
    std::fs::create_dir_all(experiment.dir().join("experiments")).unwrap();
    experiment.write("experiments/gated.yaml");
    // The Makefile, run in the experiment's directory, with this build's benchrig.
    let output = Command::new("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(experiment.dir())
        .arg("-f")
        .arg(repo_root().join("Makefile"))
        .args(["-o", "build", "experiment", "NAME=gated"])
        .arg(format!("BENCHRIG={BENCHRIG}"))
        .output()
        .expect("run make");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "GNU make exits 2 whenever a recipe fails: {stderr}"
    );
    assert!(
        stderr.contains("] Error 1"),
        "make's line names benchrig's code: {stderr}"
    );
    assert!(
        stderr.contains(
            "make experiment: benchrig exited with 1: the report was written, but an assertion failed"
        ),
        "{stderr}"
    );
    assert!(
        experiment.report_dir().join("report.md").is_file(),
        "the report was written"
    );
}
