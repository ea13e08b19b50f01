//! `benchrig load URL`: a one-off load against a running server, like `hey` or `oha`, on the
//! same engine as experiments. Prints a summary and checks `--expect` expressions (the
//! manifest's assertion language); optionally writes the same CSVs. The exit code says whether
//! any request succeeded and every expectation held, so a one-off run can gate CI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Url;

use crate::assertions;
use crate::environment::Environment;
use crate::exit_code;
use crate::load::{run_phase, LiveCounters, RawSink, Target};
use crate::manifest::{
    self, expressions, split_header_line, Assertion, ClientKind, Executor, LoadSettings, PhasePlan,
    Plan, Problem, RequestPlan, RequestSpec,
};
use crate::metrics::{self, Samples};
use crate::output::{Export, RawCsvWriter, ReportFolder, RunData, SummaryCsv};
use crate::progress;
use crate::report::filters;
use crate::results::{AssertionOutcome, Metrics, PhaseResult, VariantResult};
use crate::text::{format_number, plural};

/// `benchrig load`'s options, each value parsed as a manifest parses it.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub concurrency: u64,
    pub requests: Option<u64>,
    pub duration: Option<manifest::Duration>,
    /// Open model: send at this rate instead of as fast as answered.
    pub rate: Option<manifest::Rate>,
    pub max_in_flight: Option<u64>,
    pub think: Option<manifest::Duration>,
    pub keep_alive: bool,
    pub http2: bool,
    /// Force reqwest instead of the lean HTTP/1.1 client.
    pub reqwest: bool,
    pub method: String,
    /// `Name: value` each.
    pub headers: Vec<String>,
    pub body: Option<String>,
    /// `None`: a manifest request's default.
    pub timeout: Option<manifest::Duration>,
    /// Folder for summary.csv and raw/requests.csv.
    pub out: Option<PathBuf>,
    /// Expressions over the phase's metrics (`p99_ms < 50`) that must hold.
    pub expect: Vec<String>,
}

/// Requests sent when neither a count nor a duration is given (as `hey` and `oha` do).
pub const DEFAULT_REQUESTS: u64 = 200;

/// The name of the one phase, in the results and in `phases['load']`.
const PHASE: &str = "load";

/// The most of an expression a problem quotes.
const QUOTED_CHARS: usize = 60;

/// What the user asked for, checked: the base URL, the phase and the request.
#[derive(Debug)]
pub struct AdHocPlan {
    pub base: String,
    pub target_label: String,
    pub phase: PhasePlan,
    pub request: RequestPlan,
    /// The `--expect` expressions, as unscoped assertions.
    pub expectations: Vec<Assertion>,
}

/// Turns command-line options into a plan. The phase and the request are checked by the
/// manifest's own planning, as if written in a manifest; each problem names its flag.
pub fn plan(options: &LoadOptions) -> Result<AdHocPlan, String> {
    let url = TargetUrl::parse(&options.url)?;
    let at = |field: &str| flag(field, options);
    let load = LoadSettings {
        keep_alive: Some(options.keep_alive),
        http2: Some(options.http2),
        client: options.reqwest.then_some(ClientKind::Reqwest),
        ..LoadSettings::default()
    };
    let phase = PhasePlan::from_phase(&phase_of(options), PHASE, &load, &at);
    let mut problems = Vec::new();
    for expr in &options.expect {
        if let Err(e) = check_expectation(expr, &url.label) {
            problems.push(Problem::new(format!("--expect `{}`", quoted(expr)), e));
        }
    }
    let mut headers = Vec::new();
    for line in &options.headers {
        match split_header_line(line) {
            Ok(header) => headers.push(header),
            Err(e) => problems.push(Problem::new(at("headers"), e)),
        }
    }
    let request = RequestPlan::from_spec(
        &RequestSpec {
            name: None,
            method: &options.method,
            path: &url.path,
            headers,
            body: options.body.as_deref(),
            json: None,
            weight: 1,
            timeout: options.timeout.map(|d| d.0),
        },
        &at,
    );
    let (phase, mut request) = match (phase, request) {
        (Ok(phase), Ok(request)) if problems.is_empty() => (phase, request),
        (phase, request) => {
            let found = phase.err().into_iter().chain(request.err()).flatten();
            return Err(found
                .chain(problems)
                .map(|problem| problem.to_string())
                .collect::<Vec<_>>()
                .join("\n"));
        }
    };
    // A body that looks like a JSON object is labelled as JSON unless a -H sets the type:
    // what `-b '{...}'` nearly always means.
    if request.body.starts_with(b"{") && !request.headers.contains_key(CONTENT_TYPE) {
        request
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(AdHocPlan {
        base: url.base,
        target_label: url.label,
        phase,
        request,
        expectations: options
            .expect
            .iter()
            .map(|expr| Assertion {
                expect: expr.clone(),
                variants: Vec::new(),
                phase: None,
                claim: None,
            })
            .collect(),
    })
}

/// Checks an `--expect` expression as a manifest's assertion is checked, where the one
/// variant is the target and the one phase is `load`.
fn check_expectation(expr: &str, target: &str) -> Result<(), String> {
    expressions::check_expression(expr)?;
    if expressions::check_baseline(expr, None).is_err() {
        return Err(
            "`baseline` is a manifest's `baseline:` variant, and `benchrig load` measures one target; compare with a number, or save two runs with --out and compare them with `benchrig compare`"
                .to_owned(),
        );
    }
    for (map, only) in [("variants", target), ("phases", PHASE)] {
        if let Some(name) = expressions::referenced_names(expr, map)
            .into_iter()
            .find(|name| name != only)
        {
            return Err(format!(
                "`{map}['{}']`: `benchrig load` has one {}, `{only}`",
                quoted(&name),
                map.trim_end_matches('s')
            ));
        }
    }
    Ok(())
}

/// The start of `text`, for a message: at most `QUOTED_CHARS` characters.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The phase the options describe, in the manifest's terms: closed with `-c` users, or open
/// at `--rate`.
fn phase_of(options: &LoadOptions) -> manifest::Phase {
    let think = options.think;
    match options.rate {
        None => manifest::Phase {
            vus: Some(options.concurrency),
            duration: options.duration,
            iterations: match options.duration {
                None => Some(options.requests.unwrap_or(DEFAULT_REQUESTS)),
                Some(_) => options.requests,
            },
            think,
            max_in_flight: options.max_in_flight,
            ..manifest::Phase::default()
        },
        Some(rate) => {
            // -n with a rate means "this many requests, at this rate". A rate of 0 is reported
            // by the phase's own check; the longest duration stands in for the infinite one.
            let requests = options.requests.unwrap_or(DEFAULT_REQUESTS);
            let duration = options.duration.unwrap_or_else(|| {
                manifest::Duration(
                    Duration::try_from_secs_f64(requests as f64 / rate.per_second)
                        .unwrap_or(Duration::MAX),
                )
            });
            manifest::Phase {
                executor: Executor::Open,
                rate: Some(rate),
                duration: Some(duration),
                iterations: options.duration.and(options.requests),
                think,
                max_in_flight: options.max_in_flight,
                ..manifest::Phase::default()
            }
        }
    }
}

/// The flag behind a field of the planned phase or request, for problems; `""` for the
/// phase as a whole.
fn flag(field: &str, options: &LoadOptions) -> String {
    let (name, rest) = field.split_once('.').unwrap_or((field, ""));
    match name {
        "" => String::new(),
        "vus" => "-c/--concurrency".to_owned(),
        "iterations" => "-n/--requests".to_owned(),
        // With a rate, -n becomes the duration.
        "duration" if options.duration.is_none() => "-n/--requests".to_owned(),
        "duration" => "-d/--duration".to_owned(),
        "rate" => "-r/--rate".to_owned(),
        "max_in_flight" => "--max-in-flight".to_owned(),
        "think" => "--think".to_owned(),
        "method" => "-m/--method".to_owned(),
        "headers" if rest.is_empty() => "-H/--header".to_owned(),
        "headers" => format!("-H/--header `{rest}`"),
        "body" => "-b/--body".to_owned(),
        "timeout" => "-t/--timeout".to_owned(),
        _ => format!("the URL `{}`", options.url),
    }
}

/// Where the load goes: the URL split into the server and the request's path.
struct TargetUrl {
    /// `http://host:port`.
    base: String,
    /// `host:port`, the variant's name in the results.
    label: String,
    /// Path and query.
    path: String,
}

impl TargetUrl {
    fn parse(text: &str) -> Result<TargetUrl, String> {
        let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
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
        Ok(TargetUrl {
            base: format!(
                "http://{}:{port}",
                url.host().map_or(host.to_owned(), |h| h.to_string())
            ),
            label: format!("{host}:{port}"),
            path: match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            },
        })
    }
}

/// Runs the load, prints the summary and the expectations, and returns the exit code; an
/// error is a problem with the options, found before any load.
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
        r.begin_phase(&plan.target_label, PHASE, 1, target.request_names());
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
                    _ = tokio::signal::ctrl_c() => std::process::exit(
                        (exit_code::INTERRUPTED_BASE + nix::sys::signal::Signal::SIGINT as u8).into()
                    ),
                }
            }
        }
    });
    let result = PhaseResult::from_recording(PHASE, 1, Duration::ZERO, &recording, &[]);
    print!("{}", summary_text(&result.metrics));
    let variants = [VariantResult {
        name: plan.target_label.clone(),
        argv: Vec::new(),
        port: 0,
        ready_after_s: None,
        phases: vec![result],
        failure: None,
        stop_note: None,
        warmups: Vec::new(),
    }];
    let outcomes = assertions::evaluate(&plan.expectations, &variants, &[PHASE.to_owned()], None);
    print!("{}", expectations_text(&outcomes));

    if let (Some(folder), Some(raw)) = (folder, raw) {
        let written = raw
            .finish()
            .map_err(|e| format!("raw/requests.csv is incomplete: {e}"))
            .and_then(|_| write_summary(folder, &plan, &variants, &outcomes, workdir));
        match written {
            Ok(dir) => eprintln!(
                "benchrig: wrote {}/summary.csv and raw/requests.csv",
                dir.display()
            ),
            Err(e) => {
                eprintln!("benchrig: error: {e}");
                return Ok(exit_code::RUN_ABORTED);
            }
        }
    }
    let metrics = &variants[0].phases[0].metrics;
    let code = load_exit_code(metrics, &outcomes);
    if code == exit_code::NO_REQUEST_SUCCEEDED {
        eprintln!(
            "benchrig: no request succeeded: of {} sent, {} got no response and {} a status of 400 or more",
            plural(metrics.requests as usize, "request"),
            metrics.requests - metrics.responses,
            metrics.errors_http,
        );
    }
    Ok(code)
}

/// summary.csv of the load, then the folder moved into place; returns where it is.
fn write_summary(
    folder: ReportFolder,
    plan: &AdHocPlan,
    variants: &[VariantResult],
    outcomes: &[AssertionOutcome],
    workdir: &Path,
) -> Result<PathBuf, String> {
    let run_plan = Plan::ad_hoc(
        &plan.target_label,
        plan.phase.clone(),
        plan.request.clone(),
        workdir,
    );
    let data = RunData {
        started: std::time::SystemTime::now(),
        plan: &run_plan,
        variants,
        assertions: outcomes,
        environment: &Environment::capture(workdir, &[]),
        rendered: &[],
    };
    let summary = SummaryCsv.render(&data).map_err(|e| e.to_string())?;
    folder
        .write(SummaryCsv.file_name(), &summary)
        .map_err(|e| format!("cannot write summary.csv: {e}"))?;
    folder
        .commit()
        .map_err(|e| format!("cannot move the results into place: {e}"))
}

/// The exit code of a finished load: no successful response at all outranks a failed
/// expectation.
fn load_exit_code(metrics: &Metrics, outcomes: &[AssertionOutcome]) -> u8 {
    if metrics.responses <= metrics.errors_http {
        exit_code::NO_REQUEST_SUCCEEDED
    } else if outcomes.iter().any(|o| !o.passed) {
        exit_code::ASSERTIONS_FAILED
    } else {
        exit_code::SUCCESS
    }
}

/// Each `--expect` with its verdict and the values it used (or why it could not be checked).
fn expectations_text(outcomes: &[AssertionOutcome]) -> String {
    if outcomes.is_empty() {
        return String::new();
    }
    let mut text = String::from("Expectations:\n");
    for outcome in outcomes {
        let verdict = if outcome.passed { "pass" } else { "FAIL" };
        text.push_str(&format!("  {verdict}  {}", outcome.expect));
        if !outcome.detail.is_empty() {
            text.push_str(&format!("  ({})", outcome.detail));
        }
        text.push('\n');
    }
    text
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
    line(
        &mut text,
        "goodput",
        format!(
            "{} successful responses/s (status < 400)",
            filters::rate(m.goodput.into())
        ),
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
    if let Some(n) = m.retries.filter(|n| *n > 0) {
        line(
            &mut text,
            "re-sent",
            format!(
                "{} (the kept-alive connection closed before answering; sent again on a fresh one)",
                filters::int(n.into())
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
    let latency = |text: &mut String, rows: &[(&str, &str)]| {
        for (label, name) in rows {
            line(text, label, latency_value(m, name));
        }
    };
    latency(
        &mut text,
        &[
            ("mean", "mean_ms"),
            ("min", "min_ms"),
            ("p50", "p50_ms"),
            ("p90", "p90_ms"),
            ("p95", "p95_ms"),
            ("p99", "p99_ms"),
            ("p99.9", "p999_ms"),
            ("max", "max_ms"),
        ],
    );
    // Beside the latency of every response, that of the successful ones, when some failed.
    if m.errors_http > 0 && m.responses > m.errors_http {
        text.push_str(&format!(
            "Latency of the {} (ms):\n",
            Samples::Successes.describe(m.responses - m.errors_http)
        ));
        latency(
            &mut text,
            &[
                ("mean", "success_mean_ms"),
                ("p50", "success_p50_ms"),
                ("p99", "success_p99_ms"),
            ],
        );
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

/// A latency metric in ms, or for a percentile resting on fewer samples than it needs,
/// "n<100 (16 responses)".
fn latency_value(m: &Metrics, name: &str) -> String {
    let value = m.value(name);
    let too_few = metrics::percentile(name)
        .filter(|_| value.is_some())
        .and_then(|p| Some((p, p.too_few(|n| m.value(n))?)));
    match too_few {
        Some((p, n)) => format!(
            "{} ({})",
            filters::too_few_marker(p.samples_needed()),
            p.samples.describe(n)
        ),
        None => filters::ms(minijinja::Value::from(value)),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::Method;

    use super::*;
    use crate::manifest::{
        LoadModel, StopCondition, DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT,
    };

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
            timeout: None,
            out: None,
            expect: Vec::new(),
        }
    }

    fn seconds(s: u64) -> Option<manifest::Duration> {
        Some(manifest::Duration(Duration::from_secs(s)))
    }

    fn problems(options: &LoadOptions) -> Vec<String> {
        plan(options)
            .unwrap_err()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn plans_from_a_url() {
        let plan = plan(&options("http://127.0.0.1:8080/sleep?ms=20")).unwrap();
        assert_eq!(plan.base, "http://127.0.0.1:8080");
        assert_eq!(plan.request.path, "/sleep?ms=20");
        assert_eq!(plan.request.name, "GET /sleep?ms=20");
        assert_eq!(plan.request.method, Method::GET);
        assert_eq!(plan.request.headers["x-test"], "1");
        assert_eq!(plan.request.timeout, DEFAULT_REQUEST_TIMEOUT);
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
        assert!(plan(&options("not a url"))
            .unwrap_err()
            .starts_with("`not a url` is not a URL"));
        let mut both = options("http://127.0.0.1:1/");
        both.requests = Some(5);
        both.duration = seconds(1);
        assert_eq!(
            problems(&both),
            ["both `duration` and `iterations` are set; a closed phase stops on one of them"]
        );
        let mut bad_header = options("http://127.0.0.1:1/");
        bad_header.headers = vec!["NoColon".to_owned()];
        assert_eq!(
            problems(&bad_header),
            ["-H/--header: `NoColon` must be written as 'Name: value'"]
        );
    }

    #[test]
    fn problems_name_their_flags_and_come_together() {
        let mut bad = options("http://127.0.0.1:1/");
        bad.concurrency = 0;
        bad.duration = seconds(0);
        bad.method = "NOT A METHOD".to_owned();
        bad.headers = vec!["Bad Name: 1".to_owned(), "X-Ok: a\u{1}b".to_owned()];
        bad.timeout = seconds(0);
        assert_eq!(
            problems(&bad),
            [
                "-c/--concurrency: must be at least 1",
                "-d/--duration: must be greater than zero",
                "-m/--method: `NOT A METHOD` is not an HTTP method",
                "-H/--header `Bad Name`: `Bad Name` is not a valid header name",
                "-H/--header `X-Ok`: the value is not a valid header value (control characters or non-ASCII)",
                "-t/--timeout: must be greater than zero",
            ]
        );
        let mut few = options("http://127.0.0.1:1/");
        few.requests = Some(0);
        assert_eq!(problems(&few), ["-n/--requests: must be at least 1"]);
        few.concurrency = 100_001;
        few.requests = None;
        assert_eq!(problems(&few), ["-c/--concurrency: must be at most 100000"]);
    }

    #[test]
    fn a_rate_makes_an_open_phase() {
        let mut open = options("http://127.0.0.1:1/");
        open.rate = Some(manifest::Rate::parse_flag("500").unwrap());
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
        open.think = Some(manifest::Duration(Duration::from_millis(5)));
        assert_eq!(
            problems(&open),
            ["--think: `think` does not apply to the open executor; requests arrive at `rate`, not after a pause"]
        );
    }

    #[test]
    fn open_phase_problems_name_their_flags() {
        let mut zero = options("http://127.0.0.1:1/");
        zero.rate = Some(manifest::Rate::parse_flag("0").unwrap());
        assert_eq!(problems(&zero), ["-r/--rate: must be greater than zero"]);
        let mut capped = options("http://127.0.0.1:1/");
        capped.rate = Some(manifest::Rate::parse_flag("10/s").unwrap());
        capped.max_in_flight = Some(0);
        capped.requests = Some(0);
        assert_eq!(
            problems(&capped),
            [
                "-n/--requests: must be greater than zero",
                "--max-in-flight: must be from 1 to 100000"
            ]
        );
        capped.requests = None;
        capped.duration = seconds(0);
        capped.max_in_flight = Some(5);
        assert_eq!(
            problems(&capped),
            ["-d/--duration: must be greater than zero"]
        );
    }

    #[test]
    fn expectations_are_checked_before_any_load() {
        let mut expecting = options("http://127.0.0.1:8080/");
        expecting.expect = vec![
            "p99_ms < 50 and error_rate == 0".to_owned(),
            "rps > 0.5 * phases['load'].rps and variants['127.0.0.1:8080'].rps > 0".to_owned(),
        ];
        assert_eq!(plan(&expecting).unwrap().expectations.len(), 2);
        expecting.expect = vec![
            "p99ms < 5".to_owned(),
            "p99_ms < 2 * baseline.p99_ms".to_owned(),
            "rps > variants['other'].rps".to_owned(),
            format!("p99_ms < 1{}", " + 1".repeat(40)),
        ];
        let found = problems(&expecting);
        assert_eq!(
            found[..3],
            [
                "--expect `p99ms < 5`: unknown name `p99ms`; did you mean `p99_ms`?",
                "--expect `p99_ms < 2 * baseline.p99_ms`: `baseline` is a manifest's `baseline:` variant, and `benchrig load` measures one target; compare with a number, or save two runs with --out and compare them with `benchrig compare`",
                "--expect `rps > variants['other'].rps`: `variants['other']`: `benchrig load` has one variant, `127.0.0.1:8080`",
            ]
        );
        assert_eq!(found.len(), 3, "a long valid expression is fine: {found:?}");
        let unclosed = format!("p99_ms < {}", "(".repeat(100));
        expecting.expect = vec![unclosed.clone()];
        let long = problems(&expecting);
        assert!(
            long[0].starts_with(&format!("--expect `{}…`: ", &unclosed[..QUOTED_CHARS])),
            "{long:?}"
        );
    }

    #[test]
    fn no_successful_response_outranks_a_failed_expectation() {
        let outcome = |passed| AssertionOutcome {
            expect: "p99_ms < 1".to_owned(),
            variant: "127.0.0.1:8080".to_owned(),
            phase: PHASE.to_owned(),
            passed,
            detail: "p99_ms = 2".to_owned(),
            claim: None,
        };
        let metrics = |tally: &crate::results::Tally| {
            Metrics::from_tally(tally, Duration::from_secs(1), None)
        };
        let mut tally = crate::results::Tally::new();
        assert_eq!(
            load_exit_code(&metrics(&tally), &[]),
            exit_code::NO_REQUEST_SUCCEEDED,
            "nothing sent"
        );
        tally.record_error(crate::results::ErrorClass::Connect);
        tally.record_response(100, 404, 0);
        assert_eq!(
            load_exit_code(&metrics(&tally), &[outcome(true)]),
            exit_code::NO_REQUEST_SUCCEEDED
        );
        tally.record_response(100, 302, 0);
        assert_eq!(
            load_exit_code(&metrics(&tally), &[outcome(true)]),
            exit_code::SUCCESS,
            "a redirect is a success"
        );
        assert_eq!(
            load_exit_code(&metrics(&tally), &[outcome(true), outcome(false)]),
            exit_code::ASSERTIONS_FAILED
        );
        assert_eq!(
            expectations_text(&[outcome(true), outcome(false)]),
            "Expectations:\n  pass  p99_ms < 1  (p99_ms = 2)\n  FAIL  p99_ms < 1  (p99_ms = 2)\n"
        );
        assert_eq!(expectations_text(&[]), "");
    }

    #[test]
    fn a_json_looking_body_is_sent_as_json_unless_a_header_says_otherwise() {
        let mut post = options("http://127.0.0.1:1/items");
        post.method = "post".to_owned();
        post.body = Some(r#"{"id":1}"#.to_owned());
        let plan = plan(&post).unwrap();
        assert_eq!(plan.request.method, Method::POST);
        assert_eq!(&plan.request.body[..], br#"{"id":1}"#);
        assert_eq!(plan.request.headers[CONTENT_TYPE], "application/json");
        post.headers = vec!["content-type: text/plain".to_owned()];
        let plan = super::plan(&post).unwrap();
        assert_eq!(plan.request.headers[CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn summary_lists_latency_statuses_and_errors() {
        let mut tally = crate::results::Tally::new();
        tally.record_response(1500, 200, 12);
        tally.record_response(1500, 200, 12);
        tally.record_error(crate::results::ErrorClass::Connect);
        let text = summary_text(&Metrics::from_tally(&tally, Duration::from_secs(1), None));
        assert!(
            text.contains("  requests   3 (2 responses, 1 errors, 66.67 % success)"),
            "{text}"
        );
        assert!(
            text.contains("  goodput    2.0 successful responses/s"),
            "{text}"
        );
        assert!(text.contains("  p50        1.50\n"), "{text}");
        assert!(
            text.contains("  p90        n<10 (2 responses)\n"),
            "too few responses for a p90: {text}"
        );
        assert!(
            !text.contains("successful responses (ms)"),
            "no failed response: {text}"
        );
        assert!(text.contains("  200        2"), "{text}");
        assert!(text.contains("  connect    1"), "{text}");
        assert!(!text.contains("re-sent"), "{text}");
        tally.record_retries(2);
        let text = summary_text(&Metrics::from_tally(&tally, Duration::from_secs(1), None));
        assert!(text.contains("  re-sent    2 (the kept-alive"), "{text}");
    }

    #[test]
    fn summary_adds_the_latency_of_successful_responses_when_some_failed() {
        let mut tally = crate::results::Tally::new();
        for _ in 0..3 {
            tally.record_response(4_000, 200, 1);
            tally.record_response(100, 503, 0);
        }
        let text = summary_text(&Metrics::from_tally(&tally, Duration::from_secs(2), None));
        assert!(text.contains("  rate       3.0 requests/s\n"), "{text}");
        assert!(text.contains("  goodput    1.5 successful"), "{text}");
        assert!(
            text.contains(
                "Latency of the 3 successful responses (ms):\n  mean       4.00\n  p50        4.00\n  p99        n<100 (3 successful responses)\n"
            ),
            "{text}"
        );
    }
}
