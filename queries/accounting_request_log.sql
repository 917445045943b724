-- Accounting requests with their state, for `sealtrail accounting` (not shipped in packs: it
-- names patients).
-- Citation: 45 CFR 164.528(c)-(d).
-- Parameters: none.
-- Columns: request, patient_id, patient_key, received, window_start, window_end, due, extensions,
--          extended_to, fulfilled, detail.
WITH r AS (
    SELECT source_event_id AS request, patient_id, patient_key(patient_id) AS patient_key,
           ts AS received, window_start, window_end, due_at AS due, detail
    FROM accounting_requests WHERE action = 'request'
), e AS (
    SELECT resource AS request, count(*) AS extensions, max(due_at) AS extended_to
    FROM accounting_requests WHERE action = 'extend' GROUP BY ALL
), f AS (
    SELECT resource AS request, min(ts) AS fulfilled FROM accounting_requests WHERE action = 'fulfil' GROUP BY ALL
)
SELECT r.request, r.patient_id, r.patient_key, strftime(r.received, '%Y-%m-%d') AS received,
       strftime(r.window_start, '%Y-%m-%d') AS window_start, strftime(r.window_end, '%Y-%m-%d') AS window_end,
       strftime(r.due, '%Y-%m-%d') AS due, coalesce(e.extensions, 0) AS extensions,
       coalesce(strftime(e.extended_to, '%Y-%m-%d'), '') AS extended_to,
       coalesce(strftime(f.fulfilled, '%Y-%m-%d'), '') AS fulfilled, coalesce(r.detail, '') AS detail
FROM r LEFT JOIN e USING (request) LEFT JOIN f USING (request)
ORDER BY r.received, r.request;
