"""Figures as known at a moment (`incidents sql --as-of`, `incidents report --as-of`).

The warehouse answers "what did we know then?" with parameterized views
(sinks/migrations/0014): `v_<name>_as_of(as_of = ...)` beside each view the stream keeps
current. This module is what the commands share:

- :func:`parse_moment` reads the moment an analyst types;
- :func:`rewrite` turns a query over the live views into the same query over their as-of
  twins, with the moment as a server-side query parameter (never spliced into the text);
- :func:`check_answerable` refuses, in one sentence, the moments and warehouses for which
  the as-of views would not be exact: a moment in the future or before the first report,
  a casualty rule other than max_total (the only one written in SQL), versions stored
  before migration 13 (no fingerprint or publication time), and reports the stream did not
  count because their state outgrew STREAMS_MAX_STATE_BYTES (a rule of the stream's
  history that SQL over the latest versions cannot see), and a places gazetteer changed
  since the keys were built (the sink stamps each version's incident key with the
  gazetteer it started with; until `incidents replay`, keys of two gazetteers would mix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from incidents_config.settings import Settings
from sinks.exceptions import SinkError
from sinks.gazetteer import gazetteer_state
from sinks.migrate import AS_OF_PARAMETER, as_of_views

AS_OF = "as_of"  # the query parameter's name
# A query's text, split into what may hold a view name (plain words) and what may not:
# string literals, quoted identifiers and comments.
_TOKENS = re.compile(
    r"""'(?:[^'\\]|\\.|'')*'?"""  # a string literal ('' or \' inside)
    r"""|"(?:[^"\\]|\\.|"")*"?"""  # a quoted identifier
    r"""|`(?:[^`\\]|\\.|``)*`?"""  # a back-quoted identifier
    r"""|--[^\n]*|\#[^\n]*"""  # a line comment
    r"""|/\*.*?(?:\*/|\Z)"""  # a block comment
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)""",
    re.DOTALL,
)


class AsOfRefused(SinkError):
    """The as-of question cannot be answered exactly; the message says why, in one line."""


def parse_moment(text: str) -> datetime:
    """Read `2024-04-05` (midnight UTC), `2024-04-05 12:00` (UTC) or an ISO 8601 time with
    an offset (`2024-04-05T17:00+05:00`); return it in UTC, to the millisecond."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            moment = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        else:
            moment = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise AsOfRefused(
            f"cannot read --as-of {text!r}: use a date (2024-04-05, midnight UTC) or a time"
            " (2024-04-05 17:30, UTC; or 2024-04-05T17:30+05:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def moment_text(moment: datetime) -> str:
    """The moment as the views' DateTime64(3, 'UTC') parameter reads it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def rewrite(text: str, database: str, views: Iterable[str] | None = None) -> str:
    """Return ``text`` with every live view that has an as-of twin read as of `{as_of}`.

    `v_province_quarter` and `<database>.v_province_quarter` become
    `v_province_quarter_as_of(as_of = {as_of:DateTime64(3, 'UTC')})`; words inside strings,
    quoted identifiers and comments are left alone. Pass the moment as the query parameter
    ``as_of`` (:func:`parameters`).
    """
    names = frozenset(views if views is not None else as_of_views())
    call = f"_as_of({AS_OF} = {AS_OF_PARAMETER})"

    def replace(match: re.Match[str]) -> str:
        word = match.group("word")
        if word is None:
            return match.group(0)
        qualifier, _, name = word.rpartition(".")
        if name in names and qualifier in ("", database):
            return f"{word}{call}"
        return word

    return _TOKENS.sub(replace, text)


def tables_read(tree: Any) -> list[str]:
    """The tables and views a parsed query (`parseQueryToJSON`) reads by name, CTEs aside."""
    ctes: set[str] = set()
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "WithElement":
            ctes.add(str(node.get("name", "")))
        if node.get("type") == "TableIdentifier":
            names.append(str(node.get("name", "")))
        for value in node.values():
            walk(value)

    walk(tree)
    return [name for name in names if name not in ctes]


def check_reads_as_of(tree: Any, database: str) -> None:
    """Refuse a rewritten query that still reads a warehouse table or view as it is now."""
    live = sorted(
        {
            name
            for name in tables_read(tree)
            if name.rpartition(".")[0] in ("", database) and not name.endswith("_as_of")
        }
    )
    if live:
        known = ", ".join(sorted(as_of_views()))
        raise AsOfRefused(
            f"{', '.join(live)} {'has' if len(live) == 1 else 'have'} no as-of form, so the"
            f" answer would mix now and then; as of a moment, read {known}"
        )


def parameters(moment: datetime, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The query parameters of a rewritten query."""
    return {**(extra or {}), AS_OF: moment_text(moment)}


def check_answerable(client: Client, settings: Settings, moment: datetime) -> None:
    """Raise AsOfRefused unless the as-of views answer exactly for ``moment``.

    ``client`` reads the warehouse (the read-only endpoint or folder is enough).
    """
    now = datetime.now(UTC)
    if moment > now + timedelta(seconds=1):
        raise AsOfRefused(
            f"--as-of {moment_text(moment)} UTC is in the future (now: {moment_text(now)} UTC)"
        )
    gazetteer = gazetteer_state(settings)
    if gazetteer.stale:
        raise AsOfRefused(
            f"the places gazetteer is not the one the keys were built with"
            f" ({gazetteer.describe()}): report versions stored since carry keys of another"
            " gazetteer, and as-of answers would mix them"
        )
    rule = str(settings.streams.casualty_rule)
    if rule != "max_total":
        raise AsOfRefused(
            f"the as-of views implement the casualty rule max_total only, and"
            f" STREAMS_CASUALTY_RULE is {rule}: as-of figures would not be this warehouse's"
        )
    row = client.query(
        "SELECT count(), min(if(published_at = toDateTime64(0, 3, 'UTC'), received_at,"
        " published_at)), countIf(fingerprint = '' OR published_at = toDateTime64(0, 3, 'UTC'))"
        " FROM report_versions"
    ).result_rows[0]
    versions, first, unstamped = int(row[0]), row[1], int(row[2])
    if versions == 0:
        raise AsOfRefused("the warehouse holds no reports yet: there is nothing to go back to")
    first = first if first.tzinfo else first.replace(tzinfo=UTC)
    if moment < first:
        raise AsOfRefused(
            f"--as-of {moment_text(moment)} UTC is before the first report arrived"
            f" ({moment_text(first)} UTC): nothing was known then"
        )
    if unstamped:
        raise AsOfRefused(
            f"{unstamped} report versions were stored before migration 13 and lack the"
            " fingerprint and publication time the as-of rules need; run `incidents replay`"
            " to restore them from the raw topic"
        )
    uncounted = int(
        client.query(
            "SELECT count() FROM rejected_reports WHERE reason = 'state_limit'"
        ).result_rows[0][0]
    )
    if uncounted:
        raise AsOfRefused(
            f"{uncounted} report versions were not counted by the stream (state over"
            " STREAMS_MAX_STATE_BYTES), a rule of the stream's history the as-of views cannot"
            " apply; see `incidents status` for the dead letters"
        )
