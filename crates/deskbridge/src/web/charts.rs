//! Pictures drawn on the server as SVG: bar charts over time (with an optional limit line) and a
//! status timeline. Readable without JavaScript, sized by `viewBox` so they scale with the page,
//! coloured with presentation attributes (the CSP allows no inline styles), and each carries a
//! `<title>` and a sentence for screen readers. Only numbers and fixed words go into the markup;
//! any text is escaped all the same.

use std::fmt::Write;

use crate::html::escape;

const W: f64 = 720.0;
const H: f64 = 150.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

const ACCENT: &str = "#2f6fdf";
const LIMIT: &str = "#c53030";
const MUTED: &str = "#6b7785";
const LINE: &str = "#e3e6ea";

/// A round top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

fn open(id: &str, title: &str, summary: &str) -> String {
    format!(
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(title),
        escape(summary)
    )
}

/// Bars of `values` (one a slot, oldest first) under an optional `limit` line (one a slot, `None`
/// where unknown), with the first and last slot's labels under the axis.
pub fn bars(
    id: &str,
    title: &str,
    summary: &str,
    values: &[f64],
    limit: Option<&[Option<f64>]>,
    (first, last): (&str, &str),
) -> String {
    let n = values.len().max(1) as f64;
    let top_limit = limit
        .into_iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, b| a.max(*b));
    let top = nice(values.iter().fold(0.0f64, |a, b| a.max(*b)).max(top_limit));
    let plot_w = W - LEFT;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v / top) * plot_h;
    let mut s = open(id, title, summary);
    // Axis: the top value and zero, with a faint line at each.
    for v in [top, 0.0] {
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" x2="{W}" y1="{0:.1}" y2="{0:.1}" stroke="{LINE}"/><text x="{1}" y="{2:.1}" text-anchor="end" font-size="11" fill="{MUTED}">{3}</text>"#,
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            compact(v)
        );
    }
    let bw = plot_w / n;
    for (i, v) in values.iter().enumerate() {
        if *v <= 0.0 {
            continue;
        }
        let _ = write!(
            s,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{ACCENT}"/>"#,
            LEFT + i as f64 * bw,
            y(*v),
            (bw - if bw > 3.0 { 1.0 } else { 0.0 }).max(0.5),
            (plot_h - (y(*v) - TOP)).max(0.5)
        );
    }
    if let Some(limit) = limit {
        let mut points = String::new();
        for (i, l) in limit.iter().enumerate() {
            if let Some(l) = l {
                let _ = write!(points, "{:.1},{:.1} ", LEFT + i as f64 * bw, y(*l));
                let _ = write!(points, "{:.1},{:.1} ", LEFT + (i as f64 + 1.0) * bw, y(*l));
            }
        }
        if !points.is_empty() {
            let _ = write!(
                s,
                r#"<polyline class="limit" points="{}" fill="none" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="5 3"/>"#,
                points.trim_end()
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="{H}" font-size="11" fill="{MUTED}">{}</text><text x="{W}" y="{H}" font-size="11" text-anchor="end" fill="{MUTED}">{}</text></svg>"#,
        escape(first),
        escape(last)
    );
    s
}

/// A stretch of the timeline: from and to (unix seconds) and its status code.
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub status: String,
}

fn colour(status: &str) -> &'static str {
    match status {
        "connected" => "#1f8a4c",
        "connected_with_warnings" => "#b7791f",
        "needs_attention" => "#c53030",
        _ => "#d5dae0",
    }
}

/// A band from `start` to `end` coloured by status, with a tick each `tick` seconds labelled by
/// `label(t)`.
pub fn timeline(
    id: &str,
    title: &str,
    summary: &str,
    spans: &[Span],
    (start, end): (i64, i64),
    tick: i64,
    label: impl Fn(i64) -> String,
) -> String {
    let span = (end - start).max(1) as f64;
    let x = |t: i64| LEFT + ((t.clamp(start, end) - start) as f64 / span) * (W - LEFT);
    let mut s = open(id, title, summary);
    let (band_top, band_h) = (30.0, 50.0);
    let _ = write!(
        s,
        r#"<rect x="{LEFT}" y="{band_top}" width="{}" height="{band_h}" fill="{}"/>"#,
        W - LEFT,
        colour("")
    );
    for sp in spans {
        if sp.to <= start || sp.from >= end {
            continue;
        }
        let _ = write!(
            s,
            r#"<rect class="status-{}" x="{:.2}" y="{band_top}" width="{:.2}" height="{band_h}" fill="{}"/>"#,
            escape(&sp.status),
            x(sp.from),
            (x(sp.to) - x(sp.from)).max(1.0),
            colour(&sp.status)
        );
    }
    let mut t = start;
    while t <= end {
        let _ = write!(
            s,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="{MUTED}"/><text x="{0:.1}" y="{3}" font-size="11" text-anchor="middle" fill="{MUTED}">{4}</text>"#,
            x(t),
            band_top + band_h,
            band_top + band_h + 5.0,
            band_top + band_h + 19.0,
            escape(&label(t))
        );
        t += tick.max(1);
    }
    let mut lx = LEFT;
    for (code, words) in [
        ("connected", "Connected"),
        ("connected_with_warnings", "Warnings"),
        ("needs_attention", "Needs attention"),
        ("", "Not connected"),
    ] {
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="6" width="12" height="12" fill="{}"/><text x="{}" y="16" font-size="11" fill="{MUTED}">{words}</text>"#,
            colour(code),
            lx + 16.0
        );
        lx += 24.0 + words.len() as f64 * 6.5;
    }
    s.push_str("</svg>");
    s
}

/// Precision (up) against coverage (across) as the threshold falls, with the target precision
/// as a dashed line and the chosen point marked. `points` are (coverage, precision), both 0–1.
pub fn curve(
    id: &str,
    title: &str,
    summary: &str,
    points: &[(f64, f64)],
    target: f64,
    chosen: Option<(f64, f64)>,
) -> String {
    let plot_w = W - LEFT;
    let plot_h = H - TOP - BOTTOM;
    let x = |c: f64| LEFT + c.clamp(0.0, 1.0) * plot_w;
    // Precision from 50% to 100%: below half, a prediction is a coin toss.
    let y = |p: f64| TOP + (1.0 - (p.clamp(0.5, 1.0) - 0.5) * 2.0) * plot_h;
    let mut s = open(id, title, summary);
    for (p, label) in [(1.0, "100%"), (0.75, "75%"), (0.5, "50%")] {
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" x2="{W}" y1="{0:.1}" y2="{0:.1}" stroke="{LINE}"/><text x="{1}" y="{2:.1}" text-anchor="end" font-size="11" fill="{MUTED}">{label}</text>"#,
            y(p),
            LEFT - 6.0,
            y(p) + 4.0
        );
    }
    let line: String = points
        .iter()
        .map(|(c, p)| format!("{:.1},{:.1} ", x(*c), y(*p)))
        .collect();
    let _ = write!(
        s,
        r#"<polyline class="curve" points="{0}" fill="none" stroke="{ACCENT}" stroke-width="2"/><line class="target" x1="{LEFT}" x2="{W}" y1="{1:.1}" y2="{1:.1}" stroke="{LIMIT}" stroke-dasharray="5 3"/>"#,
        line.trim_end(),
        y(target)
    );
    if let Some((c, p)) = chosen {
        let _ = write!(
            s,
            r#"<circle class="chosen" cx="{:.1}" cy="{:.1}" r="5" fill="{LIMIT}"/>"#,
            x(c),
            y(p)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="{H}" font-size="11" fill="{MUTED}">answers nothing</text><text x="{W}" y="{H}" font-size="11" text-anchor="end" fill="{MUTED}">answers every ticket</text></svg>"#
    );
    s
}

/// A number for an axis: 1200 as 1.2k.
fn compact(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_reaches_the_top_when_it_is_the_axis_maximum_and_the_limit_line_is_drawn() {
        let svg = bars(
            "c",
            "t",
            "d",
            &[0.0, 50.0, 100.0],
            Some(&[None, Some(80.0), Some(80.0)]),
            ("a", "b"),
        );
        assert_eq!(svg.matches("<rect").count(), 2, "no bar for zero: {svg}");
        assert!(
            svg.contains(&format!(r#"y="{TOP:.2}""#)),
            "100 of 100 touches the top"
        );
        assert!(svg.contains("class=\"limit\""));
        assert!(svg.contains(">100<"), "the axis names its top: {svg}");
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(101.0), 200.0);
        assert_eq!(nice(4_900.0), 5_000.0);
    }

    #[test]
    fn text_in_a_picture_is_escaped() {
        let svg = bars("c", "<script>", "a\"b", &[1.0], None, ("<x>", "&"));
        assert!(!svg.contains("<script>") && !svg.contains("<x>"));
        assert!(svg.contains("&#60;script&#62;") && svg.contains("a&#34;b"));
    }
}
