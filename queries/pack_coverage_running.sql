-- Audit controls: whether any continuous source reported events in the period (the pack says
-- "collection was running" only if so; otherwise the coverage figures are reported as absent).
-- Citation: 45 CFR 164.312(b).
-- Parameters: period_start, period_end.
-- Columns: hours_with_events.
SELECT count(*) AS hours_with_events
FROM coverage
WHERE window_start >= getvariable('period_start') AND window_start < getvariable('period_end')
  AND "count" > 0;
