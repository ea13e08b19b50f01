//! Functions for report templates. `metric(phase, variant, name)` lets a custom template state
//! its experiment's answer with the measured numbers, so the text stays true on every re-run.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State};

use crate::metrics;

pub fn register(env: &mut Environment) {
    env.add_function("metric", metric);
}

/// The median of `name` for `variant` in `phase`, or none when the variant has no result there
/// (it failed, or the metric does not apply). A phase, variant or metric name that does not
/// exist is an error: a typo must not read as a missing value.
pub fn metric(state: &State, phase: &str, variant: &str, name: &str) -> Result<Value, Error> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidOperation, message);
    if !metrics::is_metric(name) && name != "statuses" {
        return Err(invalid(format!(
            "metric(): no metric named '{name}'; see the metrics of docs/manifest.md#assertions"
        )));
    }
    let phases = state.lookup("phases").unwrap_or_default();
    let found = find(&phases, "name", phase)?.ok_or_else(|| {
        invalid(format!(
            "metric(): no phase named '{phase}' (phases: {})",
            names(&phases, "name")
        ))
    })?;
    let rows = found.get_attr("rows")?;
    let row = find(&rows, "variant", variant)?.ok_or_else(|| {
        invalid(format!(
            "metric(): no variant named '{variant}' (variants: {})",
            names(&rows, "variant")
        ))
    })?;
    let metrics = row.get_attr("metrics")?;
    if metrics.is_none() || metrics.is_undefined() {
        return Ok(Value::from(()));
    }
    let value = metrics.get_attr(name)?;
    Ok(if value.is_undefined() {
        Value::from(())
    } else {
        value
    })
}

fn find(list: &Value, key: &str, wanted: &str) -> Result<Option<Value>, Error> {
    for item in list.try_iter()? {
        if item.get_attr(key)?.as_str() == Some(wanted) {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

fn names(list: &Value, key: &str) -> String {
    list.try_iter()
        .map(|items| {
            items
                .filter_map(|item| item.get_attr(key).ok())
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(template: &str) -> Result<String, Error> {
        let mut env = Environment::new();
        register(&mut env);
        let phases = vec![context! {
            name => "steady",
            rows => vec![
                context! { variant => "fast", metrics => context! { rps => 1000.0, p99_ms => 2.5 } },
                context! { variant => "broken", metrics => () },
            ],
        }];
        env.render_str(template, context! { phases })
    }

    #[test]
    fn looks_up_a_measured_value() {
        let out = render(
            "{{ metric('steady', 'fast', 'rps') / 4 }} {{ metric('steady', 'fast', 'p99_ms') }}",
        );
        assert_eq!(out.unwrap(), "250.0 2.5");
    }

    #[test]
    fn a_variant_without_results_gives_none() {
        let out = render("{{ metric('steady', 'broken', 'rps') is none }}");
        assert_eq!(out.unwrap(), "True");
    }

    #[test]
    fn typos_are_errors_that_list_the_names() {
        let phase = render("{{ metric('stedy', 'fast', 'rps') }}").unwrap_err();
        assert!(
            phase
                .to_string()
                .contains("no phase named 'stedy' (phases: steady)"),
            "{phase}"
        );
        let variant = render("{{ metric('steady', 'fats', 'rps') }}").unwrap_err();
        assert!(
            variant.to_string().contains("(variants: fast, broken)"),
            "{variant}"
        );
        let metric = render("{{ metric('steady', 'fast', 'p99ms') }}").unwrap_err();
        assert!(
            metric.to_string().contains("no metric named 'p99ms'"),
            "{metric}"
        );
    }
}
