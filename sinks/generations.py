"""Pipeline generations in the warehouse: the tables `incidents replay` rebuilds and swaps.

A replay builds the next generation beside the live one: fresh Faust state, its own
internal topics, and its own copies of the tables the stream derives, named
``<table>_g<N>``. When it has caught up, :func:`switch` exchanges each copy with the live
table (``EXCHANGE TABLES``, atomic per table) while nobody can query (the sink, which owns
the embedded warehouse and its SQL endpoint, is stopped), then drops the old data. The
views read the live tables by name, so they show the whole old warehouse until the switch
and the whole new one after it.

Not rebuilt: ``rejected_reports`` (the dead-letter topic is shared, every generation's
letters for the same message have the same key), the alerting tables and the migrations'
bookkeeping.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from sinks.clickhouse import identifier
from sinks.tables import AGG_DISTRICT_DAY, INCIDENTS, REPORT_VERSIONS

REBUILT = (REPORT_VERSIONS.name, INCIDENTS.name, AGG_DISTRICT_DAY.name)


def build_table(name: str, generation: int) -> str:
    """The table generation `generation` writes while it is being built."""
    return f"{name}_g{generation}"


def create_build_tables(client: Client, database: str, generation: int) -> None:
    """Create empty copies of the rebuilt tables for `generation` (same columns, engine, keys)."""
    db = identifier(database, "database")
    for name in REBUILT:
        client.command(
            f"CREATE TABLE IF NOT EXISTS {db}.{build_table(name, generation)} AS {db}.{name}"
        )


def switch(client: Client, database: str, generation: int) -> None:
    """Make `generation`'s tables the live ones and drop the replaced data.

    Call it only while nobody writes or queries: each EXCHANGE is atomic, three of them
    are not.
    """
    db = identifier(database, "database")
    for name in REBUILT:
        client.command(f"EXCHANGE TABLES {db}.{name} AND {db}.{build_table(name, generation)}")
    for name in REBUILT:
        client.command(f"DROP TABLE IF EXISTS {db}.{build_table(name, generation)}")


def drop_build_tables(client: Client, database: str, generation: int) -> None:
    """Drop a generation's copies (an abandoned replay)."""
    db = identifier(database, "database")
    for name in REBUILT:
        client.command(f"DROP TABLE IF EXISTS {db}.{build_table(name, generation)}")
