"""Which places gazetteer the warehouse's incident keys are built with, and whether the
one on disk (schemas/data/places.json plus the alias overlay) still is it.

``incidents places accept`` changes the overlay; the running workers keep the version they
started with (a worker never mixes keys of two gazetteers), so until ``incidents replay``
rebuilds history the warehouse is behind. :func:`gazetteer_state` says so;
:class:`GazetteerCollector` exports it from the sink, and ``incidents status`` shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from incidents_config.names import Generation, Ledger
from incidents_config.settings import Settings
from schemas.exceptions import PlacesOverlayError
from schemas.places import places_with_overlay


@dataclass(frozen=True)
class GazetteerState:
    """The live generation's gazetteer version against the one on disk."""

    generation: int
    built: str | None  # None: no worker of the generation has started yet
    current: str  # "" when the overlay cannot be read (see error)
    error: str = ""

    @property
    def stale(self) -> bool:
        """The keys were built with another gazetteer than the one on disk."""
        return bool(self.error) or (self.built is not None and self.built != self.current)

    def describe(self) -> str:
        if self.error:
            return f"the places overlay cannot be used: {self.error}"
        if self.built is None:
            return f"version {self.current} (no worker has started on it yet)"
        if self.stale:
            return (
                f"keys built with {self.built}, but places.json and the overlay are now"
                f" {self.current}: run `incidents replay`"
            )
        return f"version {self.current}"


def gazetteer_state(settings: Settings) -> GazetteerState:
    """Compare the live generation's recorded gazetteer with places.json + the overlay now."""
    generation = Generation.of(settings).number
    built = Ledger(settings.paths).gazetteer(generation)
    try:
        current = places_with_overlay(settings.paths.overlay).version
    except PlacesOverlayError as e:
        return GazetteerState(generation, built, "", str(e))
    return GazetteerState(generation, built, current)


class GazetteerCollector(Collector):
    """``incidents_gazetteer_stale`` (0/1) and ``incidents_gazetteer_info{built,current}``,
    computed at each scrape (reading the overlay: a small file)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = gazetteer_state(self._settings)
        stale = GaugeMetricFamily(
            "incidents_gazetteer_stale",
            "1 when the live keys were built with another places gazetteer than the one on"
            " disk (places.json + overlay), or the overlay is unusable: run incidents replay.",
        )
        stale.add_metric([], float(state.stale))
        yield stale
        info = GaugeMetricFamily(
            "incidents_gazetteer_info",
            "Always 1: the gazetteer version the live keys were built with, and the one on disk.",
            labels=["generation", "built", "current"],
        )
        info.add_metric([str(state.generation), state.built or "", state.current], 1.0)
        yield info
