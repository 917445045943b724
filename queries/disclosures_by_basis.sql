-- Accounting of disclosures: disclosures recorded in the period by legal basis.
-- Citation: 45 CFR 164.528(a)(1) (which disclosures are accountable).
-- Parameters: period_start, period_end.
-- Columns: basis, accountable, disclosures, patients.
SELECT basis, accountable, count(*) AS disclosures, count(DISTINCT patient_id) AS patients
FROM disclosures
WHERE ts >= getvariable('period_start') AND ts < getvariable('period_end')
GROUP BY ALL
ORDER BY accountable DESC, disclosures DESC, basis;
