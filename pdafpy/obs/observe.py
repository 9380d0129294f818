"""Evaluate the observation operators on the filter ranks.

Each filter rank keeps the observations it owns (:func:`~pdafpy.obs.ownership.owner_of`) and
applies their operators to its ensemble. Where a stencil reaches past the rank's block, the field
is widened by a :class:`~pdafpy.state.StateHalo` just wide enough for the widest reach on any rank.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..decomposition import Box
from ..model import Grid
from ..state import StateHalo, StateLayout
from .ownership import owner_of
from .types import ObservationSet, ObservationType

__all__ = ["observe_owned"]

log = logging.getLogger(__name__)


def observe_owned(types: Sequence[ObservationType], ens: np.ndarray, layout: StateLayout,
                  grid: Grid, comm: Any, boxes: Sequence[Box]) -> ObservationSet:
    """The observations this filter rank owns, with their observed ensemble.

    Parameters
    ----------
    types : sequence of ObservationType
        All observation types (the full lists; each rank keeps what it owns). Global indices
        number the types' observations one after another in this order.
    ens : (n_members, n_state) ndarray
        This rank's ensemble.
    layout : StateLayout
        Layout of ``ens`` (its box is ``boxes[comm.rank]``).
    grid : Grid
        The global grid.
    comm : mpi4py.MPI.Comm
        The filter communicator (collective call).
    boxes : sequence of Box
        Every filter rank's block.

    Returns
    -------
    ObservationSet
        Owned observations sorted by global index.
    """
    rank = comm.Get_rank()
    n_members = ens.shape[0]
    offsets = np.concatenate([[0], np.cumsum([t.size for t in types])]).astype(np.int64)
    if comm.Get_size() == 1:                        # one rank owns all, reads its own block
        owned = [np.arange(t.size) for t in types]
        operators = [t.operator for t in types]
        width = 0
    else:
        owned = [np.flatnonzero(owner_of(t.coords, grid, boxes) == rank) if t.size
                 else np.zeros(0, dtype=np.int64) for t in types]
        operators = [t.operator.subset(idx) for t, idx in zip(types, owned)]
        reach = max([op.reach(layout.box) for op in operators], default=0)
        width = comm.allreduce(reach, op=_max_op())
    halo = StateHalo(comm, boxes, grid.ny, grid.nx, width) if width else None
    if width and rank == 0:
        log.debug("observation operators reach %d columns past a block: state halo of that width",
                  width)

    extended: dict[str, np.ndarray] = {}
    parts = []
    for k, (t, idx, op) in enumerate(zip(types, owned, operators)):
        if halo is not None and op.field not in extended:
            # every rank takes part in the halo of every field some type reads
            extended[op.field] = halo.extend(layout.stacked(ens, op.field))
        if halo is not None:
            hx = op.apply(extended[op.field], halo.grown)
        else:
            hx = op.apply(layout.stacked(ens, op.field), layout.box)
        parts.append(ObservationSet(
            value=np.asarray(t.value, dtype=float)[idx],
            variance=np.asarray(t.error_std, dtype=float)[idx] ** 2,
            coords=np.asarray(t.coords, dtype=float)[idx],
            hx=hx,
            global_index=offsets[k] + idx,
            type_index=np.full(idx.size, k, dtype=np.int64),
            vertical_range=None if t.vertical_range is None
            else np.asarray(t.vertical_range, dtype=float)[idx]))
    return ObservationSet.concatenate(parts, n_members)


def _max_op() -> Any:
    from mpi4py import MPI
    return MPI.MAX
