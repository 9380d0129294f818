"""Observation type ``surface_soil_moisture``: SMAP-like footprint averages near the surface.

An observation is the water content of the layers within ``depth_m`` of the surface, weighted
by each layer's thickness above ``depth_m``, averaged over a square footprint of
``footprint_cells`` x ``footprint_cells`` grid columns. The footprints tile the grid from its
first row and column (those at the far edges may be cut short by the grid). An observation at
``(x, y)`` -- a twin's or a file's -- averages over the footprint holding the grid column
nearest to it. A twin observes every footprint, at the centre of its columns; a fraction
``withheld_fraction`` of them, drawn at random from the counter-based generator, is flagged
withheld for validation. For vertical localisation an observation represents the depths
``[0, depth_m]``, cut at the column's bottom.
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

from .observations import LandObservationSection, surface_layers

__all__ = ["SurfaceSoilMoistureSection", "SurfaceSoilMoisture"]

#: The observed field.
FIELD = "water_content"


@dataclass(frozen=True)
class SurfaceSoilMoistureSection(LandObservationSection):
    """Surface soil moisture, averaged over footprints (``type = "surface_soil_moisture"``)."""

    type: str = option("surface_soil_moisture", "observation type")
    error: float = option(0.04, "error standard deviation", unit="m3 m-3", minimum=0.0,
                          exclusive_minimum=True)
    depth_m: float = option(0.05, "soil depth the observation averages over", unit="m",
                            minimum=0.0, exclusive_minimum=True)
    footprint_cells: int = option(3, "footprint width in grid cells (averaged)", minimum=1)


class SurfaceSoilMoisture(ObservationModule):
    """Observation module of ``surface_soil_moisture`` (see the module notes).

    Parameters
    ----------
    section : SurfaceSoilMoistureSection
    context : ObservationContext
        ``context.model["interfaces"]``: the layer interface depths [m], ``(nz + 1,)``.
    index : int

    Raises
    ------
    ConfigError
        If the model gives no layer interfaces, or no layer lies within ``depth_m``.
    """

    name = "surface_soil_moisture"
    units = "m3 m-3"
    #: A volumetric water content is a fraction.
    valid_range = (0.0, 1.0)
    section_class = SurfaceSoilMoistureSection

    def __init__(self, section: SurfaceSoilMoistureSection, context: ObservationContext,
                 index: int):
        super().__init__(section, context, index)
        if "interfaces" not in context.model:
            raise ConfigError(f"observations[{index}].type = {self.name!r}: the model gives no "
                              "layer interface depths to average over")
        self.layers, self.weights = surface_layers(
            np.asarray(context.model["interfaces"], dtype=float), section.depth_m)

    def _footprints(self, row0: np.ndarray, col0: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The stencil points of the footprints with first row ``row0`` and first column
        ``col0``: ``(m, f * f * k)`` rows, columns, layers and whether each lies in the grid,
        layers varying fastest."""
        grid, f = self.context.grid, self.section.footprint_cells
        dy, dx, lev = np.meshgrid(np.arange(f), np.arange(f), self.layers, indexing="ij")
        rows = row0[:, None] + dy.ravel()[None, :]
        cols = col0[:, None] + dx.ravel()[None, :]
        inside = (rows < grid.ny) & (cols < grid.nx)
        return rows, cols, np.broadcast_to(lev.ravel(), rows.shape), inside

    def network(self) -> ObservationRecords:
        """One observation per footprint, row by row, at the mean coordinates of its columns."""
        grid, s = self.context.grid, self.section
        f = s.footprint_cells
        row0, col0 = (a.ravel() for a in np.meshgrid(np.arange(0, grid.ny, f),
                                                      np.arange(0, grid.nx, f), indexing="ij"))
        rows, cols, _, inside = self._footprints(row0, col0)
        n_in = inside.sum(axis=1)
        x = (grid.x[np.where(inside, cols, 0)] * inside).sum(axis=1) / n_in
        y = (grid.y[np.where(inside, rows, 0)] * inside).sum(axis=1) / n_in
        withheld = withheld_mask(x.size, s.withheld_fraction, self.context.seed,
                                 f"withheld_footprints_{self.index}")
        return ObservationRecords.build(0.0, x, y, np.nan, s.error, self.name,
                                        qc=np.where(withheld, QC_WITHHELD, QC_GOOD))

    def vertical_range(self, records: ObservationRecords) -> np.ndarray:
        """``(m, 2)``: every observation represents ``[0, depth_m]`` [m], cut at the column's
        bottom."""
        bottom = float(np.asarray(self.context.model["interfaces"], dtype=float)[-1])
        return np.tile([0.0, min(float(self.section.depth_m), bottom)], (records.size, 1))

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The thickness-weighted mean water content [m3 m-3] over each observation's footprint
        (the one holding the grid column nearest to it)."""
        f = self.section.footprint_cells
        row, col = nearest_columns(self.context.grid, records.x, records.y)
        rows, cols, levels, inside = self._footprints(row // f * f, col // f * f)
        weights = np.broadcast_to(np.tile(self.weights, f * f), rows.shape)
        return grid_average(FIELD, np.where(inside, rows, -1), np.where(inside, cols, -1),
                            levels, weights)
