-- reapply: 2, 3
-- Calendar functions such as toStartOfMonth return Date, which clamps a Date32 before
-- 1970 to 1970-01-01: the period views now compute period starts with Date32 arithmetic
-- (sinks/migrate.py PERIODS). A view keeps the column types it was created with, so every
-- view over the rebuilt tables (0002, 0003) is created again, then v_district_month.

CREATE OR REPLACE VIEW $database.v_district_month $on_cluster AS
SELECT
    day - (toDayOfMonth(day) - 1) AS month,
    province,
    district,
    sum(incidents) AS incidents,
    sum(terror_attacks) AS terror_attacks,
    sum(security_operations) AS security_operations,
    sum(killed_civilians) AS killed_civilians,
    sum(killed_security) AS killed_security,
    sum(killed_militants) AS killed_militants,
    sum(killed_unknown) AS killed_unknown,
    sum(killed_total) AS killed_total,
    sum(injured_civilians) AS injured_civilians,
    sum(injured_security) AS injured_security,
    sum(injured_militants) AS injured_militants,
    sum(injured_unknown) AS injured_unknown,
    sum(injured_total) AS injured_total
FROM $database.agg_district_day FINAL
GROUP BY month, province, district;
