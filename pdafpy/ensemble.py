"""The ensemble across the parallel layout: members forecast on their model tasks, collected on
the filter ranks for the analysis, distributed back.

:class:`EnsembleRunner` ties a :class:`~pdafpy.parallel.ParallelLayout`, a model object on the
model ranks and an :class:`~pdafpy.transfer.EnsembleTransfer` together. Each task advances its
members one after another (PDAF's flexible mode); "members" may be an ensemble or any set of runs
dealt out the same way (e.g. the SEKF's perturbed runs).

A member whose model raises :class:`~pdafpy.errors.ModelError` (a solve that failed after the
allowed time-step cuts) does not stop the task: :meth:`EnsembleRunner.forecast` fills its state
with NaN, carries on with the next member and returns the failure; :func:`gather_failures` tells
every rank of the world about all of them (collective), and :func:`redraw_members` replaces
failed members on the filter ranks by the mean of the other members of their group plus a
perturbation drawn from the counter-based generator, the same on every rank layout. A model's
failure must be raised on every rank of its task alike (the Richards solver's is), or the task's
ranks fall out of step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .decomposition import Box
from .errors import InputFileError, ModelError
from .parallel import ParallelLayout
from .random import standard_normal
from .state import StateLayout
from .transfer import EnsembleTransfer

log = logging.getLogger(__name__)

__all__ = ["EnsembleRunner", "MemberFailure", "gather_failures", "redraw_members"]

REDRAW_PURPOSE = "member_redraw"


@dataclass(frozen=True)
class MemberFailure:
    """A member whose forecast failed.

    Attributes
    ----------
    member : int
        Global member (run) index.
    t0, t1 : float
        The forecast window that failed [model time units, s for the land models].
    message : str
        The model's error message (it names the time and step that failed).
    """

    member: int
    t0: float
    t1: float
    message: str


def gather_failures(world: Any, failures: Sequence[MemberFailure]) -> list[MemberFailure]:
    """Every rank's failures, on every rank, one per member, by member (collective).

    The ranks of a task report the same failures; they are merged by member.
    """
    merged = {f.member: f for part in world.allgather(list(failures)) for f in part}
    return [merged[m] for m in sorted(merged)]


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
        #: Members of this task that failed since the last distribute: NaN, not advanced again
        #: until the analysis time replaces them.
        self.failed: set[int] = set()
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

    def forecast(self, t0: float, t1: float) -> list[MemberFailure]:
        """Advance every member of this task from ``t0`` to ``t1`` [model time units].

        Returns
        -------
        list of MemberFailure
            The members of this task whose model raised :class:`~pdafpy.errors.ModelError`;
            their state is NaN until replaced (see :func:`redraw_members`), and a window cut
            in pieces (records, exports) does not advance them again. Empty off the model
            ranks.
        """
        failures: list[MemberFailure] = []
        if self.model is None:
            return failures
        if hasattr(self.model, "advance_members"):
            return self._forecast_together(t0, t1)
        for i, member in enumerate(self.layout.members):
            if member in self.failed:
                continue
            try:
                self.model.set_state(member, self.model_layout.unpack(self.task_ens[i]))
                self.model.advance(t0, t1)
            except ModelError as exc:
                self.task_ens[i] = np.nan
                self.failed.add(member)
                failures.append(MemberFailure(member, float(t0), float(t1), str(exc)))
                continue
            self.model_layout.pack(self.model.get_state(), out=self.task_ens[i])
        return failures

    def _forecast_together(self, t0: float, t1: float) -> list[MemberFailure]:
        """One call of the model's ``advance_members`` for all of this task's members (a model
        that integrates a whole ensemble at once, e.g. vectorised over members). A
        :class:`~pdafpy.errors.ModelError` fails every member of the call."""
        members = list(self.layout.members)
        if self.failed:                                # the call failed earlier in the window
            return []
        states = {f.name: self.model_layout.view(self.task_ens, f.name)
                  for f in self.model_layout.fields}
        try:
            advanced = self.model.advance_members(members, states, t0, t1)
        except ModelError as exc:
            self.task_ens[:] = np.nan
            self.failed.update(members)
            return [MemberFailure(m, float(t0), float(t1), str(exc)) for m in members]
        for name, view in states.items():
            view[...] = advanced[name]
        return []

    def collect(self) -> np.ndarray | None:
        """The full ensemble ``(N, n_filter_state)`` on filter ranks (None elsewhere)."""
        return self.transfer.collect(self.task_ens)

    def distribute(self, ens: np.ndarray | None) -> None:
        """Send the (analysed) ensemble back to the model tasks."""
        back = self.transfer.distribute(ens)
        if self.model is not None:
            self.task_ens = back
        self.failed.clear()                            # failed members were redrawn

    def reloaded(self) -> np.ndarray | None:
        """The distributed ensemble as the model holds it once loaded (collective).

        Every member is loaded with ``set_state`` and read back with ``get_state``, without
        advancing: derived fields are recomputed and analysed values reconciled the way the model
        does it (e.g. water content clipped or recomputed from the analysed head). The states the
        next forecast starts from are not changed. Returns the collected ensemble on filter ranks
        (None elsewhere); a member the model refuses to load is NaN.
        """
        loaded = None
        if self.model is not None:
            loaded = np.empty_like(self.task_ens)
            for i, member in enumerate(self.layout.members):
                try:
                    self.model.set_state(member, self.model_layout.unpack(self.task_ens[i]))
                except ModelError as exc:
                    log.warning("member %d cannot be loaded: %s", member, exc)
                    loaded[i] = np.nan
                    continue
                self.model_layout.pack(self.model.get_state(), out=loaded[i])
        return self.transfer.collect(loaded)

    # -- restart ---------------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """What this rank needs to continue the ensemble: its task's members (``members``), their
        packed states (``ensemble``, ``(n_task_members, n_model_state)``) and the model's
        per-member internal state (``model``: the model's ``checkpoint_state()``, if it has one).
        Empty on separate filter ranks."""
        if self.model is None:
            return {}
        out: dict[str, Any] = {"members": np.asarray(self.layout.members, dtype=np.int64),
                               "ensemble": self.task_ens.copy()}
        if hasattr(self.model, "checkpoint_state"):
            out["model"] = self.model.checkpoint_state()
        return out

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        """Continue from :meth:`checkpoint_state` (written on this rank, same layout).

        Raises
        ------
        InputFileError
            If the saved members or state size differ from this rank's.
        """
        if self.model is None:
            return
        members = np.asarray(saved.get("members", []), dtype=np.int64)
        ens = np.asarray(saved.get("ensemble", np.empty((0, 0))), dtype=float)
        if not np.array_equal(members, np.asarray(self.layout.members)) or \
                ens.shape != self.task_ens.shape:
            raise InputFileError(f"checkpoint holds members {members.tolist()} with state "
                                 f"{ens.shape}; this rank advances "
                                 f"{list(self.layout.members)} with state {self.task_ens.shape}")
        self.task_ens = ens.copy()
        if hasattr(self.model, "restore_checkpoint"):
            self.model.restore_checkpoint(saved.get("model", {}))


def redraw_members(ens: np.ndarray, layout: StateLayout, failed: Sequence[int],
                   groups: Sequence[range], seed: int, cycle: int) -> dict[int, int]:
    """Replace failed members by the mean of their group's others plus a fresh perturbation.

    For a failed member ``m`` of group ``G`` (e.g. the assimilated runs, the open loop), with
    ``S`` the members of ``G`` that did not fail, every state element becomes

    ``x_m = clip(mean_S + z_f sd_S, min_S, max_S)``

    for prognostic (``"state"``) and ``"parameter"`` fields, with ``sd_S`` the spread (ddof 1;
    0 when ``S`` has one member) and ``z_f`` one standard-normal number per field drawn with
    key ``(seed, "member_redraw", cycle, m, field index)``: the replacement keeps the
    ensemble's spatial and vertical structure, and lies within the others' range, hence within
    any bounds they respect. ``"diagnostic"`` fields (derived by the model) become ``mean_S``;
    the model recomputes them at the next forecast. Sums run over members in index order, so the
    result is the same on every rank layout (each filter rank works on its own block).

    Parameters
    ----------
    ens : (n_members, layout.size) ndarray
        This filter rank's ensemble, changed in place.
    layout : StateLayout
    failed : sequence of int
        Failed members.
    groups : sequence of range
        Disjoint member groups; a failed member is replaced from its own group.
    seed, cycle : int
        Keys of the random draw.

    Returns
    -------
    dict member -> int
        How many members each replacement was formed from.

    Raises
    ------
    ModelError
        If a failed member is in no group, or every member of its group failed.
    """
    failed_set = {int(m) for m in failed}
    used: dict[int, int] = {}
    for m in sorted(failed_set):
        group = next((g for g in groups if m in g), None)
        if group is None:
            raise ModelError(f"member {m} failed and belongs to no group it could be redrawn "
                             "from")
        others = [k for k in group if k not in failed_set]
        if not others:
            raise ModelError(f"every member of {group.start}..{group.stop - 1} failed: none to "
                             f"redraw member {m} from")
        total = np.zeros(ens.shape[1])
        low = np.full(ens.shape[1], np.inf)
        high = np.full(ens.shape[1], -np.inf)
        for k in others:                                   # sequential: layout independent
            total = total + ens[k]
            low = np.minimum(low, ens[k])
            high = np.maximum(high, ens[k])
        mean = total / len(others)
        sq = np.zeros(ens.shape[1])
        for k in others:
            sq = sq + (ens[k] - mean) ** 2
        sd = np.sqrt(sq / (len(others) - 1)) if len(others) > 1 else sq
        z = standard_normal(seed, REDRAW_PURPOSE, cycle, m, np.arange(len(layout.fields)))
        for i, spec in enumerate(layout.fields):
            sl = layout.field_slice(spec.name)
            if spec.kind == "diagnostic":
                ens[m, sl] = mean[sl]
            else:
                ens[m, sl] = np.clip(mean[sl] + z[i] * sd[sl], low[sl], high[sl])
        used[m] = len(others)
    return used
