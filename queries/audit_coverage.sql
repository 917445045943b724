-- Audit controls: log coverage per source per day, from the hourly coverage leaves.
-- Citation: 45 CFR 164.312(b) audit controls; 164.308(a)(1)(ii)(D) information system activity review.
-- Shows: for each source and day in the period, events counted and hours with no events (a count of
--        0) or with no coverage leaf at all (collection was not running or the leaf is missing).
-- Parameters: period_start, period_end.
-- Columns: source, day, events, hours_with_events, silent_hours, missing_hours.
WITH c AS (
    SELECT source, window_start, sum("count") AS n FROM coverage
    WHERE window_start >= getvariable('period_start') AND window_start < getvariable('period_end')
    GROUP BY ALL
), span AS (
    SELECT source, min(window_start) AS first_hour, max(window_start) AS last_hour FROM c GROUP BY ALL
), hours AS (
    SELECT source, unnest(generate_series(first_hour, last_hour, INTERVAL 1 HOUR)) AS window_start FROM span
)
SELECT h.source, strftime(h.window_start, '%Y-%m-%d') AS day,
       coalesce(sum(c.n), 0) AS events,
       count(*) FILTER (WHERE c.n > 0) AS hours_with_events,
       count(*) FILTER (WHERE c.n = 0) AS silent_hours,
       count(*) FILTER (WHERE c.n IS NULL) AS missing_hours
FROM hours h LEFT JOIN c USING (source, window_start)
GROUP BY ALL
ORDER BY h.source, day;
