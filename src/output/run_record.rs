//! run.json: what ran, where, and what the assertions found — everything the report needs
//! besides the numbers in the CSVs and the histograms. Environment values are recorded only
//! when the manifest lists them as safe, and values of secret-looking names never.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Export, RunData};
use crate::environment::Environment;
use crate::manifest::{describe_load, describe_phase};
use crate::manifest::{ClientSettings, HttpClient, TrialSchedule};
use crate::results::AssertionOutcome;
use crate::results::{VariantFailure, WarmupNote};

/// Version of the run.json layout: bumped whenever the layout changes (docs/outputs.md).
/// 2: phases' client settings, requests' timeouts, server versions, rendered files.
pub const RUN_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u32,
    pub experiment: ExperimentRecord,
    pub environment: Environment,
    pub setup: Vec<String>,
    /// Processes that ran once for all variants.
    #[serde(default)]
    pub services: Vec<ServiceRecord>,
    pub variants: Vec<VariantRecord>,
    pub warmup: Option<String>,
    pub phases: Vec<PhaseRecord>,
    pub requests: Vec<RequestRecord>,
    pub assertions: Vec<AssertionOutcome>,
    /// Numbers published elsewhere, from the manifest's `published:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<crate::manifest::Published>,
    /// CPUs the load generator was pinned to.
    #[serde(default)]
    pub load_cpus: Option<Vec<usize>>,
    /// Files benchrig rendered from templates for the processes (`render(...)`), kept in the
    /// report folder.
    #[serde(default)]
    pub rendered: Vec<RenderedFile>,
}

/// A file rendered by `render(...)` for a variant's or a service's process, as its first
/// trial used it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedFile {
    /// The variant or service.
    pub owner: String,
    /// The copy in the report folder, relative to it: `rendered/VARIANT/front.conf`.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    pub name: String,
    pub description: String,
    /// The manifest's path as given to `benchrig run`.
    pub manifest: String,
    pub manifest_sha256: String,
    pub baseline: Option<String>,
    /// A custom report template, relative to where benchrig ran.
    pub template: Option<String>,
    /// Trials per variant.
    #[serde(default = "one")]
    pub repeat: u32,
    /// "interleaved" or "shuffled".
    #[serde(default = "interleaved")]
    pub order: String,
    /// Seed of a shuffled order.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn one() -> u32 {
    1
}

fn interleaved() -> String {
    "interleaved".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    pub name: String,
    /// The command as written in the manifest, placeholders kept.
    pub command: String,
    /// The command as run.
    pub argv: Vec<String>,
    pub port: u16,
    /// Environment variables the manifest sets: safe values, or a note why not recorded.
    pub env: BTreeMap<String, String>,
    pub ready_after_s: Option<f64>,
    pub stop_grace: String,
    pub failure: Option<VariantFailure>,
    pub stop_note: Option<String>,
    /// CPUs the variant's processes were pinned to.
    #[serde(default)]
    pub cpus: Option<Vec<usize>>,
    #[serde(default)]
    pub warmups: Vec<WarmupNote>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    /// As written in the manifest, placeholders kept.
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    /// One or two sentences for the report.
    pub description: String,
    /// The load in a few words: "50 VUs for 10s".
    pub load: String,
    pub open: bool,
    /// The load generator's client; absent in files of format 1.
    #[serde(default)]
    pub client: Option<ClientRecord>,
}

/// The settings of the load generator's client that change the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub keep_alive: bool,
    /// "HTTP/1.1" or "h2c".
    pub protocol: String,
    /// "lean HTTP/1.1" (benchrig's own) or "reqwest".
    pub client: String,
    /// Threads of the load generator; `None`: one per core, or per CPU in `load_cpus`.
    pub threads: Option<u32>,
}

impl ClientRecord {
    fn of(settings: &ClientSettings) -> ClientRecord {
        ClientRecord {
            keep_alive: settings.keep_alive,
            protocol: if settings.http2 { "h2c" } else { "HTTP/1.1" }.to_owned(),
            // The lean client speaks plain HTTP/1.1 only; reqwest does the rest.
            client: match (settings.client, settings.http2) {
                (HttpClient::Auto, false) => "lean HTTP/1.1",
                _ => "reqwest",
            }
            .to_owned(),
            threads: settings.workers,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub name: String,
    pub method: String,
    pub path: String,
    pub weight: u32,
    pub body_bytes: usize,
    /// Time allowed for a whole response, in seconds; absent in files of format 1.
    #[serde(default)]
    pub timeout_s: Option<f64>,
}

/// Recorded in place of a value the manifest did not list in `report.safe_env`.
pub const NOT_RECORDED: &str = "(not recorded: add the name to report.safe_env to record it)";
/// Recorded in place of the value of a secret-looking name, listed or not.
pub const MASKED: &str = "(masked)";

/// Whether an environment variable's name suggests its value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "KEY",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PWD",
        "CREDENTIAL",
        "AUTH",
        "PRIVATE",
        "COOKIE",
        "SESSION",
        "CERT",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

fn recorded_env(env: &BTreeMap<String, String>, safe: &[String]) -> BTreeMap<String, String> {
    env.iter()
        .map(|(name, value)| {
            let shown = if looks_secret(name) {
                MASKED.to_owned()
            } else if safe.contains(name) {
                value.clone()
            } else {
                NOT_RECORDED.to_owned()
            };
            (name.clone(), shown)
        })
        .collect()
}

impl RunRecord {
    pub fn from_run(data: &RunData) -> RunRecord {
        let plan = data.plan;
        RunRecord {
            format: RUN_FORMAT,
            experiment: ExperimentRecord {
                name: plan.name.clone(),
                description: plan.description.trim().to_owned(),
                manifest: plan.manifest_path.display().to_string(),
                manifest_sha256: plan.manifest_sha256.clone(),
                baseline: plan.baseline.clone(),
                template: plan.report_template.as_ref().map(|t| {
                    t.strip_prefix(&plan.workdir)
                        .unwrap_or(t)
                        .display()
                        .to_string()
                }),
                repeat: plan.repeat,
                order: match plan.schedule {
                    TrialSchedule::Interleaved => "interleaved".to_owned(),
                    TrialSchedule::Shuffled { .. } => "shuffled".to_owned(),
                },
                seed: match plan.schedule {
                    TrialSchedule::Interleaved => None,
                    TrialSchedule::Shuffled { seed } => Some(seed),
                },
            },
            environment: data.environment.clone(),
            setup: plan.setup.iter().map(shell_words::join).collect(),
            services: plan
                .services
                .iter()
                .map(|s| ServiceRecord {
                    name: s.name.clone(),
                    command: shell_words::join(&s.command),
                })
                .collect(),
            variants: data
                .variants
                .iter()
                .zip(&plan.variants)
                .map(|(result, planned)| VariantRecord {
                    name: result.name.clone(),
                    command: planned.command_line(),
                    argv: result.argv.clone(),
                    port: result.port,
                    env: recorded_env(
                        &planned
                            .processes
                            .iter()
                            .flat_map(|p| p.env.clone())
                            .collect(),
                        &plan.safe_env,
                    ),
                    ready_after_s: result.ready_after_s.map(|s| (s * 1000.0).round() / 1000.0),
                    stop_grace: humantime::format_duration(planned.stop_grace()).to_string(),
                    failure: result.failure.clone(),
                    stop_note: result.stop_note.clone(),
                    cpus: planned.cpus(),
                    warmups: result.warmups.clone(),
                })
                .collect(),
            warmup: plan.warmup.as_ref().map(describe_load),
            phases: plan
                .phases
                .iter()
                .map(|p| PhaseRecord {
                    name: p.name.clone(),
                    description: describe_phase(p),
                    load: describe_load(p),
                    open: p.load.is_open(),
                    client: Some(ClientRecord::of(&p.client)),
                })
                .collect(),
            requests: plan
                .requests
                .iter()
                .map(|r| RequestRecord {
                    name: r.name.clone(),
                    method: r.method.to_string(),
                    path: r.path.clone(),
                    weight: r.weight,
                    body_bytes: r.body.len(),
                    timeout_s: Some(r.timeout.as_secs_f64()),
                })
                .collect(),
            assertions: data.assertions.to_vec(),
            published: plan.published.clone(),
            load_cpus: plan.phases.first().and_then(|p| p.client.cpus.clone()),
            rendered: data.rendered.to_vec(),
        }
    }
}

pub struct RunJson;

impl Export for RunJson {
    fn file_name(&self) -> &'static str {
        "run.json"
    }

    fn render(&self, data: &RunData) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(&RunRecord::from_run(data))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_recorded_is_the_one_that_sends() {
        let lean = ClientSettings::default();
        let record = ClientRecord::of(&lean);
        assert_eq!(
            (
                record.keep_alive,
                record.protocol.as_str(),
                record.client.as_str()
            ),
            (true, "HTTP/1.1", "lean HTTP/1.1")
        );
        let h2c = ClientSettings {
            http2: true,
            keep_alive: false,
            workers: Some(3),
            ..ClientSettings::default()
        };
        let record = ClientRecord::of(&h2c);
        assert_eq!(
            (
                record.keep_alive,
                record.protocol.as_str(),
                record.client.as_str()
            ),
            (false, "h2c", "reqwest")
        );
        assert_eq!(record.threads, Some(3));
        let reqwest = ClientSettings {
            client: HttpClient::Reqwest,
            ..ClientSettings::default()
        };
        assert_eq!(ClientRecord::of(&reqwest).client, "reqwest");
    }

    /// The committed reports' run.json files are of format 1: they read, without the newer
    /// fields.
    #[test]
    fn run_json_of_format_1_still_reads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/quickstart/run.json");
        let text = std::fs::read_to_string(path).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["format"] = 1.into();
        value.as_object_mut().unwrap().remove("rendered");
        for phase in value["phases"].as_array_mut().unwrap() {
            phase.as_object_mut().unwrap().remove("client");
        }
        for request in value["requests"].as_array_mut().unwrap() {
            request.as_object_mut().unwrap().remove("timeout_s");
        }
        value["environment"]
            .as_object_mut()
            .unwrap()
            .remove("servers");
        let record: RunRecord = serde_json::from_value(value).unwrap();
        assert_eq!(record.format, 1);
        assert!(record.rendered.is_empty() && record.environment.servers.is_empty());
        assert!(record.phases.iter().all(|p| p.client.is_none()));
    }

    #[test]
    fn secrets_are_masked_and_unlisted_values_left_out() {
        let env: BTreeMap<String, String> = [
            ("API_TOKEN", "t0ps3cret"),
            ("DB_PASSWORD", "hunter2"),
            ("DOWNSTREAM_URL", "http://127.0.0.1:9000"),
            ("WORKERS", "4"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let safe = vec!["DOWNSTREAM_URL".to_owned(), "API_TOKEN".to_owned()];
        let recorded = recorded_env(&env, &safe);
        assert_eq!(
            recorded["API_TOKEN"], MASKED,
            "listed, but a secret by its name"
        );
        assert_eq!(recorded["DB_PASSWORD"], MASKED);
        assert_eq!(recorded["DOWNSTREAM_URL"], "http://127.0.0.1:9000");
        assert_eq!(recorded["WORKERS"], NOT_RECORDED);
    }
}
