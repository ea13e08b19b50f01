//! Value syntax used in manifests.

use std::fmt;

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
        if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "duration `{text}` has no unit; write it as {text}s or {text}ms"
            ));
        }
        humantime::parse_duration(text)
            .map(Duration)
            .map_err(|e| format!("invalid duration `{text}` ({e}); examples: 250ms, 1.5s, 2m"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl serde::de::Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as 250ms, 1.5s or 2m")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "duration `{v}` has no unit; write it as {v}s or {v}ms"
                )))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "duration `{v}` has no unit; write it as {v}s or {v}ms"
                )))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "duration `{v}` has no unit; write it as {v}s or {v}ms"
                )))
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(Duration::parse("250ms").unwrap().0, Std::from_millis(250));
        assert_eq!(Duration::parse("1.5s").unwrap().0, Std::from_millis(1500));
        assert_eq!(Duration::parse("2m").unwrap().0, Std::from_secs(120));
        assert_eq!(Duration::parse("1m30s").unwrap().0, Std::from_secs(90));
    }

    #[test]
    fn rejects_missing_units_with_a_fix() {
        let err = Duration::parse("10").unwrap_err();
        assert!(err.contains("write it as 10s"), "{err}");
        assert!(Duration::parse("ten seconds").is_err());
        assert!(Duration::parse("").is_err());
    }
}
