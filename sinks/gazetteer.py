"""Which places gazetteer the warehouse's incident keys are built with, and whether the
one on disk (schemas/data/places.json plus the alias overlay) still is it.

``incidents places accept`` changes the overlay; the running workers keep the version they
started with (a worker never mixes keys of two gazetteers), so until ``incidents replay``
rebuilds history the warehouse is behind. :func:`gazetteer_state` says so;
:func:`export_metrics` exports it from the sink, and ``incidents status`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from incidents_config.metrics import GAZETTEER_INFO, GAZETTEER_STALE
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


def export_metrics(settings: Settings) -> None:
    """Compute ``incidents_gazetteer_stale`` and ``incidents_gazetteer_info`` at each
    scrape of the sink's metrics (reading the overlay: a small file)."""

    def stale() -> float:
        state = gazetteer_state(settings)
        GAZETTEER_INFO.clear()
        GAZETTEER_INFO.labels(str(state.generation), state.built or "", state.current).set(1)
        return float(state.stale)

    GAZETTEER_STALE.set_function(stale)
