//! The assertion language: minijinja expressions over metric names. Checked here, when the
//! manifest is loaded, so a typo fails before anything starts; evaluated in `assertions`.

use minijinja::{Environment, UndefinedBehavior};

use super::closest_name;
use crate::metrics;

/// Names besides the metrics that an expression may use.
const CONTEXT_NAMES: &[&str] = &["variant", "phase", "variants", "phases", "baseline"];

/// Every metric's name, for messages.
fn metric_list() -> String {
    metrics::names().collect::<Vec<_>>().join(", ")
}

/// The expression environment: undefined names are errors.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A typo must fail loudly, never compare as false or pass silently.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks that an expression compiles and names only metrics that exist.
pub fn check_expression(expr: &str) -> Result<(), String> {
    let env = environment();
    let compiled = env
        .compile_expression(expr)
        .map_err(|e| format!("`{expr}` is not a valid expression: {}", describe_error(&e)))?;
    let mut unknown: Vec<String> = compiled
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !metrics::is_metric(name) && !CONTEXT_NAMES.contains(&name.as_str()))
        .collect();
    unknown.sort();
    if let Some(name) = unknown.first() {
        let known = metrics::names().chain(CONTEXT_NAMES.iter().copied());
        let suggestion = closest_name(name, known)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_else(|| format!("; metrics are: {}", metric_list()));
        return Err(format!("unknown name `{name}`{suggestion}"));
    }
    Ok(())
}

/// Checks an expression's use of `baseline`: the manifest must name a `baseline:` variant, and
/// `baseline.NAME` must name a metric. `baseline` is the manifest's `baseline:` variant.
pub fn check_baseline(expr: &str, baseline: Option<&str>) -> Result<(), String> {
    let env = environment();
    let Ok(compiled) = env.compile_expression(expr) else {
        return Ok(()); // check_expression reports it
    };
    if !compiled.undeclared_variables(false).contains("baseline") {
        return Ok(());
    }
    if baseline.is_none() {
        return Err(
            "`baseline` is the manifest's `baseline:` variant, and this manifest sets none; add `baseline: VARIANT` at the top level, or name the variant: `variants['VARIANT'].p99_ms`"
                .to_owned(),
        );
    }
    for metric in referenced_names(expr, "baseline") {
        if !metrics::is_metric(&metric) {
            let suggestion = closest_name(&metric, metrics::names())
                .map(|k| format!("; did you mean `baseline.{k}`?"))
                .unwrap_or_else(|| format!("; metrics are: {}", metric_list()));
            return Err(format!(
                "`baseline.{metric}`: unknown metric `{metric}`{suggestion}"
            ));
        }
    }
    Ok(())
}

/// Names an expression looks up in the map `map` (`variants` or `phases`): `variants['a']`,
/// `variants["a"]`, `variants.a`.
pub fn referenced_names(expr: &str, map: &str) -> Vec<String> {
    lookups(expr, map)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// Like `referenced_names`, with the metric read from each entry when there is one:
/// `variants['a'].rps` → ("a", Some("rps")).
pub fn lookups(expr: &str, map: &str) -> Vec<(String, Option<String>)> {
    let identifier = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let attribute = |after: &str| {
        after
            .trim_start()
            .strip_prefix('.')
            .map(|a| identifier(a.trim_start()))
            .filter(|a| !a.is_empty())
    };
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(idx) = rest.find(map) {
        let before_ok = rest[..idx]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        rest = &rest[idx + map.len()..];
        if !before_ok {
            continue;
        }
        let trimmed = rest.trim_start();
        if let Some(inner) = trimmed.strip_prefix('[') {
            let inner = inner.trim_start();
            if let Some(quote) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                if let Some(end) = inner[1..].find(quote) {
                    let after = inner[1 + end + 1..]
                        .trim_start()
                        .strip_prefix(']')
                        .unwrap_or("");
                    names.push((inner[1..1 + end].to_owned(), attribute(after)));
                }
            }
        } else if let Some(attr) = trimmed.strip_prefix('.') {
            let name = identifier(attr);
            if !name.is_empty() {
                let after = &attr[name.len()..];
                names.push((name, attribute(after)));
            }
        }
    }
    names
}

/// A minijinja error's detail, without its template position.
pub fn describe_error(error: &minijinja::Error) -> String {
    error
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| error.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_typos_with_a_suggestion() {
        assert!(check_expression("p99_ms < 50 and error_rate < 0.01").is_ok());
        assert!(check_expression("rps > 1.3 * variants['x'].rps").is_ok());
        let err = check_expression("p99ms < 50").unwrap_err();
        assert_eq!(err, "unknown name `p99ms`; did you mean `p99_ms`?");
        assert!(check_expression("p99_ms <")
            .unwrap_err()
            .contains("not a valid expression"));
    }

    #[test]
    fn finds_referenced_names() {
        assert_eq!(
            referenced_names(
                "rps > 1.3 * variants['gunicorn-1'].rps and p99_ms < variants[\"b\"].p99_ms",
                "variants"
            ),
            ["gunicorn-1", "b"]
        );
        assert_eq!(
            referenced_names("rps > variants.fast.rps", "variants"),
            ["fast"]
        );
        assert!(referenced_names("p99_ms < 5 and my_variants > 1", "variants").is_empty());
        assert_eq!(
            referenced_names("p99_ms > 5 * phases['closed'].p99_ms", "phases"),
            ["closed"]
        );
    }

    #[test]
    fn baseline_needs_a_baseline_variant_and_known_metrics() {
        assert!(check_expression("p99_ms < 2 * baseline.p99_ms").is_ok());
        assert_eq!(
            check_baseline("p99_ms < 2 * baseline.p99_ms", Some("a")),
            Ok(())
        );
        assert_eq!(check_baseline("p99_ms < 50", None), Ok(()));
        let err = check_baseline("p99_ms < 2 * baseline.p99_ms", None).unwrap_err();
        assert!(err.contains("sets none; add `baseline: VARIANT`"), "{err}");
        assert_eq!(
            check_baseline("p99_ms < 2 * baseline.p99ms", Some("a")).unwrap_err(),
            "`baseline.p99ms`: unknown metric `p99ms`; did you mean `baseline.p99_ms`?"
        );
        // A variable merely containing the word is not the baseline.
        assert_eq!(
            check_baseline("rps > 1 and phase != 'baseline'", None),
            Ok(())
        );
    }
}
