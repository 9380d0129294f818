"""Observation type ``leaf_area_index``: leaf area index from the land model's leaf state.

An observation is the derived field ``leaf_area_index`` [m2 m-2] (leaf biomass times specific
leaf area) of the grid column nearest to it, or, with ``footprint_radius_m``, the equal-weight
mean over the columns whose centres lie within that radius
(:class:`models.landda.obs_satellite_soil_moisture.Footprint`). HEY's CGLS product (300 m
pixels) is averaged within each model cell by the product converter, so the operator is the
identity at the cell.

Bare ground (``context.model["bare_ground"]``: columns whose land cover has no leaves) is
masked: stage-1 quality control rejects observations whose nearest column is bare
(``rejected_by = "bare_ground"``), on top of the file's flags, and a twin's network leaves bare
columns out. :attr:`LeafAreaIndex.bare_rejected` counts the observations rejected so far,
:attr:`LeafAreaIndex.bare_left_out` the lattice columns a twin's network left out.

A twin observes every ``spacing_cells``-th grid column in each direction that is not bare, at
its centre, and withholds a fraction ``withheld_fraction`` of them.

Vertical localisation: the leaf area index is a canopy quantity with no soil depth, so an
observation has no vertical position (the default :meth:`~pdafpy.obs.module.ObservationModule.
vertical_range`, None): its vertical weight is 1 at every depth and it is localised
horizontally only; confine what it updates with the analysis plan's fields and levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.obs.module import ObservationContext, ObservationModule, nearest_columns
from pdafpy.obs.operators import StencilOperator, grid_average
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD, ObservationRecords
from pdafpy.obs.synthetic import withheld_mask

from .obs_satellite_soil_moisture import Footprint, model_fact
from .observations import LandObservationSection

__all__ = ["LeafAreaIndexSection", "LeafAreaIndex", "bare_columns", "BARE_RULE"]

#: The observed field.
FIELD = "leaf_area_index"
#: The rule name of observations rejected over bare ground.
BARE_RULE = "bare_ground"


def bare_columns(context: ObservationContext, index: int, type_name: str) -> np.ndarray:
    """``context.model["bare_ground"]`` as a ``(ny, nx)`` bool array.

    Raises
    ------
    ConfigError
        If the model does not give it, or not on the grid's shape.
    """
    grid = context.grid
    bare = model_fact(context, "bare_ground", index, type_name,
                      "bare columns are masked").astype(bool)
    try:
        return np.broadcast_to(bare, (grid.ny, grid.nx))
    except ValueError:
        raise ConfigError(f"observations[{index}].type = {type_name!r}: the model's "
                          f"'bare_ground' has shape {bare.shape}, the grid "
                          f"({grid.ny}, {grid.nx})") from None


def vegetated_network(module: ObservationModule, bare: np.ndarray
                      ) -> tuple[ObservationRecords, int]:
    """A twin's network of ``module`` (a type with ``spacing_cells``): every
    ``spacing_cells``-th grid column in each direction that is not bare, row by row, at the
    columns' centres, the withheld ones drawn with key ``(seed, "withheld_<type>_<index>")``;
    and how many bare lattice columns were left out.

    Raises
    ------
    ConfigError
        If every lattice column is bare.
    """
    grid, s = module.context.grid, module.section
    rows, cols = (a.ravel() for a in np.meshgrid(np.arange(0, grid.ny, s.spacing_cells),
                                                 np.arange(0, grid.nx, s.spacing_cells),
                                                 indexing="ij"))
    keep = ~bare[rows, cols]
    if not keep.any():
        raise ConfigError(f"observations[{module.index}].type = {module.name!r}: every column "
                          f"of the twin's lattice (spacing_cells = {s.spacing_cells}) is bare "
                          "ground")
    rows, cols = rows[keep], cols[keep]
    withheld = withheld_mask(rows.size, s.withheld_fraction, module.context.seed,
                             f"withheld_{module.name}_{module.index}")
    records = ObservationRecords.build(0.0, grid.x[cols], grid.y[rows], np.nan, s.error,
                                       module.name,
                                       qc=np.where(withheld, QC_WITHHELD, QC_GOOD))
    return records, int((~keep).sum())


@dataclass(frozen=True)
class LeafAreaIndexSection(LandObservationSection):
    """Leaf area index (``type = "leaf_area_index"``)."""

    type: str = option("leaf_area_index", "observation type")
    error: float = option(0.05, "error standard deviation (HEY: 0.05)", unit="m2 m-2",
                          minimum=0.0, exclusive_minimum=True)
    footprint_radius_m: float | None = option(None, "average over the columns within this "
                                                 "radius (default: the nearest column)",
                                                 unit="m", minimum=0.0,
                                                 exclusive_minimum=True)
    spacing_cells: int = option(1, "a twin observes every spacing_cells-th grid column in each "
                                "direction (bare ones left out)", minimum=1)


class LeafAreaIndex(ObservationModule):
    """Observation module of ``leaf_area_index`` (see the module notes).

    Parameters
    ----------
    section : LeafAreaIndexSection
    context : ObservationContext
        ``context.model["bare_ground"]``: ``(ny, nx)`` bool, columns without leaves.
    index : int

    Attributes
    ----------
    bare_rejected : int
        Observations rejected over bare ground by :meth:`quality_control` so far.
    bare_left_out : int
        Lattice columns :meth:`network` left out as bare (0 before it is called).
    """

    name = "leaf_area_index"
    units = "m2 m-2"
    #: Leaf area index of any canopy on Earth.
    valid_range = (0.0, 15.0)
    section_class = LeafAreaIndexSection

    def __init__(self, section: LeafAreaIndexSection, context: ObservationContext, index: int):
        super().__init__(section, context, index)
        self.bare = bare_columns(context, index, self.name)
        self.footprint = Footprint(context.grid, "nearest" if section.footprint_radius_m is None
                                   else "radius", section.footprint_radius_m)
        self.bare_rejected = 0
        self.bare_left_out = 0

    def network(self) -> ObservationRecords:
        """The vegetated lattice columns (:func:`vegetated_network`)."""
        records, self.bare_left_out = vegetated_network(self, self.bare)
        return records

    def quality_control(self, records: ObservationRecords) -> ObservationRecords:
        """The file's flags, and the good observations whose nearest column is bare rejected
        (``bare_ground``), counted in :attr:`bare_rejected`."""
        records = super().quality_control(records)
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        bare = self.bare[rows, cols] & (records.qc == QC_GOOD)
        self.bare_rejected += int(bare.sum())
        return records.reject(bare, BARE_RULE)

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The leaf area index [m2 m-2] of each observation's column, or its footprint's
        mean."""
        rows, cols = self.footprint.columns(records.x, records.y)
        return grid_average(FIELD, rows, cols)
