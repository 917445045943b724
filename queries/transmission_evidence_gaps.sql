-- Transmission security: what the mail logs could not evidence (a finding on log collection).
-- Citation: 45 CFR 164.312(e)(1); 164.312(b) audit controls.
-- Shows: per source, the PHI deliveries that left or may have left the organisation whose encryption
--        the log does not show (`unknown`), or whose direction it does not show, with the setting
--        that makes the log show it. Unknown is never counted as protected nor as plaintext.
-- Parameters: period_start, period_end.
-- Columns: source, deliveries, encryption_unknown, share_unknown, direction_unknown, what_to_change.
SELECT source,
       count(*) AS deliveries,
       count(*) FILTER (WHERE encryption = 'unknown') AS encryption_unknown,
       round(100.0 * count(*) FILTER (WHERE encryption = 'unknown') / count(*), 1) AS share_unknown,
       count(*) FILTER (WHERE direction = 'unknown') AS direction_unknown,
       CASE WHEN count(*) FILTER (WHERE encryption = 'unknown') = 0
                THEN 'The log does not say whether this mail left the organisation (counted here as if it did): have the source record the direction'
           WHEN source = 'postfix' THEN 'Postfix logged no TLS line for these deliveries: set smtp_tls_loglevel = 1 in main.cf (and on every smtp transport in master.cf) so each TLS session is logged'
           WHEN source = 'm365' THEN 'A message trace carries no TLS information: keep the Exchange admin center Outbound messages in Transit Security report, or ingest the gateway that sends the mail'
           WHEN source = 'gmail' THEN 'The Gmail export left smtp_tls_version empty for these deliveries: check the BigQuery export includes message_info.connection_info'
           WHEN source = 'ocsf' THEN 'OCSF Email Activity has no TLS attribute: have the producer map TLS into unmapped.tls_version'
           ELSE 'The source does not record per-delivery TLS: ingest the log of the system that sends the mail'
       END AS what_to_change
FROM outbound_deliveries
WHERE phi AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY source
HAVING count(*) FILTER (WHERE encryption = 'unknown' OR direction = 'unknown') > 0
ORDER BY source;
