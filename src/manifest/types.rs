//! The manifest as written in YAML: serde types, nothing resolved yet. See `plan` for the
//! validated, defaults-applied form the runner uses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::values::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Experiment name; also the report folder name (`reports/NAME/`).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Commands (argv lists) run once, in order, before any variant starts.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    #[serde(default)]
    pub defaults: Defaults,
    pub variants: Vec<Variant>,
    /// Load applied to each variant before its phases; never recorded.
    #[serde(default)]
    pub warmup: Option<Phase>,
    pub phases: Vec<Phase>,
    pub requests: Vec<Request>,
    #[serde(default)]
    pub assertions: Vec<Assertion>,
}

/// Settings every variant inherits unless it sets its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub ready: Option<Ready>,
    pub stop: Option<Stop>,
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// argv list; `{{ port }}` is replaced by the port benchrig chose for this variant.
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub ready: Option<Ready>,
    pub stop: Option<Stop>,
}

/// How to tell a variant is ready: an HTTP GET answering 2xx, or an accepting TCP port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    pub http: Option<String>,
    pub tcp: Option<bool>,
    pub timeout: Option<Duration>,
    pub interval: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Time between SIGTERM to the process group and SIGKILL.
    pub grace: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// Fixed number of virtual users, each sending its next request when the previous one
    /// answered (plus `think`).
    #[default]
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: Option<String>,
    #[serde(default)]
    pub executor: Executor,
    pub vus: Option<u64>,
    pub duration: Option<Duration>,
    /// Total iterations shared by all VUs (`hey -n`, k6 `shared-iterations`).
    pub iterations: Option<u64>,
    /// Pause of each VU between its iterations (k6 `sleep()`).
    pub think: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub name: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub json: Option<serde_json::Value>,
    #[serde(default = "default_weight")]
    pub weight: u32,
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
    pub variant: Option<String>,
    pub phase: Option<String>,
}

impl<'de> Deserialize<'de> for Assertion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Scoped {
            expect: String,
            variant: Option<String>,
            phase: Option<String>,
        }

        struct AssertionVisitor;

        impl<'de> Visitor<'de> for AssertionVisitor {
            type Value = Assertion;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an expression such as \"p99_ms < 50\" or a map {variant, phase, expect}",
                )
            }

            fn visit_str<E: de::Error>(self, expr: &str) -> Result<Assertion, E> {
                Ok(Assertion {
                    expect: expr.to_owned(),
                    variant: None,
                    phase: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Assertion, A::Error> {
                let scoped = Scoped::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Assertion {
                    expect: scoped.expect,
                    variant: scoped.variant,
                    phase: scoped.phase,
                })
            }
        }

        deserializer.deserialize_any(AssertionVisitor)
    }
}
