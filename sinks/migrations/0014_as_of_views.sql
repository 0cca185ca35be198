-- as of: 3, 7
-- Figures as known at a moment (docs/analysts.md, "Figures as known on any date"): the same
-- rules as the stream (docs/semantics.md), written a second time in SQL over report_versions
-- and guarded by tests/integration/sinks/test_as_of.py against tests/reference.py.
-- Parameterized views: SELECT * FROM v_province_quarter_as_of(as_of = '2024-04-05 00:00:00').
-- The `as of` line derives v_province_<period>_as_of, v_national_<period>_as_of and
-- v_district_month_as_of from migrations 3 and 7, over v_district_day_as_of instead of
-- agg_district_day (sinks/migrate.py, as_of_statements).
-- Exact for the max_total casualty rule only (`incidents sql --as-of` refuses another).

-- The current version of every report, by the version order of docs/semantics.md (the
-- highest version, then the later reported_at, then the larger fingerprint); retracted
-- ones included (retracted = 1).
CREATE OR REPLACE VIEW $database.v_reports $on_cluster AS
SELECT *
FROM $database.report_versions
ORDER BY report_id, version DESC, reported_at DESC, fingerprint DESC
LIMIT 1 BY report_id;

-- The current version of every report as known at `as_of`: the highest (version,
-- reported_at, fingerprint) among the versions that had arrived by then, retracted or not.
-- A version arrived when it was published to the raw topic (before migration 13, when the
-- sink received it).
CREATE OR REPLACE VIEW $database.v_reports_as_of $on_cluster AS
SELECT *
FROM $database.report_versions
WHERE if(published_at = toDateTime64(0, 3, 'UTC'), received_at, published_at) <= {as_of:DateTime64(3, 'UTC')}
ORDER BY report_id, version DESC, reported_at DESC, fingerprint DESC
LIMIT 1 BY report_id;

-- Incidents: the current reports, not retracted, grouped by the incident key the sink
-- stamped on each version (incident_id). Killed and injured are each the whole split of one
-- report (rule max_total): the highest total, then fewer unknown, then the later
-- reported_at, then the smaller (source, source_event_id). Subtype and location follow
-- the report chosen for killed.
CREATE OR REPLACE VIEW $database.v_incidents_as_of $on_cluster AS
SELECT
    incident_id,
    occurred_on,
    province,
    district,
    category,
    killed_choice.1 AS subtype,
    killed_choice.2 AS location_display,
    killed_choice.4 AS killed_civilians,
    killed_choice.5 AS killed_security,
    killed_choice.6 AS killed_militants,
    killed_choice.7 AS killed_unknown,
    killed_choice.8 AS killed_total,
    injured_choice.2 AS injured_civilians,
    injured_choice.3 AS injured_security,
    injured_choice.4 AS injured_militants,
    injured_choice.5 AS injured_unknown,
    injured_choice.6 AS injured_total,
    killed_choice.3 AS killed_from,
    injured_choice.1 AS injured_from,
    report_ids
FROM
(
    SELECT
        incident_id,
        any(occurred_on) AS occurred_on,
        any(province) AS province,
        ifNull(any(district), '') AS district,
        any(category) AS category,
        argMin(
            (subtype, ifNull(location, ''), report_id,
             killed_civilians, killed_security, killed_militants, killed_unknown, killed_total),
            (-toInt64(killed_total), killed_unknown, -toUnixTimestamp64Micro(reported_at),
             source, source_event_id)
        ) AS killed_choice,
        argMin(
            (report_id,
             injured_civilians, injured_security, injured_militants, injured_unknown, injured_total),
            (-toInt64(injured_total), injured_unknown, -toUnixTimestamp64Micro(reported_at),
             source, source_event_id)
        ) AS injured_choice,
        arraySort(groupArray(report_id)) AS report_ids
    FROM $database.v_reports_as_of(as_of = {as_of:DateTime64(3, 'UTC')})
    WHERE retracted = 0
    GROUP BY incident_id
);

-- Per district and day, as agg_district_day holds them.
CREATE OR REPLACE VIEW $database.v_district_day_as_of $on_cluster AS
SELECT
    occurred_on AS day,
    province,
    district,
    toUInt32(count()) AS incidents,
    toUInt32(countIf(category = 'terror_attack')) AS terror_attacks,
    toUInt32(countIf(category = 'security_operation')) AS security_operations,
    toUInt32(sum(killed_civilians)) AS killed_civilians,
    toUInt32(sum(killed_security)) AS killed_security,
    toUInt32(sum(killed_militants)) AS killed_militants,
    toUInt32(sum(killed_unknown)) AS killed_unknown,
    toUInt32(sum(killed_total)) AS killed_total,
    toUInt32(sum(injured_civilians)) AS injured_civilians,
    toUInt32(sum(injured_security)) AS injured_security,
    toUInt32(sum(injured_militants)) AS injured_militants,
    toUInt32(sum(injured_unknown)) AS injured_unknown,
    toUInt32(sum(injured_total)) AS injured_total
FROM $database.v_incidents_as_of(as_of = {as_of:DateTime64(3, 'UTC')})
GROUP BY day, province, district;
