"""Versioned migrations: `sinks/migrations/NNNN_name.sql`, applied in order, recorded in
`<database>.schema_migrations`.

The .sql files are templates. Their `$placeholders` are filled from a fixed set of values
derived from validated settings (database and cluster are checked as identifiers), never
from user input, so one file serves the embedded engine, a server and a cluster:

- `$database`; `$on_cluster` -> `ON CLUSTER <cluster>` or nothing;
- `$replacing` -> `ReplacingMergeTree` or `ReplicatedReplacingMergeTree`;
- `$replica` / `$replica_args` -> the replication path and replica name (the latter followed
  by a comma, for engines that take more arguments), or nothing.

A file whose first line is `-- foreach period: week, month, ...` is rendered once per period
with `$period`, `$period_start`, `$period_label` and `$period_prev` (see PERIODS).
Two more directives may open a file, each on a line of its own:

- `-- only if: <SELECT ...>`: the migration runs only when that query returns non-zero
  (else it is recorded as done). Rebuilds use it to run only on the old schema.
- `-- reapply: 3, 4`: run those earlier migrations again first (as rendered now), e.g. to
  re-create views whose rendering changed.
- `-- as of: 3, 7`: after the file's own statements, create the *as-of* twin of every view
  those migrations create: `v_<name>_as_of`, a parameterized view reading
  `v_district_day_as_of(as_of = {as_of:DateTime64(3, 'UTC')})` (which the file defines)
  where the original reads `agg_district_day FINAL`. So figures as known at a moment are
  rolled up by the very SQL of the live views (see as_of_statements).

Every statement is idempotent (IF NOT EXISTS, OR REPLACE, or a guard), so a migration
interrupted half-way can simply run again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from incidents_config.settings import Settings
from sinks.clickhouse import database_name, identifier
from sinks.exceptions import MigrationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_FOREACH = re.compile(r"^--\s*foreach period:\s*(.+)$")
_ONLY_IF = re.compile(r"^--\s*only if:\s*(.+)$", re.MULTILINE)
_REAPPLY = re.compile(r"^--\s*reapply:\s*(.+)$", re.MULTILINE)
_AS_OF = re.compile(r"^--\s*as of:\s*(.+)$", re.MULTILINE)
_VIEW_NAME = re.compile(r"^(CREATE OR REPLACE VIEW \S+\.v_\w+)(\s)")
AS_OF_PARAMETER = "{as_of:DateTime64(3, 'UTC')}"
REPLICATION_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

# name -> (first day of the period from `day`, label, previous period); `{p}` is the column.
# `day` is Date32. toMonday/toStartOfMonth/... return Date, which clamps days before 1970 to
# 1970-01-01, so period starts are computed with Date32 arithmetic instead.
PERIODS: dict[str, tuple[str, str, str]] = {
    "week": (
        "day - (toDayOfWeek(day) - 1)",
        "formatDateTime({p}, '%G-W%V')",
        "subtractWeeks({p}, 1)",
    ),
    "month": (
        "day - (toDayOfMonth(day) - 1)",
        "formatDateTime({p}, '%Y-%m')",
        "subtractMonths({p}, 1)",
    ),
    "quarter": (
        "makeDate32(toYear(day), (toQuarter(day) - 1) * 3 + 1, 1)",
        "concat(toString(toYear({p})), '-Q', toString(toQuarter({p})))",
        "subtractQuarters({p}, 1)",
    ),
    "year": ("makeDate32(toYear(day), 1, 1)", "toString(toYear({p}))", "subtractYears({p}, 1)"),
}

BOOTSTRAP = """
CREATE DATABASE IF NOT EXISTS $database $on_cluster;

CREATE TABLE IF NOT EXISTS $database.schema_migrations $on_cluster
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = $replacing($replica)
ORDER BY version;
"""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def condition(self) -> str | None:
        """The `-- only if:` query, if the file has one."""
        match = _ONLY_IF.search(self.text)
        return match.group(1).strip() if match else None

    @property
    def reapplies(self) -> list[int]:
        """Versions named by a `-- reapply:` line."""
        return self._versions(_REAPPLY)

    @property
    def as_of(self) -> list[int]:
        """Versions named by an `-- as of:` line."""
        return self._versions(_AS_OF)

    def _versions(self, directive: re.Pattern[str]) -> list[int]:
        match = directive.search(self.text)
        if not match:
            return []
        try:
            return [int(v) for v in match.group(1).replace(",", " ").split()]
        except ValueError as e:
            raise MigrationError(f"{self.label}: bad line: {match.group(0)}") from e


def template_values(database: str, cluster: str = "") -> dict[str, str]:
    """Return the placeholder values for a database, on one server or ON CLUSTER."""
    values = {"database": identifier(database, "database")}
    if cluster:
        values.update(
            on_cluster=f"ON CLUSTER {identifier(cluster, 'cluster')}",
            replacing="ReplicatedReplacingMergeTree",
            replica=REPLICATION_PATH,
            replica_args=f"{REPLICATION_PATH},",
        )
    else:
        values.update(on_cluster="", replacing="ReplacingMergeTree", replica="", replica_args="")
    return values


def render(text: str, values: dict[str, str]) -> list[str]:
    """Fill a migration template and split it into statements.

    Statements end with a line ending in `;`; lines starting with `--` are comments.
    """
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    match = _FOREACH.match(first)
    if match:
        statements: list[str] = []
        for period in (p.strip() for p in match.group(1).split(",")):
            if period not in PERIODS:
                raise MigrationError(f"unknown period {period!r} in a foreach line")
            start, label, prev = PERIODS[period]
            statements.extend(
                _render_once(
                    text,
                    {
                        **values,
                        "period": period,
                        "period_start": start,
                        "period_label": label.format(p=period),
                        "period_prev": prev.format(p=period),
                    },
                )
            )
        return statements
    return _render_once(text, values)


def _render_once(text: str, values: dict[str, str]) -> list[str]:
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    try:
        body = Template(code).substitute(values)
    except (KeyError, ValueError) as e:
        raise MigrationError(f"bad placeholder in migration: {e}") from e
    lines = body.splitlines()
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    if "\n".join(current).strip():
        raise MigrationError("the last statement of a migration must end with ';'")
    return statements


def as_of_statements(statements: list[str], database: str) -> list[str]:
    """Return the as-of twin of each view statement: `v_<name>_as_of` over the as-of days.

    Each statement must create one view and read `<database>.agg_district_day FINAL` exactly
    once; anything else is a MigrationError (the twin would not be the same SQL).
    """
    live = f"FROM {database}.agg_district_day FINAL"
    as_of = f"FROM {database}.v_district_day_as_of(as_of = {AS_OF_PARAMETER})"
    twins = []
    for statement in statements:
        named = _VIEW_NAME.match(statement)
        if named is None or statement.count(live) != 1:
            raise MigrationError(
                f"cannot derive an as-of view from: {statement.splitlines()[0][:120]}"
            )
        renamed = f"{named.group(1)}_as_of{named.group(2)}{statement[named.end() :]}"
        twins.append(renamed.replace(live, as_of))
    return twins


@functools.cache
def as_of_views(directory: Path = MIGRATIONS_DIR) -> frozenset[str]:
    """Names of the views that have an as-of twin `<name>_as_of` once every migration ran
    (read and rendered once a process: every as-of query rewrite asks)."""
    migrations = load_migrations(directory)
    by_version = {m.version: m for m in migrations}
    values = template_values("db")
    names: set[str] = set()
    for migration in migrations:
        statements = render(migration.text, values)
        for version in migration.as_of:
            statements += as_of_statements(render(by_version[version].text, values), "db")
        for statement in statements:
            named = _VIEW_NAME.match(statement)
            if named is not None and named.group(1).endswith("_as_of"):
                names.add(named.group(1).rsplit(".", 1)[1].removesuffix("_as_of"))
    return frozenset(names)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read the migration files in version order."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text("utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version in {directory}")
    return migrations


def migrate(client: Client, settings: Settings, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet recorded; return the labels of those applied now."""
    values = template_values(database_name(settings), settings.clickhouse.cluster)
    db = values["database"]
    for statement in render(BOOTSTRAP, values):
        _execute(client, statement, "bootstrap")
    rows = client.query(
        f"SELECT version, checksum FROM {db}.schema_migrations FINAL"  # db is an identifier
    ).result_rows
    done = {int(version): checksum for version, checksum in rows}
    applied: list[str] = []
    migrations = load_migrations(directory)
    by_version = {m.version: m for m in migrations}
    for migration in migrations:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                logger.warning(
                    "migration %s changed after it was applied; write a new migration instead",
                    migration.label,
                )
            continue
        if _wanted(client, migration, values):
            for version in migration.reapplies:
                earlier = by_version.get(version)
                if earlier is None or version >= migration.version:
                    raise MigrationError(f"{migration.label} reapplies unknown version {version}")
                for statement in render(earlier.text, values):
                    _execute(client, statement, migration.label)
            for statement in render(migration.text, values):
                _execute(client, statement, migration.label)
            for version in migration.as_of:
                earlier = by_version.get(version)
                if earlier is None or version >= migration.version:
                    raise MigrationError(
                        f"{migration.label} derives from unknown version {version}"
                    )
                for statement in as_of_statements(render(earlier.text, values), db):
                    _execute(client, statement, migration.label)
        else:
            logger.info(
                "migration %s: nothing to do here (its condition is false)", migration.label
            )
        client.insert(
            f"{db}.schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
        logger.info("applied migration %s", migration.label)
        applied.append(migration.label)
    return applied


def _wanted(client: Client, migration: Migration, values: dict[str, str]) -> bool:
    """Evaluate the migration's `-- only if:` query (true when it has none)."""
    condition = migration.condition
    if condition is None:
        return True
    try:
        query = Template(condition).substitute(values)
        return bool(int(str(client.command(query))))
    except (ClickHouseError, KeyError, ValueError, TypeError) as e:
        raise MigrationError(f"migration {migration.label}: its condition failed: {e}") from e


def _execute(client: Client, statement: str, label: str) -> None:
    try:
        client.command(statement)
    except ClickHouseError as e:
        raise MigrationError(f"migration {label} failed: {e}\n{statement}") from e
