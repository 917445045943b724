-- Information system activity review: users whose PHI access volume is unusual.
-- Citation: 45 CFR 164.308(a)(1)(ii)(D).
-- Shows: users whose number of access events exceeds the mean over all users by more than
--        volume_sigma standard deviations.
-- Parameters: period_start, period_end, volume_sigma (default 3).
-- Columns: user, access_events, patients, mean_per_user, threshold.
WITH u AS (
    SELECT "user", count(*) AS access_events, count(DISTINCT patient_id) AS patients FROM access_events
    WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end') GROUP BY ALL
), s AS (SELECT avg(access_events) AS m, coalesce(stddev_pop(access_events), 0) AS sd FROM u)
SELECT u."user", u.access_events, u.patients, round(s.m, 1) AS mean_per_user,
       round(s.m + getvariable('volume_sigma') * s.sd, 1) AS threshold
FROM u, s
WHERE u.access_events > s.m + getvariable('volume_sigma') * s.sd
ORDER BY u.access_events DESC, u."user";
