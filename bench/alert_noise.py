"""False alerts on quiet data, and how fast a real surge fires: the spike rules' calibration.

Simulates areas with ordinary Poisson incident rates (0.05-0.4 a day for a district), each
incident killing a number drawn from a noise model, runs the real rules
(``incidents_alerting.evaluate``) over them, and prints:

1. false alerts per rule, for two noise models of the per-incident tolls: ``bench`` (mostly
   0-2, 3% of incidents 5-39) and ``q1_2024`` (drawn from the per-incident killed of the
   bundled Q1 2024 sample's 245 incidents);
2. how often, and how fast, a surge fires: a count surge (the rate six-fold for ten days)
   and a fatality surge (the rate three-fold for ten days, each incident killing 3-9).

Beside the shipped fatality rule (compound Poisson) runs today's rule before it, the
negative binomial (``bench.negbin_rule``), on the same simulated data.

The 180 areas are 174 districts in 6 provinces, and the 6 provinces (each the sum of its
districts): the fatality rule shrinks a district's tolls toward its province's, and a
province's toward the nation's (all of them).

    python -m bench.alert_noise [--areas 180] [--provinces 6] [--years 5] [--runs 100]
                                [--rules FILE] [--seed 1]

docs/alerting.md records the results and the defaults chosen from them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from bench import fatality_cases as cases
from bench._common import machine
from bench.negbin_rule import NegbinRule, negbin_episodes, negbin_test
from incidents_alerting import stats
from incidents_alerting.evaluate import Area, Day, Episode, area_episodes, fatality_tests
from incidents_alerting.rules import Rules, load_rules
from producers.samples.q1_2024 import SAMPLE_DIR
from producers.samples.q1_2024.check import latest_versions, merge, read_acled, read_news

START = date(2020, 1, 1)
NB = "fatality NB (today)"  # the baseline column: the rule as it shipped before
SPIKES = ("count_spike", "fatality_spike", NB)

Tolls = Callable[[np.random.Generator, int], np.ndarray]
Series = dict[date, Day]


def bench_tolls(rng: np.random.Generator, n: int) -> np.ndarray:
    """Deaths per incident: often none or one, sometimes dozens (a geometric with a tail)."""
    base = rng.geometric(0.45, size=n) - 1  # mean ~1.2
    bombings = rng.random(n) < 0.03
    return base + bombings * rng.integers(5, 40, size=n)


def sample_killed() -> np.ndarray:
    """The killed of each of the Q1 2024 sample's 245 incidents (after deduplication)."""
    news = read_news(SAMPLE_DIR / "news.jsonl")
    acled = read_acled(SAMPLE_DIR / "acled.csv")
    latest = latest_versions(news.reports + acled.reports)
    incidents = merge([r for r in latest.values() if not r.retracted])
    return np.array(sorted(sum(m.killed) for m in incidents.values()))


def sample_tolls(killed: np.ndarray) -> Tolls:
    return lambda rng, n: rng.choice(killed, size=n)


@dataclass(frozen=True)
class Surge:
    """For `length` days from `start`, the rate times `factor`; `deadly`: each incident
    then kills 3-9 (under the mass-casualty threshold, so only the spike rules can see it)."""

    name: str
    factor: float
    deadly: bool
    start: int = 400
    length: int = 10


COUNT_SURGE = Surge("count surge: incidents x6 for 10 days", 6, False)
FATALITY_SURGE = Surge("fatality surge: incidents x3 for 10 days, each killing 3-9", 3, True)


def simulate(
    rng: np.random.Generator, rate: float, days: int, tolls: Tolls, surge: Surge | None = None
) -> Series:
    counts = rng.poisson(rate, size=days)
    if surge is not None:
        counts[surge.start : surge.start + surge.length] = rng.poisson(
            rate * surge.factor, size=surge.length
        )
    killed = tolls(rng, int(counts.sum()))
    if surge is not None and surge.deadly:
        before = int(counts[: surge.start].sum())
        during = int(counts[surge.start : surge.start + surge.length].sum())
        killed[before : before + during] = rng.integers(3, 10, size=during)
    series: Series = {}
    at = 0
    for i in np.flatnonzero(counts):
        c = int(counts[i])
        series[START + timedelta(days=int(i))] = _day(killed[at : at + c].tolist())
        at += c
    return series


def _day(tolls: list[int]) -> Day:
    tolls.sort()
    return Day(len(tolls), sum(tolls), tuple(tolls))


def combined(parts: Iterable[Mapping[date, Day]]) -> Series:
    """The sum of some areas' series (a province of its districts, the nation)."""
    tolls: dict[date, list[int]] = defaultdict(list)
    for part in parts:
        for day, v in part.items():
            tolls[day].extend(v.tolls)
    return {day: _day(t) for day, t in tolls.items()}


def only(rules: Rules, rule: str) -> Rules:
    """The rules with only `rule` among the area rules enabled (to time and count each)."""
    update = {
        name: getattr(rules, name).model_copy(update={"enabled": name == rule})
        for name in ("count_spike", "fatality_spike", "quiet_district")
    }
    return rules.model_copy(update=update)


@dataclass
class Tally:
    alerts: Counter[str]
    seconds: dict[tuple[str, str], list[float]]  # (rule, area kind) -> per-area times


def evaluate(
    tally: Tally,
    per_rule: Mapping[str, Rules],
    area: Area,
    series: Series,
    parents: Sequence[Series],
    today: date,
) -> None:
    for rule, rules in per_rule.items():
        began = time.perf_counter()
        if rule == NB:
            found = negbin_episodes(area, series, START, today, NegbinRule())
        else:
            found = area_episodes(area, series, START, today, rules, parents)
        tally.seconds[(rule, area.kind)].append(time.perf_counter() - began)
        tally.alerts[rule] += len(found)


def false_alerts(
    rules: Rules, tolls: Tolls, areas: int, provinces: int, years: int, seed: int
) -> Tally:
    rng = np.random.default_rng(seed)
    days = 365 * years
    today = START + timedelta(days=days - 1)
    per_rule = {r: only(rules, r) for r in ("count_spike", "fatality_spike", "quiet_district")}
    per_rule[NB] = rules
    districts = areas - provinces
    tree: dict[Area, dict[Area, Series]] = {}
    for i in range(districts):
        province = Area(f"P{i % provinces}")
        district = Area(province.province, f"d{i}")
        tree.setdefault(province, {})[district] = simulate(rng, rng.uniform(0.05, 0.4), days, tolls)
    totals = {p: combined(ds.values()) for p, ds in tree.items()}
    nation = combined(totals.values())
    tally = Tally(Counter(), defaultdict(list))
    for province, ds in tree.items():
        for district, series in ds.items():
            evaluate(tally, per_rule, district, series, [totals[province], nation], today)
        evaluate(tally, per_rule, province, totals[province], [nation], today)
    return tally


def print_false_alerts(name: str, tally: Tally, areas: int, provinces: int, years: int) -> None:
    area_years = areas * (years - 0.25)  # the first ~90 days have no full baseline
    months = years * 12
    print(
        f"\nfalse alerts, noise model {name!r}: {areas - provinces} districts in {provinces}"
        f" provinces + the {provinces} provinces, {years} years"
    )
    print(f"  {'rule':22} {'alerts':>6} {'per area-year':>14} {'per month, all areas':>21}")
    for rule in ("count_spike", "fatality_spike", "quiet_district", NB):
        n = tally.alerts[rule]
        print(f"  {rule:22} {n:6d} {n / area_years:14.4f} {n / months:21.2f}")
    shipped = sum(tally.alerts[r] for r in ("count_spike", "fatality_spike", "quiet_district"))
    today = sum(tally.alerts[r] for r in ("count_spike", NB, "quiet_district"))
    print(
        f"  all rules: {shipped / months:.2f} a month with the compound Poisson fatality rule,"
        f" {today / months:.2f} with today's (budget: 1)"
    )


def print_times(tally: Tally, years: int) -> None:
    print(f"\nevaluation time of one area's {years}-year series, median (max) in ms")
    for rule in ("count_spike", "fatality_spike", NB):
        cells = []
        for kind in ("district", "province"):
            times = tally.seconds[(rule, kind)]
            if times:
                cells.append(
                    f"{kind} {1e3 * statistics.median(times):6.1f} ({1e3 * max(times):6.1f})"
                )
        print(f"  {rule:22} " + "   ".join(cells))


def by_rule(
    rules: Rules, area: Area, series: Series, parents: Sequence[Series], upto: date
) -> dict[str, list[Episode]]:
    """Each spike rule's episodes (today's fatality rule too) as evaluated on day `upto`."""
    known = {d: v for d, v in series.items() if d <= upto}
    out: dict[str, list[Episode]] = {r: [] for r in SPIKES}
    for e in area_episodes(area, known, START, upto, rules, parents):
        out.setdefault(e.rule, []).append(e)
    out[NB] = negbin_episodes(area, known, START, upto, NegbinRule())
    return out


def first_firing(
    rules: Rules,
    area: Area,
    series: Series,
    parents: Sequence[Series],
    surge_day: date,
    today: date,
) -> dict[str, int]:
    """Days from the surge's start to each rule's first firing window ending in the 15 days
    from it (rules that do not fire are left out).

    A window ending on a day reads only days up to it, so one evaluation over the whole
    series tells when an evaluation as of each day would first have fired. An episode that
    began before the surge hides its windows' ends: then the rule is evaluated day by day.
    """
    widths = {
        "count_spike": rules.count_spike.window_days,
        "fatality_spike": rules.fatality_spike.window_days,
        NB: NegbinRule().window_days,
    }
    delays: dict[str, int] = {}
    for rule, found in by_rule(rules, area, series, parents, today).items():
        if rule not in widths:
            continue
        ends = []
        for e in found:
            first = e.start + timedelta(days=widths[rule] - 1)
            if first >= surge_day:
                ends.append((first - surge_day).days)
            elif e.end >= surge_day:
                ends += [
                    d
                    for d in range(15)
                    if any(
                        x.end >= surge_day
                        for x in by_rule(
                            rules, area, series, parents, surge_day + timedelta(days=d)
                        )[rule]
                    )
                ][:1]
        within = [d for d in ends if 0 <= d <= 14]
        if within:
            delays[rule] = min(within)
    return delays


def detection(
    rules: Rules, tolls: Tolls, surge: Surge, runs: int, seed: int
) -> dict[float, dict[str, list[int]]]:
    """Delays (days) of each rule's first alert on `runs` surges per base rate."""
    rng = np.random.default_rng(seed)
    days = 500
    surge_day = START + timedelta(days=surge.start)
    today = START + timedelta(days=days - 1)
    # The rest of the district's province (28 districts like it) and the nation (5 more
    # such provinces), drawn once: only the fatality rule reads them, as the tolls it shrinks
    # toward. The nation leaves the district out (1/174 of it).
    rest = simulate(rng, 28 * 0.225, days, tolls)
    nation = combined([rest, simulate(rng, 5 * 29 * 0.225, days, tolls)])
    out: dict[float, dict[str, list[int]]] = {}
    for rate in (0.05, 0.1, 0.2, 0.4):
        found: dict[str, list[int]] = {r: [] for r in SPIKES}
        for _ in range(runs):
            series = simulate(rng, rate, days, tolls, surge)
            parents = [combined([series, rest]), nation]
            delays = first_firing(rules, Area("P", "d"), series, parents, surge_day, today)
            for rule, delay in delays.items():
                found[rule].append(delay)
        out[rate] = found
    return out


def print_detection(
    name: str, surge: Surge, results: dict[float, dict[str, list[int]]], runs: int
) -> None:
    print(f"\n{surge.name} from day {surge.start}, noise model {name!r}, {runs} runs a rate:")
    print("  fired within 14 days (within 2 days), median days from the surge's start")
    print(f"  {'base rate':10}" + "".join(f"{r:>28}" for r in SPIKES))
    for rate, by_rule in results.items():
        cells = []
        for rule in SPIKES:
            delays = by_rule[rule]
            within2 = sum(1 for d in delays if d <= 1)
            median = f"{statistics.median(delays):.1f}" if delays else "-"
            cells.append(f"{len(delays):3d}/{runs} ({within2:2d}) med {median:>4}")
        print(f"  {rate:.2f}/day  " + "".join(f"{c:>28}" for c in cells))


def smallest_firing(p_of: Callable[[int], float], threshold: float, low: int) -> int:
    """The smallest toll k >= low with p_of(k) < threshold (p_of falls as k grows)."""
    high = max(low, 1)
    while p_of(high) >= threshold:
        low, high = high + 1, high * 2
    while low < high:
        mid = (low + high) // 2
        if p_of(mid) < threshold:
            high = mid
        else:
            low = mid + 1
    return high


def deadly_weeks(rules: Rules) -> None:
    """The two deadly weeks of bench/fatality_cases.py (also unit tests) under both rules,
    and the smallest week's toll each rule would fire on, the baseline unchanged."""
    cfg, old = rules.fatality_spike, NegbinRule()
    cut = rules.mass_casualty.min_killed if rules.mass_casualty.enabled else None
    end = cases.WINDOW_END
    first = end - timedelta(days=cfg.window_days - 1)
    print("\nthe deadly weeks of docs/alerting.md (bench/fatality_cases.py), the week to", end)
    for area, series, parents in (cases.district_case(), cases.province_case()):
        before = {d: v for d, v in series.items() if d < first}

        def new_p(k: int, before: Series = before, parents: list[Series] = parents) -> float:
            week = cases.series_of([(end, 9)] * (k // 9) + [(end, k % 9)])
            tests = fatality_tests({**before, **week}, parents, cases.START, end, cfg, cut=cut)
            return tests[-1].test.p_value if tests and tests[-1].end == end else 1.0

        tests = fatality_tests(series, parents, cases.START, end, cfg, cut=cut)
        now = tests[-1].test
        daily = [
            series.get(cases.START + timedelta(days=i), Day()).killed
            for i in range((end - cases.START).days + 1)
        ]
        w, b = old.window_days, old.baseline_days
        base = stats.sums(daily[-w:], daily[-w - b : -w])
        was = negbin_test(base, old)

        def old_p(k: int, base: stats.Sums = base) -> float:
            return negbin_test(replace(base, observed=k), old).p_value

        print(
            f"  {area.name}: {now.observed} killed in {w} days\n"
            f"    compound Poisson: {now.expected:.1f} expected, p={now.p_value:.1g},"
            f" fires from {smallest_firing(new_p, cfg.p_value, cfg.min_killed)} killed\n"
            f"    today's NB:       {was.expected:.1f} expected, p={was.p_value:.1g},"
            f" fires from {smallest_firing(old_p, old.p_value, old.min_killed)} killed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_noise", description=__doc__)
    parser.add_argument("--areas", type=int, default=180, help="areas (default 180)")
    parser.add_argument("--provinces", type=int, default=6, help="of the areas (default 6)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="surge simulations per rate")
    parser.add_argument("--rules", type=Path, help="a rules file (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rules = load_rules(args.rules)
    killed = sample_killed()
    models: dict[str, Tolls] = {"bench": bench_tolls, "q1_2024": sample_tolls(killed)}
    began = time.perf_counter()
    print(machine())
    fatality = rules.fatality_spike
    print(
        f"fatality_spike: compound Poisson, p < {fatality.p_value:g}, at least"
        f" {fatality.min_killed} killed, shrinkage {fatality.shrinkage:g};"
        f" today's: negative binomial, {NegbinRule()}"
    )
    print(
        f"Q1 2024 sample: {len(killed)} incidents, {int(killed.sum())} killed,"
        f" {np.mean(killed == 0):.0%} with none, largest {int(killed.max())}"
    )
    deadly_weeks(rules)
    for name, tolls in models.items():
        tally = false_alerts(rules, tolls, args.areas, args.provinces, args.years, args.seed)
        print_false_alerts(name, tally, args.areas, args.provinces, args.years)
        if name == "bench":
            print_times(tally, args.years)
    for surge in (COUNT_SURGE, FATALITY_SURGE):
        for name, tolls in models.items():
            results = detection(rules, tolls, surge, args.runs, args.seed)
            print_detection(name, surge, results, args.runs)
    print(f"\n(ran in {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
