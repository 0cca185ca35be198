-- Current state, read with FINAL so newer revisions and delete markers win.

CREATE OR REPLACE VIEW $database.v_incidents $on_cluster AS
SELECT * EXCEPT (is_deleted)
FROM $database.incidents FINAL;

CREATE OR REPLACE VIEW $database.v_district_day $on_cluster AS
SELECT * EXCEPT (is_deleted)
FROM $database.agg_district_day FINAL;

CREATE OR REPLACE VIEW $database.v_district_month $on_cluster AS
SELECT
    toStartOfMonth(day) AS month,
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
