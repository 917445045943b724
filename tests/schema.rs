//! One schema, four places: the canonical record (`model::Record`, whose
//! serde field list is the leaf's key list), its validation, the Parquet
//! segment schema and the SQL views. Adding a field to one and not the
//! others fails here, naming the field.

use std::collections::BTreeSet;

/// The record's fields, as serde knows them (the list its
/// `deny_unknown_fields` error names), in leaf key order.
fn record_fields() -> Vec<String> {
    let err = serde_json::from_str::<sealtrail::model::Record>(r#"{"no_such_field_x":1}"#)
        .expect_err("an unknown field is refused");
    let msg = err.to_string();
    let list = msg
        .split("expected one of ")
        .nth(1)
        .expect("serde names the expected fields");
    list.split(", ")
        .map(|f| {
            f.trim()
                .trim_matches('`')
                .split('`')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

/// Fields only in the leaf: its version and the original input.
const LEAF_ONLY: [&str; 3] = ["v", "raw", "raw_b64"];

#[test]
fn every_record_field_is_a_typed_segment_column_and_back() {
    let all = record_fields();
    assert!(
        all.len() > 40 && all.iter().any(|f| f == "direction"),
        "{all:?}"
    );
    let fields: BTreeSet<String> = record_fields()
        .into_iter()
        .filter(|f| !LEAF_ONLY.contains(&f.as_str()))
        .collect();
    let columns: BTreeSet<String> = sealtrail::store::segment::typed_column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        fields.difference(&columns).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "record fields without a typed column (crates/store/src/segment.rs)"
    );
    assert_eq!(
        columns.difference(&fields).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "typed columns without a record field (crates/format/src/model.rs)"
    );
    // and the Arrow schema holds exactly those, plus idx, leaf and the hashes
    let schema: BTreeSet<String> = sealtrail::store::segment::schema()
        .fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut want = columns.clone();
    for c in ["idx", "leaf", "leaf_hash", "chain"] {
        want.insert(c.to_string());
    }
    assert_eq!(schema, want);
}

#[test]
fn every_record_field_is_in_the_views_an_auditor_queries() {
    let views = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/queries/views.sql"))
        .expect("views.sql");
    let words: BTreeSet<&str> = views
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    // ingested_at is when sealtrail received a record, not evidence of the
    // event: no view shows it (it is in `leaves`)
    let missing: Vec<String> = record_fields()
        .into_iter()
        .filter(|f| !LEAF_ONLY.contains(&f.as_str()) && f != "ingested_at")
        .filter(|f| !words.contains(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "fields no view in queries/views.sql names: {missing:?}"
    );
}

#[test]
fn every_enumerated_value_validation_accepts_is_documented() {
    let format = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md"))
        .expect("FORMAT.md");
    use sealtrail::model::values;
    for (field, allowed) in [
        ("status", values::DELIVERY_STATUS),
        ("encryption", values::ENCRYPTION),
        ("tls_peer", values::TLS_PEER),
        ("direction", values::DIRECTION),
        ("outcome", values::AUTH_OUTCOME),
        ("factor", values::FACTOR),
        ("basis", values::BASIS),
        ("status", values::TRAINING_STATUS),
    ] {
        for v in allowed {
            assert!(
                format.contains(&format!("`{v}`")),
                "`{field}` value `{v}` is accepted by validation but not in docs/FORMAT.md §2.2"
            );
        }
    }
    // and every field of the record has its row in §2.2
    for f in record_fields() {
        assert!(
            format.contains(&format!("`{f}`")),
            "field `{f}` is not documented in docs/FORMAT.md §2.2"
        );
    }
}
