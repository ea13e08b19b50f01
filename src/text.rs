//! How numbers, counts and errors are written in messages, reports and comparisons. A leaf:
//! it imports nothing from the crate, so every module can use it.

/// Up to 4 decimals, trailing zeros dropped: 0.0123, 15234.5, 3.
pub fn format_number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// At most two decimals, trailing zeros dropped: 10.0 → "10", 2.5 → "2.5", 0.125 → "0.13".
pub fn short_number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

/// `1 phase`, `2 phases`: a count with its noun, for messages.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A number already written in digits, with thousands separators in its whole part:
/// "-1234.5" → "-1,234.5", "1234567" → "1,234,567".
pub fn with_separators(number: &str) -> String {
    let (sign, rest) = number.strip_prefix('-').map_or(("", number), |r| ("-", r));
    let (whole, fraction) = rest
        .split_once('.')
        .map_or((rest, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::with_capacity(number.len() + whole.len() / 3 + 1);
    grouped.push_str(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if let Some(f) = fraction {
        grouped.push('.');
        grouped.push_str(f);
    }
    grouped
}

/// An error and its causes on one line, each cause once: "error sending request: connection
/// refused".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(-0.00001), "0");
        assert_eq!(format_number(15234.5), "15234.5");
        assert_eq!(format_number(0.012345), "0.0123");
        assert_eq!(short_number(10.0), "10");
        assert_eq!(short_number(0.125), "0.13");
    }

    #[test]
    fn counts() {
        assert_eq!(plural(1, "phase"), "1 phase");
        assert_eq!(plural(0, "phase"), "0 phases");
        assert_eq!(plural(2, "virtual user"), "2 virtual users");
    }

    #[test]
    fn separators() {
        assert_eq!(with_separators("1234567"), "1,234,567");
        assert_eq!(with_separators("123"), "123");
        assert_eq!(with_separators("-1234.5"), "-1,234.5");
        assert_eq!(with_separators("-123456"), "-123,456");
        assert_eq!(with_separators("0.25"), "0.25");
    }

    #[test]
    fn error_chains_name_each_cause_once() {
        let inner =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let outer = std::io::Error::other(Wrapped(inner));
        assert_eq!(
            error_chain(&outer),
            "error sending request: connection refused"
        );
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
