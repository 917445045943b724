-- Information system activity review: access to PHI outside working hours, by user.
-- Citation: 45 CFR 164.308(a)(1)(ii)(D).
-- Shows: access events at or after after_hours_start, before after_hours_end (UTC hours), or at
--        weekends.
-- Parameters: period_start, period_end, after_hours_start (default 19), after_hours_end (default 7).
-- Columns: user, after_hours_events, patients, first_seen, last_seen.
SELECT "user", count(*) AS after_hours_events, count(DISTINCT patient_id) AS patients,
       min(ts) AS first_seen, max(ts) AS last_seen
FROM access_events
WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
  AND (extract(hour FROM ts) >= getvariable('after_hours_start') OR extract(hour FROM ts) < getvariable('after_hours_end')
       OR isodow(ts) >= 6)
GROUP BY ALL
ORDER BY after_hours_events DESC, "user";
