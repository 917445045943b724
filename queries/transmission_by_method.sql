-- Transmission security: PHI deliveries by encryption method and TLS version.
-- Citation: 45 CFR 164.312(e)(2)(ii).
-- Parameters: period_start, period_end.
-- Columns: encryption, tls_version, deliveries, share.
SELECT encryption, coalesce(tls_version, '') AS tls_version, count(*) AS deliveries,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share
FROM outbound_deliveries
WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY deliveries DESC, encryption, tls_version;
