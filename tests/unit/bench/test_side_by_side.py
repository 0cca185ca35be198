"""The pure parts of the side-by-side benchmarks: the Quix peer's steps, child results."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from typing import Any

from bench._common import run_child
from bench.peer_quix import Peer, quarter_key
from bench.synth import jsonl_bytes, synthetic_reports


class FakeState:
    """Quix's per-key State: get/set on a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # Quix stores JSON


def feed(peer: Peer, lines: list[bytes]) -> dict[str, list[int]]:
    """Run the peer's two steps over versions of one report (one state, as Quix keys it)."""
    state = FakeState()
    rollups: dict[str, FakeState] = {}
    for line in lines:
        for delta in peer.validate_dedupe(line, state):
            peer.rollup(delta, rollups.setdefault(delta["key"], FakeState()))
    return peer.totals


def report(version: int, killed: int, day: str = "2024-02-01") -> bytes:
    """A version of one synthetic report, occurred on `day`, reported the day after."""
    [base] = synthetic_reports(1, seed=5)
    base.update(
        version=version,
        retracted=False,
        occurred_on=day,
        killed={"unknown": killed},
        reported_at=f"{date.fromisoformat(day) + timedelta(days=1)}T10:00:00+05:00",
    )
    return jsonl_bytes([base])[0]


def test_newer_versions_replace_older_and_stale_ones_are_dropped() -> None:
    stopped: list[bool] = []
    peer = Peer(count=4)
    peer.stop = lambda: stopped.append(True)
    totals = feed(peer, [report(1, 2), report(3, 7), report(2, 100), b"not json"])
    province = json.loads(report(1, 2))["province"]
    assert totals == {f"{province}|2024-Q1": [1, 7]}
    assert (peer.stale, peer.invalid, peer.consumed) == (1, 1, 4)
    assert stopped == [True]  # all consumed and every delta rolled up


def test_a_version_that_moves_quarter_moves_its_counts() -> None:
    peer = Peer(count=2)
    peer.stop = lambda: None
    totals = feed(peer, [report(1, 2, day="2024-03-31"), report(2, 3, day="2024-04-01")])
    province = json.loads(report(1, 2))["province"]
    assert totals == {f"{province}|2024-Q1": [0, 0], f"{province}|2024-Q2": [1, 3]}


def test_quarter_key() -> None:
    assert quarter_key("Punjab", date(2024, 12, 31)) == "Punjab|2024-Q4"


def test_run_child_returns_the_result_line_and_says_why_not() -> None:
    code = "print('hello'); print('RESULT {\"rate\": 2.5}')"
    result, text = run_child([sys.executable, "-c", code], {}, 30)
    assert result == {"rate": 2.5}
    assert text == "hello"
    result, text = run_child([sys.executable, "-c", "raise SystemExit(3)"], {}, 30)
    assert result is None
    assert text.startswith("exit status 3")
