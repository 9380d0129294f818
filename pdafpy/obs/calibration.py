"""Bias calibrations: built from an open loop's diagnostics, saved, loaded and applied.

``pdafpy calibrate bias DIAGNOSTICS... --type NAME --out FILE`` (:func:`main`) reads the
observation-space diagnostics of an open-loop run (``mode = "free"`` with observation files:
each observation's ``value`` and ``forecast_mean``, the operator on the open loop's ensemble
mean), keeps the good (``qc`` 0) observations of one type (and one sensor, ``--sensor NAME``,
where two tables of the type labelled their records with their names) in the training period,
and estimates
per location (each distinct ``(x, y)``) and period bin the statistics of
:mod:`pdafpy.obs.bias`. They are written to one calibration file, which serves every method
(``cdf_matching``, ``anomaly``, ``seasonal_rescaling``, error rescaling):

===========================================  ==================================================
variable                                     meaning
===========================================  ==================================================
x(location), y(location)                     the calibrated locations [grid coordinates, m]
probability(quantile)                        the quantiles' probabilities, 0 ... 1
obs_quantile, model_quantile                 quantiles of the observations and of their model
(location, bin, quantile)                    equivalents [the type's units]
obs_mean, model_mean, obs_sd, model_sd       means and standard deviations [the type's units]
(location, bin)
samples(location, bin)                       paired samples in the bin (its window)
whole_record_samples(location)               paired samples of the location over the record
status(location, bin)                        0 the bin's own statistics, 1 the location's
                                             whole record (fallback), 2 uncalibrated (NaN)
===========================================  ==================================================

Global attributes: ``type``, ``units``, ``bins`` (month, window, year), ``window_days``,
``min_samples``, ``tolerance_m``, ``train_start``, ``train_end``, ``source_files``, ``methods``
(those it serves), and ``sensor`` (the sensor label calibrated) where the samples had one; a
named table refuses another sensor's calibration (:func:`check_calibration_file`).

At run time (:class:`BiasCorrection`, :func:`correct_for_section`) each observation takes the
calibrated location nearest to it when within ``tolerance_m`` (a KD-tree), and the bin of its
time (the run's start plus ``time``, UTC); one without either is flagged rejected.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, MutableMapping, Sequence

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError, InputFileError, PdafpyError
from ..experiment_config import OBSERVATION_GROUP, ObservationSection
from ..registry import load_registered
from ..segments import write_failure
from .bias import (BIN_KINDS, DEFAULT_MIN_SAMPLES, DEFAULT_QUANTILES, DEFAULT_WINDOW_DAYS,
                   METHODS, N_BINS, REJECTED_BY, STATUS_MEANINGS, STATUS_OWN_BIN,
                   STATUS_UNCALIBRATED, STATUS_WHOLE_RECORD, BinStatistics, bin_index,
                   dates_after, estimate)
from .files import _normal_units
from .records import QC_GOOD, ObservationRecords
from .training_data import TrainingData, read_training_data

__all__ = ["BiasCorrection", "check_calibration_file",
           "correct_for_section", "main"]

log = logging.getLogger(__name__)

TITLE = "pdafpy bias calibration"
#: The calibration file's variables: dimensions and description.
_VARIABLES = {
    "x": (("location",), "location x in the model grid's coordinates"),
    "y": (("location",), "location y in the model grid's coordinates"),
    "probability": (("quantile",), "probability of each quantile"),
    "obs_quantile": (("location", "bin", "quantile"), "quantile of the observations"),
    "model_quantile": (("location", "bin", "quantile"),
                       "quantile of the observations' model equivalents"),
    "obs_mean": (("location", "bin"), "mean of the observations"),
    "model_mean": (("location", "bin"), "mean of the model equivalents"),
    "obs_sd": (("location", "bin"), "standard deviation of the observations"),
    "model_sd": (("location", "bin"), "standard deviation of the model equivalents"),
    "samples": (("location", "bin"), "paired samples in the bin (its window)"),
    "whole_record_samples": (("location",), "paired samples of the location over the record"),
    "status": (("location", "bin"), "where the bin's statistics come from"),
}
_IN_TYPE_UNITS = ("obs_quantile", "model_quantile", "obs_mean", "model_mean", "obs_sd",
                  "model_sd")


def _default_tolerance(coords: np.ndarray) -> float:
    """Half the smallest distance between two locations (0 for a single one)."""
    from scipy.spatial import cKDTree

    if len(coords) < 2:
        return 0.0
    distance, _ = cKDTree(coords).query(coords, k=2)
    return 0.5 * float(distance[:, 1].min())


class BiasCorrection:
    """A bias calibration of one observation type (see the module notes).

    Parameters
    ----------
    x, y : (L,) float ndarray
        The calibrated locations [grid coordinates, m].
    statistics : BinStatistics
        Their statistics per period bin.
    type_name, units : str
        The observation type and its units.
    bins : str
        One of :data:`~pdafpy.obs.bias.BIN_KINDS`.
    window_days : int
        ``"window"`` bins: the half-width of their windows [d] (0 for other bins).
    min_samples : int
        The robustness rule's fewest samples.
    tolerance_m : float
        Farthest distance [m] from an observation to the location whose calibration it takes.
    train_start, train_end : str
        The training period (ISO 8601).
    sources : tuple of str
        The diagnostics files it was trained on.
    sensor : str
        The sensor label calibrated ("" where the samples had none).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, statistics: BinStatistics, *,
                 type_name: str, units: str, bins: str, window_days: int, min_samples: int,
                 tolerance_m: float, train_start: str, train_end: str,
                 sources: tuple[str, ...] = (), sensor: str = ""):
        from scipy.spatial import cKDTree

        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.statistics = statistics
        self.type_name, self.units, self.bins = type_name, units, bins
        self.window_days, self.min_samples = int(window_days), int(min_samples)
        self.tolerance_m = float(tolerance_m)
        self.train_start, self.train_end, self.sources = train_start, train_end, tuple(sources)
        self.sensor = sensor
        self._tree = cKDTree(np.column_stack([self.x, self.y]))

    @classmethod
    def build(cls, data: TrainingData, type_name: str, bins: str = "month",
              window_days: int = DEFAULT_WINDOW_DAYS, min_samples: int = DEFAULT_MIN_SAMPLES,
              n_quantiles: int = DEFAULT_QUANTILES, tolerance_m: float | None = None,
              train_start: str | None = None, train_end: str | None = None
              ) -> "BiasCorrection":
        """The calibration of ``data``'s samples (one location per distinct ``(x, y)``);
        ``tolerance_m`` defaults to half the smallest spacing of the locations, the training
        period to the samples' first and last days."""
        coords, location = np.unique(np.column_stack([data.x, data.y]), axis=0,
                                     return_inverse=True)
        statistics = estimate(data.value, data.model, location.ravel(), len(coords),
                              data.dates, bins, window_days, min_samples, n_quantiles)
        days = data.dates.astype("datetime64[D]")
        return cls(coords[:, 0], coords[:, 1], statistics, type_name=type_name,
                   units=data.units, bins=bins,
                   window_days=window_days if bins == "window" else 0,
                   min_samples=min_samples,
                   tolerance_m=_default_tolerance(coords) if tolerance_m is None
                   else tolerance_m,
                   train_start=train_start or str(days.min()),
                   train_end=train_end or str(days.max()), sources=data.sources,
                   sensor=data.sensor)

    def write(self, path: Path | str) -> None:
        """Write the calibration file (layout in the module notes), atomically.

        Raises
        ------
        OutputError
            Naming the file and the operating system's reason.
        """
        import netCDF4

        path = Path(path)
        s = self.statistics
        columns = {"x": self.x, "y": self.y, "probability": s.probabilities,
                   "obs_quantile": s.obs_quantiles, "model_quantile": s.model_quantiles,
                   "obs_mean": s.obs_mean, "model_mean": s.model_mean, "obs_sd": s.obs_sd,
                   "model_sd": s.model_sd, "samples": s.samples,
                   "whole_record_samples": s.whole_record_samples, "status": s.status}
        types = {"samples": "i4", "whole_record_samples": "i4", "status": "i1"}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
                ds.title = TITLE
                for key, value in self._attributes().items():
                    setattr(ds, key, value)
                for dim, size in (("location", s.n_locations), ("bin", s.n_bins),
                                  ("quantile", s.probabilities.size)):
                    ds.createDimension(dim, size)
                for name, (dims, long_name) in _VARIABLES.items():
                    var = ds.createVariable(name, types.get(name, "f8"), dims, zlib=True)
                    var.long_name = long_name
                    var[:] = columns[name]
                    if name in _IN_TYPE_UNITS:
                        var.units = self.units
                ds["x"].units = ds["y"].units = "m"
                ds["status"].flag_values = np.array(list(STATUS_MEANINGS), dtype="i1")
                ds["status"].flag_meanings = " ".join(STATUS_MEANINGS.values())
        except (OSError, RuntimeError) as exc:
            raise write_failure(path, exc) from None
        log.debug("bias calibration of %r written to %s", self.type_name, path)

    def _attributes(self) -> dict[str, Any]:
        return {"type": self.type_name, "units": self.units, "bins": self.bins,
                "window_days": np.int32(self.window_days),
                "min_samples": np.int32(self.min_samples), "tolerance_m": self.tolerance_m,
                "train_start": self.train_start, "train_end": self.train_end,
                "source_files": "; ".join(self.sources),
                "methods": " ".join(m for m in METHODS if m != "none") + " error_rescaling"} \
            | ({"sensor": self.sensor} if self.sensor else {})

    @classmethod
    def from_file(cls, path: Path | str, type_name: str,
                  sensor: str = "") -> "BiasCorrection":
        """Read and check a calibration file of type ``type_name`` (for the table named
        ``sensor``, "" for an unnamed one).

        Raises
        ------
        InputFileError
            In one line naming the file and the variable or attribute: a file that is missing
            or not NetCDF, a missing or mismatched variable, attribute or dimension, another
            type's calibration, another sensor's for a named table, inconsistent
            statistics.
        """
        import netCDF4

        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"{path}: calibration file not found (pdafpy calibrate bias "
                                 "writes one)")
        try:
            ds = netCDF4.Dataset(path)
        except OSError as exc:
            raise InputFileError(f"{path}: not a readable NetCDF file ({exc})") from None
        with ds:
            text = {k: _attribute(ds, path, k) for k in
                    ("type", "units", "bins", "train_start", "train_end", "source_files")}
            if text["type"] != type_name:
                raise InputFileError(f"{path}: attribute 'type' = {text['type']!r}: a "
                                     f"calibration of type {text['type']!r}, not of "
                                     f"{type_name!r}")
            calibrated = _sensor_attribute(ds, path)
            if sensor and calibrated and calibrated != sensor:
                raise InputFileError(f"{path}: attribute 'sensor' = {calibrated!r}: a "
                                     f"calibration of sensor {calibrated!r}, not of {sensor!r}")
            if text["bins"] not in BIN_KINDS:
                raise InputFileError(f"{path}: attribute 'bins' = {text['bins']!r}: expected "
                                     f"one of {', '.join(BIN_KINDS)}")
            numbers = {k: _attribute(ds, path, k, number=True) for k in
                       ("window_days", "min_samples", "tolerance_m")}
            columns = {name: _variable(ds, path, name, dims)
                       for name, (dims, _) in _VARIABLES.items()}
            if len(ds.dimensions["bin"]) != N_BINS[text["bins"]]:
                raise InputFileError(f"{path}: dimension 'bin' has {len(ds.dimensions['bin'])} "
                                     f"entries, expected {N_BINS[text['bins']]} for bins = "
                                     f"{text['bins']!r}")
        _check_statistics(path, columns)
        statistics = BinStatistics(
            columns["probability"], columns["obs_quantile"], columns["model_quantile"],
            columns["obs_mean"], columns["model_mean"], columns["obs_sd"], columns["model_sd"],
            columns["samples"].astype(np.int64), columns["whole_record_samples"].astype(
                np.int64), columns["status"].astype(np.int8))
        sources = tuple(s for s in text["source_files"].split("; ") if s)
        return cls(columns["x"], columns["y"], statistics, type_name=type_name,
                   units=text["units"], bins=text["bins"],
                   window_days=int(numbers["window_days"]),
                   min_samples=int(numbers["min_samples"]), tolerance_m=numbers["tolerance_m"],
                   train_start=text["train_start"], train_end=text["train_end"],
                   sources=sources, sensor=calibrated)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The calibrated location nearest to each ``(x, y)`` [m] when within
        :attr:`tolerance_m`, else -1; ``(m,)`` int64."""
        x = np.asarray(x, dtype=float)
        if x.size == 0:
            return np.empty(0, dtype=np.int64)
        distance, nearest = self._tree.query(np.column_stack([x, np.asarray(y, dtype=float)]))
        return np.where(distance <= self.tolerance_m * (1 + 1e-12), nearest, -1).astype(np.int64)

    def apply(self, records: ObservationRecords, start: str, method: str,
              error_rescaling: bool) -> tuple[ObservationRecords, int]:
        """``records`` with their good observations corrected.

        Parameters
        ----------
        records : ObservationRecords
            Observations of this calibration's type (those not good are left as they are).
        start : str
            The run's start (ISO 8601): ``records.time`` is seconds after it; the period bin
            is that of ``start + time`` (UTC, proleptic Gregorian).
        method : str
            One of :data:`~pdafpy.obs.bias.METHODS`.
        error_rescaling : bool
            Whether errors are multiplied by ``sd_model / sd_obs``.

        Returns
        -------
        records : ObservationRecords
            Corrected; good observations without a calibrated location within
            :attr:`tolerance_m`, or whose location has no usable statistics for their bin,
            flagged rejected (``rejected_by`` :data:`~pdafpy.obs.bias.REJECTED_BY`).
        n_uncalibrated : int
            How many were flagged.
        """
        if method not in METHODS:
            raise ConfigError(f"bias_correction = {method!r}: expected one of "
                              f"{', '.join(METHODS)}")
        good = np.flatnonzero(records.qc == QC_GOOD)
        if (method == "none" and not error_rescaling) or good.size == 0:
            return records, 0
        location = self.locate(records.x[good], records.y[good])
        bin_ = bin_index(dates_after(start, records.time[good]), self.bins)
        calibrated = location >= 0
        calibrated[calibrated] = (self.statistics.status[location[calibrated],
                                                         bin_[calibrated]]
                                  != STATUS_UNCALIBRATED)
        values, errors = records.value.copy(), records.error_std.copy()
        index = good[calibrated]
        values[index], errors[index] = self.statistics.correct(
            values[index], errors[index], location[calibrated], bin_[calibrated], method,
            error_rescaling)
        corrected = replace(records, value=values, error_std=errors)
        uncalibrated = np.zeros(records.size, dtype=bool)
        uncalibrated[good[~calibrated]] = True
        log.debug("bias correction %s of %d %r observations, %d uncalibrated", method,
                  good.size, self.type_name, int(uncalibrated.sum()))
        return corrected.reject(uncalibrated, REJECTED_BY), int(uncalibrated.sum())


def _attribute(ds: Any, path: Path, name: str, number: bool = False) -> Any:
    """A global attribute: text, or a finite number >= 0 (``number``)."""
    if name not in ds.ncattrs():
        raise InputFileError(f"{path}: attribute {name!r} is missing (not a calibration file "
                             "of pdafpy calibrate bias?)")
    value = ds.getncattr(name)
    if not number:
        if not isinstance(value, str):
            raise InputFileError(f"{path}: attribute {name!r} = "
                                 f"{np.asarray(value).tolist()!r}: expected text")
        return value
    value = np.asarray(value)
    if value.size != 1 or value.dtype.kind not in "iuf" or not np.isfinite(value).all() \
            or value.item() < 0:
        raise InputFileError(f"{path}: attribute {name!r} = {value.tolist()!r}: expected a "
                             "finite number >= 0")
    return float(value.item())


def _sensor_attribute(ds: Any, path: Path) -> str:
    """The ``sensor`` attribute: the sensor label calibrated ("" where absent)."""
    if "sensor" not in ds.ncattrs():
        return ""
    value = ds.getncattr("sensor")
    if not isinstance(value, str):
        raise InputFileError(f"{path}: attribute 'sensor' = {np.asarray(value).tolist()!r}: "
                             "expected text")
    return value


def _variable(ds: Any, path: Path, name: str, dims: tuple[str, ...]) -> np.ndarray:
    if name not in ds.variables:
        raise InputFileError(f"{path}: variable {name!r} is missing (a calibration file holds "
                             f"{', '.join(_VARIABLES)})")
    var = ds[name]
    if var.dimensions != dims:
        raise InputFileError(f"{path}: variable {name!r} has dimensions {var.dimensions}, "
                             f"expected {dims}")
    if getattr(var.dtype, "kind", "O") not in "iuf":
        raise InputFileError(f"{path}: variable {name!r} has type {var.dtype}, expected "
                             "numbers")
    try:
        return np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InputFileError(f"{path}: variable {name!r} cannot be read "
                             f"({' '.join(str(exc).split())})") from None


def _check_statistics(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Refuse statistics the correction cannot use, naming the first variable at fault."""
    def refuse(name: str, bad: np.ndarray, problem: str) -> None:
        if np.any(bad):
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputFileError(f"{path}: variable {name!r}: {problem} (at index {index}; "
                                 f"{int(np.sum(bad))} such)")

    status = columns["status"]
    refuse("status", ~np.isin(status, list(STATUS_MEANINGS)), "flags must be one of "
           f"{STATUS_MEANINGS}")
    for name in ("x", "y"):
        refuse(name, ~np.isfinite(columns[name]), "coordinates must be finite")
    p = columns["probability"]
    refuse("probability", ~((p >= 0) & (p <= 1)), "probabilities must lie in [0, 1]")
    refuse("probability", np.concatenate([[False], np.diff(p) <= 0]),
           "probabilities must increase")
    used = status != STATUS_UNCALIBRATED
    for name in ("obs_mean", "model_mean"):
        refuse(name, used & ~np.isfinite(columns[name]), "calibrated bins need finite means")
    for name in ("obs_sd", "model_sd"):
        refuse(name, used & ~(columns[name] > 0), "calibrated bins need standard deviations "
               "> 0")
    for name in ("obs_quantile", "model_quantile"):
        q = columns[name]
        refuse(name, used[..., None] & ~np.isfinite(q), "calibrated bins need finite quantiles")
        refuse(name, used[..., None] & np.concatenate(
            [np.zeros(q.shape[:2] + (1,), dtype=bool), np.diff(q, axis=-1) < 0], axis=-1),
            "quantiles must not decrease")


def check_calibration_file(path: str, type_name: str, key: str, sensor: str = "") -> None:
    """Refuse a ``bias_file`` that is missing, not NetCDF, another type's calibration, another
    sensor's for the table named ``sensor`` (a calibration without a sensor serves any table,
    and an unnamed table any calibration of its type), or malformed (the configuration check,
    before any model work).

    Raises
    ------
    ConfigError
        In one line naming ``key``.
    InputFileError
        In one line naming the file and the variable, for a malformed calibration.
    """
    import netCDF4

    if not Path(path).is_file():
        raise ConfigError(f"{key} = {path!r}: no such file (pdafpy calibrate bias writes one)")
    try:
        with netCDF4.Dataset(path) as ds:
            kind = ds.getncattr("type") if "type" in ds.ncattrs() else None
            calibrated = ds.getncattr("sensor") if "sensor" in ds.ncattrs() else ""
    except OSError as exc:
        raise ConfigError(f"{key} = {path!r}: not a readable NetCDF file ({exc})") from None
    if kind != type_name:
        raise ConfigError(f"{key} = {path!r}: a calibration of type {kind!r}, not of "
                          f"{type_name!r}")
    if sensor and isinstance(calibrated, str) and calibrated and calibrated != sensor:
        raise ConfigError(f"{key} = {path!r}: a calibration of sensor {calibrated!r} (pdafpy "
                          f"calibrate bias --sensor), not of this table's {sensor!r} "
                          "(observations.name)")
    BiasCorrection.from_file(path, type_name, sensor)  # every variable, before any model work


def correct_for_section(records: ObservationRecords, section: ObservationSection, start: str,
                        cache: MutableMapping[tuple[str, str], BiasCorrection],
                        units: str | None = None) -> tuple[ObservationRecords, int]:
    """The bias correction an ``[[observations]]`` table asks for, applied to ``records``.

    Parameters
    ----------
    records : ObservationRecords
        The table's type's observations (those not good are left as they are).
    section : ObservationSection
        The table: ``bias_correction``, ``error_rescaling``, ``bias_file``.
    start : str
        The run's start (ISO 8601).
    cache : mutable mapping
        Calibrations already read, by (file, type), of this table (checked against its name);
        the caller keeps it between windows.
    units : str, optional
        The type's units (default: its registered module's ``units``).

    Returns
    -------
    records : ObservationRecords
    n_uncalibrated : int
        Good observations flagged rejected for want of a calibration.

    Raises
    ------
    InputFileError
        A malformed calibration file, or one of another type, sensor or other units.
    """
    if section.bias_correction == "none" and not section.error_rescaling:
        return records, 0
    module = load_registered(OBSERVATION_GROUP, section.type, "observations.type")
    key = (str(section.bias_file), module.name)
    if key not in cache:
        cache[key] = BiasCorrection.from_file(section.bias_file, module.name, section.name)
    calibration = cache[key]
    expected = module.units if units is None else units
    if _normal_units(calibration.units) != _normal_units(expected):
        raise InputFileError(f"{section.bias_file}: attribute 'units' = {calibration.units!r}: "
                             f"type {module.name!r} has units {expected!r}")
    return calibration.apply(records, start, section.bias_correction, section.error_rescaling)


def _table(calibration: BiasCorrection, data: TrainingData, out: Path) -> str:
    """The summary ``pdafpy calibrate bias`` prints."""
    s = calibration.statistics
    status = s.status
    lost = int(np.all(status == STATUS_UNCALIBRATED, axis=1).sum())
    bins = calibration.bins + (f", +-{calibration.window_days} d" if calibration.bins == "window"
                               else "")
    rows = [("observation type", f"{calibration.type_name} [{calibration.units}]"
                                 + (f", sensor {calibration.sensor}" if calibration.sensor
                                    else "")),
            ("training period", f"{calibration.train_start} to {calibration.train_end}"),
            ("paired samples", f"{data.value.size}"),
            ("locations", f"{s.n_locations} (tolerance {calibration.tolerance_m:g} m)"),
            ("bins per location", f"{s.n_bins} ({bins})"),
            ("bins calibrated", f"{int((status == STATUS_OWN_BIN).sum())} of {status.size}"),
            ("bins from the whole record", f"{int((status == STATUS_WHOLE_RECORD).sum())}"),
            ("bins uncalibrated", f"{int((status == STATUS_UNCALIBRATED).sum())}"),
            ("locations uncalibrated", f"{lost} (fewer than {calibration.min_samples} samples "
                                       "or no spread)"),
            ("samples per bin, median / min", f"{np.median(s.samples):g} / "
                                              f"{int(s.samples.min())}"),
            ("written to", str(out))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``pdafpy calibrate bias``: build a bias calibration from open-loop diagnostics; returns
    the exit status (0, or 2 after an error, printed in one line)."""
    parser = argparse.ArgumentParser(
        prog="pdafpy calibrate bias",
        description="Build the bias calibration of one observation type (CDF matching, anomaly "
                    "and seasonal rescaling, error rescaling; docs/bias-correction.md) from the "
                    "observation-space diagnostics of an open-loop run.")
    parser.add_argument("diagnostics", nargs="+", type=Path,
                        help="observations.nc of a mode = 'free' run (or its segments)")
    parser.add_argument("--type", required=True, dest="type_name",
                        help="the observation type to calibrate")
    parser.add_argument("--sensor", metavar="NAME",
                        help="the sensor to calibrate: the records labelled NAME (the name of "
                             "their [[observations]] table), where two tables of the type "
                             "labelled theirs (default: the type's records, which must come "
                             "from one sensor)")
    parser.add_argument("--out", required=True, type=Path, help="the calibration file")
    parser.add_argument("--bins", choices=BIN_KINDS, default="month",
                        help="period bins: calendar month, a +-W-day window around each day "
                             "of the year, or the whole year (default month)")
    parser.add_argument("--window-days", type=int, default=None,
                        help=f"--bins window: the half-width W [d] (default "
                             f"{DEFAULT_WINDOW_DAYS})")
    parser.add_argument("--min-samples", type=int, default=DEFAULT_MIN_SAMPLES,
                        help="fewest paired samples of a usable bin (default "
                             f"{DEFAULT_MIN_SAMPLES})")
    parser.add_argument("--quantiles", type=int, default=DEFAULT_QUANTILES,
                        help=f"quantiles per bin, probabilities 0 ... 1 (default "
                             f"{DEFAULT_QUANTILES})")
    parser.add_argument("--train-start", help="first day (ISO 8601) of the training period")
    parser.add_argument("--train-end", help="last day (ISO 8601, inclusive)")
    parser.add_argument("--tolerance-m", type=float, default=None,
                        help="farthest distance [m] from an observation to its calibrated "
                             "location (default: half their smallest spacing)")
    args = parser.parse_args(argv)
    if args.window_days is not None and args.bins != "window":
        parser.error("--window-days: only with --bins window")
    window_days = DEFAULT_WINDOW_DAYS if args.window_days is None else args.window_days
    for name, value, lowest in (("--window-days", window_days, 0),
                                ("--min-samples", args.min_samples, 2),
                                ("--quantiles", args.quantiles, 2)):
        if value < lowest:
            parser.error(f"{name} = {value}: must be >= {lowest}")
    if args.tolerance_m is not None and not (0 <= args.tolerance_m < np.inf):
        parser.error(f"--tolerance-m = {args.tolerance_m}: must be a finite number >= 0")
    try:
        data = read_training_data(args.diagnostics, args.type_name, args.train_start,
                                  args.train_end, args.sensor)
        calibration = BiasCorrection.build(
            data, args.type_name, args.bins, window_days, args.min_samples, args.quantiles,
            args.tolerance_m, args.train_start, args.train_end)
        calibration.write(args.out)
    except PdafpyError as exc:
        print(f"pdafpy calibrate bias: error: {exc}", file=sys.stderr)
        return 2
    print(_table(calibration, data, args.out))
    return 0
