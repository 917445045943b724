-- Accounting of disclosures for one individual (45 CFR 164.528(a)-(b)).
-- Shows: every accountable disclosure (basis not excluded by 164.528(a)(1)) of one patient in the
--        period, oldest first, with how it travelled when it is linked by message_id to recorded
--        deliveries. Patient ids match after normalisation (the view's patient_key, FORMAT.md §17):
--        all whitespace removed, ASCII letters upper-cased, then exact equality, never a prefix or
--        pattern match.
-- Parameters: patient_key (the normalised patient id), period_start, period_end.
-- Columns: idx, date, recipient_name, recipient_address, description, purpose, basis,
--          suspended_until, suspension, delivered, plaintext, tls_min, methods.
WITH x AS (
    SELECT * FROM disclosures
    WHERE accountable
      AND patient_key = getvariable('patient_key')
      AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
), t AS (
    SELECT message_id,
           bool_or(status = 'delivered') AS delivered,
           bool_or(status = 'delivered' AND encryption = 'none') AS plaintext,
           min(tls_version) FILTER (WHERE status = 'delivered' AND encryption = 'tls') AS tls_min,
           string_agg(DISTINCT encryption, ',' ORDER BY encryption) FILTER (WHERE status = 'delivered') AS methods
    FROM deliveries
    WHERE message_id IN (SELECT message_id FROM x WHERE message_id IS NOT NULL)
    GROUP BY message_id
)
SELECT x.idx, strftime(x.ts, '%Y-%m-%d') AS date, x.recipient_name, coalesce(x.recipient_address, '') AS recipient_address,
       coalesce(x.description, '') AS description, x.purpose, x.basis,
       coalesce(CAST(x.suspended_until AS VARCHAR), '') AS suspended_until,
       coalesce(replace(x.detail, 'suspension:', ''), '') AS suspension,
       coalesce(t.delivered, false) AS delivered, coalesce(t.plaintext, false) AS plaintext,
       coalesce(t.tls_min, '') AS tls_min, coalesce(t.methods, '') AS methods
FROM x LEFT JOIN t USING (message_id)
ORDER BY x.ts, x.idx;
