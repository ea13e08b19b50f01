//! Turning YAML-library errors into messages that name the place and the fix.

use super::locate::{Location, LocationIndex};
use super::Problem;

/// A deserialization error as a located, reworded problem.
pub fn yaml_problem(error: &serde_yaml::Error, text: &str, index: &LocationIndex) -> Problem {
    let raw = strip_location_suffix(&error.to_string());
    let (path, message) = split_path(&raw);
    let location = error
        .location()
        .map(|l| Location {
            line: l.line(),
            column: l.column(),
        })
        .or_else(|| index.find(path));
    let (field, mut message) = reword(path, message);
    let location = match raw.split_once("duplicate field `") {
        Some((_, rest)) => {
            let key = rest.split('`').next().unwrap_or("");
            let full = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            index.repeated(&full).or(location)
        }
        None => location,
    };
    if let Some(line) = location.and_then(|l| text.lines().nth(l.line.saturating_sub(1))) {
        if line.contains('\t') {
            message.push_str(" (this line contains a tab: YAML indentation must use spaces)");
        }
    }
    if let Some(hint) = syntax_hint(&message) {
        message.push_str(hint);
    }
    if message.contains("{{") && message.contains("invalid type: map") {
        message.push_str("; placeholders must be quoted: \"{{ port }}\"");
    }
    Problem {
        location,
        field,
        message,
    }
}

/// What usually causes the YAML parser's own messages.
fn syntax_hint(message: &str) -> Option<&'static str> {
    let hints = [
        (
            "mapping values are not allowed",
            " — check the indentation of this line, or quote a value that contains ': '",
        ),
        (
            "did not find expected key",
            " — check the indentation of this line and the one above",
        ),
        (
            "did not find expected ',' or ']'",
            " — a [ list ] is not closed",
        ),
        (
            "did not find expected ',' or '}'",
            " — a { map } is not closed",
        ),
        (
            "could not find expected ':'",
            " — a key must be followed by ':'",
        ),
        (
            "did not find expected '-' indicator",
            " — list items must line up, each starting with '- '",
        ),
    ];
    hints
        .iter()
        .find(|(pattern, _)| message.contains(pattern))
        .map(|(_, hint)| *hint)
}

/// The YAML library appends " at line L column C"; the location is shown in front instead.
pub fn strip_location_suffix(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(idx) = rest.find(" at line ") {
        out.push_str(&rest[..idx]);
        let after = &rest[idx + " at line ".len()..];
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let line_len = digits(after);
        let column = after[line_len..].strip_prefix(" column ");
        match column {
            Some(col) if line_len > 0 && digits(col) > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits "variants[2].command: message" into the field path and the message.
fn split_path(message: &str) -> (&str, &str) {
    match message.split_once(": ") {
        Some((path, rest))
            if !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-.[]?".contains(c)) =>
        {
            (path, rest)
        }
        _ => ("", message),
    }
}

/// Names between backticks, in order: "unknown field `x`, expected one of `a`, `b`" → [x, a, b].
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// The known name most like `wrong`, if one is close enough to be the intended one: the
/// "did you mean" of every manifest and expression error.
pub fn closest_name<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(wrong, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn suggestion(wrong: &str, known: &[&str]) -> String {
    match closest_name(wrong, known.iter().copied()) {
        Some(k) => format!("; did you mean '{k}'?"),
        None if known.is_empty() => "; no fields are allowed here".to_owned(),
        None => format!("; expected one of: {}", known.join(", ")),
    }
}

/// Rewords the library's message; returns the field to show and the message.
fn reword(path: &str, message: &str) -> (String, String) {
    let names = backticked(message);
    let place = if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {path}")
    };
    if message.starts_with("unknown field") {
        if let Some((wrong, known)) = names.split_first() {
            return (
                String::new(),
                format!(
                    "unknown field '{wrong}' {place}{}",
                    suggestion(wrong, known)
                ),
            );
        }
    }
    if message.starts_with("unknown variant") {
        if let Some((wrong, known)) = names.split_first() {
            return (
                path.to_owned(),
                format!("unknown value '{wrong}'{}", suggestion(wrong, known)),
            );
        }
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        let field = field.trim_matches('`');
        return (
            path.to_owned(),
            format!("missing field '{field}'{}", missing_hint(field)),
        );
    }
    if let Some(field) = message.strip_prefix("duplicate field ") {
        let field = field.trim_matches('`');
        return (
            path.to_owned(),
            format!("'{field}' is given twice; keep one"),
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                return (path.to_owned(), type_mismatch(path, found, expected));
            }
        }
    }
    (path.to_owned(), message.to_owned())
}

fn missing_hint(field: &str) -> &'static str {
    match field {
        "name" => "; add e.g. `name: my-experiment`",
        "variants" => "; add the servers to compare under `variants:`",
        "phases" => "; add e.g. `phases: [{ name: main, vus: 10, duration: 10s }]`",
        "requests" => "; add e.g. `requests: [{ path: /hello }]`",
        "command" => "; add the command that starts the server, e.g. `command: [target/release/hello-rs, --port, \"{{ port }}\"]`",
        "path" => "; add the path to request, e.g. `path: /hello`",
        "expect" => "; add the expression to check, e.g. `expect: \"p99_ms < 50\"`",
        _ => "",
    }
}

fn describe_found(found: &str) -> String {
    let (kind, value) = match found.split_once(' ') {
        Some((kind, value)) => (kind, value.trim_matches('`')),
        None => (found, ""),
    };
    match kind {
        "string" => format!("a string ({value})"),
        "integer" | "floating" => format!(
            "a number ({})",
            value.trim_start_matches("point ").trim_matches('`')
        ),
        "boolean" => format!("true/false ({value})"),
        "unit" => "nothing (an empty value)".to_owned(),
        "map" => "a map".to_owned(),
        "sequence" => "a list".to_owned(),
        _ => found.to_owned(),
    }
}

fn type_mismatch(path: &str, found: &str, expected: &str) -> String {
    let found_text = describe_found(found);
    let (expected_text, hint) = match expected {
        "a sequence" => (
            "a list",
            if found.starts_with("string") {
                " — write it as [a, b] or one `- item` per line"
            } else {
                ""
            },
        ),
        "u64" | "u32" | "u16" | "usize" | "i64" => (
            "a whole number",
            if found.starts_with("string") {
                " — write the number without quotes, e.g. 10"
            } else {
                " — e.g. 10"
            },
        ),
        "a string" => (
            "a string",
            " — quote it if it looks like a number or true/false",
        ),
        "a boolean" => ("true or false", ""),
        "a map" => ("a map of names to values", " — e.g. { KEY: value }"),
        e if e.starts_with("struct ") => ("a map of fields", map_hint(path)),
        e if e.starts_with("an expression") => (e, ""),
        e => (e, ""),
    };
    format!("expected {expected_text}, found {found_text}{hint}")
}

fn map_hint(path: &str) -> &'static str {
    let last = path.rsplit(['.', '[']).next().unwrap_or("");
    match last {
        "" if path.is_empty() => {
            " — a manifest is a map with name:, variants:, phases: and requests:"
        }
        "ready" => " — e.g. { http: /health } or { tcp: true }",
        "stop" => " — e.g. { grace: 5s }",
        "warmup" => " — e.g. { vus: 10, duration: 3s }",
        "defaults" => " — e.g. { ready: { http: /health } }",
        "compare" => " — e.g. { tolerance: 10% }",
        _ if path.starts_with("phases[") => " — e.g. { name: main, vus: 10, duration: 10s }",
        _ if path.starts_with("requests[") => " — e.g. { path: /hello }",
        _ if path.starts_with("variants[") => {
            " — e.g. { name: a, command: [server, --port, \"{{ port }}\"] }"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        let error = serde_yaml::from_str::<super::super::Manifest>(text).unwrap_err();
        yaml_problem(&error, text, &LocationIndex::build(text)).to_string()
    }

    #[test]
    fn unknown_fields_suggest_the_nearest_name() {
        let text =
            "name: x\nvariants: []\nphases:\n  - { name: p, vus: 1, duraton: 1s }\nrequests: []\n";
        assert_eq!(
            problem(text),
            "4:24: unknown field 'duraton' in phases[0]; did you mean 'duration'?"
        );
        let text = "name: x\nvariant: []\n";
        assert!(problem(text).starts_with(
            "2:1: unknown field 'variant' at the top level; did you mean 'variants'?"
        ));
    }

    #[test]
    fn type_errors_say_what_was_expected_and_found() {
        let text = "name: x\nvariants: []\nphases:\n  - { name: p, vus: \"ten\", duration: 1s }\nrequests: []\n";
        assert_eq!(
            problem(text),
            "4:21: phases[0].vus: expected a whole number, found a string (\"ten\") — write the number without quotes, e.g. 10"
        );
        let text = "name: x\nvariants:\n  - name: a\n    command: gunicorn -w 4 app:app\n";
        assert_eq!(
            problem(text),
            "4:14: variants[0].command: expected a list of strings, found a string — write it as [gunicorn, -w, \"4\", app:app]"
        );
    }

    #[test]
    fn missing_fields_say_what_to_add() {
        let text = "name: x\nvariants: []\nphases: []\nrequests:\n  - method: GET\n";
        let shown = problem(text);
        assert!(
            shown.contains("requests[0]: missing field 'path'; add the path to request"),
            "{shown}"
        );
        assert!(shown.starts_with("5:"), "{shown}");
    }

    #[test]
    fn every_embedded_location_is_removed() {
        assert_eq!(
            strip_location_suffix(
                "did not find x at line 8 column 1, while parsing at line 7 column 11"
            ),
            "did not find x, while parsing"
        );
        assert_eq!(strip_location_suffix("at line break"), "at line break");
    }

    #[test]
    fn tabs_are_pointed_out() {
        let text = "name: x\nvariants:\n\t- name: a\n";
        let shown = problem(text);
        assert!(shown.contains("tab"), "{shown}");
    }

    #[test]
    fn empty_manifest() {
        let empty = crate::manifest::parse_str("# nothing yet\n", std::path::Path::new("x.yaml"));
        let shown = empty.unwrap_err().to_string();
        assert!(shown.contains("x.yaml: the manifest is empty"), "{shown}");
    }
}
