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
                           ``"TYPE: UNIT; TYPE: UNIT"`` naming each type the file holds (a
                           key ``TYPE/SENSOR`` gives the unit of one sensor's records [2]_)
error_std(obs)   yes       error standard deviation, same units, finite and > 0
type(obs)        yes       observation type name (string), a registered observation module
qc(obs)          no        0 good (assimilated), 1 rejected, 2 withheld for validation
                           (default 0)
station(obs)     no        station id (string)
sensor(obs)      no        sensor label (string, "" for none) [2]_
===============  ========  =================================================================

.. [1] Either ``x`` and ``y`` or ``lat`` and ``lon``.
.. [2] The ``name`` of the ``[[observations]]`` table a record belongs to, where two tables of
   one type (two sensors) share a file: a truth pass (and a run's diagnostics) writes it when a
   table is named. A table reads the records of its type labelled with its name; those without
   a label are its own when it is the only table of its type reading the file
   (:func:`pdafpy.obs.module.read_for`).

:func:`read_observation_file` checks all of it, on one rank, before any model work, and names
the file, the variable and the problem in one line (:class:`~pdafpy.errors.InputFileError`);
:func:`check_inside_grid` refuses observations outside the model grid. :class:`ObservationWriter`
writes the format (a twin's truth pass; :meth:`ObservationWriter.for_modules` for a run's
tables) in segments, one per checkpoint interval
(:mod:`pdafpy.segments`); :func:`read_observation_file` given ``NAME.nc`` reads its segments
``NAME.00000.nc``, ... as one file when ``NAME.nc`` itself does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from ..errors import InputFileError
from ..model import Grid
from ..segments import SegmentedWriter, has_segments, segment_paths, write_failure
from .records import QC_MEANINGS, ObservationRecords

__all__ = ["read_observation_file", "check_inside_grid", "ObservationWriter", "units_text",
           "file_units", "unit_key", "GEOGRAPHIC_CRS"]

#: CRS names whose coordinates are longitude (x) and latitude (y) in degrees.
GEOGRAPHIC_CRS = ("EPSG:4326", "OGC:CRS84", "CRS:84")
_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_TIME_UNITS = re.compile(r"^\s*(second|minute|hour|day)s?\s+since\s+(.+?)\s*$", re.IGNORECASE)
_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


def _normal_units(units: str) -> str:
    return " ".join(str(units).replace("^", "").split())


def units_text(units: Mapping[str, str]) -> str:
    """The ``value:units`` attribute for types (keys ``TYPE`` or ``TYPE/SENSOR``) with these
    units: the unit alone when all share one, else ``"TYPE: UNIT; TYPE: UNIT"``."""
    distinct = set(units.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(f"{t}: {u}" for t, u in units.items())


def unit_key(type_name: str, sensor: str = "") -> str:
    """The key of the unit of type ``type_name``'s records labelled ``sensor`` in a
    ``value:units`` attribute: ``TYPE`` ("" sensor) or ``TYPE/SENSOR``."""
    return f"{type_name}/{sensor}" if sensor else type_name


def file_units(modules: Sequence[Any]) -> dict[str, str]:
    """The units, by :func:`unit_key`, of an observation file written for ``modules`` (a run's
    observation modules: their ``name``, ``units`` and ``section.name``): by type where the
    tables of a type agree (today's layout), by ``TYPE/NAME`` for the named tables of a type
    whose tables differ (KW26's ASCAT in degree of saturation, SMAP in m3 m-3)."""
    by_type: dict[str, set[str]] = {}
    for m in modules:
        by_type.setdefault(m.name, set()).add(m.units)
    return {unit_key(m.name, m.section.name if len(by_type[m.name]) > 1 else ""): m.units
            for m in modules}


def _shown(value: Any) -> str:
    """An attribute's value for a message, on one line (numbers as a list)."""
    return repr(value) if isinstance(value, str) else repr(np.asarray(value).tolist())


def _parse_units(path: Path, text: Any, keys: Sequence[str]) -> dict[str, str]:
    """The unit of each key (:func:`unit_key`: ``TYPE`` or ``TYPE/SENSOR``) from the
    ``value:units`` attribute; a sensor's records without a ``TYPE/SENSOR`` entry take their
    type's unit."""
    if not isinstance(text, str):
        raise InputFileError(f"{path}: variable 'value': units {_shown(text)}: expected text")
    if ":" not in text:
        return {k: _normal_units(text) for k in keys}
    units = {}
    for item in text.split(";"):
        name, sep, unit = item.partition(":")
        if not sep or not name.strip():
            raise InputFileError(f"{path}: variable 'value': units {text!r}: expected one unit or "
                                 "'TYPE: UNIT; TYPE: UNIT'")
        units[name.strip()] = _normal_units(unit)
    out = {}
    for key in keys:
        type_name, _, sensor = key.partition("/")
        unit = units.get(key, units.get(type_name))
        if unit is None:
            raise InputFileError(f"{path}: variable 'value': units {text!r} give no unit for type "
                                 f"{type_name!r}" + (f" (sensor {sensor!r})" if sensor else ""))
        out[key] = unit
    return out


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
        raise InputFileError(f"{path}: variable 'time': units {_shown(units)}: expected "
                             "'<seconds|minutes|hours|days> since <ISO 8601 time>'")
    offset = reference.utcoffset()              # a time zone: counted from UTC, as the start
    shift = (reference.replace(tzinfo=None) - start).total_seconds() - \
        (offset.total_seconds() if offset is not None else 0.0)
    calendar = str(getattr(var, "calendar", "standard")).lower()
    if calendar not in _CALENDARS:
        raise InputFileError(f"{path}: variable 'time': calendar {calendar!r}: expected one of "
                             f"{', '.join(_CALENDARS)}")
    values = _column(path, var, "time")
    return values * _SECONDS[match.group(1).lower()] + shift


def _data(path: Path, var: Any, name: str) -> Any:
    """A variable's values as netCDF4 reads them (masked where fill, scaled)."""
    try:
        return var[:]
    except (RuntimeError, ValueError, TypeError, LookupError) as exc:
        # damaged data, or attributes netCDF4 cannot apply (a scale_factor on characters, a
        # valid_range of the wrong shape)
        raise InputFileError(f"{path}: variable {name!r} cannot be read "
                             f"({' '.join(str(exc).split())})") from None


def _column(path: Path, var: Any, name: str) -> np.ndarray:
    """A numeric variable as float, masked (fill) entries as NaN."""
    data = _data(path, var, name)
    if data.dtype.kind not in "iuf":
        raise InputFileError(f"{path}: variable {name!r} has type {data.dtype}, expected numbers")
    return np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)


def _strings(path: Path, var: Any, name: str) -> np.ndarray:
    import netCDF4

    data = _data(path, var, name)
    try:
        if var.ndim == 2 and data.dtype.kind == "S":       # a char array (obs, strlen)
            data = netCDF4.chartostring(np.ma.filled(data, b""))
        data = np.ma.filled(data.astype(object), "") if np.ma.isMaskedArray(data) else data
        flat = np.asarray(data, dtype=object).ravel()
        try:                      # text (and ASCII bytes) in one step, without a Python loop
            out = flat.astype(str).astype(object) if flat.size else flat
        except UnicodeDecodeError:                    # other bytes: decoded as UTF-8, one by one
            out = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in flat],
                           dtype=object)
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: variable {name!r}: not UTF-8 text (byte {exc.start} of "
                             f"{exc.object!r})") from None
    except LookupError as exc:                       # an _Encoding Python does not know
        raise InputFileError(f"{path}: variable {name!r}: text in an unknown encoding "
                             f"({exc})") from None
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
        The units the values of the types this run assimilates must have, by :func:`unit_key`:
        ``TYPE`` for the type's records without a sensor label, ``TYPE/SENSOR`` for those
        labelled ``SENSOR`` (other types and labels are read without a check).
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
        if not has_segments(path):
            raise InputFileError(f"{path}: observation file not found")
        parts = [read_observation_file(p, start, registered, units, crs)
                 for p in segment_paths(path)]          # pdafpy's segmented output
        records = ObservationRecords.concatenate(parts)
        _first_bad(path, "time", np.concatenate([[False], np.diff(records.time) < 0]),
                   records.time, "times out of order across its segments")
        return records
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
        for name in required + [n for n in ("depth", "qc", "station", "sensor")
                                if n in ds.variables]:
            if name not in ds.variables:
                raise InputFileError(f"{path}: variable {name!r} is missing (required: "
                                     f"{', '.join(required)}; or lat/lon for x/y)")
            dims = ds[name].dimensions
            chars = name in ("type", "station", "sensor") and ds[name].dtype == "S1"
            if not dims or dims[0] != "obs" or len(dims) > (2 if chars else 1):
                raise InputFileError(f"{path}: variable {name!r} has dimensions {dims}, expected "
                                     "('obs',)" + (" or ('obs', strlen)" if chars else ""))
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
        sensor = _strings(path, ds["sensor"], "sensor") if "sensor" in ds.variables \
            else np.full(time.size, "", dtype=object)
        present = list(dict.fromkeys(types.tolist()))
        for t in present:
            if t not in registered:
                k = int(np.flatnonzero(types == t)[0])
                raise InputFileError(f"{path}: variable 'type': {t!r} (obs index {k}) is not a "
                                     "registered observation type")
        if "units" not in ds["value"].ncattrs():
            raise InputFileError(f"{path}: variable 'value' has no units attribute")
        keys = [unit_key(t, s) for t in present
                for s in np.unique(sensor[types == t].astype(str)).tolist()]
        given = _parse_units(path, ds["value"].units, keys)
        for key in keys:
            if key in units and given[key] != _normal_units(units[key]):
                type_name, _, label = key.partition("/")
                raise InputFileError(f"{path}: variable 'value': units {given[key]!r} for type "
                                     f"{type_name!r}" + (f" (sensor {label!r})" if label else "")
                                     + f", expected {units[key]!r}")
        error_units = getattr(ds["error_std"], "units", None)
        if error_units is not None and (not isinstance(error_units, str) or _normal_units(
                error_units) != _normal_units(ds["value"].units)):
            raise InputFileError(f"{path}: variable 'error_std': units {_shown(error_units)} "
                                 f"differ from the values' {ds['value'].units!r}")
    return ObservationRecords.build(time, x, y, value, error, types, depth, qc, station,
                                    sensor=sensor)


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


class ObservationWriter(SegmentedWriter):
    """Append observation records to an observation file, in segments (one rank only).

    Parameters
    ----------
    path : Path
        The output's name, ``NAME.nc``; its segments are ``NAME.00000.nc``, ... (each written
        under a temporary name until closed, :mod:`pdafpy.segments`).
    start : str
        The run's start (ISO 8601): ``time`` is written in seconds since it.
    units : mapping
        Each type's units.
    attributes : mapping, optional
        Global attributes (title, source, ...).
    sensors : bool
        Write each record's sensor label (variable ``sensor``); without it a file has today's
        layout.
    """

    _NUMERIC = {"time": ("f8", "time"), "x": ("f8", "projection_x_coordinate"),
                "y": ("f8", "projection_y_coordinate"), "depth": ("f8", "depth"),
                "value": ("f8", None), "error_std": ("f8", None), "qc": ("i1", None)}

    def __init__(self, path: Path | str, start: str, units: Mapping[str, str],
                 attributes: Mapping[str, str] | None = None, sensors: bool = False):
        super().__init__(path, writes=True)
        self.start = start
        self.units = dict(units)
        self.attributes = dict(attributes or {})
        self.sensors = bool(sensors)

    @classmethod
    def for_modules(cls, path: Path | str, start: str, modules: Sequence[Any],
                    attributes: Mapping[str, str] | None = None) -> "ObservationWriter":
        """The writer of a run's observations: the units of its observation ``modules``
        (:func:`file_units`), and each record's sensor label where a table is named."""
        return cls(path, start, file_units(modules), attributes,
                   sensors=any(m.section.name for m in modules))

    def _create(self, path: Path) -> Any:
        import netCDF4

        ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        ds.Conventions = "CF-1.8"
        ds.featureType = "point"
        ds.segment = self.segment
        for key, value in self.attributes.items():
            setattr(ds, key, value)
        ds.createDimension("obs", None)
        for name, (dtype, standard) in self._NUMERIC.items():
            var = ds.createVariable(name, dtype, ("obs",), zlib=True)
            if standard:
                var.standard_name = standard
        ds["time"].units = (f"seconds since "
                            f"{datetime.fromisoformat(self.start).isoformat(sep=' ')}")
        ds["time"].calendar = "standard"
        ds["x"].units = ds["y"].units = ds["depth"].units = "m"
        ds["depth"].positive = "down"
        ds["value"].units = ds["error_std"].units = units_text(self.units)
        ds["value"].coordinates = "time x y depth"
        ds["qc"].flag_values = np.array(list(QC_MEANINGS), dtype="i1")
        ds["qc"].flag_meanings = " ".join(QC_MEANINGS.values())
        ds.createVariable("type", str, ("obs",)).long_name = "observation type"
        ds.createVariable("station", str, ("obs",)).long_name = "station id"
        if self.sensors:
            ds.createVariable("sensor", str, ("obs",)).long_name = (
                "sensor label: the name of the [[observations]] table ('' where none)")
        self._add_variables(ds)
        return ds

    def _add_variables(self, ds: Any) -> None:
        """Variables a subclass adds along ``obs`` to each new segment."""

    def write(self, records: ObservationRecords,
              columns: Mapping[str, np.ndarray] | None = None) -> None:
        """Append ``records`` (their times must not precede those written), with the values of
        a subclass's further variables ``columns`` (each ``(records.size,)``)."""
        m = records.size
        if not m:
            return
        ds = self.dataset()
        try:
            k = len(ds.dimensions["obs"])
            sl = slice(k, k + m)
            for name in self._NUMERIC:
                ds[name][sl] = getattr(records, name)
            ds["type"][sl] = records.type.astype(object)
            ds["station"][sl] = records.station.astype(object)
            if self.sensors:
                ds["sensor"][sl] = records.sensor.astype(object)
            for name, column in (columns or {}).items():
                ds[name][sl] = column
        except (OSError, RuntimeError) as exc:
            raise write_failure(self.part, exc) from None
        self.written(m)
