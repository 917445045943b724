-- Person or entity authentication: successful sign-ins by factor.
-- Citation: 45 CFR 164.312(d).
-- Parameters: period_start, period_end.
-- Columns: factor, mfa, phishing_resistant, sign_ins.
SELECT coalesce(factor, 'unknown') AS factor, coalesce(mfa, false) AS mfa,
       coalesce(phishing_resistant, false) AS phishing_resistant, count(*) AS sign_ins
FROM auth_events
WHERE outcome = 'success' AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY sign_ins DESC, factor, mfa, phishing_resistant;
