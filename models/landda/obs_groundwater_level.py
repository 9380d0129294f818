"""Observation type ``groundwater_level``: groundwater levels at wells.

An observation at ``(x, y)`` -- a twin's or a file's -- is the water-table depth [m below the
surface] of the grid column nearest to it; ``depth`` holds the well's screen depth [m] where
known (NaN otherwise). Several wells in one grid column at one time are replaced by their
median (LI's preprocessing): the record holding the median (the lower middle one for an even
count, whose value becomes the median) is kept, the others are flagged ``merged_in_column``.

Two forms (``form``):

- ``"water_table_depth"``: the operator is the column's water-table depth (the model's derived
  field ``water_table_depth``);
- ``"hydrostatic_head"`` (LI's form, after Zhang et al. 2018): each well becomes pressure-head
  pseudo-observations psi = z - d_wt in the column's saturated cells under hydrostatic
  equilibrium (z the depth of a cell centre, d_wt the observed water-table depth, both [m]
  positive down). The saturated zone comes from the forecast ensemble's water tables at the
  well: below the shallowest of them (``saturated_zone = "shallowest"``, LI's words: saturated
  in at least one member) or below the deepest (``"deepest"``: saturated in every member,
  TSMP-PDAF's reading), down to the screen depth where the file gives one. Either every such
  cell gets a pseudo-observation, with the well's error (``pseudo_observations =
  "every_saturated_cell"``), or only the first (``"first_saturated_cell"``): the pseudo-
  observations of one well share its error, which the filter treats as independent, so the
  first weighs the well once. A well with no saturated cell in reach is flagged
  ``no_saturated_cell``. A truth pass and a twin's truth draw water-table depths; the
  conversion happens at each analysis, against that analysis's forecast.

A twin places ``count`` wells in distinct grid columns drawn from the seed, at the columns'
coordinates, and flags a fraction ``withheld_fraction`` of them, drawn at random from the
counter-based generator, as withheld for validation. Wells in river cells are excluded by the
stage-2 static mask (``static_mask_file``, :mod:`models.landda.qc_rules`).

Vertical localisation (:meth:`GroundwaterLevel.vertical_range`): a water-table depth observes a
single-level field and has no vertical position (vertical weight 1 everywhere: it is localised
horizontally only); a hydrostatic-head pseudo-observation sits in its cell, the range
``[z, z]`` of the cell centre's depth z.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pdafpy import random as prng
from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.model import Grid
from pdafpy.obs.module import Forecast, ObservationModule, nearest_columns
from pdafpy.obs.operators import StencilOperator, grid_point
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD, ObservationRecords
from pdafpy.obs.synthetic import withheld_mask

from .observations import LandObservationSection

__all__ = ["GroundwaterLevelSection", "GroundwaterLevel", "wells", "station_network",
           "median_per_column", "FORMS"]

#: The observed field of the water-table form, and the one of the hydrostatic form.
FIELD, HEAD_FIELD = "water_table_depth", "pressure_head"
FORMS = ("water_table_depth", "hydrostatic_head")
SATURATED_ZONES = ("shallowest", "deepest")
PSEUDO_OBSERVATIONS = ("every_saturated_cell", "first_saturated_cell")


@dataclass(frozen=True)
class GroundwaterLevelSection(LandObservationSection):
    """Groundwater-level wells (``type = "groundwater_level"``)."""

    type: str = option("groundwater_level", "observation type")
    error: float = option(0.1, "error standard deviation", unit="m", minimum=0.0,
                          exclusive_minimum=True)
    count: int = option(9, "number of wells a twin places", minimum=1)
    form: str = option("water_table_depth", "what the analysis compares: the column's "
                       "water-table depth, or pressure-head pseudo-observations in the "
                       "saturated cells under hydrostatic equilibrium (LI's form)",
                       choices=FORMS)
    saturated_zone: str = option("shallowest", "hydrostatic_head: the saturated cells lie "
                                 "below the shallowest water table of the forecast ensemble "
                                 "(saturated in some member) or below the deepest (in every "
                                 "member)", choices=SATURATED_ZONES)
    pseudo_observations: str = option("every_saturated_cell", "hydrostatic_head: a "
                                      "pseudo-observation in every saturated cell, or in the "
                                      "first only", choices=PSEUDO_OBSERVATIONS)


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


def station_network(module: ObservationModule, count: int, prefix: str,
                    withheld_key: str) -> ObservationRecords:
    """A twin's ``count`` stations of ``module`` in distinct grid columns drawn from the seed
    (:func:`wells`), in row order at the columns' centres, with station ids ``<prefix>_<k>``;
    the withheld ones drawn with key ``(seed, withheld_key)``."""
    grid, s, seed = module.context.grid, module.section, module.context.seed
    rows, cols = wells(grid, count, seed)
    withheld = withheld_mask(count, s.withheld_fraction, seed, withheld_key)
    return ObservationRecords.build(
        0.0, grid.x[cols], grid.y[rows], np.nan, s.error, module.name,
        qc=np.where(withheld, QC_WITHHELD, QC_GOOD),
        station=np.char.add(f"{prefix}_", np.arange(count).astype(str)))


def median_per_column(records: ObservationRecords, grid: Grid) -> ObservationRecords:
    """``records`` with the good wells sharing a grid column and a time replaced by their
    median: the record of the lower middle value is kept with the median, the others flagged
    ``merged_in_column``."""
    good = np.flatnonzero(records.qc == QC_GOOD)
    if good.size < 2:
        return records
    rows, cols = nearest_columns(grid, records.x[good], records.y[good])
    _, group = np.unique(np.column_stack([records.time[good], rows, cols]), axis=0,
                         return_inverse=True)
    group = group.ravel()
    order = np.lexsort((records.value[good], group))
    sorted_group, sorted_value = group[order], records.value[good][order]
    start = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    size = np.diff(np.r_[start, sorted_group.size])
    lower, upper = start + (size - 1) // 2, start + size // 2
    median = 0.5 * (sorted_value[lower] + sorted_value[upper])
    keep = np.zeros(records.size, dtype=bool)
    keep[good[order[lower]]] = True
    value = records.value.copy()
    value[good[order[lower]]] = median
    merged = np.zeros(records.size, dtype=bool)
    merged[good] = True
    return replace(records, value=value).reject(merged & ~keep, "merged_in_column")


class GroundwaterLevel(ObservationModule):
    """Observation module of ``groundwater_level`` (see the module notes).

    ``context.model["interfaces"]`` (layer interface depths [m], ``(nz + 1,)``) is needed by the
    hydrostatic form.
    """

    name = "groundwater_level"
    units = "m"
    #: Depth below the surface [m]: up to 100 m of artesian head above it, at most 10 km down.
    valid_range = (-100.0, 10000.0)
    section_class = GroundwaterLevelSection

    def __init__(self, section: GroundwaterLevelSection, context, index: int):
        super().__init__(section, context, index)
        self.interfaces = None
        if section.form == "hydrostatic_head":
            if "interfaces" not in context.model:
                raise ConfigError(f"observations[{index}].form = 'hydrostatic_head': the model "
                                  "gives no layer interface depths")
            self.interfaces = np.asarray(context.model["interfaces"], dtype=float)

    def network(self) -> ObservationRecords:
        """The wells, in row order, with station ids ``well_<k>``; the withheld ones drawn with
        key ``(seed, "withheld_wells_<index>")``."""
        return station_network(self, self.section.count, "well", f"withheld_wells_{self.index}")

    def quality_control(self, records: ObservationRecords) -> ObservationRecords:
        """Several good wells in one grid column at one time: their median."""
        return median_per_column(records, self.context.grid)

    def synthesis_operator(self, network: ObservationRecords) -> StencilOperator:
        """A twin's wells observe the truth's water-table depth, whatever the form."""
        return grid_point(FIELD, *nearest_columns(self.context.grid, network.x, network.y))

    def screen(self, records: ObservationRecords, forecast: Forecast | None
               ) -> ObservationRecords:
        """The hydrostatic form: the good wells as pressure-head pseudo-observations (see the
        module notes); the others (withheld, rejected) stay as wells, unassimilated."""
        if self.section.form != "hydrostatic_head" or forecast is None:
            return records
        good = np.flatnonzero(records.qc == QC_GOOD)
        wells_op = self.synthesis_operator(records.subset(good))
        tables = forecast(wells_op)                                  # (n_members, wells)
        zone = tables.min(axis=0) if self.section.saturated_zone == "shallowest" \
            else tables.max(axis=0)
        centres = 0.5 * (self.interfaces[:-1] + self.interfaces[1:])
        screen = np.where(np.isfinite(records.depth[good]), records.depth[good], np.inf)
        cells = (centres[None, :] > zone[:, None]) & (centres[None, :] <= screen[:, None])
        if self.section.pseudo_observations == "first_saturated_cell":
            cells &= np.cumsum(cells, axis=1) == 1
        well, level = np.nonzero(cells)                              # well-major, top down
        source = records.subset(good[well])
        pseudo = replace(source, depth=centres[level],
                         value=centres[level] - source.value)
        lonely = np.zeros(records.size, dtype=bool)
        lonely[good[~cells.any(axis=1)]] = True
        rest = records.reject(lonely, "no_saturated_cell")
        rest = rest.subset(rest.qc != QC_GOOD)
        return ObservationRecords.concatenate([pseudo, rest])

    def vertical_range(self, records: ObservationRecords) -> np.ndarray | None:
        """The water-table form: None (no vertical position). The hydrostatic form ``(m, 2)``:
        ``[z, z]`` with z the depth [m] of a pseudo-observation's cell centre (the records'
        ``depth``; NaN for a record without one)."""
        if self.section.form != "hydrostatic_head":
            return None
        depth = np.asarray(records.depth, dtype=float)
        return np.column_stack([depth, depth])

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The water-table depth [m] of the grid column nearest to each observation. In the
        hydrostatic form, ``records`` are screened ones (:meth:`screen`): the good ones are
        pseudo-observations, the pressure head [m] of the cell at their depth; the others are
        wells, their column's water-table depth (the operator reads the stacked fields
        ``("pressure_head", "water_table_depth")``, the water table as level ``nz``)."""
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        if self.section.form != "hydrostatic_head":
            return grid_point(FIELD, rows, cols)
        nz = self.interfaces.size - 1
        level = np.where(records.qc == QC_GOOD, _levels(records.depth, self.interfaces), nz)
        return grid_point((HEAD_FIELD, FIELD), rows, cols, level)


def _levels(depth: np.ndarray, interfaces: np.ndarray) -> np.ndarray:
    """The layer holding each depth [m] (clipped to the column; NaN gives the bottom one)."""
    depth = np.where(np.isnan(depth), interfaces[-1], depth)
    return np.clip(np.searchsorted(interfaces, depth, side="right") - 1, 0,
                   interfaces.size - 2).astype(np.int64)
