"""The ensemble across the parallel layout: members forecast on their model tasks, collected on
the filter ranks for the analysis, distributed back.

:class:`EnsembleRunner` ties a :class:`~pdafpy.parallel.ParallelLayout`, a model object on the
model ranks and an :class:`~pdafpy.transfer.EnsembleTransfer` together. Each task advances its
members one after another (PDAF's flexible mode); "members" may be an ensemble or any set of runs
dealt out the same way (e.g. the SEKF's perturbed runs).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from .decomposition import Box
from .parallel import ParallelLayout
from .transfer import EnsembleTransfer

__all__ = ["EnsembleRunner"]


class EnsembleRunner:
    """Forecast, collect and distribute an ensemble.

    Parameters
    ----------
    layout : ParallelLayout
    model : Model or None
        The model object on model ranks (``None`` on separate filter ranks).
    filter_box : Box or None
        This rank's block on the filter (``None`` off the filter).
    fields : sequence of FieldSpec, optional
        Fields that travel (default: the model's; every rank must pass the same).
    """

    def __init__(self, layout: ParallelLayout, model: Any, filter_box: Box | None,
                 fields: Any = None):
        self.layout = layout
        self.model = model
        fields = tuple(fields if fields is not None else model.fields)
        self.transfer = EnsembleTransfer(layout, fields, model.box if model is not None else None,
                                         filter_box)
        self.task_ens: np.ndarray | None = None
        if model is not None:
            self.task_ens = np.empty((len(layout.members), self.transfer.model_layout.size))

    @property
    def model_layout(self):
        """State layout on this model rank's block."""
        return self.transfer.model_layout

    @property
    def filter_layout(self):
        """State layout on this filter rank's block."""
        return self.transfer.filter_layout

    def load(self, member_state: Callable[[int, Box], Mapping[str, np.ndarray]]) -> None:
        """Fill this task's members: ``member_state(member, box)`` gives a member's fields on the
        model rank's block (each ``(levels, ny, nx)``)."""
        if self.model is None:
            return
        for i, member in enumerate(self.layout.members):
            self.model_layout.pack(member_state(member, self.model.box), out=self.task_ens[i])

    def forecast(self, t0: float, t1: float) -> None:
        """Advance every member of this task from ``t0`` to ``t1`` [model time units]."""
        if self.model is None:
            return
        for i, member in enumerate(self.layout.members):
            self.model.set_state(member, self.model_layout.unpack(self.task_ens[i]))
            self.model.advance(t0, t1)
            self.model_layout.pack(self.model.get_state(), out=self.task_ens[i])

    def collect(self) -> np.ndarray | None:
        """The full ensemble ``(N, n_filter_state)`` on filter ranks (None elsewhere)."""
        return self.transfer.collect(self.task_ens)

    def distribute(self, ens: np.ndarray | None) -> None:
        """Send the (analysed) ensemble back to the model tasks."""
        back = self.transfer.distribute(ens)
        if self.model is not None:
            self.task_ens = back
