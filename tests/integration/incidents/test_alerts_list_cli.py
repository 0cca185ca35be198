"""`incidents alerts list` as an analyst runs it in a 120-column terminal: alerts recorded in a
real warehouse by alerting's own store, read back through the CLI's query."""

from __future__ import annotations

from datetime import date

import pytest

from incidents_alerting.evaluate import Area, Episode, Incident, mass_casualty_episode
from incidents_alerting.lifecycle import Change
from incidents_alerting.store import AlertStore
from incidents_config.settings import Settings
from sinks.clickhouse import connect
from tests.cli import run_incidents

pytestmark = pytest.mark.integration

SPIKE = Episode(
    rule="fatality_spike",
    area=Area("Khyber Pakhtunkhwa", "Dera Ismail Khan"),
    start=date(2024, 2, 20),
    end=date(2024, 3, 3),
    peak_start=date(2024, 2, 26),
    peak_end=date(2024, 3, 3),
    observed=37,
    expected=4.2137,
    p_value=5.684024075810001e-05,
    summary="Dera Ismail Khan: 37 killed in 7 days vs 4.2 expected (p=6e-05)",
)
MASS_CASUALTY = mass_casualty_episode(
    Incident(
        "inc-0123456789",
        Area("Khyber Pakhtunkhwa", "Mohmand"),
        date(2024, 1, 30),
        killed=25,
        location="Ghallanai",
        subtype="suicide_bombing",
    ),
    min_killed=10,
)


def test_alerts_list_fits_120_columns(warehouse_settings: Settings) -> None:
    client = connect(warehouse_settings)
    try:
        AlertStore(client, warehouse_settings.clickhouse.database).record(
            [
                Change(SPIKE, 2, "escalated", "firing", notify=False),
                Change(MASS_CASUALTY, 1, "fired", "firing", notify=True),
            ],
            {},
        )
    finally:
        client.close()

    done = run_incidents(warehouse_settings, "alerts", "list", env={"COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120, done.stdout
    spike = next(line.split() for line in lines if SPIKE.alert_id in line)
    assert spike[-5:] == ["37", "4.21", "5.7e-05", "not", "sent"], done.stdout
    assert "2024-02-26..03-03" in spike
    mass = next(line.split() for line in lines if MASS_CASUALTY.alert_id in line)
    assert mass[-4:] == ["25", "10", "-", "pending"], done.stdout
    assert "2 alert(s); summaries: --format csv or json, or 160+ columns" in done.stdout

    wide = run_incidents(warehouse_settings, "alerts", "list", env={"COLUMNS": "200"})
    assert "(suicide bombing)" in wide.stdout, wide.stdout
    as_csv = run_incidents(warehouse_settings, "alerts", "list", "--format", "csv")
    assert "5.684024075810001e-05" in as_csv.stdout  # machines get every digit
