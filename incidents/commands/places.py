"""`incidents places ...`: how a location resolves to a place of the gazetteer, and which
location strings do not (so curators can grow schemas/data/places.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from incidents.common import CliError, out, parse_duration, query, settings_of
from schemas.exceptions import PlaceError
from schemas.gazetteer import load_gazetteer
from schemas.places import fold, load_places
from schemas.report import normalize_location

places_app = typer.Typer(
    help="The places gazetteer: resolve a spelling, list what did not resolve.",
    no_args_is_help=True,
)


def _area(province: str | None, district: str | None) -> tuple[str, str | None]:
    """Canonical (province, district) from any gazetteer spelling; one line if unknown."""
    gazetteer = load_gazetteer()
    try:
        if district:
            d = gazetteer.district(district, province)
            return d.province, d.name
        if province:
            return gazetteer.province(province).name, None
    except PlaceError as e:
        raise CliError(e.message) from e
    raise CliError("give --district (or --province for a report that names no district)")


@places_app.command("resolve")
def resolve(
    text: Annotated[str, typer.Argument(help="The location as a report writes it.")],
    district: Annotated[str | None, typer.Option(help="The report's district.")] = None,
    province: Annotated[str | None, typer.Option(help="The report's province.")] = None,
    lat: Annotated[float | None, typer.Option(help="The report's latitude.")] = None,
    lon: Annotated[float | None, typer.Option(help="The report's longitude.")] = None,
) -> None:
    """Show which place a location resolves to, and why (exit 1 when it does not)."""
    if len(text) > 512:
        raise CliError("the location is longer than 512 characters")
    prov, dist = _area(province, district)
    r = load_places().resolve(text, prov, dist, lat, lon)
    out.print(f"text: {text!r}  normalized: {normalize_location(text)!r}  folded: {fold(text)!r}")
    out.print(f"area: {dist + ', ' if dist else ''}{prov}", highlight=False)
    if r.place is None:
        out.print(f"[red]unresolved[/red] ({r.how}): {r.detail}", highlight=False)
        for p in r.candidates:
            out.print(f"  candidate {p.id}: {p.name} ({p.lat:.3f}, {p.lon:.3f})", highlight=False)
        out.print("the incident key uses the normalized text")
        raise typer.Exit(1)
    p = r.place
    out.print(
        f"[green]{p.id}[/green]: {p.name}, {p.district}, {p.province}"
        f" ({p.kind}; {p.lat:.3f}, {p.lon:.3f})",
        highlight=False,
    )
    out.print(f"how: {r.how}: {r.detail}", highlight=False)
    if p.aliases:
        out.print(f"spellings in the gazetteer: {', '.join(p.spellings)}", highlight=False)


UNRESOLVED_QUERY = """
SELECT province, ifNull(district, '') AS district, location,
       count() AS reports, countIf(latitude IS NOT NULL) AS with_coordinates,
       groupUniqArray(3)(source) AS sources, max(occurred_on) AS last_day
FROM report_versions FINAL
WHERE received_at >= {since:DateTime64(3)} AND retracted = 0
  AND location IS NOT NULL AND location != ''
GROUP BY province, district, location
ORDER BY reports DESC, province, district, location
LIMIT 100000
"""


@places_app.command("unresolved")
def unresolved(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Reports received this recently, e.g. 90d, 24h.")
    ] = "90d",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rows to show.")] = 30,
) -> None:
    """The most frequent location strings that did not resolve to a place."""
    first = datetime.now(UTC) - parse_duration(since)
    rows = query(settings_of(ctx), UNRESOLVED_QUERY, {"since": first}).result_rows
    places = load_places()
    table = Table(
        "reports",
        "location",
        "district",
        "province",
        "with coordinates",
        "sources",
        "last day",
        title=f"location strings that did not resolve (reports received in the last {since})",
    )
    shown = total = 0
    for province, district, location, reports, with_xy, sources, last_day in rows:
        if places.resolve(location, province, district or None).place is not None:
            continue
        total += reports
        if shown < limit:
            table.add_row(
                str(reports),
                location,
                district,
                province,
                str(with_xy),
                ", ".join(sources),
                str(last_day),
            )
            shown += 1
    out.print(table)
    out.print(
        f"{total} report(s) with a location that does not resolve; add places or aliases to"
        " schemas/data/places.json (docs/contract.md, 'Places')"
    )
