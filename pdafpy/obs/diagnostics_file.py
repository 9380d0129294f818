"""Observation-space diagnostics of every analysis in one NetCDF file (one writer rank).

One row per observation and analysis time along the unlimited dimension ``obs``:

=================  ===========================================================================
variable           meaning
=================  ===========================================================================
time               analysis time [s since the start]
type               observation-type index (``type_names`` attribute lists the names)
x, y               location [m]
value              the observation
error              its error standard deviation
forecast_mean      the operator applied to the forecast ensemble mean
analysis_mean      the operator applied to the analysis ensemble mean
innovation         value - forecast_mean
residual           value - analysis_mean (observation minus analysis)
assimilated        1 if the analysis used it, 0 if withheld for validation
=================  ===========================================================================

Like :class:`pdafpy.output.EnsembleWriter`, the file is ``NAME.nc.part`` until :meth:`close`
renames it, so a crashed run never leaves a file that looks complete.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputFileError

__all__ = ["ObservationDiagnosticsWriter"]

_VARIABLES = {"time": ("f8", "s", "analysis time"), "type": ("i4", "1", "observation type"),
              "x": ("f8", "m", "x location"), "y": ("f8", "m", "y location"),
              "value": ("f8", "", "observed value"),
              "error": ("f8", "", "observation error standard deviation"),
              "forecast_mean": ("f8", "", "operator applied to the forecast ensemble mean"),
              "analysis_mean": ("f8", "", "operator applied to the analysis ensemble mean"),
              "innovation": ("f8", "", "observation minus forecast mean"),
              "residual": ("f8", "", "observation minus analysis mean"),
              "assimilated": ("i1", "1", "1: used by the analysis, 0: withheld")}


class ObservationDiagnosticsWriter:
    """Append observation-space diagnostics; call on one rank only.

    Parameters
    ----------
    path : Path
        Final file name (``.nc``).
    type_names : sequence of str
        Names of the observation types, by index.
    start : str
        Start time (ISO 8601), for the ``time`` units.
    units : sequence of str
        Unit of each type's values (e.g. ``m3 m-3``, ``m``).
    """

    def __init__(self, path: Path | str, type_names: Sequence[str], start: str,
                 units: Sequence[str]):
        import netCDF4

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        self.ds = netCDF4.Dataset(self.part, "w", format="NETCDF4")
        self.ds.Conventions = "CF-1.8"
        self.ds.title = "pdafpy observation-space diagnostics"
        self.ds.type_names = ", ".join(type_names)
        self.ds.type_units = ", ".join(units)
        self.ds.createDimension("obs", None)
        stamp = datetime.fromisoformat(start).isoformat(sep=" ")
        for name, (dtype, unit, long_name) in _VARIABLES.items():
            var = self.ds.createVariable(name, dtype, ("obs",), zlib=True)
            var.long_name = long_name
            if name == "time":
                var.units = f"seconds since {stamp}"
            elif unit:
                var.units = unit
        self.rows = 0

    def write(self, time_s: float, type_index: int, coords: np.ndarray,
              assimilated: np.ndarray, values: np.ndarray, error: np.ndarray | float,
              forecast_mean: np.ndarray, analysis_mean: np.ndarray) -> None:
        """Append one type's observations of one analysis.

        Parameters
        ----------
        time_s : float
            Analysis time [s since the start].
        type_index : int
        coords : (m, 2) ndarray
            x, y [m].
        assimilated : (m,) bool ndarray
        values, forecast_mean, analysis_mean : (m,) ndarray
        error : float or (m,) ndarray
        """
        m = values.size
        sl = slice(self.rows, self.rows + m)
        columns = {"time": np.full(m, time_s), "type": np.full(m, type_index),
                   "x": coords[:, 0], "y": coords[:, 1], "value": values,
                   "error": np.broadcast_to(error, (m,)), "forecast_mean": forecast_mean,
                   "analysis_mean": analysis_mean, "innovation": values - forecast_mean,
                   "residual": values - analysis_mean,
                   "assimilated": np.asarray(assimilated, dtype=np.int8)}
        for name, column in columns.items():
            self.ds[name][sl] = column
        self.rows += m
        self.ds.sync()

    def records(self) -> dict[str, np.ndarray]:
        """Every row written so far, by variable (for a checkpoint)."""
        self.ds.set_auto_mask(False)
        return {name: np.array(self.ds[name][:]) for name in _VARIABLES}

    def append_records(self, records: dict[str, np.ndarray]) -> None:
        """Write back :meth:`records` of an earlier run (a restart continues the same file)."""
        if not records:
            return
        if set(records) != set(_VARIABLES):
            raise InputFileError(f"{self.path}: the rows to continue from have the variables "
                                 f"{sorted(records)}, expected {sorted(_VARIABLES)}")
        m = len(records["time"])
        for name, column in records.items():
            self.ds[name][self.rows:self.rows + m] = column
        self.rows += m
        self.ds.sync()

    def close(self) -> None:
        """Finish the file: close it and rename ``.part`` to the final name."""
        self.ds.close()
        os.replace(self.part, self.path)
