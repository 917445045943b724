-- Transmission security: weekly share of PHI deliveries protected in transit (trend chart).
-- Citation: 45 CFR 164.312(e)(1).
-- Parameters: period_start, period_end.
-- Columns: week (Monday, UTC), deliveries, protected, share_protected.
SELECT strftime(utc_week(ts), '%Y-%m-%d') AS week, count(*) AS deliveries,
       count(*) FILTER (WHERE encryption IN ('portal', 'pgp', 'smime')
                           OR (encryption = 'tls' AND tls_version IN ('TLSv1.2', 'TLSv1.3'))) AS protected,
       round(100.0 * count(*) FILTER (WHERE encryption IN ('portal', 'pgp', 'smime')
                           OR (encryption = 'tls' AND tls_version IN ('TLSv1.2', 'TLSv1.3'))) / count(*), 1) AS share_protected
FROM outbound_deliveries
WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY utc_week(ts)
ORDER BY week;
