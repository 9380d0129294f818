"""pdafpy's observation file: CF-style NetCDF, one entry per observation along ``obs``.

The format (documented for users in ``docs/observations.md``), in the manner of DART's
observation sequence and TSMP-PDAF's observation files:

===============  ========  =================================================================
variable         required  meaning
===============  ========  =================================================================
time(obs)        yes       valid time; ``units = "<seconds|minutes|hours|days> since <ISO
                           time>"``, ``calendar`` standard, gregorian or proleptic_gregorian;
                           non-decreasing
x(obs), y(obs)   yes [1]_  location in the model grid's CRS [m]
lat, lon(obs)    [1]_      location in degrees (``degrees_north``, ``degrees_east``); only on
                           a grid whose CRS is geographic (``EPSG:4326``)
depth(obs)       no        depth below the surface [m], positive down
value(obs)       yes       observed value; ``units`` one unit for every type, or
                           ``"TYPE: UNIT; TYPE: UNIT"`` naming each type the file holds
error_std(obs)   yes       error standard deviation, same units, finite and > 0
type(obs)        yes       observation type name (string), a registered observation module
qc(obs)          no        0 good (assimilated), 1 rejected, 2 withheld for validation
                           (default 0)
station(obs)     no        station id (string)
===============  ========  =================================================================

.. [1] Either ``x`` and ``y`` or ``lat`` and ``lon``.

:func:`read_observation_file` checks all of it, on one rank, before any model work, and names
the file, the variable and the problem in one line (:class:`~pdafpy.errors.InputFileError`);
:func:`check_inside_grid` refuses observations outside the model grid. :class:`ObservationWriter`
writes the format (a twin's truth pass), as ``NAME.nc.part`` renamed when complete.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Mapping

import numpy as np

from ..errors import InputFileError
from ..model import Grid
from .records import QC_MEANINGS, ObservationRecords

__all__ = ["read_observation_file", "check_inside_grid", "ObservationWriter", "units_text",
           "GEOGRAPHIC_CRS"]

#: CRS names whose coordinates are longitude (x) and latitude (y) in degrees.
GEOGRAPHIC_CRS = ("EPSG:4326", "OGC:CRS84", "CRS:84")
_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_TIME_UNITS = re.compile(r"^\s*(second|minute|hour|day)s?\s+since\s+(.+?)\s*$", re.IGNORECASE)
_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


def _normal_units(units: str) -> str:
    return " ".join(str(units).replace("^", "").split())


def units_text(units: Mapping[str, str]) -> str:
    """The ``value:units`` attribute for types with these units: the unit alone when all share
    one, else ``"TYPE: UNIT; TYPE: UNIT"``."""
    distinct = set(units.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(f"{t}: {u}" for t, u in units.items())


def _parse_units(path: Path, text: str, types: list[str]) -> dict[str, str]:
    """The unit of each type from the ``value:units`` attribute."""
    if ":" not in text:
        return {t: _normal_units(text) for t in types}
    units = {}
    for item in text.split(";"):
        name, sep, unit = item.partition(":")
        if not sep or not name.strip():
            raise InputFileError(f"{path}: variable 'value': units {text!r}: expected one unit or "
                                 "'TYPE: UNIT; TYPE: UNIT'")
        units[name.strip()] = _normal_units(unit)
    missing = [t for t in types if t not in units]
    if missing:
        raise InputFileError(f"{path}: variable 'value': units {text!r} give no unit for type "
                             f"{missing[0]!r}")
    return units


def _seconds_since(path: Path, var: Any, start: datetime) -> np.ndarray:
    units = getattr(var, "units", None)
    match = _TIME_UNITS.match(units) if isinstance(units, str) else None
    reference = None
    if match:
        try:
            reference = datetime.fromisoformat(match.group(2).replace("Z", "").strip())
        except ValueError:
            pass
    if reference is None:
        raise InputFileError(f"{path}: variable 'time': units {units!r}: expected "
                             "'<seconds|minutes|hours|days> since <ISO 8601 time>'")
    calendar = str(getattr(var, "calendar", "standard")).lower()
    if calendar not in _CALENDARS:
        raise InputFileError(f"{path}: variable 'time': calendar {calendar!r}: expected one of "
                             f"{', '.join(_CALENDARS)}")
    values = _column(path, var, "time")
    return values * _SECONDS[match.group(1).lower()] + (reference - start).total_seconds()


def _column(path: Path, var: Any, name: str) -> np.ndarray:
    """A numeric variable as float, masked (fill) entries as NaN."""
    data = var[:]
    if data.dtype.kind not in "iuf":
        raise InputFileError(f"{path}: variable {name!r} has type {data.dtype}, expected numbers")
    return np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)


def _strings(path: Path, var: Any, name: str) -> np.ndarray:
    import netCDF4

    data = var[:]
    if var.ndim == 2 and data.dtype.kind == "S":           # a char array (obs, strlen)
        data = netCDF4.chartostring(np.ma.filled(data, b""))
    data = np.ma.filled(data, "") if np.ma.isMaskedArray(data) else data
    out = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in
                    np.asarray(data, dtype=object).ravel()], dtype=object)
    return out


def _first_bad(path: Path, name: str, bad: np.ndarray, values: np.ndarray, problem: str) -> None:
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise InputFileError(f"{path}: variable {name!r}: {problem} (obs index {k}: "
                             f"{values[k]!r}; {int(bad.sum())} such)")


def read_observation_file(path: Path | str, start: str, registered: Collection[str],
                          units: Mapping[str, str], crs: str = "") -> ObservationRecords:
    """Read and check an observation file (see the module notes).

    Parameters
    ----------
    path : path
    start : str
        The run's start (ISO 8601); times are returned in seconds since it.
    registered : collection of str
        The registered observation types; any other type is refused.
    units : mapping
        The units the values of the types this run assimilates must have (other types are read
        without a check).
    crs : str
        The model grid's CRS: ``lat``/``lon`` files are accepted when it is geographic.

    Returns
    -------
    ObservationRecords
        In file order.

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: observation file not found")
    try:
        ds = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable NetCDF file ({exc})") from None
    with ds:
        ds.set_auto_mask(True)
        if "obs" not in ds.dimensions:
            raise InputFileError(f"{path}: no dimension 'obs' (expected one entry per "
                                 "observation along 'obs')")
        geographic = "x" not in ds.variables and "lat" in ds.variables
        required = ["time", "lat", "lon"] if geographic else ["time", "x", "y"]
        required += ["value", "error_std", "type"]
        for name in required + [n for n in ("depth", "qc", "station") if n in ds.variables]:
            if name not in ds.variables:
                raise InputFileError(f"{path}: variable {name!r} is missing (required: "
                                     f"{', '.join(required)}; or lat/lon for x/y)")
            dims = ds[name].dimensions
            if not dims or dims[0] != "obs" or (len(dims) > 1 and name not in ("type",
                                                                                 "station")):
                raise InputFileError(f"{path}: variable {name!r} has dimensions {dims}, expected "
                                     "('obs',)")
        time = _seconds_since(path, ds["time"], datetime.fromisoformat(start))
        _first_bad(path, "time", ~np.isfinite(time), time, "times must be given")
        _first_bad(path, "time", np.concatenate([[False], np.diff(time) < 0]), time,
                   "times out of order (they must not decrease)")
        if geographic:
            if crs.upper() not in GEOGRAPHIC_CRS:
                raise InputFileError(f"{path}: variables 'lat', 'lon': the model grid's CRS is "
                                     f"{crs or 'a local Cartesian one'!r}, not geographic; give "
                                     "x and y in the grid's CRS [m]")
            x, y = _column(path, ds["lon"], "lon"), _column(path, ds["lat"], "lat")
            names = ("lon", "lat")
        else:
            x, y = _column(path, ds["x"], "x"), _column(path, ds["y"], "y")
            names = ("x", "y")
        for name, values in zip(names, (x, y)):
            _first_bad(path, name, ~np.isfinite(values), values, "coordinates must be finite")
        depth = _column(path, ds["depth"], "depth") if "depth" in ds.variables \
            else np.full(time.size, np.nan)
        value = _column(path, ds["value"], "value")
        error = _column(path, ds["error_std"], "error_std")
        _first_bad(path, "value", ~np.isfinite(value), value, "values must be finite")
        _first_bad(path, "error_std", ~(error > 0) | ~np.isfinite(error), error,
                   "error standard deviations must be finite and > 0")
        types = _strings(path, ds["type"], "type")
        qc = _column(path, ds["qc"], "qc") if "qc" in ds.variables else np.zeros(time.size)
        _first_bad(path, "qc", ~np.isin(qc, list(QC_MEANINGS)), qc,
                   f"flags must be one of {QC_MEANINGS}")
        station = _strings(path, ds["station"], "station") if "station" in ds.variables \
            else np.full(time.size, "", dtype=object)
        present = list(dict.fromkeys(types.tolist()))
        for t in present:
            if t not in registered:
                k = int(np.flatnonzero(types == t)[0])
                raise InputFileError(f"{path}: variable 'type': {t!r} (obs index {k}) is not a "
                                     "registered observation type")
        if "units" not in ds["value"].ncattrs():
            raise InputFileError(f"{path}: variable 'value' has no units attribute")
        given = _parse_units(path, ds["value"].units, present)
        for t in present:
            if t in units and given[t] != _normal_units(units[t]):
                raise InputFileError(f"{path}: variable 'value': units {given[t]!r} for type "
                                     f"{t!r}, expected {units[t]!r}")
        error_units = getattr(ds["error_std"], "units", None)
        if error_units is not None and _normal_units(error_units) != \
                _normal_units(ds["value"].units):
            raise InputFileError(f"{path}: variable 'error_std': units {error_units!r} differ from "
                                 f"the values' {ds['value'].units!r}")
    return ObservationRecords.build(time, x, y, value, error, types, depth, qc, station)


def check_inside_grid(records: ObservationRecords, grid: Grid, path: Path | str) -> None:
    """Refuse observations outside the model grid (its cells' extent, half a cell past the first
    and last centres), naming the file and the first one."""
    def extent(c: np.ndarray) -> tuple[float, float]:
        half = 0.5 * (c[1] - c[0]) if c.size > 1 else 0.5
        return float(c[0] - half), float(c[-1] + half)

    (x0, x1), (y0, y1) = extent(grid.x), extent(grid.y)
    outside = (records.x < x0) | (records.x > x1) | (records.y < y0) | (records.y > y1)
    if np.any(outside):
        k = int(np.flatnonzero(outside)[0])
        raise InputFileError(f"{path}: variables 'x', 'y': observation {k} at "
                             f"({records.x[k]:g}, {records.y[k]:g}) lies outside the model grid "
                             f"x in [{x0:g}, {x1:g}], y in [{y0:g}, {y1:g}] "
                             f"({int(outside.sum())} outside)")


class ObservationWriter:
    """Append observation records to an observation file (one rank only).

    Parameters
    ----------
    path : Path
        Final name (``.nc``); written as ``NAME.nc.part`` until :meth:`close`.
    start : str
        The run's start (ISO 8601): ``time`` is written in seconds since it.
    units : mapping
        Each type's units.
    attributes : mapping, optional
        Global attributes (title, source, ...).
    """

    #: Variables a subclass adds along ``obs`` (kept by checkpoints like the others).
    _extra: tuple[str, ...] = ()
    _NUMERIC = {"time": ("f8", "time"), "x": ("f8", "projection_x_coordinate"),
                "y": ("f8", "projection_y_coordinate"), "depth": ("f8", "depth"),
                "value": ("f8", None), "error_std": ("f8", None), "qc": ("i1", None)}

    def __init__(self, path: Path | str, start: str, units: Mapping[str, str],
                 attributes: Mapping[str, str] | None = None):
        import netCDF4

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        ds = netCDF4.Dataset(self.part, "w", format="NETCDF4")
        ds.Conventions = "CF-1.8"
        ds.featureType = "point"
        for key, value in (attributes or {}).items():
            setattr(ds, key, value)
        ds.createDimension("obs", None)
        for name, (dtype, standard) in self._NUMERIC.items():
            var = ds.createVariable(name, dtype, ("obs",), zlib=True)
            if standard:
                var.standard_name = standard
        ds["time"].units = f"seconds since {datetime.fromisoformat(start).isoformat(sep=' ')}"
        ds["time"].calendar = "standard"
        ds["x"].units = ds["y"].units = ds["depth"].units = "m"
        ds["depth"].positive = "down"
        ds["value"].units = ds["error_std"].units = units_text(units)
        ds["value"].coordinates = "time x y depth"
        ds["qc"].flag_values = np.array(list(QC_MEANINGS), dtype="i1")
        ds["qc"].flag_meanings = " ".join(QC_MEANINGS.values())
        ds.createVariable("type", str, ("obs",)).long_name = "observation type"
        ds.createVariable("station", str, ("obs",)).long_name = "station id"
        self.ds = ds
        self.rows = 0

    def write(self, records: ObservationRecords) -> None:
        """Append ``records`` (their times must not precede those written)."""
        m = records.size
        if not m:
            return
        sl = slice(self.rows, self.rows + m)
        for name in self._NUMERIC:
            self.ds[name][sl] = getattr(records, name)
        self.ds["type"][sl] = records.type.astype(object)
        self.ds["station"][sl] = records.station.astype(object)
        self.rows += m
        self.ds.sync()

    def records(self) -> dict[str, np.ndarray]:
        """Every row written so far, by variable (for a checkpoint)."""
        self.ds.set_auto_mask(False)
        numeric = (*self._NUMERIC, *self._extra)
        return {name: np.array(self.ds[name][:]) for name in numeric} | {
            name: np.array(self.ds[name][:], dtype=str) for name in ("type", "station")}

    def append_records(self, saved: Mapping[str, np.ndarray]) -> None:
        """Write back :meth:`records` of an earlier run (a restart continues the file)."""
        if not saved or not len(saved.get("time", ())):
            return
        if set(saved) != set(self._NUMERIC) | {"type", "station"} | set(self._extra):
            raise InputFileError(f"{self.path}: the rows to continue from have the variables "
                                 f"{sorted(saved)}")
        first = self.rows
        self.write(ObservationRecords(*(np.asarray(saved[f], dtype=object if f in ("type",
                                        "station") else None) for f in (
            "time", "x", "y", "depth", "value", "error_std", "type", "qc", "station"))))
        for name in self._extra:
            self.ds[name][first:self.rows] = saved[name]
        self.ds.sync()

    def close(self) -> None:
        """Finish the file and give it its final name."""
        self.ds.close()
        os.replace(self.part, self.path)
