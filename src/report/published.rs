//! "Published vs measured": the numbers of the write-up an experiment reproduces (the
//! manifest's `published:`) beside what this run measured, metric by metric, so a reader sees
//! how close the reproduction came and, from the note, why it differs.

use minijinja::Value;
use serde::Serialize;

use super::filters;
use crate::metrics;
use crate::output::SavedRun;
use crate::results::Metrics;
use crate::text::format_number;

/// One metric of one published entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedRow {
    pub source: String,
    pub variant: String,
    pub phase: String,
    pub metric: String,
    pub published: String,
    /// The median across trials; "—" when the variant has no result in that phase.
    pub measured: String,
    /// measured / published; none without a measurement or with a published 0.
    pub ratio: Option<f64>,
    pub note: String,
}

/// A value as the report's tables write that kind of metric.
fn shown(metric: &str, value: Option<f64>) -> String {
    let unit = metrics::spec(metric).map_or("", |m| m.unit);
    match unit {
        "ms" => filters::ms(Value::from(value)),
        "req/s" => filters::rate(Value::from(value)),
        "fraction" => filters::pct(Value::from(value)),
        _ => value.map_or_else(|| "—".to_owned(), format_number),
    }
}

pub fn rows(data: &SavedRun) -> Vec<PublishedRow> {
    let mut rows = Vec::new();
    for entry in &data.record.published {
        let trials: Vec<&Metrics> = data
            .results
            .iter()
            .filter(|r| r.variant == entry.variant && r.phase == entry.phase)
            .map(|r| &r.metrics)
            .collect();
        let measured = Metrics::median(&trials);
        for (metric, published) in &entry.values {
            let value = measured.as_ref().and_then(|m| m.value(metric));
            rows.push(PublishedRow {
                source: entry.source.clone(),
                variant: entry.variant.clone(),
                phase: entry.phase.clone(),
                metric: metric.clone(),
                published: shown(metric, Some(*published)),
                measured: shown(metric, value),
                ratio: value.filter(|_| *published != 0.0).map(|v| v / published),
                note: entry.note.clone().unwrap_or_default(),
            });
        }
    }
    rows
}
