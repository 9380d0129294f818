"""The framework's own observation type, for any model: a field at grid points.

``type = "grid_point"`` observes field ``field`` at level ``level``. An observation at ``(x, y)``
is the value of the nearest grid column (PDAF's ``obs_op_gridpoint``), or with ``interpolation =
"bilinear"`` the bilinear interpolation between the four surrounding columns (PDAF's
``obs_op_interp_lin``; in the half cell past the first or last column or row, where a file's
observation may lie, the value on the edge). A twin observes every ``stride``-th grid column in
x and y, at the columns' coordinates; a fraction ``withheld_fraction`` of them, drawn at random
from the counter-based generator, is flagged withheld for validation. Where the grid has depths
(``grid.z``) and the field one level per depth, an observation sits at its level's depth for
vertical localisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import option
from ..errors import ConfigError
from ..experiment_config import ObservationSection
from .module import ObservationContext, ObservationModule, nearest_columns
from .operators import StencilOperator, bilinear, grid_point
from .records import QC_GOOD, QC_WITHHELD, ObservationRecords
from .synthetic import withheld_mask

__all__ = ["GridPointSection", "GridPointObservations"]


@dataclass(frozen=True)
class GridPointSection(ObservationSection):
    """Grid-point observations of a model field (``type = "grid_point"``)."""

    type: str = option("grid_point", "observation type")
    field: str = option("", "the observed field (a name of the model's state)")
    level: int = option(0, "the observed level (0 = top)", minimum=0)
    stride: int = option(1, "a twin observes every stride-th grid column in x and in y",
                         minimum=1)
    interpolation: str = option("nearest", "'nearest': the nearest grid column's value; "
                                "'bilinear': interpolated between the four around it",
                                choices=("nearest", "bilinear"))


class GridPointObservations(ObservationModule):
    """Observation module of ``grid_point`` (see the module notes)."""

    name = "grid_point"
    units = "1"                     # each instance: the observed field's units
    section_class = GridPointSection

    def __init__(self, section: GridPointSection, context: ObservationContext, index: int):
        super().__init__(section, context, index)
        levels = {f.name: f.levels for f in context.fields}
        if section.field not in levels:
            raise ConfigError(f"observations[{index}].field = {section.field!r}: expected one of "
                              f"the model's fields {list(levels)}")
        if section.level >= levels[section.field]:
            raise ConfigError(f"observations[{index}].level = {section.level}: field "
                              f"{section.field!r} has levels 0..{levels[section.field] - 1}")
        self.units = {f.name: f.units for f in context.fields}[section.field]

    def network(self) -> ObservationRecords:
        grid, s = self.context.grid, self.section
        rows, cols = np.meshgrid(np.arange(0, grid.ny, s.stride), np.arange(0, grid.nx, s.stride),
                                 indexing="ij")
        rows, cols = rows.ravel(), cols.ravel()
        withheld = withheld_mask(rows.size, s.withheld_fraction, self.context.seed,
                                 f"withheld_observations_{self.index}")
        return ObservationRecords.build(0.0, grid.x[cols], grid.y[rows], np.nan, s.error,
                                        self.name, qc=np.where(withheld, QC_WITHHELD, QC_GOOD))

    def vertical_range(self, records: ObservationRecords) -> np.ndarray | None:
        """The observed level's depth ``grid.z[level]`` [m] for every record, where the grid has
        depths and the field has one level per depth (None otherwise)."""
        s, z = self.section, np.asarray(self.context.grid.z, dtype=float)
        levels = {f.name: f.levels for f in self.context.fields}[s.field]
        if z.size == 0 or levels != z.size:
            return None
        return np.full((records.size, 2), z[s.level])

    def operator(self, records: ObservationRecords) -> StencilOperator:
        s, grid = self.section, self.context.grid
        if s.interpolation == "bilinear":        # within half a cell past the edge: the edge's
            x = np.clip(records.x, grid.x[0], grid.x[-1])
            y = np.clip(records.y, grid.y[0], grid.y[-1])
            return bilinear(s.field, grid, x, y, s.level)
        rows, cols = nearest_columns(grid, records.x, records.y)
        return grid_point(s.field, rows, cols, s.level)
