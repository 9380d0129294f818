"""The subsurface grid: a PETSc DMDA of ``nx`` x ``ny`` columns of ``nz`` layers.

Layers are numbered top-down (``k = 0`` is the surface layer) and their thicknesses ``dz[k]`` are
given top-down, as in ParFlow's variable-dz setups. The process grid is ``(px, py, 1)``: a soil
column is never split across ranks, so each rank owns a :class:`~pdafpy.decomposition.Box` of
whole columns, split by PETSc's rule (the same as :func:`pdafpy.decomposition.split_extent`).

Arrays over the cells a rank owns are shaped ``(nz, box.ny, box.nx)`` (levels, rows, columns), the
layout of pdafpy's state arrays; arrays over the ghosted block (one ghost cell on every side that
has a neighbouring rank) are shaped ``(nz, gny, gnx)``.

Room for terrain-following grids: the vertical gravity term of a face is kept as a separate
array (:attr:`RichardsGrid.gravity_z`), and lateral faces carry a zero gravity term today; slopes
would fill those terms in without touching the flux code.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from pdafpy.decomposition import Box, choose_process_grid
from pdafpy.errors import ConfigError, LayoutError

__all__ = ["RichardsGrid", "validate_grid", "check_index_range", "ZHAO2025_DZ",
           "STENCIL_NONZEROS"]

log = logging.getLogger(__name__)

#: The 30 layer thicknesses [m], top-down, of the ParFlow setup of Zhao et al. (2025): 10 layers
#: to 3 m, then 20 x 1.35 m to 30 m.
ZHAO2025_DZ: tuple[float, ...] = (0.02, 0.03, 0.05, 0.07, 0.13, 0.20, 0.30, 0.50, 0.70, 1.00) \
    + (1.35,) * 20


#: Nonzeros per row of the Jacobian (7-point stencil).
STENCIL_NONZEROS = 7


def check_index_range(nx: int, ny: int, nz: int, ranks: int = 1) -> None:
    """Refuse a grid PETSc's integer type cannot index: its cells (the DMDA's global size) or
    the Jacobian's nonzeros on one rank beyond ``PETSc.IntType`` (32 bits unless PETSc was
    built with ``--with-64-bit-indices``).

    Parameters
    ----------
    nx, ny, nz : int
        Columns along x and y, layers.
    ranks : int
        Ranks the columns are split over.

    Raises
    ------
    ConfigError
        Naming the grid keys, the count and the limit.
    """
    from petsc4py import PETSc

    largest = int(np.iinfo(PETSc.IntType).max)
    bits = 8 * np.dtype(PETSc.IntType).itemsize
    cells = nx * ny * nz
    keys = f"grid.nx = {nx}, grid.ny = {ny}"
    if cells > largest:
        raise ConfigError(f"{keys}: {cells} cells ({nx} x {ny} x {nz} layers) overflow PETSc's "
                          f"{bits}-bit index (at most {largest}); use a smaller grid or a PETSc "
                          "built with 64-bit indices")
    per_rank = -(-nx * ny // ranks) * nz * STENCIL_NONZEROS
    if per_rank > largest:
        raise ConfigError(f"{keys}: the Jacobian's {per_rank} nonzeros on one of {ranks} ranks "
                          f"overflow PETSc's {bits}-bit index (at most {largest}); use more ranks "
                          "per model task or a smaller grid")


def validate_grid(nx: int, ny: int, dz: Sequence[float], dx: float, dy: float,
                  size: int = 1) -> np.ndarray:
    """Check grid parameters and return ``dz`` as a float array.

    Parameters
    ----------
    nx, ny : int
        Columns along x and rows along y.
    dz : (nz,) sequence of float
        Layer thicknesses [m], top-down.
    dx, dy : float
        Horizontal spacings [m].
    size : int
        Number of ranks the grid must be split over.

    Raises
    ------
    ConfigError
        Naming the parameter and its value, for a non-positive size or spacing, a layer
        thickness <= 0, or a horizontal grid that cannot be split over ``size`` ranks.
    """
    for name, val in (("nx", nx), ("ny", ny)):
        if int(val) != val or val < 1:
            raise ConfigError(f"richards grid: {name} must be a positive integer, got {val!r}")
    for name, val in (("dx_m", dx), ("dy_m", dy)):
        if not np.isfinite(val) or val <= 0:
            raise ConfigError(f"richards grid: {name} must be > 0, got {val!r}")
    dz_arr = np.atleast_1d(np.asarray(dz, dtype=float))
    if dz_arr.ndim != 1 or dz_arr.size < 1:
        raise ConfigError(f"richards grid: dz_m must be a non-empty list of layer thicknesses, "
                          f"got {dz!r}")
    bad = np.flatnonzero(~np.isfinite(dz_arr) | (dz_arr <= 0))
    if bad.size:
        k = int(bad[0])
        raise ConfigError(f"richards grid: layer thickness dz_m[{k}] must be > 0, "
                          f"got {dz_arr[k]!r}")
    try:
        choose_process_grid(size, int(ny), int(nx))
    except LayoutError as exc:
        raise ConfigError(f"richards grid: nx={nx}, ny={ny} columns cannot be split over "
                          f"{size} ranks (columns are never split): {exc}") from None
    return dz_arr


class RichardsGrid:
    """A DMDA of whole soil columns, with its geometry and the helpers that move arrays around.

    Parameters
    ----------
    comm : mpi4py or petsc4py communicator
        The ranks of one model task.
    nx, ny : int
        Columns along x and rows along y.
    dz : (nz,) sequence of float
        Layer thicknesses [m], top-down.
    dx, dy : float
        Horizontal spacings [m].

    Attributes
    ----------
    da : PETSc.DMDA
        The 3D DMDA, sizes ``(nx, ny, nz)``, process grid ``(px, py, 1)``, box stencil of width 1.
    box : Box
        The columns this rank owns.
    depth : (nz,) float ndarray
        Depth of the layer centres below the surface [m], positive down.
    sy, sx : slice
        The owned rows and columns inside the ghosted block.
    """

    def __init__(self, comm: Any, nx: int, ny: int, dz: Sequence[float], dx: float = 1.0,
                 dy: float = 1.0) -> None:
        from petsc4py import PETSc

        pcomm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
        self.comm = pcomm
        self.mpi_comm = pcomm.tompi4py()
        self.dz = validate_grid(nx, ny, dz, dx, dy, pcomm.getSize())
        self.nx, self.ny, self.nz = int(nx), int(ny), int(self.dz.size)
        self.dx, self.dy = float(dx), float(dy)
        py, px = choose_process_grid(pcomm.getSize(), self.ny, self.nx)
        self.proc_sizes = (px, py, 1)
        self.da = PETSc.DMDA().create(
            dim=3, dof=1, sizes=(self.nx, self.ny, self.nz), proc_sizes=self.proc_sizes,
            boundary_type=(PETSc.DM.BoundaryType.NONE,) * 3,
            stencil_type=PETSc.DMDA.StencilType.BOX, stencil_width=1, comm=pcomm)
        (xs, xe), (ys, ye), (zs, ze) = self.da.getRanges()
        (gxs, gxe), (gys, gye), _ = self.da.getGhostRanges()
        assert (zs, ze) == (0, self.nz)
        self.box = Box(ys, ye, xs, xe)
        self.ghost_box = Box(gys, gye, gxs, gxe)
        self.sy = slice(ys - gys, ye - gys)
        self.sx = slice(xs - gxs, xe - gxs)
        self.owned_shape = (self.nz, ye - ys, xe - xs)
        self.ghost_shape = (self.nz, gye - gys, gxe - gxs)
        self.n_owned = int(np.prod(self.owned_shape))
        self.n_cells = self.nx * self.ny * self.nz
        # geometry
        self.interfaces = np.concatenate([[0.0], np.cumsum(self.dz)])   # depths of interfaces
        self.depth = 0.5 * (self.interfaces[:-1] + self.interfaces[1:])
        self.total_depth = float(self.interfaces[-1])
        self.volume = (self.dx * self.dy * self.dz)[:, None, None]          # (nz, 1, 1) [m3]
        #: vertical gravity term of the face between layers k and k+1: elevation difference of
        #: the centres [m]; terrain-following grids would add slope terms to lateral faces here.
        self.gravity_z = (0.5 * (self.dz[:-1] + self.dz[1:]))[:, None, None]
        self.x = (np.arange(self.nx) + 0.5) * self.dx
        self.y = (np.arange(self.ny) + 0.5) * self.dy
        self.x_owned = self.x[xs:xe]
        self.y_owned = self.y[ys:ye]
        # work vectors
        self._gvec = self.da.createGlobalVec()
        self._lvec = self.da.createLocalVec()
        lg = self.da.getLGMap().getIndices()
        self.ghost_global_index = np.asarray(lg, dtype=np.int64).reshape(self.ghost_shape)
        log.debug("richards grid %dx%dx%d on %d ranks, process grid %s, box %s",
                  self.nx, self.ny, self.nz, pcomm.getSize(), self.proc_sizes, self.box)

    # ---------------------------------------------------------------------------------------
    def owned(self, value: Any, name: str) -> np.ndarray:
        """A parameter given globally, as an array over the owned cells.

        Parameters
        ----------
        value : float, (nz,), (ny, nx) or (nz, ny, nx) array_like
            A constant, one value per layer (top-down), one per column, or one per cell of the
            global grid.
        name : str
            The parameter's name, for error messages.

        Returns
        -------
        (nz, box.ny, box.nx) float ndarray
        """
        arr = np.asarray(value, dtype=float)
        b = self.box
        if arr.ndim == 0:
            out = np.full(self.owned_shape, float(arr))
        elif arr.shape == (self.nz,):
            out = np.broadcast_to(arr[:, None, None], self.owned_shape).copy()
        elif arr.shape == (self.ny, self.nx):
            out = np.broadcast_to(arr[None, b.y0:b.y1, b.x0:b.x1], self.owned_shape).copy()
        elif arr.shape == (self.nz, self.ny, self.nx):
            out = arr[:, b.y0:b.y1, b.x0:b.x1].copy()
        else:
            raise ConfigError(
                f"richards: {name} must be a scalar, {self.nz} values (one per layer), "
                f"a ({self.ny}, {self.nx}) array (one per column) or a ({self.nz}, {self.ny}, "
                f"{self.nx}) array (one per cell), got shape {arr.shape}")
        return out

    def ghosted(self, owned: np.ndarray) -> np.ndarray:
        """The ghosted block of an owned-cell array (a halo exchange; collective).

        Parameters
        ----------
        owned : (nz, box.ny, box.nx) float ndarray

        Returns
        -------
        (nz, gny, gnx) float ndarray
        """
        self._gvec.array[:] = np.ascontiguousarray(owned, dtype=float).ravel()
        self.da.globalToLocal(self._gvec, self._lvec)
        return self._lvec.getArray(readonly=True).reshape(self.ghost_shape).copy()

    def gather(self, owned: np.ndarray) -> np.ndarray:
        """The global ``(nz, ny, nx)`` array of an owned-cell array, on every rank (tests only)."""
        parts = self.mpi_comm.allgather((self.box, np.ascontiguousarray(owned)))
        out = np.empty((self.nz, self.ny, self.nx))
        for box, part in parts:
            out[:, box.y0:box.y1, box.x0:box.x1] = part
        return out

    def sum(self, value: float) -> float:
        """Sum of a float over the ranks of the task (collective)."""
        from mpi4py import MPI
        return float(self.mpi_comm.allreduce(float(value), op=MPI.SUM))

    def max(self, value: float) -> float:
        """Maximum of a float over the ranks of the task (collective)."""
        from mpi4py import MPI
        return float(self.mpi_comm.allreduce(float(value), op=MPI.MAX))

    def destroy(self) -> None:
        """Free the PETSc objects."""
        self._gvec.destroy()
        self._lvec.destroy()
        self.da.destroy()
