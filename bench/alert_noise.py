"""False alerts on quiet data, and how fast a real surge fires: the spike rules' calibration.

Simulates areas with ordinary Poisson incident rates (0.05-0.4 a day) and heavy-tailed
deaths per incident, runs the real rules (``incidents_alerting.evaluate``) over them, and
prints false alerts per area-year for each rule, then the delay from a surge's start to
its first firing window (the rate rising six-fold for ten days).

    python -m bench.alert_noise [--areas 180] [--years 5] [--rules FILE] [--seed 1]

docs/alerting.md records the results and the defaults chosen from them.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from incidents_alerting.evaluate import Area, Day, area_episodes
from incidents_alerting.rules import Rules, load_rules

START = date(2020, 1, 1)


def killed_per_incident(rng: np.random.Generator, n: int) -> np.ndarray:
    """Deaths per incident: often none or one, sometimes dozens (a geometric with a tail)."""
    base = rng.geometric(0.45, size=n) - 1  # mean ~1.2
    bombings = rng.random(n) < 0.03
    return base + bombings * rng.integers(5, 40, size=n)


def simulate(rng: np.random.Generator, rate: float, days: int, surge: tuple[int, int] | None):
    counts = rng.poisson(rate, size=days)
    if surge is not None:
        start, length = surge
        counts[start : start + length] = rng.poisson(rate * 6, size=length)
    series: dict[date, Day] = {}
    for i, c in enumerate(counts):
        if c:
            series[START + timedelta(days=i)] = Day(int(c), int(killed_per_incident(rng, c).sum()))
    return series


def false_alerts(rules: Rules, areas: int, years: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    days = 365 * years
    today = START + timedelta(days=days - 1)
    per_rule: Counter[str] = Counter()
    for i in range(areas):
        rate = rng.uniform(0.05, 0.4)
        series = simulate(rng, rate, days, None)
        for episode in area_episodes(Area("P", f"d{i}"), series, START, today, rules):
            per_rule[episode.rule] += 1
    area_years = areas * (years - 0.25)  # the first ~90 days have no full baseline
    print(f"false alerts on {areas} quiet areas over {years} years (per area-year; per month)")
    for rule in ("count_spike", "fatality_spike", "quiet_district"):
        n = per_rule[rule]
        print(
            f"  {rule:15} {n:5d} alerts  {n / area_years:.4f} per area-year"
            f"  {n / (years * 12):.2f} per month over all {areas} areas"
        )


def surge_delays(rules: Rules, runs: int, seed: int, rule: str) -> None:
    rng = np.random.default_rng(seed)
    print(f"{rule}: rate x6 for 10 days from day 400; days from its start to the first alert")
    for rate in (0.05, 0.1, 0.2, 0.4):
        delays = []
        for _ in range(runs):
            series = simulate(rng, rate, 500, (400, 10))
            surge_day = START + timedelta(days=400)
            fired = [
                (e.start, e.end)
                for e in area_episodes(Area("P", "d"), series, START, START + timedelta(499), rules)
                if e.rule == rule and e.end >= surge_day
            ]
            first = _first_firing_end(series, rules, surge_day, rule) if fired else None
            delays.append(first)
        found = [d for d in delays if d is not None]
        within2 = sum(1 for d in found if d <= 1)  # day 0 and day 1 are "within two days"
        median = statistics.median(found) if found else float("nan")
        print(
            f"  base {rate:.2f}/day: fired {len(found)}/{runs}, within 2 days {within2}/{runs},"
            f" median delay {median} days"
        )


def _first_firing_end(
    series: dict[date, Day], rules: Rules, surge_day: date, rule: str
) -> int | None:
    """Days from the surge's start to the first window end that fires (evaluated as of then)."""
    for delay in range(0, 15):
        today = surge_day + timedelta(days=delay)
        known = {d: v for d, v in series.items() if d <= today}
        for e in area_episodes(Area("P", "d"), known, START, today, rules):
            if e.rule == rule and e.end >= surge_day:
                return delay
    return None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_noise", description=__doc__)
    parser.add_argument("--areas", type=int, default=180, help="quiet areas (default 180)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="surge simulations per rate")
    parser.add_argument("--rules", type=Path, help="a rules file (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rules = load_rules(args.rules)
    false_alerts(rules, args.areas, args.years, args.seed)
    surge_delays(rules, args.runs, args.seed, "count_spike")
    surge_delays(rules, args.runs, args.seed, "fatality_spike")


if __name__ == "__main__":
    main()
