"""Alert evaluation inside the sink, after the writes (docs/alerting.md explains why here).

The engine is one of the sink's observers (:class:`sinks.observer.SinkObserver`): after
a batch is written (and before its offsets are committed) the sink tells it which
district-days and data-quality suites the batch changed. On a thread of its own, with a
client of its own, the engine re-evaluates the areas those days belong to, from the
warehouse's exact state, and records the alert changes; the sink keeps writing meanwhile,
and commits a batch's offsets once the engine has evaluated it. Every change goes to the
alerts topic; the changes that page wait in the outbox until they have held for the
settle period on settled input (incidents_alerting.outbox), then their net effect is
grouped into notifications (incidents_alerting.routing). A periodic tick re-checks firing
alerts, which resolve as time passes, and a rules file that changes is read again (a bad
one is reported and the old rules stay in force).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from incidents_alerting.coverage import covered_runs
from incidents_alerting.evaluate import Area, Episode, area_episodes, mass_casualty_episode
from incidents_alerting.exceptions import RulesError
from incidents_alerting.lifecycle import FIRING, Change, Silence, changes
from incidents_alerting.notify import Dispatcher, notifiers_from
from incidents_alerting.outbox import InputProbe, Mark, Outbox, SettledAlways
from incidents_alerting.routing import Notification, Router
from incidents_alerting.rules import DATA_QUALITY, RULE_NAMES, Rules, load_rules
from incidents_alerting.store import AlertStore
from incidents_config.metrics import ALERT_CHANGES, ALERT_ERRORS
from incidents_config.settings import Settings
from sinks.clickhouse import connect
from sinks.observer import DistrictDay, SuiteRun, Written

logger = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Karachi")
RECOVERY_DAYS = 7  # a restarted sink resends undelivered changes this recent
SEND_CHECK_S = 1.0  # how often the outbox is checked (each check reads Kafka's offsets)
RELOAD_CHECK_S = 5.0  # how often the rules file's modification time is looked at
STEP_S = 0.25  # how often the engine's thread looks whether an evaluation is due
STOP_WAIT_S = 30.0  # how long a stopping sink waits for an evaluation under way
# After an evaluation, the sink writes for at least this many times as long before the
# next (ALERTS_EVALUATE_S at the least): evaluation takes at most 1/(1 + this) of its time.
EVALUATION_PAUSE = 9.0


class AlertEngine:
    """Evaluate the rules for what changed, record changes, and queue notifications."""

    def __init__(
        self,
        settings: Settings,
        client: Client | None,
        database: str,
        *,
        dispatcher: Dispatcher | None = None,
        delivery_client: Client | None = None,
        probe: InputProbe | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Evaluate with `client` in `database`; None: a client the engine opens now (its
        thread's own: never the sink's writer, which the sink's thread uses meanwhile).

        Deliveries are recorded from the dispatcher's thread, so they need a client of
        their own: `delivery_client`, else one the engine opens now. The engine closes what
        it opened at stop. `probe` tells when the pipeline has processed what it held
        (settled input); without one, input counts as settled at once.
        """
        self._settings = settings
        self.rules: Rules = load_rules(settings.alerts.rules_file)
        self._opened: list[Client] = []
        self.store = AlertStore(client if client is not None else self._open(), database)
        deliveries = delivery_client if delivery_client is not None else self._open()
        recorder = AlertStore(deliveries, database)
        self.dispatcher = dispatcher or Dispatcher(
            notifiers_from(settings),
            recorder,
            settings.alerts.retries,
            settings.alerts.retry_base_s,
        )
        routing = self.rules.notifications
        self.outbox = Outbox(routing.group_wait_s, probe or SettledAlways(), clock)
        self.router = Router(routing, clock)
        self._clock = clock
        self._last_send_check = -SEND_CHECK_S
        self._last_refresh = clock()
        self._last_reload_check = clock()
        self._rules_mtime = self._mtime()
        # What the sink's thread notes and the engine's thread takes, under this lock:
        self._lock = threading.Lock()
        self._pending: set[DistrictDay] = set()
        self._unevaluated = False  # noted since the last evaluation began
        self._last_written = -float("inf")  # when the sink last wrote a batch
        self._quality: dict[str, SuiteRun] = {}  # suite -> its latest run
        self._noted = 0  # batches the sink told of
        self._acted = 0  # ... of which every one noted before an evaluation began, ended
        self._evaluating = False
        # The engine's thread's own:
        self._next_evaluation = -float("inf")
        self._last_tick = 0.0
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._alive_at = time.time()  # when the engine's thread last ended a step

    def _open(self) -> Client:
        client = connect(self._settings)
        self._opened.append(client)
        return client

    def start(self, thread: bool = True) -> None:
        """Start delivering; resend what a previous run recorded but did not deliver; then
        start evaluating on the engine's thread (unless `thread` is False: a test that
        calls :meth:`step` itself).

        The alerts topic gets each undelivered change again; what should have paged goes
        through the outbox again, so it still waits for settled input and sends its net.
        """
        self.dispatcher.start()
        self._resend_undelivered()
        self._alive_at = time.time()
        if thread:
            self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
            self._thread.start()

    def _resend_undelivered(self) -> None:
        since = date.fromordinal(self.today().toordinal() - RECOVERY_DAYS)
        try:
            for change, ids in self.store.notified_firing():
                self.router.seed_firing(change, ids)  # receivers know these fire: repeats
            for name in self.dispatcher.names("feed"):
                for change, ids in self.store.undelivered(name, since, paging=False):
                    self.dispatcher.feed(Notification.single(change, ids))
            undelivered = [
                item
                for name in self.dispatcher.names("page")
                for item in self.store.undelivered(name, since)
            ]
        except Exception:
            logger.exception("cannot read undelivered alert changes")
            return
        mark = self.outbox.mark()
        for change, ids in sorted(undelivered, key=lambda item: (item[0].alert_id, item[0].seq)):
            self.outbox.put(change, ids, mark)

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
            if self._thread.is_alive():
                logger.warning("stopping during an alert evaluation; the sink re-delivers it")
        self.dispatcher.stop()
        self.outbox.close()
        for client in self._opened:
            client.close()

    def _run(self) -> None:
        """The engine's thread: evaluate what is due, send what settled, until stopped."""
        while not self._halt.is_set():
            try:
                self.step()
            except Exception:  # a bug here must not end alerting, nor hold commits for good
                ALERT_ERRORS.inc()
                logger.exception("alert engine step failed; will try again")
            self._alive_at = time.time()
            self._wake.wait(STEP_S)
            self._wake.clear()

    def alive_at(self) -> float:
        """When the engine's thread last ended a step (the sink's heartbeat is never newer:
        an evaluation that never returns holds the sink's commits back)."""
        return self._alive_at

    def today(self) -> date:
        """The evaluation date: ALERTS_TODAY, else today in Asia/Karachi."""
        return self._settings.alerts.today or datetime.now(LOCAL_TZ).date()

    def written(self, batch: Written) -> None:
        """Note what a written batch changed (the sink's thread calls it before committing;
        it only notes). The engine's thread evaluates what was noted once the next
        evaluation is due: ``ALERTS_EVALUATE_S`` after the last one ended, or nine times as
        long as it took if that is longer, so that evaluating takes at most a tenth of the
        time while the sink writes. Until then :meth:`acted` holds the sink's commit back.

        During a catch-up the sink writes a batch every fraction of a second, each touching
        most areas, and an evaluation of every area costs more as history grows; evaluating
        every few seconds instead of after every batch gives the same alerts (they are
        computed from the warehouse's state, not from the batches) for a fraction of the
        CPU. The outbox pages only on settled input anyway.
        """
        with self._lock:
            self._noted += 1
            self.note(batch.district_days)
            self.note_quality(batch.suite_runs)
            self._last_written = self._clock()
            if not self._unevaluated and not self._evaluating:
                self._acted = self._noted  # nothing new to evaluate
        if self._unevaluated:
            self._wake.set()

    def acted(self) -> int:
        """How many written batches are evaluated (the sink commits their offsets)."""
        with self._lock:
            return self._acted

    def step(self) -> None:
        """Reload a changed rules file, evaluate what was noted (and retry what failed) once
        the next evaluation is due, run the periodic tick, and send what has settled.

        Once the sink has written nothing for ``ALERTS_EVALUATE_S``, what it holds is
        evaluated at once: the pause protects the sink's writes, and there are none to
        protect. Without this a catch-up's last batches (and their commit, and so the
        consumer lag) waited nine times the last evaluation's duration, which at a million
        reports on a busy machine was over ten minutes.
        """
        self.reload_rules()
        now = self._clock()
        with self._lock:
            quiet = (
                self._unevaluated and now - self._last_written >= self._settings.alerts.evaluate_s
            )
        if now >= self._next_evaluation or quiet:
            self.evaluate_pending()
        self.send_settled()

    def send_settled(self) -> None:
        """Group the outbox's settled changes and queue the notifications that are due;
        re-send firing alerts to Alertmanager now and then. Never raises."""
        now = self._clock()
        if now - self._last_send_check < SEND_CHECK_S:
            return
        self._last_send_check = now
        try:
            if len(self.outbox):
                for change, ids in self.outbox.due():
                    self.router.add(change, ids)
            for notification in self.router.due():
                self.dispatcher.page(notification)
            if now - self._last_refresh >= self._settings.alerts.alertmanager_resend_s:
                self._last_refresh = now
                firing = self.router.firing()
                if firing:
                    self.dispatcher.refresh(Notification((), tuple(firing)))
        except Exception:
            ALERT_ERRORS.inc()
            logger.exception("cannot check the outbox; will try again")

    def reload_rules(self) -> None:
        """Read the rules file again if it changed. A file that does not validate is
        reported in one line naming the field, and the rules in force stay."""
        now = self._clock()
        if now - self._last_reload_check < RELOAD_CHECK_S:
            return
        self._last_reload_check = now
        mtime = self._mtime()
        if mtime == self._rules_mtime:
            return
        self._rules_mtime = mtime
        try:
            rules = load_rules(self._settings.alerts.rules_file)
        except RulesError as e:
            ALERT_ERRORS.inc()
            logger.error("%s; the rules in force stay until the file is fixed", e)
            return
        self.rules = rules
        self.outbox.configure(rules.notifications.group_wait_s)
        self.router.configure(rules.notifications)
        logger.info("alert rules reloaded from %s", self._settings.alerts.rules_file)

    def _mtime(self) -> float | None:
        path = self._settings.alerts.rules_file
        try:
            return path.stat().st_mtime if path is not None else None
        except OSError:
            return None

    def note(self, district_days: Iterable[DistrictDay]) -> None:
        """Remember district-days to evaluate (under the lock)."""
        before = len(self._pending)
        self._pending.update(district_days)
        self._unevaluated |= len(self._pending) != before

    def note_quality(self, runs: Iterable[SuiteRun]) -> None:
        """Remember data-quality results to evaluate, the latest per suite (under the lock)."""
        for run in runs:
            self._unevaluated = True
            self._keep_latest(run)

    def _keep_latest(self, run: SuiteRun) -> None:
        old = self._quality.get(run.suite)
        if old is None or run.finished_at >= old.finished_at:
            self._quality[run.suite] = run

    def evaluate_pending(self) -> None:
        """Evaluate what was noted. Never raises: a failure is logged and the district-days
        stay pending for the next evaluation or tick (in memory: the sink's commit does not
        wait for a retry)."""
        started = self._clock()
        with self._lock:
            runs, self._quality = self._quality, {}
            days, self._pending = self._pending, set()
            upto = self._noted  # batches written before what this evaluation reads
            self._unevaluated = False
            self._evaluating = True
        try:
            self._evaluate_noted(runs, days)
        finally:
            with self._lock:
                self._evaluating = False
                # A batch noted meanwhile that changed nothing new is evaluated too.
                self._acted = upto if self._unevaluated else self._noted
            ended = self._clock()
            pause = max(self._settings.alerts.evaluate_s, EVALUATION_PAUSE * (ended - started))
            self._next_evaluation = ended + pause

    def _evaluate_noted(self, runs: dict[str, SuiteRun], days: set[DistrictDay]) -> None:
        if runs:
            try:
                mark = self.outbox.mark()
                self._record(self.evaluate_quality(list(runs.values())), mark)
            except Exception:
                ALERT_ERRORS.inc()
                logger.exception("data-quality alert evaluation failed; will try again")
                with self._lock:  # retried at the next evaluation; the commit does not wait
                    for run in runs.values():
                        self._keep_latest(run)
        if days:
            try:
                self.evaluate(days)
            except Exception:
                ALERT_ERRORS.inc()
                logger.exception("alert evaluation failed; will try again")
                with self._lock:
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
        days = {
            (e.area.province, e.area.district, e.start) for _, e in firing if e.rule != DATA_QUALITY
        }
        if days:
            try:
                self.evaluate(days)
            except Exception:
                ALERT_ERRORS.inc()
                logger.exception("alert tick failed; will try again")

    def evaluate(self, district_days: Iterable[DistrictDay]) -> list[Change]:
        """Evaluate every rule for the areas and incidents of these district-days."""
        days = set(district_days)
        mark = self.outbox.mark()  # before reading: what the evaluation is computed from
        today = self.today()
        now = datetime.now(UTC)
        silences = self.store.silences()
        data_start = self.store.data_start()
        found: list[Change] = []
        areas = {Area(p, d) for p, d, _ in days if d} | {Area(p) for p, _, _ in days}
        if data_start is None:  # an empty warehouse: nothing to evaluate
            areas = set()
        start = data_start or today
        # Two queries for every area's series (a district's province is among the areas),
        # one for the nation's (the fatality rule shrinks tolls toward the parent's) and one
        # for their alerts, not three per area.
        fatality = self.rules.fatality_spike
        series = self.store.series_many(areas) if areas else {}
        nation = self.store.national_series() if areas and fatality.enabled else {}
        area_rules = [r for r in RULE_NAMES if r != "mass_casualty"]
        known = self.store.stored_areas(area_rules, areas) if areas else {}
        # The days the feeds were reporting on each province: the history rules may judge.
        reported = self.store.report_days({a.province for a in areas}) if areas else {}
        gap = self.rules.coverage.max_gap_days
        coverage = {province: covered_runs(d, gap) for province, d in reported.items()}
        for area in sorted(areas, key=lambda a: a.key):
            parents = [series[Area(area.province)], nation] if area.district else [nation]
            episodes = area_episodes(
                area, series[area], start, today, self.rules, parents, coverage[area.province]
            )
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
        self._record(found, mark)
        return found

    def evaluate_quality(self, runs: list[SuiteRun]) -> list[Change]:
        """A failing suite is one alert (firing while runs fail, escalating as more
        expectations fail); the next run that passes resolves it."""
        today = self.today()
        now = datetime.now(UTC)
        silences = self.store.silences()
        found: list[Change] = []
        for run in sorted(runs, key=lambda r: r.suite):
            suite = run.suite
            scope = f"dq:{suite}"
            firing = {
                alert_id: (st, ep)
                for alert_id, (st, ep) in self.store.stored_scope(DATA_QUALITY, scope).items()
                if st.state == FIRING
            }
            day = _local_day(run.finished_at)
            if run.success and not firing:
                continue
            if run.success:
                episodes = [replace(ep, end=day, active=False) for _, ep in firing.values()]
            else:
                start = min((ep.start for _, ep in firing.values()), default=day)
                episodes = [
                    Episode(
                        rule=DATA_QUALITY,
                        area=Area(""),
                        start=start,
                        end=day,
                        peak_start=start,
                        peak_end=day,
                        observed=run.failed,
                        expected=0.0,
                        p_value=0.0,
                        summary=(
                            f"data quality: suite {suite} failed {run.failed} of"
                            f" {run.expectations} expectations (run {run.run_id};"
                            " `incidents dq` shows them)"
                        ),
                        incident_id=scope,
                    )
                ]
            stored = {
                ep.alert_id: firing[ep.alert_id][0] for ep in episodes if ep.alert_id in firing
            }
            found += changes(episodes, stored, {}, today, now, self.rules.lifecycle, silences)
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

    def _record(self, found: list[Change], mark: Mark) -> None:
        if not found:
            return
        ids: dict[str, list[str]] = {}
        windows: dict[str, tuple[Area, date, date]] = {}
        for c in found:
            e = c.episode
            if e.rule == DATA_QUALITY:
                ids[c.alert_id] = []
            elif e.incident_id:
                ids[c.alert_id] = [e.incident_id]
            else:
                windows[c.alert_id] = (e.area, e.peak_start, e.peak_end)
        ids.update(zip(windows, self.store.incident_ids(list(windows.values())), strict=True))
        self.store.record(found, ids)
        for c in found:
            ALERT_CHANGES.labels(c.episode.rule, c.event).inc()
            logger.info(
                "alert %s %s (%s)%s",
                c.alert_id,
                c.event,
                c.episode.summary,
                "" if c.notify else " [does not page]",
            )
            self.dispatcher.feed(Notification.single(c, ids[c.alert_id]))
            self.outbox.put(c, ids[c.alert_id], mark)


def _local_day(moment: datetime) -> date:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(LOCAL_TZ).date()
