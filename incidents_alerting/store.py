"""Alerting's reads and writes in ClickHouse: series, stored alerts, silences, deliveries.

Every query takes its values as parameters; table names are the validated database name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from incidents_alerting.evaluate import Area, Day, Episode, Incident
from incidents_alerting.lifecycle import Change, Silence, Stored
from sinks.tables import ALERT_DELIVERIES, ALERT_SILENCES, ALERTS


class AlertStore:
    """The warehouse as alerting sees it (one client, one database)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database

    def _rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._client.query(sql, parameters=params).result_rows]

    # --- what the rules read ------------------------------------------------------------

    def data_start(self) -> date | None:
        """The first day the warehouse has data for (quiet-district and baselines start there)."""
        rows = self._rows(f"SELECT min(day), count() FROM {self._db}.agg_district_day FINAL")
        return rows[0][0] if rows and rows[0][1] else None

    def series_many(self, areas: Iterable[Area]) -> dict[Area, dict[date, Day]]:
        """Each area's incidents and killed per day, with each incident's killed (a province
        sums its districts), from the live incidents.

        Two queries for any number of areas: districts, then whole provinces. Each counts
        the incidents of an area-day by their killed, so a row is a (day, toll) pair.
        """
        wanted = set(areas)
        tolls: dict[Area, dict[date, list[int]]] = {a: {} for a in wanted}
        pairs = sorted((a.province, a.district) for a in wanted if a.district)
        provinces = sorted({a.province for a in wanted if not a.district})
        if pairs:
            rows = self._rows(
                "SELECT province, district, occurred_on, killed_total, count()"
                f" FROM {self._db}.incidents FINAL"
                " WHERE (province, district) IN {keys:Array(Tuple(String, String))}"
                " AND is_deleted = 0 GROUP BY province, district, occurred_on, killed_total",
                keys=pairs,
            )
            for p, d, day, killed, n in rows:
                tolls[Area(p, d)].setdefault(day, []).extend([int(killed)] * int(n))
        if provinces:
            rows = self._rows(
                "SELECT province, occurred_on, killed_total, count()"
                f" FROM {self._db}.incidents FINAL"
                " WHERE province IN {keys:Array(String)} AND is_deleted = 0"
                " GROUP BY province, occurred_on, killed_total",
                keys=provinces,
            )
            for p, day, killed, n in rows:
                tolls[Area(p)].setdefault(day, []).extend([int(killed)] * int(n))
        return {a: {day: Day.of(t) for day, t in days.items()} for a, days in tolls.items()}

    def national_series(self) -> dict[date, Day]:
        """The whole country's incidents per day, with each one's killed (one query): what
        the fatality rule shrinks a province's tolls toward."""
        rows = self._rows(
            "SELECT occurred_on, killed_total, count()"
            f" FROM {self._db}.incidents FINAL WHERE is_deleted = 0"
            " GROUP BY occurred_on, killed_total"
        )
        tolls: dict[date, list[int]] = {}
        for day, killed, n in rows:
            tolls.setdefault(day, []).extend([int(killed)] * int(n))
        return {day: Day.of(t) for day, t in tolls.items()}

    def report_days(self, provinces: Iterable[str]) -> dict[str, list[date]]:
        """The days each province has any report on (any source, version or district):
        what coverage is made of (incidents_alerting.coverage)."""
        wanted = sorted(set(provinces))
        out: dict[str, list[date]] = {p: [] for p in wanted}
        if not wanted:
            return out
        rows = self._rows(
            "SELECT province, groupUniqArray(occurred_on)"
            f" FROM {self._db}.report_versions FINAL"
            " WHERE province IN {p:Array(String)} GROUP BY province",
            p=wanted,
        )
        for province, days in rows:
            out[province] = sorted(days)
        return out

    def incident_ids(self, windows: list[tuple[Area, date, date]]) -> list[list[str]]:
        """The live incidents of each (area, first day, last day), at most 200 each, by day
        and id: what an alert points analysts to. One query for all the windows of an
        evaluation (it was one per changed alert)."""
        if not windows:
            return []
        # The constant bounds let the primary key (province, district, day) narrow the read
        # before each incident row is paired with every window.
        districts = {a.district for a, _, _ in windows}
        rows = self._rows(
            "SELECT w.1 AS n, incident_id"
            f" FROM {self._db}.incidents FINAL"
            " ARRAY JOIN {w:Array(Tuple(UInt32, String, String, Date32, Date32))} AS w"
            " WHERE province IN {provinces:Array(String)}"
            " AND ({whole:Bool} OR district IN {districts:Array(String)})"
            " AND occurred_on BETWEEN {first:Date32} AND {last:Date32} AND is_deleted = 0"
            " AND province = w.2 AND (w.3 = '' OR district = w.3)"
            " AND occurred_on BETWEEN w.4 AND w.5"
            " ORDER BY n, occurred_on, incident_id LIMIT 200 BY n",
            w=[
                (n, a.province, a.district, first, last)
                for n, (a, first, last) in enumerate(windows)
            ],
            provinces=sorted({a.province for a, _, _ in windows}),
            whole="" in districts,
            districts=sorted(districts),
            first=min(first for _, first, _ in windows),
            last=max(last for _, _, last in windows),
        )
        out: list[list[str]] = [[] for _ in windows]
        for n, incident_id in rows:
            out[n].append(incident_id)
        return out

    def incidents_on(self, district_days: Iterable[tuple[str, str, date]]) -> list[Incident]:
        """The live incidents of some district-days (for the mass-casualty rule)."""
        keys = sorted(set(district_days))
        if not keys:
            return []
        rows = self._rows(
            "SELECT incident_id, province, district, occurred_on, killed_total,"
            " location_display, subtype"
            f" FROM {self._db}.incidents FINAL"
            " WHERE (province, district, occurred_on)"
            " IN {keys:Array(Tuple(String, String, Date32))}"
            " AND is_deleted = 0",
            keys=keys,
        )
        return [
            Incident(i, Area(p, d), day, int(k), loc or "", sub or "")
            for i, p, d, day, k, loc, sub in rows
        ]

    # --- stored alerts ------------------------------------------------------------------

    _ALERT_COLUMNS = (
        "alert_id, seq, state, observed, expected, p_value, last_day, notified_state,"
        " notified_observed, rule, province, district, incident_id, first_day, peak_start,"
        " peak_end, summary"
    )

    def stored_areas(
        self, rules: Iterable[str], areas: Iterable[Area]
    ) -> dict[tuple[str, Area], dict[str, tuple[Stored, Episode]]]:
        """The latest state of the area alerts of some rules and areas, by (rule, area)."""
        pairs = sorted({(a.province, a.district) for a in areas})
        names = sorted(set(rules))
        out: dict[tuple[str, Area], dict[str, tuple[Stored, Episode]]] = {}
        if not pairs or not names:
            return out
        rows = self._rows(
            f"SELECT {self._ALERT_COLUMNS} FROM {self._db}.alerts FINAL"
            " WHERE rule IN {r:Array(String)} AND incident_id = ''"
            " AND (province, district) IN {keys:Array(Tuple(String, String))}"
            " ORDER BY alert_id, seq DESC LIMIT 1 BY alert_id",
            r=names,
            keys=pairs,
        )
        for r in rows:
            stored, episode = _stored_row(r)
            out.setdefault((episode.rule, episode.area), {})[r[0]] = (stored, episode)
        return out

    def stored_on(
        self, rule: str, days: Iterable[tuple[str, str, date]]
    ) -> dict[str, tuple[Stored, Episode]]:
        """The latest state of a rule's alerts that start on some district-days."""
        keys = sorted(set(days))
        if not keys:
            return {}
        rows = self._rows(
            f"SELECT {self._ALERT_COLUMNS} FROM {self._db}.alerts FINAL"
            " WHERE rule = {r:String} AND (province, district, first_day)"
            " IN {keys:Array(Tuple(String, String, Date32))}"
            " ORDER BY alert_id, seq DESC LIMIT 1 BY alert_id",
            r=rule,
            keys=keys,
        )
        return {r[0]: _stored_row(r) for r in rows}

    def stored_scope(self, rule: str, scope: str) -> dict[str, tuple[Stored, Episode]]:
        """The latest state of a rule's alerts about one thing (an incident, a dq suite)."""
        rows = self._rows(
            f"SELECT {self._ALERT_COLUMNS} FROM {self._db}.alerts FINAL"
            " WHERE rule = {r:String} AND incident_id = {i:String}"
            " ORDER BY alert_id, seq DESC LIMIT 1 BY alert_id",
            r=rule,
            i=scope,
        )
        return {r[0]: _stored_row(r) for r in rows}

    def firing(self) -> list[tuple[Stored, Episode]]:
        """Every alert whose latest state is firing (the periodic resolution check)."""
        rows = self._rows(
            f"SELECT {self._ALERT_COLUMNS} FROM"
            f" (SELECT * FROM {self._db}.alerts FINAL ORDER BY alert_id, seq DESC"
            "  LIMIT 1 BY alert_id) WHERE state = 'firing'"
        )
        return [_stored_row(r) for r in rows]

    def notified_firing(self) -> list[tuple[Change, list[str]]]:
        """Alerts firing whose firing receivers were told of (they repeat after a restart)."""
        rows = self._rows(
            f"SELECT event, notify, silenced_by, {self._ALERT_COLUMNS}, incident_ids FROM"
            f" (SELECT * FROM {self._db}.alerts FINAL ORDER BY alert_id, seq DESC"
            "  LIMIT 1 BY alert_id) WHERE state = 'firing' AND notified_state = 'firing'"
        )
        return [_change_row(r) for r in rows]

    def record(self, changes: list[Change], incident_ids: dict[str, list[str]]) -> None:
        """Insert the changes into the alerts history."""
        if not changes:
            return
        now = datetime.now(UTC)
        rows = []
        for c in changes:
            e = c.episode
            values = {
                "alert_id": e.alert_id,
                "seq": c.seq,
                "rule": e.rule,
                "event": c.event,
                "state": c.state,
                "province": e.area.province,
                "district": e.area.district,
                "area_kind": e.area.kind,
                "incident_id": e.incident_id,
                "first_day": e.start,
                "last_day": e.end,
                "peak_start": e.peak_start,
                "peak_end": e.peak_end,
                "observed": e.observed,
                "expected": e.expected,
                "p_value": e.p_value,
                "summary": e.summary,
                "incident_ids": incident_ids.get(e.alert_id, []),
                "notify": int(c.notify),
                "silenced_by": c.silenced_by,
                "notified_state": c.notified_state,
                "notified_observed": c.notified_observed,
                "recorded_at": now,
            }
            rows.append([values[name] for name in ALERTS.column_names])
        self._client.insert(
            ALERTS.name,
            rows,
            database=self._db,
            column_names=ALERTS.column_names,
            column_type_names=ALERTS.column_types,
        )

    # --- silences and deliveries --------------------------------------------------------

    def silences(self) -> list[Silence]:
        """Silences that are not deleted and not yet over."""
        rows = self._rows(
            "SELECT silence_id, rule, province, district, starts_at, ends_at"
            f" FROM {self._db}.alert_silences FINAL WHERE deleted = 0 AND ends_at > now64(3)"
        )
        return [Silence(i, r, p, d, _utc(s), _utc(e)) for i, r, p, d, s, e in rows]

    def save_silence(self, values: dict[str, Any]) -> None:
        self._client.insert(
            ALERT_SILENCES.name,
            [[values[name] for name in ALERT_SILENCES.column_names]],
            database=self._db,
            column_names=ALERT_SILENCES.column_names,
            column_type_names=ALERT_SILENCES.column_types,
        )

    def record_deliveries(
        self, deliveries: list[tuple[str, int, str, int, bool, int, str]]
    ) -> None:
        """Insert delivery attempts (alert id, seq, notifier, attempt, ok, status, error)."""
        now = datetime.now(UTC)
        rows = [
            [alert_id, seq, notifier, attempt, now, int(ok), status, error[:500]]
            for alert_id, seq, notifier, attempt, ok, status, error in deliveries
        ]
        self._client.insert(
            ALERT_DELIVERIES.name,
            rows,
            database=self._db,
            column_names=ALERT_DELIVERIES.column_names,
            column_type_names=ALERT_DELIVERIES.column_types,
        )

    def undelivered(
        self, notifier: str, since: date, *, paging: bool = True
    ) -> list[tuple[Change, list[str]]]:
        """Changes meant for `notifier` without a successful delivery (after a restart).

        For a paging notifier: the changes that would page, recorded after the last one it
        got for each alert (the outbox turns them into one net change again). For the feed:
        every change it did not get.
        """
        if paging:
            rows = self._rows(
                f"SELECT a.event, a.notify, a.silenced_by, {self._ALERT_COLUMNS}, a.incident_ids"
                f" FROM {self._db}.alerts AS a FINAL"
                f" LEFT JOIN (SELECT alert_id, max(seq) AS done"
                f"   FROM {self._db}.alert_deliveries FINAL"
                "   WHERE notifier = {n:String} AND ok = 1 GROUP BY alert_id) AS d"
                "   ON d.alert_id = a.alert_id"
                " WHERE a.notify = 1 AND a.last_day >= {since:Date32} AND a.seq > d.done"
                " ORDER BY a.alert_id, a.seq",
                since=since,
                n=notifier,
            )
        else:
            rows = self._rows(
                f"SELECT a.event, a.notify, a.silenced_by, {self._ALERT_COLUMNS}, a.incident_ids"
                f" FROM {self._db}.alerts AS a FINAL"
                " WHERE a.last_day >= {since:Date32}"
                f" AND (a.alert_id, a.seq) NOT IN (SELECT alert_id, seq"
                f"   FROM {self._db}.alert_deliveries FINAL"
                "   WHERE notifier = {n:String} AND ok = 1)"
                " ORDER BY a.recorded_at, a.alert_id, a.seq",
                since=since,
                n=notifier,
            )
        return [_change_row(r) for r in rows]


def _change_row(row: tuple[Any, ...]) -> tuple[Change, list[str]]:
    """(event, notify, silenced_by, *alert columns, incident_ids) -> the change, its ids."""
    event, notify, silenced_by, *alert, ids = row
    stored, episode = _stored_row(tuple(alert))
    change = Change(
        episode,
        stored.seq,
        event,
        stored.state,
        bool(notify),
        silenced_by,
        stored.notified_state,
        stored.notified_observed,
    )
    return change, list(ids)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_row(row: tuple[Any, ...]) -> tuple[Stored, Episode]:
    (
        alert_id,
        seq,
        state,
        observed,
        expected,
        p_value,
        last_day,
        notified_state,
        notified_observed,
        rule,
        province,
        district,
        incident_id,
        first_day,
        peak_start,
        peak_end,
        summary,
    ) = row
    stored = Stored(
        alert_id,
        int(seq),
        state,
        int(observed),
        float(expected),
        float(p_value),
        last_day,
        notified_state,
        int(notified_observed),
    )
    episode = Episode(
        rule=rule,
        area=Area(province, district),
        start=first_day,
        end=last_day,
        peak_start=peak_start,
        peak_end=peak_end,
        observed=int(observed),
        expected=float(expected),
        p_value=float(p_value),
        summary=summary,
        incident_id=incident_id,
    )
    return stored, episode
