"""Linear observation operators on structured grids, in PDAF-OMI's manner.

An operator maps each observation to a weighted sum of grid values of one field: a stencil of
``r`` grid points per observation with coefficients (PDAF-OMI's ``id_obs_p`` / ``icoeff_p``).
Stencils are given in global grid indices (level, row, column), so an operator does not depend on
how the grid is split over ranks; the owner of an observation evaluates it on its block of columns
widened by a state halo when the stencil reaches past the block's edge.

Builders:

- :func:`grid_point` -- the value at one grid point (PDAF ``obs_op_gridpoint``);
- :func:`bilinear` -- bilinear interpolation of the four surrounding grid points
  (PDAF ``obs_op_interp_lin`` with ``PDAFomi_get_interp_coeff_lin``);
- :func:`grid_average` -- the mean over a footprint of grid points (PDAF ``obs_op_gridavg``),
  optionally weighted (e.g. by layer thickness).

Non-linear operators (a CRNS depth weighting that depends on the soil moisture it observes) use
:class:`ColumnFunctionOperator`: the same stencil gathers the points each observation needs, and
a function of those values, instead of fixed weights, gives the observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..decomposition import Box
from ..errors import ConfigError
from ..model import Grid

__all__ = ["StencilOperator", "ColumnFunctionOperator", "grid_point", "bilinear", "grid_average",
           "column_function"]


@dataclass(frozen=True)
class StencilOperator:
    """``H(x)_i = sum_r coeff[i, r] * field[level[i, r], row[i, r], col[i, r]]``.

    Attributes
    ----------
    field : str or tuple of str
        Name of the state field the operator reads, or of several fields it reads stacked along
        the level axis in this order (:meth:`pdafpy.state.StateLayout.stacked`: levels numbered
        through the fields one after another), for an operator of several variables.
    level, row, col : (m, r) int64 ndarray
        Global indices of the stencil points (0-based).
    coeff : (m, r) float ndarray
        Weights of the stencil points (padding points carry weight 0).
    """

    field: str | tuple[str, ...]
    level: np.ndarray
    row: np.ndarray
    col: np.ndarray
    coeff: np.ndarray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.level, self.row, self.col, self.coeff)}
        if len(shapes) != 1 or self.coeff.ndim != 2:
            raise ConfigError(f"operator on {self.field!r}: stencil arrays must share one "
                              f"(m, r) shape, got {sorted(shapes)}")

    @property
    def size(self) -> int:
        """Number of observations."""
        return self.coeff.shape[0]

    def subset(self, index: np.ndarray) -> "StencilOperator":
        """The operator of the observations ``index`` only."""
        return StencilOperator(self.field, self.level[index], self.row[index], self.col[index],
                               self.coeff[index])

    def reach(self, box: Box) -> int:
        """How many columns past ``box`` the stencils reach (0 when they stay inside)."""
        if self.size == 0:
            return 0
        live = self.coeff != 0
        rows = np.where(live, self.row, box.y0)
        cols = np.where(live, self.col, box.x0)
        return int(max(0, box.y0 - rows.min(), rows.max() - (box.y1 - 1),
                       box.x0 - cols.min(), cols.max() - (box.x1 - 1)))

    def apply(self, field: np.ndarray, box: Box) -> np.ndarray:
        """Evaluate the operator for every member.

        Parameters
        ----------
        field : (n_members, levels, box.ny, box.nx) ndarray
            The field over ``box`` (a rank's block, possibly grown by a halo).
        box : Box
            The block ``field`` covers; every live stencil point must lie inside it.

        Returns
        -------
        (n_members, m) ndarray
        """
        live = self.coeff != 0
        r, c = self.row - box.y0, self.col - box.x0
        if not live.all():                              # padding points read (0, 0)
            r, c = np.where(live, r, 0), np.where(live, c, 0)
        if r.size and (r.min() < 0 or r.max() >= box.ny or c.min() < 0 or c.max() >= box.nx):
            raise ConfigError(f"operator on {self.field!r} reaches past the state halo; "
                              "widen the halo")
        return self._weighted(field[:, self.level, r, c])

    def apply_shared(self, field: np.ndarray, box: Box, comm) -> np.ndarray:
        """Evaluate the operator for every member on every rank of ``comm``, from owned blocks.

        Each rank reads the stencil points inside its own block (no halo needed); one allreduce
        of the ``(n_members, m, r)`` point values then gives every rank all of them (each point
        is owned by exactly one rank, the others add exact zeros), and the weights are applied
        as in :meth:`apply`, so the result does not depend on the decomposition.

        Parameters
        ----------
        field : (n_members, levels, box.ny, box.nx) ndarray
            The field over this rank's block ``box``; the blocks of ``comm`` tile the grid.
        box : Box
        comm : mpi4py.MPI.Comm

        Returns
        -------
        (n_members, m) ndarray, the same on every rank.
        """
        from mpi4py import MPI

        inside = (self.coeff != 0) & (self.row >= box.y0) & (self.row < box.y1) \
            & (self.col >= box.x0) & (self.col < box.x1)
        values = np.zeros((field.shape[0],) + self.coeff.shape)
        values[:, inside] = field[:, self.level[inside], self.row[inside] - box.y0,
                                  self.col[inside] - box.x0]
        comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
        return self._weighted(values)

    def _weighted(self, values: np.ndarray) -> np.ndarray:
        """``sum_r coeff[m, r] values[k, m, r]``, summed in one order whatever the memory layout
        of ``values`` (a fancy-indexed array may come out transposed in memory)."""
        return np.einsum("kmr,mr->km", np.ascontiguousarray(values), self.coeff)


@dataclass(frozen=True)
class ColumnFunctionOperator(StencilOperator):
    """``H(x)_i = function(values_i)``: a non-linear operator on each observation's stencil.

    The stencil (``level``, ``row``, ``col``; ``coeff`` non-zero where a point is used) gathers,
    for every member, the values each observation reads, like a :class:`StencilOperator`, so it
    is evaluated on the rank owning the observation with the same state halo.

    Attributes
    ----------
    function : callable
        ``function(values, coeff) -> (n_members, m)`` from the stencil values
        ``(n_members, m, r)`` and the stencil's ``coeff`` ``(m, r)`` (which may carry fixed
        per-point data, e.g. layer thicknesses). It must treat observations independently
        (row ``i`` of the result depends on ``values[:, i]`` only), so that any subset of the
        observations gives the same values.
    parameters : (m, k) float ndarray, optional
        Per-observation data of any sign (e.g. regression coefficients and climatologies at the
        observation's cell and time), subset with the observations; when given, the function is
        called ``function(values, coeff, parameters)``.
    """

    function: Callable[..., np.ndarray] = None
    parameters: np.ndarray | None = None

    def subset(self, index: np.ndarray) -> "ColumnFunctionOperator":
        return ColumnFunctionOperator(self.field, self.level[index], self.row[index],
                                      self.col[index], self.coeff[index], self.function,
                                      None if self.parameters is None
                                      else self.parameters[index])

    def _weighted(self, values: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values)
        if self.parameters is None:
            return np.asarray(self.function(values, self.coeff), dtype=float)
        return np.asarray(self.function(values, self.coeff, self.parameters), dtype=float)


def column_function(field: str | tuple[str, ...], row: np.ndarray, col: np.ndarray,
                    levels: np.ndarray, function: Callable[..., np.ndarray],
                    data: np.ndarray | None = None,
                    parameters: np.ndarray | None = None) -> ColumnFunctionOperator:
    """A :class:`ColumnFunctionOperator` reading ``levels`` of field ``field`` in the grid
    column ``(row[i], col[i])`` of each observation.

    Parameters
    ----------
    row, col : (m,) int ndarray
        Global grid column of each observation.
    levels : (r,) int ndarray
        The levels read (e.g. every soil layer).
    function : callable
        See :class:`ColumnFunctionOperator`.
    data : (m, r) float ndarray, optional
        Per-point data handed to ``function`` as ``coeff`` (non-zero; default ones).
    parameters : (m, k) float ndarray, optional
        Per-observation data handed to ``function`` as its third argument.
    """
    row = np.asarray(row, dtype=np.int64).reshape(-1, 1)
    col = np.asarray(col, dtype=np.int64).reshape(-1, 1)
    levels = np.asarray(levels, dtype=np.int64).reshape(1, -1)
    shape = (row.shape[0], levels.shape[1])
    coeff = np.ones(shape) if data is None else np.asarray(data, dtype=float).reshape(shape)
    if np.any(coeff == 0):
        raise ConfigError(f"column_function on {field!r}: data must be non-zero (zero marks an "
                          "unused stencil point)")
    return ColumnFunctionOperator(field, np.broadcast_to(levels, shape).copy(),
                                  np.broadcast_to(row, shape).copy(),
                                  np.broadcast_to(col, shape).copy(), coeff, function,
                                  None if parameters is None
                                  else np.asarray(parameters, dtype=float).reshape(shape[0], -1))


def grid_point(field: str, row: np.ndarray, col: np.ndarray,
               level: np.ndarray | int = 0) -> StencilOperator:
    """Observations of grid points ``(level, row, col)`` (global, 0-based)."""
    row = np.asarray(row, dtype=np.int64).reshape(-1, 1)
    col = np.asarray(col, dtype=np.int64).reshape(-1, 1)
    level = np.broadcast_to(np.asarray(level, dtype=np.int64).reshape(-1, 1), row.shape).copy()
    return StencilOperator(field, level, row, col, np.ones(row.shape))


def bilinear(field: str, grid: Grid, x: np.ndarray, y: np.ndarray,
             level: np.ndarray | int = 0) -> StencilOperator:
    """Bilinear interpolation at points ``(x, y)`` between the four surrounding grid points.

    The surrounding points are the grid column at or left of ``x`` and the next one, likewise in
    y, as in PDAF's tutorial (observation type C); a point on the last grid line uses the cell
    before it. Grid coordinates must increase monotonically.

    Parameters
    ----------
    grid : Grid
        Supplies the column coordinates ``grid.x`` and row coordinates ``grid.y``.
    x, y : (m,) float ndarray
        Observation coordinates, in the units of ``grid.x`` and ``grid.y``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    outside = (x < grid.x[0]) | (x > grid.x[-1]) | (y < grid.y[0]) | (y > grid.y[-1])
    if np.any(outside):
        k = int(np.flatnonzero(outside)[0])
        raise ConfigError(f"observation at (x={x[k]}, y={y[k]}) lies outside the grid "
                          f"x in [{grid.x[0]}, {grid.x[-1]}], y in [{grid.y[0]}, {grid.y[-1]}]")
    j = np.clip(np.searchsorted(grid.x, x, side="right") - 1, 0, grid.nx - 2)
    i = np.clip(np.searchsorted(grid.y, y, side="right") - 1, 0, grid.ny - 2)
    wx = (x - grid.x[j]) / (grid.x[j + 1] - grid.x[j])
    wy = (y - grid.y[i]) / (grid.y[i + 1] - grid.y[i])
    row = np.stack([i, i, i + 1, i + 1], axis=1)
    col = np.stack([j, j + 1, j, j + 1], axis=1)
    coeff = np.stack([(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy], axis=1)
    level = np.broadcast_to(np.asarray(level, dtype=np.int64).reshape(-1, 1), row.shape).copy()
    return StencilOperator(field, level, row, col, coeff)


def grid_average(field: str, row: np.ndarray, col: np.ndarray, level: np.ndarray | int = 0,
                 weight: np.ndarray | None = None) -> StencilOperator:
    """Weighted mean over a footprint of grid points per observation.

    Parameters
    ----------
    row, col : (m, r) int ndarray
        Global indices of each observation's footprint points; pad with ``-1`` where a footprint
        has fewer than ``r`` points.
    level : int or (m, r) int ndarray
        Level of each point.
    weight : (m, r) float ndarray, optional
        Relative weights (e.g. layer thickness [m]); normalised per observation. Default: equal.
    """
    row = np.atleast_2d(np.asarray(row, dtype=np.int64))
    col = np.atleast_2d(np.asarray(col, dtype=np.int64))
    valid = (row >= 0) & (col >= 0)
    w = np.ones(row.shape) if weight is None else np.asarray(weight, dtype=float)
    w = np.where(valid, w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ConfigError(f"grid_average on {field!r}: an observation has an empty footprint")
    level = np.broadcast_to(np.asarray(level, dtype=np.int64), row.shape).copy()
    return StencilOperator(field, np.where(valid, level, 0), np.where(valid, row, 0),
                           np.where(valid, col, 0), w / total)
