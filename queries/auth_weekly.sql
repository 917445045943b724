-- Person or entity authentication: weekly share of successful sign-ins with a second factor.
-- Citation: 45 CFR 164.312(d).
-- Parameters: period_start, period_end.
-- Columns: week (Monday, UTC), successful, with_mfa, share_mfa.
SELECT strftime(utc_week(ts), '%Y-%m-%d') AS week, count(*) AS successful,
       count(*) FILTER (WHERE mfa) AS with_mfa,
       round(100.0 * count(*) FILTER (WHERE mfa) / count(*), 1) AS share_mfa
FROM auth_events
WHERE outcome = 'success' AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY utc_week(ts)
ORDER BY week;
