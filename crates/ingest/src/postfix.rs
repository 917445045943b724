//! `postfix`: syslog maillog from Postfix, one delivery record per recipient
//! and delivery attempt.
//!
//! Postfix spreads one delivery over several lines that share a queue id:
//! `cleanup` gives the Message-ID, `qmgr` the sender, `smtp` the `to=` line
//! with relay, dsn and status. The `smtp` TLS line (`Verified TLS connection
//! established to HOST[IP]:PORT: TLSv1.3 with cipher ...`) carries no queue
//! id: it is joined to the following `to=` lines of the same smtp PID and
//! relay. A delivery with no TLS line is `encryption = none` only where the
//! log could have shown TLS: the same smtp process name (`postfix/smtp`,
//! `postfix/relay/smtp`, ...) logged a TLS line earlier, so
//! `smtp_tls_loglevel >= 1`, on a new connection that was made; otherwise
//! `unknown` (Postfix's default `smtp_tls_loglevel = 0` logs no TLS lines at
//! all). `Cannot start TLS` / `TLS is required` is a failed TLS attempt
//! (`tls_failed`, `none`). Any `*/smtp` and `*/lmtp` process name is a
//! delivery agent; `direction` is internal for lmtp and loopback relays,
//! unknown for private-address relays, else outbound. State carries across
//! the files of one call (rotated logs, oldest first).
//!
//! Timestamps: RFC 3164 (`Mar  1 10:00:01` or `Mar 1 10:00:01`, no year: the first line's year is
//! the one that puts it at or before the file's modification time, and the
//! year advances when the month wraps, as at December→January), RFC 5424 and
//! ISO 8601 (rsyslog high precision, journald `short-iso`). Times without a
//! zone are taken as UTC.
//!
//! Redaction: Postfix logs subjects only through `header_checks` warnings;
//! those lines are skipped and never stored.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use super::{Emit, IngestError, Line, Parsed, Source, read_lines};
use sealtrail_format::model::{Kind, Record, Ts};

struct Tls {
    relay: String,
    peer: &'static str,
    version: String,
    cipher: String,
    line: String,
    /// A delivery already used this handshake: only a reused connection
    /// (`conn_use=` > 1) may use it again; a new connection that logged no
    /// TLS line of its own was not encrypted.
    used: bool,
}

/// The Postfix maillog source.
#[derive(Default)]
pub struct Postfix {
    year: Option<i32>,
    last_month: u32,
    /// TLS handshakes by `program[pid]`, waiting for their deliveries.
    tls: HashMap<String, Tls>,
    /// smtp process names that logged a TLS line: TLS logging is on there.
    tls_logging: std::collections::HashSet<String>,
    message_ids: HashMap<String, String>,
    senders: HashMap<String, String>,
    /// `program[pid]` of the line at hand, built in place for lookups.
    key: String,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct SyslogLine<'a> {
    ts: Ts,
    program: &'a str,
    pid: &'a str,
    msg: &'a str,
}

impl Postfix {
    fn reference_time(file: &str) -> chrono::DateTime<Utc> {
        std::fs::metadata(file)
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now())
    }

    /// Parses the syslog header of one line.
    fn header<'a>(
        &mut self,
        line: &'a str,
        reference: chrono::DateTime<Utc>,
    ) -> Option<SyslogLine<'a>> {
        let mut rest = line;
        if rest.starts_with('<') {
            let end = rest.find('>')?;
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix("1 ") {
                // RFC 5424: TIMESTAMP HOST APP PROCID MSGID SD MSG
                let mut parts = r.splitn(6, ' ');
                let ts = super::read::parse_time(parts.next()?)?;
                let _host = parts.next()?;
                let program = parts.next()?;
                let pid = parts.next()?;
                let _msgid = parts.next()?;
                let rest = parts.next()?;
                let msg = if let Some(r) = rest.strip_prefix("- ") {
                    r
                } else if rest.starts_with('[') {
                    rest.split_once("] ").map(|(_, m)| m)?
                } else {
                    rest
                };
                return Some(SyslogLine {
                    ts,
                    program,
                    pid,
                    msg,
                });
            }
        }
        // `get`, not indexing: the line may hold multi-byte characters anywhere
        // (found by fuzz/ingest_sources)
        let mon = rest
            .get(..4)
            .and_then(|m| m.strip_suffix(' '))
            .filter(|m| MONTHS.contains(m));
        let (ts, after) = if let Some(mon) = mon {
            let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
            // the day is written with two spaces (`Jan  1`, RFC 3164) or one
            // (`Jan 1`, as several syslog daemons and templates write it)
            let (day, after) = rest.get(4..)?.trim_start_matches(' ').split_once(' ')?;
            let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
            let after = after.trim_start_matches(' ');
            let time = after.get(..8)?;
            let after = after.get(8..)?.strip_prefix(' ')?;
            let year = match self.year {
                None => {
                    let mut y = reference.year();
                    let candidate = NaiveDate::from_ymd_opt(y, month, day)?;
                    if candidate > reference.date_naive() + chrono::Days::new(1) {
                        y -= 1;
                    }
                    y
                }
                // a wrap (Dec → Jan) moves to the next year; a line a month
                // or two out of order does not
                Some(y) if month + 6 <= self.last_month => y + 1,
                Some(y) if month >= self.last_month + 6 => y - 1,
                Some(y) => y,
            };
            if self.year.is_none()
                || month + 6 <= self.last_month
                || (month >= self.last_month && month < self.last_month + 6)
            {
                self.year = Some(year);
                self.last_month = month;
            }
            let dt = NaiveDate::from_ymd_opt(year, month, day)?.and_time(clock_time(time)?);
            (Ts(Utc.from_utc_datetime(&dt).timestamp_micros()), after)
        } else {
            // ISO 8601: rsyslog's high-precision format, journald's
            // `short-iso` / `short-iso-precise` (`+0000` offsets)
            let (t, after) = split_at_byte(rest, b' ')?;
            (super::read::parse_time(t)?, after)
        };
        // HOST PROGRAM[PID]: MSG
        let (_host, after) = split_at_byte(after, b' ')?;
        let (tag, msg) = split_at_pair(after, b':', b' ')?;
        let (program, pid) = match split_at_byte(tag, b'[') {
            Some((p, pid)) => (p, pid.strip_suffix(']')?),
            None => (tag, "-"),
        };
        Some(SyslogLine {
            ts,
            program,
            pid,
            msg,
        })
    }

    /// `self.key` = `PROGRAM[PID]`, the process a TLS handshake belongs to.
    fn set_key(&mut self, program: &str, pid: &str) {
        self.key.clear();
        self.key.push_str(program);
        self.key.push('[');
        self.key.push_str(pid);
        self.key.push(']');
    }

    fn parse_line(&mut self, line: &Line, text: &str, reference: chrono::DateTime<Utc>) -> Parsed {
        let Some(h) = self.header(text, reference) else {
            return Parsed::bad(
                line,
                "not a syslog line (no RFC 3164, RFC 5424 or ISO 8601 header)",
            );
        };
        // `postfix/smtp`, and every other instance or service name that
        // master.cf gives the same daemons: `postfix/relay/smtp`,
        // `postfix-out/smtp`, `postfix/submission/smtpd`
        let Some(daemon) = split_at_byte(h.program, b'/')
            .filter(|(p, _)| p.starts_with("postfix"))
            .map(|(_, d)| after_last_byte(d, b'/'))
        else {
            return Parsed::Skip {
                line: line.number,
                reason: "not a Postfix line",
            };
        };
        let msg = h.msg;
        if let Some(rest) = tls_line(msg) {
            let (peer, rest) = rest;
            let Some((relay, rest)) = split_at_pair(rest, b':', b' ') else {
                return Parsed::bad(line, "TLS line without a relay");
            };
            let version = rest.split_whitespace().next().unwrap_or("");
            let cipher = rest
                .split(" with cipher ")
                .nth(1)
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or("");
            // TLS logging is on for this smtp process name: from here on, its
            // deliveries without a TLS line went without TLS
            if !self.tls_logging.contains(h.program) {
                self.tls_logging.insert(h.program.to_string());
            }
            self.set_key(h.program, h.pid);
            // a process's next handshake replaces its last one, in place:
            // its strings keep their allocations
            match self.tls.get_mut(self.key.as_str()) {
                Some(t) => {
                    for (field, value) in [
                        (&mut t.relay, relay),
                        (&mut t.version, version),
                        (&mut t.cipher, cipher),
                        (&mut t.line, text),
                    ] {
                        field.clear();
                        field.push_str(value);
                    }
                    t.peer = peer;
                    t.used = false;
                }
                None => {
                    self.tls.insert(
                        self.key.clone(),
                        Tls {
                            relay: relay.to_string(),
                            peer,
                            version: version.to_string(),
                            cipher: cipher.to_string(),
                            line: text.to_string(),
                            used: false,
                        },
                    );
                }
            }
            return Parsed::Skip {
                line: line.number,
                reason: "TLS handshake (joined into its deliveries)",
            };
        }
        let Some((queue_id, rest)) = split_at_pair(msg, b':', b' ') else {
            return Parsed::Skip {
                line: line.number,
                reason: "informational Postfix line",
            };
        };
        if !is_queue_id(queue_id) {
            if msg.starts_with("warning: header") {
                return Parsed::Skip {
                    line: line.number,
                    reason: "header_checks warning (subject not stored)",
                };
            }
            return Parsed::Skip {
                line: line.number,
                reason: "informational Postfix line",
            };
        }
        if let Some(id) = rest.strip_prefix("message-id=") {
            self.message_ids
                .insert(queue_id.to_string(), id.trim().to_string());
            return Parsed::Skip {
                line: line.number,
                reason: "message-id (joined into its deliveries)",
            };
        }
        if let Some(from) = rest.strip_prefix("from=<") {
            let sender = from.split('>').next().unwrap_or("");
            self.senders
                .insert(queue_id.to_string(), sender.to_string());
            return Parsed::Skip {
                line: line.number,
                reason: "sender (joined into its deliveries)",
            };
        }
        if rest == "removed" {
            self.message_ids.remove(queue_id);
            self.senders.remove(queue_id);
            return Parsed::Skip {
                line: line.number,
                reason: "queue removal",
            };
        }
        let Some(to) = rest.strip_prefix("to=<") else {
            return Parsed::Skip {
                line: line.number,
                reason: "informational Postfix line",
            };
        };
        if daemon != "smtp" && daemon != "lmtp" {
            return Parsed::Skip {
                line: line.number,
                reason: "local or pipe delivery (not a network transmission)",
            };
        }
        let Some((rcpt, fields)) = split_at_byte(to, b'>') else {
            return Parsed::bad(line, "to=<...> is not closed");
        };
        let mut relay = None;
        let mut dsn = None;
        let mut status = None;
        let mut status_text = "";
        let mut conn_use = 1u32;
        for part in split_at_pairs(fields, b',', b' ') {
            let part = part.trim_start_matches(',').trim();
            if let Some(v) = part.strip_prefix("relay=") {
                relay = Some(v);
            } else if let Some(v) = part.strip_prefix("dsn=") {
                dsn = Some(v);
            } else if let Some(v) = part.strip_prefix("conn_use=") {
                conn_use = v.parse().unwrap_or(1);
            } else if let Some(v) = part.strip_prefix("status=") {
                let (s, t) = split_at_byte(v, b' ').unwrap_or((v, ""));
                status = Some(s);
                status_text = t;
                break;
            }
        }
        // status text may itself contain ", ": take it from the line
        if let Some(p) = fields.find("status=") {
            status_text = fields[p..]
                .split_once(' ')
                .map(|(_, t)| t)
                .unwrap_or(status_text);
        }
        let Some(status) = status else {
            return Parsed::bad(line, "delivery line without status=");
        };
        let status = match status {
            "sent" => "delivered",
            "deferred" => "deferred",
            "bounced" | "expired" => "bounced",
            _ => {
                return Parsed::bad(
                    line,
                    "unknown status= value; expected sent, deferred, bounced or expired",
                );
            }
        };
        let relay = relay.unwrap_or("none");
        let mut r = Record::new(Kind::Delivery, h.ts, "postfix");
        r.recipient = Some(rcpt.to_string());
        r.sender = self.senders.get(queue_id).cloned();
        r.message_id = self.message_ids.get(queue_id).cloned();
        r.status = Some(status.to_string());
        r.dsn = dsn.map(str::to_string);
        r.relay = Some(relay.to_string());
        r.source_event_id = Some(event_id(queue_id, rcpt, status, h.ts));
        self.set_key(h.program, h.pid);
        let tls = self
            .tls
            .get_mut(self.key.as_str())
            .filter(|t| t.relay == relay && (!t.used || conn_use > 1));
        let mut raw = String::new();
        match tls {
            Some(t) => {
                t.used = true;
                r.encryption = Some("tls".into());
                r.tls_version = Some(t.version.clone());
                r.tls_cipher = Some(t.cipher.clone()).filter(|c| !c.is_empty());
                r.tls_peer = Some(t.peer.to_string());
                raw.reserve(t.line.len() + 1 + text.len());
                raw.push_str(&t.line);
                raw.push('\n');
            }
            None if status_text.contains("Cannot start TLS")
                || status_text.contains("TLS is required") =>
            {
                r.encryption = Some("none".into());
                r.tls_failed = Some(true);
                r.tls_peer = Some("none".into());
            }
            // without TLS only where the log could have shown TLS: this smtp
            // process name logged TLS lines earlier (smtp_tls_loglevel >= 1),
            // the connection is new and was made; otherwise unknown
            // (smtp_tls_loglevel = 0, Postfix's default, logs no TLS at all)
            None if conn_use == 1 && relay != "none" && self.tls_logging.contains(h.program) => {
                r.encryption = Some("none".into());
                r.tls_peer = Some("none".into());
            }
            None => r.encryption = Some("unknown".into()),
        }
        r.direction = Some(direction(daemon, relay).into());
        raw.push_str(text);
        r.raw = Some(raw);
        Parsed::Event(Box::new(r), line.number)
    }
}

/// A delivery's own identity: `QUEUEID:RECIPIENT:STATUS:MICROS`. Built by
/// hand: `format!` cost 1,750 instructions a delivery, on the one thread
/// the parse waits on (docs/BENCHMARKS.md, session 15).
fn event_id(queue_id: &str, rcpt: &str, status: &str, ts: Ts) -> String {
    let mut micros = itoa::Buffer::new();
    let micros = micros.format(ts.0);
    let mut id =
        String::with_capacity(queue_id.len() + rcpt.len() + status.len() + micros.len() + 3);
    for (i, part) in [queue_id, rcpt, status, micros].into_iter().enumerate() {
        if i > 0 {
            id.push(':');
        }
        id.push_str(part);
    }
    id
}

/// Where a delivery went: `lmtp` hands mail to a mailbox store and a relay
/// on loopback is a content filter, both inside; a private address may be an
/// internal smarthost (the mail's last hop unseen), so it is unknown; any
/// other relay, or none reached, is outbound.
fn direction(daemon: &str, relay: &str) -> &'static str {
    if daemon == "lmtp" {
        return "internal";
    }
    let (host, ip) = match split_at_byte(relay, b'[') {
        Some((host, r)) => (
            host,
            split_at_byte(r, b']').map(|(ip, _)| ip.strip_prefix("IPv6:").unwrap_or(ip)),
        ),
        None => (relay, None),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return "internal";
    }
    if relay == "none" {
        // no server was reached: the mail did not leave, nor is it known
        // where it would have gone
        return "unknown";
    }
    match ip.and_then(|i| i.parse::<std::net::IpAddr>().ok()) {
        Some(a) if a.is_loopback() => "internal",
        Some(a) if a.is_multicast() || a.is_unspecified() => "unknown",
        Some(std::net::IpAddr::V4(a))
            if a.is_private() || a.is_link_local() || a.is_broadcast() =>
        {
            "unknown"
        }
        Some(std::net::IpAddr::V6(a)) if (a.segments()[0] & 0xfe00) == 0xfc00 => "unknown",
        _ => "outbound",
    }
}

/// `HH:MM:SS` as chrono's `%H:%M:%S` reads it: the common form (two digits
/// each, no leap second) directly, anything else by chrono itself.
fn clock_time(time: &str) -> Option<chrono::NaiveTime> {
    let b = time.as_bytes();
    let two = |i: usize| -> Option<u32> {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
    };
    if b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && let (Some(h), Some(m), Some(s)) = (two(0), two(3), two(6))
        && s < 60
    {
        return chrono::NaiveTime::from_hms_opt(h, m, s);
    }
    chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").ok()
}

fn tls_line(msg: &str) -> Option<(&'static str, &str)> {
    for (word, peer) in [
        ("Verified", "verified"),
        ("Trusted", "trusted"),
        ("Untrusted", "untrusted"),
        ("Anonymous", "anonymous"),
    ] {
        if let Some(rest) = msg
            .strip_prefix(word)
            .and_then(|r| r.strip_prefix(" TLS connection established to "))
        {
            return Some((peer, rest));
        }
    }
    None
}

/// `s.split_once` at the first ASCII `first` followed by ASCII `second`
/// (`": "`, `", "`), found byte by byte: the pairs sit a few dozen bytes
/// into a log line, where the set-up of the standard library's pattern
/// search cost more than the search (5 % of a Postfix ingest's
/// instructions, docs/BENCHMARKS.md, session 14).
fn split_at_pair(s: &str, first: u8, second: u8) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let at = b.windows(2).position(|w| w[0] == first && w[1] == second)?;
    // both bytes are ASCII, so `at` and `at + 2` are character boundaries
    Some((s.get(..at)?, s.get(at + 2..)?))
}

/// `s.split_once` at the first ASCII byte `sep`, found as a byte (in UTF-8
/// such a byte is only ever that character): the standard library's
/// character search set up a word-wise scan per call, which cost more than
/// these short fields (its `CharSearcher` was 5 % of the parse's thread,
/// docs/BENCHMARKS.md, session 15).
fn split_at_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == sep)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// What follows the last ASCII byte `sep` in `s` (all of `s` without one),
/// as `s.rsplit(sep).next()`.
fn after_last_byte(s: &str, sep: u8) -> &str {
    match s.bytes().rposition(|b| b == sep) {
        Some(at) => s.get(at + 1..).unwrap_or(s),
        None => s,
    }
}

/// `s.split` at every `first` followed by `second`, as [`split_at_pair`].
fn split_at_pairs(s: &str, first: u8, second: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match split_at_pair(r, first, second) {
            Some((part, after)) => {
                rest = Some(after);
                Some(part)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn is_queue_id(s: &str) -> bool {
    s.len() >= 5
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
        && s != "warning"
        && s != "NOQUEUE"
}

impl Source for Postfix {
    fn name(&self) -> &'static str {
        "postfix"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let text = String::from_utf8_lossy(head);
        // `postfix/smtp[..]: `, and instance names: `postfix-out/smtp[..]: `
        text.lines().take(50).any(|l| {
            l.contains("]: ")
                && l.match_indices(" postfix").any(|(i, _)| {
                    let rest = &l[i + " postfix".len()..];
                    rest.starts_with('/')
                        || (rest.starts_with('-')
                            && rest.split(' ').next().is_some_and(|w| w.contains('/')))
                })
        })
    }

    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        let reference = Postfix::reference_time(file);
        read_lines(input, file, &mut |line: &Line| {
            if line.bytes.is_empty() {
                return Ok(());
            }
            let Some(text) = line.text() else {
                return emit(Parsed::bad(line, "line is not valid UTF-8"));
            };
            let p = self.parse_line(line, text, reference);
            emit(p)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_at_a_pair_splits_as_the_pattern_does() {
        let samples = [
            "",
            ":",
            ": ",
            "a: b",
            "a:b: c",
            "::  ",
            "a:",
            ":a",
            "é: ü",
            "日本:語: x",
            "a, b, c",
            ",, ,",
            "a,b",
            ", ",
            "x, ",
            "relay=a[1.2.3.4]:25, delay=1, dsn=2.0.0, status=sent (ok: 250 , x)",
        ];
        for s in samples {
            assert_eq!(split_at_pair(s, b':', b' '), s.split_once(": "), "{s:?}");
            assert_eq!(split_at_pair(s, b',', b' '), s.split_once(", "), "{s:?}");
            let ours: Vec<&str> = split_at_pairs(s, b',', b' ').collect();
            let std: Vec<&str> = s.split(", ").collect();
            assert_eq!(ours, std, "{s:?}");
        }
    }

    #[test]
    fn splitting_at_a_byte_splits_as_the_character_does() {
        for s in [
            "",
            " ",
            "a",
            "a b",
            " a",
            "a ",
            "a  b",
            "é b",
            "b é",
            "日本 語",
            "[",
            "a[b]c",
            "x/y/z",
            "/",
            "//",
            "a/",
            "/a",
            "💊[1.2.3.4]:25",
            "mx[IPv6:::1]",
        ] {
            for c in [' ', '[', ']', '/', '>'] {
                assert_eq!(split_at_byte(s, c as u8), s.split_once(c), "{s:?} at {c:?}");
                assert_eq!(
                    after_last_byte(s, c as u8),
                    s.rsplit(c).next().unwrap_or(s),
                    "{s:?} after {c:?}"
                );
            }
        }
    }

    #[test]
    fn a_delivery_id_is_what_format_writes() {
        for (q, r, s, t) in [
            ("10000002", "a@b.example", "delivered", 0),
            ("3F2A1B", "", "bounced", -1),
            ("ABC", "ü@ß.example", "deferred", i64::MAX),
            ("", "x", "", i64::MIN),
        ] {
            assert_eq!(event_id(q, r, s, Ts(t)), format!("{q}:{r}:{s}:{t}"));
        }
    }

    #[test]
    fn clock_time_reads_exactly_what_chrono_reads() {
        let chrono = |t: &str| chrono::NaiveTime::parse_from_str(t, "%H:%M:%S").ok();
        let mut cases: Vec<String> = Vec::new();
        for h in 0..30 {
            for m in [0, 1, 9, 10, 59, 60, 61, 99] {
                for s in [0, 5, 30, 59, 60, 61, 99] {
                    cases.push(format!("{h:02}:{m:02}:{s:02}"));
                }
            }
        }
        cases.extend(
            [
                "1:00:00",
                "01:0:00",
                "01:00:0",
                "0a:00:00",
                "01-00-00",
                "01:00:00 ",
                " 1:00:00",
                "+1:00:00",
                "",
                "::::::::",
            ]
            .map(String::from),
        );
        for c in &cases {
            assert_eq!(clock_time(c), chrono(c), "{c:?}");
        }
    }

    fn parse_all(lines: &[&str]) -> Vec<Record> {
        let mut p = Postfix::default();
        let reference = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let line = Line {
                number: i as u64 + 1,
                bytes: l.as_bytes().to_vec(),
                overlong: None,
            };
            if let Parsed::Event(r, _) = p.parse_line(&line, l, reference) {
                out.push(*r);
            }
        }
        out
    }

    /// A process's next handshake replaces its last one, every field of
    /// it: a delivery takes the newest handshake of its process, and one to
    /// the older handshake's relay finds none (a new connection without TLS).
    #[test]
    fn a_later_handshake_of_the_same_process_replaces_the_earlier() {
        let recs = parse_all(&[
            "Jan  1 00:00:00 mx1 postfix/smtp[12]: Trusted TLS connection established to old.example[192.0.2.9]:25: TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)",
            "Jan  1 00:00:01 mx1 postfix/smtp[12]: 4F9D12A3B: to=<a@old.example>, relay=old.example[192.0.2.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 Ok)",
            "Jan  1 00:00:02 mx1 postfix/smtp[12]: Verified TLS connection established to new.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Jan  1 00:00:03 mx1 postfix/smtp[12]: 5A0E23B4C: to=<b@new.example>, relay=new.example[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 Ok)",
            "Jan  1 00:00:04 mx1 postfix/smtp[12]: 6B1F34C5D: to=<c@old.example>, relay=old.example[192.0.2.9]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 Ok)",
        ]);
        assert_eq!(recs.len(), 3);
        let field = |r: &Record| {
            (
                r.encryption.clone(),
                r.tls_version.clone(),
                r.tls_cipher.clone(),
                r.tls_peer.clone(),
            )
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            field(&recs[0]),
            (
                s("tls"),
                s("TLSv1.2"),
                s("ECDHE-RSA-AES128-GCM-SHA256"),
                s("trusted")
            )
        );
        assert_eq!(
            field(&recs[1]),
            (
                s("tls"),
                s("TLSv1.3"),
                s("TLS_AES_256_GCM_SHA384"),
                s("verified")
            )
        );
        assert!(
            recs[1].raw.as_deref().is_some_and(|raw| raw.starts_with(
                "Jan  1 00:00:02 mx1 postfix/smtp[12]: Verified TLS connection established to new.example"
            ) && !raw.contains("old.example")),
            "raw holds the newer handshake line alone: {:?}",
            recs[1].raw
        );
        assert_eq!(field(&recs[2]), (s("none"), None, None, s("none")));
    }

    #[test]
    fn postfix_tls_join_and_year_turn() {
        let recs = parse_all(&[
            "Dec 31 23:59:58 mx1 postfix/cleanup[10]: 4F9D12A3B: message-id=<a@h.example>",
            "Dec 31 23:59:58 mx1 postfix/qmgr[11]: 4F9D12A3B: from=<r@h.example>, size=100, nrcpt=1 (queue active)",
            "Dec 31 23:59:59 mx1 postfix/smtp[12]: Verified TLS connection established to mx.c.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Jan  1 00:00:01 mx1 postfix/smtp[12]: 4F9D12A3B: to=<b@c.example>, relay=mx.c.example[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        ]);
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.ts.unwrap().to_canonical(), "2026-01-01T00:00:01.000000Z");
        assert_eq!(r.encryption.as_deref(), Some("tls"));
        assert_eq!(r.tls_peer.as_deref(), Some("verified"));
        assert_eq!(
            r.message_id.as_deref(),
            Some("<a@h.example>"),
            "as logged; derive() strips the brackets"
        );
        assert_eq!(r.sender.as_deref(), Some("r@h.example"));
    }
}
