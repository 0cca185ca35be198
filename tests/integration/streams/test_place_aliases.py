"""Spellings nobody listed, the whole loop (issue 18): a wire feed spells eight places in
ways the gazetteer lacks; `incidents places suggest` proposes each from the police feed's
corroborating reports; bad decisions are refused with nothing written; after `accept` a
worker built with the old gazetteer refuses to start, `incidents status` says why, and
after `incidents replay` the figures equal the independent recomputation of the feed with
every spelling known, every key carrying the new gazetteer version."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from incidents_config import metrics
from incidents_config.names import Ledger
from incidents_places import overlay
from schemas.places import places_with_overlay, shipped_places
from tests import reference
from tests.cli import run_incidents
from tests.integration.streams.conftest import Pipeline
from tests.unseen_spellings import DECOY_TEXT, UNSEEN, feed

pytestmark = pytest.mark.integration


def _one_line_refusal(p: Pipeline, *args: str, says: str) -> None:
    done = run_incidents(p.settings, "places", "accept", *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not p.settings.paths.overlay.exists()  # nothing written


def test_unseen_spellings_are_suggested_accepted_and_replayed_into_exact_figures(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    published, truth = feed()
    p = pipeline_factory()
    p.up()
    p.publish(list(published))
    p.wait()
    split = reference.district_day_totals(published)
    known = reference.district_day_totals(truth)
    assert split != known  # the unseen spellings split incidents
    assert p.district_days() == split

    done = run_incidents(p.settings, "places", "suggest", "--format", "json")
    assert done.returncode == 0, done.stderr
    suggested = {(s["district"], s["text"]): s for s in json.loads(done.stdout)}
    assert {k: s["place"] for k, s in suggested.items()} == {
        (u.district, u.unseen): u.place_id for u in UNSEEN
    }
    assert all(s["evidence_days"] >= 2 for s in suggested.values())
    assert DECOY_TEXT not in {text for _, text in suggested}  # its coordinates are apart
    table = run_incidents(p.settings, "places", "suggest")
    assert table.returncode == 0 and "Miranshaw" in table.stdout, table.stderr

    # Every refusal is unit-tested (tests/unit/incidents_places/test_overlay.py); here, as
    # the CLI shows them: one line, nothing written.
    miranshah = UNSEEN[0].place_id
    _one_line_refusal(
        p, "Miranshaw", "--place", miranshah, "--district", "Bannu", says="not of Bannu"
    )
    _one_line_refusal(p, "Mir Ali", "--place", miranshah, says="merge two places")

    before = shipped_places().version
    assert Ledger(p.settings.paths).gazetteer(0) == before
    first, *others = suggested.values()
    done = run_incidents(p.settings, "places", "accept", first["text"], "--place", first["place"])
    assert done.returncode == 0 and "run `incidents replay`" in done.stderr, done.stderr
    for s in others:  # the same code the command runs, without a process each
        overlay.decide(p.settings.paths.overlay, s["text"], s["place"], "accept", comment="test")
    after = places_with_overlay(p.settings.paths.overlay).version
    assert after != before

    # Keys never mix: a worker started with the changed gazetteer refuses, naming the fix.
    refused = run_incidents(p.settings, "run", "worker", "--worker-id", "2", timeout_s=120)
    assert refused.returncode == 1, refused.stderr
    assert "incidents replay" in refused.stderr and "Traceback" not in refused.stderr
    status = run_incidents(p.settings, "status")
    assert f"keys built with {before}" in status.stdout and after in status.stdout, status.stdout
    assert metrics.total(p.metrics("sink"), "incidents_gazetteer_stale") == 1.0
    assert metrics.total(p.metrics("sink"), "incidents_gazetteer_info", current=after) == 1.0

    replayed = run_incidents(p.settings, "replay", "--stall", "120", timeout_s=600)
    assert replayed.returncode == 0, replayed.stderr
    p.wait()
    assert p.district_days() == known
    assert Ledger(p.settings.paths).gazetteer(Ledger(p.settings.paths).live()) == after
    assert p.query("SELECT DISTINCT gazetteer FROM incidents FINAL") == [(after,)]
    status = run_incidents(p.settings, "status")
    assert f"version {after}" in status.stdout and "keys built with" not in status.stdout
    assert metrics.total(p.metrics("sink"), "incidents_gazetteer_stale") == 0.0
    assert run_incidents(p.settings, "places", "suggest", "--format", "json").stdout.strip() == "[]"
