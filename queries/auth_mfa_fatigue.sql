-- Person or entity authentication: MFA-fatigue bursts (push bombing).
-- Citation: 45 CFR 164.312(d); 164.308(a)(5)(ii)(C) log-in monitoring.
-- Shows: for each denied or fraud-reported push, the number of such pushes for the same user in the
--        following fatigue_minutes; a burst is reported once, at its first push, when that number
--        reaches fatigue_denials.
-- Parameters: period_start, period_end, fatigue_denials (default 5), fatigue_minutes (default 10).
-- Columns: user, burst_start, burst_end, denied_pushes.
WITH p AS (
    SELECT "user", ts FROM auth_events
    WHERE factor = 'push' AND outcome IN ('denied', 'fraud')
      AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
), w AS (
    SELECT a."user", a.ts AS burst_start, max(b.ts) AS burst_end, count(*) AS denied_pushes
    FROM p a JOIN p b ON a."user" = b."user" AND b.ts >= a.ts
         AND b.ts < a.ts + to_minutes(CAST(getvariable('fatigue_minutes') AS BIGINT))
    GROUP BY a."user", a.ts
), bursts AS (
    SELECT *, lag(burst_end) OVER (PARTITION BY "user" ORDER BY burst_start) AS prev_end
    FROM w WHERE denied_pushes >= getvariable('fatigue_denials')
)
SELECT "user", burst_start, burst_end, denied_pushes
FROM bursts
WHERE prev_end IS NULL OR burst_start > prev_end
ORDER BY burst_start, "user";
