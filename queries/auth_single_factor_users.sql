-- Person or entity authentication: users with any successful sign-in without a second factor.
-- Citation: 45 CFR 164.312(d); proposed 164.312(f) MFA (2025 NPRM).
-- Parameters: period_start, period_end.
-- Columns: user, single_factor_sign_ins, first_seen, last_seen, sources.
SELECT "user", count(*) AS single_factor_sign_ins, min(ts) AS first_seen, max(ts) AS last_seen,
       string_agg(DISTINCT source, ', ' ORDER BY source) AS sources
FROM auth_events
WHERE outcome = 'success' AND NOT coalesce(mfa, false)
  AND ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY single_factor_sign_ins DESC, "user";
