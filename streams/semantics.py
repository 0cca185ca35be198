"""The platform's semantics as pure functions (docs/semantics.md).

The Faust agents only move bytes and tables around; every decision about which report
version wins, which reports form an incident, which casualty split an incident takes and
how incidents add up is made here, without Faust or Kafka, so it can be tested directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import msgspec

from incidents_config.settings import CasualtyRule
from schemas.places import load_places
from schemas.report import Category, Report
from schemas.warehouse import (
    Aggregate,
    Counts,
    DistrictDay,
    DistrictDaySnapshot,
    IncidentKey,
    IncidentRow,
    Membership,
    ReportEntry,
    decode,
    encode,
)

# --- reports -------------------------------------------------------------------------


def fingerprint(report: Report, report_json: bytes | None = None) -> str:
    """Return the SHA-256 of the report's canonical JSON (`report_json`, when known)."""
    return report.fingerprint(report_json)


def report_entry(
    report: Report, *, present: bool | None = None, report_json: bytes | None = None
) -> ReportEntry:
    """Reduce a report to what its incident needs.

    `report_json`, when given, must be ``report.model_dump_json().encode()``: the agent
    has it already.
    """
    return ReportEntry(
        source=report.source,
        source_event_id=report.source_event_id,
        version=report.version,
        present=(not report.retracted) if present is None else present,
        reported_at=report.reported_at,
        fingerprint=fingerprint(report, report_json),
        subtype=str(report.subtype),
        location=report.location or "",
        killed=Counts.of(report.killed),
        injured=Counts.of(report.injured),
    )


def _order(version: int, reported_at: datetime, fp: str) -> tuple[int, float, str]:
    return (version, reported_at.timestamp(), fp)


def entry_order(entry: ReportEntry) -> tuple[int, float, str, bool]:
    """Total order of the versions of one report; the largest is the current one.

    For one (report, version) the removal (``present=False``) of a moved report sorts
    after its presence, so "left this incident" wins over "is in this incident" at the
    same version.
    """
    return (*_order(entry.version, entry.reported_at, entry.fingerprint), not entry.present)


class ReportState(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """dedupe's table value for one report id: which version is current, and where it was.

    Only what ordering versions needs is kept, not the report itself: the state stays
    small, and loading it does not re-run the contract's validation.
    """

    version: int
    reported_at: datetime
    fingerprint: str
    keys: dict[str, IncidentKey] = {}  # every key ever announced

    def order(self) -> tuple[int, float, str]:
        return _order(self.version, self.reported_at, self.fingerprint)


def dedupe(
    state: ReportState | None, report: Report, *, report_json: bytes | None = None
) -> tuple[ReportState | None, list[Membership]]:
    """Apply one report version; return the new state and the memberships to announce.

    A version older than the known one changes nothing and announces nothing. The known
    version itself (a re-send or a redelivery) is announced again: rollup ignores what it
    already has, and announcing again repairs a crash between the table write and the send.
    """
    entry = report_entry(report, report_json=report_json)
    if state is not None and _order(entry.version, entry.reported_at, entry.fingerprint) < (
        state.order()
    ):
        return state, []
    key = IncidentKey.of(report)
    keys = {**(state.keys if state else {}), key.key: key}
    gone = msgspec.structs.replace(entry, present=False)
    out = [Membership(incident=k, entry=gone) for s, k in sorted(keys.items()) if s != key.key]
    out.append(Membership(incident=key, entry=entry))
    new_state = ReportState(
        version=entry.version,
        reported_at=entry.reported_at,
        fingerprint=entry.fingerprint,
        keys=keys,
    )
    return new_state, out


# --- incidents -----------------------------------------------------------------------


class IncidentState(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One incident inside a district-day: the latest entry of every report it has seen."""

    key: IncidentKey
    entries: dict[str, ReportEntry] = {}

    def current(self) -> list[ReportEntry]:
        return [e for e in self.entries.values() if e.present]


# An incident of a loaded district-day is kept as its stored JSON (msgspec.Raw) until a
# change touches it: a batch touches few of a district-day's incidents, and decoding all
# of them cost ten times more than the rest of loading and storing the value.
IncidentValue = IncidentState | msgspec.Raw


def _incident(value: IncidentValue) -> IncidentState:
    if isinstance(value, msgspec.Raw):
        return decode(value, IncidentState)
    return value


class DistrictDayState(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """rollup's table value for one district-day.

    ``aggregate`` is the sum over all its incidents under the casualty rule named
    ``rule``, kept up to date by adding each change's difference (:func:`fold`), so a
    change costs the incidents it touches, not all of them. None (a value written before
    the field, or under another rule) means: add it up again from every incident.

    ``incidents`` may hold an incident as its JSON (:data:`IncidentValue`); read them with
    :meth:`incident` and :meth:`each_incident`.
    """

    district_day: DistrictDay
    revision: int = 0
    incidents: dict[str, IncidentValue] = {}
    aggregate: Aggregate | None = None
    rule: str = ""

    def incident(self, key: str) -> IncidentState | None:
        """The incident stored under `key`, decoded; None if there is none."""
        value = self.incidents.get(key)
        return None if value is None else _incident(value)

    def each_incident(self) -> Iterator[tuple[str, IncidentState]]:
        """Every incident with its key, decoded, in stored order."""
        for key, value in self.incidents.items():
            yield key, _incident(value)


class _StoredDistrictDay(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """:class:`DistrictDayState` as :func:`load_district_day` decodes it: incidents left
    as JSON. Its fields must stay those of DistrictDayState."""

    district_day: DistrictDay
    revision: int = 0
    incidents: dict[str, msgspec.Raw] = {}
    aggregate: Aggregate | None = None
    rule: str = ""


def load_report_state(value: bytes) -> ReportState:
    """dedupe's table value from its JSON (:func:`dump_state`)."""
    return decode(value, ReportState)


def load_district_day(value: bytes) -> DistrictDayState:
    """rollup's table value from its JSON (:func:`dump_state`); its incidents stay JSON
    until read (:data:`IncidentValue`)."""
    stored = decode(value, _StoredDistrictDay)
    return DistrictDayState(
        district_day=stored.district_day,
        revision=stored.revision,
        incidents=cast(dict[str, IncidentValue], stored.incidents),
        aggregate=stored.aggregate,
        rule=stored.rule,
    )


def dump_state(state: ReportState | DistrictDayState) -> bytes:
    """A table value's JSON."""
    return encode(state)


def apply_membership(
    state: DistrictDayState | None, membership: Membership
) -> tuple[DistrictDayState, bool]:
    """Record one report's membership; return the state and whether to publish it.

    An entry older than the known one is ignored (not published). An equal one is
    published again (see :func:`dedupe`), a newer one replaces the known one.
    """
    if state is None:
        state = DistrictDayState(district_day=membership.incident.district_day)
    incidents = dict(state.incidents)
    if not _record(incidents, membership):
        return state, False
    return msgspec.structs.replace(state, incidents=incidents), True


def _record(
    incidents: dict[str, IncidentValue],
    membership: Membership,
    decoded: dict[str, IncidentState] | None = None,
) -> bool:
    """:func:`apply_membership` on a district-day's incidents, in place. An incident
    still JSON is decoded once: it replaces its JSON in `incidents`, and goes to
    `decoded` as it was before the change."""
    key = membership.incident
    value = incidents.get(key.key)
    if value is None:
        incident = IncidentState(key=key)
    elif isinstance(value, msgspec.Raw):
        incident = incidents[key.key] = _incident(value)
        if decoded is not None:
            decoded[key.key] = incident
    else:
        incident = value
    entry = membership.entry
    known = incident.entries.get(entry.report_id)
    if known is not None and entry_order(entry) < entry_order(known):
        return False
    entries = {**incident.entries, entry.report_id: entry}
    incidents[key.key] = IncidentState(key=key, entries=entries)
    return True


# --- casualties ----------------------------------------------------------------------

CasualtyPick = Callable[[list[ReportEntry], str], ReportEntry]


def pick_max_total(entries: list[ReportEntry], field: str) -> ReportEntry:
    """Pick the report whose `field` ("killed"/"injured") has the highest total.

    Ties: fewer unknown, then later reported_at, then smaller (source, source_event_id).
    """

    def rank(e: ReportEntry) -> tuple[int, int, float, str, str]:
        c: Counts = getattr(e, field)
        return (-c.total, c.unknown, -e.reported_at.timestamp(), e.source, e.source_event_id)

    return min(entries, key=rank)


def pick_latest(entries: list[ReportEntry], field: str) -> ReportEntry:
    """Pick the most recently reported report (`field` is not looked at).

    For feeds that revise one another: the newest account wins. Ties: the smaller
    (source, source_event_id).
    """

    def rank(e: ReportEntry) -> tuple[float, str, str]:
        return (-e.reported_at.timestamp(), e.source, e.source_event_id)

    return min(entries, key=rank)


CASUALTY_RULES: dict[CasualtyRule, CasualtyPick] = {
    "max_total": pick_max_total,
    "latest": pick_latest,
}


def casualty_rule(name: str) -> CasualtyPick:
    """Return the casualty rule registered under `name` (settings accept only these names:
    :data:`incidents_config.settings.CasualtyRule`)."""
    try:
        return CASUALTY_RULES[name]  # type: ignore[index]  # a str from a benchmark's flag
    except KeyError:
        known = ", ".join(sorted(CASUALTY_RULES))
        raise ValueError(f"unknown casualty rule {name!r}; known rules: {known}") from None


def incident_row(incident: IncidentState, pick: CasualtyPick = pick_max_total) -> IncidentRow:
    """Merge an incident's current reports into the row the warehouse stores.

    An incident without current reports is returned as a deleted row, so the warehouse
    drops it.
    """
    key = incident.key
    current = incident.current()
    killed_from = pick(current, "killed") if current else None
    injured_from = pick(current, "injured") if current else None
    return IncidentRow(
        incident_id=key.incident_id,
        occurred_on=key.occurred_on,
        province=key.province,
        district=key.district,
        category=key.category,
        location=key.location,
        location_display=killed_from.location if killed_from else "",
        subtype=killed_from.subtype if killed_from else "",
        killed=killed_from.killed if killed_from else Counts(),
        injured=injured_from.injured if injured_from else Counts(),
        killed_from=killed_from.report_id if killed_from else "",
        injured_from=injured_from.report_id if injured_from else "",
        report_ids=sorted(e.report_id for e in current),
        deleted=not current,
    )


# --- aggregates ----------------------------------------------------------------------


def add_casualties(items: Iterable[Counts]) -> Counts:
    """Sum casualty splits group by group."""
    c = s = m = u = 0
    for x in items:
        c += x.civilians
        s += x.security
        m += x.militants
        u += x.unknown
    return Counts(civilians=c, security=s, militants=m, unknown=u)


def aggregate(rows: Iterable[IncidentRow]) -> Aggregate:
    """Add up incidents (not reports); deleted incidents count for nothing."""
    live = [r for r in rows if not r.deleted]
    return Aggregate(
        incidents=len(live),
        terror_attacks=sum(r.category == Category.TERROR_ATTACK for r in live),
        security_operations=sum(r.category == Category.SECURITY_OPERATION for r in live),
        killed=add_casualties(r.killed for r in live),
        injured=add_casualties(r.injured for r in live),
    )


def snapshot(
    state: DistrictDayState,
    pick: CasualtyPick = pick_max_total,
    changed: Collection[str] | None = None,
) -> DistrictDaySnapshot:
    """Return the warehouse snapshot of a district-day: its aggregate over every incident,
    and the rows of the incidents whose keys are in `changed` (None: all of them).

    A batch changes few of a district-day's incidents; the rows of the others are in the
    warehouse already, at the revision they last changed (its ReplacingMergeTree keeps
    each incident's newest row), so the snapshot carries only the changed ones.
    """
    rows = [(key, incident_row(i, pick)) for key, i in sorted(state.each_incident())]
    total = aggregate(row for _, row in rows)
    return _snapshot(state, total, [row for key, row in rows if changed is None or key in changed])


def _snapshot(
    state: DistrictDayState, total: Aggregate, rows: list[IncidentRow]
) -> DistrictDaySnapshot:
    return DistrictDaySnapshot(
        district_day=state.district_day,
        revision=state.revision,
        aggregate=total,
        incidents=rows,
        gazetteer=load_places().version,
    )


# --- one batch of one district-day ---------------------------------------------------


@dataclass
class Folded:
    """The result of applying a batch of memberships to one district-day."""

    state: DistrictDayState | None
    changed: bool = False
    state_json: bytes = b""
    snapshot_json: bytes = b""
    refused: list[int] = field(default_factory=list)  # indexes over the size limit
    touched: set[str] = field(default_factory=set)  # keys of the incidents it changed
    snapshot: DistrictDaySnapshot | None = None  # what snapshot_json holds


def fold(
    state: DistrictDayState | None,
    memberships: list[Membership],
    pick: CasualtyPick = pick_max_total,
    limit: int | None = None,
) -> Folded:
    """Apply a batch of memberships to one district-day: what rollup does per key and batch.

    A batch that changes anything bumps the revision once and yields the new state and its
    snapshot, both as the JSON the agent writes. With a ``limit`` the memberships that
    would make either exceed it are refused (their indexes in ``refused``): the whole
    batch is tried first; only when its result is too large are the memberships applied
    one at a time, each kept only if the value and snapshot still fit.
    """
    result = _apply(state, list(enumerate(memberships)), pick)
    if (
        limit is None
        or result.state is None
        or max(len(result.state_json), len(result.snapshot_json)) <= limit
    ):
        return result
    current, changed, refused, touched = state, False, [], set()
    for i, m in enumerate(memberships):
        attempt = _apply(current, [(i, m)], pick)
        if max(len(attempt.state_json), len(attempt.snapshot_json)) > limit:
            refused.append(i)
            continue
        current, changed = attempt.state, changed or attempt.changed
        touched |= attempt.touched
    if changed and current is not None:
        out = _folded(state, current, touched, pick)
    else:
        out = Folded(current)
    out.changed, out.refused = changed, refused
    return out


def _apply(
    state: DistrictDayState | None, items: list[tuple[int, Membership]], pick: CasualtyPick
) -> Folded:
    if not items:
        return Folded(state)
    before = state
    if state is None:
        state = DistrictDayState(district_day=items[0][1].incident.district_day)
    incidents, touched = dict(state.incidents), set[str]()
    decoded: dict[str, IncidentState] = {}  # stored incidents as they were, decoded once
    for _, m in items:
        if _record(incidents, m, decoded):
            touched.add(m.incident.key)
    if not touched:
        return Folded(before)
    state = msgspec.structs.replace(state, incidents=incidents, revision=state.revision + 1)
    return _folded(before, state, touched, pick, decoded)


def add_aggregates(
    base: Aggregate, plus: Iterable[IncidentRow], minus: Iterable[IncidentRow]
) -> Aggregate:
    """`base` with the incidents `plus` counted and the incidents `minus` taken out."""
    added, taken = aggregate(plus), aggregate(minus)

    def counts(a: Counts, b: Counts, c: Counts) -> Counts:
        return Counts(
            civilians=a.civilians + b.civilians - c.civilians,
            security=a.security + b.security - c.security,
            militants=a.militants + b.militants - c.militants,
            unknown=a.unknown + b.unknown - c.unknown,
        )

    return Aggregate(
        incidents=base.incidents + added.incidents - taken.incidents,
        terror_attacks=base.terror_attacks + added.terror_attacks - taken.terror_attacks,
        security_operations=(
            base.security_operations + added.security_operations - taken.security_operations
        ),
        killed=counts(base.killed, added.killed, taken.killed),
        injured=counts(base.injured, added.injured, taken.injured),
    )


def _folded(
    before: DistrictDayState | None,
    state: DistrictDayState,
    touched: set[str],
    pick: CasualtyPick,
    decoded: dict[str, IncidentState] | None = None,
) -> Folded:
    """A changed district-day: its table value and its snapshot, as the agent writes them.

    The aggregate is `before`'s plus the difference of the touched incidents' rows, when
    `before` has one under the same rule; else it is added up from every incident.
    `decoded` holds `before`'s incidents that were JSON and are decoded already.
    """
    rows = {key: incident_row(_incident(state.incidents[key]), pick) for key in sorted(touched)}
    rule = pick.__name__
    if before is not None and before.aggregate is not None and before.rule == rule:
        known = decoded or {}
        old = [
            incident_row(i, pick)
            for k in touched
            if (i := known.get(k) or before.incident(k)) is not None
        ]
        total = add_aggregates(before.aggregate, rows.values(), old)
    else:
        total = aggregate(incident_row(i, pick) for _, i in state.each_incident())
    state = msgspec.structs.replace(state, aggregate=total, rule=rule)
    snap = _snapshot(state, total, list(rows.values()))
    return Folded(
        state,
        changed=True,
        state_json=dump_state(state),
        snapshot_json=encode(snap),
        touched=touched,
        snapshot=snap,
    )


# --- the whole pipeline in memory ----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What :func:`run` computed: the snapshots published per district-day, and counts."""

    snapshot_json: dict[str, bytes]  # district-day key -> its last snapshot, as published
    merged: dict[str, DistrictDaySnapshot]  # district-day key -> its state, all snapshots told
    memberships: int  # memberships dedupe announced
    published: int  # snapshots rollup published (one per changed district-day per batch)

    def snapshots(self) -> dict[str, DistrictDaySnapshot]:
        """Every district-day as the warehouse holds it once every snapshot is written: the
        last snapshot's aggregate and revision, and each incident's newest row, by
        district-day key (incidents sorted by id)."""
        return self.merged


def run(reports: Iterable[Report], rule: str, *, batch: int | None = None) -> Outcome:
    """Run the pipeline in memory over `reports` (valid reports, in delivery order).

    Each report goes through :func:`dedupe` (the ingest agent's step); per batch of
    `batch` reports (the agents' ``STREAMS_BATCH_SIZE``; None: all reports in one batch)
    the announced memberships are grouped by district-day and each group goes through
    :func:`fold` under the casualty rule named `rule` (the rollup agent's step, see
    :func:`casualty_rule`). The snapshots are exactly what the agents compute and publish
    for the same deliveries in the same batches, except that the agents' size limit
    (``STREAMS_MAX_STATE_BYTES``) is not applied. The batching changes only how many
    snapshots are published and their ``revision``, never what else they add up to.
    """
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    pick = casualty_rule(rule)
    reports_state: dict[str, ReportState] = {}
    days: dict[str, DistrictDayState] = {}
    snapshot_json: dict[str, bytes] = {}
    last: dict[str, DistrictDaySnapshot] = {}
    rows: dict[str, dict[str, IncidentRow]] = {}
    memberships = published = 0
    deliveries = iter(reports)
    while chunk := list(itertools.islice(deliveries, batch)):
        updates: dict[str, list[Membership]] = {}
        for report in chunk:
            state, announced = dedupe(reports_state.get(report.report_id), report)
            if state is not None:
                reports_state[report.report_id] = state
            memberships += len(announced)
            for m in announced:
                updates.setdefault(m.incident.district_day.key, []).append(m)
        for key, items in updates.items():
            result = fold(days.get(key), items, pick)
            if result.changed and result.state is not None and result.snapshot is not None:
                days[key] = result.state
                snapshot_json[key] = result.snapshot_json
                last[key] = result.snapshot
                rows.setdefault(key, {}).update(
                    (r.incident_id, r) for r in result.snapshot.incidents
                )
                published += 1
    merged = {
        key: msgspec.structs.replace(
            snap, incidents=[row for _, row in sorted(rows.get(key, {}).items())]
        )
        for key, snap in last.items()
    }
    return Outcome(
        snapshot_json=snapshot_json, merged=merged, memberships=memberships, published=published
    )
