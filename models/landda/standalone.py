"""The land experiment for ``model = "land"``: the stand-alone land columns
(:mod:`models.standalone_land`) through the same twin, truth pass, assimilation and free run.

Everything is the coupled model's experiment (:class:`~models.landda.experiment.LandTwinExperiment`:
tables, modes, observation types, state layout, scores) except ``[boundary]``: the bottom
defaults to free drainage and must be it, the lateral faces must be no-flow
(:class:`StandaloneBoundarySection`); the model cuts the lateral flow
(:func:`models.landda.setup.model_config` passes ``lateral_flow = false`` for this model).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pdafpy.config import option

from ..standalone_land import BOTTOM, STANDALONE_MODEL, check_standalone_boundary
from .config_sections import BoundarySection, FaceSection
from .experiment import LandTwinExperiment
from .twin import EXAMPLE_FILE

__all__ = ["StandaloneBoundarySection", "StandaloneLandExperiment"]


@dataclass(frozen=True)
class StandaloneBoundarySection(BoundarySection):
    """Faces of ``model = "land"``: the bottom free_drainage (its default), the sides noflow.

    The only conditions the stand-alone land model accepts (``[boundary]``); the top is the
    land's atmospheric condition as for ``model = "coupled"``."""

    bottom: FaceSection = option(default_factory=lambda: FaceSection(BOTTOM),
                                 doc="the bottom of the columns: free_drainage (unit gradient; "
                                 "the only bottom of model = 'land')")

    def check(self, path: str) -> None:
        super().check(path)
        check_standalone_boundary({f.name: {"type": getattr(self, f.name).type}
                                   for f in dataclasses.fields(self)}, path)


class StandaloneLandExperiment(LandTwinExperiment):
    """The land twin for ``model = "land"`` (see the module notes)."""

    def example(self) -> "StandaloneLandExperiment":
        """The packaged example, run stand-alone."""
        return StandaloneLandExperiment(EXAMPLE_FILE) if self.packaged == "default.toml" \
            else self

    def sections(self) -> dict[str, type]:
        return dict(super().sections(), boundary=StandaloneBoundarySection)

    def defaults(self) -> dict[str, Any]:
        return dict(super().defaults(), model=STANDALONE_MODEL)
