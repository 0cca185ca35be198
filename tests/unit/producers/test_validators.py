"""Validation beside the sending process: the same checks, in the input's order."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterator

import pytest

from producers import pipeline
from producers.exceptions import ProducerError
from producers.pipeline import Candidate, Item, Rejected, Skip, checked_items
from schemas.errors import FieldError
from tests.strategies import make_report


def mixed_items(n: int) -> list[Item]:
    """Valid reports, revisions of them, contract violations, garbage, skips, rejections."""
    items: list[Item] = []
    for i in range(n):
        kind = i % 7
        if kind == 0:
            items.append(Skip("blank line"))
        elif kind == 1:
            items.append(Rejected(i, [FieldError.whole("too large")], "..."))
        elif kind == 2:
            items.append(Candidate(i, b'{"source": "x", "killed": "many"}'))
        elif kind == 3:
            items.append(Candidate(i, b"\xff\xfe" + b"[" * 100_000))
        else:
            report = make_report(event=str(i // 3), version=1 + i % 3)
            items.append(Candidate(i, report.model_dump_json().encode()))
    return items


def test_validating_processes_give_what_this_process_gives_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "CHECK_CHUNK", 37)  # many tasks, the last one short
    items = mixed_items(1_000)
    alone = list(checked_items(items, True, 1_000_000, processes=0))
    beside = list(checked_items(items, True, 1_000_000, processes=2))
    assert [(i, k, [e.message for e in errs]) for i, k, errs in beside] == [
        (i, k, [e.message for e in errs]) for i, k, errs in alone
    ]
    for n, (item, key, errors) in enumerate(alone):
        assert item is items[n]
        if n % 7 >= 4:  # a valid report: its key, no errors
            assert key == f"news:{n // 3}" and errors == []
        elif n % 7 in (2, 3):  # a contract violation, garbage: errors, no key
            assert key is None and errors


def test_a_validating_process_that_dies_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "CHECK_CHUNK", 10)
    line = json.dumps(make_report().model_dump(mode="json")).encode()

    def items() -> Iterator[Item]:
        for i in range(200):
            if i == 50:  # the pool runs: kill its processes, as the OOM killer would
                for child in multiprocessing.active_children():
                    os.kill(child.pid or 0, signal.SIGKILL)
            yield Candidate(i, line)

    with pytest.raises(ProducerError, match="validating process stopped"):
        list(checked_items(items(), True, 1_000_000, processes=1))


def test_small_files_and_stdin_are_validated_in_the_sending_process() -> None:
    assert pipeline.default_validators(None) == 0
    assert pipeline.default_validators(pipeline.PARALLEL_FROM_BYTES - 1) == 0
    large = pipeline.default_validators(pipeline.PARALLEL_FROM_BYTES)
    assert large == max(0, min((os.cpu_count() or 1) - 1, pipeline.MAX_VALIDATORS))
