-- Security awareness training: people whose assigned or failed training is past due.
-- Citation: 45 CFR 164.308(a)(5)(i).
-- Parameters: period_start, period_end, training_valid_days.
-- Columns: user, course, status, due_at.
WITH trained AS (
    SELECT DISTINCT lower("user") AS u FROM training
    WHERE status IN ('completed', 'passed') AND coalesce(completed_at, ts) < getvariable('period_end')
      AND coalesce(completed_at, ts) >= getvariable('period_end') - to_days(CAST(getvariable('training_valid_days') AS INTEGER))
)
SELECT "user", course, status, due_at
FROM training
WHERE status IN ('assigned', 'failed') AND due_at < getvariable('period_end')
  AND lower("user") NOT IN (SELECT u FROM trained)
ORDER BY due_at, "user", course;
