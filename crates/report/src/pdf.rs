//! A small PDF layout engine over printpdf's operation lists: wrapped
//! paragraphs, tables that break across pages with repeated headers, line and
//! bar charts as vector paths, a running header and page numbers.
//!
//! Real text (DejaVu Sans, embedded) so `pdftotext` extracts every word and
//! number. Deterministic: no wall clock, fixed font resource name, and the
//! trailer `/ID` derived from the content instead of printpdf's counter.

use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use sha2::{Digest, Sha256};

/// DejaVu Sans (Bitstream Vera licence, see reports/fonts/LICENSE-DejaVu).
pub const FONT: &[u8] = include_bytes!("../../../reports/fonts/DejaVuSans.ttf");

const PAGE_W: f32 = 612.0; // US Letter
const PAGE_H: f32 = 792.0;
const MARGIN: f32 = 54.0;
const TOP: f32 = PAGE_H - 64.0;
const BOTTOM: f32 = 60.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

/// Colours (WCAG AA contrast on white for text).
fn ink() -> Color {
    rgb(0.1, 0.1, 0.12)
}
fn muted() -> Color {
    rgb(0.33, 0.33, 0.36)
}
fn accent() -> Color {
    rgb(0.05, 0.3, 0.55)
}
fn rule() -> Color {
    rgb(0.75, 0.75, 0.78)
}
fn shade() -> Color {
    rgb(0.92, 0.93, 0.95)
}
/// Red for findings, green for met.
pub fn status_color(met: bool) -> Color {
    if met {
        rgb(0.05, 0.42, 0.18)
    } else {
        rgb(0.7, 0.08, 0.08)
    }
}

/// Decides a row's colour: `Some(true)` met (green), `Some(false)` finding (red).
pub type RowStatus<'a> = &'a dyn Fn(&[String]) -> Option<bool>;

/// Builds a document page by page.
pub struct PdfWriter {
    font: ParsedFont,
    font_id: FontId,
    pages: Vec<Vec<Op>>,
    ops: Vec<Op>,
    y: f32,
    header: String,
    footer: String,
}

impl PdfWriter {
    /// A writer whose pages carry `header` at the top.
    pub fn new(header: &str) -> Result<PdfWriter, String> {
        let font = ParsedFont::from_bytes(FONT, 0, &mut Vec::new())
            .ok_or("the embedded font could not be parsed")?;
        Ok(PdfWriter {
            font,
            font_id: FontId("F1".into()),
            pages: Vec::new(),
            ops: Vec::new(),
            y: TOP,
            header: header.to_string(),
            footer: "sealtrail evidence: verify offline as described in the Integrity attestation"
                .to_string(),
        })
    }

    /// Sets the text at the bottom left of every page.
    pub fn set_footer(&mut self, footer: &str) {
        self.footer = footer.to_string();
    }

    /// Width of `s` at `size` points.
    pub fn width(&self, s: &str, size: f32) -> f32 {
        let upem = self.font.pdf_font_metrics.units_per_em.max(1) as f32;
        let units: f32 = s
            .chars()
            .map(|c| {
                self.font
                    .lookup_glyph_index(c as u32)
                    .and_then(|g| self.font.get_glyph_width(g))
                    .unwrap_or(600) as f32
            })
            .sum();
        units * size / upem
    }

    fn text_op(&mut self, x: f32, y: f32, size: f32, color: Color, s: &str) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(self.font_id.clone()),
                size: Pt(size),
            },
            Op::SetFillColor { col: color },
            Op::SetTextCursor {
                pos: Point { x: Pt(x), y: Pt(y) },
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    fn line_op(&mut self, pts: &[(f32, f32)], color: Color, thickness: f32) {
        self.ops.push(Op::SetOutlineColor { col: color });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(thickness) });
        self.ops.push(Op::DrawLine {
            line: Line {
                points: pts
                    .iter()
                    .map(|&(x, y)| LinePoint {
                        p: Point { x: Pt(x), y: Pt(y) },
                        bezier: false,
                    })
                    .collect(),
                is_closed: false,
            },
        });
    }

    fn rect_op(&mut self, x: f32, y: f32, w: f32, h: f32, color: Color) {
        self.ops.push(Op::SetFillColor { col: color });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(y),
                width: Pt(w),
                height: Pt(h),
                mode: Some(PaintMode::Fill),
                winding_order: None,
            },
        });
    }

    /// Starts a new page.
    pub fn page_break(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(ops);
        self.y = TOP;
    }

    fn ensure(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.page_break();
        }
    }

    /// Vertical space.
    pub fn space(&mut self, h: f32) {
        self.y -= h;
    }

    /// Cuts `s` to fit `w` at `size`, ending in an ellipsis when cut.
    pub fn fit(&self, s: &str, size: f32, w: f32) -> String {
        if self.width(s, size) <= w {
            return s.to_string();
        }
        let mut out = String::new();
        for c in s.chars() {
            if self.width(&format!("{out}{c}…"), size) > w {
                break;
            }
            out.push(c);
        }
        out.push('…');
        out
    }

    /// Wraps `s` into lines no wider than `w`.
    pub fn wrap(&self, s: &str, size: f32, w: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in s.split('\n') {
            let mut cur = String::new();
            for word in para.split(' ') {
                let cand = if cur.is_empty() {
                    word.to_string()
                } else {
                    format!("{cur} {word}")
                };
                if self.width(&cand, size) <= w || cur.is_empty() {
                    cur = cand;
                    // a single word wider than the line: hard-cut it
                    while self.width(&cur, size) > w {
                        let mut head = String::new();
                        for c in cur.chars() {
                            if self.width(&format!("{head}{c}"), size) > w {
                                break;
                            }
                            head.push(c);
                        }
                        if head.is_empty() {
                            break;
                        }
                        let rest = cur[head.len()..].to_string();
                        lines.push(head);
                        cur = rest;
                    }
                } else {
                    lines.push(std::mem::take(&mut cur));
                    cur = word.to_string();
                }
            }
            lines.push(cur);
        }
        lines
    }

    /// A heading; `level` 1 starts on a fresh page when little room is left.
    pub fn heading(&mut self, s: &str, level: u8) {
        let size = match level {
            0 => 22.0,
            1 => 16.0,
            _ => 12.0,
        };
        self.ensure(size * 2.0 + if level == 1 { 120.0 } else { 40.0 });
        self.y -= size * 1.3;
        let color = if level <= 1 { accent() } else { ink() };
        self.text_op(MARGIN, self.y, size, color, s);
        self.y -= size * 0.5;
        if level == 1 {
            self.line_op(&[(MARGIN, self.y), (PAGE_W - MARGIN, self.y)], rule(), 0.75);
            self.y -= 6.0;
        }
    }

    /// A wrapped paragraph.
    pub fn paragraph(&mut self, s: &str, size: f32) {
        self.paragraph_colored(s, size, ink());
    }

    /// A wrapped paragraph in a colour.
    pub fn paragraph_colored(&mut self, s: &str, size: f32, color: Color) {
        let lines = self.wrap(s, size, CONTENT_W);
        for l in lines {
            self.ensure(size * 1.4);
            self.y -= size * 1.4;
            self.text_op(MARGIN, self.y, size, color.clone(), &l);
        }
        self.y -= size * 0.5;
    }

    /// A label in bold-ish accent followed by wrapped text.
    pub fn labelled(&mut self, label: &str, text: &str, size: f32) {
        self.ensure(size * 3.0);
        self.y -= size * 1.4;
        self.text_op(MARGIN, self.y, size, accent(), label);
        self.y += size * 0.2;
        self.paragraph(text, size);
    }

    /// Small grey text (SQL references, notes), wrapped.
    pub fn note(&mut self, s: &str) {
        self.paragraph_colored(s, 7.5, muted());
    }

    /// Monospace-looking verbatim lines (checkpoints, SQL): wrapped, small.
    pub fn verbatim(&mut self, s: &str) {
        for raw in s.lines() {
            // keep indentation (SQL, notes) as an x offset
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let dx = self.width(&" ".repeat(indent), 7.5);
            for l in self.wrap(raw.trim_start_matches(' '), 7.5, CONTENT_W - 8.0 - dx) {
                self.ensure(10.0);
                self.y -= 10.0;
                self.text_op(MARGIN + 8.0 + dx, self.y, 7.5, ink(), &l);
            }
        }
        self.y -= 4.0;
    }

    /// A table with a header row repeated on every page it spans. Column
    /// widths follow the content; long cells wrap onto up to three lines
    /// (then end in `…`; the CSV holds every value in full); short columns
    /// such as numbers are never narrowed.
    pub fn table(
        &mut self,
        headers: &[String],
        rows: &[Vec<String>],
        status: Option<RowStatus<'_>>,
    ) {
        let size = 7.5;
        let pad = 4.0;
        let line_h = size * 1.3;
        let n = headers.len().max(1);
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| display_cell(c)).collect())
            .collect();
        let mut natural: Vec<f32> = headers
            .iter()
            .map(|h| self.width(h, size) + 2.0 * pad)
            .collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate().take(n) {
                natural[i] = natural[i].max((self.width(c, size) + 2.0 * pad).min(240.0));
            }
        }
        let min_w: Vec<f32> = headers
            .iter()
            .zip(&natural)
            .map(|(h, nat)| nat.min((self.width(h, size) + 2.0 * pad).max(56.0)))
            .collect();
        let total: f32 = natural.iter().sum();
        let widths: Vec<f32> = if total <= CONTENT_W {
            natural.clone()
        } else {
            let flex: f32 = natural.iter().zip(&min_w).map(|(a, b)| a - b).sum();
            let excess = total - CONTENT_W;
            natural
                .iter()
                .zip(&min_w)
                .map(|(a, b)| a - (a - b) * (excess / flex.max(1.0)).min(1.0))
                .collect()
        };
        let table_w: f32 = widths.iter().sum();
        let cells = |w: &PdfWriter, r: &[String]| -> Vec<Vec<String>> {
            r.iter()
                .zip(&widths)
                .map(|(c, cw)| {
                    let mut lines = w.wrap(c, size, cw - 2.0 * pad);
                    if lines.len() > 3 {
                        lines.truncate(3);
                        let last = format!("{}…", lines[2]);
                        lines[2] = w.fit(&last, size, cw - 2.0 * pad);
                    }
                    lines
                })
                .collect()
        };
        let header_cells = cells(self, headers);
        let draw_row = |w: &mut PdfWriter, lines: &[Vec<String>], color: Color, shaded: bool| {
            let k = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let h = k as f32 * line_h + 4.0;
            let top = w.y;
            if shaded {
                w.rect_op(MARGIN, top - h, table_w, h, shade());
            }
            let mut x = MARGIN;
            for (cell, cw) in lines.iter().zip(&widths) {
                for (j, l) in cell.iter().enumerate() {
                    w.text_op(
                        x + pad,
                        top - 2.0 - line_h * (j as f32 + 1.0) + 2.5,
                        size,
                        color.clone(),
                        l,
                    );
                }
                x += cw;
            }
            w.y = top - h;
            if !shaded {
                w.line_op(&[(MARGIN, w.y), (MARGIN + table_w, w.y)], rule(), 0.3);
            }
        };
        self.ensure(line_h * 6.0);
        draw_row(self, &header_cells, ink(), true);
        for r in &rows {
            let lines = cells(self, r);
            let k = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
            if self.y - (k as f32 * line_h + 4.0) < BOTTOM {
                self.page_break();
                draw_row(self, &header_cells, ink(), true);
            }
            let color = status
                .and_then(|f| f(r))
                .map(status_color)
                .unwrap_or_else(ink);
            draw_row(self, &lines, color, false);
        }
        self.y -= 8.0;
    }

    /// A line or bar chart of `values` over `labels`, with the y axis from 0
    /// to `max` (or the largest value), drawn as vector paths.
    pub fn chart(
        &mut self,
        title: &str,
        labels: &[String],
        values: &[f64],
        bars: bool,
        max: Option<f64>,
    ) {
        let h = 150.0;
        self.ensure(h + 50.0);
        self.y -= 14.0;
        self.text_op(MARGIN, self.y, 9.0, ink(), title);
        let top = self.y - 10.0;
        let base = top - h;
        let left = MARGIN + 34.0;
        let right = PAGE_W - MARGIN;
        let vmax = max
            .unwrap_or_else(|| values.iter().cloned().fold(0.0, f64::max))
            .max(1.0);
        for k in 0..=4 {
            let v = vmax * k as f64 / 4.0;
            let y = base + h * k as f32 / 4.0;
            self.line_op(&[(left, y), (right, y)], rule(), 0.3);
            let label = format!("{}", (v * 10.0).round() / 10.0);
            let w = self.width(&label, 7.0);
            self.text_op(left - 4.0 - w, y - 2.5, 7.0, muted(), &label);
        }
        let n = values.len().max(1);
        let step = (right - left) / n as f32;
        let pts: Vec<(f32, f32)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    left + step * (i as f32 + 0.5),
                    base + h * (v.max(0.0) / vmax).min(1.0) as f32,
                )
            })
            .collect();
        if bars {
            for &(x, y) in &pts {
                self.rect_op(
                    x - step * 0.35,
                    base,
                    step * 0.7,
                    (y - base).max(0.5),
                    accent(),
                );
            }
        } else if pts.len() == 1 {
            let (x, y) = pts[0];
            self.rect_op(x - 2.5, y - 2.5, 5.0, 5.0, accent());
        } else if !pts.is_empty() {
            self.line_op(&pts, accent(), 1.5);
            for &(x, y) in &pts {
                self.rect_op(x - 1.5, y - 1.5, 3.0, 3.0, accent());
            }
        }
        // x labels: as many as fit without overlapping
        let every = labels
            .iter()
            .map(|l| self.width(l, 6.5) + 6.0)
            .fold(0.0, f32::max)
            / step;
        let every = (every.ceil() as usize).max(1);
        for (i, l) in labels.iter().enumerate() {
            if i % every == 0 {
                let w = self.width(l, 6.5);
                self.text_op(
                    left + step * (i as f32 + 0.5) - w / 2.0,
                    base - 10.0,
                    6.5,
                    muted(),
                    l,
                );
            }
        }
        self.line_op(&[(left, base), (right, base)], ink(), 0.6);
        self.y = base - 22.0;
    }

    /// Finishes the document: running header and "page i of n" on every
    /// page, metadata (creation date = `created`, never the wall clock), and
    /// a content-derived trailer ID.
    pub fn finish(mut self, title: &str, author: &str, created_unix: i64) -> Vec<u8> {
        if !self.ops.is_empty() || self.pages.is_empty() {
            self.page_break();
        }
        let total = self.pages.len();
        let header = self.header.clone();
        let mut pages = Vec::with_capacity(total);
        for (i, mut ops) in std::mem::take(&mut self.pages).into_iter().enumerate() {
            self.ops = Vec::new();
            self.text_op(MARGIN, PAGE_H - 36.0, 8.0, muted(), &header);
            self.line_op(
                &[(MARGIN, PAGE_H - 42.0), (PAGE_W - MARGIN, PAGE_H - 42.0)],
                rule(),
                0.5,
            );
            let footer = format!("Page {} of {}", i + 1, total);
            let w = self.width(&footer, 8.0);
            self.text_op(PAGE_W - MARGIN - w, 30.0, 8.0, muted(), &footer);
            let left = self.footer.clone();
            self.text_op(MARGIN, 30.0, 8.0, muted(), &left);
            ops.splice(0..0, std::mem::take(&mut self.ops));
            pages.push(PdfPage::new(
                printpdf::Mm::from(Pt(PAGE_W)),
                printpdf::Mm::from(Pt(PAGE_H)),
                ops,
            ));
        }
        let mut doc = PdfDocument::new(title);
        doc.resources.fonts.map.insert(
            self.font_id.clone(),
            printpdf::PdfFont::new(self.font.clone()),
        );
        let date = printpdf::DateTime::from_unix_timestamp(created_unix)
            .unwrap_or_else(|_| printpdf::DateTime::epoch());
        doc.metadata.info.author = author.to_string();
        doc.metadata.info.creator = "sealtrail".to_string();
        doc.metadata.info.producer = format!("sealtrail {}", env!("CARGO_PKG_VERSION"));
        doc.metadata.info.subject = title.to_string();
        doc.metadata.info.creation_date = date;
        doc.metadata.info.modification_date = date;
        doc.metadata.info.metadata_date = date;
        let bytes = doc
            .with_pages(pages)
            .save(&PdfSaveOptions::default(), &mut Vec::new());
        deterministic_id(bytes)
    }
}

/// How a cell is shown in the PDF: RFC 3339 UTC times to the second
/// (`2026-03-01 10:00:00`); everything else as is. CSVs keep full precision.
fn display_cell(c: &str) -> String {
    let b = c.as_bytes();
    if b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && c.ends_with('Z')
        && let (Some(d), Some(t)) = (c.get(..10), c.get(11..19))
    {
        return format!("{d} {t}");
    }
    c.to_string()
}

/// Replaces the two trailer `/ID` strings (printpdf draws them from a
/// process-wide counter) with ones derived from the document's content, of
/// the same length, so identical inputs give identical bytes.
fn deterministic_id(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(pos) = bytes.windows(3).rposition(|w| w == b"/ID") else {
        return bytes;
    };
    let digest = hex::encode(Sha256::digest(&bytes[..pos]));
    let mut i = pos + 3;
    let mut which = 0;
    while i < bytes.len() && which < 2 {
        if bytes[i] == b'(' {
            let Some(end) = bytes[i + 1..].iter().position(|&b| b == b')') else {
                break;
            };
            let n = end.min(64);
            let src = &digest.as_bytes()[which * 32..which * 32 + 32];
            for k in 0..n {
                bytes[i + 1 + k] = src[k % 32];
            }
            which += 1;
            i += end + 2;
        } else if bytes[i] == b']' {
            break;
        } else {
            i += 1;
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_cell_never_slices_inside_a_character() {
        assert_eq!(
            super::display_cell("2026-03-01T10:00:00.5Z"),
            "2026-03-01 10:00:00"
        );
        assert_eq!(
            super::display_cell("2026-03-01T1ü:00:00.5Z"),
            "2026-03-01T1ü:00:00.5Z"
        );
    }
}
