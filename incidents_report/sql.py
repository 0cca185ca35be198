"""The quarterly report's SQL: one query per section, over the analyst views
(docs/analysts.md), the current version of each report (v_reports), the dead letters in
rejected_reports and the data-quality runs in v_dq_latest.

`incidents report --as-of` runs the same SQL with every view that has an as-of twin read
through it (sinks.as_of.rewrite): name views here, not the tables under them.

Every query takes the quarter as the parameter `{q:Date}` (its first day) and filters its
own period in one visible WHERE; incidents_report/data.py runs them and builds the model.
"""

from __future__ import annotations

_VICTIM_COLUMNS = """
    c.killed_civilians AS killed_civilians, c.killed_security AS killed_security,
    c.killed_militants AS killed_militants, c.killed_unknown AS killed_unknown,
    c.killed_total AS killed_total,
    c.injured_civilians AS injured_civilians, c.injured_security AS injured_security,
    c.injured_militants AS injured_militants, c.injured_unknown AS injured_unknown,
    c.injured_total AS injured_total"""


def _change(column: str, other: str) -> str:
    return (
        f"if({other}.{column} > 0, round((toInt64(c.{column}) - {other}.{column}) * 100"
        f" / {other}.{column}, 1), NULL)"
    )


def _other_quarter(alias: str, shift: str) -> str:
    return f"""
LEFT JOIN
(
    SELECT quarter, quarter_label,
           toNullable(toInt64(incidents)) AS incidents,
           toNullable(toInt64(killed_total)) AS killed_total,
           toNullable(toInt64(injured_total)) AS injured_total
    FROM v_national_quarter
    WHERE quarter = {shift.format(q="{q:Date}")}
) AS {alias} ON {alias}.quarter = {shift.format(q="c.quarter")}"""


# The quarter against the previous one and the same quarter a year before: v_national_quarter
# joined to itself (a missing row is a quarter without incidents: NULL, not 0).
NATIONAL_SQL = f"""
SELECT
    c.incidents AS incidents, c.terror_attacks AS terror_attacks,
    c.security_operations AS security_operations,{_VICTIM_COLUMNS},
    p.incidents AS prev_incidents, p.killed_total AS prev_killed,
    p.injured_total AS prev_injured,
    {_change("incidents", "p")} AS prev_incidents_change_pct,
    {_change("killed_total", "p")} AS prev_killed_change_pct,
    {_change("injured_total", "p")} AS prev_injured_change_pct,
    y.incidents AS yoy_incidents, y.killed_total AS yoy_killed, y.injured_total AS yoy_injured,
    {_change("incidents", "y")} AS yoy_incidents_change_pct,
    {_change("killed_total", "y")} AS yoy_killed_change_pct,
    {_change("injured_total", "y")} AS yoy_injured_change_pct
FROM (SELECT * FROM v_national_quarter WHERE quarter = {{q:Date}}) AS c
{_other_quarter("p", "addQuarters({q}, -1)")}
{_other_quarter("y", "addYears({q}, -1)")}
"""

PROVINCES_SQL = """
SELECT
    province, incidents, terror_attacks, security_operations,
    killed_total AS killed, injured_total AS injured,
    killed_civilians, killed_security, killed_militants, killed_unknown,
    fatality_share_pct,
    round(incidents * 100 / sum(incidents) OVER (), 1) AS incident_share_pct,
    killed_change_pct, incidents_change_pct
FROM v_province_quarter
WHERE quarter = {q:Date}
ORDER BY killed DESC, incidents DESC, province
"""

DISTRICTS_SQL = """
SELECT
    province, district,
    sum(incidents) AS incidents,
    sum(terror_attacks) AS terror_attacks,
    sum(security_operations) AS security_operations,
    sum(killed_total) AS killed,
    sum(injured_total) AS injured
FROM v_district_month
WHERE month >= {q:Date} AND month < addQuarters({q:Date}, 1)
GROUP BY province, district
ORDER BY killed DESC, incidents DESC, injured DESC, province, district
"""

DEADLIEST_SQL = """
SELECT
    incident_id, occurred_on, province, district, location_display, category, subtype,
    killed_total AS killed, injured_total AS injured, report_ids
FROM v_incidents
WHERE occurred_on >= {q:Date} AND occurred_on < addQuarters({q:Date}, 1)
ORDER BY killed DESC, injured DESC, occurred_on, incident_id
LIMIT {n:UInt32}
"""

# The quarter's three months, nationally; a month without incidents is a row of zeros.
MONTHS_SQL = """
SELECT
    months.month AS month,
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.terror_attacks) AS terror_attacks,
    toUInt64(v.security_operations) AS security_operations,
    toUInt64(v.killed_total) AS killed,
    toUInt64(v.injured_total) AS injured
FROM (SELECT addMonths({q:Date}, toInt32(number)) AS month FROM numbers(3)) AS months
LEFT JOIN v_national_month AS v ON v.month = months.month
ORDER BY month
"""

# A group's name as the reports spell it, made comparable: white space collapsed; ACLED's
# "TTP: Tehreek-i-Taliban Pakistan" cut to the short name before the colon; a name that
# says the attacker is unidentified or unknown counts as no name.
_NAMED = """
    trimBoth(replaceRegexpAll(ifNull(perpetrator, ''), '[[:space:]]+', ' ')) AS spaced,
    if(match(spaced, '^[^:]{1,24}:'), trimBoth(replaceRegexpOne(spaced, ':.*$', '')), spaced)
        AS short,
    if(match(lower(short), '^(unidentified|unknown|unnamed|not known)'), '', short) AS name,
    lower(name) AS group_key"""

# Perpetrators. An incident's group is chosen among its current reports (incidents.report_ids),
# each read at its latest version: the group named by the report its killed figure was taken
# from (incidents.killed_from); else the group most of its reports name; a tie goes to the
# name first in alphabetical order; no report naming a group: unnamed (''). So every incident
# counts once, and the groups add up to the quarter.
PERPETRATORS_SQL = f"""
WITH
quarter_incidents AS (
    SELECT incident_id, category, killed_total, injured_total, killed_from, report_ids
    FROM v_incidents
    WHERE occurred_on >= {{q:Date}} AND occurred_on < addQuarters({{q:Date}}, 1)
),
latest AS (
    SELECT report_id, ifNull(perpetrator, '') AS perpetrator
    FROM v_reports
    WHERE report_id IN (SELECT arrayJoin(report_ids) FROM quarter_incidents)
),
named AS (
    SELECT report_id,{_NAMED}
    FROM latest
),
votes AS (
    SELECT
        i.incident_id AS incident_id,
        n.group_key AS group_key,
        min(n.name) AS name,
        count() AS reports,
        max(n.report_id = i.killed_from) AS from_killed
    FROM quarter_incidents AS i
    ARRAY JOIN i.report_ids AS rid
    INNER JOIN named AS n ON n.report_id = rid
    WHERE n.group_key != ''
    GROUP BY incident_id, group_key
),
chosen AS (
    SELECT
        incident_id,
        arraySort(
            v -> (-toInt64(v.1), -toInt64(v.2), v.3),
            groupArray((from_killed, reports, group_key, name))
        )[1] AS pick,
        uniqExact(group_key) AS groups_named
    FROM votes
    GROUP BY incident_id
)
SELECT
    i.category AS category,
    c.pick.3 AS group_key,
    min(c.pick.4) AS perpetrator,
    count() AS incidents,
    sum(i.killed_total) AS killed,
    sum(i.injured_total) AS injured,
    countIf(c.groups_named > 1) AS disputed
FROM quarter_incidents AS i
LEFT JOIN chosen AS c ON c.incident_id = i.incident_id
GROUP BY category, group_key
ORDER BY category DESC, group_key = '', killed DESC, incidents DESC, group_key
"""

# The newest report the warehouse has received: what the figures are "as of" (when each
# current version arrived; before migration 13, when the sink received it).
NEWEST_REPORT_SQL = """
SELECT
    max(if(published_at = toDateTime64(0, 3, 'UTC'), received_at, published_at)) AS newest,
    count() AS versions
FROM v_reports
"""

# Lineage: the reports an incident merges, each with its source and the url of its current
# version (v_reports: the version order of docs/semantics.md).
SOURCES_SQL = """
SELECT report_id, source, url
FROM v_reports
WHERE report_id IN {ids:Array(String)}
ORDER BY report_id
"""

# Per province and quarter over the last eight quarters, but not before the warehouse's
# first recorded incident: a quarter before it is unknown, not zero. Within that range a
# province without a row had no incidents (0).
# The last {n} quarters up to {q}, from the first quarter the warehouse has on.
_QUARTERS = """(
    SELECT addQuarters({q:Date}, -toInt32(number)) AS quarter
    FROM numbers({n:UInt32})
    WHERE quarter >= (SELECT min(quarter) FROM v_national_quarter)
) AS quarters"""
_QUARTER_LABEL = (
    "concat(toString(toYear(quarters.quarter)), '-Q', toString(toQuarter(quarters.quarter)))"
    " AS quarter_label"
)

TREND_SQL = f"""
SELECT
    quarters.quarter AS quarter,
    {_QUARTER_LABEL},
    provinces.province AS province,
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.killed_total) AS killed
FROM {_QUARTERS}
CROSS JOIN
(
    SELECT DISTINCT province
    FROM v_province_quarter
    WHERE quarter > addQuarters({{q:Date}}, -{{n:UInt32}}) AND quarter <= {{q:Date}}
) AS provinces
LEFT JOIN v_province_quarter AS v
    ON v.quarter = quarters.quarter AND v.province = provinces.province
ORDER BY quarter, province
"""

# The national totals of the same quarters (the numbers on top of the trend chart's bars).
TREND_NATIONAL_SQL = f"""
SELECT
    {_QUARTER_LABEL},
    toUInt64(v.incidents) AS incidents,
    toUInt64(v.killed_total) AS killed
FROM {_QUARTERS}
LEFT JOIN v_national_quarter AS v ON v.quarter = quarters.quarter
ORDER BY quarters.quarter
"""

FIRST_QUARTER_SQL = "SELECT min(quarter) AS first FROM v_national_quarter"

DQ_EXISTS_SQL = "EXISTS TABLE v_dq_latest"
DQ_SQL = """
SELECT run_id, started_at, finished_at, success, expectations, failed, suites, trigger
FROM v_dq_latest
ORDER BY finished_at DESC
LIMIT 1
"""

# A dead letter belongs to the quarter when its raw text names an occurred_on in it (read
# with a pattern, so a malformed JSON line counts too) or when it was received during it.
_DEAD_LETTER_FILTER = """
    toDate32OrNull(extract(raw,
        '"occurred_on"[[:space:]]*:[[:space:]]*"([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])"'))
        AS named_day,
    toDate(received_at, 'Asia/Karachi') AS received_day,
    ifNull(named_day >= {q:Date} AND named_day < addQuarters({q:Date}, 1), 0) AS named_in,
    received_day >= {q:Date} AND received_day < addQuarters({q:Date}, 1) AS received_in"""

DEAD_LETTERS_SQL = f"""
WITH{_DEAD_LETTER_FILTER}
SELECT
    countIf(named_in OR received_in) AS total,
    countIf(named_in) AS named_in_quarter,
    countIf(received_in) AS received_in_quarter
FROM rejected_reports FINAL
"""

DEAD_LETTER_REASONS_SQL = f"""
WITH{_DEAD_LETTER_FILTER}
SELECT if(reason = '', 'unspecified', reason) AS why, count() AS letters
FROM rejected_reports FINAL
WHERE named_in OR received_in
GROUP BY why
ORDER BY letters DESC, why
"""
