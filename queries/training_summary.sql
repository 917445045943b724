-- Security awareness training: share of the workforce with current training.
-- Citation: 45 CFR 164.308(a)(5)(i).
-- Shows: the workforce is every user with a training record or active in the sign-in or access logs
--        in the period; "trained" means a completed or passed course within training_valid_days
--        before the end of the period.
-- Parameters: period_start, period_end, training_valid_days (default 365).
-- Columns: workforce, trained, share_trained, overdue, active_untrained.
WITH active AS (
    SELECT DISTINCT lower("user") AS u FROM auth_events WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
    UNION SELECT DISTINCT lower("user") FROM access_events WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
), roster AS (
    SELECT DISTINCT lower("user") AS u FROM training UNION SELECT u FROM active
), trained AS (
    SELECT DISTINCT lower("user") AS u FROM training
    WHERE status IN ('completed', 'passed') AND coalesce(completed_at, ts) < getvariable('period_end')
      AND coalesce(completed_at, ts) >= getvariable('period_end') - to_days(CAST(getvariable('training_valid_days') AS INTEGER))
), overdue AS (
    SELECT DISTINCT lower("user") AS u FROM training
    WHERE status IN ('assigned', 'failed') AND due_at < getvariable('period_end')
      AND lower("user") NOT IN (SELECT u FROM trained)
)
SELECT (SELECT count(*) FROM roster) AS workforce,
       (SELECT count(*) FROM trained) AS trained,
       round(100.0 * (SELECT count(*) FROM trained) / nullif((SELECT count(*) FROM roster), 0), 1) AS share_trained,
       (SELECT count(*) FROM overdue) AS overdue,
       (SELECT count(*) FROM active WHERE u NOT IN (SELECT u FROM trained)) AS active_untrained;
