//! The manifest as written in YAML: serde types, nothing resolved yet. The same types generate
//! the JSON Schema (`benchrig schema`); their doc comments are its descriptions. See `plan` for
//! the validated, defaults-applied form the runner uses.
//!
//! No internally tagged enums or `flatten` here: the YAML library reports wrong locations
//! inside them. Executors are a plain field and their settings sit beside it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::values::{Argv, Duration, Percent, Rate, Tolerance};

/// A benchrig experiment: the server variants to compare and the load to compare them under.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "benchrig manifest")]
pub struct Manifest {
    /// Experiment name; also the report folder (`reports/NAME/`). Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text shown at the top of the report: the question the experiment answers.
    #[serde(default)]
    pub description: String,
    /// Commands run once, in order, before any variant starts (e.g. builds). A failing
    /// command aborts the run.
    #[serde(default)]
    pub setup: Vec<Argv>,
    /// Settings every variant inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Processes started once, in order, before the first variant and stopped after the last,
    /// e.g. a downstream API the variants call. Variants reach them through
    /// `{{ services.NAME.port }}`.
    #[serde(default)]
    pub services: Vec<Process>,
    /// The server variants, run one after another, each alone on the machine.
    pub variants: Vec<Variant>,
    /// Load applied to each variant before its phases; never recorded.
    #[serde(default)]
    pub warmup: Option<Phase>,
    /// The measured load phases, run in order against each variant.
    pub phases: Vec<Phase>,
    /// Settings of the load generator's HTTP client, for every phase.
    #[serde(default)]
    pub load: LoadSettings,
    /// The requests sent; each iteration picks one at random by weight.
    pub requests: Vec<Request>,
    /// Claims checked against the results; any failure makes `benchrig run` exit 1.
    #[serde(default)]
    pub assertions: Vec<Assertion>,
    /// Numbers published elsewhere (the write-up an experiment reproduces), shown beside the
    /// measured ones in the report: `{ source, variant, phase, METRIC: number, …, note }`.
    #[serde(default)]
    pub published: Vec<super::published::Published>,
    /// The variant others are compared with in the report's "vs" column (default: the fastest).
    pub baseline: Option<String>,
    /// How many times every variant runs its phases, each time from a fresh start (default 1).
    /// With more than one, the report gives medians with confidence intervals.
    pub repeat: Option<u32>,
    /// The order of the trials: `interleaved` (A B A B …, the default) or `shuffled`.
    #[serde(default)]
    pub order: TrialOrder,
    /// Seed of the `shuffled` order (default: chosen at random and recorded in run.json).
    pub seed: Option<u64>,
    /// How often the servers' CPU and memory are sampled (default 250ms).
    pub sample_every: Option<Duration>,
    /// How the report is rendered.
    #[serde(default)]
    pub report: ReportSettings,
    /// How runs of this experiment are compared by `benchrig compare` and
    /// `benchrig run --check`.
    #[serde(default)]
    pub compare: CompareSettings,
}

/// How runs of this experiment are compared by `benchrig compare` and `benchrig run --check`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareSettings {
    /// The relative change (e.g. 10% or 0.1) a metric may move without counting as a
    /// regression, and the noise threshold when a side has a single trial (default 10%).
    /// `--tolerance` overrides it.
    pub tolerance: Option<Tolerance>,
    /// Latency (p50, p99) changes of at most this much are noise whatever their relative size,
    /// e.g. 1ms for sub-millisecond latencies on loopback (default: none). `--latency-floor`
    /// overrides it.
    pub latency_floor: Option<Duration>,
}

impl CompareSettings {
    /// The tolerance as a fraction.
    pub fn tolerance(&self) -> Option<f64> {
        self.tolerance.map(|t| t.0)
    }

    /// The latency floor in milliseconds.
    pub fn latency_floor_ms(&self) -> Option<f64> {
        self.latency_floor.map(Duration::as_ms)
    }
}

/// The order in which variants' trials run, so slow drift of the machine does not favour one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrialOrder {
    /// Round-robin: every variant's trial 1, then every variant's trial 2, …
    #[default]
    Interleaved,
    /// A random order of all trials, from `seed`.
    Shuffled,
}

/// How the report is rendered.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// A minijinja template replacing the default report (see docs/templates.md), relative to
    /// where benchrig runs. It may `{% extends "default.md.j2" %}` and override its blocks.
    pub template: Option<PathBuf>,
    /// Environment variables whose values may be written to run.json and the report. Others
    /// are recorded by name only, and values of names that look like secrets (TOKEN, KEY,
    /// SECRET, PASSWORD, …) are always masked.
    #[serde(default)]
    pub safe_env: Vec<String>,
}

/// Settings every variant inherits unless it sets its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Default readiness probe.
    pub ready: Option<Ready>,
    /// Default stopping.
    pub stop: Option<Stop>,
    /// Default working directory of variant commands, relative to where benchrig runs.
    pub cwd: Option<PathBuf>,
    /// Environment variables for every variant; a variant's own `env` adds to and overrides them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One server variant under test: one command, or several `processes` (e.g. nginx in front of
/// uwsgi).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Unique name, used in the report and as a file name (`logs/NAME.log`).
    pub name: String,
    /// The command that starts the server, as a list. `"{{ port }}"` is replaced by the port
    /// benchrig chose for it on 127.0.0.1. Give this or `processes`.
    pub command: Option<Argv>,
    /// Several processes started in order, each ready before the next, each with its own
    /// `{{ port }}`; later ones reach earlier ones through `{{ processes.NAME.port }}`. They
    /// stop in reverse order.
    pub processes: Option<Vec<Process>>,
    /// With `processes`: the one the load is sent to (default: the last).
    pub target: Option<String>,
    /// Environment variables added for this variant; values may use `{{ port }}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of the command, relative to where benchrig runs.
    pub cwd: Option<PathBuf>,
    /// How to tell the server is ready.
    pub ready: Option<Ready>,
    /// How to stop the server.
    pub stop: Option<Stop>,
    /// CPUs the server (and every process it starts) may run on, e.g. [0]: keeps it off the
    /// load generator's cores on a small machine.
    pub cpus: Option<Vec<usize>>,
}

/// A process of a multi-process variant, or a service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Unique name; logs go to `logs/VARIANT.NAME.log` (or `logs/NAME.log` for a service).
    pub name: String,
    /// The command, as a list; `"{{ port }}"` is this process's own port.
    pub command: Argv,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub ready: Option<Ready>,
    pub stop: Option<Stop>,
    pub cpus: Option<Vec<usize>>,
}

/// How to tell a variant is ready: an HTTP GET answering 2xx, or an accepting TCP port.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// Path to GET on the variant until it answers 2xx, e.g. /health.
    pub http: Option<String>,
    /// `true`: ready when the port accepts a TCP connection (the default probe).
    pub tcp: Option<bool>,
    /// How long to wait for readiness before the variant counts as failed (default 10s).
    pub timeout: Option<Duration>,
    /// Pause between two probes (default 50ms).
    pub interval: Option<Duration>,
}

/// How a variant is stopped: `signal` (SIGTERM) to its whole process group or to its leader
/// alone, then SIGKILL to the group after `grace` if anything is left.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Time between the stop signal and SIGKILL (default 5s).
    pub grace: Option<Duration>,
    /// The signal that asks the server to stop: TERM (default), INT, QUIT, HUP, USR1, USR2.
    pub signal: Option<String>,
    /// Who gets it: `group` (every process, the default) or `leader` (the process benchrig
    /// started, e.g. a master that stops its workers gracefully itself).
    pub to: Option<StopTarget>,
}

/// Who gets the stop signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopTarget {
    #[default]
    Group,
    Leader,
}

/// Settings of the load generator's HTTP client. Phases may override `keep_alive` and `http2`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    /// Reuse connections between requests (default true). `false` opens a new connection for
    /// every request and sends `Connection: close`, like `ab` without `-k`.
    pub keep_alive: Option<bool>,
    /// Speak HTTP/2 without TLS, with prior knowledge (h2c), instead of HTTP/1.1 (default false).
    pub http2: Option<bool>,
    /// Load generator threads (default: one per core, or per CPU in `cpus`, never more than the
    /// concurrency).
    pub workers: Option<u64>,
    /// CPUs the load generator's threads run on, one thread per CPU in turn, e.g. [1].
    pub cpus: Option<Vec<usize>>,
    /// The HTTP client: `auto` (the lean HTTP/1.1 client where it applies, reqwest for h2c;
    /// the default) or `reqwest` everywhere.
    pub client: Option<ClientKind>,
}

/// The load generator's HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// The lean HTTP/1.1 client where it applies (plain HTTP/1.1), reqwest elsewhere.
    Auto,
    /// reqwest for every request.
    Reqwest,
}

/// How a phase generates load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// Closed model: a fixed number of virtual users, each sending its next request when the
    /// previous one answered (plus `think`).
    #[default]
    Closed,
    /// Open model: requests arrive at a constant `rate` whatever the server does; latency is
    /// measured from each request's intended send time.
    Open,
    /// Virtual users or arrival rate changing linearly through `stages`.
    Ramping,
}

/// A ramping stage: over `duration`, move linearly to `target`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// Where the stage ends: a number of virtual users (e.g. 200) or an arrival rate (e.g. 500/s).
    pub target: Level,
}

/// A number of virtual users or an arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    Vus(u64),
    Rate(Rate),
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;

        impl Visitor<'_> for LevelVisitor {
            type Value = Level;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of virtual users (e.g. 200) or a rate (e.g. 500/s)")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Level, E> {
                Ok(Level::Vus(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Level, E> {
                u64::try_from(v)
                    .map(Level::Vus)
                    .map_err(|_| E::custom(format!("{v} virtual users: the number must be ≥ 0")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Level, E> {
                Rate::parse(v).map(Level::Rate).map_err(|e| {
                    E::custom(format!(
                        "{e}; a target is a number of virtual users (e.g. 200) or a rate (e.g. 500/s)"
                    ))
                })
            }
        }

        deserializer.deserialize_any(LevelVisitor)
    }
}

impl JsonSchema for Level {
    fn schema_name() -> Cow<'static, str> {
        "Level".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rate = generator.subschema_for::<Rate>();
        json_schema!({
            "description": "A number of virtual users (e.g. 200) or an arrival rate (e.g. 500/s).",
            "oneOf": [{ "type": "integer", "minimum": 0 }, rate]
        })
    }
}

/// A load phase (or the warm-up, which has no name).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Unique phase name (required for phases, not for the warm-up).
    pub name: Option<String>,
    /// How load is generated (default `closed`).
    #[serde(default)]
    pub executor: Executor,
    /// Number of virtual users (concurrent connections in the closed model).
    pub vus: Option<u64>,
    /// How long the phase starts new requests; give this or `iterations`.
    pub duration: Option<Duration>,
    /// Total requests shared by all VUs (`hey -n`, k6 `shared-iterations`); give this or
    /// `duration`.
    pub iterations: Option<u64>,
    /// Pause of each VU between its requests (k6 `sleep()`).
    pub think: Option<Duration>,
    /// Arrival rate of the open executor, e.g. 2000/s.
    pub rate: Option<Rate>,
    /// Open model: the most requests outstanding at once (default 1000). A request due while
    /// this many are outstanding is not sent and is counted as dropped.
    pub max_in_flight: Option<u64>,
    /// Ramping executor: where the ramp starts, in the same unit as the stage targets
    /// (default 0 VUs or 0/s).
    pub start: Option<Level>,
    /// Ramping executor: the stages, each moving linearly to its target.
    pub stages: Option<Vec<Stage>>,
    /// Overrides `load.keep_alive` for this phase.
    pub keep_alive: Option<bool>,
    /// Overrides `load.http2` for this phase.
    pub http2: Option<bool>,
    /// Warm-up only: end the warm-up once requests/s over the last 3 seconds vary by less than
    /// this (e.g. 5%), or after `max`.
    pub until_stable: Option<Percent>,
    /// Warm-up only, with `until_stable`: the longest the warm-up lasts (default 30s).
    pub max: Option<Duration>,
}

/// A request the load sends to each variant.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Name in the report (default `METHOD path`).
    pub name: Option<String>,
    /// HTTP method (default GET).
    #[serde(default = "default_method")]
    #[schemars(default = "default_method")]
    pub method: String,
    /// Path and query string, starting with `/`; the host is the variant's own address.
    pub path: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body as text.
    pub body: Option<String>,
    /// Request body as JSON, written as YAML; sets `Content-Type: application/json`.
    pub json: Option<serde_json::Value>,
    /// Relative share of iterations that send this request (default 1).
    #[serde(default = "default_weight")]
    #[schemars(default = "default_weight", range(min = 1))]
    pub weight: u32,
    /// Time allowed for the whole response (default 30s).
    pub timeout: Option<Duration>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_weight() -> u32 {
    1
}

/// An assertion: a bare expression applied to every variant × phase, or one scoped to a
/// variant and/or a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub expect: String,
    /// The variants it checks; empty for every variant.
    pub variants: Vec<String>,
    pub phase: Option<String>,
    /// The sentence the expression proves, shown in the report with ✅ or ❌.
    pub claim: Option<String>,
}

/// The map form of an assertion.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScopedAssertion {
    /// The expression, e.g. `p99_ms < 50` or `rps > 1.3 * variants['a'].rps`.
    expect: String,
    /// Only for this variant, or these variants (a list): one claim can cover several.
    variant: Option<VariantScope>,
    /// Only for this phase.
    phase: Option<String>,
    /// A sentence stating what the expression proves, e.g. "One sync worker serves at most
    /// 1 / 0.25 s = 4 req/s". The report's answer shows it with ✅ when the expression holds
    /// and ❌ (contradicted) when it does not, with the measured values that decide it.
    claim: Option<String>,
}

/// `variant: a` or `variant: [a, b]`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum VariantScope {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Assertion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AssertionVisitor;

        impl<'de> Visitor<'de> for AssertionVisitor {
            type Value = Assertion;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an expression such as \"p99_ms < 50\" or a map {variant, phase, expect, claim}",
                )
            }

            fn visit_str<E: de::Error>(self, expr: &str) -> Result<Assertion, E> {
                Ok(Assertion {
                    expect: expr.to_owned(),
                    variants: Vec::new(),
                    phase: None,
                    claim: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Assertion, A::Error> {
                let scoped =
                    ScopedAssertion::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Assertion {
                    expect: scoped.expect,
                    variants: match scoped.variant {
                        None => Vec::new(),
                        Some(VariantScope::One(name)) => vec![name],
                        Some(VariantScope::Many(names)) => names,
                    },
                    phase: scoped.phase,
                    claim: scoped.claim,
                })
            }
        }

        deserializer.deserialize_any(AssertionVisitor)
    }
}

impl JsonSchema for Assertion {
    fn schema_name() -> Cow<'static, str> {
        "Assertion".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scoped = generator.subschema_for::<ScopedAssertion>();
        json_schema!({
            "description": "An expression over a variant × phase's metrics, e.g. \"error_rate < 0.01\", or {variant, phase, expect, claim} to narrow where it applies and state what it proves.",
            "oneOf": [{ "type": "string" }, scoped]
        })
    }
}
