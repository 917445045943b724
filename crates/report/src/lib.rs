//! Reports: evidence packs (PDF, CSV, SQL, checkpoint, proofs, signed
//! manifest) and text renderings of query results.
//!
//! Renders only what the query layer and the verifier return; owns the PDF,
//! CSV and pack-manifest shapes. Never reads segments directly.
#![deny(missing_docs)]

pub mod csv;
pub mod dashboard;
pub mod letter;
pub mod pack;
mod pdf;

use sealtrail_query::Table;

/// An aligned plain-text table, for the terminal.
pub fn text_table(t: &Table) -> String {
    let mut widths: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count().min(60));
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(60).collect();
                format!("{c:<w$}")
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut s = line(&t.columns);
    s.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for r in &t.rows {
        s.push_str(&line(r));
    }
    s.push_str(&format!("({} rows)\n", t.rows.len()));
    s
}
