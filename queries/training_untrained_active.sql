-- Security awareness training cross-check: people active in the sign-in or access logs in the
-- period with no current training record.
-- Citation: 45 CFR 164.308(a)(5)(i).
-- Parameters: period_start, period_end, training_valid_days.
-- Columns: user, sign_ins, access_events, last_active.
WITH trained AS (
    SELECT DISTINCT lower("user") AS u FROM training
    WHERE status IN ('completed', 'passed') AND coalesce(completed_at, ts) < getvariable('period_end')
      AND coalesce(completed_at, ts) >= getvariable('period_end') - to_days(CAST(getvariable('training_valid_days') AS INTEGER))
), activity AS (
    SELECT lower("user") AS u, 1 AS sign_in, 0 AS access, ts FROM auth_events
    WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
    UNION ALL
    SELECT lower("user"), 0, 1, ts FROM access_events
    WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
)
SELECT u AS "user", sum(sign_in) AS sign_ins, sum(access) AS access_events, max(ts) AS last_active
FROM activity
WHERE u NOT IN (SELECT u FROM trained)
GROUP BY u
ORDER BY sign_ins + access_events DESC, u;
