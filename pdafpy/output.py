"""NetCDF output of ensemble statistics, CF conventions, written by one rank.

Each filter rank computes the ensemble mean and spread (standard deviation, ddof 1) of its block;
filter rank 0 gathers the blocks and appends one record per output time to a NetCDF4 file with
dimensions ``(time, z, y, x)`` (``member`` too when members are written). Debian's netCDF4 has no
parallel I/O, hence the single writer; the gather moves two fields per variable, not the ensemble.

The file is written as ``NAME.nc.part`` and synced after every record, and renamed to ``NAME.nc``
by :meth:`EnsembleWriter.close`: a run that fails midway keeps every record written so far in the
``.part`` file, and a finished file never appears half written.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .decomposition import Box
from .errors import InputFileError
from .model import FieldSpec, Grid
from .state import StateLayout

__all__ = ["EnsembleWriter", "gather_blocks"]


def gather_blocks(comm: Any, boxes: Sequence[Box], local: np.ndarray, ny: int,
                  nx: int) -> np.ndarray | None:
    """Assemble ``(..., box.ny, box.nx)`` blocks into ``(..., ny, nx)`` on rank 0 (None elsewhere)."""
    parts = comm.gather(np.ascontiguousarray(local), root=0)
    if comm.Get_rank():
        return None
    full = np.empty(local.shape[:-2] + (ny, nx))
    for b, part in zip(boxes, parts):
        full[..., b.y0:b.y1, b.x0:b.x1] = part
    return full


class EnsembleWriter:
    """Append ensemble mean, spread (and optionally members) of fields to a CF NetCDF file.

    Parameters
    ----------
    path : Path
        Final file name (``.nc``).
    comm : mpi4py.MPI.Comm
        Filter communicator; every rank calls :meth:`write` and :meth:`close`.
    boxes : sequence of Box
        Every filter rank's block.
    grid : Grid
        Coordinates: ``x``, ``y`` [m], ``z`` depth of level centres [m].
    fields : sequence of FieldSpec
        Fields to write.
    reference_time : str
        ISO time of ``time = 0`` (CF ``units = "seconds since ..."``).
    members : bool
        Also write every member (dimension ``member``).
    attributes : dict, optional
        Global attributes (title, model, filter, ...).
    z_bounds : (nz + 1,) array, optional
        Depths of the layer interfaces [m], top down; written as the CF bounds ``z_bnds(z, nv)``
        of ``z`` (layer-averaged quantities need the thicknesses).
    """

    def __init__(self, path: Path | str, comm: Any, boxes: Sequence[Box], grid: Grid,
                 fields: Sequence[FieldSpec], reference_time: str, n_members: int,
                 members: bool = False, attributes: dict | None = None,
                 z_bounds: Sequence[float] | None = None):
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.comm = comm
        self.boxes = list(boxes)
        self.grid = grid
        self.fields = tuple(fields)
        self.members = members
        self.n_members = n_members
        self.z_bounds = None if z_bounds is None else np.asarray(z_bounds, dtype=float)
        nz = max([f.levels for f in self.fields] + [1])
        if self.z_bounds is not None and self.z_bounds.shape != (nz + 1,):
            raise ValueError(f"{self.path}: z_bounds must hold nz + 1 = {nz + 1} interface "
                             f"depths, got shape {self.z_bounds.shape}")
        self._ds = None
        if comm.Get_rank() == 0:
            self._create(reference_time, attributes or {})

    def _create(self, reference_time: str, attributes: dict) -> None:
        import netCDF4

        self.path.parent.mkdir(parents=True, exist_ok=True)
        ds = netCDF4.Dataset(self.part, "w", format="NETCDF4")
        ds.Conventions = "CF-1.8"
        ds.history = f"written by pdafpy, {datetime.now().isoformat(timespec='seconds')}"
        for key, value in attributes.items():
            setattr(ds, key, value)
        ds.createDimension("time", None)
        ds.createDimension("y", self.grid.ny)
        ds.createDimension("x", self.grid.nx)
        nz = max([f.levels for f in self.fields] + [1])
        ds.createDimension("z", nz)
        if self.members:
            ds.createDimension("member", self.n_members)
            ds.createVariable("member", "i4", ("member",))[:] = np.arange(1, self.n_members + 1)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = f"seconds since {reference_time.replace('T', ' ')}"
        t.standard_name = "time"
        t.calendar = "standard"
        ds.createVariable("kind", "i1", ("time",)).flag_meanings = "forecast analysis"
        ds["kind"].flag_values = np.array([0, 1], dtype="i1")
        for name, values, units, std in (("x", self.grid.x, "m", "projection_x_coordinate"),
                                         ("y", self.grid.y, "m", "projection_y_coordinate")):
            v = ds.createVariable(name, "f8", (name,))
            v[:] = values
            v.units, v.standard_name = units, std
        z = ds.createVariable("z", "f8", ("z",))
        z[:] = self.grid.z[:nz] if self.grid.z.size >= nz else np.arange(nz, dtype=float)
        z.units, z.positive, z.long_name = "m", "down", "depth of the level centre"
        if self.z_bounds is not None:
            ds.createDimension("nv", 2)
            zb = ds.createVariable("z_bnds", "f8", ("z", "nv"))
            zb[:] = np.column_stack([self.z_bounds[:-1], self.z_bounds[1:]])
            zb.units = "m"
            z.bounds = "z_bnds"
        for f in self.fields:
            dims = ("time",) + (("z",) if f.levels > 1 else ()) + ("y", "x")
            for suffix, long in (("mean", "ensemble mean"), ("spread", "ensemble spread")):
                v = ds.createVariable(f"{f.name}_{suffix}", "f8", dims, zlib=True)
                v.units, v.long_name = f.units, f"{long} of {f.name}"
            if self.members:
                v = ds.createVariable(f.name, "f4", dims[:1] + ("member",) + dims[1:], zlib=True)
                v.units, v.long_name = f.units, f"{f.name} of each member"
        self._ds = ds

    def write(self, time_s: float, analysis: bool, ens: np.ndarray, layout: StateLayout) -> None:
        """Append one record (collective over the filter ranks).

        Parameters
        ----------
        time_s : float
            Seconds since the reference time.
        analysis : bool
            False for a forecast record, True for an analysis record.
        ens : (N, n_state) ndarray
            This filter rank's ensemble.
        layout : StateLayout
        """
        records = {}
        for f in self.fields:
            view = layout.view(ens, f.name)
            spread = view.std(axis=0, ddof=1) if view.shape[0] > 1 else np.zeros(view.shape[1:])
            stats = np.stack([view.mean(axis=0), spread])
            records[f.name] = gather_blocks(self.comm, self.boxes, stats, self.grid.ny,
                                            self.grid.nx)
            if self.members:
                records[f.name + "/members"] = gather_blocks(self.comm, self.boxes, view,
                                                             self.grid.ny, self.grid.nx)
        if self._ds is None:
            return
        ds = self._ds
        k = len(ds.dimensions["time"])
        ds["time"][k] = time_s
        ds["kind"][k] = 1 if analysis else 0
        for f in self.fields:
            mean, spread = records[f.name]
            squeeze = (lambda a: a[0]) if f.levels == 1 else (lambda a: a)
            ds[f"{f.name}_mean"][k] = squeeze(mean)
            ds[f"{f.name}_spread"][k] = squeeze(spread)
            if self.members:
                members = records[f.name + "/members"]
                ds[f.name][k] = members[:, 0] if f.levels == 1 else members
        ds.sync()

    def records(self) -> dict[str, np.ndarray]:
        """Every record written so far, by variable along ``time`` (``time``, ``kind``, the
        ``*_mean`` and ``*_spread`` fields, members), for a checkpoint; empty off rank 0."""
        if self._ds is None:
            return {}
        self._ds.set_auto_mask(False)
        return {name: np.array(var[:]) for name, var in self._ds.variables.items()
                if var.dimensions[:1] == ("time",)}

    def append_records(self, records: dict[str, np.ndarray]) -> None:
        """Write back :meth:`records` of an earlier run (rank 0; a no-op elsewhere), so that a
        restarted run's file holds the same records as an uninterrupted run's."""
        if self._ds is None or not records:
            return
        ds = self._ds
        mine = {name for name, var in ds.variables.items() if var.dimensions[:1] == ("time",)}
        if set(records) != mine:
            raise InputFileError(f"{self.path}: the records to continue from have the variables "
                                 f"{sorted(records)}, this file {sorted(mine)}")
        k = len(ds.dimensions["time"])
        n = len(records["time"])
        for name, values in records.items():
            ds[name][k:k + n] = values
        ds.sync()

    def close(self) -> None:
        """Close the file and give it its final name (collective)."""
        if self._ds is not None:
            self._ds.close()
            self._ds = None
            self.part.replace(self.path)
        self.comm.Barrier()
