-- Operations: events received in the 24 hours before `as_of`, by source (the console dashboard's
--             "is collection running" view). Counts by time of ingestion, not event time.
-- Citation: 45 CFR 164.312(b) audit controls.
-- Parameters: as_of.
-- Columns: source, events, last_received.
SELECT source, count(*) AS events, strftime(max(ingested_at), '%Y-%m-%d %H:%M UTC') AS last_received
FROM leaves
WHERE kind IN ('delivery', 'auth', 'access', 'disclosure', 'training')
  AND ingested_at >= getvariable('as_of') - INTERVAL 24 HOUR AND ingested_at < getvariable('as_of')
GROUP BY ALL
ORDER BY source;
