//! The accounting-of-disclosures letter to a patient: plain language, the
//! table of entries, the withheld notice, the patient's rights and how to
//! check the list. Wording lives in `reports/accounting.toml`.

use super::pdf::PdfWriter;
use sealtrail_accounting::{Accounting, Settings};

/// Renders the letter; `dated` (YYYY-MM-DD) is the letter's date and its
/// PDF creation date, so the same inputs give the same bytes.
pub fn render(acc: &Accounting, s: &Settings, dated: &str) -> Vec<u8> {
    let fill = |t: &str| {
        t.replace("{from}", &acc.period.from)
            .replace("{to}", &acc.period.to)
            .replace("{withheld}", &acc.withheld_count.to_string())
    };
    let header = format!(
        "{} · {} · patient {}",
        s.organisation, s.title, acc.patient_id
    );
    let Ok(mut w) = PdfWriter::new(&header) else {
        return Vec::new();
    };
    w.set_footer(&s.footer);
    w.heading(&s.title, 0);
    w.paragraph(&s.organisation, 11.0);
    w.paragraph(&s.contact, 9.0);
    w.space(4.0);
    w.paragraph(&format!("Date: {dated}"), 10.0);
    w.paragraph(&format!("Patient ID: {}", acc.patient_id), 10.0);
    w.paragraph(
        &format!("Time covered: {} to {}", acc.period.from, acc.period.to),
        10.0,
    );
    w.space(4.0);
    w.paragraph(&fill(&s.intro), 10.5);
    if acc.entries.is_empty() {
        w.paragraph(&fill(&s.none), 10.5);
    } else {
        w.heading("Who we shared your information with", 2);
        let rows: Vec<Vec<String>> = acc
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.date.clone(),
                    e.recipient_name.clone(),
                    e.recipient_address.clone().unwrap_or_default(),
                    e.description.clone(),
                    e.purpose.clone(),
                    e.transport.clone().unwrap_or_else(|| "not recorded".into()),
                    if e.count > 1 {
                        format!(
                            "{} times, last {}",
                            e.count,
                            e.last_date.clone().unwrap_or_default()
                        )
                    } else {
                        "once".into()
                    },
                    e.idx.to_string(),
                ]
            })
            .collect();
        let headers: Vec<String> = [
            "Date",
            "Shared with",
            "Address",
            "What we shared",
            "Why",
            "How it was sent",
            "How often",
            "Line",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect();
        w.table(&headers, &rows, None);
        if acc.entries.iter().any(|e| e.count > 1) {
            w.paragraph(&fill(&s.repeated), 9.5);
        }
    }
    if acc.withheld_count > 0 {
        w.paragraph(&fill(&s.withheld), 10.0);
    }
    w.paragraph(&fill(&s.not_listed), 9.5);
    w.heading("Your rights", 2);
    w.paragraph(&fill(&s.rights), 9.5);
    w.heading("How to check this list", 2);
    w.paragraph(&fill(&s.verify), 9.5);
    w.note(&format!(
        "Signed log: {}, {} entries, root {}. Each line's proof is in accounting.json (C2SP tlog-proof).",
        acc.checkpoint.origin, acc.checkpoint.size, acc.checkpoint.root
    ));
    w.paragraph(&format!("{}, {}", s.officer, s.organisation), 9.5);
    let created = chrono::NaiveDate::parse_from_str(dated, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    w.finish(&s.title, &s.organisation, created)
}
