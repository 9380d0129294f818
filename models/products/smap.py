"""SMAP passive soil moisture (NSIDC's HDF5 products) as ``satellite_soil_moisture`` records.

Layouts (NSIDC data-field tables of SPL2SMP, SPL2SMP_E, SPL3SMP, SPL3SMP_E; the SMAP L2/L3
passive soil moisture product specifications):

- **L2** (``read_l2``; SPL2SMP at 36 km, SPL2SMP_E at 9 km, one half-orbit per file): group
  ``Soil_Moisture_Retrieval_Data``, 1-D arrays over the retrieved EASE-2 cells:
  ``soil_moisture`` [cm**3/cm**3], ``soil_moisture_error`` (optional), ``retrieval_qual_flag``
  (uint16, fill 65534), ``latitude``/``longitude`` of the cell centre [degrees], and
  ``tb_time_seconds`` (J2000 seconds) or ``tb_time_utc`` (ISO 8601 text).
- **L3** (``read_l3``; SPL3SMP 406 x 964 at 36 km, SPL3SMP_E 1624 x 3856 at 9 km, daily): the
  same fields as 2-D EASE-2 grids, row 0 north, in ``Soil_Moisture_Retrieval_Data_AM`` (names
  as L2) and ``Soil_Moisture_Retrieval_Data_PM`` (names with the suffix ``_pm``); each cell is
  placed at its EASE-2 centre (:func:`models.products.projection.ease2_lonlat`).

Float fields take fill -9999.0 (their ``_FillValue``), values outside ``valid_min``/``valid_max``
are invalid; neither becomes a record. ``retrieval_qual_flag`` bit 0 set means the retrieval
does not have recommended quality, bit 1 that it was not attempted, bit 2 that it failed: any of
these sets ``qc = 1``, as does a fill flag; bit 3 (freeze/thaw retrieval) is informational.

Times: ``tb_time_seconds`` counts seconds since the J2000 epoch, 2000-01-01T11:58:55.816 UTC,
including the leap seconds inserted since (five up to 2017); they are removed here so that the
result is UTC, as ``tb_time_utc`` states it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pdafpy.errors import InputFileError

from .common import (LONLAT, ProductObservations, ReadOptions, concatenate, drop_reasons,
                     flag_reasons, iso_utc_to_posix, posix_seconds, read_array, require,
                     text_values, units_of, with_error_fallback)
from .projection import EASE2_GRID_SHAPES, ease2_lonlat, ease2_rowcol

__all__ = ["read_l2", "read_l3", "j2000_to_posix", "J2000_EPOCH", "QUALITY_FLAGS"]

TYPE_NAME, UNITS = "satellite_soil_moisture", "m3 m-3"
L2_GROUP = "Soil_Moisture_Retrieval_Data"
#: L3 overpass -> (group, suffix of its dataset names).
L3_GROUPS = {"am": ("Soil_Moisture_Retrieval_Data_AM", ""),
             "pm": ("Soil_Moisture_Retrieval_Data_PM", "_pm")}
#: The J2000 epoch in UTC, the origin of ``tb_time_seconds``.
J2000_EPOCH = "2000-01-01T11:58:55.816"
#: The UTC days that began after each leap second inserted since the J2000 epoch.
LEAP_SECOND_DAYS = ("2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01")
#: retrieval_qual_flag bits that reject a retrieval, in order of precedence.
QUALITY_FLAGS = ((0b0100, "retrieval_qual_flag bit 2: retrieval failed"),
                 (0b0010, "retrieval_qual_flag bit 1: retrieval not attempted"),
                 (0b0001, "retrieval_qual_flag bit 0: not recommended quality"))
#: Units SMAP writes for volumetric water content, and their equivalents.
VOLUMETRIC_UNITS = {"cm**3/cm**3", "cm3/cm3", "cm^3/cm^3", "cm3 cm-3", "m**3/m**3", "m3/m3",
                    "m^3/m^3", "m3 m-3"}
FLOAT_FILL, FLAG_FILL = -9999.0, 65534
_J2000_POSIX = posix_seconds(J2000_EPOCH)
#: Elapsed J2000 seconds from which each further leap second is to be removed.
_LEAP_THRESHOLDS = np.array([posix_seconds(day) - _J2000_POSIX + k
                             for k, day in enumerate(LEAP_SECOND_DAYS, start=1)])


def j2000_to_posix(seconds: np.ndarray) -> np.ndarray:
    """SMAP J2000 seconds (leap seconds counted) as seconds since 1970-01-01 UTC."""
    seconds = np.asarray(seconds, dtype=float)
    return _J2000_POSIX + seconds - np.searchsorted(_LEAP_THRESHOLDS, seconds, side="right")


@dataclass
class _Field:
    """A numeric field read with its fill and valid-range masks."""

    values: np.ndarray
    fill: np.ndarray
    out_of_range: np.ndarray

    def ravel(self) -> "_Field":
        """The field flattened (row-major)."""
        return _Field(self.values.ravel(), self.fill.ravel(), self.out_of_range.ravel())


def read_l2(path: Path | str, options: ReadOptions) -> ProductObservations:
    """The retrievals of an SPL2SMP or SPL2SMP_E half-orbit file (see the module notes).

    Raises
    ------
    InputFileError
        An unreadable file, a missing group or dataset, wrong units or shapes, naming the file
        and the field; retrievals without an error when ``options.error_std`` is None.
    """
    path = Path(path)
    with _open(path) as h5:
        group = _group(path, h5, L2_GROUP, "SMAP L2 (SPL2SMP/SPL2SMP_E)")
        moisture_ds = _dataset(path, group, "soil_moisture")
        _check_volumetric(path, moisture_ds)
        shape = moisture_ds.shape
        require(len(shape) == 1, path, f"dataset '{_name(moisture_ds)}' has shape {shape}, "
                "expected one dimension (one entry per retrieval)")
        moisture = _field(path, moisture_ds, FLOAT_FILL)
        lat = _field(path, _dataset(path, group, "latitude", shape), FLOAT_FILL)
        lon = _field(path, _dataset(path, group, "longitude", shape), FLOAT_FILL)
        flags, flag_fill = _flags(path, _dataset(path, group, "retrieval_qual_flag", shape))
        error = _optional_field(path, group, "soil_moisture_error", shape)
        time = _times(path, group, "", shape)
        error_name = f"{_name(group)}/soil_moisture_error"
    return _records(path, moisture, lat.values, lon.values, lat.fill | lon.fill, flags,
                    flag_fill, error, time, options, error_name,
                    {"source_product": "SMAP L2 passive soil moisture (SPL2SMP/SPL2SMP_E)"})


def read_l3(path: Path | str, options: ReadOptions) -> ProductObservations:
    """The retrievals of an SPL3SMP or SPL3SMP_E daily file, from the overpasses
    ``options.overpass`` (``"am"``, ``"pm"`` or ``"both"``) and the cells of
    ``options.region`` (see the module notes).

    Raises
    ------
    InputFileError
        As :func:`read_l2`, and a grid that is not the 36 or 9 km EASE-2 Global grid.
    """
    path = Path(path)
    passes = ("am", "pm") if options.overpass == "both" else (options.overpass,)
    with _open(path) as h5:
        parts = [_l3_pass(path, h5, overpass, options) for overpass in passes]
    return concatenate(parts)


def _l3_pass(path: Path, h5: Any, overpass: str, options: ReadOptions) -> ProductObservations:
    name, suffix = L3_GROUPS[overpass]
    group = _group(path, h5, name, "SMAP L3 (SPL3SMP/SPL3SMP_E)")
    moisture_ds = _dataset(path, group, "soil_moisture" + suffix)
    _check_volumetric(path, moisture_ds)
    shape = tuple(moisture_ds.shape)
    resolution = {v: k for k, v in EASE2_GRID_SHAPES.items() if k in (36, 9)}.get(shape)
    require(resolution is not None, path, f"dataset '{_name(moisture_ds)}' has shape {shape}, "
            f"expected the EASE-2 grid of 36 km {EASE2_GRID_SHAPES[36]} or 9 km "
            f"{EASE2_GRID_SHAPES[9]}")
    window = _window(shape, resolution, options)
    moisture = _field(path, moisture_ds, FLOAT_FILL, window)
    flags, flag_fill = _flags(path, _dataset(path, group, "retrieval_qual_flag" + suffix,
                                             shape), window)
    error = _optional_field(path, group, "soil_moisture_error" + suffix, shape, window)
    time = _times(path, group, suffix, shape, window)
    flat = moisture.ravel()
    rows, cols = np.divmod(np.flatnonzero(~flat.fill), moisture.values.shape[1])
    lon, lat = np.full(flat.values.size, np.nan), np.full(flat.values.size, np.nan)
    lon[~flat.fill], lat[~flat.fill] = ease2_lonlat(rows + window[0].start,
                                                    cols + window[1].start, resolution)
    return _records(path, flat, lat, lon, np.zeros(flat.values.size, dtype=bool),
                    flags.ravel(), flag_fill.ravel(), None if error is None else error.ravel(),
                    time.ravel(), options, f"{_name(group)}/soil_moisture_error{suffix}",
                    {"source_product": f"SMAP L3 passive soil moisture (SPL3SMP/SPL3SMP_E), "
                                       f"{resolution} km EASE-2",
                     "smap_overpass": options.overpass})


def _window(shape: tuple[int, ...], resolution: int, options: ReadOptions
            ) -> tuple[slice, slice]:
    """The rows and columns of the EASE-2 grid covering ``options.region`` (all without)."""
    if options.region is None:
        return slice(0, shape[0]), slice(0, shape[1])
    box = options.region
    rows, cols = ease2_rowcol(np.array([box.lon_min, box.lon_max]),
                              np.array([box.lat_max, box.lat_min]), resolution)
    r0, r1 = max(int(rows[0]), 0), min(int(rows[1]) + 1, shape[0])
    c0, c1 = max(int(cols[0]), 0), min(int(cols[1]) + 1, shape[1])
    return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


def _records(path: Path, moisture: _Field, lat: np.ndarray, lon: np.ndarray,
             no_location: np.ndarray, flags: np.ndarray, flag_fill: np.ndarray,
             error: _Field | None, time: np.ndarray, options: ReadOptions, error_name: str,
             attributes: dict[str, str]) -> ProductObservations:
    """Records from the fields of one group, fill values and invalid entries left out."""
    keep, dropped = drop_reasons(
        [(moisture.fill, "soil_moisture is fill"),
         (moisture.out_of_range, "soil_moisture outside valid_min/valid_max"),
         (no_location, "latitude/longitude are fill"),
         (~np.isfinite(time), "tb_time is fill")], moisture.values.size)
    qc, flagged_by = flag_reasons(flags[keep], QUALITY_FLAGS, flag_fill[keep],
                                  "retrieval_qual_flag is fill")
    product_error = np.full(int(keep.sum()), np.nan) if error is None else np.where(
        error.fill | error.out_of_range, np.nan, error.values)[keep]
    return ProductObservations(
        path, TYPE_NAME, UNITS, time_utc=time[keep], x=np.asarray(lon)[keep],
        y=np.asarray(lat)[keep], crs=LONLAT, value=moisture.values[keep],
        error_std=with_error_fallback(product_error, options, path, error_name),
        qc=qc, flagged_by=flagged_by, dropped=dropped, attributes=attributes)


def _open(path: Path) -> Any:
    import h5py

    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable HDF5 file "
                             f"({' '.join(str(exc).split())[:160]})") from None


def _group(path: Path, h5: Any, name: str, product: str) -> Any:
    import h5py

    try:
        group = h5.get(name)
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputFileError(f"{path}: group {name!r} cannot be opened ({exc})") from None
    require(isinstance(group, h5py.Group), path, f"group {name!r} is missing (expected the "
            f"{product} layout)")
    return group


def _dataset(path: Path, group: Any, name: str, shape: tuple[int, ...] | None = None) -> Any:
    """Dataset ``name`` of ``group``, checked to have ``shape`` when given."""
    import h5py

    full = f"{_name(group)}/{name}".lstrip("/")
    try:
        dataset = group.get(name)
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputFileError(f"{path}: dataset {full!r} cannot be opened ({exc})") from None
    require(isinstance(dataset, h5py.Dataset), path, f"dataset {full!r} is missing")
    require(shape is None or tuple(dataset.shape) == tuple(shape), path,
            f"dataset {full!r} has shape {tuple(dataset.shape)}, expected {tuple(shape or ())} "
            "like soil_moisture")
    return dataset


def _name(item: Any) -> str:
    """A dataset's or group's path in the file, without the leading slash."""
    return item.name.lstrip("/")


def _attribute(dataset: Any, name: str) -> float | None:
    value = dataset.attrs.get(name)
    if value is None:
        return None
    value = np.asarray(value).ravel()
    return float(value[0]) if value.size and value.dtype.kind in "iuf" else None


def _field(path: Path, dataset: Any, default_fill: float,
           window: tuple[slice, slice] | None = None) -> _Field:
    raw = read_array(path, dataset, _name(dataset), window)
    require(raw.dtype.kind in "iuf", path, f"dataset '{_name(dataset)}' has type "
            f"{raw.dtype}, expected numbers")
    values = raw.astype(float)
    fill_value = _attribute(dataset, "_FillValue")
    fill = ~np.isfinite(values) | (values == (default_fill if fill_value is None
                                             else fill_value))
    low, high = _attribute(dataset, "valid_min"), _attribute(dataset, "valid_max")
    out_of_range = ~fill & (((values < low) if low is not None else False)
                            | ((values > high) if high is not None else False))
    return _Field(values, fill, np.asarray(out_of_range, dtype=bool))


def _optional_field(path: Path, group: Any, name: str, shape: tuple[int, ...],
                    window: tuple[slice, slice] | None = None) -> _Field | None:
    if name not in group:
        return None
    return _field(path, _dataset(path, group, name, shape), FLOAT_FILL, window)


def _flags(path: Path, dataset: Any, window: tuple[slice, slice] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    raw = read_array(path, dataset, _name(dataset), window)
    require(raw.dtype.kind in "iu", path, f"dataset '{_name(dataset)}' has type "
            f"{raw.dtype}, expected an integer bit field")
    fill_value = _attribute(dataset, "_FillValue")
    flags = raw.astype(np.int64)
    return flags, flags == int(FLAG_FILL if fill_value is None else fill_value)


def _times(path: Path, group: Any, suffix: str, shape: tuple[int, ...],
           window: tuple[slice, slice] | None = None) -> np.ndarray:
    """UTC seconds since 1970 from ``tb_time_seconds`` or, without it, ``tb_time_utc``; NaN
    where fill."""
    seconds_name, utc_name = "tb_time_seconds" + suffix, "tb_time_utc" + suffix
    if seconds_name in group:
        seconds = _field(path, _dataset(path, group, seconds_name, shape), FLOAT_FILL, window)
        return np.where(seconds.fill, np.nan, j2000_to_posix(seconds.values))
    require(utc_name in group, path, f"dataset '{_name(group)}/{seconds_name}' is "
            f"missing (and no {utc_name} either)")
    dataset = _dataset(path, group, utc_name, shape)
    text = text_values(read_array(path, dataset, _name(dataset), window))
    text = np.where(np.char.startswith(text, "N/A"), "", text)
    return iso_utc_to_posix(text, path, f"dataset '{_name(dataset)}'")


def _check_volumetric(path: Path, dataset: Any) -> None:
    units = units_of(dataset)
    require(units.replace(" ", "") in {u.replace(" ", "") for u in VOLUMETRIC_UNITS}, path,
            f"dataset '{_name(dataset)}' has units {units!r}, expected volumetric "
            "water content (cm**3/cm**3)")
