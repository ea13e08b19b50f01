//! SVG plots for the report: latency percentile spectra and requests per second over time.
//!
//! Pure functions from data to SVG text, drawn with plotters' SVG backend. The output is
//! deterministic: the same input gives byte-identical SVG (integer pixel coordinates, fixed
//! palette, tick values and labels computed here rather than by the backend).

use std::ops::Range;

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::text::with_separators;

/// One line on a plot: its legend name and its (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Points of a latency percentile spectrum from a histogram of latencies in microseconds:
/// (percentile in 0..=100, latency in milliseconds), sampled at HdrHistogram's quantile steps
/// (denser toward the tail) and ending with (100, max). Empty histogram → no points.
pub fn percentile_points(hist: &Histogram<u64>) -> Vec<(f64, f64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, f64)> = Vec::new();
    for step in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        let percentile = (step.quantile_iterated_to() * 100.0).clamp(0.0, 100.0);
        let ms = step.value_iterated_to() as f64 / 1000.0;
        match points.last_mut() {
            // The iterator may visit the last bucket twice; keep one point per percentile.
            Some(last) if last.0 == percentile => last.1 = last.1.max(ms),
            _ => points.push((percentile, ms)),
        }
    }
    let max_ms = hist.max() as f64 / 1000.0;
    match points.last_mut() {
        Some(last) if last.0 >= 100.0 => last.1 = last.1.max(max_ms),
        _ => points.push((100.0, max_ms)),
    }
    points
}

/// Latency percentile spectrum: x = percentile on a log scale of 1/(1−p) (ticks "0%", "90%",
/// "99%", "99.9%", … as far as the data goes, at least to 99.9%), y = latency in ms from 0.
/// Points are (percentile in 0..=100, latency in ms); 100% (the max) is drawn at the right
/// edge. Non-finite and out-of-range points are skipped.
pub fn latency_spectrum_svg(title: &str, series: &[Series]) -> Result<String, String> {
    // Map each percentile to its "number of nines" (log10 of 1/(1−p)).
    let mut lines = Vec::with_capacity(series.len());
    let mut max_nines: f64 = 0.0;
    let mut max_ms: f64 = 0.0;
    for s in series {
        let mut finite: Vec<(f64, f64)> = Vec::new();
        let mut max_point: Option<f64> = None;
        for &(p, ms) in &s.points {
            if !(p.is_finite() && ms.is_finite() && (0.0..=100.0).contains(&p) && ms >= 0.0) {
                continue;
            }
            max_ms = max_ms.max(ms);
            let nines = (1.0 / (1.0 - p / 100.0)).log10();
            if p >= 100.0 || !nines.is_finite() || nines > MAX_NINES {
                max_point = Some(max_point.map_or(ms, |m: f64| m.max(ms)));
            } else {
                let nines = nines.max(0.0);
                max_nines = max_nines.max(nines);
                finite.push((nines, ms));
            }
        }
        finite.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.push((finite, max_point));
    }
    // Round up to whole nines, but not for a few percent of a decade: the quantile iteration
    // steps at powers of two, so 1,000 samples end at 1 − 1/1024 (3.01 nines), not 99.9%.
    let x_end = (max_nines - 0.05).ceil().clamp(3.0, MAX_NINES);
    let lines: Vec<Line> = series
        .iter()
        .zip(lines)
        .map(|(s, (points, max_point))| {
            let mut points: Vec<(f64, f64)> = points
                .into_iter()
                .map(|(x, ms)| (x.min(x_end), ms))
                .collect();
            if let Some(ms) = max_point {
                // 100% is infinitely far right on this axis: the max is drawn at the right
                // edge. Percentiles beyond the data's resolution all equal the max, so the
                // line's last segment is (nearly always) flat at the max.
                points.push((x_end, ms));
            }
            Line {
                name: s.name.clone(),
                points,
            }
        })
        .collect();

    let x_ticks: Vec<(f64, String)> = (0..=x_end as u32)
        .map(|k| (f64::from(k), nines_label(k)))
        .collect();
    // A tail two decades above the body flattens the body against a linear axis; decades
    // keep both readable.
    let min_ms = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|ms| *ms > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (lines, y, y_desc) = if max_ms > 0.0 && min_ms.is_finite() && max_ms / min_ms >= 100.0 {
        // Histograms resolve 1 µs; beyond a dozen decades values are off any useful scale.
        let low = min_ms.log10().floor().max(-3.0);
        let high = (max_ms * HEADROOM)
            .log10()
            .ceil()
            .clamp(low + 1.0, low + 12.0);
        let decades = high - low;
        let lines = lines
            .into_iter()
            .map(|line| Line {
                points: line
                    .points
                    .into_iter()
                    .map(|(x, ms)| (x, (ms.max(10f64.powf(low)).log10() - low).min(decades)))
                    .collect(),
                ..line
            })
            .collect();
        let ticks = (0..=decades as u32)
            .map(|k| (f64::from(k), decade_label(low + f64::from(k))))
            .collect();
        (
            lines,
            Axis {
                end: decades,
                ticks,
            },
            "latency (ms, log scale)",
        )
    } else {
        (
            lines,
            linear_axis(max_ms * HEADROOM, Y_TICKS_TARGET),
            "latency (ms)",
        )
    };
    render(&Plot {
        title,
        x_desc: "percentile (log scale)",
        y_desc,
        x: Axis {
            end: x_end,
            ticks: x_ticks,
        },
        y,
        lines: &lines,
    })
}

/// Requests per second over a phase: points are (second since the phase started, requests/s
/// in that second); x in seconds from 0, y in requests/s from 0. Non-finite or negative points
/// are skipped.
pub fn rps_over_time_svg(title: &str, series: &[Series]) -> Result<String, String> {
    let mut max_x: f64 = 0.0;
    let mut max_y: f64 = 0.0;
    let lines: Vec<Line> = series
        .iter()
        .map(|s| {
            let mut points: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y)| x.is_finite() && y.is_finite() && x >= 0.0 && y >= 0.0)
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(x, y) in &points {
                max_x = max_x.max(x);
                max_y = max_y.max(y);
            }
            Line {
                name: s.name.clone(),
                points,
            }
        })
        .collect();
    let x = linear_axis(max_x, X_TICKS_TARGET);
    let y = linear_axis(max_y * HEADROOM, Y_TICKS_TARGET);
    render(&Plot {
        title,
        x_desc: "time since phase start (s)",
        y_desc: "requests/s",
        x,
        y,
        lines: &lines,
    })
}

/// `iter_quantiles` resolution, as in HdrHistogram's percentile distribution output.
const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// The spectrum's x axis stops at 99.9999999%.
const MAX_NINES: f64 = 9.0;
/// Room above the highest value so a line never runs along the top border.
const HEADROOM: f64 = 1.05;
const X_TICKS_TARGET: usize = 10;
const Y_TICKS_TARGET: usize = 5;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 420;
const FONT: &str = "sans-serif";
/// plotters' SVG backend writes font-size = size / 1.24; these give 20, 14 and 13 px.
const TITLE_SIZE: f64 = 24.8;
const TEXT_SIZE: f64 = 17.36;
const TICK_SIZE: f64 = 16.12;
/// Rough width of one character at 14 px and 13 px, to lay out the legend and label areas
/// (SVG text cannot be measured here; over-estimating only costs a little space).
const TEXT_CHAR_W: u32 = 8;
const TICK_CHAR_W: u32 = 8;
const LEGEND_ROW_H: u32 = 22;
const LEGEND_SWATCH_W: u32 = 22;
const LEGEND_ITEM_GAP: u32 = 26;
const LEGEND_NAME_MAX_CHARS: usize = 60;
const SIDE_MARGIN: u32 = 20;

/// Series colours, in series order (matplotlib's tab10 without its grey and olive).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];
const TEXT_COLOR: RGBColor = RGBColor(0x22, 0x22, 0x22);
const AXIS_COLOR: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID_COLOR: RGBColor = RGBColor(0xe3, 0xe3, 0xe3);

fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// "0%", "90%", "99%", "99.9%", … for k nines.
/// "0.01", "0.1", "1", "10", "1,000" for the decade 10^exponent.
fn decade_label(exponent: f64) -> String {
    let value = 10f64.powf(exponent);
    if exponent < 0.0 {
        format!("{:.*}", (-exponent) as usize, value)
    } else {
        with_separators(&format!("{value:.0}"))
    }
}

fn nines_label(k: u32) -> String {
    match k {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        _ => {
            let decimals = "9".repeat(k as usize - 2);
            if decimals.is_empty() {
                "99%".to_string()
            } else {
                format!("99.{decimals}%")
            }
        }
    }
}

struct Line {
    name: String,
    points: Vec<(f64, f64)>,
}

/// An axis from 0 to `end` with labelled ticks.
struct Axis {
    end: f64,
    ticks: Vec<(f64, String)>,
}

struct Plot<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x: Axis,
    y: Axis,
    lines: &'a [Line],
}

/// A linear axis from 0 covering `max`, with about `target` ticks at 1, 2 or 5 × 10^k steps.
fn linear_axis(max: f64, target: usize) -> Axis {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else if max.is_infinite() {
        f64::MAX
    } else {
        1.0
    };
    let step = nice_step(max / target.max(1) as f64);
    let count = (max / step - 1e-9).ceil().max(1.0);
    let end = count * step;
    let (end, count) = if end.is_finite() {
        (end, count as u32)
    } else {
        (max, (max / step) as u32)
    };
    let format = TickFormat::for_axis(end, step);
    let ticks = (0..=count)
        .map(|i| f64::from(i) * step)
        .filter(|v| *v <= end)
        .map(|v| (v, format.format(v)))
        .collect();
    Axis { end, ticks }
}

/// The 1, 2 or 5 × 10^k nearest to `raw` on a log scale (as d3's ticks do).
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let factor = if normalized >= 50f64.sqrt() {
        10.0
    } else if normalized >= 10f64.sqrt() {
        5.0
    } else if normalized >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    factor * magnitude
}

/// How tick values are written: a fixed number of decimals with thousands separators, scaled
/// to millions ("12.5M") for very large axes and scientific beyond that.
struct TickFormat {
    divisor: f64,
    suffix: &'static str,
    decimals: usize,
    scientific: bool,
}

impl TickFormat {
    fn for_axis(end: f64, step: f64) -> TickFormat {
        let (divisor, suffix) = if end >= 1e7 { (1e6, "M") } else { (1.0, "") };
        let scaled_step = step / divisor;
        let decimals = (-(scaled_step.log10()) - 1e-9).ceil().clamp(0.0, 12.0) as usize;
        TickFormat {
            divisor,
            suffix,
            decimals,
            scientific: end >= 1e15,
        }
    }

    fn format(&self, value: f64) -> String {
        if value == 0.0 {
            return "0".to_string();
        }
        if self.scientific {
            return format!("{value:.1e}");
        }
        let text = format!("{:.*}", self.decimals, value / self.divisor);
        let (int, frac) = match text.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (text.as_str(), None),
        };
        let mut out = with_separators(int);
        if let Some(frac) = frac {
            out.push('.');
            out.push_str(frac);
        }
        out.push_str(self.suffix);
        out
    }
}

fn truncate_name(name: &str) -> String {
    if name.chars().count() <= LEGEND_NAME_MAX_CHARS {
        name.to_string()
    } else {
        let mut short: String = name.chars().take(LEGEND_NAME_MAX_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// Legend entries placed in centred rows: (row, x offset within the row, label, colour), and
/// each row's width.
struct LegendLayout {
    items: Vec<(usize, u32, String, RGBColor)>,
    row_widths: Vec<u32>,
}

fn legend_layout(lines: &[Line], available: u32) -> LegendLayout {
    let mut items = Vec::new();
    let mut row_widths: Vec<u32> = Vec::new();
    let mut row = 0;
    let mut x = 0;
    for (i, line) in lines.iter().enumerate() {
        let mut label = truncate_name(&line.name);
        if line.points.is_empty() {
            label.push_str(" (no data)");
        }
        let width = LEGEND_SWATCH_W + 6 + label.chars().count() as u32 * TEXT_CHAR_W;
        if x > 0 && x + LEGEND_ITEM_GAP + width > available {
            row_widths.push(x);
            row += 1;
            x = 0;
        }
        if x > 0 {
            x += LEGEND_ITEM_GAP;
        }
        items.push((row, x, label, color(i)));
        x += width;
    }
    if x > 0 {
        row_widths.push(x);
    }
    LegendLayout { items, row_widths }
}

fn render(plot: &Plot) -> Result<String, String> {
    let legend = legend_layout(plot.lines, WIDTH - 2 * SIDE_MARGIN);
    let legend_rows = legend.row_widths.len().max(1) as u32;
    let header_h = 44 + legend_rows * LEGEND_ROW_H;
    let height = HEIGHT + (legend_rows - 1) * LEGEND_ROW_H;

    let longest_y_label = plot
        .y
        .ticks
        .iter()
        .map(|(_, label)| label.chars().count() as u32)
        .max()
        .unwrap_or(1);
    let y_label_area = 44 + longest_y_label * TICK_CHAR_W;
    // Half the last x label hangs past the plot's right edge.
    let last_x_label = plot.x.ticks.last().map_or(1, |(_, l)| l.chars().count()) as u32;
    let right_margin = (last_x_label * TICK_CHAR_W / 2 + 8).max(SIDE_MARGIN);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (header, body) = root.split_vertically(header_h);

        let title_style = FontDesc::new(FontFamily::Name(FONT), TITLE_SIZE, FontStyle::Bold)
            .color(&TEXT_COLOR)
            .pos(Pos::new(HPos::Center, VPos::Top));
        header
            .draw(&Text::new(
                plot.title.to_string(),
                ((WIDTH / 2) as i32, 12),
                title_style,
            ))
            .map_err(err)?;

        let legend_style = (FONT, TEXT_SIZE)
            .into_font()
            .color(&TEXT_COLOR)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (row, offset, label, colour) in &legend.items {
            let row_start = (WIDTH - legend.row_widths[*row]) / 2;
            let x = (row_start + offset) as i32;
            let y = (44 + *row as u32 * LEGEND_ROW_H + LEGEND_ROW_H / 2) as i32;
            header
                .draw(&Rectangle::new(
                    [(x, y - 2), (x + LEGEND_SWATCH_W as i32, y + 2)],
                    colour.filled(),
                ))
                .map_err(err)?;
            header
                .draw(&Text::new(
                    label.clone(),
                    (x + LEGEND_SWATCH_W as i32 + 6, y),
                    legend_style.clone(),
                ))
                .map_err(err)?;
        }

        let x_keys: Vec<f64> = plot.x.ticks.iter().map(|(v, _)| *v).collect();
        let y_keys: Vec<f64> = plot.y.ticks.iter().map(|(v, _)| *v).collect();
        let mut chart = ChartBuilder::on(&body)
            .margin_top(8)
            .margin_bottom(8)
            .margin_left(SIDE_MARGIN)
            .margin_right(right_margin)
            .x_label_area_size(52)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(
                TickedRange::new(plot.x.end, x_keys),
                TickedRange::new(plot.y.end, y_keys),
            )
            .map_err(err)?;

        let x_label = |v: &f64| tick_label(&plot.x.ticks, *v);
        let y_label = |v: &f64| tick_label(&plot.y.ticks, *v);
        chart
            .configure_mesh()
            .x_labels(plot.x.ticks.len())
            .y_labels(plot.y.ticks.len())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(plot.x_desc)
            .y_desc(plot.y_desc)
            .label_style((FONT, TICK_SIZE).into_font().color(&TEXT_COLOR))
            .axis_desc_style((FONT, TEXT_SIZE).into_font().color(&TEXT_COLOR))
            .axis_style(AXIS_COLOR)
            .bold_line_style(GRID_COLOR)
            .light_line_style(TRANSPARENT)
            .max_light_lines(0)
            .set_all_tick_mark_size(4)
            .draw()
            .map_err(err)?;

        for (i, line) in plot.lines.iter().enumerate() {
            let style = ShapeStyle::from(color(i)).stroke_width(2);
            match line.points.as_slice() {
                [] => {}
                [single] => {
                    chart
                        .draw_series(std::iter::once(Circle::new(*single, 4, color(i).filled())))
                        .map_err(err)?;
                    chart
                        .draw_series(LineSeries::new(line.points.iter().copied(), style))
                        .map_err(err)?;
                }
                points => {
                    chart
                        .draw_series(LineSeries::new(points.iter().copied(), style))
                        .map_err(err)?;
                }
            }
        }

        if plot.lines.iter().all(|l| l.points.is_empty()) {
            let style = (FONT, TEXT_SIZE)
                .into_font()
                .color(&AXIS_COLOR)
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .plotting_area()
                .draw(&Text::new(
                    "no data",
                    (plot.x.end / 2.0, plot.y.end / 2.0),
                    style,
                ))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A linear range from 0 whose grid lines and labels are exactly the given ticks.
struct TickedRange {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedRange {
    fn new(end: f64, ticks: Vec<f64>) -> TickedRange {
        TickedRange {
            inner: (0.0..end).into(),
            ticks,
        }
    }
}

impl Ranged for TickedRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

fn tick_label(ticks: &[(f64, String)], value: f64) -> String {
    ticks
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, label)| label.clone())
        .unwrap_or_default()
}

fn err(e: impl std::fmt::Display) -> String {
    format!("plot rendering failed: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist_of_ms(values_ms: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for ms in values_ms {
            hist.record(ms * 1000).unwrap();
        }
        hist
    }

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.to_string(),
            points,
        }
    }

    fn assert_svg(svg: &str) {
        assert!(svg.starts_with("<svg"), "starts with <svg: {}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    /// Data lines: polylines drawn 2 px wide (grid lines and axes are 1 px).
    fn polylines(svg: &str) -> usize {
        svg.split("<polyline")
            .skip(1)
            .filter(|chunk| {
                chunk
                    .split("/>")
                    .next()
                    .unwrap()
                    .contains(r#"stroke-width="2""#)
            })
            .count()
    }

    /// Text content of every <text> element.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|chunk| {
                let start = chunk.find('>')? + 1;
                let end = chunk.find("</text>")?;
                Some(chunk[start..end].trim().to_string())
            })
            .collect()
    }

    fn realistic_spectrum() -> Vec<Series> {
        vec![
            series("fast", percentile_points(&hist_of_ms(1..=50))),
            series("slow", percentile_points(&hist_of_ms((1..=500).step_by(3)))),
        ]
    }

    #[test]
    fn percentile_points_of_1_to_1000_ms_end_at_the_max_and_are_monotonic() {
        let points = percentile_points(&hist_of_ms(1..=1000));
        assert!(points.len() > 20, "{} points", points.len());
        let first = points[0];
        assert_eq!(first.0, 0.0);
        assert!((first.1 - 1.0).abs() < 0.01, "first {first:?}");
        let last = *points.last().unwrap();
        assert_eq!(last.0, 100.0);
        assert!((last.1 - 1000.0).abs() <= 1.0, "last {last:?}");
        for pair in points.windows(2) {
            assert!(pair[1].0 > pair[0].0, "percentile increases: {pair:?}");
            assert!(pair[1].1 >= pair[0].1, "latency never decreases: {pair:?}");
        }
        // The tail is sampled densely: several points beyond 99%.
        assert!(points.iter().filter(|(p, _)| *p > 99.0).count() >= 3);
    }

    #[test]
    fn percentile_points_of_an_empty_histogram_is_empty() {
        assert!(percentile_points(&hist_of_ms([])).is_empty());
    }

    #[test]
    fn percentile_points_of_a_single_value() {
        let points = percentile_points(&hist_of_ms([7]));
        assert_eq!(points.first().unwrap().0, 0.0);
        let last = *points.last().unwrap();
        assert_eq!(last.0, 100.0);
        assert!((last.1 - 7.0).abs() < 0.01);
    }

    #[test]
    fn spectrum_has_a_line_and_legend_entry_per_series_and_nines_ticks() {
        let svg = latency_spectrum_svg("Latency — closed-50", &realistic_spectrum()).unwrap();
        assert_svg(&svg);
        assert_eq!(polylines(&svg), 2);
        let texts = texts(&svg);
        for expected in [
            "fast",
            "slow",
            "Latency — closed-50",
            "latency (ms, log scale)",
        ] {
            assert!(
                texts.iter().any(|t| t == expected),
                "{expected} in {texts:?}"
            );
        }
        for tick in ["0%", "90%", "99%", "99.9%"] {
            assert!(texts.iter().any(|t| t == tick), "{tick} in {texts:?}");
        }
    }

    #[test]
    fn spectrum_of_1000_samples_ends_at_99_9() {
        let points = percentile_points(&hist_of_ms(1..=1000));
        let svg = latency_spectrum_svg("t", &[series("a", points)]).unwrap();
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t == "99.9%"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "99.99%"), "{texts:?}");
    }

    #[test]
    fn spectrum_ticks_extend_as_far_as_the_data() {
        // 200,000 samples with a single slowest one: resolved to 1/(1−p) = 200,000.
        let hist = hist_of_ms((0..200_000).map(|i| if i == 0 { 900 } else { 1 + i % 97 }));
        let svg = latency_spectrum_svg("t", &[series("a", percentile_points(&hist))]).unwrap();
        let texts = texts(&svg);
        // The last finite percentile is about 1 − 1/200,000 (5.3 nines): the axis ends at 6.
        assert!(texts.iter().any(|t| t == "99.9999%"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "99.99999%"), "{texts:?}");
    }

    #[test]
    fn rps_has_a_line_and_legend_entry_per_series() {
        let a: Vec<(f64, f64)> = (0..10).map(|s| (s as f64, 60_000.0 + s as f64)).collect();
        let b: Vec<(f64, f64)> = (0..10).map(|s| (s as f64, 45_000.0)).collect();
        let svg = rps_over_time_svg("Requests/s", &[series("one", a), series("two", b)]).unwrap();
        assert_svg(&svg);
        assert_eq!(polylines(&svg), 2);
        let texts = texts(&svg);
        for expected in [
            "one",
            "two",
            "requests/s",
            "time since phase start (s)",
            "60,000",
        ] {
            assert!(
                texts.iter().any(|t| t == expected),
                "{expected} in {texts:?}"
            );
        }
    }

    #[test]
    fn same_input_renders_byte_identically() {
        let spectrum = realistic_spectrum();
        assert_eq!(
            latency_spectrum_svg("t", &spectrum).unwrap(),
            latency_spectrum_svg("t", &spectrum).unwrap()
        );
        let rps = vec![series("a", vec![(0.0, 1.5), (1.0, 2.25), (2.0, 1e6 / 3.0)])];
        assert_eq!(
            rps_over_time_svg("t", &rps).unwrap(),
            rps_over_time_svg("t", &rps).unwrap()
        );
    }

    #[test]
    fn edge_cases_render_without_panicking() {
        let cases: Vec<Vec<Series>> = vec![
            vec![],
            vec![series("empty", vec![])],
            vec![series("single", vec![(0.0, 5.0)])],
            vec![series("single-max", vec![(100.0, 5.0)])],
            vec![series("zeros", vec![(0.0, 0.0), (50.0, 0.0), (100.0, 0.0)])],
            vec![series(
                "junk",
                vec![
                    (f64::NAN, 1.0),
                    (1.0, f64::NAN),
                    (f64::INFINITY, 1.0),
                    (1.0, f64::NEG_INFINITY),
                    (-5.0, 1.0),
                    (150.0, 1.0),
                    (2.0, -1.0),
                ],
            )],
            vec![series(
                "huge",
                vec![(0.0, 1e9), (50.0, 3e12), (99.0, f64::MAX)],
            )],
            vec![series(
                "tiny",
                vec![(0.0, 1e-9), (99.999_999_999_999, 2e-9)],
            )],
            vec![
                series("a", vec![(0.0, 1.0), (1.0, 2.0)]),
                series("b", vec![]),
                series("c & <d>", vec![(3.0, 1.0)]),
            ],
            (0..20)
                .map(|i| series(&format!("variant-number-{i}"), vec![(0.0, i as f64)]))
                .collect(),
            vec![series(
                &"long-name-".repeat(20),
                vec![(0.0, 1.0), (99.0, 2.0)],
            )],
        ];
        for case in &cases {
            for svg in [
                latency_spectrum_svg("edge", case).unwrap(),
                rps_over_time_svg("edge", case).unwrap(),
            ] {
                assert_svg(&svg);
                let non_empty = case.iter().filter(|s| !s.points.is_empty()).count();
                assert!(polylines(&svg) <= non_empty, "{case:?}");
            }
        }
        let svg = rps_over_time_svg("t", &[series("empty", vec![])]).unwrap();
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t == "empty (no data)"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "no data"), "{texts:?}");
    }

    #[test]
    fn large_values_get_thousands_separators_or_suffixes() {
        let svg = rps_over_time_svg("t", &[series("a", vec![(0.0, 0.0), (1.0, 2.5e6)])]).unwrap();
        assert!(
            texts(&svg).iter().any(|t| t == "2,500,000"),
            "{:?}",
            texts(&svg)
        );
        let svg = rps_over_time_svg("t", &[series("a", vec![(0.0, 0.0), (1.0, 4.2e8)])]).unwrap();
        assert!(
            texts(&svg).iter().any(|t| t.ends_with('M')),
            "{:?}",
            texts(&svg)
        );
    }

    #[test]
    fn a_long_tail_gets_a_log_latency_axis() {
        let body_and_tail = series(
            "tail",
            vec![(0.0, 0.3), (50.0, 0.6), (99.0, 2.0), (100.0, 250.0)],
        );
        let svg = latency_spectrum_svg("t", &[body_and_tail]).unwrap();
        assert!(
            svg.contains("latency (ms, log scale)"),
            "decades for a 0.3–250 ms spread"
        );
        for label in ["0.1", "1", "10", "100", "1,000"] {
            assert!(
                texts(&svg).iter().any(|t| t == label),
                "missing tick {label}"
            );
        }
        let narrow = series("narrow", vec![(0.0, 1.0), (100.0, 5.0)]);
        let svg = latency_spectrum_svg("t", &[narrow]).unwrap();
        assert!(
            svg.contains("latency (ms)") && !svg.contains("log scale)<"),
            "linear for a narrow spread"
        );
        assert_eq!(decade_label(-2.0), "0.01");
        assert_eq!(decade_label(3.0), "1,000");
    }

    #[test]
    fn tick_formatting() {
        assert_eq!(nines_label(0), "0%");
        assert_eq!(nines_label(2), "99%");
        assert_eq!(nines_label(5), "99.999%");
        let axis = linear_axis(63_000.0, 5);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels[..3], ["0", "10,000", "20,000"]);
        assert_eq!(labels.last(), Some(&"70,000"));
        let axis = linear_axis(1.7, 5);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "0.5", "1.0", "1.5", "2.0"]);
    }

    /// Latencies (µs) whose percentiles pass through the given anchors, interpolated linearly
    /// in "nines" (log10 of 1/(1−p)): realistic-looking test data without randomness.
    fn synthetic_latencies(n: u64, anchors_ms: [(f64, f64); 5], max_ms: f64) -> Histogram<u64> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        let mut anchors = anchors_ms.to_vec();
        anchors.push(((n as f64).log10(), max_ms));
        for i in 0..n {
            let nines = (1.0 / (1.0 - i as f64 / n as f64)).log10();
            let k = anchors.windows(2).position(|w| nines <= w[1].0).unwrap();
            let ((x0, y0), (x1, y1)) = (anchors[k], anchors[k + 1]);
            let ms = y0 + (y1 - y0) * (nines - x0) / (x1 - x0);
            hist.record((ms * 1000.0) as u64).unwrap();
        }
        hist
    }

    /// Writes example plots to $BENCHRIG_PLOT_EXAMPLES (to look at them):
    /// `BENCHRIG_PLOT_EXAMPLES=/tmp/plots cargo test --release --lib report::plots -- --ignored`
    #[test]
    #[ignore]
    fn write_examples() {
        let Ok(dir) = std::env::var("BENCHRIG_PLOT_EXAMPLES") else {
            return;
        };
        std::fs::create_dir_all(&dir).unwrap();
        let half = 2f64.log10();
        let fast = synthetic_latencies(
            600_000,
            [(0.0, 0.2), (half, 0.6), (1.0, 1.0), (2.0, 1.7), (3.0, 2.6)],
            5.0,
        );
        let slow = synthetic_latencies(
            450_000,
            [
                (0.0, 2.0),
                (half, 20.0),
                (1.0, 45.0),
                (2.0, 120.0),
                (3.0, 290.0),
            ],
            500.0,
        );
        let spectrum = [
            series("hyper-2-threads", percentile_points(&fast)),
            series("gunicorn-sync-4", percentile_points(&slow)),
        ];
        let rps = |base: f64, wobble: f64| -> Vec<(f64, f64)> {
            (0..10)
                .map(|s| (s as f64, base + wobble * (s as f64 * 1.7).sin()))
                .collect()
        };
        let throughput = [
            series("hyper-2-threads", rps(60_000.0, 1_200.0)),
            series("gunicorn-sync-4", rps(45_000.0, 2_000.0)),
        ];
        let files = [
            (
                "spectrum.svg",
                latency_spectrum_svg("Latency by percentile — closed-50", &spectrum),
            ),
            (
                "spectrum-fast-only.svg",
                latency_spectrum_svg("Latency by percentile — closed-50", &spectrum[..1]),
            ),
            (
                "rps.svg",
                rps_over_time_svg("Requests per second — closed-50", &throughput),
            ),
            (
                "rps-many.svg",
                rps_over_time_svg(
                    "Requests per second — eight variants",
                    &(0..8)
                        .map(|i| {
                            series(
                                &format!("variant-{i}-with-a-longer-name"),
                                rps(5_000.0 * (i + 1) as f64, 300.0),
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "empty.svg",
                rps_over_time_svg("No data", &[series("a", vec![])]),
            ),
            (
                "spectrum-small.svg",
                latency_spectrum_svg(
                    "1,000 requests, 1 to 1,000 ms, and a single one",
                    &[
                        series("uniform", percentile_points(&hist_of_ms(1..=1000))),
                        series("single", percentile_points(&hist_of_ms([250]))),
                    ],
                ),
            ),
            (
                "rps-large.svg",
                rps_over_time_svg(
                    "Millions per second over two minutes",
                    &[series(
                        "big",
                        (0..120)
                            .map(|s| (s as f64, 2.4e6 + 3e5 * (s as f64 / 7.0).sin()))
                            .collect(),
                    )],
                ),
            ),
        ];
        for (name, svg) in files {
            std::fs::write(format!("{dir}/{name}"), svg.unwrap()).unwrap();
        }
    }
}
