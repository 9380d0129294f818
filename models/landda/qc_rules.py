"""Stage-2 quality control of land observations: rules on the forecast and static masks.

Stage 1 is the product's own flags (the converters, :mod:`models.products`, and each type's
:meth:`~pdafpy.obs.module.ObservationModule.quality_control`); the bias correction follows; then
these rules reject, per observation type, where the model state says the retrieval or the
operator cannot be trusted (HEY, KW26, BAI; studies.md section 6.4, item 32). Each rule reads
the forecast ensemble mean at the grid column nearest to each observation and names itself in
the rejected records' ``rejected_by``:

=========================  ==================================================================
rule (``rejected_by``)     rejects where
=========================  ==================================================================
``snow``                   snow water equivalent > ``reject_snow_swe_mm`` [kg m-2]
``rain``                   the forcing's precipitation at the observation time (the
                           unperturbed forcing, as a model sees it) > ``reject_rain_mm_h``
                           [mm h-1] (HEY: 0.0108)
``dense_vegetation``       leaf area index > ``reject_lai_above`` [m2 m-2]
``near_wilting``           relative saturation (theta - theta_r) / (theta_s - theta_r) of the
                           top layer < ``reject_relative_saturation[0]``
``near_saturation``        ... > ``reject_relative_saturation[1]``
``frozen_soil``            ``reject_frozen_soil = true``: the top layer's soil temperature <
                           273.15 K (the freezing point; :mod:`models.land.soil_temperature`)
``static_mask``            the column is set in ``static_mask_file`` (NetCDF, variable ``mask``
                           (y, x) on the model grid, non-zero = excluded: river cells,
                           forest, a sensor-inclusion mask)
=========================  ==================================================================

Frozen soil (``reject_frozen_soil``) needs a ``soil_temperature`` field in the state: a model
without one is refused before the run (:func:`check_rules`); the land twin's model has one. The
innovation check (``inno_omit``) follows in the analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pdafpy.errors import ConfigError, InputFileError
from pdafpy.model import Grid
from pdafpy.obs.module import Forecast, StateRule, nearest_columns
from pdafpy.obs.operators import grid_point
from pdafpy.obs.records import ObservationRecords

from ..land.soil_temperature import FREEZING_POINT

__all__ = ["state_rules", "check_rules", "read_static_mask", "SECONDS_PER_HOUR"]

SECONDS_PER_HOUR = 3600.0
#: kg m-2 s-1 of water -> mm h-1.
MM_PER_HOUR = 3600.0


def check_rules(section: Any, path: str, fields: Sequence[str]) -> None:
    """Refuse rules the model cannot evaluate (one line naming the key).

    Parameters
    ----------
    section : LandObservationSection
    path : str
        The section's place in the configuration (``observations[k]``).
    fields : sequence of str
        The model's state fields.
    """
    if section.reject_frozen_soil and "soil_temperature" not in fields:
        raise ConfigError(f"{path}.reject_frozen_soil = true: the land model has no soil "
                          "temperature to tell frozen soil by (its state holds "
                          f"{', '.join(fields)})")
    if section.reject_lai_above is not None and "leaf_area_index" not in fields:
        raise ConfigError(f"{path}.reject_lai_above: the model has no leaf area index")


def read_static_mask(path: str | Path, grid: Grid) -> np.ndarray:
    """The ``(ny, nx)`` bool mask of ``path`` (variable ``mask``, non-zero = excluded).

    Raises
    ------
    InputFileError
        If the file cannot be read, has no ``mask`` or another shape than the grid.
    """
    import netCDF4

    try:
        with netCDF4.Dataset(path) as ds:
            if "mask" not in ds.variables:
                raise InputFileError(f"{path}: no variable 'mask' (expected mask(y, x) on the "
                                     "model grid, non-zero = excluded)")
            mask = np.ma.filled(ds["mask"][:], 0)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it as NetCDF ({exc.strerror or exc})") \
            from None
    if mask.shape != (grid.ny, grid.nx):
        raise InputFileError(f"{path}: variable 'mask' has shape {mask.shape}, expected the "
                             f"grid's ({grid.ny}, {grid.nx})")
    return np.asarray(mask != 0)


def _at_columns(field: str, level: int, grid: Grid, records: ObservationRecords,
                forecast: Forecast) -> np.ndarray:
    """The forecast ensemble mean of ``field`` (level ``level``) at each record's column."""
    rows, cols = nearest_columns(grid, records.x, records.y)
    return forecast(grid_point(field, rows, cols, level)).mean(axis=0)


def _top_layer(values: Any, grid: Grid) -> np.ndarray:
    """The top layer ``(ny, nx)`` of values broadcastable to ``(nz, ny, nx)``."""
    a = np.asarray(values, dtype=float)
    a = a.reshape((1,) * (3 - a.ndim) + a.shape)
    return np.broadcast_to(a, (a.shape[0], grid.ny, grid.nx))[0]


def state_rules(section: Any, grid: Grid, soil: Mapping[str, np.ndarray] | None = None,
                precipitation: Callable[[float], np.ndarray] | None = None
                ) -> list[StateRule]:
    """The stage-2 rules ``section`` switches on, in the order of the module notes.

    Parameters
    ----------
    section : LandObservationSection
    grid : Grid
    soil : mapping, optional
        ``theta_r``, ``theta_s`` [m3 m-3] broadcastable to ``(nz, ny, nx)`` (the relative
        saturation rule).
    precipitation : callable, optional
        ``precipitation(t) -> (ny, nx)`` [kg m-2 s-1] at time ``t`` [s since the start] (the
        rain rule).

    Raises
    ------
    ConfigError
        If a rule needs ``soil`` or ``precipitation`` and none is given.
    InputFileError
        If the static mask cannot be read.
    """
    rules: list[StateRule] = []
    s = section

    def threshold(field: str, limit: float, rule: str) -> StateRule:
        def apply(records: ObservationRecords, forecast: Forecast) -> ObservationRecords:
            if not records.size:
                return records
            return records.reject(_at_columns(field, 0, grid, records, forecast) > limit, rule)
        return apply

    if s.reject_snow_swe_mm is not None:
        rules.append(threshold("swe", s.reject_snow_swe_mm, "snow"))
    if s.reject_rain_mm_h is not None:
        if precipitation is None:
            raise ConfigError("reject_rain_mm_h: the model gives no precipitation forcing")
        limit = s.reject_rain_mm_h

        def rain(records: ObservationRecords, forecast: Forecast) -> ObservationRecords:
            if not records.size:
                return records
            rows, cols = nearest_columns(grid, records.x, records.y)
            rate = np.empty(records.size)
            times, which = np.unique(records.time, return_inverse=True)
            for k, t in enumerate(times):                 # a few distinct times per window
                hit = which.ravel() == k
                rate[hit] = precipitation(float(t))[rows[hit], cols[hit]] * MM_PER_HOUR
            return records.reject(rate > limit, "rain")
        rules.append(rain)
    if s.reject_lai_above is not None:
        rules.append(threshold("leaf_area_index", s.reject_lai_above, "dense_vegetation"))
    if s.reject_relative_saturation:
        if soil is None:
            raise ConfigError("reject_relative_saturation: the model gives no soil bounds")
        low, high = s.reject_relative_saturation
        theta_r, theta_s = (_top_layer(soil[k], grid) for k in ("theta_r", "theta_s"))

        def saturation(records: ObservationRecords, forecast: Forecast) -> ObservationRecords:
            if not records.size:
                return records
            rows, cols = nearest_columns(grid, records.x, records.y)
            theta = _at_columns("water_content", 0, grid, records, forecast)
            se = (theta - theta_r[rows, cols]) / (theta_s[rows, cols] - theta_r[rows, cols])
            return records.reject(se < low, "near_wilting").reject(se > high, "near_saturation")
        rules.append(saturation)
    if s.reject_frozen_soil:
        def frozen(records: ObservationRecords, forecast: Forecast) -> ObservationRecords:
            if not records.size:
                return records
            t_top = _at_columns("soil_temperature", 0, grid, records, forecast)
            return records.reject(t_top < FREEZING_POINT, "frozen_soil")
        rules.append(frozen)
    if s.static_mask_file:
        mask = read_static_mask(s.static_mask_file, grid)

        def static(records: ObservationRecords, forecast: Forecast) -> ObservationRecords:
            rows, cols = nearest_columns(grid, records.x, records.y)
            return records.reject(mask[rows, cols], "static_mask")
        rules.append(static)
    return rules
