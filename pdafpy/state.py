"""The state vector: named fields over a rank's block of columns, and the state halo.

On each rank the ensemble is one array ``ens`` of shape ``(n_members, n_state)``. Its columns are
the fields of :class:`~pdafpy.model.FieldSpec` one after another, each flattened in C order over
``(levels, ny, nx)`` of the rank's :class:`~pdafpy.decomposition.Box`. :class:`StateLayout` packs a
model's field arrays into that vector and back, gives views of a field across the ensemble, and
lists the state indices of each grid column (the natural local analysis domain).

:class:`StateHalo` widens a rank's view of a field by ghost columns from the neighbouring filter
ranks, for observation operators that read across a subdomain edge (bilinear interpolation,
footprint averages).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .decomposition import Box
from .errors import ConfigError
from .exchange import exchange
from .model import FieldSpec

__all__ = ["StateLayout", "StateHalo"]


class StateLayout:
    """Where each field of the state sits in a rank's state vector.

    Parameters
    ----------
    fields : sequence of FieldSpec
        The fields, in state-vector order.
    box : Box
        The block of columns this rank holds.
    """

    def __init__(self, fields: Sequence[FieldSpec], box: Box):
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ConfigError(f"field names must be unique, got {names}")
        self.fields = tuple(fields)
        self.box = box
        sizes = [f.levels * box.size for f in fields]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._by_name = {f.name: i for i, f in enumerate(fields)}

    @property
    def size(self) -> int:
        """Length of the rank's state vector."""
        return int(self.offsets[-1])

    def spec(self, name: str) -> FieldSpec:
        """The :class:`FieldSpec` of field ``name``."""
        return self.fields[self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(
                f"unknown field {name!r}; the state holds {list(self._by_name)}") from None

    def field_slice(self, name: str) -> slice:
        """The slice of the state vector that holds field ``name``."""
        i = self._index(name)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def view(self, ens: np.ndarray, name: str) -> np.ndarray:
        """Field ``name`` of every member as a view of shape ``(n_members, levels, ny, nx)``."""
        spec = self.spec(name)
        out = ens[:, self.field_slice(name)].reshape(
            ens.shape[0], spec.levels, self.box.ny, self.box.nx)
        if out.size and not np.shares_memory(out, ens):
            raise ValueError("ensemble array layout does not allow a field view; "
                             "pass an array whose rows are contiguous")
        return out

    def stacked(self, ens: np.ndarray, fields: str | Sequence[str]) -> np.ndarray:
        """What an observation operator reads: field ``fields`` as :meth:`view`, or several
        fields stacked along the level axis in the order given (a copy), shape
        ``(n_members, total levels, ny, nx)``; e.g. ``("water_content", "leaf_area_index")``
        numbers the water content's layers ``0 .. nz - 1`` and the LAI level ``nz``."""
        if isinstance(fields, str):
            return self.view(ens, fields)
        return np.concatenate([self.view(ens, f) for f in fields], axis=1)

    def pack(self, state: Mapping[str, np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        """One member's fields (each ``(levels, ny, nx)``) as a state vector ``(n_state,)``."""
        vec = np.empty(self.size) if out is None else out
        for f in self.fields:
            if f.name not in state:
                raise ConfigError(f"model state lacks field {f.name!r}")
            arr = np.asarray(state[f.name], dtype=float)
            expected = (f.levels, self.box.ny, self.box.nx)
            if arr.shape != expected:
                raise ConfigError(
                    f"field {f.name!r} has shape {arr.shape}, expected {expected}")
            vec[self.field_slice(f.name)] = arr.ravel()
        return vec

    def unpack(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """A state vector as ``{name: (levels, ny, nx) view}``."""
        return {f.name: vector[self.field_slice(f.name)].reshape(f.levels, self.box.ny,
                                                                 self.box.nx)
                for f in self.fields}

    def column_indices(self, names: Sequence[str] | None = None,
                       levels: Mapping[str, Sequence[int]] | None = None) -> np.ndarray:
        """State indices of every column, for local analysis domains of one column each.

        Parameters
        ----------
        names : sequence of str, optional
            Fields to include (default: all), in this order; within a field, levels top-down.
        levels : mapping of str to sequence of int, optional
            For the fields it names, only these levels (0 = top), in the order given; other
            fields keep all their levels.

        Returns
        -------
        (box.size, n_per_column) int64 ndarray
            Row ``c`` (columns row by row, as :meth:`pdafpy.model.Grid.column_coords`) holds the
            state indices of column ``c``.
        """
        names = [f.name for f in self.fields] if names is None else list(names)
        ncol = self.box.size
        parts = []
        for name in names:
            spec = self.spec(name)
            start = self.offsets[self._index(name)]
            level = np.arange(spec.levels, dtype=np.int64)
            if levels is not None and name in levels:
                level = np.asarray(levels[name], dtype=np.int64).reshape(-1)
                if level.size and (level.min() < 0 or level.max() >= spec.levels):
                    raise ValueError(f"levels[{name!r}] = {level.tolist()}: field {name!r} has "
                                     f"levels 0..{spec.levels - 1}")
            parts.append(start + level[None, :] * ncol + np.arange(ncol, dtype=np.int64)[:, None])
        if not parts:
            return np.zeros((ncol, 0), dtype=np.int64)
        return np.concatenate(parts, axis=1)


class StateHalo:
    """Ghost columns of width ``width`` around each filter rank's box, from its neighbours.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The filter communicator.
    boxes : sequence of Box
        Every filter rank's box, in rank order.
    ny, nx : int
        Global grid size.
    width : int
        Ghost columns on each side (clipped at the grid edge; no wrap-around).

    Notes
    -----
    Each rank exchanges with exactly the ranks whose boxes intersect its grown box; a width wider
    than a neighbour's box reaches the ranks beyond it.
    """

    def __init__(self, comm: Any, boxes: Sequence[Box], ny: int, nx: int, width: int):
        if width < 0:
            raise ConfigError(f"state halo width must be >= 0, got {width}")
        self.comm = comm
        self.rank = comm.Get_rank()
        self.box = boxes[self.rank]
        self.width = width
        self.grown = self.box.grow(width, ny, nx)
        self._recv = {}   # rank -> part of its box that lies in my grown box
        self._send = {}   # rank -> part of my box that lies in its grown box
        for q, other in enumerate(boxes):
            if q == self.rank:
                continue
            inter = other.intersect(self.grown)
            if not inter.empty:
                self._recv[q] = inter
            inter = self.box.intersect(other.grow(width, ny, nx))
            if not inter.empty:
                self._send[q] = inter

    def extend(self, field: np.ndarray) -> np.ndarray:
        """A field over the grown box, own columns plus the neighbours' ghost columns.

        Parameters
        ----------
        field : (n_members, levels, box.ny, box.nx) ndarray
            The field on this rank's box (e.g. :meth:`StateLayout.view`).

        Returns
        -------
        (n_members, levels, grown.ny, grown.nx) ndarray
        """
        lead = field.shape[:-2]
        out = np.empty(lead + (self.grown.ny, self.grown.nx))
        out[(..., *self.grown.local_slices(self.box))] = field
        sends = {q: field[(..., *self.box.local_slices(b))] for q, b in self._send.items()}
        sizes = {p: int(np.prod(lead)) * b.size for p, b in self._recv.items()}
        got = exchange(self.comm, sends, sizes, tag=11)
        for p, b in self._recv.items():
            out[(..., *self.grown.local_slices(b))] = got[p].reshape(lead + (b.ny, b.nx))
        return out
