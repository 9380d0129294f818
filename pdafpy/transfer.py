"""Collect the ensemble from the model tasks onto the filter ranks, and distribute it back.

PDAF gathers each subdomain's members along ``COMM_couple``. pdafpy does the same, generalised:
every model rank sends each filter rank the part of its block of columns that the filter rank
analyses. When the filter uses the model's decomposition (the default, or as many separate filter
ranks as ranks per task) this is exactly PDAF's couple pattern, and the messages travel on
``COMM_couple``: model rank ``r`` of every task talks to filter rank ``r`` only. When the counts
differ (e.g. 9 one-rank tasks and 2 filter ranks) there is no couple communicator in PDAF's sense;
the blocks are split or merged as needed over the world communicator. Messages are non-blocking,
numpy buffers, one per partner, carrying all members of the sending task.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .decomposition import Box, boxes_from_array
from .exchange import exchange
from .model import FieldSpec
from .parallel import ParallelLayout
from .state import StateLayout

__all__ = ["EnsembleTransfer"]

_TAG_COLLECT = 21
_TAG_DISTRIBUTE = 22


class EnsembleTransfer:
    """The message plan between model ranks and filter ranks for one set of fields.

    Parameters
    ----------
    layout : ParallelLayout
        The parallel layout (every world rank calls this constructor).
    fields : sequence of FieldSpec
        The fields that travel (the same on every rank).
    model_box : Box or None
        This rank's block in its model task (``None`` on a separate filter rank).
    filter_box : Box or None
        This rank's block on the filter (``None`` off the filter).
    """

    def __init__(self, layout: ParallelLayout, fields: Sequence[FieldSpec],
                 model_box: Box | None, filter_box: Box | None):
        self.layout = layout
        self.fields = tuple(fields)
        world = layout.world
        empty = Box(0, 0, 0, 0)
        mine = np.concatenate([
            [-1 if layout.task is None else layout.task],
            (model_box or empty).as_array(),
            [1 if filter_box is not None else 0],
            (filter_box or empty).as_array()]).astype(np.int64)
        table = np.empty((world.Get_size(), mine.size), dtype=np.int64)
        world.Allgather(mine, table)
        self._task_of = table[:, 0]
        model_boxes = boxes_from_array(table[:, 1:5])
        filter_boxes = boxes_from_array(table[:, 6:10])
        is_filter = table[:, 5].astype(bool)

        self.model_layout = StateLayout(fields, model_box) if model_box is not None else None
        self.filter_layout = StateLayout(fields, filter_box) if filter_box is not None else None
        # model side: filter world rank -> intersection of my model box with its filter box
        self._to_filter: dict[int, Box] = {}
        if model_box is not None:
            for w in np.flatnonzero(is_filter):
                inter = model_box.intersect(filter_boxes[w])
                if not inter.empty:
                    self._to_filter[int(w)] = inter
        # filter side: model world rank -> (task, intersection)
        self._from_model: dict[int, tuple[int, Box]] = {}
        if filter_box is not None:
            for w in np.flatnonzero(self._task_of >= 0):
                inter = filter_box.intersect(model_boxes[w])
                if not inter.empty:
                    self._from_model[int(w)] = (int(self._task_of[w]), inter)
        self.bytes_sent = 0
        self._use_couple_communicator()
        # one rank holding every member of the whole block on both sides: nothing to send
        me = world.Get_rank()
        self._alone = (world.Get_size() == 1 and model_box is not None
                       and filter_box is not None and model_box == filter_box
                       and set(self._to_filter) == {me} and set(self._from_model) == {me})

    def _use_couple_communicator(self) -> None:
        """Send along ``COMM_couple`` when every partner of every rank lies in its couple group.

        That holds when the filter uses the model's decomposition (PDAF's pattern); otherwise the
        messages go over the world communicator. Decided collectively, so all ranks agree.
        """
        from mpi4py import MPI

        layout = self.layout
        partners = sorted(set(self._to_filter) | set(self._from_model))
        couple = layout.comm_couple
        local_ok = couple is not None
        if local_ok and partners:
            mapped = MPI.Group.Translate_ranks(layout.world.Get_group(), partners,
                                               couple.Get_group())
            local_ok = all(r != MPI.UNDEFINED for r in mapped)
        self.comm = layout.world
        self._rank_map = {w: w for w in partners}
        if layout.world.allreduce(local_ok, op=MPI.LAND):
            self.comm = couple
            self._rank_map = dict(zip(partners, mapped)) if partners else {}

    def _exchange(self, sends: dict, sizes: dict, tag: int) -> dict:
        """Point-to-point exchange keyed by world rank, over :attr:`comm`."""
        to = self._rank_map
        got = exchange(self.comm, {to[w]: b for w, b in sends.items()},
                       {to[w]: n for w, n in sizes.items()}, tag=tag)
        back = {r: w for w, r in to.items()}
        return {back[r]: b for r, b in got.items()}

    # -- packing -------------------------------------------------------------------------------
    def _pack(self, layout: StateLayout, ens: np.ndarray, part: Box) -> np.ndarray:
        rows, cols = layout.box.local_slices(part)
        return np.concatenate(
            [layout.view(ens, f.name)[:, :, rows, cols].reshape(ens.shape[0], -1)
             for f in self.fields], axis=1)

    def _unpack(self, layout: StateLayout, ens: np.ndarray, part: Box, buf: np.ndarray) -> None:
        buf = buf.reshape(ens.shape[0], -1)
        rows, cols = layout.box.local_slices(part)
        start = 0
        for f in self.fields:
            n = f.levels * part.size
            layout.view(ens, f.name)[:, :, rows, cols] = buf[:, start:start + n].reshape(
                ens.shape[0], f.levels, part.ny, part.nx)
            start += n

    def _values_per_member(self, part: Box) -> int:
        return sum(f.levels for f in self.fields) * part.size

    # -- the two directions --------------------------------------------------------------------
    def collect(self, task_ens: np.ndarray | None) -> np.ndarray | None:
        """Gather all members onto the filter ranks.

        Parameters
        ----------
        task_ens : (n_task_members, n_model_state) ndarray or None
            This model rank's members (its task's, in member order); ``None`` on filter-only ranks.

        Returns
        -------
        (n_members, n_filter_state) ndarray or None
            The full ensemble on this filter rank's block; ``None`` off the filter.
        """
        if self._alone:
            return task_ens.copy()
        sends = {}
        if task_ens is not None:
            sends = {w: self._pack(self.model_layout, task_ens, part)
                     for w, part in self._to_filter.items()}
        sizes = {w: len(self.layout.task_members[t]) * self._values_per_member(part)
                 for w, (t, part) in self._from_model.items()}
        self.bytes_sent += sum(b.nbytes for b in sends.values())
        got = self._exchange(sends, sizes, _TAG_COLLECT)
        if self.filter_layout is None:
            return None
        ens = np.empty((self.layout.n_members, self.filter_layout.size))
        for w, (t, part) in self._from_model.items():
            members = self.layout.task_members[t]
            self._unpack(self.filter_layout, ens[members.start:members.stop], part, got[w])
        return ens

    def distribute(self, ens: np.ndarray | None) -> np.ndarray | None:
        """Scatter the analysed ensemble back to the model tasks (inverse of :meth:`collect`).

        Returns
        -------
        (n_task_members, n_model_state) ndarray or None
            This model rank's members; ``None`` on filter-only ranks.
        """
        if self._alone:
            return ens.copy()
        sends = {}
        if ens is not None:
            for w, (t, part) in self._from_model.items():
                members = self.layout.task_members[t]
                sends[w] = self._pack(self.filter_layout, ens[members.start:members.stop], part)
        sizes = {w: len(self.layout.members) * self._values_per_member(part)
                 for w, part in self._to_filter.items()}
        self.bytes_sent += sum(b.nbytes for b in sends.values())
        got = self._exchange(sends, sizes, _TAG_DISTRIBUTE)
        if self.model_layout is None:
            return None
        task_ens = np.empty((len(self.layout.members), self.model_layout.size))
        for w, part in self._to_filter.items():
            self._unpack(self.model_layout, task_ens, part, got[w])
        return task_ens
