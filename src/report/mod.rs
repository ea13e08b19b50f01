//! report.md and its plots, rendered from a saved report folder through a minijinja template
//! (the default one embedded here, or the manifest's `report.template`). Rendering reads only
//! the folder's files, so `benchrig report` reproduces a committed report byte for byte.

mod claims;
mod context;
pub mod filters;
mod functions;
mod published;

pub mod plots;
mod verdict;

use std::path::{Path, PathBuf};

use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};

pub use context::{
    build as build_context, phase_trials, plot_paths, plot_titles, pooled_latency, rps_points,
    ReportContext,
};

use crate::output::SavedRun;

/// Name of the embedded default template; custom templates extend or include it by this name.
pub const DEFAULT_TEMPLATE_NAME: &str = "default.md.j2";
const DEFAULT_TEMPLATE: &str = include_str!("default.md.j2");

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Data(String),
    /// A template problem, located: "reports/x.md.j2:12: unknown filter `msx`".
    #[error("{file}:{line}: {message}")]
    Template {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

/// The environment every report template renders in: the report filters, Markdown-friendly
/// whitespace, and undefined values that render as nothing rather than fail.
pub fn template_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    filters::register(&mut env);
    functions::register(&mut env);

    env
}

fn template_error(error: &minijinja::Error, custom: Option<&Path>) -> ReportError {
    let name = error.name().unwrap_or(DEFAULT_TEMPLATE_NAME);
    let file = match custom {
        Some(path) if name != DEFAULT_TEMPLATE_NAME => path
            .parent()
            .map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
            .display()
            .to_string(),
        _ => format!("(built-in) {name}"),
    };
    ReportError::Template {
        file,
        line: error.line().unwrap_or(0),
        message: error
            .detail()
            .map(|d| format!("{}: {d}", error.kind()))
            .unwrap_or_else(|| error.kind().to_string()),
    }
}

/// Renders report.md. `template`: a custom template file; others it includes are looked up
/// beside it, and `default.md.j2` is the built-in one.
pub fn render(data: &SavedRun, template: Option<&Path>) -> Result<String, ReportError> {
    let mut env = template_environment();
    let dir = template.and_then(Path::parent).map(Path::to_owned);
    env.set_loader(move |name| {
        if name == DEFAULT_TEMPLATE_NAME {
            return Ok(Some(DEFAULT_TEMPLATE.to_owned()));
        }
        let Some(dir) = &dir else { return Ok(None) };
        if name.split(['/', '\\']).any(|part| part == "..") {
            return Ok(None);
        }
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read template {name}: {e}"),
            )),
        }
    });
    let name = match template {
        Some(path) => path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ReportError::Data(format!("{} is not a template file", path.display())))?
            .to_owned(),
        None => DEFAULT_TEMPLATE_NAME.to_owned(),
    };
    let context = Value::from(Serde(build_context(data)));
    env.get_template(&name)
        .and_then(|t| t.render(context))
        .map_err(|e| template_error(&e, template))
}

/// The SVG plots of the report: (path inside the folder, SVG text).
pub fn render_plots(data: &SavedRun) -> Result<Vec<(String, String)>, ReportError> {
    let mut files = Vec::new();
    for phase in &data.record.phases {
        let (latency_path, rps_path) = plot_paths(&phase.name);
        let (latency_title, rps_title) = plot_titles(&phase.name, phase_trials(data, &phase.name));
        let latency: Vec<plots::Series> = data
            .record
            .variants
            .iter()
            .filter_map(|v| {
                Some(plots::Series {
                    name: v.name.clone(),
                    points: plots::percentile_points(&pooled_latency(data, &v.name, &phase.name)?),
                })
            })
            .collect();
        if !latency.is_empty() {
            files.push((
                latency_path,
                plots::latency_spectrum_svg(&latency_title, &latency).map_err(ReportError::Data)?,
            ));
        }
        let rps: Vec<plots::Series> = data
            .record
            .variants
            .iter()
            .filter_map(|v| {
                let points = rps_points(data, &v.name, &phase.name);
                (!points.is_empty()).then(|| plots::Series {
                    name: v.name.clone(),
                    points,
                })
            })
            .collect();
        if !rps.is_empty() {
            files.push((
                rps_path,
                plots::rps_over_time_svg(&rps_title, &rps).map_err(ReportError::Data)?,
            ));
        }
    }
    Ok(files)
}

/// Renders report.md and the plots of the report folder `dir` from its saved files. Each file
/// is written beside its final name and renamed into place, so a failure leaves the previous
/// one intact. `template_base`: where a relative custom template path starts.
pub fn write_report(dir: &Path, template_base: &Path) -> Result<PathBuf, ReportError> {
    let data = SavedRun::load(dir).map_err(ReportError::Data)?;
    let template = data
        .record
        .experiment
        .template
        .as_ref()
        .map(|t| template_base.join(t));
    if let Some(path) = &template {
        if !path.is_file() {
            return Err(ReportError::Data(format!(
                "the report template {} does not exist",
                path.display()
            )));
        }
    }
    let markdown = render(&data, template.as_deref())?;
    let plots = render_plots(&data)?;
    let io =
        |e: std::io::Error| ReportError::Io(format!("cannot write into {}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("plots")).map_err(io)?;
    for (path, svg) in &plots {
        write_atomically(&dir.join(path), svg.as_bytes()).map_err(io)?;
    }
    let report = dir.join("report.md");
    write_atomically(&report, markdown.as_bytes()).map_err(io)?;
    Ok(report)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::output::hlog::{HistogramTag, TaggedHistogram};
    use crate::output::{MetricsRow, RunRecord, TimeseriesRow};
    use crate::results::AssertionOutcome;
    use crate::results::{Metrics, SecondStats, Tally};

    fn metrics(latency_ms: u64, requests: u64, seconds: u64) -> (Metrics, Tally) {
        let mut tally = Tally::new();
        for i in 0..requests {
            tally.record_response(latency_ms * 1000 + i % 7 * 10, 200, 12);
        }
        let m = Metrics::from_tally(&tally, Duration::from_secs(seconds), None);
        (m, tally)
    }

    /// A saved run with a fast variant, a slow one and one that failed to start.
    fn saved_run() -> SavedRun {
        let record: RunRecord = serde_json::from_value(serde_json::json!({
            "format": 1,
            "experiment": {
                "name": "demo",
                "description": "Does a second thread help?",
                "manifest": "experiments/demo.yaml",
                "manifest_sha256": "0123456789abcdef0123456789abcdef",
                "baseline": null,
                "template": null
            },
            "environment": {
                "date": "2026-01-01T00:00:00Z", "benchrig_version": "0.0.0",
                "git_commit": "abcdef0123456789", "git_dirty": false,
                "cpu_model": "Test CPU", "cores": 2, "memory_gib": 4.0,
                "kernel": "6.0", "os": "TestOS", "rustc": "rustc 1.0.0",
                "python": [{ "venv": "servers/python/.venv", "version": "Python 3.11.7", "packages": ["flask==3.1.3"] }]
            },
            "setup": ["cargo build --release"],
            "variants": [
                { "name": "fast", "command": "server --port '{{ port }}'", "argv": ["server", "--port", "4000"], "port": 4000,
                  "env": { "API_TOKEN": "(masked)" }, "ready_after_s": 0.25, "stop_grace": "5s", "failure": null, "stop_note": null },
                { "name": "slow", "command": "server --port '{{ port }}' --slow", "argv": [], "port": 4001,
                  "env": {}, "ready_after_s": 0.5, "stop_grace": "5s", "failure": null, "stop_note": "did not exit within 5s of SIGTERM and was killed" },
                { "name": "broken", "command": "server --broken", "argv": [], "port": 4002, "env": {}, "ready_after_s": null,
                  "stop_grace": "5s", "failure": { "stage": "ready", "reason": "exited with status 3 before becoming ready", "log_tail": "fatal: address in use" },
                  "stop_note": null }
            ],
            "warmup": "2 VUs for 1s",
            "phases": [{ "name": "main", "description": "Closed model: 10 virtual users, for 5s.", "load": "10 VUs for 5s", "open": false }],
            "requests": [
                { "name": "hello", "method": "GET", "path": "/hello", "weight": 3, "body_bytes": 0 },
                { "name": "odd|name", "method": "POST", "path": "/items/x", "weight": 1, "body_bytes": 2 }
            ],
            "assertions": []
        }))
        .unwrap();
        let (fast, fast_tally) = metrics(2, 1000, 5);
        let (slow, slow_tally) = metrics(8, 250, 5);
        let row = |variant: &str, request: Option<&str>, metrics: &Metrics| MetricsRow {
            variant: variant.into(),
            phase: "main".into(),
            trial: 1,
            request: request.map(str::to_owned),
            metrics: metrics.clone(),
        };
        let assertions = vec![
            AssertionOutcome {
                expect: "p99_ms < 5".into(),
                variant: "fast".into(),
                phase: "main".into(),
                passed: true,
                detail: "p99_ms = 2.06".into(),
                claim: None,
            },
            AssertionOutcome {
                expect: "p99_ms < 5".into(),
                variant: "slow".into(),
                phase: "main".into(),
                passed: false,
                detail: "p99_ms = 8.06".into(),
                claim: None,
            },
        ];
        let histogram = |variant: &str, tally: &Tally| TaggedHistogram {
            tag: HistogramTag {
                variant: variant.into(),
                phase: "main".into(),
                trial: 1,
                request: None,
            },
            start: Duration::ZERO,
            length: Duration::from_secs(5),
            histogram: tally.latency.clone(),
        };
        let seconds = |variant: &str, per_second: u64| -> Vec<TimeseriesRow> {
            (0..5)
                .map(|s| TimeseriesRow {
                    variant: variant.into(),
                    phase: "main".into(),
                    trial: 1,
                    second: SecondStats {
                        second: s,
                        requests: per_second,
                        errors: 0,
                        p50_ms: Some(2.0),
                        p99_ms: Some(3.0),
                        cpu_pct: None,
                        rss_mb: None,
                        pss_mb: None,
                        client_cpu_pct: None,
                    },
                })
                .collect()
        };
        SavedRun {
            record: RunRecord {
                assertions,
                ..record
            },
            results: vec![row("fast", None, &fast), row("slow", None, &slow)],
            by_request: vec![
                row("fast", Some("hello"), &fast),
                row(
                    "fast",
                    Some("odd|name"),
                    &Metrics::from_tally(&Tally::new(), Duration::from_secs(5), None),
                ),
            ],
            timeline: [seconds("fast", 200), seconds("slow", 50)].concat(),
            histograms: vec![
                histogram("fast", &fast_tally),
                histogram("slow", &slow_tally),
            ],
        }
    }

    #[test]
    fn default_report_snapshot() {
        let markdown = render(&saved_run(), None).unwrap();
        insta::assert_snapshot!(markdown);
    }

    #[test]
    fn markdown_blocks_are_separated_by_blank_lines() {
        let report = render(&saved_run(), None).unwrap();
        let lines: Vec<&str> = report.lines().collect();
        for (i, line) in lines.iter().enumerate().skip(1) {
            let block_start = line.starts_with('#')
                || line.starts_with("| variant |")
                || line.starts_with("| result |")
                || line.starts_with("| name |")
                || line.starts_with("| |");
            if block_start {
                assert_eq!(lines[i - 1], "", "no blank line before {line:?}:\n{report}");
            }
        }
        assert!(
            report.ends_with('\n') && !report.ends_with("\n\n"),
            "one final newline"
        );
        assert!(
            !report.contains("\n\n\n"),
            "no runs of blank lines:\n{report}"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let run = saved_run();
        assert_eq!(render(&run, None).unwrap(), render(&run, None).unwrap());
        let plots = render_plots(&run).unwrap();
        assert_eq!(plots, render_plots(&run).unwrap());
        let names: Vec<&str> = plots.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["plots/main-latency.svg", "plots/main-rps.svg"]);
    }

    /// `saved_run` with a second trial of every variant: half the requests/s of the first.
    fn two_trials() -> SavedRun {
        let mut run = saved_run();
        let second = |rows: &[MetricsRow]| -> Vec<MetricsRow> {
            rows.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.trial = 2;
                    r.metrics.requests /= 2;
                    r.metrics.responses /= 2;
                    r.metrics.rps /= 2.0;
                    r.metrics.goodput /= 2.0;
                    r
                })
                .collect()
        };
        run.results.extend(second(&run.results));
        run.by_request.extend(second(&run.by_request));
        let timeline: Vec<TimeseriesRow> = run
            .timeline
            .iter()
            .map(|t| {
                let mut t = t.clone();
                t.trial = 2;
                t.second.requests /= 2;
                t
            })
            .collect();
        run.timeline.extend(timeline);
        let histograms: Vec<TaggedHistogram> = run
            .histograms
            .iter()
            .map(|h| {
                let mut h = h.clone();
                h.tag.trial = 2;
                h
            })
            .collect();
        run.histograms.extend(histograms);
        run
    }

    #[test]
    fn per_request_tables_and_plots_draw_every_trial_and_say_so() {
        let run = two_trials();
        let report = render(&run, None).unwrap();
        // The median of 1,000 and 500 requests, as the results table takes it.
        assert!(
            report.contains("| fast | hello | 750 | 750 | 150.0 | 150.0 |"),
            "{report}"
        );
        assert!(
            report.contains("Medians of the 2 trials of each variant, as in the table above"),
            "{report}"
        );
        assert!(
            report.contains(
                "![main: latency by percentile, 2 trials pooled](plots/main-latency.svg)"
            ),
            "{report}"
        );
        assert!(report.contains("histograms of all 2 trials of each variant added together"));
        // Each second: the median of the two trials' 200 and 100 requests.
        let points = rps_points(&run, "fast", "main");
        assert_eq!(points.len(), 5);
        assert!(points.iter().all(|p| p.1 == 150.0), "{points:?}");
        // Both trials' latencies, added.
        let pooled = pooled_latency(&run, "fast", "main").unwrap();
        assert_eq!(pooled.len(), 2 * run.histograms[0].histogram.len());
        let plots = render_plots(&run).unwrap();
        assert!(plots[0]
            .1
            .contains("main: latency by percentile, 2 trials pooled"));
        assert!(plots[1]
            .1
            .contains("main: requests per second, median of 2 trials"));
    }

    #[test]
    fn published_numbers_sit_beside_the_measured_ones() {
        let mut run = saved_run();
        assert!(!render(&run, None)
            .unwrap()
            .contains("Published vs measured"));
        run.record.published = vec![crate::manifest::Published {
            source: "a write-up".into(),
            variant: "fast".into(),
            phase: "main".into(),
            values: vec![("rps".into(), 100.0), ("p99_ms".into(), 4.0)],
            note: Some("their machine | ours".into()),
        }];
        let report = render(&run, None).unwrap();
        let measured = run.results[0].metrics.rps;
        assert!(
            report.contains(&format!(
                "| fast | main | `rps` | 100.0 | {} | {:.2}× | a write-up | their machine \\| ours |",
                filters::rate(measured.into()),
                measured / 100.0
            )),
            "{report}"
        );
        assert!(
            report.contains("| fast | main | `p99_ms` | 4.00 |"),
            "{report}"
        );
    }

    #[test]
    fn claims_render_as_held_or_contradicted_with_their_numbers() {
        let mut run = saved_run();
        assert!(!render(&run, None).unwrap().contains("Claims"));
        run.record.assertions[0].claim = Some("fast answers within 5 ms".into());
        run.record.assertions[1].claim = Some("slow answers within 5 ms too".into());
        let report = render(&run, None).unwrap();
        assert!(
            report.contains(
                "- ✅ fast answers within 5 ms (`p99_ms < 5`; fast / main: p99_ms = 2.06)"
            ),
            "{report}"
        );
        assert!(
            report.contains("- ❌ **contradicted:** slow answers within 5 ms too (`p99_ms < 5`; slow / main: p99_ms = 8.06)"),
            "{report}"
        );
        assert!(
            report.contains("> ❌ **1 of 2 claims contradicted by this run's numbers**"),
            "{report}"
        );
    }

    #[test]
    fn re_sent_requests_get_a_note_only_when_there_are_some() {
        let mut run = saved_run();
        assert!(!render(&run, None).unwrap().contains("Sent a second time"));
        run.results[1].metrics.retries = Some(3);
        let report = render(&run, None).unwrap();
        assert!(
            report.contains("closed before any byte of the response: slow: 3 requests."),
            "{report}"
        );
    }

    #[test]
    fn failed_responses_add_the_latency_of_the_successful_ones() {
        let mut run = saved_run();
        let table = "| variant | successful responses | mean ms | p50 ms | p99 ms |";
        assert!(
            !render(&run, None).unwrap().contains(table),
            "no errors, no table"
        );
        // 40 quick 503s among 60 successful responses of 8 ms.
        let mut tally = Tally::new();
        for _ in 0..60 {
            tally.record_response(8_000, 200, 12);
        }
        for _ in 0..40 {
            tally.record_response(100, 503, 0);
        }
        run.results[1].metrics = Metrics::from_tally(&tally, Duration::from_secs(5), None);
        let report = render(&run, None).unwrap();
        assert!(report.contains(table), "{report}");
        assert!(
            report.contains("| slow | 60 | 8.00 | 8.00 | n<100 |"),
            "60 successful responses are too few for a p99:\n{report}"
        );
        assert!(
            report.contains(
                "| slow | 100 | 100 | 20.0 | 12.0 | 0.06× | 60.00 % | 40 (http ≥400 40) |"
            ),
            "goodput beside req/s:\n{report}"
        );
        // A summary.csv written before successful latency was recorded: no empty table.
        run.results[1].metrics.success_mean_ms = None;
        run.results[1].metrics.success_p50_ms = None;
        run.results[1].metrics.success_p99_ms = None;
        assert!(!render(&run, None).unwrap().contains(table));
    }

    #[test]
    fn a_baseline_changes_the_comparison() {
        let mut run = saved_run();
        run.record.experiment.baseline = Some("slow".into());
        let report = render(&run, None).unwrap();
        assert!(
            report.contains("| variant | requests | responses | req/s | goodput | vs slow |"),
            "{report}"
        );
        assert!(
            report.contains("| fast | 1,000 | 1,000 | 200.0 | 200.0 | 4.00× |"),
            "{report}"
        );
    }

    #[test]
    fn template_errors_name_the_template_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("custom.md.j2");
        std::fs::write(
            &template,
            "# {{ name }}\n\n{% for p in phases %}\n{{ p.name | nosuchfilter }}\n{% endfor %}\n",
        )
        .unwrap();
        let err = render(&saved_run(), Some(&template))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:4:", template.display())),
            "{err}"
        );
        assert!(err.contains("nosuchfilter"), "{err}");
        std::fs::write(&template, "line one\n{% if %}\n").unwrap();
        let err = render(&saved_run(), Some(&template))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:2:", template.display())),
            "{err}"
        );
    }

    #[test]
    fn custom_templates_extend_the_default_and_use_the_filters() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("custom.md.j2");
        std::fs::write(
            &template,
            "{% extends \"default.md.j2\" %}\n{% block description %}Custom: {{ phases[0].rows[0].metrics.p50_ms | ms }} ms, {{ 1536 | bytes }}.\n\n{% endblock %}\n{% block environment %}{% endblock %}\n",
        )
        .unwrap();
        let report = render(&saved_run(), Some(&template)).unwrap();
        assert!(report.contains("Custom: 2.03 ms, 1.5 KiB."), "{report}");
        assert!(report.contains("### main"), "the default blocks remain");
        assert!(
            !report.contains("## Environment"),
            "the overridden block is gone"
        );
    }
}
