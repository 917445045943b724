-- Transmission security: summary of PHI email deliveries in the period.
-- Citation: 45 CFR 164.312(e)(1) transmission security; 164.312(e)(2)(ii) encryption.
-- Shows: deliveries of PHI (phi true, or not marked: treated as PHI) and how many were protected.
--        "protected" = TLS 1.2 or later, or a portal, PGP or S/MIME; findings are plaintext, TLS
--        below 1.2, failed TLS and TLS to an unverified peer (untrusted or anonymous).
-- Parameters: period_start, period_end (TIMESTAMPTZ, end exclusive).
-- Columns: deliveries, protected, share_protected, plaintext, tls_below_1_2, failed_tls,
--          unverified_peer, unknown, findings.
WITH d AS (
    SELECT * FROM outbound_deliveries
    WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
)
SELECT
    count(*) AS deliveries,
    count(*) FILTER (WHERE encryption IN ('portal', 'pgp', 'smime')
                        OR (encryption = 'tls' AND tls_version IN ('TLSv1.2', 'TLSv1.3'))) AS protected,
    round(100.0 * count(*) FILTER (WHERE encryption IN ('portal', 'pgp', 'smime')
                        OR (encryption = 'tls' AND tls_version IN ('TLSv1.2', 'TLSv1.3'))) / nullif(count(*), 0), 1) AS share_protected,
    count(*) FILTER (WHERE encryption = 'none' AND NOT coalesce(tls_failed, false)) AS plaintext,
    count(*) FILTER (WHERE encryption = 'tls' AND tls_version NOT IN ('TLSv1.2', 'TLSv1.3')) AS tls_below_1_2,
    count(*) FILTER (WHERE coalesce(tls_failed, false)) AS failed_tls,
    count(*) FILTER (WHERE encryption = 'tls' AND tls_peer IN ('untrusted', 'anonymous')) AS unverified_peer,
    count(*) FILTER (WHERE encryption = 'unknown') AS unknown,
    count(*) FILTER (WHERE encryption = 'none' OR coalesce(tls_failed, false)
                        OR (encryption = 'tls' AND (tls_version NOT IN ('TLSv1.2', 'TLSv1.3') OR tls_peer IN ('untrusted', 'anonymous')))) AS findings
FROM d;
