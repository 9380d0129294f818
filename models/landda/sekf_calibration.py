"""The SEKF's static B from a control run's errors against a reference: ``pdafpy calibrate sekf``.

As the CoLM study derives it ("from the RMSE between CTL and ERA5").

The inputs are two land output files on the same grid (an open loop's ``open_loop.nc`` or any
ensemble output, and the reference: a twin's ``truth.nc`` or a reanalysis written in the same
layout), each with ``time`` [s] and a field ``(time, z, y, x)`` (``water_content_mean`` by
default) and the layer centres ``z`` [m]. At the times both hold (the last record of each time,
where a file has a forecast and an analysis record), the errors ``e = control - reference`` of
the top ``layers`` layers give

- ``background_sd``: each layer's RMSE over every time and column [m3 m-3];
- ``vertical_correlation_m``: the length ``L`` of ``exp(-|z_i - z_j| / L)`` fitted to the
  layers' uncentred error correlations ``C_ij = <e_i e_j> / (rms_i rms_j)`` (uncentred, since B
  describes the whole error, its bias included): the median over layer pairs of
  ``-|z_i - z_j| / ln C_ij``, over the pairs with ``0 < C_ij < 1``; 0 (a diagonal ``B``) where
  no pair has one.

It prints the two ``[sekf]`` keys as TOML, and with ``--json FILE`` writes them with the
per-layer bias and the correlation matrix. The reference must not be the truth a study scores
against: calibrate on a seed of its own (``configs/studies/bai.toml`` uses seed 1 and scores
seeds 2-4).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pdafpy.errors import InputFileError, PdafpyError
from pdafpy.segments import open_output, segment_paths


__all__ = ["BackgroundStatistics", "background_statistics", "fit_correlation_length",
           "read_layers", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackgroundStatistics:
    """The control run's errors against the reference, per control layer.

    Attributes
    ----------
    depth_m : list of float
        Layer centres [m], ``(layers,)``.
    background_sd : list of float
        RMSE per layer, ``(layers,)``, in the field's unit.
    bias : list of float
        Mean error (control minus reference) per layer, ``(layers,)``.
    correlation : list of list of float
        Uncentred error correlations, ``(layers, layers)``.
    vertical_correlation_m : float
        The fitted length ``L`` [m] (0: none fitted, a diagonal ``B``).
    samples : int
        Errors per layer (times x columns).
    """

    depth_m: list[float]
    background_sd: list[float]
    bias: list[float]
    correlation: list[list[float]]
    vertical_correlation_m: float
    samples: int


def read_layers(path: Path, variable: str, layers: int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """``(times, z, values)`` of a land output file: its distinct times [s] ``(T,)``, the top
    ``layers`` layer centres [m] and the field at each time's last record, ``(T, layers, ny,
    nx)``.

    Raises
    ------
    InputFileError
        One line naming the file: missing, unreadable, without ``time``, ``z`` or the
        variable, the variable not ``(time, z, y, x)``, or fewer layers than asked for. A file
        written in segments (``NAME.00000.nc``, ...) is read whole.
    """
    with open_output(path) as ds:
        for name in ("time", "z", variable):
            if name not in ds.variables:
                raise InputFileError(f"{path}: no variable {name!r} (expected a land output "
                                     "file: open_loop.nc, truth.nc)")
        var = ds.variables[variable]
        if var.dimensions[:2] != ("time", "z") or var.ndim != 4:
            raise InputFileError(f"{path}: {variable} has dimensions {var.dimensions}, "
                                 "expected (time, z, y, x)")
        if var.shape[1] < layers:
            raise InputFileError(f"{path}: {variable} has {var.shape[1]} layers, fewer than "
                                 f"--layers {layers}")
        time = np.asarray(ds.variables["time"][:], dtype=float)
        times, first_of_reversed = np.unique(time[::-1], return_index=True)
        last = time.size - 1 - first_of_reversed
        z = np.asarray(ds.variables["z"][:layers], dtype=float)
        values = np.ma.filled(var[:, :layers], np.nan)[last].astype(float)
    return times, z, values


def fit_correlation_length(depth_m: np.ndarray, correlation: np.ndarray) -> float:
    """``L`` [m] of ``exp(-|dz| / L)`` fitted to a layer correlation matrix ``(k, k)``: the
    median over the pairs with ``0 < C < 1`` of ``-|dz| / ln C``; 0 where there is none."""
    dz = np.abs(depth_m[:, None] - depth_m[None, :])
    pairs = np.triu(np.ones_like(correlation, dtype=bool), 1) & (correlation > 0) \
        & (correlation < 1) & (dz > 0)
    if not pairs.any():
        return 0.0
    return float(np.median(-dz[pairs] / np.log(correlation[pairs])))


def background_statistics(control: Path, reference: Path, layers: int,
                          variable: str = "water_content_mean") -> BackgroundStatistics:
    """The control run's per-layer errors against the reference (see the module notes).

    Raises
    ------
    InputFileError
        A file that cannot be read (:func:`read_layers`), grids or layer depths that differ,
        no common time, or a layer with no finite error.
    """
    t_c, z_c, v_c = read_layers(control, variable, layers)
    t_r, z_r, v_r = read_layers(reference, variable, layers)
    if v_c.shape[1:] != v_r.shape[1:] or not np.allclose(z_c, z_r):
        raise InputFileError(f"{control}: grid {v_c.shape[1:]} with layer centres "
                             f"{np.round(z_c, 4).tolist()} differs from {reference}'s "
                             f"{v_r.shape[1:]}, {np.round(z_r, 4).tolist()}")
    common, i_c, i_r = np.intersect1d(t_c, t_r, return_indices=True)
    if common.size == 0:
        raise InputFileError(f"{control}: no time in common with {reference}")
    errors = (v_c[i_c] - v_r[i_r]).transpose(1, 0, 2, 3).reshape(layers, -1)
    errors = errors[:, np.isfinite(errors).all(axis=0)]
    if errors.shape[1] == 0:
        raise InputFileError(f"{control}: no finite {variable} error against {reference}")
    second_moment = errors @ errors.T / errors.shape[1]
    rms = np.sqrt(np.diag(second_moment))
    if (rms == 0).any():
        raise InputFileError(f"{control}: layer {int(np.argmin(rms)) + 1} equals {reference}'s "
                             "at every time: no error to derive B from")
    correlation = second_moment / np.outer(rms, rms)
    return BackgroundStatistics(
        depth_m=z_c.tolist(), background_sd=rms.tolist(), bias=errors.mean(axis=1).tolist(),
        correlation=correlation.tolist(),
        vertical_correlation_m=fit_correlation_length(z_c, correlation),
        samples=int(errors.shape[1]))


def _output_file(path: Path) -> Path:
    """A run folder's output ``open_loop.nc`` or ``truth.nc`` (whole or in segments), or the
    file itself."""
    if not path.is_dir():
        return path
    for name in ("open_loop.nc", "truth.nc"):
        try:
            segment_paths(path / name)
            return path / name
        except InputFileError:
            continue
    raise InputFileError(f"{path}: a folder without open_loop.nc or truth.nc (or their "
                         "segments)")


def main(argv: Sequence[str] | None = None) -> int:
    """``pdafpy calibrate sekf``: exit status 0, or 2 with one line on bad input."""
    parser = argparse.ArgumentParser(
        prog="pdafpy calibrate sekf",
        description="The SEKF's background_sd and vertical_correlation_m from a control run's "
        "errors against a reference (a twin's truth of a calibration seed, or a reanalysis).")
    parser.add_argument("--control", type=Path, required=True, metavar="RUN_DIR_OR_FILE",
                        help="the control run (CTL): a run folder (its open_loop.nc) or a file")
    parser.add_argument("--reference", type=Path, required=True, metavar="RUN_DIR_OR_FILE",
                        help="the reference: a truth pass's folder (its truth.nc) or a file")
    parser.add_argument("--layers", type=int, required=True, metavar="N",
                        help="control layers (len([sekf] delta))")
    parser.add_argument("--variable", default="water_content_mean",
                        help="the field compared (default water_content_mean)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the statistics (bias, correlations) here")
    args = parser.parse_args(argv)
    try:
        if args.layers < 1:
            raise InputFileError(f"--layers {args.layers}: expected at least 1")
        stats = background_statistics(_output_file(args.control),
                                      _output_file(args.reference), args.layers, args.variable)
        if args.json:
            args.json.write_text(json.dumps(asdict(stats), indent=1) + "\n")
    except (PdafpyError, OSError) as exc:
        print(f"pdafpy calibrate sekf: error: {exc}", file=sys.stderr)
        return 2
    sd = ", ".join(f"{v:.3g}" for v in stats.background_sd)
    print(f"background_sd = [{sd}]\nvertical_correlation_m = "
          f"{stats.vertical_correlation_m:.3g}")
    log.info("%d errors per layer; bias per layer %s", stats.samples,
             np.round(stats.bias, 4).tolist())
    return 0
