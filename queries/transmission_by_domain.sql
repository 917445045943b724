-- Transmission security: PHI deliveries by recipient domain, most findings first.
-- Citation: 45 CFR 164.312(e)(1).
-- Parameters: period_start, period_end.
-- Columns: recipient_domain, deliveries, protected, findings.
SELECT recipient_domain, count(*) AS deliveries,
       count(*) FILTER (WHERE encryption IN ('portal', 'pgp', 'smime')
                           OR (encryption = 'tls' AND tls_version IN ('TLSv1.2', 'TLSv1.3'))) AS protected,
       count(*) FILTER (WHERE encryption = 'none' OR coalesce(tls_failed, false)
                           OR (encryption = 'tls' AND (tls_version NOT IN ('TLSv1.2', 'TLSv1.3') OR tls_peer IN ('untrusted', 'anonymous')))) AS findings
FROM outbound_deliveries
WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY findings DESC, deliveries DESC, recipient_domain;
