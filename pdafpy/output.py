"""NetCDF output of ensemble statistics, CF conventions, written by one rank.

Each filter rank computes the ensemble mean and spread (standard deviation, ddof 1) of its block;
filter rank 0 gathers the blocks and appends one record per output time to a NetCDF file
(NETCDF4_CLASSIC, compressed) with dimensions ``(time, z, y, x)`` (``member`` too when members are
written). Debian's netCDF4 has no parallel I/O, hence the single writer; the gather moves two
fields per variable, not the ensemble.

The output ``NAME.nc`` is written in segments, one per checkpoint interval
(:mod:`pdafpy.segments`): each is synced after every record and renamed into place when closed,
so a run that fails midway loses at most the open segment, and a closed file is never half
written. ``xarray.open_mfdataset("NAME.*.nc")`` or :func:`pdafpy.segments.open_output` read them
as one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .decomposition import Box
from .model import FieldSpec, Grid
from .segments import SegmentedWriter, write_failure
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


class EnsembleWriter(SegmentedWriter):
    """Append ensemble mean, spread (and optionally members) of fields to CF NetCDF segments.

    Parameters
    ----------
    path : Path
        The output's name, ``NAME.nc`` (its segments are ``NAME.00000.nc``, ...).
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
        super().__init__(path, comm.Get_rank() == 0)
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
        self.reference_time = reference_time
        self.attributes = dict(attributes or {})

    def _create(self, path: Path) -> Any:
        import netCDF4

        ds = netCDF4.Dataset(path, "w", format="NETCDF4_CLASSIC")
        ds.Conventions = "CF-1.8"
        ds.history = f"written by pdafpy, {datetime.now().isoformat(timespec='seconds')}"
        ds.segment = self.segment
        for key, value in self.attributes.items():
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
        t.units = f"seconds since {self.reference_time.replace('T', ' ')}"
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
        return ds

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
        if not self.writes:
            self.written(1)
            return
        ds = self.dataset()
        try:
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
        except (OSError, RuntimeError) as exc:
            raise write_failure(self.part, exc) from None
        self.written(1)

    def close(self) -> None:
        """Close the last segment and rename it into place (collective)."""
        super().close()
        self.comm.Barrier()
