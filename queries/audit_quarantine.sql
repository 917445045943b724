-- Audit controls: input that could not be read, kept in quarantine, by source and reason.
-- Citation: 45 CFR 164.312(b).
-- Parameters: period_start, period_end (by time of ingestion).
-- Columns: source, reason, records, first_input.
SELECT source, reason, count(*) AS records, min(input_ref) AS first_input
FROM quarantine
WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY records DESC, source, reason;
