"""State export: the state of the cycle at chosen times, for another model to start from.

``[state_export]`` names times ``t = start + k every_h + offset_h`` (``k >= 1``, ``offset_h``
in ``(-every_h, every_h]``) up to the last time the cycle reaches (its last analysis time); at
each the cycle hands the run group that is analysed (else the first free group, else the truth)
to :class:`StateExport`, which appends its ensemble mean (or, with ``members``, every member)
of the chosen fields to ``OUTPUT/state_export.nc``. A time inside a forecast window cuts the
forecast there (as ``[output] every_h`` does; a model whose ``advance`` does not depend on
where a span is cut, the land model's at multiples of its coupling step, gives the same run);
a time that is an analysis time is written after the analysis, so the record holds the analysed
state as the model continues from it (derived variables recomputed), the same values as the
analysis record of the run's output files. A member that failed inside the window (NaN until
the analysis replaces it) is left out of the mean. E.g. a 6-hourly NWP cycle initialised from
the land analysis 3 hours before each cycle: ``every_h = 6``, ``offset_h = -3``.

The file (NetCDF-4 classic, CF-1.8) has dimensions ``time`` (unlimited), ``member`` (with
``members``), ``z`` (layered fields; other level counts get ``level_N``), ``y``, ``x``; the
coordinates ``time`` (seconds since the start, ``k every_h + offset_h`` exactly), ``x``, ``y``,
``z`` (level-centre depths) and ``z_bnds`` (layer interfaces, where the application gives
them); ``analysed(time)`` (1 where an analysis was made at that time) and one variable per
field, named as the field, with its units (a field named as one of the file's own variables,
e.g. Lorenz-96's ``x``, is ``x_state``; each variable's ``field`` attribute names its field).
Filter rank 0 writes it, opening, appending one record and closing it at each time, so a run
that fails midway leaves a readable file of every record written before. A checkpoint keeps
the number of records; a run restarted from it first cuts the file back to them (records
written after the checkpoint are written again), so a restarted run ends with the same file as
an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .config import option
from .errors import ConfigError, InputFileError
from .output import gather_blocks
from .segments import write_failure

__all__ = ["StateExportSection", "StateExport", "export_times", "export_group", "variable_name",
           "FILE_NAME", "RESERVED"]

log = logging.getLogger(__name__)

#: The export's file name in the output folder.
FILE_NAME = "state_export.nc"
#: Two times closer than this [relative, at least absolute] are the same.
TIME_TOL = 1e-9
#: Names of the file's own variables: a field of the same name is written as ``NAME_state``.
RESERVED = ("time", "analysed", "x", "y", "z", "z_bnds", "member")


@dataclass(frozen=True)
class StateExportSection:
    """The state at chosen times of the cycle, written to ``OUTPUT/state_export.nc``."""

    every_h: float | None = option(None, "export the state every every_h hours: at t = start + "
                                   "k every_h + offset_h, k >= 1, up to the run's last analysis "
                                   "time (default: no export)", unit="h", minimum=0.0,
                                   exclusive_minimum=True)
    offset_h: float = option(0.0, "shift of the export times, in (-every_h, every_h] (e.g. "
                             "every_h = 6, offset_h = -3: the state 3 h before each 6-hourly "
                             "cycle); an export time that is an analysis time holds the "
                             "analysis", unit="h")
    fields: tuple[str, ...] = option((), "state fields exported (default: every field of the "
                                     "state vector)")
    members: bool = option(False, "every member of the exported run group (dimension member) "
                           "instead of its ensemble mean")

    def check(self, path: str) -> None:
        if self.every_h is None:
            for key, default in (("offset_h", 0.0), ("fields", ()), ("members", False)):
                if getattr(self, key) != default:
                    raise ConfigError(f"{path}.{key}: exports nothing without {path}.every_h")
            return
        if not -self.every_h < self.offset_h <= self.every_h:
            raise ConfigError(f"{path}.offset_h = {self.offset_h:g}: expected a shift in "
                              f"(-every_h, every_h] = ({-self.every_h:g}, {self.every_h:g}] h")
        if len(set(self.fields)) != len(self.fields):
            raise ConfigError(f"{path}.fields = {list(self.fields)}: a field is named twice")

    def check_fields(self, names: Sequence[str], path: str = "state_export") -> None:
        """Refuse a field the state vector (``names``) does not have."""
        for f in self.fields:
            if f not in names:
                raise ConfigError(f"{path}.fields: {f!r} is not a field of the state vector; it "
                                  f"has {', '.join(names)}")


def export_times(section: StateExportSection, end_s: float) -> np.ndarray:
    """The export times [s since the start] up to ``end_s``: ``k every_h + offset_h``, ``k >=
    1`` (empty without ``every_h``)."""
    if section.every_h is None:
        return np.zeros(0)
    every, offset = section.every_h * 3600.0, section.offset_h * 3600.0
    last = int(np.floor((end_s - offset) / every + TIME_TOL))
    return every * np.arange(1, max(last, 0) + 1) + offset


def variable_name(field: str) -> str:
    """The file's variable of a field: its name, or ``NAME_state`` where the file's own
    variables (:data:`RESERVED`) use it (Lorenz-96's ``x``)."""
    return f"{field}_state" if field in RESERVED else field


def export_group(groups: Any) -> str:
    """The run group exported: the first analysed group, else the first free one, else the
    first (a truth pass's truth)."""
    for kind in ("analysed", "free"):
        found = groups.of_kind(kind)
        if found:
            return found[0].name
    return next(iter(groups)).name


class StateExport:
    """The times of ``[state_export]`` and the writer of ``state_export.nc`` (built on every
    rank: every rank cuts its forecasts at the times; the filter ranks write).

    Parameters
    ----------
    section : StateExportSection
    path : Path
        The file.
    times : (k,) ndarray
        Export times [model time units], increasing.
    time_unit_s : float
        Seconds per model time unit.
    group : str
        The run group exported.
    n_members : int
        Its runs.
    comm : mpi4py.MPI.Comm or None
        The filter communicator (None off the filter ranks).
    boxes : sequence of Box
        Every filter rank's block.
    grid : Grid
    fields : sequence of FieldSpec
        The fields exported.
    reference_time : str
        ISO time of the start (``time = 0``).
    z_bounds : (nz + 1,) array, optional
        Layer interface depths [m] (the bounds of ``z``).
    attributes : mapping, optional
        Further global attributes.
    """

    def __init__(self, section: StateExportSection, path: Path | str, times: np.ndarray,
                 time_unit_s: float, group: str, n_members: int, comm: Any,
                 boxes: Sequence[Any], grid: Any, fields: Sequence[Any], reference_time: str,
                 z_bounds: Sequence[float] | None = None,
                 attributes: Mapping[str, Any] | None = None):
        self.section, self.path = section, Path(path)
        self.times = np.asarray(times, dtype=float)
        self.time_unit_s, self.group, self.n_members = float(time_unit_s), group, n_members
        self.comm, self.boxes, self.grid = comm, list(boxes or ()), grid
        self.fields = tuple(fields)
        self.reference_time = reference_time
        self.z_bounds = None if z_bounds is None else np.asarray(z_bounds, dtype=float)
        self.attributes = dict(attributes or {})
        self.writes = comm is not None and comm.Get_rank() == 0
        self.rows = 0
        self._exists = False          # this run's file has been created (or resumed)

    @classmethod
    def for_run(cls, section: StateExportSection, out: Path, schedule_end: float,
                time_unit_s: float, groups: Any, job: Any, reference_time: str,
                z_bounds: Sequence[float] | None = None,
                attributes: Mapping[str, Any] | None = None) -> "StateExport | None":
        """The export of a run (None without ``every_h``), on every rank of ``job``.

        Parameters
        ----------
        schedule_end : float
            The cycle's last time [model time units] (its last analysis time).

        Raises
        ------
        ConfigError
            If ``fields`` names a field the state does not have.
        """
        if section.every_h is None:
            return None
        names = [f.name for f in job.fields]
        section.check_fields(names)
        chosen = [f for f in job.fields if not section.fields or f.name in section.fields]
        times = export_times(section, schedule_end * time_unit_s) / time_unit_s
        group = export_group(groups)
        comm = job.layout.comm_filter if job.layout.is_filter else None
        return cls(section, out / FILE_NAME, times, time_unit_s, group, len(groups.runs(group)),
                   comm, job.boxes, job.grid, chosen, reference_time, z_bounds,
                   dict(attributes or {}, run_group=group))

    # -- times ---------------------------------------------------------------------------------
    def _close_to(self, t: np.ndarray | float, s: float) -> np.ndarray:
        return np.abs(np.asarray(t) - s) <= TIME_TOL * max(1.0, abs(s))

    def inside(self, t0: float, t1: float) -> np.ndarray:
        """The export times strictly inside ``(t0, t1)`` [model time units]."""
        t = self.times
        return t[(t > t0) & (t < t1) & ~self._close_to(t, t0) & ~self._close_to(t, t1)]

    def seconds(self, t: float) -> float:
        """The export time ``t`` [model time units] as configured, in seconds since the start
        (``k every_h + offset_h`` exactly, whatever the round-off of the model's unit)."""
        if self.section.every_h is None:
            return t * self.time_unit_s
        every, offset = self.section.every_h * 3600.0, self.section.offset_h * 3600.0
        return every * round((t * self.time_unit_s - offset) / every) + offset

    def due(self, t: float) -> bool:
        """Whether ``t`` [model time units] is an export time."""
        return bool(self._close_to(self.times, t).any())

    # -- writing -------------------------------------------------------------------------------
    def write(self, t: float, runs: np.ndarray, layout: Any, analysed: bool) -> None:
        """Append the record of time ``t`` [model time units] (collective over the filter
        ranks).

        Parameters
        ----------
        runs : (n_members, layout.size) ndarray
            This filter rank's block of the exported group.
        layout : StateLayout
        analysed : bool
            Whether an analysis was made at ``t`` (the record holds it).
        """
        records = {}
        for f in self.fields:
            view = layout.view(runs, f.name)                      # (N, levels, ny_b, nx_b)
            if self.section.members:
                local = view
            elif np.isnan(view).any():          # a member failed in the window: left out
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    local = np.nanmean(view, axis=0)
            else:
                local = view.mean(axis=0)
            records[f.name] = gather_blocks(self.comm, self.boxes, local, self.grid.ny,
                                            self.grid.nx)
        self.rows += 1
        if not self.writes:
            return
        import netCDF4

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._exists:
                with netCDF4.Dataset(self.path, "w", format="NETCDF4_CLASSIC") as ds:
                    self._create(ds)
                self._exists = True
            with netCDF4.Dataset(self.path, "a") as ds:
                k = self.rows - 1
                ds["time"][k] = self.seconds(t)
                ds["analysed"][k] = 1 if analysed else 0
                for f in self.fields:
                    value = records[f.name]
                    if f.levels == 1:
                        value = value[:, 0] if self.section.members else value[0]
                    ds[variable_name(f.name)][k] = value
        except (OSError, RuntimeError) as exc:
            raise write_failure(self.path, exc) from None
        log.debug("state export: record %d at %g s written", self.rows, self.seconds(t))

    def _level_dim(self, levels: int, nz: int) -> str:
        return "z" if levels == nz else f"level_{levels}"

    def _create(self, ds: Any) -> None:
        """Dimensions, coordinates, attributes and the (empty) field variables."""
        s = self.section
        ds.Conventions = "CF-1.8"
        ds.title = "pdafpy state export"
        ds.history = f"written by pdafpy, {datetime.now().isoformat(timespec='seconds')}"
        ds.statistic = "members" if s.members else "ensemble mean"
        ds.every_h, ds.offset_h = float(s.every_h), float(s.offset_h)
        for key, value in self.attributes.items():
            setattr(ds, key, value)
        ds.createDimension("time", None)
        ds.createDimension("y", self.grid.ny)
        ds.createDimension("x", self.grid.nx)
        z = np.asarray(self.grid.z if self.grid.z is not None else [], dtype=float).ravel()
        nz = z.size or 1
        ds.createDimension("z", nz)
        for levels in sorted({f.levels for f in self.fields} - {1, nz}):
            ds.createDimension(self._level_dim(levels, nz), levels)
        if s.members:
            ds.createDimension("member", self.n_members)
            ds.createVariable("member", "i4", ("member",))[:] = np.arange(1, self.n_members + 1)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = f"seconds since {self.reference_time.replace('T', ' ')}"
        t.standard_name, t.calendar = "time", "standard"
        a = ds.createVariable("analysed", "i1", ("time",))
        a.long_name = "1 where the record holds an analysis made at this time"
        a.flag_values, a.flag_meanings = np.array([0, 1], dtype="i1"), "forecast analysis"
        for name, values, std in (("x", self.grid.x, "projection_x_coordinate"),
                                  ("y", self.grid.y, "projection_y_coordinate")):
            v = ds.createVariable(name, "f8", (name,))
            v[:] = values
            v.units, v.standard_name = "m", std
        zv = ds.createVariable("z", "f8", ("z",))
        zv[:] = z if z.size else [0.0]
        zv.units, zv.positive, zv.long_name = "m", "down", "depth of the level centre"
        if self.z_bounds is not None and self.z_bounds.size == nz + 1:
            ds.createDimension("nv", 2)
            zb = ds.createVariable("z_bnds", "f8", ("z", "nv"))
            zb[:] = np.column_stack([self.z_bounds[:-1], self.z_bounds[1:]])
            zb.units = "m"
            zv.bounds = "z_bnds"
        for f in self.fields:
            dims = ("time",) + (("member",) if s.members else ()) + (
                (self._level_dim(f.levels, nz),) if f.levels > 1 else ()) + ("y", "x")
            v = ds.createVariable(variable_name(f.name), "f8", dims, zlib=True)
            v.units, v.field = f.units, f.name
            v.long_name = (f"{f.name} of each member" if s.members
                           else f"ensemble mean of {f.name}")

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, int]:
        """What a checkpoint keeps: the records written so far."""
        return {"rows": self.rows}

    def resume(self, saved: Mapping[str, Any]) -> None:
        """Continue after a checkpoint (:meth:`state`): the file is cut back to its records
        (the later ones are written again).

        Raises
        ------
        InputFileError
            If the file holds fewer records than the checkpoint counts.
        """
        self.rows = int(saved.get("rows", 0))
        if not self.writes:
            return
        if self.rows == 0:
            self.path.unlink(missing_ok=True)
            return
        self._exists = True
        import netCDF4

        try:
            with netCDF4.Dataset(self.path) as ds:
                held = len(ds.dimensions["time"])
        except (OSError, RuntimeError) as exc:
            raise InputFileError(f"{self.path}: cannot be read to continue the state export "
                                 f"after the checkpoint ({exc})") from None
        if held < self.rows:
            raise InputFileError(f"{self.path}: holds {held} records, but the checkpoint counts "
                                 f"{self.rows} written; the restart cannot continue it")
        if held > self.rows:
            self._cut(self.rows)

    def _cut(self, rows: int) -> None:
        """Rewrite the file with its first ``rows`` records (under a temporary name, then
        renamed into place)."""
        import netCDF4

        part = self.path.with_name(self.path.name + f".part-{os.getpid()}")
        try:
            with netCDF4.Dataset(self.path) as src, \
                    netCDF4.Dataset(part, "w", format="NETCDF4_CLASSIC") as dst:
                dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
                for name, dim in src.dimensions.items():
                    dst.createDimension(name, None if dim.isunlimited() else len(dim))
                for name, var in src.variables.items():
                    zlib = bool(var.filters().get("zlib")) if var.filters() else False
                    v = dst.createVariable(name, var.dtype, var.dimensions, zlib=zlib)
                    v.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
                    data = var[:rows] if "time" in var.dimensions else var[:]
                    v[:] = data
            os.replace(part, self.path)
        except (OSError, RuntimeError) as exc:
            part.unlink(missing_ok=True)
            raise write_failure(self.path, exc) from None
        log.info("%s: cut back to the %d records of the checkpoint", self.path, rows)

    def close(self) -> None:
        """End of the run: a fresh run that exported nothing leaves no file of an earlier run
        behind."""
        if self.writes and not self._exists and self.rows == 0:
            self.path.unlink(missing_ok=True)
