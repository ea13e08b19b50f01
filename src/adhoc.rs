//! `benchrig load URL`: a one-off load against a running server, like `hey` or `oha`, on the
//! same engine as experiments. Prints a summary; optionally writes the same CSVs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};

use crate::environment::Environment;
use crate::load::{run_phase, LiveCounters, RawSink, Target};
use crate::manifest::{
    ClientSettings, HttpClient, LoadModel, PhasePlan, Plan, Ramp, RequestPlan, StopCondition,
    DEFAULT_MAX_IN_FLIGHT,
};
use crate::output::{Export, RawCsvWriter, ReportFolder, RunData, SummaryCsv};
use crate::progress;
use crate::report::filters;
use crate::results::{Metrics, PhaseResult, VariantResult};
use crate::text::format_number;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub concurrency: u32,
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// Open model: send at this rate (requests per second) instead of as fast as answered.
    pub rate: Option<f64>,
    pub max_in_flight: Option<u32>,
    pub think: Option<Duration>,
    pub keep_alive: bool,
    pub http2: bool,
    /// Force reqwest instead of the lean HTTP/1.1 client.
    pub reqwest: bool,
    pub method: String,
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub timeout: Duration,
    /// Folder for summary.csv and raw/requests.csv.
    pub out: Option<PathBuf>,
}

/// Requests sent when neither a count nor a duration is given (as `hey` and `oha` do).
pub const DEFAULT_REQUESTS: u64 = 200;

/// What the user asked for, checked: the base URL, the phase and the request.
#[derive(Debug)]
pub struct AdHocPlan {
    pub base: String,
    pub target_label: String,
    pub phase: PhasePlan,
    pub request: RequestPlan,
}

/// Turns command-line options into a plan, with errors phrased for the command line.
pub fn plan(options: &LoadOptions) -> Result<AdHocPlan, String> {
    let url =
        Url::parse(&options.url).map_err(|e| format!("`{}` is not a URL: {e}", options.url))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "https is not supported: benchrig is built without TLS and measures plain HTTP"
                    .to_owned(),
            )
        }
        other => return Err(format!("unsupported scheme `{other}`; use an http:// URL")),
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let base = format!(
        "http://{}:{port}",
        url.host().map_or(host.to_owned(), |h| h.to_string())
    );
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    if options.concurrency == 0 {
        return Err("-c must be at least 1".to_owned());
    }
    let stop = match (options.requests, options.duration) {
        (Some(_), Some(_)) => {
            return Err("give -n (requests) or -d (duration), not both".to_owned())
        }
        (Some(0), None) => return Err("-n must be at least 1".to_owned()),
        (Some(n), None) => StopCondition::Iterations(n),
        (None, Some(d)) if d.is_zero() => return Err("-d must be greater than zero".to_owned()),
        (None, Some(d)) => StopCondition::Duration(d),
        (None, None) => StopCondition::Iterations(DEFAULT_REQUESTS),
    };
    let load = match options.rate {
        None => {
            if options.max_in_flight.is_some() {
                return Err("--max-in-flight goes with --rate (the open model)".to_owned());
            }
            LoadModel::Closed {
                vus: options.concurrency,
                stop,
            }
        }
        Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
            return Err("--rate must be a number of requests per second above 0".to_owned())
        }
        Some(rate) => {
            if options.think.is_some() {
                return Err(
                    "--think does not apply with --rate: requests arrive at the rate".to_owned(),
                );
            }
            // -n with a rate means "this many requests, at this rate".
            let duration = match stop {
                StopCondition::Duration(d) => d,
                StopCondition::Iterations(n) => Duration::from_secs_f64(n as f64 / rate),
            };
            LoadModel::Open {
                rate: Ramp::constant(rate, duration),
                max_in_flight: options.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            }
        }
    };
    let method = Method::from_bytes(options.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", options.method))?;
    let mut headers = HeaderMap::new();
    for header in &options.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("header `{header}` must be written as 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{}` is not a valid header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        headers.append(name, value);
    }
    let body = Bytes::from(options.body.clone().unwrap_or_default());
    if !body.is_empty() && !headers.contains_key(CONTENT_TYPE) && body.starts_with(b"{") {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(AdHocPlan {
        target_label: format!("{host}:{port}"),
        base,
        phase: PhasePlan {
            name: "load".to_owned(),
            load,
            think: options.think.filter(|t| !t.is_zero()),
            client: ClientSettings {
                keep_alive: options.keep_alive,
                http2: options.http2,
                workers: None,
                cpus: None,
                client: if options.reqwest {
                    HttpClient::Reqwest
                } else {
                    HttpClient::Auto
                },
            },
            until_stable: None,
        },
        request: RequestPlan {
            name: format!("{method} {path}"),
            method,
            path,
            headers,
            body,
            weight: 1,
            timeout: options.timeout,
        },
    })
}

/// Runs the load and prints the summary; returns the process exit code.
pub fn run(options: &LoadOptions, workdir: &Path) -> Result<u8, String> {
    let plan = plan(options)?;
    if let Some(out) = &options.out {
        ReportFolder::check_replaceable(out)?;
    }
    let target = Target::at(&plan.base, std::slice::from_ref(&plan.request))?;
    let folder = match &options.out {
        Some(out) => Some(
            ReportFolder::create(out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?,
        ),
        None => None,
    };
    let raw = match &folder {
        Some(f) => Some(
            RawCsvWriter::create(&f.raw_dir().join("requests.csv"))
                .map_err(|e| format!("cannot create raw/requests.csv: {e}"))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    eprintln!(
        "benchrig: {} {}{}, {} (Ctrl-C stops early and prints what was measured)",
        plan.request.method,
        plan.base,
        plan.request.path,
        crate::manifest::describe_load(&plan.phase)
    );
    let sink: Option<RawSink> = raw.as_ref().map(|r| {
        r.begin_phase(&plan.target_label, "load", 1, target.request_names());
        r.sink()
    });
    let recording = runtime.block_on(async {
        let live = Arc::new(LiveCounters::default());
        let work = progress::track(
            "load",
            &plan.phase,
            &live,
            run_phase(&plan.phase, &target, sink, live.clone()),
        );
        tokio::pin!(work);
        tokio::select! {
            recording = &mut work => recording,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("benchrig: stopping: waiting for requests in flight");
                live.request_stop();
                tokio::select! {
                    recording = &mut work => recording,
                    _ = tokio::signal::ctrl_c() => std::process::exit(130),
                }
            }
        }
    });
    let result = PhaseResult::from_recording("load", 1, Duration::ZERO, &recording, &[]);
    print!("{}", summary_text(&result.metrics));

    if let (Some(folder), Some(raw)) = (folder, raw) {
        raw.finish()
            .map_err(|e| format!("raw/requests.csv is incomplete: {e}"))?;
        let run_plan = Plan::ad_hoc(
            &plan.target_label,
            plan.phase.clone(),
            plan.request.clone(),
            workdir,
        );
        let variants = [VariantResult {
            name: plan.target_label.clone(),
            argv: Vec::new(),
            port: 0,
            ready_after_s: None,
            phases: vec![result.clone()],
            failure: None,
            stop_note: None,
            warmups: Vec::new(),
        }];
        let data = RunData {
            started: std::time::SystemTime::now(),
            plan: &run_plan,
            variants: &variants,
            assertions: &[],
            environment: &Environment::capture(workdir, &[]),
        };
        let summary = SummaryCsv.render(&data).map_err(|e| e.to_string())?;
        folder
            .write(SummaryCsv.file_name(), &summary)
            .map_err(|e| format!("cannot write summary.csv: {e}"))?;
        let dir = folder
            .commit()
            .map_err(|e| format!("cannot move the results into place: {e}"))?;
        eprintln!(
            "benchrig: wrote {}/summary.csv and raw/requests.csv",
            dir.display()
        );
    }
    Ok(crate::exit_code::SUCCESS)
}

/// The summary printed after an ad-hoc load.
pub fn summary_text(m: &Metrics) -> String {
    let ms = |v: Option<f64>| filters::ms(minijinja::Value::from(v));
    let mut text = String::new();
    let line = |text: &mut String, key: &str, value: String| {
        text.push_str(&format!("  {key:<10} {value}\n"));
    };
    text.push_str("Summary:\n");
    line(
        &mut text,
        "requests",
        format!(
            "{} ({} responses, {} errors, {} success)",
            filters::int(m.requests.into()),
            filters::int(m.responses.into()),
            filters::int(m.errors.into()),
            filters::pct(m.success_rate.into())
        ),
    );
    line(
        &mut text,
        "duration",
        format!("{} s", format_number(m.duration_s)),
    );
    line(
        &mut text,
        "rate",
        match m.target_rps {
            Some(target) => format!(
                "{} requests/s (target {})",
                filters::rate(m.rps.into()),
                filters::rate(target.into())
            ),
            None => format!("{} requests/s", filters::rate(m.rps.into())),
        },
    );
    if m.target_rps.is_some() {
        line(
            &mut text,
            "dropped",
            format!(
                "{} (not sent: the in-flight cap was reached)",
                filters::int(m.dropped.into())
            ),
        );
        line(
            &mut text,
            "lagged",
            format!(
                "{} (sent over 2 ms late; lag p99 {} ms, max {} ms)",
                filters::int(m.lagged.into()),
                ms(m.lag_p99_ms),
                ms(m.lag_max_ms)
            ),
        );
    }
    line(
        &mut text,
        "bytes",
        format!("{} received", filters::int(m.bytes.into())),
    );
    text.push_str(if m.target_rps.is_some() {
        "Latency (ms, from each request's intended send time to its last byte):\n"
    } else {
        "Latency (ms, from sending each request to its last byte):\n"
    });
    for (name, value) in [
        ("mean", m.mean_ms),
        ("min", m.min_ms),
        ("p50", m.p50_ms),
        ("p90", m.p90_ms),
        ("p95", m.p95_ms),
        ("p99", m.p99_ms),
        ("p99.9", m.p999_ms),
        ("max", m.max_ms),
    ] {
        line(&mut text, name, ms(value));
    }
    if !m.statuses.is_empty() {
        text.push_str("Status codes:\n");
        for (status, count) in &m.statuses {
            line(
                &mut text,
                &status.to_string(),
                filters::int((*count).into()),
            );
        }
    }
    let transport = [
        ("connect", m.errors_connect),
        ("timeout", m.errors_timeout),
        ("reset", m.errors_reset),
        ("other", m.errors_other),
    ];
    if transport.iter().any(|(_, n)| *n > 0) {
        text.push_str("Errors without a response:\n");
        for (name, count) in transport.iter().filter(|(_, n)| *n > 0) {
            line(&mut text, name, filters::int((*count).into()));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> LoadOptions {
        LoadOptions {
            url: url.to_owned(),
            concurrency: 10,
            requests: None,
            duration: None,
            rate: None,
            max_in_flight: None,
            think: None,
            keep_alive: true,
            http2: false,
            reqwest: false,
            method: "get".to_owned(),
            headers: vec!["X-Test: 1".to_owned()],
            body: None,
            timeout: Duration::from_secs(30),
            out: None,
        }
    }

    #[test]
    fn plans_from_a_url() {
        let plan = plan(&options("http://127.0.0.1:8080/sleep?ms=20")).unwrap();
        assert_eq!(plan.base, "http://127.0.0.1:8080");
        assert_eq!(plan.request.path, "/sleep?ms=20");
        assert_eq!(plan.request.method, Method::GET);
        assert_eq!(plan.request.headers["x-test"], "1");
        assert_eq!(
            plan.phase.load,
            LoadModel::Closed {
                vus: 10,
                stop: StopCondition::Iterations(DEFAULT_REQUESTS)
            }
        );
        assert_eq!(plan.target_label, "127.0.0.1:8080");
    }

    #[test]
    fn rejects_what_cannot_work() {
        assert!(plan(&options("https://example.com/"))
            .unwrap_err()
            .contains("without TLS"));
        assert!(plan(&options("not a url")).is_err());
        let mut both = options("http://127.0.0.1:1/");
        both.requests = Some(5);
        both.duration = Some(Duration::from_secs(1));
        assert!(plan(&both).unwrap_err().contains("not both"));
        let mut bad_header = options("http://127.0.0.1:1/");
        bad_header.headers = vec!["NoColon".to_owned()];
        assert!(plan(&bad_header).unwrap_err().contains("'Name: value'"));
    }

    #[test]
    fn a_rate_makes_an_open_phase() {
        let mut open = options("http://127.0.0.1:1/");
        open.rate = Some(500.0);
        open.requests = Some(1000);
        let plan = plan(&open).unwrap();
        let LoadModel::Open {
            rate,
            max_in_flight,
        } = plan.phase.load
        else {
            panic!("expected an open phase")
        };
        assert_eq!(rate.total_duration(), Duration::from_secs(2));
        assert_eq!(max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        open.think = Some(Duration::from_millis(5));
        assert!(super::plan(&open).unwrap_err().contains("--think"));
    }

    #[test]
    fn summary_lists_latency_statuses_and_errors() {
        let mut tally = crate::results::Tally::new();
        tally.record_response(1500, 200, 12);
        tally.record_error(crate::results::ErrorClass::Connect);
        let text = summary_text(&Metrics::from_tally(&tally, Duration::from_secs(1), None));
        assert!(
            text.contains("  requests   2 (1 responses, 1 errors, 50.00 % success)"),
            "{text}"
        );
        assert!(text.contains("  p50        1.50"), "{text}");
        assert!(text.contains("  200        1"), "{text}");
        assert!(text.contains("  connect    1"), "{text}");
    }
}
