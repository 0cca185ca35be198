"""Alert evaluation inside the sink, after each write (docs/alerting.md explains why here).

The sink tells the engine which district-days a batch changed; after the batch is written
(and before its offsets are committed) the engine re-evaluates the areas those days belong
to, from the warehouse's exact state, records the alert changes, and hands them to the
dispatcher. A periodic tick re-checks firing alerts, which resolve as time passes.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from incidents.metrics import ALERT_CHANGES, ALERT_ERRORS
from incidents.settings import Settings
from sinks.alerting.evaluate import Area, Episode, area_episodes, mass_casualty_episode
from sinks.alerting.lifecycle import Change, Silence, changes
from sinks.alerting.notify import Dispatcher, notifiers_from
from sinks.alerting.rules import RULE_NAMES, Rules, load_rules
from sinks.alerting.store import AlertStore

logger = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Karachi")
RECOVERY_DAYS = 7  # a restarted sink resends undelivered changes this recent

DistrictDay = tuple[str, str, date]  # (province, district, day)


class AlertEngine:
    """Evaluate the rules for what changed, record changes, and queue notifications."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        database: str,
        *,
        dispatcher: Dispatcher | None = None,
        delivery_client: Client | None = None,
    ) -> None:
        self._settings = settings
        self.rules: Rules = load_rules(settings.alerts.rules_file)
        self.store = AlertStore(client, database)
        recorder = AlertStore(delivery_client or client, database)
        self.dispatcher = dispatcher or Dispatcher(
            notifiers_from(settings),
            recorder,
            settings.alerts.retries,
            settings.alerts.retry_base_s,
        )
        self._pending: set[DistrictDay] = set()
        self._last_tick = 0.0

    def start(self) -> None:
        """Start delivering; resend what a previous run recorded but did not deliver."""
        self.dispatcher.start()
        since = self.today().toordinal() - RECOVERY_DAYS
        for name in self.dispatcher.notifier_names:
            try:
                todo = self.store.undelivered(name, date.fromordinal(since))
            except Exception:
                logger.exception("cannot read undelivered alert changes")
                return
            for change, ids in todo:
                self.dispatcher.put(change, ids)

    def stop(self) -> None:
        self.dispatcher.stop()

    def today(self) -> date:
        """The evaluation date: ALERTS_TODAY, else today in Asia/Karachi."""
        return self._settings.alerts.today or datetime.now(LOCAL_TZ).date()

    def note(self, district_days: Iterable[DistrictDay]) -> None:
        """Remember district-days a batch touches; they are evaluated after it is written."""
        self._pending.update(district_days)

    def after_write(self) -> None:
        """Evaluate what the last written batch changed. Never raises: a failure is logged
        and the district-days stay pending for the next write or tick."""
        if self._pending:
            days, self._pending = self._pending, set()
            try:
                self.evaluate(days)
            except Exception:
                ALERT_ERRORS.inc()
                logger.exception("alert evaluation failed; will try again")
                self._pending |= days
        if time.monotonic() - self._last_tick >= self._settings.alerts.tick_s:
            self.tick()

    def tick(self) -> None:
        """Re-evaluate the scopes of firing alerts: they resolve as their days pass."""
        self._last_tick = time.monotonic()
        try:
            firing = self.store.firing()
        except Exception:
            ALERT_ERRORS.inc()
            logger.exception("cannot read firing alerts")
            return
        days = {(e.area.province, e.area.district, e.start) for _, e in firing}
        if days:
            try:
                self.evaluate(days)
            except Exception:
                ALERT_ERRORS.inc()
                logger.exception("alert tick failed; will try again")

    def evaluate(self, district_days: Iterable[DistrictDay]) -> list[Change]:
        """Evaluate every rule for the areas and incidents of these district-days."""
        days = set(district_days)
        today = self.today()
        now = datetime.now(UTC)
        silences = self.store.silences()
        data_start = self.store.data_start()
        found: list[Change] = []
        areas = {Area(p, d) for p, d, _ in days if d} | {Area(p) for p, _, _ in days}
        if data_start is None:  # an empty warehouse: nothing to evaluate
            areas = set()
        start = data_start or today
        # Two queries for every area's series and one for their alerts, not three per area.
        series = self.store.series_many(areas) if areas else {}
        area_rules = [r for r in RULE_NAMES if r != "mass_casualty"]
        known = self.store.stored_areas(area_rules, areas) if areas else {}
        for area in sorted(areas, key=lambda a: a.key):
            episodes = area_episodes(area, series[area], start, today, self.rules)
            by_rule: dict[str, list[Episode]] = defaultdict(list)
            for e in episodes:
                by_rule[e.rule].append(e)
            for rule in area_rules:
                stored = known.get((rule, area), {})
                if not by_rule[rule] and not stored:
                    continue
                withdrawn = {alert_id: ep for alert_id, (_, ep) in stored.items()}
                states = {alert_id: st for alert_id, (st, _) in stored.items()}
                found += changes(
                    by_rule[rule], states, withdrawn, today, now, self.rules.lifecycle, silences
                )
        found += self._mass_casualty(days, today, now, silences)
        self._record(found)
        return found

    def _mass_casualty(
        self, days: set[DistrictDay], today: date, now: datetime, silences: list[Silence]
    ) -> list[Change]:
        rule = self.rules.mass_casualty
        if not rule.enabled:
            return []
        incidents = self.store.incidents_on(days)
        stored = self.store.stored_on("mass_casualty", days)
        known = {e.incident_id for _, e in stored.values()}
        episodes = [
            mass_casualty_episode(i, rule.min_killed)
            for i in incidents
            if i.killed >= rule.min_killed or i.incident_id in known
        ]
        withdrawn = {alert_id: ep for alert_id, (_, ep) in stored.items()}
        states = {alert_id: st for alert_id, (st, _) in stored.items()}
        return changes(episodes, states, withdrawn, today, now, self.rules.lifecycle, silences)

    def _record(self, found: list[Change]) -> None:
        if not found:
            return
        ids: dict[str, list[str]] = {}
        for c in found:
            e = c.episode
            ids[c.alert_id] = (
                [e.incident_id]
                if e.incident_id
                else self.store.incident_ids(e.area, e.peak_start, e.peak_end)
            )
        self.store.record(found, ids)
        for c in found:
            ALERT_CHANGES.labels(c.episode.rule, c.event).inc()
            logger.info(
                "alert %s %s (%s)%s",
                c.alert_id,
                c.event,
                c.episode.summary,
                "" if c.notify else " [not sent]",
            )
            self.dispatcher.put(c, ids[c.alert_id])
