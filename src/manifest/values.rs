//! Value syntax used in manifests and on the command line: durations, rates, percentages,
//! tolerances and command lines. One parser each; the
//! error messages say how to write the value correctly.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A duration written as a string with a unit: `250ms`, `1.5s`, `2m`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration; write it with a unit, e.g. 10s or 250ms".to_owned());
        }
        if text.parse::<f64>().is_ok() {
            return Err(format!(
                "duration `{text}` has no unit; write it as {text}s or {text}ms"
            ));
        }
        humantime::parse_duration(text)
            .map(Duration)
            .map_err(|_| format!("`{text}` is not a duration; write e.g. 250ms, 1.5s, 2m or 1m30s"))
    }
}

impl Duration {
    /// In milliseconds, fractions kept: 500us → 0.5.
    pub fn as_ms(self) -> f64 {
        self.0.as_secs_f64() * 1000.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Deserializes from a string through `parse`; a bare number gets `no_unit`'s message.
fn deserialize_text<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
    no_unit: fn(&str) -> String,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
        no_unit: fn(&str) -> String,
    }

    impl<T> Visitor<'_> for TextVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Err(E::custom((self.no_unit)(&v.to_string())))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Err(E::custom((self.no_unit)(&v.to_string())))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Err(E::custom((self.no_unit)(&v.to_string())))
        }
    }

    deserializer.deserialize_any(TextVisitor {
        expecting,
        parse,
        no_unit,
    })
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_text(
            deserializer,
            "a duration with a unit, such as 250ms, 1.5s or 2m",
            Duration::parse,
            |v| format!("duration `{v}` has no unit; write it as {v}s or {v}ms"),
        )
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration with a unit: 250ms, 1.5s, 2m, 1m30s.",
            "pattern": "^\\s*[0-9][0-9.]*\\s*[a-zµ]+(\\s*[0-9][0-9.]*\\s*[a-zµ]+)*\\s*$",
            "examples": ["250ms", "1.5s", "2m"]
        })
    }
}

/// A rate of events: `2000/s`, `120/m`, `1.5/s`. Held as events per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    pub per_second: f64,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let hint = "write it as a number per unit, e.g. 2000/s, 120/m or 10/ms";
        let Some((count, unit)) = text.split_once('/') else {
            return Err(format!("`{text}` is not a rate; {hint}"));
        };
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{}` is not a number; {hint}", count.trim()))?;
        let seconds = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}`; use ms, s, m or h, e.g. 2000/s"
                ))
            }
        };
        if !count.is_finite() || count < 0.0 {
            return Err(format!("`{text}`: the rate must be a finite number ≥ 0"));
        }
        Ok(Rate {
            per_second: count / seconds,
        })
    }

    /// A rate given on the command line: as in a manifest, and a bare number counts per second
    /// (`-r 2000`, like hey's `-q`).
    pub fn parse_flag(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(_) => Rate::parse(&format!("{}/s", text.trim())),
            Err(_) => Rate::parse(text),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", crate::text::format_number(self.per_second))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_text(
            deserializer,
            "a rate such as 2000/s or 120/m",
            Rate::parse,
            |v| format!("rate `{v}` has no unit; write it as {v}/s or {v}/m"),
        )
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Events per unit of time: 2000/s, 120/m, 10/ms, 1/h.",
            "pattern": "^\\s*[0-9][0-9.]*\\s*/\\s*(ms|s|sec|second|m|min|minute|h|hour)\\s*$",
            "examples": ["2000/s", "120/m"]
        })
    }
}

/// A share written as a percentage: `5%`, `0.5%`. Held as a fraction (0.05).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let number = text
            .strip_suffix('%')
            .ok_or_else(|| format!("`{text}` is not a percentage; write it with %, e.g. 5%"))?;
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{}` is not a number", number.trim()))?;
        if !value.is_finite() || value <= 0.0 || value >= 100.0 {
            return Err(format!("`{text}` must be above 0% and below 100%"));
        }
        Ok(Percent(value / 100.0))
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_text(
            deserializer,
            "a percentage such as 5%",
            Percent::parse,
            |v| format!("`{v}` has no %; write it as {v}%"),
        )
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A percentage: 5%, 0.5%.",
            "pattern": "^\\s*[0-9][0-9.]*\\s*%\\s*$",
            "examples": ["5%"]
        })
    }
}

/// A tolerance: a percentage such as `10%`, or a fraction such as `0.1`; above 0, below 100 %.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance(pub f64);

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ToleranceVisitor;

        impl Visitor<'_> for ToleranceVisitor {
            type Value = Tolerance;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tolerance such as 10% or 0.1")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tolerance, E> {
                parse_tolerance(v).map(Tolerance).map_err(E::custom)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tolerance, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tolerance, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tolerance, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(ToleranceVisitor)
    }
}

impl JsonSchema for Tolerance {
    fn schema_name() -> Cow<'static, str> {
        "Tolerance".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A relative change: a percentage (10%) or a fraction (0.1), above 0 and below 100 %.",
            "oneOf": [
                { "type": "string", "pattern": "^\\s*[0-9][0-9.]*\\s*%\\s*$" },
                { "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1 }
            ],
            "examples": ["10%", 0.1]
        })
    }
}

/// Parses a latency floor for `--latency-floor`: a duration such as `1ms` or `500us`, in
/// milliseconds.
pub fn parse_latency_floor(text: &str) -> Result<f64, String> {
    Duration::parse(text).map(Duration::as_ms)
}

/// Parses a tolerance: a percentage (`10%`, `2.5 %`) or a fraction (`0.1`), above 0 and below
/// 100 %. Used by `--tolerance` and the manifest's `compare: { tolerance }`.
pub fn parse_tolerance(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, percent) = match text.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (text, false),
    };
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "`{text}` is not a tolerance; write a percentage such as 10% or a fraction such as 0.1"
        )
    })?;
    let fraction = if percent { value / 100.0 } else { value };
    if !fraction.is_finite() || fraction <= 0.0 {
        return Err(format!("`{text}` must be above 0, e.g. 10% or 0.1"));
    }
    if fraction >= 1.0 {
        return Err(if percent {
            format!("`{text}` must be below 100%")
        } else {
            format!(
                "`{text}` as a fraction is {} %; write {text}% for a percentage, or a fraction below 1 such as 0.1",
                crate::text::short_number(value * 100.0)
            )
        });
    }
    Ok(fraction)
}

/// "10 %" for 0.1.
pub fn tolerance_text(tolerance: f64) -> String {
    format!("{} %", crate::text::short_number(tolerance * 100.0))
}

/// 1.0 → "1 ms", 0.5 → "0.5 ms".
pub fn latency_floor_text(floor_ms: f64) -> String {
    format!("{} ms", crate::text::short_number(floor_ms))
}

/// A command as an argv list. Numbers and booleans in the list are taken as their text;
/// a single string is rejected with the list it should have been.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgvVisitor;

        impl<'de> Visitor<'de> for ArgvVisitor {
            type Value = Argv;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings, such as [gunicorn, -w, \"4\", app:app]")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Argv, E> {
                Err(E::custom(format!(
                    "expected a list of strings, found a string — write it as {}",
                    suggest_argv(v)
                )))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<Arg>()? {
                    argv.push(arg.0);
                }
                Ok(Argv(argv))
            }
        }

        deserializer.deserialize_any(ArgvVisitor)
    }
}

/// One argument: any scalar, as text.
struct Arg(String);

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgVisitor;

        impl<'de> Visitor<'de> for ArgVisitor {
            type Value = Arg;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Arg, E> {
                Ok(Arg(v.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Arg, E> {
                Ok(Arg(v.to_string()))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Arg, A::Error> {
                Err(de::Error::custom(
                    "found a map where an argument belongs; placeholders must be quoted: \"{{ port }}\"",
                ))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Arg, A::Error> {
                Err(de::Error::custom(
                    "found a list inside the command; each argument is one string",
                ))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Arg, E> {
                Err(E::custom(
                    "found an empty value; write the argument, or \"\" for an empty one",
                ))
            }
        }

        deserializer.deserialize_any(ArgVisitor)
    }
}

/// The YAML list a command line written as one string should have been.
fn suggest_argv(command: &str) -> String {
    let words = shell_words::split(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_owned).collect());
    let items: Vec<String> = words.iter().map(|w| yaml_flow_scalar(w)).collect();
    format!("[{}]", items.join(", "))
}

/// A word as it can stand in a YAML flow list: bare when that is unambiguous, else quoted.
fn yaml_flow_scalar(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./:=@%+".contains(c))
        && !word.starts_with(['-', ':', '@', '%'])
        && word.parse::<f64>().is_err()
        && !matches!(
            word,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        );
    // Options like `-w` and `--port` are plain in YAML too.
    let option = word.starts_with('-')
        && word.len() > 1
        && word[1..]
            .chars()
            .all(|c| c.is_alphanumeric() || "-_=".contains(c));
    if plain || option {
        word.to_owned()
    } else {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl JsonSchema for Argv {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "description": "A command as a list of arguments, the program first: [gunicorn, -w, \"4\", app:app]. Quote placeholders: \"{{ port }}\".",
            "items": { "type": ["string", "number", "boolean"] },
            "minItems": 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_are_percentages_or_fractions() {
        assert_eq!(parse_tolerance("10%"), Ok(0.10));
        assert_eq!(parse_tolerance(" 2.5 %"), Ok(0.025));
        assert_eq!(parse_tolerance("0.1"), Ok(0.1));
        assert_eq!(tolerance_text(0.025), "2.5 %");
        assert!(parse_tolerance("0%").unwrap_err().contains("above 0"));
        assert!(parse_tolerance("-5%").unwrap_err().contains("above 0"));
        assert!(parse_tolerance("100%").unwrap_err().contains("below 100%"));
        let err = parse_tolerance("10").unwrap_err();
        assert_eq!(
            err,
            "`10` as a fraction is 1000 %; write 10% for a percentage, or a fraction below 1 such as 0.1"
        );
        assert!(parse_tolerance("ten")
            .unwrap_err()
            .contains("not a tolerance"));
    }

    use std::time::Duration as Std;

    #[test]
    fn durations_with_units_and_fractions() {
        assert_eq!(Duration::parse("250ms").unwrap().0, Std::from_millis(250));
        assert_eq!(Duration::parse("1.5s").unwrap().0, Std::from_millis(1500));
        assert_eq!(Duration::parse("2m").unwrap().0, Std::from_secs(120));
        assert_eq!(Duration::parse("1m30s").unwrap().0, Std::from_secs(90));
    }

    #[test]
    fn durations_without_units_say_how_to_write_them() {
        assert_eq!(
            Duration::parse("10").unwrap_err(),
            "duration `10` has no unit; write it as 10s or 10ms"
        );
        assert!(Duration::parse("1.5").unwrap_err().contains("1.5s"));
        assert!(Duration::parse("ten seconds")
            .unwrap_err()
            .contains("not a duration"));
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::parse("2000/s").unwrap().per_second, 2000.0);
        assert_eq!(Rate::parse("120/m").unwrap().per_second, 2.0);
        assert_eq!(Rate::parse("1.5 / s").unwrap().per_second, 1.5);
        assert_eq!(Rate::parse("3/ms").unwrap().per_second, 3000.0);
        assert_eq!(Rate::parse("36/h").unwrap().per_second, 0.01);
        assert!(Rate::parse("2000").unwrap_err().contains("2000/s"));
        assert!(Rate::parse("2000/d")
            .unwrap_err()
            .contains("unknown unit `d`"));
        assert!(Rate::parse("x/s").unwrap_err().contains("not a number"));
        assert!(Rate::parse("-1/s").is_err());
    }

    #[test]
    fn rate_flags_count_bare_numbers_per_second() {
        assert_eq!(Rate::parse_flag("2000").unwrap().per_second, 2000.0);
        assert_eq!(Rate::parse_flag(" 2.5 ").unwrap().per_second, 2.5);
        assert_eq!(Rate::parse_flag("120/m").unwrap().per_second, 2.0);
        assert!(Rate::parse_flag("-5").unwrap_err().contains("≥ 0"));
        assert!(Rate::parse_flag("inf").is_err());
        assert!(Rate::parse_flag("fast").unwrap_err().contains("not a rate"));
    }

    #[test]
    fn percentages() {
        assert_eq!(Percent::parse("5%").unwrap().0, 0.05);
        assert_eq!(Percent::parse(" 0.5 %").unwrap().0, 0.005);
        assert!(Percent::parse("5").unwrap_err().contains("write it with %"));
        assert!(Percent::parse("0%").is_err());
        assert!(Percent::parse("150%").is_err());
    }

    #[test]
    fn argv_from_yaml() {
        let argv: Argv = serde_yaml::from_str("[hello-rs, --threads, 2, true]").unwrap();
        assert_eq!(argv.0, ["hello-rs", "--threads", "2", "true"]);
        let err = serde_yaml::from_str::<Argv>("gunicorn -w 4 app:app")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"expected a list of strings, found a string — write it as [gunicorn, -w, "4", app:app]"#),
            "{err}"
        );
        let err = serde_yaml::from_str::<Argv>("[server, --port, {{ port }}]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("placeholders must be quoted"), "{err}");
    }
}
