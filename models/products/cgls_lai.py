"""Copernicus Global Land Service leaf area index (NetCDF) as ``leaf_area_index`` records.

Layout (CGLS LAI product user manuals and technical characteristics: LAI 1 km V1 and V2,
LAI 300 m V1; global NetCDF4 files with CF-1.6 metadata on a regular latitude/longitude grid,
``lat``/``lon`` the pixel centres, one dekad per file):

=============================  ==============================================================
variable                       meaning
=============================  ==============================================================
``LAI(time, lat, lon)``        leaf area index [m2 m-2]: digital numbers 0-210, physical value
                               ``DN / 30`` (``scale_factor``), ``_FillValue`` 255
``LAI_ERR`` or ``RMSE``        its uncertainty, same scaling (``LAI_ERR`` in 1 km V1, ``RMSE``
                               in 1 km V2 and 300 m V1)
``QFLAG(time, lat, lon)``      quality bits, read bitwise (bit 1 the lowest): bit 1 land (0) or
                               sea (1); bit 3 filled (1: no valid observation in the compositing
                               window, the value gap-filled)
``lat``, ``lon``, ``time``     pixel centres [degrees]; the product date (CF time units)
=============================  ==============================================================

``scale_factor``, ``add_offset``, ``_FillValue`` and ``valid_range`` are applied as CF defines
them: fill and out-of-range values are no records. A sea pixel (QFLAG bit 1) or a gap-filled one
(bit 3) is kept with ``qc = 1``. Only the pixels of ``options.region`` are read (a global 300 m
file has 5.7e9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .common import (LONLAT, ProductObservations, ReadOptions, cf_time_to_posix, drop_reasons,
                     flag_reasons, netcdf_dataset, netcdf_values, netcdf_variable, require,
                     with_error_fallback)

__all__ = ["read", "QUALITY_FLAGS"]

TYPE_NAME, UNITS = "leaf_area_index", "m2 m-2"
PRODUCT = "Copernicus Global Land LAI (CGLS NetCDF)"
#: QFLAG bits that reject a pixel (mask, reason), in order of precedence.
QUALITY_FLAGS = ((0b001, "QFLAG bit 1: sea"),
                 (0b100, "QFLAG bit 3: filled (no valid observation in the window)"))
ERROR_NAMES = ("LAI_ERR", "RMSE")


def read(path: Path | str, options: ReadOptions) -> ProductObservations:
    """The pixels of one CGLS LAI file inside ``options.region`` (see the module notes).

    Raises
    ------
    InputFileError
        An unreadable file, a missing variable, shapes that do not fit ``lat``/``lon``, naming
        the file and the variable; pixels without an error when ``options.error_std`` is None.
    """
    path = Path(path)
    with netcdf_dataset(path) as ds:
        lai_var = netcdf_variable(path, ds, "LAI", PRODUCT)
        lat = netcdf_values(path, netcdf_variable(path, ds, "lat", PRODUCT), "lat")
        lon = netcdf_values(path, netcdf_variable(path, ds, "lon", PRODUCT), "lon")
        require(lat.ndim == 1 and lon.ndim == 1, path, "variables 'lat', 'lon' must be 1-D "
                "(pixel-centre coordinates)")
        shape = tuple(lai_var.shape)
        require(len(shape) in (2, 3) and shape[-2:] == (lat.size, lon.size)
                and (len(shape) == 2 or shape[0] == 1), path,
                f"variable 'LAI' has shape {shape}, expected (1, {lat.size}, {lon.size}) "
                "(time, lat, lon) or (lat, lon)")
        rows, cols = _window(lat, lon, options)
        index = (slice(None),) * (len(shape) - 2) + (rows, cols)
        lai = netcdf_values(path, lai_var, "LAI", index).reshape(-1)
        error_name = next((n for n in ERROR_NAMES if n in ds.variables), "")
        error = (_same_shape(path, ds, error_name, shape, index) if error_name
                 else np.full(lai.size, np.nan))
        qflag = _same_shape(path, ds, "QFLAG", shape, index, masked=False)
        time_var = netcdf_variable(path, ds, "time", PRODUCT)
        time = cf_time_to_posix(netcdf_values(path, time_var, "time"),
                                getattr(time_var, "units", None), path, "time")
        require(time.size == 1 and np.isfinite(time[0]), path, f"variable 'time' holds "
                f"{time.size} values, expected the one product date")
    pixel_lat, pixel_lon = np.meshgrid(lat[rows], lon[cols], indexing="ij")
    keep, dropped = drop_reasons([(~np.isfinite(lai), "LAI is fill or outside valid_range"),
                                  (~np.isfinite(qflag), "QFLAG is fill")], lai.size)
    qc, flagged_by = flag_reasons(qflag[keep].astype(np.int64), QUALITY_FLAGS)
    return ProductObservations(
        path, TYPE_NAME, UNITS, time_utc=np.full(int(keep.sum()), time[0]),
        x=pixel_lon.ravel()[keep], y=pixel_lat.ravel()[keep], crs=LONLAT, value=lai[keep],
        error_std=with_error_fallback(error[keep], options, path, error_name),
        qc=qc, flagged_by=flagged_by, dropped=dropped,
        attributes={"source_product": PRODUCT})


def _window(lat: np.ndarray, lon: np.ndarray, options: ReadOptions) -> tuple[slice, slice]:
    """The contiguous rows and columns of the pixels in ``options.region`` (all without)."""
    if options.region is None:
        return slice(0, lat.size), slice(0, lon.size)
    box = options.region

    def span(axis: np.ndarray, low: float, high: float) -> slice:
        inside = np.flatnonzero((axis >= low) & (axis <= high))
        return slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0)

    return span(lat, box.lat_min, box.lat_max), span(lon, box.lon_min, box.lon_max)


def _same_shape(path: Path, ds: Any, name: str, shape: tuple[int, ...], index: tuple,
                masked: bool = True) -> np.ndarray:
    """Variable ``name`` over ``index``, checked to have LAI's shape; flags are read without
    scaling (``masked=False`` keeps the fill masking only)."""
    var = netcdf_variable(path, ds, name, PRODUCT)
    require(tuple(var.shape) == shape, path, f"variable {name!r} has shape {tuple(var.shape)}, "
            f"expected {shape} like LAI")
    if not masked:
        var.set_auto_scale(False)
    return netcdf_values(path, var, name, index).reshape(-1)
