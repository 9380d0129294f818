"""Calibration of HEY's statistical VOD operator: ``pdafpy calibrate vod``.

The operator (:mod:`models.landda.obs_vod`; HEY Eqs. 1-2, with the bulk VOD the anomaly plus the
seasonal cycle) predicts vegetation optical depth [1] from the leaf area index LAI [m2 m-2] and
the root-zone water content RZSM [m3 m-3] of a grid cell on day of year ``doy``:

    VOD = VOD_clim(doy) + alpha (LAI - LAI_clim(doy)) + beta (RZSM - RZSM_clim(doy)),
    beta = b0 + b1 LAI + b2 RZSM + b3 RZSM LAI,

beta evaluated at the member's own LAI and RZSM (so the operator is non-linear in both).
:func:`fit_vod_operator` fits, per cell and all cells at once (batched least squares, no loop
over cells), from matched series of LAI, RZSM and VOD:

- ``LAI_clim`` and ``RZSM_clim``: their mean in each climatology bin (calendar month, or day of
  year) over the matched samples;
- ``alpha, b0 .. b3``: least squares of VOD on the anomaly terms LAI', RZSM', LAI RZSM',
  RZSM RZSM', RZSM LAI RZSM' (the expansion of alpha LAI' + beta RZSM') with one intercept per
  bin, solved without forming those intercepts (each series centred in its bins: the
  Frisch-Waugh-Lovell theorem), by a batched QR factorisation of every cell's system;
- ``VOD_clim``: the intercepts, i.e. the bin mean of VOD less the bin mean of the anomaly term,
  so that the operator's predictions have the observed mean in every bin (it is the plain bin
  mean where beta does not vary); data made with the operator's own form are recovered exactly;
- ``r2``: 1 - SS_res / SS_tot of the predicted against the observed VOD, and ``rmse`` [1], over
  the matched samples; HEY rejects cells with ``R2 <= 0.5 and RMSE >= 0.08``.

A cell with too few samples for its bins and five coefficients, or whose system is singular
(e.g. an LAI that never varies), gets NaN everywhere and is rejected by the operator's quality
control (``vod_no_fit``).

Climatology bins (:func:`climatology_bins`): ``"month"`` -- 12 bins, the month a day of year
falls in in a common year (in leap years each bin from March on starts a day early); ``"doy"``
-- 366 bins, one per day of year.

The coefficient file (NetCDF, written atomically; :func:`write_coefficients`,
:func:`read_coefficients`): dimensions ``bin``, ``y``, ``x``; variables ``x(x)``, ``y(y)`` [m]
(the model grid's column centres), ``bin(bin)`` (month 1-12 or day of year 1-366), ``alpha``,
``b0``, ``b1``, ``b2``, ``b3``, ``r2``, ``rmse``, ``n_samples`` ``(y, x)``, and ``vod_clim``,
``lai_clim``, ``rzsm_clim`` ``(bin, y, x)``; global attributes ``bins`` (``"month"`` or
``"doy"``) and ``root_zone_m`` ([top, bottom] of the RZSM average [m]).

The command reads the open loop's ensemble output (``OUT/open_loop.nc`` or its segments:
``leaf_area_index_mean(time, y, x)``, ``water_content_mean(time, z, y, x)``, ``z_bnds(z, nv)``)
and a VOD observation file (pdafpy's format, type ``vegetation_optical_depth``), takes each good
VOD observation at the open-loop record nearest in time (within ``--time-tolerance-h``) and the
grid column nearest to it (several in one cell and record averaged), fits, and writes the
coefficient file::

    pdafpy calibrate vod --open-loop out/free --vod vod.nc --out vod_coefficients.nc --bins month
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from pdafpy.atomic import atomic_path
from pdafpy.errors import InputFileError, PdafpyError

__all__ = ["VodCoefficients", "OpenLoopOutput", "fit_vod_operator", "predict_vod",
           "climatology_bins", "days_of_year", "write_coefficients", "read_coefficients",
           "calibrate", "main", "BINS", "COEFFICIENTS", "CLIMATOLOGIES", "TYPE_NAME"]

log = logging.getLogger(__name__)

#: Climatology bins and their number.
BINS = {"month": 12, "doy": 366}
#: The per-cell coefficients and the per-bin climatologies, as the file names them.
COEFFICIENTS = ("alpha", "b0", "b1", "b2", "b3")
CLIMATOLOGIES = ("vod_clim", "lai_clim", "rzsm_clim")
#: The observation type the command calibrates against.
TYPE_NAME = "vegetation_optical_depth"
#: First day of year (0-based) of each month in a common year.
_MONTH_START = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])
#: Relative size of a triangular factor's diagonal below which a cell's system is singular.
_SINGULAR = 1e-9


@dataclass(frozen=True)
class VodCoefficients:
    """A fitted VOD operator over a grid.

    Attributes
    ----------
    bins : str
        ``"month"`` or ``"doy"``.
    alpha, b0, b1, b2, b3 : (ny, nx) ndarray
        alpha [1 per m2 m-2]; b0 [1 per m3 m-3], b1 [per m2 m-2 per m3 m-3], b2 [per (m3 m-3)2],
        b3 [per m2 m-2 per (m3 m-3)2]; NaN where there is no fit.
    vod_clim, lai_clim, rzsm_clim : (n_bins, ny, nx) ndarray
        Climatologies [1], [m2 m-2], [m3 m-3]; NaN in bins without samples.
    r2, rmse : (ny, nx) ndarray
        Skill of the fit [1].
    n_samples : (ny, nx) int ndarray
        Matched samples of each cell.
    root_zone_m : tuple of float
        [top, bottom] of the RZSM average [m].
    x, y : ndarray
        The grid's column centres [m].
    """

    bins: str
    alpha: np.ndarray
    b0: np.ndarray
    b1: np.ndarray
    b2: np.ndarray
    b3: np.ndarray
    vod_clim: np.ndarray
    lai_clim: np.ndarray
    rzsm_clim: np.ndarray
    r2: np.ndarray
    rmse: np.ndarray
    n_samples: np.ndarray
    root_zone_m: tuple[float, float] = (0.0, 1.0)
    x: np.ndarray | None = None
    y: np.ndarray | None = None


def predict_vod(lai: np.ndarray, rzsm: np.ndarray, alpha: np.ndarray, b0: np.ndarray,
                b1: np.ndarray, b2: np.ndarray, b3: np.ndarray, vod_clim: np.ndarray,
                lai_clim: np.ndarray, rzsm_clim: np.ndarray) -> np.ndarray:
    """HEY's VOD operator (see the module notes), elementwise with broadcasting.

    Parameters
    ----------
    lai : ndarray
        Leaf area index [m2 m-2].
    rzsm : ndarray
        Root-zone water content [m3 m-3].
    alpha, b0, b1, b2, b3, vod_clim, lai_clim, rzsm_clim : ndarray
        The coefficients and climatologies at the cell and time.

    Returns
    -------
    ndarray
        VOD [1].
    """
    beta = b0 + b1 * lai + b2 * rzsm + b3 * rzsm * lai
    return vod_clim + alpha * (lai - lai_clim) + beta * (rzsm - rzsm_clim)


def days_of_year(start: str, seconds: np.ndarray) -> np.ndarray:
    """Day of year (1-366) of times ``seconds`` [s] after ``start`` (ISO 8601; a time zone is
    taken to UTC)."""
    t0 = datetime.fromisoformat(start)
    if t0.tzinfo is not None:
        t0 = t0.astimezone(timezone.utc).replace(tzinfo=None)
    micro = np.round(np.asarray(seconds, dtype=float) * 1e6).astype(np.int64)
    t = np.datetime64(t0, "us") + micro.astype("timedelta64[us]")
    return (t.astype("datetime64[D]") - t.astype("datetime64[Y]")).astype(np.int64) + 1


def climatology_bins(day_of_year: np.ndarray, bins: str) -> np.ndarray:
    """The climatology bin (0-based) of each day of year (1-366): its month in a common year
    (``"month"``; day 366 in December) or the day itself (``"doy"``)."""
    doy = np.asarray(day_of_year, dtype=np.int64)
    if bins == "doy":
        return doy - 1
    return np.searchsorted(_MONTH_START, doy - 1, side="right") - 1


def _bin_means(values: np.ndarray, onehot: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(n_bins, c)`` bin means of ``values`` ``(T, c)`` (0 where a sample is missing), with
    ``onehot`` ``(n_bins, T)`` the samples' bins and ``counts`` ``(n_bins, c)`` the valid
    samples in each; NaN in empty bins."""
    sums = onehot @ values
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)


def _fit_cells(lai: np.ndarray, rzsm: np.ndarray, vod: np.ndarray, which: np.ndarray,
               n_bins: int, min_samples: int) -> dict[str, np.ndarray]:
    """The fit of cells ``(T, c)`` (NaN where a sample is missing), ``which`` ``(T,)`` the
    samples' bins; every result ``(c,)`` or ``(n_bins, c)``."""
    valid = np.isfinite(lai) & np.isfinite(rzsm) & np.isfinite(vod)
    lai, rzsm, vod = (np.where(valid, a, 0.0) for a in (lai, rzsm, vod))
    onehot = (np.arange(n_bins)[:, None] == which[None, :]).astype(float)   # (n_bins, T)
    counts = onehot @ valid
    lai_clim, rzsm_clim = _bin_means(lai, onehot, counts), _bin_means(rzsm, onehot, counts)

    def at_samples(bin_values: np.ndarray) -> np.ndarray:
        """Per-bin values ``(n_bins, c, ...)`` at each sample, 0 where it is missing."""
        mask = valid.reshape(valid.shape + (1,) * (bin_values.ndim - 2))
        return np.nan_to_num(bin_values)[which] * mask

    lai_a, rzsm_a = lai - at_samples(lai_clim), rzsm - at_samples(rzsm_clim)
    terms = np.stack([lai_a, rzsm_a, lai * rzsm_a, rzsm * rzsm_a, rzsm * lai * rzsm_a],
                     axis=-1)                                             # (T, c, 5)
    term_means = np.stack([_bin_means(terms[..., j], onehot, counts) for j in range(5)], -1)
    vod_means = _bin_means(vod, onehot, counts)
    centred = terms - at_samples(term_means)
    target = vod - at_samples(vod_means)
    scale = np.sqrt((centred ** 2).sum(axis=0))                            # (c, 5)
    safe = np.where(scale > 0, scale, 1.0)
    short = max(0, 5 - centred.shape[0])           # fewer samples than terms: zero rows keep
    if short:                                       # the least squares and r square (c, 5, 5)
        centred = np.concatenate([centred, np.zeros((short,) + centred.shape[1:])])
        target = np.concatenate([target, np.zeros((short,) + target.shape[1:])])
    q, r = np.linalg.qr(np.moveaxis(centred / safe, 0, 1))                # (c, T, 5), (c, 5, 5)
    diagonal = np.abs(np.diagonal(r, axis1=1, axis2=2))
    n_samples = valid.sum(axis=0)
    ok = (diagonal.min(axis=1) > _SINGULAR * diagonal.max(axis=1)) & (scale > 0).all(axis=1) \
        & (n_samples >= min_samples) & (n_samples - (counts > 0).sum(axis=0) - 5 >= 1)
    rhs = np.einsum("ctj,tc->cj", q, target)
    solvable = np.where(ok[:, None, None], r, np.eye(5)[None])
    coef = np.linalg.solve(solvable, rhs[..., None])[..., 0] / safe       # (c, 5)
    coef[~ok] = np.nan
    vod_clim = vod_means - np.einsum("bcj,cj->bc", np.nan_to_num(term_means), coef)
    prediction = at_samples(vod_clim) + np.einsum("tcj,cj->tc", terms, np.nan_to_num(coef))
    ss_res = ((vod - prediction) ** 2).sum(axis=0)
    mean = vod.sum(axis=0) / np.maximum(n_samples, 1)
    ss_tot = (((vod - mean) * valid) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ok, 1.0 - ss_res / ss_tot, np.nan)
        rmse = np.where(ok, np.sqrt(ss_res / n_samples), np.nan)
    out = {name: coef[:, j] for j, name in enumerate(COEFFICIENTS)}
    out.update(vod_clim=np.where(ok[None, :], vod_clim, np.nan), lai_clim=lai_clim,
               rzsm_clim=rzsm_clim, r2=r2, rmse=rmse, n_samples=n_samples)
    return out


def fit_vod_operator(lai: np.ndarray, rzsm: np.ndarray, vod: np.ndarray,
                     day_of_year: np.ndarray, bins: str = "month", min_samples: int = 10,
                     block_cells: int = 1024) -> VodCoefficients:
    """Fit the VOD operator in every cell (see the module notes).

    Parameters
    ----------
    lai, rzsm, vod : (T, ny, nx) ndarray
        Matched samples: leaf area index [m2 m-2], root-zone water content [m3 m-3] and VOD
        [1]; NaN where a sample is missing.
    day_of_year : (T,) int ndarray
        Day of year (1-366) of each sample.
    bins : str
        ``"month"`` or ``"doy"`` (:func:`climatology_bins`).
    min_samples : int
        The fewest matched samples a cell is fitted with.
    block_cells : int
        Cells solved together (bounds the memory: about ``T * block_cells * 40`` floats).

    Returns
    -------
    VodCoefficients
    """
    if bins not in BINS:
        raise ValueError(f"bins = {bins!r}: expected one of {sorted(BINS)}")
    lai, rzsm, vod = (np.asarray(a, dtype=float) for a in (lai, rzsm, vod))
    if not lai.shape == rzsm.shape == vod.shape or lai.ndim != 3:
        raise ValueError(f"lai, rzsm, vod: expected one (T, ny, nx) shape, got {lai.shape}, "
                         f"{rzsm.shape}, {vod.shape}")
    t, ny, nx = lai.shape
    which = climatology_bins(day_of_year, bins)
    flat = [a.reshape(t, ny * nx) for a in (lai, rzsm, vod)]
    parts = [_fit_cells(*(a[:, c0:c0 + block_cells] for a in flat), which, BINS[bins],
                        min_samples) for c0 in range(0, ny * nx, block_cells)]
    joined = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    shaped = {k: v.reshape(v.shape[:-1] + (ny, nx)) for k, v in joined.items()}
    return VodCoefficients(bins=bins, **shaped)


def write_coefficients(path: Path | str, coefficients: VodCoefficients,
                       attributes: dict | None = None) -> None:
    """Write the coefficient file (see the module notes) atomically; ``coefficients`` must
    carry the grid's ``x`` and ``y``.

    Raises
    ------
    ValueError
        If the coefficients carry no grid coordinates.
    OutputError
        If it cannot be written.
    """
    import netCDF4

    from pdafpy.segments import write_failure

    c = coefficients
    if c.x is None or c.y is None:
        raise ValueError("write_coefficients: the coefficients carry no grid coordinates x, y")
    n_bins, ny, nx = c.vod_clim.shape
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            with netCDF4.Dataset(tmp, "w", format="NETCDF4_CLASSIC") as ds:
                ds.Conventions = "CF-1.8"
                ds.title = "pdafpy: coefficients of the statistical VOD operator (HEY Eqs. 1-2)"
                ds.bins = c.bins
                ds.root_zone_m = np.asarray(c.root_zone_m, dtype=float)
                for key, value in (attributes or {}).items():
                    setattr(ds, key, value)
                for name, size in (("bin", n_bins), ("y", ny), ("x", nx)):
                    ds.createDimension(name, size)
                for name, values in (("x", c.x), ("y", c.y)):
                    v = ds.createVariable(name, "f8", (name,))
                    v[:] = values
                    v.units = "m"
                b = ds.createVariable("bin", "i4", ("bin",))
                b[:] = np.arange(1, n_bins + 1)
                b.long_name = "calendar month" if c.bins == "month" else "day of year"
                units = {"alpha": "1 / (m2 m-2)", "b0": "1 / (m3 m-3)",
                         "b1": "1 / (m2 m-2 m3 m-3)", "b2": "1 / (m3 m-3)2",
                         "b3": "1 / (m2 m-2 (m3 m-3)2)", "r2": "1", "rmse": "1",
                         "vod_clim": "1", "lai_clim": "m2 m-2", "rzsm_clim": "m3 m-3"}
                for name in (*COEFFICIENTS, "r2", "rmse", *CLIMATOLOGIES):
                    dims = ("bin", "y", "x") if name in CLIMATOLOGIES else ("y", "x")
                    v = ds.createVariable(name, "f8", dims, fill_value=np.nan)
                    v[:] = getattr(c, name)
                    v.units = units[name]
                ds.createVariable("n_samples", "i4", ("y", "x"))[:] = c.n_samples
    except (OSError, RuntimeError) as exc:
        raise write_failure(path, exc) from None


def read_coefficients(path: Path | str) -> VodCoefficients:
    """Read a coefficient file (see the module notes).

    Raises
    ------
    InputFileError
        If it is missing, unreadable, or a variable is missing or misshapen, naming the file and
        the variable.
    """
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: VOD coefficient file not found (write one with pdafpy "
                             "calibrate vod)")
    try:
        ds = netCDF4.Dataset(path)
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable NetCDF file ({exc})") from None
    with ds:
        bins = getattr(ds, "bins", None)
        if bins not in BINS:
            raise InputFileError(f"{path}: attribute 'bins' = {bins!r}: expected one of "
                                 f"{sorted(BINS)}")
        values = {}
        for name in ("x", "y", *COEFFICIENTS, "r2", "rmse", *CLIMATOLOGIES, "n_samples"):
            if name not in ds.variables:
                raise InputFileError(f"{path}: variable {name!r} is missing")
            try:
                values[name] = np.ma.filled(np.ma.asarray(ds[name][:], dtype=float), np.nan)
            except (ValueError, TypeError) as exc:
                raise InputFileError(f"{path}: variable {name!r}: not numbers ({exc})") from None
        ny, nx = values["y"].size, values["x"].size
        for name, value in values.items():
            shape = {"x": (nx,), "y": (ny,)}.get(name, (BINS[bins], ny, nx)
                                                 if name in CLIMATOLOGIES else (ny, nx))
            if value.shape != shape:
                raise InputFileError(f"{path}: variable {name!r} has shape {value.shape}, "
                                     f"expected {shape} (bins = {bins!r})")
        zone = np.atleast_1d(np.asarray(getattr(ds, "root_zone_m", [0.0, 1.0]), dtype=float))
        if zone.shape != (2,):
            raise InputFileError(f"{path}: attribute 'root_zone_m' = {zone.tolist()}: "
                                 "expected [top, bottom]")
    values["n_samples"] = values["n_samples"].astype(np.int64)
    return VodCoefficients(bins=bins, root_zone_m=(float(zone[0]), float(zone[1])), **values)


# ------------------------------------------------------------------------------ command


class OpenLoopOutput:
    """An open loop's ensemble output (``OUT/open_loop.nc`` or its segments) read for the
    calibration; a context manager.

    Attributes
    ----------
    path : Path
    start : str
        ISO time of ``time = 0``.
    times : (T,) ndarray
        Its distinct record times [s] (a forecast and an analysis record at one time are one).
    x, y : ndarray
        Column centres [m].

    Raises
    ------
    InputFileError
        A missing file or variable, unreadable time units, no layer in the root zone.
    """

    def __init__(self, path: Path | str, root_zone: tuple[float, float]):
        from pdafpy.segments import open_output

        from .obs_satellite_soil_moisture import layer_weights

        path = Path(path)
        self.path = path / "open_loop.nc" if path.is_dir() else path
        self.ds = open_output(self.path)
        try:
            for name in ("time", "x", "y", "z_bnds", "leaf_area_index_mean",
                         "water_content_mean"):
                if name not in self.ds.variables:
                    raise InputFileError(f"{self.path}: variable {name!r} is missing (an open "
                                         "loop's ensemble output, e.g. OUT/open_loop.nc, holds "
                                         "it)")
            units = str(getattr(self.ds["time"], "units", ""))
            if not units.startswith("seconds since "):
                raise InputFileError(f"{self.path}: variable 'time': units {units!r}, expected "
                                     "'seconds since <ISO time>'")
            self.start = units[len("seconds since "):].strip().replace(" ", "T", 1)
            time = np.asarray(self.ds["time"][:], dtype=float)
            self.times, self._first = np.unique(time, return_index=True)
            self.x = np.asarray(self.ds["x"][:], dtype=float)
            self.y = np.asarray(self.ds["y"][:], dtype=float)
            bounds = np.asarray(self.ds["z_bnds"][:], dtype=float)
            interfaces = np.concatenate([bounds[:, 0], bounds[-1:, 1]])
            try:
                self.layers, weights = layer_weights(interfaces, *root_zone, key="root_zone_m")
            except PdafpyError as exc:
                raise InputFileError(f"{self.path}: variable 'z_bnds': {exc}") from None
            self.weights = weights / weights.sum()
        except BaseException:
            self.ds.close()
            raise

    def __enter__(self) -> "OpenLoopOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.ds.close()

    def lai_rzsm(self, records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble-mean leaf area index [m2 m-2] and root-zone water content [m3 m-3],
        ``(len(records), ny, nx)`` each, at the distinct records ``records`` (increasing)."""
        index = self._first[records]
        lai = np.ma.filled(np.ma.asarray(self.ds["leaf_area_index_mean"][index], float),
                           np.nan)
        theta = np.ma.filled(np.ma.asarray(self.ds["water_content_mean"][
            index, self.layers[0]:self.layers[-1] + 1], float), np.nan)
        return lai, np.einsum("tzyx,z->tyx", theta, self.weights)


def nearest_records(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the record of ``times`` (increasing) nearest to each of ``t`` [s]."""
    if times.size == 1:
        return np.zeros(t.size, dtype=np.int64)
    lower = np.clip(np.searchsorted(times, t), 1, times.size - 1) - 1
    return lower + (np.abs(times[lower + 1] - t) < np.abs(times[lower] - t))


def calibrate(open_loop: Path | str, vod_file: Path | str, bins: str = "month",
              tolerance_s: float = 10800.0, root_zone: tuple[float, float] = (0.0, 1.0),
              crs: str = "", min_samples: int = 10) -> VodCoefficients:
    """Match the good VOD observations of ``vod_file`` with the open loop ``open_loop`` (a run's
    folder or its output) in time and space and fit (see the module notes).

    Raises
    ------
    InputFileError
        A missing or unusable file, or no observation matching the open loop.
    """
    from pdafpy.experiment_config import OBSERVATION_GROUP
    from pdafpy.model import Grid
    from pdafpy.obs.files import read_observation_file
    from pdafpy.obs.module import nearest_columns
    from pdafpy.obs.records import QC_GOOD
    from pdafpy.registry import registered

    with OpenLoopOutput(open_loop, root_zone) as run:
        x, y, times = run.x, run.y, run.times
        records = read_observation_file(vod_file, run.start,
                                        set(registered(OBSERVATION_GROUP)) | {TYPE_NAME},
                                        {TYPE_NAME: "1"}, crs)
        records = records.subset((records.type == TYPE_NAME) & (records.qc == QC_GOOD))
        nearest = nearest_records(times, records.time)
        close = np.abs(times[nearest] - records.time) <= tolerance_s
        half = [0.5 * abs(c[1] - c[0]) if c.size > 1 else np.inf for c in (x, y)]
        inside = (np.abs(records.x - x.mean()) <= 0.5 * np.ptp(x) + half[0]) \
            & (np.abs(records.y - y.mean()) <= 0.5 * np.ptp(y) + half[1])
        used = close & inside
        log.info("%s: %d good %s observations, %d matched with %s (%d beyond the time "
                 "tolerance, %d outside the grid)", vod_file, records.size, TYPE_NAME,
                 int(used.sum()), run.path, int((~close).sum()), int((close & ~inside).sum()))
        if not used.any():
            raise InputFileError(f"{vod_file}: variable 'time': no good {TYPE_NAME} "
                                 f"observation lies inside the grid within "
                                 f"{tolerance_s / 3600.0:g} h of a record of {run.path}")
        kept = np.unique(nearest[used])
        sample = np.searchsorted(kept, nearest[used])
        rows, cols = nearest_columns(Grid(y.size, x.size, x, y), records.x[used],
                                     records.y[used])
        sums = np.zeros((kept.size, y.size, x.size))
        counts = np.zeros_like(sums)
        np.add.at(sums, (sample, rows, cols), records.value[used])
        np.add.at(counts, (sample, rows, cols), 1.0)
        vod = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
        lai, rzsm = run.lai_rzsm(kept)
        doy = days_of_year(run.start, times[kept])
    fitted = fit_vod_operator(lai, rzsm, vod, doy, bins, min_samples)
    return replace(fitted, root_zone_m=(float(root_zone[0]), float(root_zone[1])), x=x, y=y)


def main(argv: Sequence[str] | None = None) -> int:
    """``pdafpy calibrate vod``: exit status 0, or 2 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="pdafpy calibrate vod",
                                     description="Fit HEY's statistical VOD operator per grid "
                                     "cell from an open loop and VOD observations.")
    parser.add_argument("--open-loop", type=Path, required=True, metavar="RUN_DIR_OR_FILE",
                        help="a run's output folder (its open_loop.nc) or an ensemble output")
    parser.add_argument("--vod", type=Path, required=True, metavar="OBSFILE",
                        help=f"observation file holding type {TYPE_NAME}")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the coefficient file to write")
    parser.add_argument("--bins", choices=sorted(BINS), default="month",
                        help="climatology bins (default month)")
    parser.add_argument("--root-zone", type=float, nargs=2, default=(0.0, 1.0),
                        metavar=("TOP", "BOTTOM"), help="root-zone depths [m] (default 0 1)")
    parser.add_argument("--time-tolerance-h", type=float, default=3.0,
                        help="largest time between an observation and its open-loop record "
                        "[h] (default 3)")
    parser.add_argument("--min-samples", type=int, default=10, metavar="N",
                        help="fewest matched samples a cell is fitted with (default 10)")
    parser.add_argument("--crs", default="", help="the grid's CRS, for observation files "
                        "in lat/lon on a geographic grid")
    args = parser.parse_args(argv)
    try:
        if not args.root_zone[0] < args.root_zone[1]:
            raise InputFileError(f"--root-zone {args.root_zone[0]:g} {args.root_zone[1]:g}: "
                                 "expected TOP < BOTTOM")
        fitted = calibrate(args.open_loop, args.vod, args.bins,
                           args.time_tolerance_h * 3600.0, tuple(args.root_zone), args.crs,
                           args.min_samples)
        write_coefficients(args.out, fitted, {"open_loop": str(args.open_loop),
                                              "vod_file": str(args.vod)})
    except PdafpyError as exc:
        print(f"pdafpy calibrate vod: error: {exc}", file=sys.stderr)
        return 2
    fitted_cells = int(np.isfinite(fitted.alpha).sum())
    log.info("%s: %d of %d cells fitted, median r2 %.3f", args.out, fitted_cells,
             fitted.alpha.size, float(np.nanmedian(fitted.r2)) if fitted_cells else np.nan)
    return 0
