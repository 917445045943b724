//! `json`: the strict JSON tree every JSON source maps its records from.
//!
//! One record is parsed once into a [`Json`] that borrows its strings from
//! the record's bytes (only a string with an escape in it is copied) and
//! keeps each object's members as a list in input order: no map is built
//! and no key allocated. Where [`serde_json::Value`] cost a `String` per key
//! and per string and a B-tree per object, this tree costs one `Vec` per
//! object and array (docs/BENCHMARKS.md, session 21).
//!
//! It accepts exactly what [`serde_json::from_slice`] accepts into a
//! `Value`, refuses a duplicate key anywhere in the tree (a record that
//! names a field twice could mean two things, FORMAT.md §2.1), and reads as
//! a `Value` reads: the same numbers ([`serde_json::Number`]), and where a
//! source looks at an object's members in order, the order of their keys
//! ([`Json::members_by_key`]), as a `Value`'s sorted map gives them. A
//! differential test holds it to `Value` parsed the same strict way.

use std::borrow::Cow;
use std::collections::HashSet;

/// A JSON value whose strings borrow from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, held as a `Value` holds it.
    Number(serde_json::Number),
    /// A string: borrowed unless it held an escape.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// Members in input order; no two share a key.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Objects with up to this many members are searched for a repeated key
/// member by member; a larger one (rare in a log record, but a record of
/// a mebibyte could hold a hundred thousand keys) by a hash set, so the
/// check stays linear.
const LINEAR_KEY_CHECK: usize = 32;

impl<'a> Json<'a> {
    /// Parses one JSON value (and nothing after it but whitespace), a
    /// repeated key refused. The reason names a column or the key, never a
    /// value.
    pub fn parse(bytes: &'a [u8]) -> Result<Json<'a>, String> {
        use serde::Deserialize as _;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = Json::deserialize(&mut de).map_err(|e| reason(&e))?;
        de.end()
            .map_err(|e| format!("invalid JSON at column {}: trailing characters", e.column()))?;
        Ok(v)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// As [`serde_json::Value::as_i64`]: an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// As [`serde_json::Value::as_f64`]: any number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// An object's members in the order of their keys (byte order), as a
    /// [`serde_json::Value`]'s map iterates them.
    pub fn members_by_key(&self) -> Option<Vec<(&str, &Json<'a>)>> {
        let Json::Object(m) = self else { return None };
        let mut v: Vec<(&str, &Json<'a>)> = m.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Some(v)
    }

    /// The same value as a [`serde_json::Value`] (to rewrite it, as
    /// redaction does, or to serialise it as a `Value` serialises).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// The reason a record is not strict JSON: a repeated key by name (at most
/// 64 characters of it), else the column of the syntax error.
fn reason(e: &serde_json::Error) -> String {
    let m = e.to_string();
    if m.starts_with("duplicate key") {
        m.split(" at line")
            .next()
            .unwrap_or("duplicate key")
            .to_string()
    } else if e.is_syntax() || e.is_eof() {
        format!("invalid JSON at column {}", e.column())
    } else {
        "invalid JSON value".to_string()
    }
}

impl<'de> serde::Deserialize<'de> for Json<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        // as `Value`: a float JSON cannot hold becomes null
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        // the keys of a large object, once it has more than LINEAR_KEY_CHECK
        let mut keys: Option<HashSet<String>> = None;
        while let Some(Key(k)) = a.next_key()? {
            // the value first, as `Value`'s strict parse read it: a repeat
            // whose value is malformed is reported as the malformed value
            let v: Json<'de> = a.next_value()?;
            let repeated = match &mut keys {
                Some(set) => !set.insert(k.to_string()),
                None => members.iter().any(|(seen, _)| *seen == k),
            };
            if repeated {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{}`",
                    k.chars().take(64).collect::<String>()
                )));
            }
            members.push((k, v));
            if keys.is_none() && members.len() > LINEAR_KEY_CHECK {
                keys = Some(members.iter().map(|(k, _)| k.to_string()).collect());
            }
        }
        Ok(Json::Object(members))
    }
}

/// An object's key, borrowed from the input unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition this tree is held to: a `Value` parsed with a repeated
    /// key refused at the point it repeats (the parse every JSON source
    /// used before this module).
    fn strict_value(bytes: &[u8]) -> Result<serde_json::Value, String> {
        struct Strict(serde_json::Value);
        impl<'de> serde::Deserialize<'de> for Strict {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(StrictVisitor).map(Strict)
            }
        }
        struct StrictVisitor;
        impl<'de> serde::de::Visitor<'de> for StrictVisitor {
            type Value = serde_json::Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(serde_json::Number::from_f64(v)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(serde_json::Value::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(Strict(x)) = a.next_element()? {
                    v.push(x);
                }
                Ok(serde_json::Value::Array(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut m = serde_json::Map::new();
                while let Some(k) = a.next_key::<String>()? {
                    let Strict(v) = a.next_value()?;
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate key `{}`",
                            k.chars().take(64).collect::<String>()
                        )));
                    }
                    m.insert(k, v);
                }
                Ok(serde_json::Value::Object(m))
            }
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = <Strict as serde::Deserialize>::deserialize(&mut de).map_err(|e| reason(&e))?;
        de.end()
            .map_err(|e| format!("invalid JSON at column {}: trailing characters", e.column()))?;
        Ok(v.0)
    }

    /// Both parses agree on `bytes`: the same value, or the same reason.
    fn agree(bytes: &[u8]) {
        let ours = Json::parse(bytes).map(|j| j.to_value());
        let definition = strict_value(bytes);
        assert_eq!(ours, definition, "on {:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn agrees_with_the_strict_value_parse_on_edge_cases() {
        let big_ok: String = format!(
            "{{{}}}",
            (0..200)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let big_dup = big_ok.replace("\"k150\"", "\"k3\"");
        let cases: Vec<Vec<u8>> = [
            r#"{}"#,
            r#"[]"#,
            r#"{"a":1,"b":"x","c":[1,2.5,-3,true,false,null],"d":{"e":"\u00e9\n"}}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"[{"x":1},{"x":1,"y":2,"x":3}]"#,
            r#"{"a":1,"a":}"#,
            r#"{"a":[1,2,}"#,
            r#"{"k\u0041":1,"kA":2}"#,
            r#"{"\"":1,"\\":2,"\"":3}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"f":1e400}"#,
            r#"{"f":1.0,"g":1e-7,"h":123456789012345678901234567890}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}   "#,
            r#"  "just a string"  "#,
            r#"{"a":"unterminated}"#,
            r#"{"s":"\ud800"}"#,
            r#"{"s":"tab	raw"}"#,
            "",
            "nul",
            r#"{"a":1,}"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            big_ok.into_bytes(),
            big_dup.into_bytes(),
            b"{\"a\":\"\xff\"}".to_vec(),
            b"{\"\xc3\xa9\":1,\"\xc3\xa9\":2}".to_vec(),
        ])
        .collect();
        for c in &cases {
            agree(c);
        }
        // a repeat past the linear check is still found, and named
        let e = Json::parse(
            format!(
                "{{{},\"k7\":0}}",
                (0..100)
                    .map(|i| format!("\"k{i}\":{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e, "duplicate key `k7`");
    }

    #[test]
    fn agrees_with_the_strict_value_parse_on_every_json_fixture() {
        // every record of the vendors' samples, whole documents and lines
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("fixtures dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x == "json" || x == "ndjson" || x == "jsonl")
                {
                    files.push(p);
                }
            }
        }
        assert!(files.len() >= 10, "found {} JSON fixtures", files.len());
        let mut values = 0;
        for f in &files {
            let bytes = std::fs::read(f).expect("fixture");
            agree(&bytes);
            for line in bytes.split(|&b| b == b'\n') {
                agree(line);
                values += 1;
            }
        }
        assert!(values > 100, "{values} values compared");
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_lookups_read_as_value_reads() {
        let bytes = br#"{"z":{"b":2,"a":"plain","c":"esc\"aped"},"n":3,"f":2.5}"#;
        let j = Json::parse(bytes).unwrap();
        let z = j.get("z").unwrap();
        assert!(matches!(
            z.get("a"),
            Some(Json::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(z.get("c"), Some(Json::String(Cow::Owned(_)))));
        assert_eq!(z.get("c").and_then(Json::as_str), Some("esc\"aped"));
        // in key order, as a Value's map iterates: a, b, c
        let keys: Vec<&str> = z.members_by_key().unwrap().iter().map(|m| m.0).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(j.get("n").and_then(Json::as_i64), v["n"].as_i64());
        assert_eq!(j.get("n").and_then(Json::as_f64), v["n"].as_f64());
        assert_eq!(j.get("f").and_then(Json::as_i64), v["f"].as_i64());
        assert_eq!(j.get("f").and_then(Json::as_f64), v["f"].as_f64());
        assert_eq!(j.to_value().to_string(), v.to_string());
    }
}
