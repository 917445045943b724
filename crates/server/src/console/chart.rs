//! Inline SVG bar charts of a weekly share (0–100 %), drawn on the server:
//! no script, no external asset, and a text summary plus a data table for
//! screen readers and for anyone who would rather read the numbers.

use maud::{Markup, PreEscaped, html};

use sealtrail_report::dashboard::WeeklyShare;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A one-sentence summary of the series, for `<desc>` and the caption.
pub fn summary(what: &str, weeks: &[WeeklyShare]) -> String {
    let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else {
        return format!("No {what} in this period.");
    };
    let low = weeks
        .iter()
        .min_by(|a, b| a.share.total_cmp(&b.share))
        .unwrap_or(first);
    format!(
        "{} weeks: {:.1}% in the week of {}, {:.1}% in the week of {}; lowest {:.1}% in the week of {}.",
        weeks.len(),
        first.share,
        first.week,
        last.share,
        last.week,
        low.share,
        low.week
    )
}

/// Draws the chart with id `id` (unique on the page).
pub fn weekly_share(id: &str, title: &str, what: &str, weeks: &[WeeklyShare]) -> Markup {
    let desc = summary(what, weeks);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let mut svg = format!(
        r##"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"##,
        esc(title),
        esc(&desc)
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = TOP + plot_h * (1.0 - pct / 100.0);
        svg.push_str(&format!(
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{pct:.0}%</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        ));
    }
    let n = weeks.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.7).max(1.0);
    // label at most ~8 weeks on the axis so dates never overlap
    let every = (weeks.len() / 8).max(1);
    for (i, w) in weeks.iter().enumerate() {
        let share = w.share.clamp(0.0, 100.0);
        let h = plot_h * share / 100.0;
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        svg.push_str(&format!(
            r##"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}" class="bar"><title>{}: {share:.1}% ({} of {})</title></rect>"##,
            TOP + plot_h - h,
            esc(&w.week),
            w.meeting,
            w.total
        ));
        if share < 1.0 && w.total > 0 {
            // a week at (almost) 0 % still gets a visible mark, unlike a week with no data
            svg.push_str(&format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="3" class="zero"/>"##,
                TOP + plot_h - 3.0
            ));
        }
        if i % every == 0 {
            svg.push_str(&format!(
                r##"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"##,
                x + bar / 2.0,
                H - BOTTOM + 16.0,
                esc(w.week.get(5..).unwrap_or(&w.week))
            ));
        }
    }
    if weeks.is_empty() {
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" class="axis" text-anchor="middle">No data in this period</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        ));
    }
    svg.push_str("</svg>");
    html! {
        figure.chart-box {
            figcaption { strong { (title) } " " span.muted { (desc) } }
            (PreEscaped(svg))
            @if !weeks.is_empty() {
                details {
                    summary { "Show the numbers" }
                    div.scroll { table {
                        thead { tr { th scope="col" { "Week of" } th scope="col" { "Total" } th scope="col" { "Meeting the bar" } th scope="col" { "Share" } } }
                        tbody { @for w in weeks { tr { td { (w.week) } td.num { (w.total) } td.num { (w.meeting) } td.num { (format!("{:.1}%", w.share)) } } } }
                    } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wk(week: &str, share: f64) -> WeeklyShare {
        WeeklyShare {
            week: week.into(),
            total: 10,
            meeting: (share / 10.0) as u64,
            share,
        }
    }

    #[test]
    fn bars_scale_with_the_share_and_text_is_escaped() {
        let m = weekly_share(
            "c",
            "A <b> title",
            "mail",
            &[wk("2026-01-05", 100.0), wk("2026-01-12", 50.0)],
        )
        .into_string();
        assert!(m.contains("A &lt;b&gt; title"));
        assert!(!m.contains("<b>"));
        // full height and half height bars
        assert!(m.contains(r#"height="178.0""#), "{m}");
        assert!(m.contains(r#"height="89.0""#), "{m}");
        assert!(m.contains("lowest 50.0% in the week of 2026-01-12"));
    }

    #[test]
    fn an_empty_series_says_so() {
        let m = weekly_share("c", "T", "mail", &[]).into_string();
        assert!(m.contains("No data in this period"));
        assert!(m.contains("No mail in this period."));
    }
}
