-- Transmission security: every PHI delivery that was not protected in transit.
-- Citation: 45 CFR 164.312(e)(1), (e)(2)(ii).
-- Shows: plaintext, TLS below 1.2, failed TLS and unverified-peer deliveries of PHI, oldest first,
--        each with its leaf index so it can be proven with `sealtrail proof inclusion`.
-- Parameters: period_start, period_end.
-- Columns: ts, finding, recipient, recipient_domain, encryption, tls_version, tls_peer, status, message_id, idx.
SELECT ts,
       CASE WHEN coalesce(tls_failed, false) THEN 'failed TLS'
            WHEN encryption = 'none' THEN 'plaintext'
            WHEN tls_version NOT IN ('TLSv1.2', 'TLSv1.3') THEN 'TLS below 1.2'
            ELSE 'unverified peer' END AS finding,
       recipient, recipient_domain, encryption, coalesce(tls_version, '') AS tls_version,
       coalesce(tls_peer, '') AS tls_peer, status, coalesce(message_id, '') AS message_id, idx
FROM outbound_deliveries
WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
  AND (encryption = 'none' OR coalesce(tls_failed, false)
       OR (encryption = 'tls' AND (tls_version NOT IN ('TLSv1.2', 'TLSv1.3') OR tls_peer IN ('untrusted', 'anonymous'))))
ORDER BY ts, idx;
