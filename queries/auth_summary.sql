-- Person or entity authentication: sign-ins and second factors in the period.
-- Citation: 45 CFR 164.312(d); MFA as proposed in the 2025 Security Rule NPRM (90 FR 898).
-- Parameters: period_start, period_end.
-- Columns: sign_ins, successful, with_mfa, share_mfa, phishing_resistant, share_phishing_resistant,
--          single_factor_users, denied_or_fraud.
WITH a AS (SELECT * FROM auth_events WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end'))
SELECT count(*) AS sign_ins,
       count(*) FILTER (WHERE outcome = 'success') AS successful,
       count(*) FILTER (WHERE outcome = 'success' AND mfa) AS with_mfa,
       round(100.0 * count(*) FILTER (WHERE outcome = 'success' AND mfa) / nullif(count(*) FILTER (WHERE outcome = 'success'), 0), 1) AS share_mfa,
       count(*) FILTER (WHERE outcome = 'success' AND phishing_resistant) AS phishing_resistant,
       round(100.0 * count(*) FILTER (WHERE outcome = 'success' AND phishing_resistant) / nullif(count(*) FILTER (WHERE outcome = 'success'), 0), 1) AS share_phishing_resistant,
       count(DISTINCT "user") FILTER (WHERE outcome = 'success' AND NOT coalesce(mfa, false)) AS single_factor_users,
       count(*) FILTER (WHERE outcome IN ('denied', 'fraud')) AS denied_or_fraud
FROM a;
