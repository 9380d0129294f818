"""ASCAT surface soil moisture (EUMETSAT H SAF, swath NetCDF) as ``satellite_soil_moisture``.

Layout: the ASCAT Level 2 surface soil moisture swath product on the 12.5 km swath grid (the
retrievals of H SAF's NRT products H101/H16/H104 for Metop-A/B/C) in EUMETSAT's NetCDF format,
``W_XX-EUMETSAT-Darmstadt,SURFACE+SATELLITE,METOP?+ASCAT_C_EUMP_<time>_<orbit>_eps_o_125_ssm_l2.nc``
(the 25 km product ``..._250_ssm_l2.nc`` has the same layout). Dimensions ``numRows`` (swath
lines) and ``numCells`` (nodes across the swath); variables read:

=========================  ====================  ==========================================
variable                   dimensions            meaning
=========================  ====================  ==========================================
utc_line_nodes             numRows               time of the line, CF units (seconds since
                                                 2000-01-01 00:00:00)
latitude, longitude        numRows, numCells     node location [degrees] (scaled integers)
soil_moisture              numRows, numCells     degree of saturation [%] (scale 0.01)
soil_moisture_error        numRows, numCells     its noise, one standard deviation [%]
proc_flag1                 numRows, numCells     processing flags (WMO BUFR flag table
                                                 0 40 006)
corr_flags                 numRows, numCells     corrections applied (0 40 005)
snow_cover_probability     numRows, numCells     [%]
frozen_soil_probability    numRows, numCells     [%]
wetland_flag               numRows, numCells     inundation and wetland fraction [%]
topography_flag            numRows, numCells     topographic complexity [%]
=========================  ====================  ==========================================

``_FillValue``, ``scale_factor`` and the valid range of each variable are applied as CF
defines them (NetCDF's own masking); a fill soil moisture is no record. Any processing flag set
(not soil, sensitivity or azimuthal noise beyond limits, backscatter or slope out of range, soil
moisture below -20 % or above 120 %) sets ``qc = 1``, named by the file's own ``flag_meanings``
where it has them; the correction flags only say how a value was corrected and reject nothing.
The advisory flags reject above ``--ascat-limits`` (default snow 50 %, frozen 50 %, wetland
15 %, topography 20 %).

Units (``--ascat-units``): ``volumetric`` [m3 m-3], the degree of saturation times a fixed
porosity (``--porosity`` VALUE, or a NetCDF map ``porosity(lat, lon)`` with 1-D ``lat``, ``lon``
[degrees], taken at the nearest map cell), the noise likewise; or ``saturation`` [1], the degree
of saturation as a fraction for an operator comparing theta / theta_s. The record's type is
``satellite_soil_moisture`` either way; the units written tell the run which one it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .common import (ASCAT_LIMITS, LONLAT, ProductObservations, ReadOptions, cf_time_to_posix,
                     drop_reasons, netcdf_dataset, netcdf_values, netcdf_variable, require,
                     units_of, with_error_fallback)

__all__ = ["read", "PROCESSING_FLAGS", "ASCAT_UNITS", "porosity_at"]

TYPE_NAME = "satellite_soil_moisture"
PRODUCT = "ASCAT surface soil moisture swath (EUMETSAT H SAF NetCDF)"
#: ``--ascat-units`` -> units of the values written.
ASCAT_UNITS = {"volumetric": "m3 m-3", "saturation": "1"}
#: Processing flags (WMO BUFR flag table 0 40 006, bit 1 the lowest), used where the file's
#: proc_flag1 has no flag_masks/flag_meanings of its own.
PROCESSING_FLAGS = ((1, "not soil"), (2, "sensitivity to soil moisture below limit"),
                    (4, "azimuthal noise above limit"),
                    (8, "backscatter fore-aft beam out of range"),
                    (16, "slope mid-fore beam out of range"),
                    (32, "slope mid-aft beam out of range"),
                    (64, "soil moisture below -20%"), (128, "soil moisture above 120%"))
#: Advisory flag variable -> its ``--ascat-limits`` key.
ADVISORY = {"snow_cover_probability": "snow", "frozen_soil_probability": "frozen",
            "wetland_flag": "wetland", "topography_flag": "topography"}
_PERCENT = {"%", "percent", "percent saturation", "% saturation", "degree of saturation (%)"}


def read(path: Path | str, options: ReadOptions) -> ProductObservations:
    """The retrievals of one ASCAT SSM swath NetCDF file (see the module notes).

    Raises
    ------
    InputFileError
        An unreadable file, a missing variable, soil moisture not in percent, shapes that do
        not match, naming the file and the variable; a porosity map that cannot be used.
    """
    path = Path(path)
    with netcdf_dataset(path) as ds:
        moisture_var = netcdf_variable(path, ds, "soil_moisture", PRODUCT)
        shape = tuple(moisture_var.shape)
        require(len(shape) == 2, path, f"variable 'soil_moisture' has dimensions "
                f"{moisture_var.dimensions}, expected (numRows, numCells)")
        for name in ("soil_moisture", "soil_moisture_error"):
            units = units_of(netcdf_variable(path, ds, name, PRODUCT))
            require(units.lower() in _PERCENT, path, f"variable {name!r} has units {units!r}, "
                    "expected percent (degree of saturation)")
        fields = {name: _read_2d(path, ds, name, shape) for name in
                  ("soil_moisture", "soil_moisture_error", "latitude", "longitude",
                   *ADVISORY)}
        flags_var = netcdf_variable(path, ds, "proc_flag1", PRODUCT)
        processing = _read_2d(path, ds, "proc_flag1", shape)
        flag_table = _flag_table(flags_var)
        time_var = netcdf_variable(path, ds, "utc_line_nodes", PRODUCT)
        require(tuple(time_var.shape) == shape[:1], path, f"variable 'utc_line_nodes' has "
                f"shape {tuple(time_var.shape)}, expected ({shape[0]},) (one time per line)")
        line_time = cf_time_to_posix(netcdf_values(path, time_var, "utc_line_nodes"),
                                     getattr(time_var, "units", None), path, "utc_line_nodes")
    time = np.repeat(line_time, shape[1])
    moisture = fields["soil_moisture"].ravel()
    lat, lon = fields["latitude"].ravel(), fields["longitude"].ravel()
    keep, dropped = drop_reasons(
        [(~np.isfinite(moisture), "soil_moisture is fill or outside its valid range"),
         (~np.isfinite(lat) | ~np.isfinite(lon), "latitude/longitude are fill"),
         (~np.isfinite(time), "utc_line_nodes is fill")], moisture.size)
    lon = (lon[keep] + 180.0) % 360.0 - 180.0
    lat = lat[keep]
    qc, flagged_by = _qc(processing.ravel()[keep],
                         {k: fields[k].ravel()[keep] for k in ADVISORY}, flag_table,
                         {**ASCAT_LIMITS, **options.ascat_limits})
    saturation = moisture[keep] / 100.0
    noise = fields["soil_moisture_error"].ravel()[keep] / 100.0
    attributes = {"source_product": PRODUCT, "ascat_units": options.ascat_units}
    porosity = np.ones(saturation.size)
    if options.ascat_units == "volumetric":
        require(options.porosity is not None, path, "--ascat-units volumetric needs "
                "--porosity (a value or a NetCDF map) to turn the degree of saturation into "
                "water content")
        porosity = porosity_at(options.porosity, lon, lat)
        attributes["ascat_porosity"] = str(options.porosity)
    good = np.isfinite(porosity)
    if not good.all():
        dropped["no porosity at the location"] += int((~good).sum())
    return ProductObservations(
        path, TYPE_NAME, ASCAT_UNITS[options.ascat_units], time_utc=time[keep][good],
        x=lon[good], y=lat[good], crs=LONLAT, value=(saturation * porosity)[good],
        error_std=with_error_fallback((noise * porosity)[good], options, path,
                                      "soil_moisture_error"),
        qc=qc[good], flagged_by=flagged_by[good], dropped=dropped, attributes=attributes)


def _read_2d(path: Path, ds: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    var = netcdf_variable(path, ds, name, PRODUCT)
    require(tuple(var.shape) == shape, path, f"variable {name!r} has shape "
            f"{tuple(var.shape)}, expected {shape} like soil_moisture")
    return netcdf_values(path, var, name)


def _flag_table(var: Any) -> tuple[tuple[int, str], ...]:
    """The processing flags' masks and meanings: the file's own CF ``flag_masks`` and
    ``flag_meanings`` where both are given and agree in number, else WMO's table."""
    masks = getattr(var, "flag_masks", None)
    meanings = getattr(var, "flag_meanings", None)
    if masks is None or not isinstance(meanings, str):
        return PROCESSING_FLAGS
    masks = np.atleast_1d(np.asarray(masks)).astype(np.int64).tolist()
    words = meanings.split()
    if len(words) != len(masks):
        return PROCESSING_FLAGS
    return tuple((int(m), w.replace("_", " ")) for m, w in zip(masks, words))


def _qc(processing: np.ndarray, advisory: Mapping[str, np.ndarray],
        table: tuple[tuple[int, str], ...], limits: Mapping[str, float]
        ) -> tuple[np.ndarray, np.ndarray]:
    """``qc`` and reason: processing flags first (a fill flag or any bit set rejects; named by
    the lowest documented bit), then the advisory flags above their limits."""
    flags = np.where(np.isfinite(processing), processing, 0).astype(np.int64)
    flagged_by = np.full(flags.shape, "", dtype=object)
    flagged_by[~np.isfinite(processing)] = "proc_flag1 is fill"
    for mask, meaning in table:
        hit = ((flags & mask) != 0) & (flagged_by == "")
        flagged_by[hit] = f"proc_flag1 {mask}: {meaning}"
    undocumented = (flags != 0) & (flagged_by == "")
    flagged_by[undocumented] = "proc_flag1: undocumented bit set"
    for name, key in ADVISORY.items():
        hit = (np.nan_to_num(advisory[name], nan=0.0) > limits[key]) & (flagged_by == "")
        flagged_by[hit] = f"{name} above {limits[key]:g}%"
    return (flagged_by != "").astype(np.int8), flagged_by


def porosity_at(source: float | Path | str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Porosity [m3 m-3] at points ``lon``, ``lat`` [degrees]: the value itself, or the nearest
    cell of a NetCDF map ``porosity(lat, lon)``; NaN where the map has none (fill, or a value
    outside (0, 1]).

    Raises
    ------
    InputFileError
        A map file that cannot be read or lacks ``porosity``, ``lat`` or ``lon``.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if not isinstance(source, (str, Path)):
        return np.full(lon.shape, float(source))
    path = Path(source)
    product = "porosity map (porosity(lat, lon), lat, lon)"
    with netcdf_dataset(path) as ds:
        var = netcdf_variable(path, ds, "porosity", product)
        grid_lat = netcdf_values(path, netcdf_variable(path, ds, "lat", product), "lat")
        grid_lon = netcdf_values(path, netcdf_variable(path, ds, "lon", product), "lon")
        require(tuple(var.shape) == (grid_lat.size, grid_lon.size), path,
                f"variable 'porosity' has shape {tuple(var.shape)}, expected "
                f"({grid_lat.size}, {grid_lon.size}) (lat, lon)")
        values = netcdf_values(path, var, "porosity")
    require(bool(np.all(np.isfinite(grid_lat)) and np.all(np.isfinite(grid_lon))), path,
            "variables 'lat', 'lon': coordinates must be finite")
    rows = _nearest(grid_lat, lat)
    cols = _nearest(grid_lon, lon)
    found = values[rows, cols]
    return np.where((found > 0) & (found <= 1), found, np.nan)


def _nearest(axis: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of a monotonic 1-D ``axis`` for each point."""
    if axis.size == 1:
        return np.zeros(points.shape, dtype=np.int64)
    ascending = axis[-1] > axis[0]
    ordered = axis if ascending else axis[::-1]
    right = np.clip(np.searchsorted(ordered, points), 1, ordered.size - 1)
    left = right - 1
    index = np.where(np.abs(points - ordered[left]) <= np.abs(ordered[right] - points),
                     left, right)
    return index if ascending else axis.size - 1 - index
