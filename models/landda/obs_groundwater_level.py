"""Observation type ``groundwater_level``: the water-table depth at wells.

An observation at ``(x, y)`` -- a twin's or a file's -- is the water-table depth [m below the
surface] of the grid column nearest to it. A twin places ``count`` wells in distinct grid
columns drawn from the seed, at the columns' coordinates, and flags a fraction
``withheld_fraction`` of them, drawn at random from the counter-based generator, as withheld
for validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdafpy import random as prng
from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.model import Grid
from pdafpy.obs.module import ObservationModule, nearest_columns
from pdafpy.obs.operators import StencilOperator, grid_point
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD, ObservationRecords
from pdafpy.obs.synthetic import withheld_mask

from .observations import LandObservationSection

__all__ = ["GroundwaterLevelSection", "GroundwaterLevel", "wells"]

#: The observed field.
FIELD = "water_table_depth"


@dataclass(frozen=True)
class GroundwaterLevelSection(LandObservationSection):
    """Groundwater-level wells (``type = "groundwater_level"``)."""

    type: str = option("groundwater_level", "observation type")
    error: float = option(0.1, "error standard deviation", unit="m", minimum=0.0,
                          exclusive_minimum=True)
    count: int = option(9, "number of wells a twin places", minimum=1)


def wells(grid: Grid, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``count`` distinct well columns drawn from ``seed``, in row order.

    Raises
    ------
    ConfigError
        If the grid has fewer than ``count`` columns.
    """
    if count > grid.ny * grid.nx:
        raise ConfigError(f"observations.count = {count}: more wells than the {grid.ny * grid.nx} "
                          "grid columns")
    keys = prng.uniform(seed, "well_locations", 0, 0, np.arange(grid.ny * grid.nx))
    chosen = np.sort(np.argsort(keys, kind="stable")[:count])
    return np.divmod(chosen, grid.nx)


class GroundwaterLevel(ObservationModule):
    """Observation module of ``groundwater_level`` (see the module notes)."""

    name = "groundwater_level"
    units = "m"
    #: Depth below the surface [m]: up to 100 m of artesian head above it, at most 10 km down.
    valid_range = (-100.0, 10000.0)
    section_class = GroundwaterLevelSection

    def network(self) -> ObservationRecords:
        """The wells, in row order, with station ids ``well_<k>``; the withheld ones drawn with
        key ``(seed, "withheld_wells_<index>")``."""
        grid, s, seed = self.context.grid, self.section, self.context.seed
        rows, cols = wells(grid, s.count, seed)
        withheld = withheld_mask(s.count, s.withheld_fraction, seed,
                                 f"withheld_wells_{self.index}")
        return ObservationRecords.build(
            0.0, grid.x[cols], grid.y[rows], np.nan, s.error, self.name,
            qc=np.where(withheld, QC_WITHHELD, QC_GOOD),
            station=np.char.add("well_", np.arange(s.count).astype(str)))

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The water-table depth [m] of the grid column nearest to each observation."""
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        return grid_point(FIELD, rows, cols)
