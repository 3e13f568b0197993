//! The dashboard's charts: inline SVG drawn here (no chart library, no CDN, no inline style —
//! colours come from the stylesheet's classes). Text in a chart is escaped; the SVG is the one
//! piece of markup a template takes unescaped.

use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// A bar chart of `points` (label, value) titled `title`, bars of CSS class `class`; an empty
/// series draws the axes and says so.
pub(crate) fn bars(title: &str, points: &[(String, f64)], class: &str) -> String {
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let total: f64 = points.iter().map(|p| p.1).sum();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{} (total {}, highest {})" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title),
        number(total),
        number(max),
        escape(title),
    );
    let plot_h = HEIGHT - BOTTOM - 10.0;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{y}" x2="{WIDTH}" y2="{y}" stroke-width="1"/><text x="2" y="18">{}</text><text x="2" y="{y}">0</text>"#,
        number(max),
        y = HEIGHT - BOTTOM,
    );
    if points.is_empty() || max <= 0.0 {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">nothing in this period</text>"#,
            LEFT + 10.0,
            HEIGHT / 2.0
        );
    } else {
        let step = (WIDTH - LEFT) / points.len() as f64;
        for (i, (label, value)) in points.iter().enumerate() {
            let h = value / max * plot_h;
            let x = LEFT + i as f64 * step;
            let _ = write!(
                svg,
                r#"<rect class="{}" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}: {}</title></rect>"#,
                escape(class),
                HEIGHT - BOTTOM - h,
                (step - 1.0).max(1.0),
                escape(label),
                number(*value),
            );
        }
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            let _ = write!(
                svg,
                r#"<text x="{LEFT}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                HEIGHT - 4.0,
                escape(&first.0),
                WIDTH - 2.0,
                HEIGHT - 4.0,
                escape(&last.0),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_highest_and_escape_labels() {
        let svg = bars(
            "Requests <per minute>",
            &[("<b>".into(), 5.0), ("12:01".into(), 10.0)],
            "bar",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains(r#"height="120.0""#),
            "the highest bar fills the plot: {svg}"
        );
        assert!(svg.contains(r#"height="60.0""#), "half of it: {svg}");
        assert!(svg.contains("total 15, highest 10"));
        assert!(!svg.contains("style"));
        let empty = bars("Blocks", &[], "bar");
        assert!(empty.contains("nothing in this period") && !empty.contains("<rect"));
    }
}
