-- Audit controls: every read of evidence recorded by the sealtrail server (self-audit).
-- Citation: 45 CFR 164.312(b); 164.308(a)(1)(ii)(D).
-- Parameters: period_start, period_end.
-- Columns: ts, user, action, detail.
SELECT ts, coalesce("user", '') AS "user", action, coalesce(detail, '') AS detail
FROM admin_events
WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
ORDER BY ts, idx;
