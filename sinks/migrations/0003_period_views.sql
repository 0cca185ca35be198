-- foreach period: week, month, quarter, year
-- Rollups of agg_district_day per calendar period of the local date, by province and
-- nationally. Rendered once per period: $period is the column name, $period_start the
-- period's first day from `day`, $period_label its label, $period_prev the previous period.
-- Change percentages are NULL when the previous period has no rows or a zero count.

CREATE OR REPLACE VIEW $database.v_province_$period $on_cluster AS
SELECT
    $period,
    $period_label AS ${period}_label,
    province,
    incidents,
    terror_attacks,
    security_operations,
    killed_civilians,
    killed_security,
    killed_militants,
    killed_unknown,
    killed_total,
    injured_civilians,
    injured_security,
    injured_militants,
    injured_unknown,
    injured_total,
    if(national_killed = 0, 0, round(killed_total * 100 / national_killed, 1)) AS fatality_share_pct,
    if(prev_period = $period_prev AND prev_killed > 0,
       round((toInt64(killed_total) - prev_killed) * 100 / prev_killed, 1), NULL) AS killed_change_pct,
    if(prev_period = $period_prev AND prev_incidents > 0,
       round((toInt64(incidents) - prev_incidents) * 100 / prev_incidents, 1), NULL) AS incidents_change_pct
FROM
(
    SELECT
        *,
        sum(killed_total) OVER (PARTITION BY $period) AS national_killed,
        lagInFrame(toNullable($period)) OVER w AS prev_period,
        lagInFrame(toNullable(toInt64(killed_total))) OVER w AS prev_killed,
        lagInFrame(toNullable(toInt64(incidents))) OVER w AS prev_incidents
    FROM
    (
        SELECT
            $period_start AS $period,
            province,
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
        GROUP BY $period, province
    )
    WINDOW w AS (PARTITION BY province ORDER BY $period ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
ORDER BY $period, province;

CREATE OR REPLACE VIEW $database.v_national_$period $on_cluster AS
SELECT
    $period,
    $period_label AS ${period}_label,
    incidents,
    terror_attacks,
    security_operations,
    killed_civilians,
    killed_security,
    killed_militants,
    killed_unknown,
    killed_total,
    injured_civilians,
    injured_security,
    injured_militants,
    injured_unknown,
    injured_total,
    if(prev_period = $period_prev AND prev_killed > 0,
       round((toInt64(killed_total) - prev_killed) * 100 / prev_killed, 1), NULL) AS killed_change_pct,
    if(prev_period = $period_prev AND prev_incidents > 0,
       round((toInt64(incidents) - prev_incidents) * 100 / prev_incidents, 1), NULL) AS incidents_change_pct
FROM
(
    SELECT
        *,
        lagInFrame(toNullable($period)) OVER w AS prev_period,
        lagInFrame(toNullable(toInt64(killed_total))) OVER w AS prev_killed,
        lagInFrame(toNullable(toInt64(incidents))) OVER w AS prev_incidents
    FROM
    (
        SELECT
            $period_start AS $period,
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
        GROUP BY $period
    )
    WINDOW w AS (ORDER BY $period ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
ORDER BY $period;
