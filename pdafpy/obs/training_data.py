"""The training data of a bias calibration: observations paired with an open loop's model
equivalents, read from observation-space diagnostics files (:mod:`pdafpy.obs.diagnostics_file`:
each observation's ``value`` and ``forecast_mean``, the operator on the open loop's ensemble
mean; an open-loop run, ``mode = "free"`` with observation files, writes them)."""

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
from .files import _parse_units, read_observation_file
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
    """

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray
    model: np.ndarray
    dates: np.ndarray
    units: str
    sources: tuple[str, ...]


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
                       train_start: str | None = None, train_end: str | None = None
                       ) -> TrainingData:
    """The paired samples of type ``type_name`` in observation-space diagnostics files.

    Parameters
    ----------
    paths : sequence of path
        Diagnostics files (``NAME.nc`` stands for its segments ``NAME.00000.nc``, ...).
    type_name : str
        The observation type.
    train_start, train_end : str, optional
        The training period (ISO 8601, inclusive; a date alone as ``train_end`` includes its
        whole day); default: every sample.

    Returns
    -------
    TrainingData
        The good (``qc`` 0) observations of the type in the period with a finite
        ``forecast_mean``.

    Raises
    ------
    InputFileError
        On a missing or malformed file (naming it and the variable), units that differ
        between files, or no sample at all.
    """
    names = set(registered(OBSERVATION_GROUP)) | {type_name}
    parts, models, units, sources = [], [], None, []
    for path in paths:
        for segment in segment_paths(path):
            records = read_observation_file(segment, _EPOCH, names, {})
            model = _forecast_mean(segment, records.size)
            keep = (records.type == type_name) & (records.qc == QC_GOOD) & np.isfinite(model)
            if keep.any():
                units = _type_units(segment, type_name, units)
            parts.append(records.subset(keep))
            models.append(model[keep])
        sources.append(str(path))
    records = ObservationRecords.concatenate(parts)
    model = np.concatenate(models) if models else np.empty(0)
    dates = dates_after(_EPOCH, records.time)
    keep = np.ones(records.size, dtype=bool)
    if train_start:
        keep &= dates >= np.datetime64(utc_instant(train_start, "--train-start"), "ms")
    if train_end:
        end = utc_instant(train_end, "--train-end")
        whole_day = not any(separator in train_end.strip() for separator in "T ")
        keep &= dates < np.datetime64(end + (timedelta(days=1) if whole_day
                                             else timedelta(milliseconds=1)), "ms")
    if not keep.any():
        raise InputFileError(f"{', '.join(sources)}: no good (qc 0) observation of type "
                             f"{type_name!r} with a forecast_mean"
                             + (f" from {train_start or 'the start'} to {train_end or 'the end'}"
                                if train_start or train_end else ""))
    return TrainingData(records.x[keep], records.y[keep], records.value[keep], model[keep],
                        dates[keep], units, tuple(sources))


def _type_units(path: Path, type_name: str, known: str | None) -> str:
    """The units of ``type_name`` in one file, which must be ``known`` when given."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        units = _parse_units(path, ds["value"].units, [type_name])[type_name]
    if known is not None and units != known:
        raise InputFileError(f"{path}: variable 'value': units {units!r} for type "
                             f"{type_name!r}, where the files before it give {known!r}")
    return units
