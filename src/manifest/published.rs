//! `published:` numbers from the write-up an experiment reproduces, so the report can set them
//! beside the measured ones: `{ source, variant, phase, <metric>: value, …, note }`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{closest_name, Problem};
use crate::metrics;

/// Numbers a source published for one variant × phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Where the numbers come from: a write-up's title or address.
    pub source: String,
    pub variant: String,
    pub phase: String,
    /// Metric name and published value, in the order written.
    pub values: Vec<(String, f64)>,
    /// Why the measured number may differ, or how the published one was read.
    pub note: Option<String>,
}

impl<'de> Deserialize<'de> for Published {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PublishedVisitor;

        impl<'de> Visitor<'de> for PublishedVisitor {
            type Value = Published;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map {source, variant, phase, METRIC: number, …, note}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Published, A::Error> {
                let (mut source, mut variant, mut phase, mut note) = (None, None, None, None);
                let mut values = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "source" => &mut source,
                        "variant" => &mut variant,
                        "phase" => &mut phase,
                        "note" => &mut note,
                        _ => {
                            let value: f64 = map.next_value().map_err(|_| {
                                de::Error::custom(format!(
                                    "`{key}` must be the published number, e.g. `{key}: 24.5`"
                                ))
                            })?;
                            values.push((key, value));
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    *slot = Some(map.next_value::<String>()?);
                }
                Ok(Published {
                    source: source.ok_or_else(|| de::Error::missing_field("source"))?,
                    variant: variant.ok_or_else(|| de::Error::missing_field("variant"))?,
                    phase: phase.ok_or_else(|| de::Error::missing_field("phase"))?,
                    values,
                    note,
                })
            }
        }

        deserializer.deserialize_map(PublishedVisitor)
    }
}

/// The same flat map as written in the manifest, for run.json.
impl Serialize for Published {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("variant", &self.variant)?;
        map.serialize_entry("phase", &self.phase)?;
        for (metric, value) in &self.values {
            map.serialize_entry(metric, value)?;
        }
        if let Some(note) = &self.note {
            map.serialize_entry("note", note)?;
        }
        map.end()
    }
}

impl JsonSchema for Published {
    fn schema_name() -> Cow<'static, str> {
        "Published".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Numbers a source published for one variant × phase, shown beside the measured ones: {source, variant, phase, METRIC: number, …, note}. Metric names are those of assertions.",
            "type": "object",
            "required": ["source", "variant", "phase"],
            "properties": {
                "source": { "type": "string", "description": "Where the numbers come from." },
                "variant": { "type": "string" },
                "phase": { "type": "string" },
                "note": { "type": "string", "description": "Why the measured number may differ." }
            },
            "additionalProperties": { "type": "number" },
            "examples": [{ "source": "the write-up", "variant": "gunicorn-sync-4", "phase": "users-50", "rps": 15.15 }]
        })
    }
}

/// Checks that every entry names a variant, a phase and metrics that exist.
pub fn check(
    published: &[Published],
    variants: &[&str],
    phases: &[&str],
    problems: &mut Vec<Problem>,
) {
    for (i, entry) in published.iter().enumerate() {
        let at = format!("published[{i}]");
        for (field, name, known, kind) in [
            ("variant", &entry.variant, variants, "variants"),
            ("phase", &entry.phase, phases, "phases"),
        ] {
            if !known.contains(&name.as_str()) {
                problems.push(Problem::new(
                    format!("{at}.{field}"),
                    format!(
                        "no {field} named `{name}`; {kind} are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        if entry.values.is_empty() {
            problems.push(Problem::new(
                &at,
                "no published number; add one by metric name, e.g. `rps: 24.5` or `p99_ms: 120`",
            ));
        }
        for (metric, _) in &entry.values {
            if !metrics::is_metric(metric) {
                let hint = closest_name(metric, metrics::names())
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| {
                        "metric names are those of assertions (docs/manifest.md)".to_owned()
                    });
                problems.push(Problem::new(
                    format!("{at}.{metric}"),
                    format!("`{metric}` is not a metric; {hint}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_metrics_in_order_and_writes_them_back_flat() {
        let yaml = "{ source: a write-up, variant: v, phase: p, rps: 24.5, p99_ms: 120, note: keep-alive }";
        let entry: Published = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(
            entry.values,
            [("rps".to_owned(), 24.5), ("p99_ms".to_owned(), 120.0)]
        );
        assert_eq!(entry.note.as_deref(), Some("keep-alive"));
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"source":"a write-up","variant":"v","phase":"p","rps":24.5,"p99_ms":120.0,"note":"keep-alive"}"#
        );
        let back: Published = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn a_value_must_be_a_number_and_text_keys_are_required() {
        let err =
            serde_yaml::from_str::<Published>("{ source: s, variant: v, phase: p, rps: fast }")
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("`rps` must be the published number"),
            "{err}"
        );
        let err =
            serde_yaml::from_str::<Published>("{ variant: v, phase: p, rps: 1 }").unwrap_err();
        assert!(err.to_string().contains("missing field `source`"), "{err}");
    }

    #[test]
    fn unknown_names_are_problems_with_suggestions() {
        let entry = Published {
            source: "s".into(),
            variant: "gunicorn".into(),
            phase: "p".into(),
            values: vec![("p99ms".into(), 1.0)],
            note: None,
        };
        let mut problems = Vec::new();
        check(&[entry], &["uwsgi"], &["p"], &mut problems);
        let messages: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        assert_eq!(
            messages,
            [
                "published[0].variant: no variant named `gunicorn`; variants are: uwsgi",
                "published[0].p99ms: `p99ms` is not a metric; did you mean `p99_ms`?",
            ]
        );
    }
}
