//! Number formatting for report templates. Every filter accepts `none` and shows it as "—",
//! so a missing value never renders as an error or as a misleading zero.

use minijinja::value::Value;
use minijinja::Environment;

use crate::metrics;
use crate::text::with_separators;

const MISSING: &str = "—";

pub fn register(env: &mut Environment) {
    env.add_filter("ms", ms);
    env.add_filter("int", int);
    env.add_filter("rate", rate);
    env.add_filter("pct", pct);
    env.add_filter("ratio", ratio);
    env.add_filter("cell", cell);
    env.add_filter("bytes", bytes);
    env.add_filter("seconds", seconds);
    env.add_filter("interval", interval);
    env.add_filter("fixed", fixed);
    env.add_filter("percentile", percentile);
}

/// A latency percentile of a row's `metrics`, as `ms` writes it, or `n<100` when it rests on
/// fewer samples than it needs (see `metrics::samples_needed`). With an `estimate` (repeats), the
/// median with its interval, as `interval` writes it.
/// `{{ row.metrics | percentile("p99_ms") }}`, `{{ row.metrics | percentile("p99_ms", row.p99_ms) }}`.
pub fn percentile(
    metrics: Value,
    name: &str,
    estimate: Option<Value>,
) -> Result<String, minijinja::Error> {
    let spec = metrics::percentile(name).ok_or_else(|| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("percentile: `{name}` is not a latency percentile"),
        )
    })?;
    let field = |name: &str| metrics.get_attr(name).ok().and_then(|v| number(&v));
    if field(name).is_none() {
        return Ok(MISSING.to_owned());
    }
    if spec.too_few(field).is_some() {
        return Ok(too_few_marker(spec.samples_needed()));
    }
    Ok(
        match estimate.filter(|e| !e.is_none() && !e.is_undefined()) {
            Some(estimate) => interval(estimate, "ms"),
            None => ms(field(name).into()),
        },
    )
}

/// What a table shows for a percentile that needs `needed` samples and has fewer: `n<100`.
pub fn too_few_marker(needed: u64) -> String {
    format!("n<{}", with_separators(&needed.to_string()))
}

/// A median with its confidence interval, formatted as `ms` or `rate`: "75,699.4 [72,010.2–78,115.9]".
pub fn interval(value: Value, kind: &str) -> String {
    let part = |name: &str| {
        value
            .get_attr(name)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
    };
    let format = |v: Value| if kind == "ms" { ms(v) } else { rate(v) };
    match (part("median"), part("low"), part("high")) {
        (Some(median), Some(low), Some(high)) => {
            format!("{} [{}–{}]", format(median), format(low), format(high))
        }
        _ => MISSING.to_owned(),
    }
}

/// A number with a fixed count of decimals: `{{ 0.0312 | fixed(2) }}` → "0.03".
pub fn fixed(value: Value, digits: Option<usize>) -> String {
    number(&value).map_or_else(
        || MISSING.to_owned(),
        |v| format!("{v:.*}", digits.unwrap_or(2)),
    )
}

fn number(value: &Value) -> Option<f64> {
    if value.is_none() || value.is_undefined() {
        return None;
    }
    f64::try_from(value.clone()).ok()
}

/// Milliseconds with precision that suits the size: 0.083, 4.21, 153.2.
pub fn ms(value: Value) -> String {
    match number(&value) {
        None => MISSING.to_owned(),
        Some(v) if v < 1.0 => format!("{v:.3}"),
        Some(v) if v < 100.0 => format!("{v:.2}"),
        Some(v) => with_separators(&format!("{v:.1}")),
    }
}

/// An integer with thousands separators: 1,234,567.
pub fn int(value: Value) -> String {
    number(&value).map_or_else(
        || MISSING.to_owned(),
        |v| with_separators(&format!("{v:.0}")),
    )
}

/// Requests per second: 12,345.6.
pub fn rate(value: Value) -> String {
    number(&value).map_or_else(
        || MISSING.to_owned(),
        |v| with_separators(&format!("{v:.1}")),
    )
}

/// A fraction as a percentage: 0.9995 → 99.95 %.
pub fn pct(value: Value) -> String {
    number(&value).map_or_else(|| MISSING.to_owned(), |v| format!("{:.2} %", v * 100.0))
}

/// A ratio: 0.34×.
pub fn ratio(value: Value) -> String {
    number(&value).map_or_else(|| MISSING.to_owned(), |v| format!("{v:.2}×"))
}

/// A size: 512 B, 12.3 KiB, 4.0 MiB.
pub fn bytes(value: Value) -> String {
    let Some(v) = number(&value) else {
        return MISSING.to_owned();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = v;
    let mut unit = 0;
    while size >= 1024.0 && unit < units.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{size:.0} B")
    } else {
        format!("{size:.1} {}", units[unit])
    }
}

/// Seconds: 0.25 s, 12.3 s, 95 s.
pub fn seconds(value: Value) -> String {
    match number(&value) {
        None => MISSING.to_owned(),
        Some(v) if v < 10.0 => format!("{v:.2} s"),
        Some(v) if v < 100.0 => format!("{v:.1} s"),
        Some(v) => format!("{v:.0} s"),
    }
}

/// Text safe inside a Markdown table cell: pipes escaped, newlines flattened.
pub fn cell(value: Value) -> String {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(ms(Value::from(0.0834)), "0.083");
        assert_eq!(ms(Value::from(4.214)), "4.21");
        assert_eq!(ms(Value::from(1534.26)), "1,534.3");
        assert_eq!(ms(Value::from(())), "—");
        assert_eq!(int(Value::from(1234567)), "1,234,567");
        assert_eq!(int(Value::from(12)), "12");
        assert_eq!(rate(Value::from(12345.67)), "12,345.7");
        assert_eq!(pct(Value::from(0.99951)), "99.95 %");
        assert_eq!(ratio(Value::from(0.3449)), "0.34×");
        assert_eq!(ratio(Value::UNDEFINED), "—");
        assert_eq!(cell(Value::from("a|b\nc")), "a\\|b c");
        assert_eq!(bytes(Value::from(512)), "512 B");
        assert_eq!(bytes(Value::from(12_595)), "12.3 KiB");
        assert_eq!(bytes(Value::from(4 * 1024 * 1024)), "4.0 MiB");
        assert_eq!(seconds(Value::from(0.25)), "0.25 s");
        assert_eq!(seconds(Value::from(95.2)), "95.2 s");
        let estimate = Value::from(minijinja::value::Serde(
            crate::results::stats::estimate(&[1.5, 2.5, 2.0]).unwrap(),
        ));
        assert_eq!(interval(estimate.clone(), "ms"), "2.00 [1.50–2.50]");
        assert_eq!(interval(estimate, "rate"), "2.0 [1.5–2.5]");
        assert_eq!(interval(Value::from(()), "ms"), "—");
        assert_eq!(fixed(Value::from(0.0312), Some(2)), "0.03");
    }

    #[test]
    fn a_percentile_with_too_few_samples_shows_what_it_needs() {
        let row = |responses: u64, errors_http: u64| {
            Value::from(minijinja::value::Serde(serde_json::json!({
                "responses": responses, "errors_http": errors_http,
                "p50_ms": 1.5, "p99_ms": 4.25, "p999_ms": 9.0,
                "success_p99_ms": 3.0, "service_p99_ms": null,
            })))
        };
        let show = |m: Value, name: &str| percentile(m, name, None).unwrap();
        assert_eq!(show(row(100, 0), "p99_ms"), "4.25");
        assert_eq!(show(row(99, 0), "p99_ms"), "n<100");
        assert_eq!(show(row(999, 0), "p999_ms"), "n<1,000");
        assert_eq!(show(row(2, 0), "p50_ms"), "1.50");
        assert_eq!(show(row(1, 0), "p50_ms"), "n<2");
        assert_eq!(
            show(row(150, 60), "success_p99_ms"),
            "n<100",
            "90 successful"
        );
        assert_eq!(show(row(150, 0), "service_p99_ms"), "—", "no value");
        let estimate = Value::from(minijinja::value::Serde(
            crate::results::stats::estimate(&[4.0, 4.5, 4.25]).unwrap(),
        ));
        assert_eq!(
            percentile(row(100, 0), "p99_ms", Some(estimate.clone())).unwrap(),
            "4.25 [4.00–4.50]"
        );
        assert_eq!(
            percentile(row(16, 0), "p99_ms", Some(estimate)).unwrap(),
            "n<100"
        );
        assert!(
            percentile(row(100, 0), "max_ms", None).is_err(),
            "not a percentile"
        );
    }
}
