-- Accounting of disclosures: requests received in the period and how they were answered.
-- Citation: 45 CFR 164.528(c) (answer within 60 days; one extension of up to 30 days).
-- Shows: each request by its request id (not the patient), when it was due and fulfilled, and
--        whether it is or was late as of as_of.
-- Parameters: period_start, period_end, as_of (TIMESTAMPTZ).
-- Columns: request, received, due, extended_to, fulfilled, days_taken, late.
WITH r AS (
    SELECT source_event_id AS request, ts AS received, due_at AS due FROM accounting_requests
    WHERE action = 'request' AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
), e AS (
    SELECT resource AS request, max(due_at) AS extended_to FROM accounting_requests WHERE action = 'extend' GROUP BY ALL
), f AS (
    SELECT resource AS request, min(ts) AS fulfilled FROM accounting_requests WHERE action = 'fulfil' GROUP BY ALL
)
SELECT r.request, r.received, r.due, e.extended_to, f.fulfilled,
       date_diff('day', r.received, coalesce(f.fulfilled, getvariable('as_of'))) AS days_taken,
       coalesce(f.fulfilled, getvariable('as_of')) > coalesce(e.extended_to, r.due) AS late
FROM r LEFT JOIN e USING (request) LEFT JOIN f USING (request)
ORDER BY r.received, r.request;
