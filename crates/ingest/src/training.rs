//! `training`: workforce training records, as an LMS CSV export (`user,
//! course, topic, status, completed_at, due_at, score`) or as xAPI
//! statements (JSON, one per line or an array; verbs `completed`, `passed`,
//! `failed`; other verbs are read and counted as not events).
//!
//! Identity: the xAPI statement `id`; for CSV a content hash of the row.
//! `score` is the xAPI `result.score.scaled`, or the CSV value (a value
//! above 1 is read as a percentage).

use super::json::Json;
use super::read::{
    Mapped, csv_col as col, jget, jstr, parse_csv_source, parse_json_source, parse_time,
};
use super::{Emit, IngestError, Source, content_id};
use sealtrail_format::model::{Kind, Record};

/// The training-record source.
#[derive(Default)]
pub struct Training;

fn map_xapi(v: &Json<'_>) -> Mapped {
    let Some(verb) = jstr(v, "verb.id") else {
        return Mapped::Bad("missing field `verb.id`; is this an xAPI statement?".into());
    };
    let status = match verb.rsplit('/').next().unwrap_or("") {
        "completed" => "completed",
        "passed" => "passed",
        "failed" => "failed",
        _ => {
            return Mapped::Skip(
                "xAPI statement with a verb other than completed, passed or failed",
            );
        }
    };
    let user = jstr(v, "actor.mbox")
        .map(|m| m.trim_start_matches("mailto:").to_string())
        .or_else(|| jstr(v, "actor.account.name").map(str::to_string));
    let Some(user) = user else {
        return Mapped::Bad("missing field `actor.mbox` or `actor.account.name`".into());
    };
    let Some(ts) = jstr(v, "timestamp").and_then(parse_time) else {
        return Mapped::Bad("missing or unreadable field `timestamp`".into());
    };
    let course = jget(v, "object.definition.name")
        .and_then(|n| {
            n.get("en-US")
                .or_else(|| n.members_by_key()?.first().map(|m| m.1))
        })
        .and_then(|n| n.as_str())
        .or_else(|| jstr(v, "object.id"));
    let Some(course) = course else {
        return Mapped::Bad("missing field `object.definition.name` or `object.id`".into());
    };
    let mut r = Record::new(Kind::Training, ts, "training");
    r.source_event_id = jstr(v, "id")
        .map(str::to_string)
        .or_else(|| Some(content_id(v.to_value().to_string().as_bytes())));
    r.user = Some(user);
    r.course = Some(course.to_string());
    r.topic = jget(v, "context.extensions")
        .and_then(|e| e.members_by_key())
        .and_then(|o| o.into_iter().find(|(k, _)| k.ends_with("/topic")))
        .and_then(|(_, t)| t.as_str())
        .map(str::to_string);
    r.status = Some(status.into());
    r.completed_at = Some(ts);
    r.score = jget(v, "result.score.scaled").and_then(|s| s.as_f64());
    Mapped::Records(vec![r])
}

impl Source for Training {
    fn name(&self) -> &'static str {
        "training"
    }
    fn continuous(&self) -> bool {
        false
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        let first = t.lines().next().unwrap_or("");
        (t.contains("\"verb\"") && t.contains("\"actor\""))
            || (first.contains("user") && first.contains("course") && first.contains("status"))
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        let json = {
            let buf = input.fill_buf().map_err(|source| IngestError::Io {
                file: file.to_string(),
                source,
            })?;
            matches!(
                buf.iter().find(|b| !b.is_ascii_whitespace()),
                Some(b'{') | Some(b'[')
            )
        };
        if json {
            return parse_json_source(input, file, &[], emit, &map_xapi);
        }
        parse_csv_source(input, file, &[], emit, &mut |header, row, raw| {
            let completed = col(header, row, "completed_at").map(|s| parse_time(s).ok_or(()));
            let due = col(header, row, "due_at").map(|s| parse_time(s).ok_or(()));
            let (Ok(completed), Ok(due)) = (completed.transpose(), due.transpose()) else {
                return Mapped::Bad(
                    "column `completed_at` or `due_at` is not a date or time".into(),
                );
            };
            let score = match col(header, row, "score") {
                None => None,
                Some(s) => match s.trim_end_matches('%').parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Some(if x > 1.0 { x / 100.0 } else { x }),
                    _ => return Mapped::Bad("column `score` is not a number".into()),
                },
            };
            // The record's time: completion, else due date, else assignment.
            let Some(ts) = completed
                .or(due)
                .or_else(|| col(header, row, "assigned_at").and_then(parse_time))
            else {
                return Mapped::Bad(
                    "no `completed_at`, `due_at` or `assigned_at` to date the record".into(),
                );
            };
            let mut r = Record::new(Kind::Training, ts, "training");
            r.source_event_id = Some(content_id(raw.as_bytes()));
            r.user = col(header, row, "user").map(str::to_string);
            r.course = col(header, row, "course").map(str::to_string);
            r.topic = col(header, row, "topic").map(str::to_string);
            r.status = col(header, row, "status").map(|s| s.to_ascii_lowercase());
            r.completed_at = completed;
            r.due_at = due;
            r.score = score;
            Mapped::Records(vec![r])
        })
    }
}
