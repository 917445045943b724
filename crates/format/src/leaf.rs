//! The single-pass reader of canonical leaf bytes (FORMAT.md §2).
//!
//! [`Record::from_leaf`] must accept exactly the bytes that are the
//! canonical serialisation of a valid record. Parsing with serde and then
//! serialising again to compare is the definition; this module reaches the
//! same answer in one pass over the bytes, without writing them again:
//! keys must come in the struct's order (so none repeats and none is
//! unknown), strings must be escaped exactly as serde_json escapes them,
//! numbers written as serde_json writes them (`itoa`, `zmij`) and times in the one
//! canonical form. What it accepts is then validated as any record is.
//!
//! It only ever says "canonical" or "not proven canonical": on `None` the
//! caller falls back to the defining parse-and-reserialise, which also
//! gives the reason. So a gap here costs speed, never a wrong answer, and
//! the differential tests below hold it to the definition.
//!
//! A record can be read into again and again ([`read_into`]): its strings
//! keep their allocations, so a seal or `verify` reading a million leaves
//! into one record allocates nothing per leaf for the fields leaves share.
//!
//! The same table of fields writes the bytes too ([`write`]): what
//! serde_json writes for a record, with each key written as one literal and
//! each string scanned eight bytes at a time for what must be escaped. The
//! definition stays serde's: a test holds the writer to it.

use std::borrow::Cow;

use crate::model::{Date, Kind, Record, Ts};

/// One key of the leaf: its name, how its value is read into the record,
/// and how the record's field is emptied when the leaf leaves it out.
struct Field {
    name: &'static str,
    /// Reads the value at the cursor into the record; the flag is whether
    /// `raw` and `raw_b64` are kept (every other field ignores it).
    read: fn(&mut Cursor<'_>, &mut Record, bool) -> Option<()>,
    clear: fn(&mut Record),
    /// Appends `,"name":value` for the record's field, or nothing where
    /// serde leaves the field out.
    write: fn(&Record, &mut Vec<u8>),
}

/// [`FIELDS`] from `name: how` pairs, `how` being the function that reads
/// that field's value (`text`, `time`, `flag`, ...), and [`write`]'s
/// function of the same name the one that writes it.
macro_rules! fields {
    ($($name:ident: $how:ident),* $(,)?) => {
        /// Keys in the order [`Record`]'s fields serialise (a test checks
        /// this against serde's own output).
        const FIELDS: &[Field] = &[$(Field {
            name: stringify!($name),
            read: |c, r, keep_raw| $how(c, &mut r.$name, keep_raw),
            clear: |r| r.$name = Default::default(),
            write: |r, out| {
                let key = concat!(",\"", stringify!($name), "\":").as_bytes();
                write::$how(out, key, &r.$name)
            },
        }),*];
    };
}

fields! {
    v: version,
    kind: kind,
    ts: required_time,
    ingested_at: time,
    source: text,
    source_event_id: text,
    message_id: text,
    sender: text,
    recipient: text,
    recipient_domain: text,
    status: text,
    encryption: text,
    tls_version: text,
    tls_cipher: text,
    tls_peer: text,
    tls_failed: flag,
    relay: text,
    dsn: text,
    direction: text,
    phi: flag,
    patient_id: text,
    user: text,
    outcome: text,
    mfa: flag,
    factor: text,
    phishing_resistant: flag,
    app: text,
    ip: text,
    action: text,
    resource: text,
    recipient_name: text,
    recipient_address: text,
    description: text,
    purpose: text,
    basis: text,
    accountable: flag,
    suspended_until: date,
    course: text,
    topic: text,
    completed_at: time,
    due_at: time,
    score: float,
    reason: text,
    input_ref: text,
    window_start: time,
    window_end: time,
    count: uint,
    detail: text,
    raw: raw_text,
    raw_b64: raw_text,
}

/// Appends the canonical leaf bytes of `rec` to `out`: byte for byte what
/// `serde_json::to_writer` writes for it (FORMAT.md §2).
pub(crate) fn write(rec: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    for f in FIELDS {
        (f.write)(rec, out);
    }
    // every key went after a comma; the first one's (`v`, always written)
    // opens the object instead
    if let Some(first) = out.get_mut(start) {
        *first = b'{';
    }
    out.push(b'}');
}

/// The writers of [`FIELDS`], one per way of reading, by the same name:
/// each appends its key (given as `,"name":`) and the value as serde_json
/// writes it, or nothing for a field serde skips when absent (every field
/// but `v`, `kind` and `ts`).
mod write {
    use std::io::Write as _;

    use crate::model::{Date, Kind, Ts};

    pub(super) fn version(out: &mut Vec<u8>, key: &[u8], v: &u32) {
        out.extend_from_slice(key);
        // writing into a vector cannot fail
        let _ = write!(out, "{v}");
    }

    pub(super) fn kind(out: &mut Vec<u8>, key: &[u8], k: &Option<Kind>) {
        out.extend_from_slice(key);
        match k {
            Some(k) => string(out, k.as_str()),
            None => out.extend_from_slice(b"null"),
        }
    }

    pub(super) fn required_time(out: &mut Vec<u8>, key: &[u8], t: &Option<Ts>) {
        match t {
            Some(_) => time(out, key, t),
            None => {
                out.extend_from_slice(key);
                out.extend_from_slice(b"null");
            }
        }
    }

    pub(super) fn time(out: &mut Vec<u8>, key: &[u8], t: &Option<Ts>) {
        let Some(t) = t else { return };
        out.extend_from_slice(key);
        // as `impl Serialize for Ts`: the canonical bytes are ASCII with
        // nothing to escape; an unrepresentable instant has its own text
        match t.canonical_bytes() {
            Some(b) => {
                out.push(b'"');
                out.extend_from_slice(&b);
                out.push(b'"');
            }
            None => string(out, &t.to_canonical()),
        }
    }

    pub(super) fn flag(out: &mut Vec<u8>, key: &[u8], b: &Option<bool>) {
        let Some(b) = b else { return };
        out.extend_from_slice(key);
        out.extend_from_slice(if *b { b"true" } else { b"false" });
    }

    pub(super) fn date(out: &mut Vec<u8>, key: &[u8], d: &Option<Date>) {
        let Some(d) = d else { return };
        out.extend_from_slice(key);
        string(out, &d.0.format("%Y-%m-%d").to_string());
    }

    pub(super) fn float(out: &mut Vec<u8>, key: &[u8], f: &Option<f64>) {
        let Some(f) = f else { return };
        out.extend_from_slice(key);
        // serde_json's own number formatting (and `null` for a non-finite
        // value, which `validate` refuses before any leaf is written)
        let _ = serde_json::to_writer(&mut *out, f);
    }

    pub(super) fn uint(out: &mut Vec<u8>, key: &[u8], n: &Option<u64>) {
        let Some(n) = n else { return };
        out.extend_from_slice(key);
        let _ = write!(out, "{n}");
    }

    pub(super) fn text(out: &mut Vec<u8>, key: &[u8], s: &Option<String>) {
        let Some(s) = s else { return };
        out.extend_from_slice(key);
        string(out, s);
    }

    pub(super) fn raw_text(out: &mut Vec<u8>, key: &[u8], s: &Option<String>) {
        text(out, key, s)
    }

    /// `s` quoted and escaped as serde_json escapes: `"`, backslash and the
    /// control characters, those with a short form by it, the rest as
    /// `\u00xx` (lower-case hex); nothing else.
    fn string(out: &mut Vec<u8>, s: &str) {
        let b = s.as_bytes();
        out.push(b'"');
        let mut from = 0;
        while let Some(at) = super::first_to_escape(b, from) {
            out.extend_from_slice(&b[from..at]);
            let c = b[at];
            let short = match c {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                0x08 => Some(b'b'),
                0x09 => Some(b't'),
                0x0a => Some(b'n'),
                0x0c => Some(b'f'),
                0x0d => Some(b'r'),
                _ => None,
            };
            match short {
                Some(e) => out.extend_from_slice(&[b'\\', e]),
                None => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 0xf)]);
                }
            }
            from = at + 1;
        }
        out.extend_from_slice(&b[from..]);
        out.push(b'"');
    }
}

/// The record `leaf` is the canonical serialisation of, if it is one and
/// the record is valid; `None` if that is not proven here.
pub(crate) fn read(leaf: &[u8]) -> Option<Record> {
    let mut rec = Record::default();
    read_into(leaf, &mut rec, true)?;
    Some(rec)
}

/// [`read`] into `rec`, reusing its strings' allocations: on `Some`, `rec`
/// is exactly the record [`read`] returns, whatever it held before. If not
/// `keep_raw`, `raw` and `raw_b64` (the input as received, the longest
/// strings by far and read by no column) are checked exactly as [`read`]
/// checks them and then left `None`: the same leaves are accepted. On
/// `None`, `rec` holds no meaningful record. Returns the fields the leaf
/// holds (bit `i`: [`FIELDS`]`[i]`, [`field_bit`]).
pub(crate) fn read_into(leaf: &[u8], rec: &mut Record, keep_raw: bool) -> Option<u64> {
    // serde_json writes UTF-8, and no raw control character (compact, and
    // every one in a string escaped): checked here once for every string
    let text = std::str::from_utf8(leaf).ok()?;
    if leaf.iter().fold(false, |any, &c| any | (c < 0x20)) {
        return None;
    }
    let mut c = Cursor {
        b: leaf,
        text,
        i: 0,
    };
    c.byte(b'{')?;
    let mut next = 0usize; // index in FIELDS the next key may not precede
    let mut present = 0u64;
    loop {
        if next > 0 {
            match c.peek()? {
                b'}' => {
                    c.i += 1;
                    break;
                }
                b',' => c.i += 1,
                _ => return None,
            }
        }
        let key = c.key()?;
        // keys come in FIELDS' order: none repeats, none goes back
        let at = field_named(key).filter(|&at| at >= next)?;
        // `v`, `kind` and `ts` are always written, first and in this order
        if next < 3 && at != next {
            return None;
        }
        // the keys skipped are fields this leaf leaves out
        for f in &FIELDS[next..at] {
            (f.clear)(rec);
        }
        next = at + 1;
        present |= 1 << at;
        c.byte(b':')?;
        (FIELDS[at].read)(&mut c, rec, keep_raw)?;
        if next == FIELDS.len() {
            c.byte(b'}')?;
            break;
        }
    }
    if c.i != leaf.len() || next < 3 {
        return None;
    }
    for f in &FIELDS[next..] {
        (f.clear)(rec);
    }
    rec.validate().ok()?;
    Some(present)
}

/// The index in [`FIELDS`] of the field named `key`, if one is.
///
/// One probe of [`KEY_SLOTS`] and one comparison, where a search along
/// `FIELDS` compared a leaf's every key with each field it leaves out
/// before it: 9 % of `verify`'s samples were those comparisons
/// (docs/BENCHMARKS.md, session 19).
fn field_named(key: &[u8]) -> Option<usize> {
    let at = usize::from(*KEY_SLOTS.get(key_slot(key)?)?);
    crate::eq::bytes_eq(FIELDS.get(at)?.name.as_bytes(), key).then_some(at)
}

/// [`KEY_SLOTS`]' slot for a key: its length and its first and last bytes
/// (which no two field names share), mixed into a byte.
const fn key_slot(key: &[u8]) -> Option<usize> {
    let (Some(first), Some(last)) = (key.first(), key.last()) else {
        return None;
    };
    Some((key.len() + 7 * *first as usize + 45 * *last as usize) & 0xff)
}

/// Each [`key_slot`] to the index in [`FIELDS`] of the field whose name
/// fills it, or [`NO_FIELD`]; two names in one slot fail the build.
const KEY_SLOTS: [u8; 256] = {
    let mut slots = [NO_FIELD; 256];
    let mut i = 0;
    while i < FIELDS.len() {
        let Some(slot) = key_slot(FIELDS[i].name.as_bytes()) else {
            panic!("a field has an empty name");
        };
        assert!(slots[slot] == NO_FIELD, "two field names share a key slot");
        assert!(i < NO_FIELD as usize, "more fields than a slot can name");
        slots[slot] = i as u8;
        i += 1;
    }
    slots
};

/// An empty slot of [`KEY_SLOTS`].
const NO_FIELD: u8 = u8::MAX;

/// The bit [`read_into`] sets for the field `name` (a field of [`Record`]),
/// if there is one.
pub(crate) fn field_bit(name: &str) -> Option<u64> {
    const _: () = assert!(FIELDS.len() <= 64, "a field set is one u64");
    FIELDS.iter().position(|f| f.name == name).map(|i| 1 << i)
}

fn version(c: &mut Cursor<'_>, v: &mut u32, _: bool) -> Option<()> {
    *v = u32::try_from(c.uint()?).ok()?;
    Some(())
}

/// The field set to the value read, if one was read.
fn put<T>(field: &mut Option<T>, value: Option<T>) -> Option<()> {
    *field = Some(value?);
    Some(())
}

fn kind(c: &mut Cursor<'_>, k: &mut Option<Kind>, _: bool) -> Option<()> {
    put(k, c.plain_string().and_then(kind_named))
}

fn time(c: &mut Cursor<'_>, t: &mut Option<Ts>, _: bool) -> Option<()> {
    put(t, c.plain_string().and_then(Ts::from_canonical))
}

/// `ts`: read as any time; written even when absent (as `null`).
fn required_time(c: &mut Cursor<'_>, t: &mut Option<Ts>, keep_raw: bool) -> Option<()> {
    time(c, t, keep_raw)
}

fn flag(c: &mut Cursor<'_>, b: &mut Option<bool>, _: bool) -> Option<()> {
    put(b, c.bool())
}

fn date(c: &mut Cursor<'_>, d: &mut Option<Date>, _: bool) -> Option<()> {
    put(d, c.plain_string().and_then(date_of))
}

fn float(c: &mut Cursor<'_>, f: &mut Option<f64>, _: bool) -> Option<()> {
    put(f, c.float())
}

fn uint(c: &mut Cursor<'_>, n: &mut Option<u64>, _: bool) -> Option<()> {
    put(n, c.uint())
}

/// A string into the field, into its existing allocation if it has one.
fn text(c: &mut Cursor<'_>, s: &mut Option<String>, _: bool) -> Option<()> {
    let value = c.string()?;
    match s {
        Some(old) => {
            old.clear();
            old.push_str(&value);
        }
        None => *s = Some(value.into_owned()),
    }
    Some(())
}

/// `raw` and `raw_b64`: [`text`] if kept, else checked the same way and
/// left `None`.
fn raw_text(c: &mut Cursor<'_>, s: &mut Option<String>, keep_raw: bool) -> Option<()> {
    if keep_raw {
        return text(c, s, keep_raw);
    }
    c.skip_string()?;
    *s = None;
    Some(())
}

fn kind_named(s: &[u8]) -> Option<Kind> {
    Some(match s {
        b"delivery" => Kind::Delivery,
        b"auth" => Kind::Auth,
        b"access" => Kind::Access,
        b"disclosure" => Kind::Disclosure,
        b"training" => Kind::Training,
        b"quarantine" => Kind::Quarantine,
        b"coverage" => Kind::Coverage,
        b"admin" => Kind::Admin,
        b"accounting_request" => Kind::AccountingRequest,
        _ => return None,
    })
}

/// `YYYY-MM-DD` with a four-digit year, as `Date` writes it.
fn date_of(s: &[u8]) -> Option<Date> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let y = i32::try_from(digits(0..4)?).ok()?;
    let d = chrono::NaiveDate::from_ymd_opt(y, digits(5..7)?, digits(8..10)?)?;
    Some(Date(d))
}

struct Cursor<'a> {
    b: &'a [u8],
    /// The same bytes, known to be UTF-8.
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.i += 1)
    }

    /// A key: field names are plain ASCII, so no escapes are looked for
    /// (a key with one matches no field and is refused).
    fn key(&mut self) -> Option<&'a [u8]> {
        self.plain_string()
    }

    /// A string with no escape in it (times, dates, kinds, keys): its bytes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let start = self.i;
        let end = quote_or_backslash(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(&self.b[start..end])
    }

    /// A string escaped exactly as serde_json writes it: `"` and `\` and
    /// the control characters escaped (the short forms `\b \t \n \f \r`,
    /// else `\u00xx` in lower-case hex), everything else as it is. (That
    /// no control character is left raw and that the text is UTF-8 was
    /// checked once for the whole leaf.)
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.byte(b'"')?;
        let mut owned: Option<String> = None;
        loop {
            let at = quote_or_backslash(self.b, self.i)?;
            // both ends are ASCII, so on character boundaries
            let piece = self.text.get(self.i..at)?;
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some(match owned {
                    None => Cow::Borrowed(piece),
                    Some(mut s) => {
                        s.push_str(piece);
                        Cow::Owned(s)
                    }
                });
            }
            let (ch, len) = escape(&self.b[at..])?;
            let out = owned.get_or_insert_with(String::new);
            out.push_str(piece);
            out.push(ch);
            self.i = at + len;
        }
    }

    /// A string checked exactly as [`Cursor::string`] checks it (the same
    /// escapes, by the same function), its value not built.
    fn skip_string(&mut self) -> Option<()> {
        self.byte(b'"')?;
        loop {
            let at = quote_or_backslash(self.b, self.i)?;
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some(());
            }
            self.i = at + escape(&self.b[at..])?.1;
        }
    }

    fn bool(&mut self) -> Option<bool> {
        let rest = &self.b[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Some(false)
        } else {
            None
        }
    }

    /// An unsigned integer as `itoa` writes it: no sign, no leading zero.
    fn uint(&mut self) -> Option<u64> {
        let rest = &self.b[self.i..];
        let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || (len > 1 && rest[0] == b'0') {
            return None;
        }
        let v = rest[..len].iter().try_fold(0u64, |n, &c| {
            n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        })?;
        self.i += len;
        Some(v)
    }

    /// A finite number exactly as `zmij` writes it (serde_json's `f64`
    /// form): read, then written again and compared, since the shortest
    /// round-trip form is not a simple grammar.
    fn float(&mut self) -> Option<f64> {
        let rest = &self.b[self.i..];
        let len = rest
            .iter()
            .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        let token = std::str::from_utf8(&rest[..len]).ok()?;
        // serde_json's own reading (not `str::parse`): without its
        // `float_roundtrip` feature it may round differently, and the
        // definition reads the score with it
        let v: f64 = serde_json::from_str(token).ok()?;
        if !v.is_finite() || zmij::Buffer::new().format_finite(v) != token {
            return None;
        }
        self.i += len;
        Some(v)
    }
}

/// The escape at the start of `b` (which starts with a backslash) as serde_json
/// writes escapes: the character it stands for and its length, or `None`
/// for any other escape.
fn escape(b: &[u8]) -> Option<(char, usize)> {
    Some(match *b.get(1)? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'b' => ('\u{8}', 2),
        b't' => ('\t', 2),
        b'n' => ('\n', 2),
        b'f' => ('\u{c}', 2),
        b'r' => ('\r', 2),
        b'u' => {
            let v = match b.get(2..6)? {
                [b'0', b'0', h, l] => hex_lower(*h)? * 16 + hex_lower(*l)?,
                _ => return None,
            };
            // only the control characters without a short form
            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                return None;
            }
            (char::from(v), 6)
        }
        _ => return None,
    })
}

/// The position of the first `"` or backslash in `b` at or after `from`.
///
/// Eight bytes at a time in a `u64` (exact, no false hits): the strings of
/// a leaf are short, and `raw` holding JSON has an escape every few bytes,
/// where a vector search's setup per call cost more than the search (25 %
/// of a seal's column building on Okta's leaves, docs/BENCHMARKS.md
/// session 13).
fn quote_or_backslash(b: &[u8], from: usize) -> Option<usize> {
    first_of(
        b,
        from,
        |w| zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\'))),
        |c| c == b'"' || c == b'\\',
    )
}

/// The position of the first byte in `b` at or after `from` that serde_json
/// escapes: `"`, backslash or a control character (below 0x20).
fn first_to_escape(b: &[u8], from: usize) -> Option<usize> {
    first_of(
        b,
        from,
        |w| {
            zero_bytes(w ^ (ONES * u64::from(b'"')))
                | zero_bytes(w ^ (ONES * u64::from(b'\\')))
                | below_space(w)
        },
        |c| c == b'"' || c == b'\\' || c < 0x20,
    )
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);

/// 0x80 in each byte of `v` that is zero, 0 in every other byte (exact: a
/// byte's sum stays within its own byte, so no carry makes a false hit).
fn zero_bytes(v: u64) -> u64 {
    !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
}

/// 0x80 in each byte of `v` below 0x20, 0 in every other byte (exact, as
/// [`zero_bytes`]: a byte below 0x80 plus 0x60 reaches 0x80 only from 0x20).
fn below_space(v: u64) -> u64 {
    !(((v & LOW7).wrapping_add(ONES * 0x60)) | v) & !LOW7
}

/// The position of the first byte at or after `from` that `is`, searched
/// eight bytes at a time by `hits` (0x80 in each byte of a word that `is`,
/// 0 in every other), the last partial word byte by byte.
fn first_of(
    b: &[u8],
    from: usize,
    hits: impl Fn(u64) -> u64,
    is: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let h = hits(w);
        if h != 0 {
            // little-endian: the lowest set bit is the first byte in memory
            return Some(i + (h.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| is(c)).map(|k| i + k)
}

fn hex_lower(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LeafError;

    /// The defining check: serde's parse, validation, re-serialisation.
    fn by_definition(leaf: &[u8]) -> Result<Record, LeafError> {
        Record::from_leaf_by_reserialising(leaf)
    }

    use crate::examples::record_with_every_field as full;

    #[test]
    fn the_key_order_is_the_order_serde_writes() {
        let mut r = full();
        r.basis = Some("other".into());
        r.accountable = Some(true);
        let json: serde_json::Value = serde_json::from_slice(&r.to_leaf()).expect("a leaf is JSON");
        let keys: Vec<String> = json
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .expect("a leaf is an object");
        // serde_json's map is ordered by insertion with `preserve_order`,
        // else sorted; read the order off the bytes instead
        let leaf = String::from_utf8(r.to_leaf()).expect("a leaf is UTF-8");
        let mut seen: Vec<&str> = Vec::new();
        for f in FIELDS.iter().map(|f| f.name) {
            let at = leaf.find(&format!("\"{f}\":"));
            assert!(at.is_some(), "{f} is written");
            seen.push(f);
        }
        let mut by_position = seen.clone();
        by_position.sort_by_key(|f| leaf.find(&format!("\"{f}\":")));
        assert_eq!(by_position, seen, "FIELDS is in the serialised order");
        assert_eq!(keys.len(), FIELDS.len(), "every field is in FIELDS");
    }

    #[test]
    fn every_canonical_leaf_reads_back_to_its_record() {
        let mut r = full();
        r.kind = Some(Kind::Disclosure);
        r.basis = Some("judicial".into());
        r.accountable = Some(true);
        let mut samples = vec![full(), r];
        let texts = [
            "", "\"", "\\", "/", "\u{7f}", "é", "日本", "💊", "a\"b\\c", "\u{2028}",
        ];
        for t in texts {
            let mut r = full();
            r.raw = Some(t.to_string());
            samples.push(r);
        }
        for c in 0u8..0x20 {
            let mut r = full();
            r.detail = Some(format!("x{}y", c as char));
            samples.push(r);
        }
        for score in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-7,
            1e21,
            123456789.0,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut r = full();
            r.score = Some(score);
            samples.push(r);
        }
        for r in samples {
            let leaf = r.to_leaf();
            let fast = read(&leaf);
            assert_eq!(
                fast.as_ref(),
                Some(&r),
                "{}",
                String::from_utf8_lossy(&leaf)
            );
            assert_eq!(by_definition(&leaf).ok(), fast);
            assert_eq!(read_without_raw(&leaf), fast.map(without_raw));
        }
    }

    fn read_without_raw(leaf: &[u8]) -> Option<Record> {
        let mut rec = Record::default();
        read_into(leaf, &mut rec, false).map(|_| rec)
    }

    fn without_raw(mut r: Record) -> Record {
        r.raw = None;
        r.raw_b64 = None;
        r
    }

    /// Every single-byte change, deletion and insertion of a full leaf,
    /// and hand-made near misses.
    fn variants() -> Vec<Vec<u8>> {
        let leaf = full().to_leaf();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for i in 0..leaf.len() {
            for b in [
                b'"', b'\\', b'0', b'9', b' ', b',', b'}', b'u', b'e', b'.', 0x1f, 0xc3,
            ] {
                let mut v = leaf.clone();
                v[i] = b;
                variants.push(v);
            }
            let mut v = leaf.clone();
            v.remove(i);
            variants.push(v);
            let mut v = leaf.clone();
            v.insert(i, b' ');
            variants.push(v);
        }
        // and hand-made near misses
        for text in [
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"a","action":"b"}"#,
            r#"{"kind":"admin","v":1,"ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"a"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00Z","source":"x","action":"a"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-02-30T00:00:00.000000Z","source":"x","action":"a"}"#,
            r#"{"v":01,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"a"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"\u0041"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"\/"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"\u001F"}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":null}"#,
            r#"{"v":1,"kind":"training","ts":"2026-05-01T00:00:00.000000Z","source":"x","user":"u","course":"c","status":"passed","score":1e2}"#,
            r#"{"v":1,"kind":"training","ts":"2026-05-01T00:00:00.000000Z","source":"x","user":"u","course":"c","status":"passed","score":100}"#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x","action":"a"} "#,
            r#"{"v":1,"kind":"admin","ts":"2026-05-01T00:00:00.000000Z","source":"x"}"#,
        ] {
            variants.push(text.as_bytes().to_vec());
        }
        variants
    }

    #[test]
    fn it_never_accepts_what_the_definition_refuses() {
        let variants = variants();
        let mut accepted = 0;
        for v in &variants {
            let fast = read(v);
            assert_eq!(
                read_without_raw(v),
                fast.clone().map(without_raw),
                "reading without raw accepts exactly what reading does: {}",
                String::from_utf8_lossy(v)
            );
            if let Some(rec) = &fast {
                accepted += 1;
                assert_eq!(
                    by_definition(v).as_ref().ok(),
                    Some(rec),
                    "accepted what the definition refuses: {}",
                    String::from_utf8_lossy(v)
                );
            }
        }
        // the changes inside string values are still canonical leaves
        assert!(accepted > 0 && accepted < variants.len());
    }

    #[test]
    fn a_record_read_into_again_is_the_record_read_afresh() {
        // leaves with more and with fewer fields, accepted and refused, in
        // turn into one record: each time the same answer as a fresh read
        let mut leaves = variants();
        let mut disclosure = full();
        disclosure.kind = Some(Kind::Disclosure);
        disclosure.basis = Some("judicial".into());
        disclosure.accountable = Some(true);
        leaves.insert(0, full().to_leaf());
        leaves.push(disclosure.to_leaf());
        leaves.push(full().to_leaf());
        for keep_raw in [true, false] {
            let mut reused = full();
            let mut accepted = 0;
            for leaf in &leaves {
                let fresh = if keep_raw {
                    read(leaf)
                } else {
                    read_without_raw(leaf)
                };
                let again = read_into(leaf, &mut reused, keep_raw).map(|_| reused.clone());
                assert_eq!(again, fresh, "{}", String::from_utf8_lossy(leaf));
                accepted += usize::from(fresh.is_some());
            }
            assert!(accepted > 2 && accepted < leaves.len());
        }
    }

    #[test]
    fn the_word_search_finds_what_a_byte_search_finds() {
        // every position of each of the two bytes, among bytes one bit or
        // one value away from them (the exactness of the word trick), in
        // strings of every length around a word, from every start
        let near = [
            b'"',
            b'\\',
            b'"' ^ 0x80,
            b'\\' ^ 1,
            b'#',
            b'[',
            0x00,
            0xff,
            b'a',
        ];
        for len in 0..=19 {
            for at in 0..len {
                for &hit in b"\"\\" {
                    for &filler in &near[2..] {
                        let mut b = vec![filler; len];
                        b[at] = hit;
                        for from in 0..=len {
                            let want = b[from..]
                                .iter()
                                .position(|&c| c == b'"' || c == b'\\')
                                .map(|k| from + k);
                            assert_eq!(quote_or_backslash(&b, from), want, "{b:?} from {from}");
                        }
                    }
                }
            }
        }
        assert_eq!(quote_or_backslash(b"abc", 4), None);
    }

    #[test]
    fn the_escape_search_finds_what_a_byte_search_finds() {
        // every byte value, at every position of every length up to two
        // words and a bit, among fillers next to the bytes it looks for
        let escaped = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
        for len in 0..=19usize {
            for at in 0..len {
                for hit in 0..=255u8 {
                    for filler in [b'a', b' ', b'!', b'#', 0x7f, 0x80, 0xa0, 0xff] {
                        let mut b = vec![filler; len];
                        b[at] = hit;
                        for from in [0, at, at + 1, len] {
                            let want = b[from..].iter().position(|&c| escaped(c)).map(|k| from + k);
                            assert_eq!(first_to_escape(&b, from), want, "{b:?} from {from}");
                        }
                    }
                }
            }
        }
        assert_eq!(first_to_escape(b"abc", 4), None);
    }

    /// Records whose leaves exercise every way of writing: every field
    /// present, each left out in turn, none, and strings, numbers, dates
    /// and times at their edges.
    fn records_to_write() -> Vec<Record> {
        let mut records = vec![full(), Record::default()];
        for f in FIELDS {
            let mut r = full();
            (f.clear)(&mut r);
            records.push(r);
            // and that field alone (with `v`, `kind` and `ts`, always written)
            let mut r = full();
            for other in FIELDS.iter().skip(3).filter(|o| o.name != f.name) {
                (other.clear)(&mut r);
            }
            records.push(r);
        }
        let mut texts: Vec<String> = ["", "\"", "\\", "/", "\u{7f}", "é", "日本", "💊", "\u{2028}"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        for c in 0u8..0x80 {
            for len in [1usize, 7, 8, 9, 17] {
                for at in [0, len / 2, len - 1] {
                    let mut t = vec![b'x'; len];
                    t[at] = c;
                    texts.push(String::from_utf8(t).expect("ASCII"));
                }
            }
            texts.push(format!("{}\"\\{}", c as char, c as char));
        }
        for t in texts {
            let mut r = full();
            r.raw = Some(t.clone());
            r.detail = Some(t);
            records.push(r);
        }
        for score in [
            0.0,
            -0.0,
            0.1,
            1e-7,
            1e21,
            87.5,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
        ] {
            let mut r = full();
            r.score = Some(score);
            records.push(r);
        }
        for t in [
            Ts(i64::MIN),
            Ts(i64::MAX),
            Ts(-62_135_596_800_000_001),
            Ts(0),
        ] {
            let mut r = full();
            r.ts = Some(t);
            r.window_end = Some(t);
            records.push(r);
        }
        for d in [chrono::NaiveDate::MIN, chrono::NaiveDate::MAX] {
            let mut r = full();
            r.suspended_until = Some(Date(d));
            records.push(r);
        }
        let mut r = full();
        r.v = u32::MAX;
        r.count = Some(0);
        records.push(r);
        records
    }

    #[test]
    fn the_writer_writes_what_serde_writes() {
        for r in records_to_write() {
            let by_serde = serde_json::to_vec(&r).expect("a record serialises");
            let mut written = b"before".to_vec();
            write(&r, &mut written);
            assert_eq!(
                String::from_utf8_lossy(&written[b"before".len()..]),
                String::from_utf8_lossy(&by_serde),
                "{r:?}"
            );
            assert_eq!(&written[b"before".len()..], &by_serde[..], "{r:?}");
            assert_eq!(r.to_leaf(), by_serde);
        }
    }
}
