"""Synthetic land observations for twin experiments: SMAP-like surface soil moisture and wells.

- **Surface soil moisture** (``surface_soil_moisture``): the water content of the layers within
  ``depth_m`` of the surface (thickness-weighted), averaged over square footprints of
  ``footprint_cells`` x ``footprint_cells`` columns that tile the grid; one observation per
  footprint, located at its centre.
- **Groundwater level** (``groundwater_level``): the water-table depth at ``count`` well columns
  drawn from the seed; a ``withheld_fraction`` of them, drawn at random, is kept back for
  validation.

Values are the truth's plus Gaussian noise of the configured error, drawn from the counter-based
generator keyed by (seed, cycle, global observation index): the same on every rank layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdafpy import random as prng
from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ObservationSection
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.obs.operators import StencilOperator, grid_average, grid_point
from pdafpy.obs.synthetic import observation_type, synthetic_values, withheld_mask
from pdafpy.obs.types import ObservationType

__all__ = ["LandObservationSection", "ObservationNetwork", "OBS_UNITS", "surface_layers",
           "wells", "assimilated_wells"]

#: Units of each observation type's values.
OBS_UNITS = {"surface_soil_moisture": "m3 m-3", "groundwater_level": "m"}


@dataclass(frozen=True)
class LandObservationSection(ObservationSection):
    """A land observation type of the twin (``surface_soil_moisture``, ``groundwater_level``)."""

    type: str = option("surface_soil_moisture", "observation type",
                       choices=tuple(OBS_UNITS))
    error: float = option(0.04, "error standard deviation (m3/m3 for soil moisture, m for "
                          "groundwater level)", minimum=0.0, exclusive_minimum=True)
    depth_m: float = option(0.05, "soil depth the observation averages over", unit="m",
                            minimum=0.0, exclusive_minimum=True)
    footprint_cells: int = option(3, "footprint width in grid cells (averaged)", minimum=1)
    count: int = option(0, "number of point observations (wells); 0 for gridded", minimum=0)
    update_depth_m: tuple[float, ...] = option((), "[top, bottom]: this type updates only the "
                                               "layers whose centre lies in this depth range "
                                               "(empty: the whole column)", unit="m",
                                               minimum=0.0)
    update_parameters: bool = option(True, "this type's analysis also updates the [filter] "
                                     "parameters (false: the state only)")

    def check(self, path: str) -> None:
        r = self.update_depth_m
        if r and (len(r) != 2 or r[0] >= r[1]):
            raise ConfigError(f"{path}.update_depth_m = {list(r)}: expected [top, bottom] with "
                              "top < bottom, or [] for the whole column")


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


def assimilated_wells(section: LandObservationSection, seed: int, index: int) -> np.ndarray:
    """``(count,)`` bool: the wells of observation type ``index`` that are assimilated; the
    other ``round(withheld_fraction * count)``, drawn at random from the counter-based
    generator (key ``(seed, "withheld_wells_<index>")``), are kept back for validation."""
    return ~withheld_mask(section.count, section.withheld_fraction, seed,
                         f"withheld_wells_{index}")


@dataclass
class _Type:
    section: LandObservationSection
    operator: StencilOperator
    coords: np.ndarray
    assimilated: np.ndarray          # bool per observation (False: withheld for validation)


class ObservationNetwork:
    """The observation types of a twin experiment and their synthetic values.

    Parameters
    ----------
    sections : sequence of LandObservationSection
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
        self.types = [self._build(s, i) for i, s in enumerate(sections)]

    def _build(self, s: LandObservationSection, index: int) -> _Type:
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
        assimilated = assimilated_wells(s, self.seed, index)
        return _Type(s, grid_point("water_table_depth", rows, cols),
                     np.column_stack([g.x[cols], g.y[rows]]), assimilated)

    def synthetic(self, k: int, truth_values: np.ndarray, cycle: int,
                  offset: int) -> np.ndarray:
        """Truth plus noise for type ``k``; ``offset`` is the type's first global index."""
        return synthetic_values(truth_values, self.types[k].section.error, self.seed, cycle,
                                offset)

    def observation_type(self, k: int, values: np.ndarray) -> ObservationType:
        """The assimilated observations of type ``k`` with the given values (all of the type)."""
        return observation_type(self.types[k], values, self.localization)
