//! A [`Comparison`] as text: an aligned table for the terminal, and Markdown for a pull-request
//! comment. Both start with the one-line verdict of [`verdict_line`].

use super::{threshold_text, Comparison, MetricChange, Verdict, MIN_RESOURCE_SAMPLES};
use crate::manifest::latency_floor_text;
use crate::text::{plural, short_number};

/// How many names a list in the verdict line shows before "and N more".
const LISTED: usize = 3;

/// A metric's value for display: requests/s and resources with one decimal, latency in ms with
/// three, error_rate as a percentage.
pub(super) fn value_text(metric: &str, value: f64) -> String {
    if super::is_latency(metric) {
        format!("{value:.3}")
    } else if super::is_fraction(metric) {
        format!("{:.2} %", value * 100.0)
    } else {
        format!("{value:.1}")
    }
}

/// "+12.3 %", "-30.0 %"; error_rate in percentage points ("+0.50 pt"); "from 0" when the old
/// value is 0 and the new one is not.
pub(super) fn change_text(metric: &str, old: f64, new: f64) -> String {
    let signed = |text: String| {
        if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
            // -0.0 after rounding
            format!("+{}", &text[1..])
        } else if text.starts_with('-') {
            text
        } else {
            format!("+{text}")
        }
    };
    if super::is_fraction(metric) {
        return format!("{} pt", signed(format!("{:.2}", (new - old) * 100.0)));
    }
    match super::change_pct(old, new) {
        Some(pct) => format!("{} %", signed(format!("{pct:.1}"))),
        None => "from 0".to_owned(),
    }
}

fn row_change(row: &MetricChange) -> String {
    change_text(row.metric, row.old, row.new)
}

fn verdict_text(row: &MetricChange) -> String {
    if row.regression {
        format!("{} (regression)", row.verdict)
    } else {
        row.verdict.to_string()
    }
}

/// "a, b, c and 2 more"
fn listed(items: Vec<String>) -> String {
    let total = items.len();
    let mut shown: Vec<String> = items.into_iter().take(LISTED).collect();
    if total > LISTED {
        shown.push(format!("and {} more", total - LISTED));
    }
    shown.join(", ")
}

fn changes(rows: &[&MetricChange]) -> String {
    listed(
        rows.iter()
            .map(|r| format!("{} {} {}", r.key(), r.metric, row_change(r)))
            .collect(),
    )
}

/// The one-line verdict:
/// - "N regression(s): variant / phase metric change, …" when any row is a regression;
/// - else "no regression; N improvement(s): …" when any row is Faster or Better beyond the
///   tolerance;
/// - else "no change beyond noise" when every row is Same (or not measured), or "no change
///   beyond the 10 % tolerance and the measured noise" when some rows changed consistently but
///   by less than their threshold;
/// - "nothing compared: no variant / phase has results in both runs" when there are no rows;
///
/// then "; only in old: …", "; only in new: …" and "; environment differs: CPU model, …" when
/// they apply.
pub fn verdict_line(c: &Comparison) -> String {
    let regressions = c.regressions();
    let improvements = c.improvements();
    let mut line = if c.rows.is_empty() {
        "nothing compared: no variant / phase has results in both runs".to_owned()
    } else if !regressions.is_empty() {
        format!(
            "{}: {}",
            plural(regressions.len(), "regression"),
            changes(&regressions)
        )
    } else if !improvements.is_empty() {
        format!(
            "no regression; {}: {}",
            plural(improvements.len(), "improvement"),
            changes(&improvements)
        )
    } else if c
        .rows
        .iter()
        .all(|r| matches!(r.verdict, Verdict::Same | Verdict::NotMeasured))
    {
        "no change beyond noise".to_owned()
    } else {
        format!(
            "no change beyond the {} and the measured noise",
            threshold_text("", &c.options())
        )
    };
    if !c.only_old.is_empty() {
        line += &format!("; only in old: {}", listed(c.only_old.clone()));
    }
    if !c.only_new.is_empty() {
        line += &format!("; only in new: {}", listed(c.only_new.clone()));
    }
    if !c.environment.is_empty() {
        let fields: Vec<&str> = c.environment.iter().map(|d| d.field).collect();
        line += &format!("; environment differs: {}", fields.join(", "));
    }
    line
}

fn tolerance_line(c: &Comparison) -> String {
    let floor = if c.latency_floor_ms > 0.0 {
        format!(
            "; latency: also more than {}",
            latency_floor_text(c.latency_floor_ms)
        )
    } else {
        String::new()
    };
    let noise: Vec<String> = crate::metrics::judged()
        .filter_map(|spec| {
            let noise = spec.judged.noise()? * 100.0;
            let unit = if spec.is_fraction() { " pt" } else { " %" };
            Some(format!("{} {}{unit}", spec.name, short_number(noise)))
        })
        .collect();
    format!(
        "Compared with a {} (error_rate: {}{floor}), or a metric's measured run-to-run noise where that is larger ({}). Values are medians across trials. CPU and memory count only from trials with at least {MIN_RESOURCE_SAMPLES} resource samples in the phase.",
        threshold_text("", &c.options()),
        threshold_text("error_rate", &c.options()),
        noise.join(", ")
    )
}

const ENVIRONMENT_WARNING: &str =
    "The runs come from different environments: differences may come from the machine, not the code.";

const HEADERS: [&str; 8] = [
    "variant", "phase", "metric", "old", "new", "change", "verdict", "basis",
];

fn cells(row: &MetricChange) -> [String; 8] {
    [
        row.variant.clone(),
        row.phase.clone(),
        row.metric.to_owned(),
        value_text(row.metric, row.old),
        value_text(row.metric, row.new),
        row_change(row),
        verdict_text(row),
        row.basis.clone(),
    ]
}

/// Columns padded to their widest cell; `right` columns aligned right. No trailing spaces.
fn aligned(rows: &[Vec<String>], right: &[bool]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Plain text for a terminal or a CI log: the verdict line, the environment warning, an aligned
/// table of every row, what only one side has, the notes and the tolerance.
pub fn render_terminal(c: &Comparison) -> String {
    let mut out = verdict_line(c);
    out.push('\n');
    if !c.environment.is_empty() {
        out.push_str(&format!("\nWARNING: {ENVIRONMENT_WARNING}\n"));
        let rows: Vec<Vec<String>> = c
            .environment
            .iter()
            .map(|d| {
                vec![
                    format!("  {}", d.field),
                    d.old.clone(),
                    "->".to_owned(),
                    d.new.clone(),
                ]
            })
            .collect();
        out.push_str(&aligned(&rows, &[]));
    }
    if !c.rows.is_empty() {
        out.push('\n');
        let mut rows = vec![HEADERS.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
        rows.extend(c.rows.iter().map(|r| cells(r).to_vec()));
        out.push_str(&aligned(
            &rows,
            &[false, false, false, true, true, true, false, false],
        ));
    }
    if !c.only_old.is_empty() || !c.only_new.is_empty() {
        out.push('\n');
        if !c.only_old.is_empty() {
            out.push_str(&format!("only in old: {}\n", c.only_old.join(", ")));
        }
        if !c.only_new.is_empty() {
            out.push_str(&format!("only in new: {}\n", c.only_new.join(", ")));
        }
    }
    if !c.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in &c.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out.push('\n');
    out.push_str(&tolerance_line(c));
    out.push('\n');
    out
}

/// A table cell: `|` escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Markdown for a pull-request comment: the verdict line in bold behind ❌ (regressions), ⚠️
/// (something only on one side, or another environment) or ✅, the environment differences as
/// a GitHub warning block, a table of every row, what only one side has, the notes and the
/// tolerance.
pub fn render_markdown(c: &Comparison) -> String {
    let icon = if c.is_regression() {
        "❌"
    } else if !c.only_old.is_empty() || !c.only_new.is_empty() || !c.environment.is_empty() {
        "⚠️"
    } else {
        "✅"
    };
    let mut out = format!("{icon} **{}**\n", verdict_line(c));
    if !c.environment.is_empty() {
        out.push_str(&format!("\n> [!WARNING]\n> {ENVIRONMENT_WARNING}\n>\n"));
        for d in &c.environment {
            out.push_str(&format!("> - {}: {} → {}\n", d.field, d.old, d.new));
        }
    }
    if !c.rows.is_empty() {
        out.push_str("\n| ");
        out.push_str(&HEADERS.join(" | "));
        out.push_str(" |\n| --- | --- | --- | ---: | ---: | ---: | --- | --- |\n");
        for row in &c.rows {
            let mut texts = cells(row).map(|t| cell(&t));
            texts[2] = format!("`{}`", texts[2]);
            if row.regression {
                texts[6] = format!("**{}**", texts[6]);
            }
            out.push_str(&format!("| {} |\n", texts.join(" | ")));
        }
    }
    if !c.only_old.is_empty() || !c.only_new.is_empty() {
        out.push('\n');
        if !c.only_old.is_empty() {
            out.push_str(&format!("Only in old: {}\n", c.only_old.join(", ")));
        }
        if !c.only_new.is_empty() {
            if !c.only_old.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("Only in new: {}\n", c.only_new.join(", ")));
        }
    }
    if !c.notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for note in &c.notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    out.push_str(&format!("\n_{}_\n", tolerance_line(c)));
    out
}
