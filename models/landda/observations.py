"""Synthetic land observations for twin experiments: SMAP-like surface soil moisture and wells.

- **Surface soil moisture** (``surface_soil_moisture``): the water content of the layers within
  ``depth_m`` of the surface (thickness-weighted), averaged over square footprints of
  ``footprint_cells`` x ``footprint_cells`` columns that tile the grid; one observation per
  footprint, located at its centre.
- **Groundwater level** (``groundwater_level``): the water-table depth at ``count`` well columns
  drawn from the seed; the last ``withheld_fraction`` of them are kept back for validation.

Values are the truth's plus Gaussian noise of the configured error, drawn from the counter-based
generator keyed by (seed, cycle, global observation index): the same on every rank layout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pdafpy import random as prng
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ObservationSection
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.obs.operators import StencilOperator, grid_average, grid_point
from pdafpy.obs.types import ObservationType

__all__ = ["ObservationNetwork", "OBS_UNITS", "surface_layers", "wells", "assimilated_count"]

#: Units of each observation type's values.
OBS_UNITS = {"surface_soil_moisture": "m3 m-3", "groundwater_level": "m"}


def surface_layers(interfaces: np.ndarray, depth_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Layers reaching into ``[0, depth_m]`` and their thickness inside it (the weights)."""
    top, bottom = interfaces[:-1], interfaces[1:]
    inside = np.clip(np.minimum(bottom, depth_m) - top, 0.0, None)
    layers = np.flatnonzero(inside > 0)
    if layers.size == 0:
        raise ConfigError(f"observations.depth_m = {depth_m}: no soil layer within that depth")
    return layers, inside[layers]


def wells(grid: Grid, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``count`` distinct well columns drawn from ``seed``."""
    if count > grid.ny * grid.nx:
        raise ConfigError(f"observations.count = {count}: more wells than the {grid.ny * grid.nx} "
                          "grid columns")
    keys = prng.uniform(seed, "well_locations", 0, 0, np.arange(grid.ny * grid.nx))
    chosen = np.sort(np.argsort(keys, kind="stable")[:count])
    return np.divmod(chosen, grid.nx)


def assimilated_count(section: ObservationSection) -> int:
    """How many of a point type's ``count`` observations are assimilated: the first ones of
    :func:`wells`; the last ``withheld_fraction`` are kept back for validation."""
    return section.count - int(round(section.withheld_fraction * section.count))


@dataclass
class _Type:
    section: ObservationSection
    operator: StencilOperator
    coords: np.ndarray
    assimilated: np.ndarray          # bool per observation (False: withheld for validation)


class ObservationNetwork:
    """The observation types of a twin experiment and their synthetic values.

    Parameters
    ----------
    sections : sequence of ObservationSection
    grid : Grid
        Coordinates in metres.
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m].
    localization : Localization
        The default of every type; a type with its own ``radius_m`` is cut off there, with the
        same weight function reaching zero at that radius.
    seed : int
    """

    def __init__(self, sections, grid: Grid, interfaces: np.ndarray, localization: Localization,
                 seed: int):
        self.grid = grid
        self.interfaces = np.asarray(interfaces, dtype=float)
        self.localization = localization
        self.seed = seed
        self.types = [self._build(s) for s in sections]

    def _build(self, s: ObservationSection) -> _Type:
        g = self.grid
        if s.type == "surface_soil_moisture":
            layers, weight = surface_layers(self.interfaces, s.depth_m)
            f = s.footprint_cells
            ty, tx = np.arange(0, g.ny, f), np.arange(0, g.nx, f)
            oy, ox = [a.ravel() for a in np.meshgrid(ty, tx, indexing="ij")]
            dy, dx, lev = np.meshgrid(np.arange(f), np.arange(f), layers, indexing="ij")
            rows = oy[:, None] + dy.ravel()[None, :]
            cols = ox[:, None] + dx.ravel()[None, :]
            inside = (rows < g.ny) & (cols < g.nx)
            w = np.broadcast_to(np.tile(weight, f * f), rows.shape)
            op = grid_average("water_content", np.where(inside, rows, -1),
                              np.where(inside, cols, -1),
                              np.broadcast_to(lev.ravel(), rows.shape), w)
            rows_c = np.where(inside, rows, 0)
            cols_c = np.where(inside, cols, 0)
            n_in = inside.sum(axis=1)
            coords = np.column_stack([(g.x[cols_c] * inside).sum(1) / n_in,
                                      (g.y[rows_c] * inside).sum(1) / n_in])
            return _Type(s, op, coords, np.ones(rows.shape[0], dtype=bool))
        rows, cols = wells(g, s.count, self.seed)
        assimilated = np.arange(s.count) < assimilated_count(s)
        return _Type(s, grid_point("water_table_depth", rows, cols),
                     np.column_stack([g.x[cols], g.y[rows]]), assimilated)

    def _localization(self, s: ObservationSection) -> Localization:
        """The network's localisation, or one cut off at the type's own ``radius_m``."""
        if s.radius_m is None:
            return self.localization
        return replace(self.localization, cradius=s.radius_m, sradius=s.radius_m)

    def due(self, hour: float) -> list[int]:
        """Indices of the types observed at ``hour`` hours after the start."""
        return [k for k, t in enumerate(self.types)
                if abs(hour / t.section.interval_h - round(hour / t.section.interval_h)) < 1e-9]

    def synthetic(self, k: int, truth_values: np.ndarray, cycle: int,
                  offset: int) -> np.ndarray:
        """Truth plus noise for type ``k``; ``offset`` is the type's first global index."""
        s = self.types[k].section
        noise = prng.standard_normal(self.seed, "synthetic_observation", cycle, 0,
                                     offset + np.arange(truth_values.size))
        return truth_values + s.error * noise

    def observation_type(self, k: int, values: np.ndarray) -> ObservationType:
        """The assimilated observations of type ``k`` with the given values (all of the type)."""
        t = self.types[k]
        sel = np.flatnonzero(t.assimilated)
        return ObservationType(t.section.type, values[sel], np.full(sel.size, t.section.error),
                               t.coords[sel], t.operator.subset(sel), self._localization(t.section),
                               t.section.inno_omit)
