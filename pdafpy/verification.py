"""Scoring against a truth file: the truth a ``mode = "truth"`` run wrote, read back per time.

A run that holds no truth of its own (``mode = "assimilate"`` or ``"free"``) can be scored
against ``truth.nc`` of a truth pass of the same model and grid (``[verification] truth``): at
each analysis time every filter rank reads its own block of the truth's analysis record.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InputFileError
from .model import Grid
from .segments import open_output

__all__ = ["TruthFile"]

#: Two times closer than this [s] are the same record.
TIME_TOL_S = 1e-3


class TruthFile:
    """A truth pass's ``truth.nc``, checked against this run and read block by block.

    Parameters
    ----------
    path : path
        The output (written by :class:`pdafpy.output.EnsembleWriter` for the truth group): the
        file, or the name ``truth.nc`` of its segments (:mod:`pdafpy.segments`).
    grid : Grid
        This run's grid: the file's must be the same.
    fields : sequence of str
        The fields scored: each must be in the file as ``NAME_mean``; the others are NaN.
    start : str
        This run's start (ISO 8601); the file's ``time`` may count from another.
    times_s : (k,) ndarray
        The times the run will score at [s since its start]: the file must have each.
    members : int
        This run's ensemble size: a truth drawn with a perturbation key below it (a truth pass
        of a smaller ensemble) would be one of this run's members, and is refused.
    optional : sequence of str
        Fields scored where the file has them (``NAME_mean``); one it lacks is left out of
        :attr:`fields` (NaN in :meth:`state_at`) instead of refused.

    Attributes
    ----------
    fields : list of str
        The fields read: ``fields`` and those of ``optional`` the file has.

    Raises
    ------
    InputFileError
        If the file is missing, unreadable, on another grid or lacks a field (one line).
    """

    def __init__(self, path: Path | str, grid: Grid, fields: list[str], start: str,
                 times_s: np.ndarray, members: int, optional: Sequence[str] = ()):
        self.path = Path(path)
        try:
            ds = open_output(self.path)
        except InputFileError as exc:
            raise InputFileError(f"cannot read the truth file: {exc}") from None
        with ds:
            ds.set_auto_mask(False)
            for name, coords in (("x", grid.x), ("y", grid.y)):
                if name not in ds.variables or ds[name].shape != coords.shape or not np.allclose(
                        ds[name][:], coords, rtol=1e-12, atol=1e-9):
                    raise InputFileError(f"{self.path}: variable {name!r}: not this run's grid "
                                         f"({coords.size} {name} coordinates from "
                                         f"{coords[0]:g} to {coords[-1]:g})")
            self.fields = list(fields) + [f for f in optional if f"{f}_mean" in ds.variables]
            missing = [f for f in fields if f"{f}_mean" not in ds.variables]
            if missing:
                raise InputFileError(f"{self.path}: variable {missing[0] + '_mean'!r} is missing")
            units = str(getattr(ds["time"], "units", ""))
            reference = units.partition(" since ")[2]
            if not units.startswith("seconds since ") or not reference:
                raise InputFileError(f"{self.path}: variable 'time': units {units!r}, expected "
                                     "'seconds since <ISO time>'")
            shift = (datetime.fromisoformat(reference) - datetime.fromisoformat(start))
            self.times = np.asarray(ds["time"][:], dtype=float) + shift.total_seconds()
            self.analysis = np.asarray(ds["kind"][:]) == 1
            key = getattr(ds, "perturbation_key", None)
        if key is not None and int(key) < members:
            raise InputFileError(f"{self.path}: the truth has perturbation key {int(key)}, which "
                                 f"member {int(key)} of this ensemble of {members} shares: run "
                                 "the truth pass with this run's ensemble.size")
        for t in np.asarray(times_s, dtype=float):
            self._record(t)

    def _record(self, time_s: float) -> int:
        hit = np.flatnonzero(self.analysis & (np.abs(self.times - time_s) < TIME_TOL_S))
        if hit.size == 0:
            raise InputFileError(f"{self.path}: no truth record at {time_s:g} s after the start; "
                                 "run the truth pass over the same schedule")
        return int(hit[0])

    def state_at(self, time_s: float, layout: Any) -> np.ndarray:
        """This rank's block of the truth at ``time_s`` [s since this run's start].

        Parameters
        ----------
        layout : StateLayout
            The filter rank's layout (its box and fields).

        Returns
        -------
        (1, layout.size) ndarray
            NaN in the fields not scored.

        Raises
        ------
        InputFileError
            If the file has no analysis record at that time.
        """
        k, box = self._record(time_s), layout.box
        truth = np.full((1, layout.size), np.nan)
        with open_output(self.path) as ds:
            ds.set_auto_mask(False)
            for f in layout.fields:
                if f.name not in self.fields:
                    continue
                block = ds[f"{f.name}_mean"][k, ..., box.y0:box.y1, box.x0:box.x1]
                layout.view(truth, f.name)[0] = np.reshape(block, (f.levels, box.ny, box.nx))
        return truth
