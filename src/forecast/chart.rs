//! A capacity chart as a standalone SVG: history, forecast, interval band, threshold and
//! capacity lines, dated axis. Plain SVG 1.1 so it pastes into any report or opens in any
//! browser.

use super::plan::TimedStep;
use crate::model::{Micros, format_rfc3339};
use std::fmt::Write;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 60.0;

pub struct Chart<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub unit: &'a str,
    pub history: &'a [(Micros, f64)],
    pub forecast: &'a [TimedStep],
    pub threshold: f64,
    pub capacity: f64,
    /// Where the expected forecast crosses the threshold, if it does.
    pub exhaustion: Option<Micros>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Chart<'_> {
    pub fn render(&self) -> String {
        let times = self
            .history
            .iter()
            .map(|p| p.0)
            .chain(self.forecast.iter().map(|s| s.time));
        let (t0, t1) = times.fold((Micros::MAX, Micros::MIN), |(a, b), t| (a.min(t), b.max(t)));
        let (t0, t1) = if t0 < t1 { (t0, t1) } else { (0, 1) };
        let values = self
            .history
            .iter()
            .map(|p| p.1)
            .chain(self.forecast.iter().flat_map(|s| [s.lower, s.upper]))
            .chain([self.threshold, self.capacity, 0.0]);
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        // Usage charts start at zero when nothing is negative.
        let lo = if lo >= 0.0 { 0.0 } else { lo - 0.02 * span };
        let hi = hi + 0.05 * span;
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let x = |t: Micros| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
        let y = |v: f64| TOP + (1.0 - (v - lo) / (hi - lo)) * plot_h;

        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="20" font-size="16" font-weight="bold">{}</text>
<text x="{LEFT}" y="38" fill="#555555">{}</text>
"##,
            escape(self.title),
            escape(self.subtitle)
        );
        // Horizontal grid and value labels.
        for i in 0..=5 {
            let v = lo + (hi - lo) * i as f64 / 5.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555555">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y(v) + 4.0,
                compact(v),
                y = y(v)
            );
        }
        // Dated ticks.
        for i in 0..=6 {
            let t = t0 + (t1 - t0) / 6 * i;
            let anchor = match i {
                0 => "start",
                6 => "end",
                _ => "middle",
            };
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#999999"/><text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555555">{}</text>"##,
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 5.0,
                HEIGHT - BOTTOM + 18.0,
                &format_rfc3339(t)[..10],
                x = x(t)
            );
        }
        if !self.forecast.is_empty() {
            let upper: Vec<String> = self
                .forecast
                .iter()
                .map(|s| format!("{:.1},{:.1}", x(s.time), y(s.upper)))
                .collect();
            let lower: Vec<String> = self
                .forecast
                .iter()
                .rev()
                .map(|s| format!("{:.1},{:.1}", x(s.time), y(s.lower)))
                .collect();
            let _ = writeln!(
                svg,
                r##"<polygon points="{} {}" fill="#9ecae1" fill-opacity="0.5" stroke="none"><title>prediction interval</title></polygon>"##,
                upper.join(" "),
                lower.join(" ")
            );
        }
        let polyline = |points: Vec<(f64, f64)>, colour: &str, dash: &str, name: &str| {
            let text: Vec<String> = points
                .iter()
                .map(|(a, b)| format!("{a:.1},{b:.1}"))
                .collect();
            format!(
                r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.6" stroke-dasharray="{dash}"><title>{name}</title></polyline>"##,
                text.join(" ")
            )
        };
        svg.push_str(&polyline(
            self.history.iter().map(|p| (x(p.0), y(p.1))).collect(),
            "#333333",
            "none",
            "history",
        ));
        svg.push('\n');
        svg.push_str(&polyline(
            self.forecast
                .iter()
                .map(|s| (x(s.time), y(s.mean)))
                .collect(),
            "#08519c",
            "none",
            "forecast",
        ));
        svg.push('\n');
        for (value, colour, label) in [
            (self.threshold, "#d62728", "threshold"),
            (self.capacity, "#7f7f7f", "capacity"),
        ] {
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{colour}">{label} {}</text>"##,
                WIDTH - RIGHT,
                WIDTH - RIGHT - 4.0,
                y(value) - 4.0,
                compact(value),
                y = y(value)
            );
        }
        if let Some(t) = self.exhaustion.filter(|t| (t0..=t1).contains(t)) {
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}" stroke="#d62728"/><text x="{:.1}" y="{:.1}" fill="#d62728">expected {}</text>"##,
                HEIGHT - BOTTOM,
                x(t) + 4.0,
                TOP + 14.0,
                &format_rfc3339(t)[..10],
                x = x(t)
            );
        }
        let legend_y = HEIGHT - 16.0;
        let _ = write!(
            svg,
            r##"<g fill="#333333"><line x1="{LEFT}" x2="{:.1}" y1="{legend_y}" y2="{legend_y}" stroke="#333333" stroke-width="2"/><text x="{:.1}" y="{:.1}">history</text>
<line x1="{:.1}" x2="{:.1}" y1="{legend_y}" y2="{legend_y}" stroke="#08519c" stroke-width="2"/><text x="{:.1}" y="{:.1}">forecast</text>
<rect x="{:.1}" y="{:.1}" width="20" height="10" fill="#9ecae1"/><text x="{:.1}" y="{:.1}">prediction interval</text>
<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>
</svg>
"##,
            LEFT + 20.0,
            LEFT + 26.0,
            legend_y + 4.0,
            LEFT + 90.0,
            LEFT + 110.0,
            LEFT + 116.0,
            legend_y + 4.0,
            LEFT + 190.0,
            legend_y - 5.0,
            LEFT + 216.0,
            legend_y + 4.0,
            WIDTH - RIGHT,
            legend_y + 4.0,
            escape(self.unit)
        );
        svg
    }
}

/// Short labels: 0.75, 12.5, 1.2k, 3.4M.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_holds_every_part_and_escapes_text() {
        let history: Vec<(Micros, f64)> = (0..10).map(|i| (i * 3_600_000_000, i as f64)).collect();
        let forecast: Vec<TimedStep> = (10..20)
            .map(|i| TimedStep {
                time: i * 3_600_000_000,
                mean: i as f64,
                lower: i as f64 - 1.0,
                upper: i as f64 + 1.0,
            })
            .collect();
        let svg = Chart {
            title: "db <primary> & disk",
            subtitle: "model",
            unit: "GB",
            history: &history,
            forecast: &forecast,
            threshold: 15.0,
            capacity: 20.0,
            exhaustion: Some(15 * 3_600_000_000),
        }
        .render();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("db &lt;primary&gt; &amp; disk"));
        for part in [
            "<title>history</title>",
            "<title>forecast</title>",
            "<title>prediction interval</title>",
            "threshold 15.0",
            "capacity 20.0",
            "expected 1970-01-01",
        ] {
            assert!(svg.contains(part), "missing {part}");
        }
    }
}
