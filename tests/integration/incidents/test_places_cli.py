"""`incidents places resolve` and `incidents places unresolved`, as a user runs them."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from incidents_config.settings import Settings
from schemas.places import load_places
from sinks.clickhouse import open_read_client
from tests.cli import run_incidents

pytestmark = pytest.mark.integration


def test_resolve_explains_a_folded_spelling(sample_warehouse: Settings) -> None:
    done = run_incidents(
        sample_warehouse, "places", "resolve", "Meer Ali", "--district", "North Waziristan"
    )
    assert done.returncode == 0, done.stderr
    place = load_places().resolve("Mir Ali", "Khyber Pakhtunkhwa", "North Waziristan").place
    assert place is not None
    assert place.id in done.stdout and "how: folded" in done.stdout


def test_resolve_says_when_nothing_matches(sample_warehouse: Settings) -> None:
    done = run_incidents(sample_warehouse, "places", "resolve", "Atlantis", "--district", "Quetta")
    assert done.returncode == 1
    assert "unresolved" in done.stdout and "normalized text" in done.stdout
    bad = run_incidents(sample_warehouse, "places", "resolve", "x", "--district", "Nowhere")
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_unresolved_lists_what_the_gazetteer_misses(sample_warehouse: Settings) -> None:
    client = open_read_client(sample_warehouse)
    try:
        rows = client.query(
            "SELECT province, ifNull(district, ''), location FROM report_versions FINAL"
            " WHERE retracted = 0 AND location IS NOT NULL AND location != ''"
        ).result_rows
    finally:
        client.close()
    places = load_places()
    missed = [r for r in rows if places.resolve(r[2], r[0], r[1] or None).place is None]

    done = run_incidents(
        sample_warehouse, "places", "unresolved", "--since", "30d", "--limit", "500"
    )
    assert done.returncode == 0, done.stderr
    total = re.search(r"(\d+) report\(s\) with a location that does not resolve", done.stdout)
    assert total is not None and int(total.group(1)) == len(missed)
    for _, _, location in missed[:5]:
        assert location in done.stdout


def test_a_corrupt_overlay_stops_a_worker_and_every_decision_with_file_and_line(
    settings_factory: Callable[..., Settings],
) -> None:
    """A hand-edited overlay is never half-used, and never silently ignored."""
    settings = settings_factory(local_kafka={"enabled": False})
    overlay = settings.paths.overlay
    overlay.parent.mkdir(parents=True, exist_ok=True)
    good = (
        '{"text":"Miranshaw","place":"kp-north-waziristan-miranshah","decision":"accept",'
        '"when":"2026-12-01T10:00:00Z","who":"a"}\n'
    )
    overlay.write_text(good + '{"text": "Jhob", "place": "ba-zhob-zhob"\n')
    for args in (
        ("run", "worker", "--worker-id", "1"),
        ("places", "accept", "Jhob", "--place", "ba-zhob-zhob"),
        ("places", "resolve", "Miranshaw", "--district", "North Waziristan"),
        ("places", "export"),
    ):
        done = run_incidents(settings, *args, timeout_s=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1, (args, done.stderr)
        assert len(lines) == 1 and f"{overlay}:2: " in lines[0], (args, done.stderr)
    assert overlay.read_text().count("\n") == 2  # nothing appended


def test_markup_in_a_spelling_is_printed_as_written(
    settings_factory: Callable[..., Settings],
) -> None:
    """Rich's markup is never read from users' text: `[/red]` is a spelling like any."""
    settings = settings_factory(local_kafka={"enabled": False})
    done = run_incidents(settings, "places", "accept", "[/red]Jhob[bold", "--place", "ba-zhob-zhob")
    assert done.returncode == 0 and "[/red]Jhob[bold" in done.stdout, done.stderr
    refused = run_incidents(settings, "places", "accept", "[/]Zhob", "--place", "ba-zhob-zhob")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1 and "[/]Zhob" in lines[0], refused.stderr
    unknown = run_incidents(settings, "places", "resolve", "[/x]", "--district", "Zhob")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr, unknown.stderr
