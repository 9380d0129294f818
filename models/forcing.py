"""Hourly meteorological forcing for the land model: a synthetic weather generator and a NetCDF
reader (CF standard names or CLM forcing names).

Both sources answer :meth:`at(t) <ForcingSource.at>` with a dict of ``(box.ny, box.nx)`` float64
arrays for the columns a rank owns, valid over the forcing interval that contains model time
``t`` [s] (hourly records, step-wise constant):

==================  ==================  =================================================
key                 units               CF standard_name / CLM name
==================  ==================  =================================================
precipitation       kg m-2 s-1 (mm/s)   precipitation_flux / PRECTmms
shortwave           W m-2               surface_downwelling_shortwave_flux_in_air / FSDS
longwave            W m-2               surface_downwelling_longwave_flux_in_air / FLDS
air_temperature     K                   air_temperature / TBOT
specific_humidity   kg kg-1             specific_humidity / QBOT
wind_speed          m s-1               wind_speed / WIND
surface_pressure    Pa                  surface_air_pressure / PSRF
==================  ==================  =================================================

The arrays do not depend on the rank layout: the generator draws its random numbers from
:mod:`pdafpy.random` keyed by (seed, day, global column index), and the reader reads the rank's
block of the file. Configure with :func:`forcing_from_config`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.random import standard_normal, uniform

from .land.evapotranspiration import (STEFAN_BOLTZMANN, atmospheric_pressure_kpa,
                                      saturation_vapour_pressure_kpa)
from .land.solar import clear_sky_radiation, extraterrestrial_radiation_wm2

__all__ = ["VARIABLES", "STANDARD_NAMES", "CLM_NAMES", "ForcingSource", "WeatherGenerator",
           "NetCDFForcing", "forcing_from_config", "specific_humidity_from_vapour_pressure"]

log = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 86400.0
VARIABLES = ("precipitation", "shortwave", "longwave", "air_temperature", "specific_humidity",
             "wind_speed", "surface_pressure")
STANDARD_NAMES = {
    "precipitation": "precipitation_flux",
    "shortwave": "surface_downwelling_shortwave_flux_in_air",
    "longwave": "surface_downwelling_longwave_flux_in_air",
    "air_temperature": "air_temperature",
    "specific_humidity": "specific_humidity",
    "wind_speed": "wind_speed",
    "surface_pressure": "surface_air_pressure",
}
CLM_NAMES = {"precipitation": "PRECTmms", "shortwave": "FSDS", "longwave": "FLDS",
             "air_temperature": "TBOT", "specific_humidity": "QBOT", "wind_speed": "WIND",
             "surface_pressure": "PSRF"}
#: Units the CLM forcing files use when a variable has no ``units`` attribute.
CLM_DEFAULT_UNITS = {"precipitation": "mm/s", "shortwave": "W/m2", "longwave": "W/m2",
                     "air_temperature": "K", "specific_humidity": "kg/kg", "wind_speed": "m/s",
                     "surface_pressure": "Pa"}


class ForcingSource(Protocol):
    """What the land model asks of a forcing source."""

    def at(self, t: float) -> dict[str, np.ndarray]:
        """Forcing valid at model time ``t`` [s], each ``(box.ny, box.nx)`` in SI units."""


def specific_humidity_from_vapour_pressure(ea_pa, pressure_pa):
    """Specific humidity [kg kg-1] from vapour pressure and air pressure [Pa]."""
    return 0.622 * ea_pa / (pressure_pa - 0.378 * ea_pa)


# ============================================================================ weather generator
@dataclass
class WeatherGenerator:
    """A seeded, reproducible hourly weather generator for a temperate climate.

    * Air temperature: ``mean - amplitude cos(2 pi (doy - 15) / 365.25)`` (coldest mid-January)
      plus a day-to-day AR(1) anomaly (lag-one correlation ``anomaly_corr``, standard deviation
      ``anomaly_sd``) plus a diurnal cycle ``diurnal_amplitude cos(2 pi (hour - 15) / 24)``.
    * Precipitation: each day is wet with probability ``wet_day_probability``; a wet day's amount
      is exponential with mean ``annual_precipitation / (365.25 p_wet)`` and falls at a constant
      rate in one event of 1-8 h starting at a random hour (wrapped within the day). An optional
      log-normal multiplier per column and day (``precipitation_spatial_sd``) makes it gridded.
    * Shortwave: clear-sky radiation from solar geometry (FAO-56 Eqs. 28-37, local mean solar
      time, latitude ``latitude_deg``, elevation ``elevation_m``) times a cloud factor: 0.6-0.95
      on dry days, 0.2-0.45 on wet days (uniform per day).
    * Humidity: dew point 2 K below the day's minimum temperature on dry days (FAO-56 Annex 6),
      relative humidity 90 % on wet days; never supersaturated.
    * Longwave: Brutsaert (1975) clear-sky emissivity with the cloud correction of Crawford &
      Duchon (1999), cloud fraction ``1 - cloud factor``.
    * Wind (at the land's measurement height, ``[land] wind_height_m``): ``wind_mean`` times a
      daily log-normal factor (sd 0.3) and a diurnal factor ``1 + 0.3 cos(2 pi (hour - 14) / 24)``.
    * Pressure: FAO-56 Eq. 7 at ``elevation_m``.

    Model time ``t = 0`` is 00:00 local solar time of ``start_day_of_year``. Every random number
    comes from :func:`pdafpy.random.uniform` / :func:`~pdafpy.random.standard_normal` keyed by
    ``(seed, purpose, day, member, index)``; ``member`` allows per-member weather.

    Parameters
    ----------
    box : Box
        The columns to produce arrays for.
    nx : int
        Global number of grid columns (to number columns globally).
    """

    box: Box
    nx: int
    seed: int = 1
    member: int = 0
    latitude_deg: float = 50.8
    elevation_m: float = 100.0
    start_day_of_year: int = 1
    mean_temperature_c: float = 10.0
    annual_amplitude_k: float = 8.0
    diurnal_amplitude_k: float = 5.0
    anomaly_sd_k: float = 2.0
    anomaly_corr: float = 0.7
    annual_precipitation_m: float = 0.8
    wet_day_probability: float = 0.5
    precipitation_spatial_sd: float = 0.0
    wind_mean: float = 3.5

    _AR_TERMS = 25

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ConfigError(f"forcing: latitude_deg must be in [-90, 90], got "
                              f"{self.latitude_deg!r}")
        if not 0.0 < self.wet_day_probability <= 1.0:
            raise ConfigError(f"forcing: wet_day_probability must be in (0, 1], got "
                              f"{self.wet_day_probability!r}")
        if self.annual_precipitation_m < 0:
            raise ConfigError(f"forcing: annual_precipitation_m must be >= 0, got "
                              f"{self.annual_precipitation_m!r}")
        if not 0.0 <= self.anomaly_corr < 1.0:
            raise ConfigError(f"forcing: anomaly_corr must be in [0, 1), got {self.anomaly_corr!r}")
        b = self.box
        yy, xx = np.meshgrid(np.arange(b.y0, b.y1), np.arange(b.x0, b.x1), indexing="ij")
        self._columns = (yy * self.nx + xx).astype(np.int64)
        self._pressure = float(atmospheric_pressure_kpa(self.elevation_m)) * 1e3
        self._day_cache: dict[int, dict[str, Any]] = {}

    # random numbers of one day: one Philox block per (purpose, day)
    def _u(self, purpose: str, day: int, index=0):
        return uniform(self.seed, "weather." + purpose, day, self.member, index)

    def _day(self, day: int) -> dict[str, Any]:
        if day in self._day_cache:
            return self._day_cache[day]
        if day < 0:
            raise ConfigError(f"forcing: the weather generator starts at t = 0, asked for day "
                              f"{day}")
        wet = bool(self._u("wet", day) < self.wet_day_probability)
        mean_amount = self.annual_precipitation_m * 1e3 / (365.25 * self.wet_day_probability)
        amount = -mean_amount * math.log1p(-float(self._u("amount", day))) if wet else 0.0
        start = int(self._u("start", day) * 24)
        duration = 1 + int(self._u("duration", day) * 8)
        # AR(1) anomaly as a truncated moving average of the daily innovations (no carried state)
        k = np.arange(self._AR_TERMS)
        days = day - k
        eps = np.array([float(standard_normal(self.seed, "weather.temperature", int(d),
                                              self.member, 0)) if d >= 0 else 0.0
                        for d in days])
        phi = self.anomaly_corr
        anomaly = self.anomaly_sd_k * math.sqrt(1 - phi * phi) * float(np.sum(phi ** k * eps))
        u_cloud = float(self._u("cloud", day))
        cloud_factor = 0.2 + 0.25 * u_cloud if wet else 0.6 + 0.35 * u_cloud
        wind_factor = math.exp(0.3 * float(standard_normal(self.seed, "weather.wind", day,
                                                           self.member, 0)) - 0.045)
        spatial = np.ones(self._columns.shape)
        if wet and self.precipitation_spatial_sd > 0:
            s = self.precipitation_spatial_sd
            spatial = np.exp(s * standard_normal(self.seed, "weather.precip_field", day,
                                                 self.member, self._columns) - 0.5 * s * s)
        rec = {"wet": wet, "amount": amount, "start": start, "duration": duration,
               "anomaly": anomaly, "cloud_factor": cloud_factor, "wind_factor": wind_factor,
               "spatial": spatial}
        if len(self._day_cache) > 64:
            self._day_cache.clear()
        self._day_cache[day] = rec
        return rec

    def temperature_c(self, t: float) -> float:
        """Air temperature [degC] at the middle of the hour containing ``t`` (spatially uniform)."""
        hour_index = math.floor(t / HOUR)
        day = hour_index // 24
        hour = hour_index % 24 + 0.5
        doy = self.start_day_of_year + day + hour / 24.0
        seasonal = self.mean_temperature_c - self.annual_amplitude_k * math.cos(
            2 * math.pi * (doy - 15.0) / 365.25)
        return (seasonal + self._day(day)["anomaly"]
                + self.diurnal_amplitude_k * math.cos(2 * math.pi * (hour - 15.0) / 24.0))

    def at(self, t: float) -> dict[str, np.ndarray]:
        """Forcing for the hour containing model time ``t`` [s], ``(box.ny, box.nx)`` arrays."""
        hour_index = math.floor(t / HOUR)
        day = hour_index // 24
        hour = hour_index % 24
        rec = self._day(day)
        doy_int = (self.start_day_of_year - 1 + day) % 365 + 1
        t_c = self.temperature_c(t)
        seasonal_min = (self.mean_temperature_c - self.annual_amplitude_k * math.cos(
            2 * math.pi * (self.start_day_of_year + day + 0.5 - 15.0) / 365.25)
            + rec["anomaly"] - self.diurnal_amplitude_k)
        es = float(saturation_vapour_pressure_kpa(t_c))
        if rec["wet"]:
            ea = 0.9 * es
        else:
            ea = min(float(saturation_vapour_pressure_kpa(seasonal_min - 2.0)), es)
        ea_pa = ea * 1e3
        p = self._pressure
        # rain: one event per wet day
        in_event = rec["wet"] and (hour - rec["start"]) % 24 < rec["duration"]
        rate = rec["amount"] / (rec["duration"] * HOUR) if in_event else 0.0
        lat = math.radians(self.latitude_deg)
        ra = float(extraterrestrial_radiation_wm2(lat, doy_int, hour + 0.5, 1.0))
        sw = float(clear_sky_radiation(ra, self.elevation_m)) * rec["cloud_factor"]
        t_k = t_c + 273.15
        eps_clear = 1.24 * (ea_pa / 100.0 / t_k) ** (1.0 / 7.0)
        cloud = min(max(1.0 - rec["cloud_factor"], 0.0), 1.0)
        lw = (eps_clear * (1.0 - cloud) + cloud) * STEFAN_BOLTZMANN * t_k ** 4
        wind = self.wind_mean * rec["wind_factor"] * (
            1.0 + 0.3 * math.cos(2 * math.pi * (hour + 0.5 - 14.0) / 24.0))
        shape = self._columns.shape
        return {
            "precipitation": rate * rec["spatial"] if rate > 0 else np.zeros(shape),
            "shortwave": np.full(shape, sw),
            "longwave": np.full(shape, lw),
            "air_temperature": np.full(shape, t_k),
            "specific_humidity": np.full(shape, float(
                specific_humidity_from_vapour_pressure(ea_pa, p))),
            "wind_speed": np.full(shape, wind),
            "surface_pressure": np.full(shape, p),
        }


# ============================================================================ NetCDF reader
def _norm_units(u: str) -> str:
    s = u.strip().lower().replace("**", "").replace("^", "").replace(" ", "").replace(".", "")
    return s


# unit string (normalised) -> (scale, offset): SI = value * scale + offset
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "precipitation": {u: (1.0, 0.0) for u in ("kgm-2s-1", "kg/m2/s", "kg/m2s", "mm/s", "mms-1",
                                             "kgm-2/s")}
    | {u: (1.0 / HOUR, 0.0) for u in ("mm/h", "mmh-1", "mm/hr", "kgm-2h-1")}
    | {u: (1.0 / DAY, 0.0) for u in ("mm/d", "mm/day", "mmd-1", "mmday-1", "kgm-2d-1")}
    | {u: (1e3, 0.0) for u in ("m/s", "ms-1")},
    "shortwave": {u: (1.0, 0.0) for u in ("wm-2", "w/m2", "wm2", "w/m^2")},
    "air_temperature": {"k": (1.0, 0.0), "kelvin": (1.0, 0.0), "degc": (1.0, 273.15),
                        "c": (1.0, 273.15), "celsius": (1.0, 273.15),
                        "degreesc": (1.0, 273.15), "degree_celsius": (1.0, 273.15),
                        "degrees_celsius": (1.0, 273.15)},
    "specific_humidity": {u: (1.0, 0.0) for u in ("kgkg-1", "kg/kg", "1", "")}
    | {u: (1e-3, 0.0) for u in ("gkg-1", "g/kg")},
    "wind_speed": {u: (1.0, 0.0) for u in ("ms-1", "m/s")},
    "surface_pressure": {"pa": (1.0, 0.0), "hpa": (100.0, 0.0), "mbar": (100.0, 0.0),
                         "kpa": (1e3, 0.0)},
}
_UNITS["longwave"] = _UNITS["shortwave"]
_TIME_UNITS = {"second": 1.0, "seconds": 1.0, "s": 1.0, "sec": 1.0, "minute": 60.0,
               "minutes": 60.0, "min": 60.0, "hour": HOUR, "hours": HOUR, "h": HOUR,
               "day": DAY, "days": DAY, "d": DAY}


def _parse_time_units(units: str, path: str) -> tuple[float, _dt.datetime]:
    m = re.match(r"\s*(\w+)\s+since\s+(.+?)\s*$", units or "")
    if not m or m.group(1).lower() not in _TIME_UNITS:
        raise InputFileError(f"forcing file {path}: variable 'time' has units {units!r}; "
                             "expected '<seconds|minutes|hours|days> since <date>'")
    ref = m.group(2).replace("T", " ").replace("Z", "").strip()
    ref = re.sub(r"\s*(UTC|utc)$", "", ref)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d",
                "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return _TIME_UNITS[m.group(1).lower()], _dt.datetime.strptime(ref, fmt)
        except ValueError:
            continue
    raise InputFileError(f"forcing file {path}: cannot read the reference date of the time "
                         f"units {units!r}")


class NetCDFForcing:
    """Forcing read from a CF-convention NetCDF file (one file, all variables, hourly or other
    regular records).

    Variables are found by their ``standard_name`` (see :data:`STANDARD_NAMES`) or, failing that,
    by the CLM forcing names (:data:`CLM_NAMES`), and converted to SI units from their ``units``
    attribute (CLM-named variables without one are taken in CLM's units). A variable is either
    spatially uniform (dimensions ``(time,)`` or ``(time, 1, 1)``) or gridded ``(time, ny, nx)``
    on the model grid. Record ``i`` is valid over ``[t_i, t_i + step)``.

    Model time 0 is ``start`` (a :class:`datetime.datetime` or ISO string) or, by default, the
    time of the file's first record.

    Data are read in blocks of ``block_records`` records for the rank's columns only; each block is
    checked for NaNs and missing values. With ``comm`` given, a bad block raises on every rank of
    ``comm`` (the message of the lowest rank that found one), so no rank is left waiting.

    Raises
    ------
    InputFileError
        Naming the file, the variable and the time: a missing file or variable, unknown units,
        irregular or decreasing times (gaps), a grid of the wrong shape, NaNs or missing values,
        or a model time outside the file.
    """

    def __init__(self, path: str | Path, box: Box, ny: int, nx: int, start: Any = None,
                 comm: Any = None, block_records: int = 168) -> None:
        import netCDF4

        self.path = str(path)
        self.box = box
        self.ny, self.nx = int(ny), int(nx)
        self.comm = comm
        self.block_records = int(block_records)
        if not Path(self.path).is_file():
            raise InputFileError(f"forcing file {self.path}: no such file")
        try:
            self._ds = netCDF4.Dataset(self.path, "r")
        except OSError as exc:
            raise InputFileError(f"forcing file {self.path}: cannot be opened as NetCDF "
                                 f"({exc})") from None
        self._ds.set_auto_mask(True)
        self._find_time(start)
        self._vars: dict[str, tuple[Any, float, float, bool]] = {}
        for key in VARIABLES:
            self._vars[key] = self._find_variable(key)
        self._block: tuple[int, int] | None = None
        self._data: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- metadata
    def _find_time(self, start: Any) -> None:
        ds = self._ds
        tvar = None
        for v in ds.variables.values():
            if getattr(v, "standard_name", None) == "time" or v.name == "time":
                tvar = v
                break
        if tvar is None:
            raise InputFileError(f"forcing file {self.path}: no time variable (standard_name "
                                 "'time' or a variable named 'time')")
        scale, ref = _parse_time_units(getattr(tvar, "units", ""), self.path)
        raw = np.ma.filled(np.asarray(tvar[:], dtype=float), np.nan)
        if raw.ndim != 1 or raw.size < 1:
            raise InputFileError(f"forcing file {self.path}: variable 'time' must be 1D and "
                                 "non-empty")
        if not np.all(np.isfinite(raw)):
            i = int(np.argmax(~np.isfinite(raw)))
            raise InputFileError(f"forcing file {self.path}: variable 'time' has a missing value "
                                 f"at record {i}")
        secs = raw * scale
        self.tdim = tvar.dimensions[0]
        self.times = [ref + _dt.timedelta(seconds=float(s)) for s in secs]
        if secs.size >= 2:
            steps = np.diff(secs)
            step = float(steps[0])
            bad = np.flatnonzero(np.abs(steps - step) > 1e-6 * max(abs(step), 1.0))
            if step <= 0:
                raise InputFileError(f"forcing file {self.path}: variable 'time' is not "
                                     f"increasing at {self.times[1]:%Y-%m-%d %H:%M:%S}")
            if bad.size:
                i = int(bad[0])
                raise InputFileError(
                    f"forcing file {self.path}: variable 'time' has a gap or irregular step "
                    f"between {self.times[i]:%Y-%m-%d %H:%M:%S} and "
                    f"{self.times[i + 1]:%Y-%m-%d %H:%M:%S} ({steps[i]:.0f} s instead of "
                    f"{step:.0f} s)")
        else:
            step = HOUR
        self.step = step
        if start is None:
            start_dt = self.times[0]
        elif isinstance(start, _dt.datetime):
            start_dt = start
        else:
            try:
                start_dt = _dt.datetime.fromisoformat(str(start))
            except ValueError:
                raise ConfigError(f"forcing: start must be an ISO date-time, got {start!r}") \
                    from None
        self.start = start_dt
        self._offset = (self.times[0] - start_dt).total_seconds()   # model time of record 0
        self.n_records = secs.size

    def _find_variable(self, key: str):
        ds = self._ds
        std = STANDARD_NAMES[key]
        var = next((v for v in ds.variables.values()
                    if getattr(v, "standard_name", None) == std), None)
        clm = False
        if var is None and CLM_NAMES[key] in ds.variables:
            var = ds.variables[CLM_NAMES[key]]
            clm = True
        if var is None:
            raise InputFileError(
                f"forcing file {self.path}: missing variable for {key}: expected a variable "
                f"with standard_name {std!r} or named {CLM_NAMES[key]!r}")
        units = getattr(var, "units", None)
        if units is None:
            if not clm:
                raise InputFileError(f"forcing file {self.path}: variable {var.name!r} has no "
                                     f"units attribute")
            units = CLM_DEFAULT_UNITS[key]
        conv = _UNITS[key].get(_norm_units(units))
        if conv is None:
            raise InputFileError(
                f"forcing file {self.path}: variable {var.name!r} ({key}) has unknown units "
                f"{units!r}; accepted: {sorted(set(_UNITS[key]))}")
        dims = var.dimensions
        if not dims or dims[0] != self.tdim:
            raise InputFileError(f"forcing file {self.path}: variable {var.name!r} must have "
                                 f"time ({self.tdim!r}) as its first dimension, has {dims}")
        shape = var.shape[1:]
        if len(shape) == 0 or all(s == 1 for s in shape):
            uniform_ = True
        elif len(shape) == 2 and tuple(shape) == (self.ny, self.nx):
            uniform_ = False
        else:
            raise InputFileError(
                f"forcing file {self.path}: variable {var.name!r} has shape {var.shape}; "
                f"expected (time,), (time, 1, 1) or (time, {self.ny}, {self.nx}) for the model "
                f"grid")
        return var, conv[0], conv[1], uniform_

    @property
    def sources(self) -> dict[str, tuple[Any, float, float, bool]]:
        """Per forcing variable (:data:`VARIABLES`): the NetCDF variable, the ``scale`` and
        ``offset`` to SI units (``SI = value * scale + offset``) and whether it is uniform."""
        return dict(self._vars)

    # ---------------------------------------------------------------- data
    def _time_str(self, record: int) -> str:
        return f"{self.times[record]:%Y-%m-%d %H:%M:%S}"

    def _load(self, i0: int) -> None:
        i1 = min(i0 + self.block_records, self.n_records)
        b = self.box
        data, err = {}, None
        for key, (var, scale, offset, uni) in self._vars.items():
            if uni:
                raw = var[i0:i1]
                arr = np.ma.filled(np.ma.asarray(raw, dtype=float), np.nan).reshape(i1 - i0)
                arr = np.broadcast_to(arr[:, None, None], (i1 - i0, b.ny, b.nx))
            else:
                raw = var[i0:i1, b.y0:b.y1, b.x0:b.x1]
                arr = np.ma.filled(np.ma.asarray(raw, dtype=float), np.nan)
            if err is None and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                err = (f"forcing file {self.path}: variable {var.name!r} ({key}) has a NaN or "
                       f"missing value at time {self._time_str(i0 + int(bad[0]))}"
                       + (f", grid cell (y={int(bad[1]) + b.y0}, x={int(bad[2]) + b.x0})"
                          if not uni else ""))
            data[key] = arr * scale + offset
        if self.comm is not None and self.comm.Get_size() > 1:
            errs = self.comm.allgather(err)
            err = next((e for e in errs if e is not None), None)
        if err is not None:
            raise InputFileError(err)
        self._data = data
        self._block = (i0, i1)

    def record_index(self, t: float) -> int:
        """The record valid at model time ``t`` [s]."""
        i = math.floor((t - self._offset) / self.step + 1e-9)
        if i < 0 or i >= self.n_records:
            when = self.start + _dt.timedelta(seconds=float(t))
            raise InputFileError(
                f"forcing file {self.path}: no record for model time t={t:.0f} s "
                f"({when:%Y-%m-%d %H:%M:%S}); the file covers {self._time_str(0)} to "
                f"{self._time_str(self.n_records - 1)} + {self.step:.0f} s")
        return i

    def at(self, t: float) -> dict[str, np.ndarray]:
        """Forcing valid at model time ``t`` [s], ``(box.ny, box.nx)`` arrays in SI units."""
        i = self.record_index(t)
        if self._block is None or not self._block[0] <= i < self._block[1]:
            self._load(i)
        j = i - self._block[0]
        return {k: np.array(v[j], dtype=float) for k, v in self._data.items()}

    def close(self) -> None:
        self._ds.close()


# ============================================================================ configuration
_GENERATOR_KEYS = {"seed", "latitude_deg", "elevation_m", "start_day_of_year",
                   "mean_temperature_c", "annual_amplitude_k", "diurnal_amplitude_k",
                   "anomaly_sd_k", "anomaly_corr", "annual_precipitation_m",
                   "wet_day_probability", "precipitation_spatial_sd", "wind_mean"}


def forcing_from_config(config: Mapping[str, Any], box: Box, ny: int, nx: int,
                        comm: Any = None, member: int = 0) -> ForcingSource:
    """A forcing source from a ``[forcing]`` table.

    ``type = "synthetic"`` (default) takes the :class:`WeatherGenerator` fields as keys;
    ``type = "netcdf"`` takes ``path`` and optionally ``start`` (ISO date-time of model time 0).

    Raises
    ------
    ConfigError
        For an unknown type or key.
    """
    cfg = dict(config or {})
    kind = cfg.pop("type", "synthetic")
    if kind == "synthetic":
        bad = set(cfg) - _GENERATOR_KEYS
        if bad:
            raise ConfigError(f"forcing: unknown keys {sorted(bad)} for type 'synthetic'; "
                              f"known: {sorted(_GENERATOR_KEYS)}")
        return WeatherGenerator(box, nx, member=member, **cfg)
    if kind == "netcdf":
        if "path" not in cfg:
            raise ConfigError("forcing: type 'netcdf' needs the key 'path'")
        bad = set(cfg) - {"path", "start", "block_records"}
        if bad:
            raise ConfigError(f"forcing: unknown keys {sorted(bad)} for type 'netcdf'")
        return NetCDFForcing(cfg["path"], box, ny, nx, cfg.get("start"), comm,
                             int(cfg.get("block_records", 168)))
    raise ConfigError(f"forcing: type must be 'synthetic' or 'netcdf', got {kind!r}")


def write_netcdf(path: str | Path, source: ForcingSource | Callable[[float], Mapping],
                 hours: int, ny: int, nx: int, names: str = "cf",
                 start: str = "2018-01-01 00:00:00", gridded: bool = True) -> None:
    """Write ``hours`` hourly records of a forcing source covering the whole grid to a NetCDF
    file (tests, examples). ``names = "cf"`` writes standard names and SI units;
    ``"clm"`` writes CLM names (PRECTmms, ...) with CLM's units."""
    import netCDF4

    with netCDF4.Dataset(str(path), "w") as ds:
        ds.Conventions = "CF-1.8"
        ds.createDimension("time", None)
        dims: tuple[str, ...] = ("time",)
        if gridded:
            ds.createDimension("y", ny)
            ds.createDimension("x", nx)
            dims = ("time", "y", "x")
        tv = ds.createVariable("time", "f8", ("time",))
        tv.units = f"hours since {start}"
        tv.standard_name = "time"
        tv[:] = np.arange(hours, dtype=float)
        at = source.at if hasattr(source, "at") else source
        recs = [at(h * HOUR) for h in range(hours)]
        for key in VARIABLES:
            name = CLM_NAMES[key] if names == "clm" else key
            v = ds.createVariable(name, "f8", dims)
            if names == "cf":
                v.standard_name = STANDARD_NAMES[key]
            v.units = {"precipitation": "kg m-2 s-1", "shortwave": "W m-2",
                       "longwave": "W m-2", "air_temperature": "K",
                       "specific_humidity": "kg kg-1", "wind_speed": "m s-1",
                       "surface_pressure": "Pa"}[key] if names == "cf" else \
                CLM_DEFAULT_UNITS[key]
            data = np.stack([np.broadcast_to(r[key], (ny, nx)) for r in recs])
            v[:] = data if gridded else data[:, 0, 0]
