"""The training data of a bias calibration: observations paired with an open loop's model
equivalents, read from observation-space diagnostics files (:mod:`pdafpy.obs.diagnostics_file`:
each observation's ``value`` and ``forecast_mean``, the operator on the open loop's ensemble
mean; an open-loop run, ``mode = "free"`` with observation files, writes them), of one type and
one sensor: where two tables of a type (two sensors) wrote the files, their records carry the
tables' names as sensor labels (``sensor``), and a calibration takes one sensor's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputFileError
from ..experiment_config import OBSERVATION_GROUP
from ..registry import registered
from ..segments import segment_paths
from .bias import dates_after, utc_instant
from .files import _parse_units, read_observation_file, unit_key
from .records import QC_GOOD, ObservationRecords

__all__ = ["TrainingData", "read_training_data"]

#: Training times are read as seconds since this instant.
_EPOCH = "1970-01-01T00:00:00"


@dataclass(frozen=True)
class TrainingData:
    """Paired samples of one observation type: observations and their model equivalents.

    Attributes
    ----------
    x, y : (n,) float ndarray
        Locations [grid coordinates, m].
    value, model : (n,) float ndarray
        Observations and the open loop's operator values at them [``units``].
    dates : (n,) datetime64[ms] ndarray
        Valid times (UTC).
    units : str
        The type's units, as the files give them.
    sources : tuple of str
        The files read.
    sensor : str
        The sensor label of the samples ("" where the files have none).
    """

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    model: np.ndarray
    dates: np.ndarray
    units: str
    sources: tuple[str, ...]
    sensor: str = ""


def _forecast_mean(path: Path, size: int) -> np.ndarray:
    """The ``forecast_mean`` column of one diagnostics file, NaN where masked."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        if "forecast_mean" not in ds.variables:
            raise InputFileError(f"{path}: variable 'forecast_mean' is missing (expected the "
                                 "observation-space diagnostics of an open-loop run, mode = "
                                 "'free' with observation files)")
        var = ds["forecast_mean"]
        if var.dimensions != ("obs",) or getattr(var.dtype, "kind", "O") not in "iuf":
            raise InputFileError(f"{path}: variable 'forecast_mean' has dimensions "
                                 f"{var.dimensions} and type {var.dtype}, expected numbers "
                                 "along ('obs',)")
        values = np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan)
    if values.size != size:
        raise InputFileError(f"{path}: variable 'forecast_mean' has {values.size} entries, "
                             f"expected one per observation ({size})")
    return values


def read_training_data(paths: Sequence[Path | str], type_name: str,
                       train_start: str | None = None, train_end: str | None = None,
                       sensor: str | None = None) -> TrainingData:
    """The paired samples of type ``type_name`` (and one sensor) in observation-space
    diagnostics files.

    Parameters
    ----------
    paths : sequence of path
        Diagnostics files (``NAME.nc`` stands for its segments ``NAME.00000.nc``, ...).
    type_name : str
        The observation type.
    train_start, train_end : str, optional
        The training period (ISO 8601, inclusive; a date alone as ``train_end`` includes its
        whole day); default: every sample.
    sensor : str, optional
        The sensor label (an ``[[observations]]`` table's ``name``) whose samples to take;
        where the files have no label for the type, every sample of it is that sensor's.
        Default: the type's samples when they come from one sensor (or none).

    Returns
    -------
    TrainingData
        The good (``qc`` 0) observations of the type (and sensor) in the period with a finite
        ``forecast_mean``.

    Raises
    ------
    InputFileError
        On a missing or malformed file (naming it and the variable), units that differ
        between files, no sample at all, a ``sensor`` that is none of the files' labels of the
        type, or samples of several sensors without ``sensor``.
    """
    names = set(registered(OBSERVATION_GROUP)) | {type_name}
    parts, models, units, sources = [], [], [], []
    for path in paths:
        for segment in segment_paths(path):
            records = read_observation_file(segment, _EPOCH, names, {})
            model = _forecast_mean(segment, records.size)
            keep = (records.type == type_name) & (records.qc == QC_GOOD) & np.isfinite(model)
            part = records.subset(keep)
            parts.append(part)
            models.append(model[keep])
            units.append((_units(segment, type_name, part.sensor), segment))
        sources.append(str(path))
    records = ObservationRecords.concatenate(parts)
    model = np.concatenate(models) if models else np.empty(0)
    keep, sensor = _sensor_samples(records, type_name, sensor, sources)
    dates = dates_after(_EPOCH, records.time)
    if train_start:
        keep &= dates >= np.datetime64(utc_instant(train_start, "--train-start"), "ms")
    if train_end:
        end = utc_instant(train_end, "--train-end")
        whole_day = not any(separator in train_end.strip() for separator in "T ")
        keep &= dates < np.datetime64(end + (timedelta(days=1) if whole_day
                                             else timedelta(milliseconds=1)), "ms")
    if not keep.any():
        raise InputFileError(f"{', '.join(sources)}: no good (qc 0) observation of type "
                             f"{type_name!r}" + (f" (sensor {sensor!r})" if sensor else "")
                             + " with a forecast_mean"
                             + (f" from {train_start or 'the start'} to {train_end or 'the end'}"
                                if train_start or train_end else ""))
    return TrainingData(records.x[keep], records.y[keep], records.value[keep], model[keep],
                        dates[keep], _common_units(units, records.sensor[keep], type_name),
                        tuple(sources), sensor)


def _sensor_samples(records: ObservationRecords, type_name: str, sensor: str | None,
                    sources: Sequence[str]) -> tuple[np.ndarray, str]:
    """``(n,)`` bool: which of ``records`` (of one type) are the samples of ``sensor``, and
    that sensor's label (see :func:`read_training_data`)."""
    labels = records.labels(type_name)
    blank = records.sensor == ""
    if sensor is not None and labels:
        if sensor not in labels:
            raise InputFileError(f"{', '.join(sources)}: variable 'sensor': no record of type "
                                 f"{type_name!r} labelled {sensor!r}; the labels are "
                                 f"{', '.join(repr(x) for x in labels)}")
        return records.sensor == sensor, sensor
    if sensor is not None:                     # files without labels: the type's samples
        return np.ones(records.size, dtype=bool), sensor
    if len(labels) > 1 or (labels and blank.any()):
        found = ", ".join(repr(x) for x in labels) + (" and unlabelled ones" if blank.any()
                                                      else "")
        raise InputFileError(f"{', '.join(sources)}: variable 'sensor': the records of type "
                             f"{type_name!r} come from several sensors ({found}); calibrate "
                             "one at a time (--sensor NAME)")
    return np.ones(records.size, dtype=bool), labels[0] if labels else ""


def _units(path: Path, type_name: str, sensors: np.ndarray) -> dict[str, str]:
    """The units in one file of the records of ``type_name`` labelled each of ``sensors``,
    by label."""
    import netCDF4

    labels = np.unique(sensors.astype(str)).tolist() if sensors.size else []
    if not labels:
        return {}
    with netCDF4.Dataset(path) as ds:
        found = _parse_units(path, ds["value"].units, [unit_key(type_name, s) for s in labels])
    return {s: found[unit_key(type_name, s)] for s in labels}


def _common_units(units: Sequence[tuple[dict[str, str], Path]], sensors: np.ndarray,
                  type_name: str) -> str:
    """The one unit of the samples (labelled ``sensors``) in every file (``units``: per file
    in the order read, its units by label and its path)."""
    used = set(np.unique(sensors.astype(str)).tolist())
    known = None
    for per_file, path in units:
        for label, unit in per_file.items():
            if label not in used:
                continue
            if known is not None and unit != known:
                raise InputFileError(f"{path}: variable 'value': units {unit!r} for type "
                                     f"{type_name!r}, where the files before it give {known!r}")
            known = unit
    return known or ""
