"""What the product readers share: their options, their result, and file access that names the
file and the field in one line when a file is unusable.

Every reader (``pdafpy.products`` entry points) is a function ``read(path, options)`` returning a
:class:`ProductObservations`: the retrievals of one file with their values, error standard
deviations, UTC times, coordinates (longitude/latitude, or the model grid's own coordinates for
station files) and quality flags, the product's flags already mapped to pdafpy's ``qc``
(:data:`~pdafpy.obs.records.QC_REJECTED` with the reason kept per record). Fill values never
become records; what was left out is counted by reason in ``dropped``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.errors import InputFileError
from pdafpy.obs.records import QC_GOOD, QC_REJECTED

__all__ = ["LONLAT", "GRID_COORDINATES", "LonLatBox", "ReadOptions", "ProductObservations",
           "ASCAT_LIMITS", "posix_seconds", "cf_time_to_posix", "flag_reasons",
           "with_error_fallback", "require", "read_array", "netcdf_dataset", "netcdf_variable",
           "netcdf_values", "units_of", "drop_reasons", "concatenate", "text_values",
           "iso_utc_to_posix"]

#: Coordinates given as longitude (x) and latitude (y) in degrees on WGS 84.
LONLAT = "EPSG:4326"
#: Coordinates already given in the model grid's CRS (station files with ``x``/``y`` columns).
GRID_COORDINATES = "grid"
#: ASCAT advisory-flag limits [%] above which a retrieval is flagged (see docs/products.md).
ASCAT_LIMITS: Mapping[str, float] = {"snow": 50.0, "frozen": 50.0, "wetland": 15.0,
                                     "topography": 20.0}

_TIME_UNITS = re.compile(r"^\s*(seconds?|minutes?|hours?|days?)\s+since\s+(.+?)\s*$", re.I)
_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


@dataclass(frozen=True)
class LonLatBox:
    """A longitude/latitude box [degrees]: the part of a global product a conversion reads."""

    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """``(m,)`` bool: whether points lie in the box (edges included)."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        return ((lon >= self.lon_min) & (lon <= self.lon_max) & (lat >= self.lat_min)
                & (lat <= self.lat_max))


@dataclass(frozen=True)
class ReadOptions:
    """What a conversion asks of a reader (``pdafpy convert`` options).

    Attributes
    ----------
    error_std : float or None
        ``--error``: the error standard deviation [output units] of retrievals for which the
        product gives none (None: such retrievals are refused).
    overpass : str
        ``--pass`` (SMAP L3): ``"am"``, ``"pm"`` or ``"both"``.
    ascat_units : str
        ``--ascat-units``: ``"volumetric"`` [m3 m-3] (degree of saturation times porosity) or
        ``"saturation"`` [1].
    porosity : float, Path or None
        ``--porosity`` (ASCAT, volumetric): one value [m3 m-3] or a NetCDF map.
    ascat_limits : mapping
        ``--ascat-limits``: advisory-flag limits [%] (:data:`ASCAT_LIMITS`).
    region : LonLatBox or None
        The part of a global product to read (the model grid and a margin); None: all.
    """

    error_std: float | None = None
    overpass: str = "both"
    ascat_units: str = "volumetric"
    porosity: float | Path | None = None
    ascat_limits: Mapping[str, float] = field(default_factory=lambda: dict(ASCAT_LIMITS))
    region: LonLatBox | None = None


@dataclass
class ProductObservations:
    """The retrievals one reader took from one file, one entry per retrieval in every array.

    Attributes
    ----------
    path : Path
        The file read.
    type_name : str
        The observation type the values are for.
    units : str
        Units of ``value`` and ``error_std``.
    time_utc : (m,) float ndarray
        Valid time [s since 1970-01-01T00:00:00 UTC, no leap seconds].
    x, y : (m,) float ndarray
        Location in ``crs``: longitude and latitude [degrees] for :data:`LONLAT`, the model
        grid's coordinates [m] for :data:`GRID_COORDINATES`.
    crs : str
        :data:`LONLAT` or :data:`GRID_COORDINATES`.
    value, error_std : (m,) float ndarray
        Observed value and its error standard deviation [``units``], both finite, error > 0.
    qc : (m,) int8 ndarray
        pdafpy's flag: good (0) or rejected by the product's own flags (1).
    flagged_by : (m,) object ndarray of str
        The product flag that set ``qc = 1`` ("" where good).
    depth : (m,) float ndarray
        Depth below the surface [m] (NaN where the product has none).
    station : (m,) object ndarray of str
        Station id ("" for satellite products).
    dropped : Counter
        Entries of the file left out, by reason (fill values, values outside the valid range).
    attributes : dict
        Global attributes the output file should carry (e.g. the ASCAT units chosen).
    """

    path: Path
    type_name: str
    units: str
    time_utc: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str
    value: np.ndarray
    error_std: np.ndarray
    qc: np.ndarray
    flagged_by: np.ndarray
    depth: np.ndarray | None = None
    station: np.ndarray | None = None
    dropped: Counter = field(default_factory=Counter)
    attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = np.asarray(self.value).size
        if self.depth is None:
            self.depth = np.full(m, np.nan)
        if self.station is None:
            self.station = np.full(m, "", dtype=object)

    @property
    def size(self) -> int:
        """Number of retrievals."""
        return int(np.asarray(self.value).size)

    def subset(self, keep: np.ndarray) -> "ProductObservations":
        """The retrievals where ``keep`` (bool or index array), the same bookkeeping."""
        columns = {name: np.asarray(getattr(self, name))[keep] for name in _COLUMNS}
        return ProductObservations(self.path, self.type_name, self.units, crs=self.crs,
                                   dropped=Counter(self.dropped),
                                   attributes=dict(self.attributes), **columns)


_COLUMNS = ("time_utc", "x", "y", "value", "error_std", "qc", "flagged_by", "depth", "station")


def posix_seconds(moment: str | datetime) -> float:
    """Seconds since 1970-01-01T00:00:00 UTC of an ISO 8601 time (UTC where no zone is given).

    Raises
    ------
    ValueError
        If ``moment`` is not ISO 8601.
    """
    when = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) \
        else moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def cf_time_to_posix(values: np.ndarray, units: Any, path: Path, name: str) -> np.ndarray:
    """CF times ``"<seconds|minutes|hours|days> since <ISO time>"`` (standard calendar) as
    seconds since 1970-01-01 UTC.

    Raises
    ------
    InputFileError
        If the units are not of that form, naming the file and the variable.
    """
    match = _TIME_UNITS.match(units) if isinstance(units, str) else None
    reference = None
    if match:
        try:
            reference = posix_seconds(match.group(2).strip().replace(" ", "T", 1))
        except ValueError:
            reference = None
    if reference is None:
        raise InputFileError(f"{path}: variable {name!r}: units {units!r}: expected "
                             "'<seconds|minutes|hours|days> since <ISO 8601 time>'")
    unit = match.group(1).lower().rstrip("s")
    return reference + np.asarray(values, dtype=float) * _SECONDS[unit]


def flag_reasons(flags: np.ndarray, table: Sequence[tuple[int, str]],
                 missing: np.ndarray | None = None, missing_reason: str = ""
                 ) -> tuple[np.ndarray, np.ndarray]:
    """pdafpy's ``qc`` and the reason from a product's bit flags.

    Parameters
    ----------
    flags : (m,) integer ndarray
        The product's flag field.
    table : sequence of (mask, reason)
        Masks whose bits reject a retrieval, in order of precedence: a retrieval is rejected by
        the first mask it has a bit of.
    missing : (m,) bool ndarray, optional
        Retrievals whose flag is itself a fill value: rejected by ``missing_reason``.

    Returns
    -------
    qc : (m,) int8 ndarray
    flagged_by : (m,) object ndarray of str
    """
    flags = np.asarray(flags).astype(np.int64)
    flagged_by = np.full(flags.shape, "", dtype=object)
    if missing is not None:
        flagged_by[missing] = missing_reason
    for mask, reason in table:
        hit = ((flags & mask) != 0) & (flagged_by == "")
        flagged_by[hit] = reason
    qc = np.where(flagged_by != "", QC_REJECTED, QC_GOOD).astype(np.int8)
    return qc, flagged_by


def with_error_fallback(error: np.ndarray, options: ReadOptions, path: Path,
                        field_name: str) -> np.ndarray:
    """The product's error standard deviations where finite and > 0, else ``--error``.

    Raises
    ------
    InputFileError
        If some retrieval has no error from the product and ``--error`` was not given, naming
        the file and the product's error field.
    """
    error = np.asarray(error, dtype=float)
    missing = ~(np.isfinite(error) & (error > 0))
    if not missing.any():
        return error
    if options.error_std is None:
        what = (f"variable {field_name!r} gives no error for {int(missing.sum())} of "
                f"{error.size} retrievals" if field_name else
                "the product gives no error standard deviation")
        raise InputFileError(f"{path}: {what}; give --error (error standard deviation in the "
                             "output units)")
    return np.where(missing, options.error_std, error)


def require(present: bool, path: Path, what: str) -> None:
    """Raise InputFileError ``"PATH: WHAT"`` unless ``present``."""
    if not present:
        raise InputFileError(f"{path}: {what}")


def read_array(path: Path, dataset: Any, name: str, index: Any = None) -> np.ndarray:
    """``dataset[index]`` of an HDF5 dataset or NetCDF variable as an array; a damaged file
    (truncated, corrupt chunks) raises InputFileError naming the file and ``name``."""
    try:
        return np.asarray(dataset[()] if index is None else dataset[index])
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise InputFileError(f"{path}: {name!r} cannot be read "
                             f"({' '.join(str(exc).split())[:160]})") from None


def netcdf_dataset(path: Path) -> Any:
    """A NetCDF file opened for reading (values masked where fill or outside the valid range,
    scale_factor and add_offset applied).

    Raises
    ------
    InputFileError
        If it is missing or not NetCDF.
    """
    import netCDF4

    if not Path(path).is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        ds = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable NetCDF file ({exc})") from None
    ds.set_auto_maskandscale(True)
    return ds


def netcdf_variable(path: Path, ds: Any, name: str, product: str) -> Any:
    """Variable ``name`` of ``ds``; InputFileError naming the file and the variable if absent."""
    require(name in ds.variables, path, f"variable {name!r} is missing (expected the {product} "
            "layout)")
    return ds.variables[name]


def netcdf_values(path: Path, var: Any, name: str, index: Any = None) -> np.ndarray:
    """A NetCDF variable (or part) as float, NaN where masked (fill, outside valid range)."""
    data = _masked(path, var, name, index)
    if data.dtype.kind not in "iuf":
        raise InputFileError(f"{path}: variable {name!r} has type {data.dtype}, expected "
                             "numbers")
    return np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)


def _masked(path: Path, var: Any, name: str, index: Any) -> np.ma.MaskedArray:
    try:
        return np.ma.asarray(var[:] if index is None else var[index])
    except (OSError, RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise InputFileError(f"{path}: {name!r} cannot be read "
                             f"({' '.join(str(exc).split())[:160]})") from None


def units_of(var: Any) -> str:
    """The ``units`` attribute of an HDF5 dataset or NetCDF variable as text ("" if none)."""
    attrs = getattr(var, "attrs", None)
    units = attrs.get("units", "") if attrs is not None else getattr(var, "units", "")
    if isinstance(units, bytes):
        units = units.decode("utf-8", "replace")
    if isinstance(units, np.ndarray):
        units = units.ravel()[0] if units.size else ""
        units = units.decode("utf-8", "replace") if isinstance(units, bytes) else str(units)
    return str(units).strip()


def drop_reasons(conditions: Sequence[tuple[np.ndarray, str]], size: int
                 ) -> tuple[np.ndarray, Counter]:
    """Which entries to keep, and the others counted by their first reason.

    Parameters
    ----------
    conditions : sequence of ((m,) bool ndarray, str)
        Entries to leave out and why, in order of precedence.
    size : int
        Number of entries ``m``.

    Returns
    -------
    keep : (m,) bool ndarray
    dropped : Counter
        Reason -> entries left out for it (each entry under its first reason only).
    """
    keep = np.ones(size, dtype=bool)
    dropped: Counter = Counter()
    for mask, reason in conditions:
        hit = keep & np.asarray(mask, dtype=bool).ravel()
        if hit.any():
            dropped[reason] += int(hit.sum())
            keep &= ~hit
    return keep, dropped


def concatenate(parts: Sequence[ProductObservations]) -> ProductObservations:
    """The retrievals of several reads of one file (e.g. SMAP L3's two overpasses), in order,
    their dropped counts summed."""
    first = parts[0]
    dropped: Counter = Counter()
    for part in parts:
        dropped.update(part.dropped)
    columns = {name: np.concatenate([np.asarray(getattr(p, name)) for p in parts])
               for name in _COLUMNS}
    return ProductObservations(first.path, first.type_name, first.units, crs=first.crs,
                               dropped=dropped, attributes=dict(first.attributes), **columns)


def text_values(raw: np.ndarray) -> np.ndarray:
    """Strings of an HDF5 or NetCDF string/char field as a ``str`` array (UTF-8 decoded)."""
    raw = np.asarray(raw)
    if raw.dtype.kind == "O":
        first = next((v for v in raw.ravel() if v is not None), "")
        raw = raw.astype(bytes) if isinstance(first, bytes) else raw.astype(str)
    if raw.dtype.kind == "S":
        raw = np.char.decode(raw, "utf-8", "replace")
    return np.char.strip(raw.astype(str))


def iso_utc_to_posix(text: np.ndarray, path: Path, what: str,
                     lines: np.ndarray | None = None) -> np.ndarray:
    """ISO 8601 UTC times (a trailing ``Z`` allowed) as seconds since 1970-01-01 UTC; NaN where
    empty.

    Parameters
    ----------
    text : (m,) str ndarray
    path : Path
        The file, for messages.
    what : str
        The field, for messages (e.g. ``"column 'time'"``).
    lines : (m,) int ndarray, optional
        The file line of each entry, for messages.

    Raises
    ------
    InputFileError
        A time that is not ISO 8601 (or carries another zone), naming the file, the field and
        the first such entry.
    """
    text = np.char.rstrip(np.asarray(text, dtype=str), "Z")
    empty = (text == "") | (np.char.lower(text) == "nan")
    out = np.full(text.shape, np.nan)
    given = text[~empty]
    try:
        with _DeprecationsAsErrors():
            moments = given.astype("datetime64[ms]")
    except (ValueError, DeprecationWarning):
        k = next((k for k in np.flatnonzero(~empty) if not _is_iso(str(text[k]))),
                 int(np.flatnonzero(~empty)[0]))
        where = f", line {lines[k]}" if lines is not None else ""
        raise InputFileError(f"{path}: {what}{where}: {str(text[k])!r} is not an ISO 8601 UTC "
                             "time (e.g. 2020-05-01T06:00:00Z)") from None
    out[~empty] = (moments - np.datetime64("1970-01-01T00:00:00", "ms")).astype(float) / 1e3
    return out


def _is_iso(text: str) -> bool:
    try:
        with _DeprecationsAsErrors():
            np.datetime64(text, "ms")
        return True
    except (ValueError, DeprecationWarning):
        return False


class _DeprecationsAsErrors:
    """Context manager turning numpy's deprecation warnings (zone-aware times) into errors."""

    def __enter__(self) -> None:
        import warnings

        self._manager = warnings.catch_warnings()
        self._manager.__enter__()
        warnings.simplefilter("error", DeprecationWarning)

    def __exit__(self, *exc: Any) -> None:
        self._manager.__exit__(*exc)
