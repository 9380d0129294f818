"""Checks of a NetCDF forcing file before any model work: it opens, its time axis covers the
run, and every variable is physically plausible in SI units.

The file is opened by the reader itself (:class:`models.forcing.NetCDFForcing` over the whole
grid), so everything the reader refuses (a missing file or variable, unknown units, an irregular
time axis, a grid of the wrong shape) is refused here in the same words. Then:

- **coverage**: the records must cover model time 0 (``[forcing] start``, or the file's first
  record) to the end of the run, ``[schedule] length_days`` later; record ``i`` is valid over
  ``[t_i, t_i + step)``;
- **plausibility**: each variable, converted to SI units as the model reads it, must lie in
  :data:`PLAUSIBLE` (wide bounds of what the Earth's surface sees, so that a unit error such as
  degrees Celsius labelled K, hourly totals labelled per second or hPa labelled Pa is caught);
  NaNs and missing values are refused too.

What is read: a uniform ``(time,)`` variable is read whole, a gridded ``(time, ny, nx)`` one in
blocks of ``block_records`` records; when it holds more than :data:`MAX_VALUES` values per
variable, every ``s``-th row and column of every record is read (``s`` the smallest stride that
keeps it within :data:`MAX_VALUES`), so that every time is seen but a value confined to the cells
between the sampled ones may be missed (the reader checks every value it reads for NaNs during the
run).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdafpy.decomposition import Box
from pdafpy.errors import InputFileError, PdafpyError

from .forcing import NetCDFForcing

__all__ = ["PLAUSIBLE", "MAX_VALUES", "check_forcing_file", "check_coverage",
           "check_plausible", "sampling_stride"]

#: Plausible range of each forcing variable in SI units: (low, high, unit, a likely mistake).
PLAUSIBLE: dict[str, tuple[float, float, str, str]] = {
    # record lows and highs at the surface: -89.2 degC (183.9 K), 56.7 degC (329.8 K)
    "air_temperature": (180.0, 340.0, "K", "degrees Celsius labelled K?"),
    # above the solar constant's 1361 W m-2 only by cloud enhancement, briefly
    "shortwave": (0.0, 1400.0, "W m-2", "an accumulation over the step labelled W m-2?"),
    "longwave": (40.0, 600.0, "W m-2", "an accumulation over the step labelled W m-2?"),
    # 0.15 kg m-2 s-1 = 540 mm h-1, above the largest one-hour totals recorded
    "precipitation": (0.0, 0.15, "kg m-2 s-1", "mm per hour or day labelled per second?"),
    # saturation at 35 degC dew point is about 0.037 kg kg-1
    "specific_humidity": (0.0, 0.05, "kg kg-1", "g kg-1 labelled kg kg-1?"),
    "wind_speed": (0.0, 75.0, "m s-1", "km h-1 labelled m s-1?"),
    # about 9 km up to a deep depression below sea level
    "surface_pressure": (30000.0, 110000.0, "Pa", "hPa or kPa labelled Pa?"),
}
#: Values read per variable at most (2**22: 32 MiB of float64).
MAX_VALUES = 2 ** 22


def _when(t: _dt.datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


def check_coverage(reader: NetCDFForcing, length_s: float) -> None:
    """The file's records must cover model time ``[0, length_s)`` [s].

    Raises
    ------
    InputFileError
        Naming the file, what it covers and what the run needs.
    """
    first = reader.times[0]
    end = reader.times[-1] + _dt.timedelta(seconds=reader.step)
    need_end = reader.start + _dt.timedelta(seconds=float(length_s))
    covers = f"the file covers {_when(first)} to {_when(end)} ({reader.n_records} records of " \
             f"{reader.step:g} s)"
    if first > reader.start:
        raise InputFileError(f"forcing file {reader.path}: starts after model time 0 "
                             f"({_when(reader.start)}, [forcing] start): {covers}")
    if end < need_end - _dt.timedelta(seconds=1e-3):
        raise InputFileError(f"forcing file {reader.path}: too short for the run: it needs "
                             f"{_when(reader.start)} to {_when(need_end)} (schedule.length_days "
                             f"= {length_s / 86400.0:g}), {covers}")


def sampling_stride(n_records: int, ny: int, nx: int, limit: int = MAX_VALUES) -> int:
    """The smallest stride ``s`` over rows and columns that reads at most ``limit`` values of a
    ``(n_records, ny, nx)`` variable (1: all of it)."""
    s = 1
    while n_records * math.ceil(ny / s) * math.ceil(nx / s) > limit and (s < ny or s < nx):
        s += 1
    return s


def _scan(var: Any, uniform: bool, n_records: int, block: int, stride: int):
    """Yield ``(first record, values)`` blocks of ``var`` (masked values as NaN)."""
    for i0 in range(0, n_records, block):
        i1 = min(i0 + block, n_records)
        raw = var[i0:i1] if uniform else var[i0:i1, ::stride, ::stride]
        yield i0, np.ma.filled(np.ma.asarray(raw, dtype=float), np.nan).reshape(i1 - i0, -1)


def check_plausible(reader: NetCDFForcing, block_records: int = 168,
                    limit: int = MAX_VALUES) -> None:
    """Every variable of the file, in SI units, must be finite and within :data:`PLAUSIBLE`.

    Raises
    ------
    InputFileError
        Naming the file, the variable, the value range found, where, and the range expected.
    """
    for key, (var, scale, offset, uniform) in reader.sources.items():
        lo, hi, unit, hint = PLAUSIBLE[key]
        stride = 1 if uniform else sampling_stride(reader.n_records, reader.ny, reader.nx, limit)
        found_lo, found_hi, at_lo, at_hi = math.inf, -math.inf, 0, 0
        for i0, raw in _scan(var, uniform, reader.n_records, block_records, stride):
            values = raw * scale + offset
            bad = ~np.isfinite(values)
            if bad.any():
                rec = i0 + int(np.argwhere(bad)[0][0])
                raise InputFileError(f"forcing file {reader.path}: variable {var.name!r} ({key}) "
                                     f"has a NaN or missing value at time "
                                     f"{_when(reader.times[rec])}")
            per_record_lo, per_record_hi = values.min(axis=1), values.max(axis=1)
            k_lo, k_hi = int(per_record_lo.argmin()), int(per_record_hi.argmax())
            if per_record_lo[k_lo] < found_lo:
                found_lo, at_lo = float(per_record_lo[k_lo]), i0 + k_lo
            if per_record_hi[k_hi] > found_hi:
                found_hi, at_hi = float(per_record_hi[k_hi]), i0 + k_hi
        if found_lo < lo or found_hi > hi:
            which, at = ("lowest", at_lo) if found_lo < lo else ("highest", at_hi)
            units = getattr(var, "units", None)
            raise InputFileError(
                f"forcing file {reader.path}: variable {var.name!r} ({key}, units "
                f"{units!r}) ranges {found_lo:.4g} to {found_hi:.4g} {unit} in SI units (the "
                f"{which} at {_when(reader.times[at])}), expected within [{lo:g}, {hi:g}] "
                f"{unit}: {hint}")


def check_forcing_file(forcing: Mapping[str, Any], ny: int, nx: int,
                       length_s: float) -> _dt.datetime | None:
    """Check the ``[forcing]`` table's NetCDF file for a run of ``length_s`` seconds on an
    ``ny x nx`` grid (nothing to check for the synthetic generator).

    Returns
    -------
    datetime or None
        The date and time of model time 0 in the file (``[forcing] start`` or its first
        record); None for the synthetic generator.

    Raises
    ------
    InputFileError, ConfigError
        On the first problem, naming the file, the variable and what was expected.
    """
    if forcing.get("type", "synthetic") != "netcdf":
        return None
    path = str(forcing["path"])
    if not Path(path).is_file():
        where = "" if Path(path).is_absolute() else f" (relative to the working folder " \
                                                     f"{os.getcwd()})"
        raise InputFileError(f"forcing file {path}: no such file{where}; [forcing] path names "
                             "the NetCDF forcing")
    block = int(forcing.get("block_records", 168))
    try:
        reader = NetCDFForcing(path, Box(0, ny, 0, nx), ny, nx, forcing.get("start"),
                               block_records=block)
        try:
            check_coverage(reader, length_s)
            check_plausible(reader, block)
        finally:
            reader.close()
    except PdafpyError:
        raise
    except Exception as exc:           # what netCDF4 or numpy raise on a malformed file
        raise InputFileError(f"forcing file {path}: cannot be read ({type(exc).__name__}: "
                             f"{exc})") from exc
    return reader.start
