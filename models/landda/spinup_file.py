"""The spin-up file: every run's spun-up state, its storage history, and the checks of a hot
start (:mod:`models.landda.spinup`).

The file (NetCDF4, CF-1.8; written by filter rank 0 after a gather of the filter ranks'
blocks, :func:`pdafpy.output.gather_blocks`, one field of one run at a time):

- dimensions ``run`` (one per perturbation key: an open-loop member shares its assimilation
  member's key and so its row), ``cycle`` (the cycles run), ``z`` (layers), ``y``, ``x``;
  coordinates ``run`` (the perturbation key), ``z`` (layer-centre depth [m], positive down),
  ``y``, ``x`` [m];
- per state and parameter field of the model ``NAME``: ``NAME(run, z, y, x)``
  (``NAME(run, y, x)`` for a single-level field), float64 (a round trip is bit-identical), with
  ``units``;
- ``storage_change_mm(cycle, run)``: the mean over the columns of the absolute change of total
  column water storage over each cycle [mm]; ``column_storage_mm(run, y, x)``: the storage at
  the end [mm];
- global attributes ``fields`` (space-separated), ``seed``, ``window_days``, ``tolerance_mm``,
  ``cycles``, ``converged`` (0 or 1), ``reference_time`` (``[schedule] start``) and
  ``configuration`` (JSON: what the spin-up ran with, :func:`models.landda.spinup.
  spinup_configuration`).

:func:`check_spinup_file` refuses, in one line naming the file, a file of another grid, without
a run this run needs, of another seed or configuration, or without a field of this run's state
(:class:`~pdafpy.errors.InputFileError`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from pdafpy.atomic import atomic_path
from pdafpy.checkpoint import flatten
from pdafpy.errors import InputFileError
from pdafpy.model import FieldSpec, Grid
from pdafpy.output import gather_blocks
from pdafpy.segments import write_failure

from .parameter_files import open_land_file, write_grid_axes

__all__ = ["SpinupFileInfo", "write_spinup", "read_spinup_info", "check_spinup_file",
           "read_states", "configuration_json"]

log = logging.getLogger(__name__)

#: How the read errors name the file.
SPINUP_FILE = "the spin-up file (spinup.file)"

#: Configuration keys named in a refusal at most.
MAX_DIFFERENCES = 4


@dataclass(frozen=True)
class SpinupFileInfo:
    """What a spin-up file says about its spin-up.

    Attributes
    ----------
    path : Path
    keys : (runs,) int ndarray
        The perturbation key of each row.
    cycles : int
    converged : bool
    history : (cycles, runs) ndarray
        Mean absolute change of column water storage per cycle and run [mm].
    seed : int
    configuration : dict
        What the spin-up ran with (as written).
    fields : list of str
    """

    path: Path
    keys: np.ndarray
    cycles: int
    converged: bool
    history: np.ndarray
    seed: int
    configuration: dict
    fields: list[str]

    @property
    def storage_change_mm(self) -> float:
        """The last cycle's storage change of the run that changed most [mm]."""
        return float(self.history[-1].max()) if self.history.size else float("nan")


def configuration_json(configuration: Mapping[str, Any]) -> str:
    """The canonical JSON of a configuration (sorted keys)."""
    return json.dumps(configuration, sort_keys=True, separators=(",", ":"), default=str)


def write_spinup(path: Path | str, comm: Any, boxes: Sequence[Any], grid: Grid, layout: Any,
                 ens: np.ndarray, fields: Sequence[FieldSpec], keys: np.ndarray,
                 history: np.ndarray, storage: np.ndarray, attributes: Mapping[str, Any]
                 ) -> None:
    """Write the spun-up states (collective over the filter ranks; filter rank 0 writes,
    atomically).

    Parameters
    ----------
    path : path
    comm : mpi4py.MPI.Comm
        The filter communicator.
    boxes : sequence of Box
        Every filter rank's block.
    grid : Grid
    layout : StateLayout
        This filter rank's layout.
    ens : (runs, layout.size) ndarray
        This filter rank's block of every run to write, one per perturbation key.
    fields : sequence of FieldSpec
        The fields written (the model's state and parameter fields).
    keys : (runs,) int ndarray
        The perturbation key of each row of ``ens``.
    history : (cycles, runs) ndarray
        Storage change per cycle and run [mm].
    storage : (runs, box.ny, box.nx) ndarray
        Column water storage at the end [mm] on this rank's block.
    attributes : mapping
        Global attributes (``seed``, ``window_days``, ``configuration`` ...).

    Raises
    ------
    OutputError
        On filter rank 0, when the file cannot be written.
    """
    path = Path(path)
    slabs = _slabs(comm, boxes, grid, layout, ens, fields, storage)
    if comm.Get_rank() != 0:
        for _ in slabs:                                     # the gathers rank 0 writes
            pass
        return
    import netCDF4

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            _header(ds, grid, keys, history, fields, attributes)
            for name, index, values in slabs:
                ds[name][index] = values
    except (OSError, RuntimeError) as exc:
        for _ in slabs:                                     # the gathers the others are in
            pass
        raise write_failure(path, exc) from None
    log.info("spun-up states of %d runs written to %s", len(keys), path)


def _slabs(comm: Any, boxes: Sequence[Any], grid: Grid, layout: Any, ens: np.ndarray,
           fields: Sequence[FieldSpec], storage: np.ndarray) -> Iterator[tuple[str, Any, Any]]:
    """``(variable, index, values)`` to write, one field of one run at a time, each gathered
    onto filter rank 0 (collective over the filter ranks: every rank goes through all; values
    are None off rank 0)."""
    for spec in fields:
        view = layout.view(ens, spec.name)                  # (runs, levels, by, bx)
        for r in range(ens.shape[0]):
            full = gather_blocks(comm, boxes, view[r], grid.ny, grid.nx)
            yield spec.name, r, (full if full is None or spec.levels > 1 else full[0])
    yield "column_storage_mm", slice(None), gather_blocks(comm, boxes, storage, grid.ny,
                                                          grid.nx)


def _header(ds: Any, grid: Grid, keys: np.ndarray, history: np.ndarray,
            fields: Sequence[FieldSpec], attributes: Mapping[str, Any]) -> None:
    """Dimensions, coordinates, attributes and the storage history of a new file."""
    ds.Conventions = "CF-1.8"
    ds.title = "pdafpy: spun-up states of the land experiment's runs"
    ds.history = f"written by pdafpy, {datetime.now().isoformat(timespec='seconds')}"
    ds.fields = " ".join(f.name for f in fields)
    for key, value in attributes.items():
        setattr(ds, key, value)
    nz = grid.z.size
    for dim, size in (("run", len(keys)), ("cycle", history.shape[0]), ("z", nz),
                      ("y", grid.ny), ("x", grid.nx)):
        ds.createDimension(dim, size)
    run = ds.createVariable("run", "i8", ("run",))
    run[:] = np.asarray(keys, dtype=np.int64)
    run.long_name = ("perturbation key of the run: every run of a later experiment with this "
                     "key starts from this row")
    write_grid_axes(ds, grid)
    for spec in fields:
        dims = ("run", "z", "y", "x") if spec.levels > 1 else ("run", "y", "x")
        v = ds.createVariable(spec.name, "f8", dims, zlib=True)
        v.units = spec.units
    change = ds.createVariable("storage_change_mm", "f8", ("cycle", "run"))
    change[:] = history
    change.units = "mm"
    change.long_name = ("mean over the columns of the absolute change of total column water "
                        "storage over the cycle")
    storage = ds.createVariable("column_storage_mm", "f8", ("run", "y", "x"), zlib=True)
    storage.units = "mm"
    storage.long_name = "total column water storage (soil water, canopy water, snow) at the end"


def read_spinup_info(path: Path | str) -> SpinupFileInfo:
    """The attributes, run keys and storage history of a spin-up file.

    Raises
    ------
    InputFileError
        One line: missing, not NetCDF, or not a spin-up file pdafpy wrote.
    """
    path = Path(path)
    with open_land_file(path, SPINUP_FILE) as ds:
        ds.set_auto_mask(False)
        needed = ("run", "storage_change_mm")
        missing = [v for v in needed if v not in ds.variables]
        attrs = ds.ncattrs()
        missing += [a for a in ("configuration", "seed", "converged", "fields")
                    if a not in attrs]
        if missing:
            raise InputFileError(f"{path}: no {missing[0]!r}; not a spin-up file written by "
                                 "[spinup] (OUT/spinup.nc)")
        try:
            configuration = json.loads(ds.configuration)
        except ValueError:
            raise InputFileError(f"{path}: its 'configuration' attribute is not JSON; not a "
                                 "spin-up file written by [spinup]") from None
        history = np.asarray(ds["storage_change_mm"][:], dtype=float).reshape(
            -1, len(ds.dimensions["run"]))
        return SpinupFileInfo(path, np.asarray(ds["run"][:], dtype=np.int64),
                              history.shape[0], bool(int(ds.converged)), history,
                              int(ds.seed), configuration, str(ds.fields).split())


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``key = saved (this run: now)`` for each leaf that differs (dotted paths)."""
    a = flatten(json.loads(configuration_json(saved)), sep=".")
    b = flatten(json.loads(configuration_json(now)), sep=".")
    return [f"{k} = {json.dumps(a.get(k))} (this run: {json.dumps(b.get(k))})"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _ranges(keys: Sequence[int]) -> str:
    """``0-3, 5`` for the keys ``0, 1, 2, 3, 5``."""
    keys = sorted(int(k) for k in keys)
    parts, start = [], None
    for i, k in enumerate(keys):
        start = k if start is None else start
        if i + 1 == len(keys) or keys[i + 1] != k + 1:
            parts.append(f"{start}" if start == k else f"{start}-{k}")
            start = None
    return ", ".join(parts) or "none"


def check_spinup_file(path: Path | str, grid: Grid, keys: Sequence[int],
                      fields: Sequence[FieldSpec], seed: int,
                      configuration: Mapping[str, Any]) -> SpinupFileInfo:
    """Whether a spin-up file fits this run: its grid, a row for every perturbation key the
    run has, its seed, its configuration, its fields and their shapes.

    Parameters
    ----------
    path : path
    grid : Grid
        This run's grid (``x``, ``y``, ``z`` must be the file's).
    keys : sequence of int
        The perturbation keys of this run's runs.
    fields : sequence of FieldSpec
        This run's state and parameter fields.
    seed : int
        ``[ensemble] seed``.
    configuration : mapping
        What this run's spin-up would run with (:func:`models.landda.spinup.
        spinup_configuration`).

    Returns
    -------
    SpinupFileInfo

    Raises
    ------
    InputFileError
        One line naming the file and what differs.
    """
    info = read_spinup_info(path)
    path = info.path
    with open_land_file(path, SPINUP_FILE) as ds:
        ds.set_auto_mask(False)
        for name, coords in (("x", grid.x), ("y", grid.y), ("z", grid.z)):
            if name not in ds.variables or ds[name].shape != coords.shape or not np.allclose(
                    ds[name][:], coords, rtol=1e-12, atol=1e-9):
                size = ds[name].shape[0] if name in ds.variables else 0
                raise InputFileError(f"{path}: spun up on another grid: {size} {name} "
                                     f"coordinates, this run has {coords.size} from "
                                     f"{coords[0]:g} to {coords[-1]:g} m")
        if info.seed != int(seed):
            raise InputFileError(f"{path}: spun up with ensemble.seed = {info.seed}, this run "
                                 f"has {seed}")
        missing = sorted(set(int(k) for k in keys) - set(info.keys.tolist()))
        if missing:
            raise InputFileError(f"{path}: holds the runs of perturbation keys "
                                 f"{_ranges(info.keys)}; this run also needs {_ranges(missing)} "
                                 "(the members are keys 0 to ensemble.size - 1, the truth "
                                 "ensemble.size)")
        wrong = _differences(info.configuration, configuration)
        if wrong:
            more = len(wrong) - MAX_DIFFERENCES
            raise InputFileError(f"{path}: spun up with another configuration: "
                                 + ", ".join(wrong[:MAX_DIFFERENCES])
                                 + (f" and {more} more" if more > 0 else ""))
        nz = grid.z.size
        for spec in fields:
            if spec.name not in ds.variables:
                raise InputFileError(f"{path}: no variable {spec.name!r}; this run's state has "
                                     f"it (the file holds {', '.join(info.fields)})")
            want = (info.keys.size, nz, grid.ny, grid.nx) if spec.levels > 1 else (
                info.keys.size, grid.ny, grid.nx)
            if ds[spec.name].shape != want:
                raise InputFileError(f"{path}: variable {spec.name!r} has shape "
                                     f"{ds[spec.name].shape}; expected {want}")
    return info


def read_states(path: Path | str, keys: Sequence[int], fields: Sequence[FieldSpec],
                box: Any) -> dict[str, np.ndarray]:
    """The rows of perturbation keys ``keys`` on a block of columns.

    Parameters
    ----------
    path : path
        A spin-up file (checked by :func:`check_spinup_file`).
    keys : sequence of int
    fields : sequence of FieldSpec
    box : Box

    Returns
    -------
    dict of str to float64 ``(len(keys), levels, box.ny, box.nx)`` arrays.

    Raises
    ------
    InputFileError
        When a row holds non-finite values (naming the field and key).
    """
    path = Path(path)
    with open_land_file(path, SPINUP_FILE) as ds:
        ds.set_auto_mask(False)
        rows = {int(k): i for i, k in enumerate(np.asarray(ds["run"][:]))}
        # netCDF4 reads increasing indices: each row once, then in the order asked
        rows_read, where = np.unique([rows[int(k)] for k in keys], return_inverse=True)
        out = {}
        for spec in fields:
            block = np.asarray(ds[spec.name][rows_read, ..., box.y0:box.y1, box.x0:box.x1],
                               dtype=np.float64)
            data = block.reshape(rows_read.size, spec.levels, box.ny, box.nx)[where]
            bad = ~np.isfinite(data)
            if bad.any():
                raise InputFileError(f"{path}: variable {spec.name!r} has non-finite values "
                                     f"(run of perturbation key "
                                     f"{int(keys[int(np.argwhere(bad)[0][0])])})")
            out[spec.name] = data
    return out
