"""What the land twin's observation types share: the keys of their configuration and the layers
near the surface.

The types are observation modules (:mod:`pdafpy.obs.module`), one file each, registered under
the entry-point group ``pdafpy.observations``:

- ``surface_soil_moisture`` (:mod:`models.landda.obs_surface_soil_moisture`): SMAP-like
  footprint averages of the water content near the surface;
- ``groundwater_level`` (:mod:`models.landda.obs_groundwater_level`): the water-table depth at
  wells.

Without ``[[analysis]]`` tables (docs/analysis-modules.md) a type says itself which part of
the state its analysis updates (``update_depth_m``, ``update_parameters``, ``update_soil``,
``update_land_state``: the shorthand plan of :mod:`models.landda.analysis_plan`; beside
``[[analysis]]`` tables these keys are refused); the land twin accepts only types whose section
derives from :class:`LandObservationSection`. The other land types are in
``models/landda/obs_*.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ObservationSection

__all__ = ["LandObservationSection", "surface_layers"]


@dataclass(frozen=True)
class LandObservationSection(ObservationSection):
    """The keys every land observation type has (its own type adds the rest)."""

    update_depth_m: tuple[float, ...] = option((), "[top, bottom]: this type updates only the "
                                               "layers whose centre lies in this depth range "
                                               "(empty: the whole column)", unit="m",
                                               minimum=0.0)
    update_parameters: bool = option(True, "this type's analysis also updates the [filter] "
                                     "parameters (false: the state only)")
    update_soil: bool = option(True, "this type's analysis updates the soil state (pressure "
                               "head, water content, water-table depth)")
    update_land_state: tuple[str, ...] = option((), "land stores this type's analysis also "
                                                "updates: leaf_biomass, canopy_water, swe",
                                                choices=("leaf_biomass", "canopy_water", "swe"))
    reject_snow_swe_mm: float | None = option(None, "stage-2 QC: reject where the forecast "
                                                 "snow water equivalent exceeds this",
                                                 unit="kg m-2", minimum=0.0)
    reject_rain_mm_h: float | None = option(None, "stage-2 QC: reject where the forcing's "
                                               "precipitation at the observation time exceeds "
                                               "this (HEY: 0.0108)", unit="mm h-1", minimum=0.0)
    reject_lai_above: float | None = option(None, "stage-2 QC: reject over dense vegetation, "
                                               "where the forecast leaf area index exceeds this",
                                               unit="m2 m-2", minimum=0.0)
    reject_relative_saturation: tuple[float, ...] = option(
        (), "stage-2 QC: [low, high]: reject where the forecast top layer's relative saturation "
        "(theta - theta_r) / (theta_s - theta_r) is below low (near wilting) or above high (near "
        "saturation); [] off", minimum=0.0, maximum=1.0)
    reject_frozen_soil: bool = option(False, "stage-2 QC: reject over frozen soil, where the "
                                      "forecast top layer's soil temperature is below 273.15 K "
                                      "(needs a model with soil temperature)")
    static_mask_file: str = option("", "stage-2 QC: NetCDF with mask(y, x) on the model grid; "
                                   "observations in columns where it is non-zero are rejected "
                                   "(river cells, forest, a sensor-inclusion mask)")

    def check(self, path: str) -> None:
        super().check(path)
        r = self.update_depth_m
        if r and (len(r) != 2 or r[0] >= r[1]):
            raise ConfigError(f"{path}.update_depth_m = {list(r)}: expected [top, bottom] with "
                              "top < bottom, or [] for the whole column")
        q = self.reject_relative_saturation
        if q and (len(q) != 2 or q[0] >= q[1]):
            raise ConfigError(f"{path}.reject_relative_saturation = {list(q)}: expected [low, "
                              "high] with low < high, or [] for off")
        if self.static_mask_file and not Path(self.static_mask_file).is_file():
            raise ConfigError(f"{path}.static_mask_file = {self.static_mask_file!r}: no such "
                              "file")


def surface_layers(interfaces: np.ndarray, depth_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Layers reaching into ``[0, depth_m]`` and their thickness inside it (the weights).

    Parameters
    ----------
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m], top down.
    depth_m : float
        Depth [m].

    Returns
    -------
    layers : (k,) int ndarray
    weights : (k,) float ndarray
        Thickness of each layer above ``depth_m`` [m].

    Raises
    ------
    ConfigError
        If no layer lies within ``depth_m``.
    """
    top, bottom = interfaces[:-1], interfaces[1:]
    inside = np.clip(np.minimum(bottom, depth_m) - top, 0.0, None)
    layers = np.flatnonzero(inside > 0)
    if layers.size == 0:
        raise ConfigError(f"observations.depth_m = {depth_m}: no soil layer within that depth")
    return layers, inside[layers]

