//! The Python server variants of servers/python/README.md ("Tested commands"), each run by the
//! real benchrig: started, ready, one request per endpoint of the contract (servers/README.md,
//! `/io` going to a hello-rs service), stopped, and no process left. Plus the lifecycle traps:
//! uwsgi without `--die-on-term` (SIGTERM reloads it) and hypercorn's spawned workers.
//!
//! Needs `make venv` (servers/python/.venv) and, for the nginx test, nginx: `make test` builds
//! and installs both. A test whose prerequisite is missing fails and says how to get it.

use std::net::TcpStream;

use crate::support::{
    members_of_group, nginx, number, python_venv, repo_root, Experiment, Finished,
};

/// One request per endpoint of the contract, with the status and body size each answers
/// (byte for byte hello-rs's bodies).
const CONTRACT: &[(&str, &str, u64)] = &[
    ("health", "{ name: health, path: /health }", 2), // ok
    ("hello", "{ name: hello, path: /hello }", 12),   // Hello World!
    ("sleep", "{ name: sleep, path: \"/sleep?ms=10\" }", 11), // slept 10 ms
    (
        "items",
        "{ name: items, method: POST, path: \"/items/users?ms=5\", json: { id: 7, tags: [a, b] } }",
        25, // {"id":7,"tags":["a","b"]}
    ),
    ("cpu", "{ name: cpu, path: \"/cpu?n=1000\" }", 10), // 1219259225
    ("bytes", "{ name: bytes, path: \"/bytes?n=1000\" }", 1000),
    ("io", "{ name: io, path: \"/io?calls=3&ms=20\" }", 19), // {"calls":3,"ms":20}
];

/// Iterations are picked at random by weight: with 140 and 7 requests, the chance that one of
/// them is never sent is 7 × (6/7)^140 ≈ 3·10⁻⁹.
const PHASE: &str = "{ name: contract, vus: 3, iterations: 140 }";

/// The venv's programs and the apps' folder, as absolute paths (benchrig runs in a temp dir).
struct Python {
    bin: String,
    apps: String,
}

impl Python {
    fn new() -> Python {
        Python {
            bin: python_venv().display().to_string(),
            apps: repo_root().join("servers/python").display().to_string(),
        }
    }

    fn bin(&self, program: &str) -> String {
        format!("{}/{program}", self.bin)
    }

    fn app(&self, file: &str) -> String {
        format!("{}/{file}", self.apps)
    }

    /// `gunicorn --pythonpath … --bind … --no-control-socket EXTRA… APP`
    fn gunicorn(&self, extra: &[&str], app: &str) -> Vec<String> {
        let mut argv = strings(&[
            &self.bin("gunicorn"),
            "--pythonpath",
            &self.apps,
            "--bind",
            "127.0.0.1:{{ port }}",
            "--no-control-socket",
        ]);
        argv.extend(strings(extra));
        argv.push(app.to_owned());
        argv
    }

    /// uwsgi serving the Flask app on `socket` (`--http-socket ADDR --add-header
    /// Connection:close`, or `--socket ADDR` for the uwsgi protocol) with the README's flags,
    /// `--die-on-term` included, then `extra`.
    fn uwsgi(&self, socket: &[&str], extra: &[&str]) -> Vec<String> {
        let mut argv = vec![self.bin("uwsgi")];
        argv.extend(strings(socket));
        argv.extend(strings(&[
            "--pythonpath",
            &self.apps,
            "--module",
            "flask_app:app",
            "--master",
            "--need-app",
            "--disable-logging",
            "--listen",
            "1024",
        ]));
        argv.extend(strings(extra));
        argv
    }

    fn uwsgi_http(&self, extra: &[&str]) -> Vec<String> {
        self.uwsgi(
            &[
                "--http-socket",
                "127.0.0.1:{{ port }}",
                "--add-header",
                "Connection:close",
            ],
            extra,
        )
    }

    fn uvicorn(&self, extra: &[&str]) -> Vec<String> {
        let mut argv = strings(&[
            &self.bin("uvicorn"),
            "--app-dir",
            &self.apps,
            "--host",
            "127.0.0.1",
            "--port",
            "{{ port }}",
            "--no-access-log",
            "--loop",
            "asyncio",
        ]);
        argv.extend(strings(extra));
        argv.push("fastapi_app:app".to_owned());
        argv
    }

    fn hypercorn(&self, workers: &str) -> Vec<String> {
        strings(&[
            &self.bin("hypercorn"),
            "--bind",
            "127.0.0.1:{{ port }}",
            "--workers",
            workers,
            &self.app("quart_app:app"),
        ])
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// A YAML flow list of strings (JSON strings are YAML double-quoted scalars).
fn yaml_list(argv: &[String]) -> String {
    let items: Vec<String> = argv
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    format!("[{}]", items.join(", "))
}

/// `DOWNSTREAM_URL` for `/io`: the hello-rs service of [`contract_experiment`].
const DOWNSTREAM: &str = "DOWNSTREAM_URL: \"http://127.0.0.1:{{ services.downstream.port }}\"";

/// A variant `{ name, command, env, EXTRA }` of a contract experiment: `env` has
/// `DOWNSTREAM_URL` and `more_env` (flow-map entries or ""); `extra` is more flow-map entries
/// or "". (Not in `defaults.env`: defaults apply to the downstream service too, which cannot
/// use its own port.)
fn variant(name: &str, argv: &[String], more_env: &str, extra: &str) -> String {
    let more_env = if more_env.is_empty() {
        String::new()
    } else {
        format!(", {more_env}")
    };
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "{{ name: {name}, command: {}, env: {{ {DOWNSTREAM}{more_env} }}{extra} }}",
        yaml_list(argv)
    )
}

/// A variant `{ name, command, EXTRA }` without `DOWNSTREAM_URL`.
fn plain_variant(name: &str, argv: &[String], extra: &str) -> String {
    format!("{{ name: {name}, command: {}, {extra} }}", yaml_list(argv))
}

/// An experiment that sends every endpoint of the contract to each variant once the
/// downstream hello-rs service runs. Every variant inherits `DOWNSTREAM_URL`, readiness on
/// GET /health, and a stop grace long enough that none of the tested commands needs SIGKILL.
fn contract_experiment(name: &str) -> Experiment {
    let mut experiment = Experiment::new(name)
        .hello_service("downstream")
        .line(
            "defaults:\n  \
               ready: { http: /health, timeout: 30s }\n  \
               stop: { grace: 10s }",
        )
        .line("sample_every: 50ms")
        .phase(PHASE)
        .assertion("\"error_rate == 0\"");
    for (_, request, _) in CONTRACT {
        experiment = experiment.request(request);
    }
    experiment
}

/// Everything one family's run must show, each failure naming the family and the variant:
/// exit code 0, every endpoint sent and answered 200 with the contract's body size, no stop
/// that needed SIGKILL, and no process left in any group benchrig started (`groups`: the
/// service plus one per variant process).
#[track_caller]
fn check_contract(run: &Finished, family: &str, variants: &[&str], groups: usize) {
    run.expect_code(0);
    let by_request = run.by_request();
    let raw = run.raw();
    for &variant in variants {
        let what = format!("{family} ({variant})");
        for &(request, _, size) in CONTRACT {
            let row = by_request
                .iter()
                .find(|r| r["variant"] == variant && r["request"] == request)
                .unwrap_or_else(|| {
                    panic!("{what}: no summary_by_request.csv row for {request}: {by_request:?}")
                });
            assert!(
                number(row, "requests") >= 1.0 && number(row, "errors") == 0.0,
                "{what}: {request}: {row:?}"
            );
            for sent in raw
                .iter()
                .filter(|r| r["variant"] == variant && r["request"] == request)
            {
                assert!(
                    sent["status"] == "200" && sent["bytes"] == size.to_string(),
                    "{what}: {request} should answer 200 with {size} bytes: {sent:?}\n{}",
                    run.log(variant)
                );
            }
        }
        let sent = raw.iter().filter(|r| r["variant"] == variant).count();
        assert_eq!(sent, 140, "{what}: raw/requests.csv rows");
        let record = run.variant_record(variant);
        assert!(
            record["stop_note"].is_null(),
            "{what}: did not stop by itself on SIGTERM: {}",
            record["stop_note"]
        );
    }
    assert_eq!(
        run.process_groups().len(),
        groups,
        "{family}: process groups started\n{}",
        run.stderr
    );
    run.assert_no_process_left(groups);
}

#[test]
fn flask_dev_server_threaded() {
    let py = Python::new();
    let flask = strings(&[
        &py.bin("flask"),
        "--app",
        &py.app("flask_app.py"),
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        "{{ port }}",
        "--no-reload",
        "--with-threads",
    ]);
    let run = contract_experiment("flask-dev")
        .variant(&variant("flask-dev-threaded", &flask, "", ""))
        .run();
    check_contract(&run, "Flask dev server", &["flask-dev-threaded"], 2);
}

#[test]
fn gunicorn_sync_gthread_gevent_and_uvicorn_workers() {
    let py = Python::new();
    let variants = [
        ("sync-2", py.gunicorn(&["--workers", "2"], "flask_app:app")),
        (
            "gthread-2x2",
            py.gunicorn(
                &[
                    "--worker-class",
                    "gthread",
                    "--workers",
                    "2",
                    "--threads",
                    "2",
                ],
                "flask_app:app",
            ),
        ),
        (
            "gevent",
            py.gunicorn(
                &["--worker-class", "gevent", "--workers", "1"],
                "flask_app:app",
            ),
        ),
        (
            "uvicorn-worker-2",
            py.gunicorn(
                &[
                    "--worker-class",
                    "uvicorn_worker.UvicornWorker",
                    "--workers",
                    "2",
                ],
                "fastapi_app:app",
            ),
        ),
    ];
    let mut experiment = contract_experiment("gunicorn");
    for (name, argv) in &variants {
        experiment = experiment.variant(&variant(name, argv, "", ""));
    }
    let run = experiment.run();
    let names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
    check_contract(&run, "gunicorn", &names, 1 + names.len());
    // Every worker ran: master plus workers (UvicornWorker ×2: 3 processes at least).
    let processes = number(&run.row("uvicorn-worker-2", "contract"), "processes");
    assert!(
        processes >= 3.0,
        "gunicorn UvicornWorker ×2: {processes} processes"
    );
}

#[test]
fn uwsgi_threads_and_gevent() {
    let py = Python::new();
    let run = contract_experiment("uwsgi")
        .variant(&variant(
            "threads-2x2",
            &py.uwsgi_http(&["--die-on-term", "--processes", "2", "--threads", "2"]),
            "",
            "",
        ))
        .variant(&variant(
            "gevent",
            &py.uwsgi_http(&[
                "--die-on-term",
                "--processes",
                "1",
                "--gevent",
                "1000",
                "--gevent-early-monkey-patch",
            ]),
            "",
            "",
        ))
        .run();
    check_contract(&run, "uwsgi", &["threads-2x2", "gevent"], 3);
}

#[test]
fn waitress() {
    let py = Python::new();
    let argv = strings(&[
        &py.bin("waitress-serve"),
        "--listen=127.0.0.1:{{ port }}",
        "flask_app:app",
    ]);
    let env = format!("PYTHONPATH: {}", serde_json::to_string(&py.apps).unwrap());
    let run = contract_experiment("waitress")
        .variant(&variant("waitress", &argv, &env, ""))
        .run();
    check_contract(&run, "waitress", &["waitress"], 2);
}

#[test]
fn uvicorn_one_and_two_workers() {
    let py = Python::new();
    let run = contract_experiment("uvicorn")
        .variant(&variant("uvicorn-1", &py.uvicorn(&[]), "", ""))
        .variant(&variant(
            "uvicorn-2",
            &py.uvicorn(&["--workers", "2"]),
            "",
            "",
        ))
        .run();
    check_contract(&run, "uvicorn", &["uvicorn-1", "uvicorn-2"], 3);
}

#[test]
fn hypercorn_quart_single_process_and_two_workers() {
    let py = Python::new();
    let run = contract_experiment("hypercorn")
        .variant(&variant("single", &py.hypercorn("0"), "", ""))
        // SIGTERM to the master alone: it stops its spawned workers itself.
        .variant(&variant(
            "workers-2",
            &py.hypercorn("2"),
            "",
            "stop: { to: leader, grace: 10s }",
        ))
        .run();
    check_contract(&run, "hypercorn + Quart", &["single", "workers-2"], 3);
}

#[test]
fn tornado() {
    let py = Python::new();
    let argv = strings(&[
        &py.bin("python"),
        &py.app("tornado_app.py"),
        "--port",
        "{{ port }}",
    ]);
    let run = contract_experiment("tornado")
        .variant(&variant("tornado", &argv, "", ""))
        .run();
    check_contract(&run, "tornado", &["tornado"], 2);
}

/// nginx in front of an app server: a variant of two processes, nginx (the target) rendered
/// from servers/nginx/front.conf.j2 with the app's port.
fn behind_nginx(name: &str, app: &[String], app_ready: &str, protocol: &str) -> String {
    let nginx = nginx().display().to_string();
    let template = repo_root()
        .join("servers/nginx/front.conf.j2")
        .display()
        .to_string();
    let front = strings(&[
        &nginx,
        "-e",
        "stderr",
        "-c",
        &format!(
            "{{{{ render('{template}', upstream_port=processes.app.port, protocol='{protocol}', epoll=true) }}}}"
        ),
        "-g",
        "daemon off;",
    ]);
    format!(
        "{{ name: {name}, target: front, processes: [\
           {{ name: app, command: {}, env: {{ {DOWNSTREAM} }}, ready: {app_ready} }}, \
           {{ name: front, command: {} }}] }}",
        yaml_list(app),
        yaml_list(&front)
    )
}

#[test]
fn nginx_in_front_of_uwsgi_and_gunicorn() {
    let py = Python::new();
    let uwsgi = py.uwsgi(
        &["--socket", "127.0.0.1:{{ port }}"],
        &["--die-on-term", "--processes", "2", "--threads", "2"],
    );
    let gunicorn = py.gunicorn(&["--workers", "2"], "flask_app:app");
    let run = contract_experiment("nginx")
        .variant(&behind_nginx(
            "nginx-uwsgi",
            &uwsgi,
            "{ tcp: true, timeout: 30s }",
            "uwsgi",
        ))
        .variant(&behind_nginx(
            "nginx-gunicorn",
            &gunicorn,
            "{ http: /health, timeout: 30s }",
            "http",
        ))
        .run();
    check_contract(&run, "nginx", &["nginx-uwsgi", "nginx-gunicorn"], 5);
    // run.json says which nginx ran and with which rendered configuration, kept beside it.
    let record = run.run_json();
    let servers = record["environment"]["servers"].as_array().unwrap();
    assert!(
        servers
            .iter()
            .any(|s| s["version"].as_str().unwrap().contains("nginx/")),
        "{servers:?}"
    );
    for variant in ["nginx-uwsgi", "nginx-gunicorn"] {
        let rendered = record["rendered"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["owner"] == variant)
            .unwrap_or_else(|| panic!("no rendered file of {variant}: {record}"));
        let path = rendered["path"].as_str().unwrap();
        assert_eq!(path, format!("rendered/{variant}/front.conf"));
        let text = std::fs::read_to_string(run.report_dir().join(path)).unwrap();
        assert!(text.contains("upstream"), "{text}");
        assert_eq!(rendered["sha256"].as_str().unwrap().len(), 64);
    }
    for variant in ["nginx-uwsgi", "nginx-gunicorn"] {
        let log = run.log(&format!("{variant}.front"));
        assert!(
            !log.contains("[emerg]") && !log.contains("[alert]"),
            "nginx ({variant}) logged:\n{log}"
        );
    }
}

/// Trap: without `--die-on-term`, uwsgi takes SIGTERM as "reload" and keeps serving. benchrig
/// must SIGKILL the group after the grace period, say so in run.json, and leave nothing.
#[test]
fn uwsgi_without_die_on_term_is_killed_after_the_grace_period() {
    let py = Python::new();
    let argv = py.uwsgi_http(&["--processes", "2", "--threads", "2"]);
    let run = Experiment::new("uwsgi-reload")
        .line("defaults:\n  ready: { http: /health, timeout: 30s }")
        .variant(&plain_variant(
            "uwsgi-reloads",
            &argv,
            "stop: { grace: 2s }",
        ))
        .phase("{ name: quick, vus: 2, iterations: 20 }")
        .request("{ path: /hello }")
        .assertion("\"error_rate == 0\"")
        .run();
    run.expect_code(0);
    let note = run.variant_record("uwsgi-reloads")["stop_note"].clone();
    let note = note.as_str().unwrap_or_else(|| {
        panic!(
            "uwsgi without --die-on-term: no stop_note in run.json, so it stopped by itself on \
             SIGTERM; the trap is gone or benchrig did not notice the SIGKILL\n{}",
            run.log("uwsgi-reloads")
        )
    });
    assert!(
        note.contains("did not exit within 2s") && note.contains("was killed"),
        "uwsgi without --die-on-term: stop_note = {note:?}"
    );
    // The report notes the SIGKILL.
    run.report_contains("was killed");
    assert!(
        run.log("uwsgi-reloads").contains("reloading"),
        "uwsgi logged no reload on SIGTERM:\n{}",
        run.log("uwsgi-reloads")
    );
    assert_eq!(run.process_groups().len(), 1, "{}", run.stderr);
    run.assert_no_process_left(1);
}

/// Trap: hypercorn with workers spawns them (multiprocessing), and a worker left behind would
/// keep serving the port. Stopped through the group and through the leader alone, nothing may
/// be left: the port refuses connections and the group is empty.
#[test]
fn hypercorn_workers_leave_nothing_behind() {
    let py = Python::new();
    let argv = py.hypercorn("2");
    let run = Experiment::new("hypercorn-workers")
        .line("defaults:\n  ready: { http: /health, timeout: 30s }\n  stop: { grace: 10s }")
        .line("sample_every: 50ms")
        .variant(&plain_variant("to-group", &argv, "stop: { to: group }"))
        .variant(&plain_variant("to-leader", &argv, "stop: { to: leader }"))
        .phase("{ name: quick, vus: 2, duration: 1s }")
        .request("{ path: /hello }")
        .assertion("\"error_rate == 0\"")
        .run();
    run.expect_code(0);
    let groups = run.process_groups();
    assert_eq!(groups.len(), 2, "{}", run.stderr);
    for (variant, pgid) in ["to-group", "to-leader"].into_iter().zip(groups) {
        let what = format!("hypercorn --workers 2, stop to {}", &variant[3..]);
        // The workers did run: master, resource tracker and 2 workers.
        let processes = number(&run.row(variant, "quick"), "processes");
        assert!(processes >= 3.0, "{what}: {processes} processes sampled");
        let record = run.variant_record(variant);
        let port = record["port"].as_u64().expect("port in run.json") as u16;
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            other => panic!("{what}: port {port} after the run: {other:?} (refused expected)"),
        }
        let left = members_of_group(pgid);
        assert!(left.is_empty(), "{what}: processes {left:?} survived");
        assert!(
            record["stop_note"].is_null(),
            "{what}: {}",
            record["stop_note"]
        );
    }
}
