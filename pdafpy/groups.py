"""Run groups: the runs one job advances, and who owns which run number.

A job advances more runs than the analysed ensemble: a twin adds an open loop (the same members
never analysed) and a truth; PDAF's SEKF advances its unperturbed run and one perturbed run per
state direction. :class:`RunGroups` lays such groups end to end and is the one place that knows
the run numbering:

- **run** numbers ``0..total-1`` are what the parallel layout deals out to model tasks and what
  the models receive in ``set_state(run, state)``;
- each run has a **perturbation key**, the member index its random draws (initial state,
  parameters, forcing) are keyed by. An open loop shares its keys with the group it mirrors, so
  open-loop member ``k`` starts from, and is forced like, assimilation member ``k``; a truth has
  the key after the last member's, a draw from the same distributions as the members.

>>> groups = RunGroups.twin(8, open_loop=True, truth=True)
>>> groups.total, groups.runs("open_loop"), groups.key(groups.runs("truth")[0])
(17, range(8, 16), 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .errors import ConfigError

__all__ = ["RunGroup", "RunGroups", "GROUP_KINDS"]

#: ``analysed``: updated by the filter; ``free``: forecast only (an open loop); ``truth``: the
#: run synthetic observations are drawn from, never replaced when it fails; ``perturbed``: runs
#: whose forecasts the filter reads but does not update (SEKF's finite-difference runs).
GROUP_KINDS = ("analysed", "free", "truth", "perturbed")


@dataclass(frozen=True)
class RunGroup:
    """One group of runs.

    Attributes
    ----------
    name : str
        Its name in outputs and messages (``assimilation``, ``open_loop``, ``truth``).
    kind : str
        One of :data:`GROUP_KINDS`.
    size : int
        Number of runs.
    first_key : int
        Perturbation key of its first run; run ``i`` of the group has key ``first_key + i``.
    shared_key : bool
        Every run of the group has the key ``first_key`` (SEKF's perturbed runs see the same
        weather as the run they perturb).
    """

    name: str
    kind: str
    size: int
    first_key: int = 0
    shared_key: bool = False

    @property
    def label(self) -> str:
        """The name as messages write it (``open-loop``)."""
        return self.name.replace("_", "-")

    def __post_init__(self) -> None:
        if self.kind not in GROUP_KINDS:
            raise ConfigError(f"run group {self.name!r}: kind {self.kind!r} is not one of "
                              f"{GROUP_KINDS}")
        if self.size < 1:
            raise ConfigError(f"run group {self.name!r}: needs at least one run, got {self.size}")


class RunGroups:
    """Groups of runs laid end to end (see the module notes).

    Parameters
    ----------
    groups : sequence of RunGroup
        In run order; names must be distinct.
    """

    def __init__(self, groups: Sequence[RunGroup]):
        names = [g.name for g in groups]
        if len(set(names)) != len(names) or not names:
            raise ConfigError(f"run groups need distinct names, got {names}")
        self.groups = tuple(groups)
        starts = np.concatenate([[0], np.cumsum([g.size for g in self.groups])])
        self._ranges = {g.name: range(int(a), int(b))
                        for g, a, b in zip(self.groups, starts[:-1], starts[1:])}
        self.total = int(starts[-1])

    @classmethod
    def twin(cls, members: int, open_loop: bool = False, truth: bool = False) -> "RunGroups":
        """An assimilated ensemble of ``members``, optionally an open loop with the same
        perturbation keys and a truth with the key ``members``."""
        groups = [RunGroup("assimilation", "analysed", members)]
        if open_loop:
            groups.append(RunGroup("open_loop", "free", members))
        if truth:
            groups.append(RunGroup("truth", "truth", 1, first_key=members))
        return cls(groups)

    @classmethod
    def for_mode(cls, mode: str, members: int) -> "RunGroups":
        """The runs of ``pdafpy run``: the assimilation, its open loop and the truth (``mode =
        "twin"``), the truth alone (``"truth"``, the same run as a twin's), the assimilation
        and its open loop (``"assimilate"``), or the open loop alone (``"free"``)."""
        if mode == "free":
            return cls.free_run(members)
        if mode == "truth":
            return cls([RunGroup("truth", "truth", 1, first_key=members)])
        return cls.twin(members, open_loop=True, truth=mode == "twin")

    @classmethod
    def sekf(cls, perturbed: int, truth: bool = False, open_loop: bool = False,
             analysed: str = "analysis", truth_key: int = 1) -> "RunGroups":
        """PDAF's SEKF: the run analysed (``analysed``, key 0), followed by its ``perturbed``
        runs (one per perturbed column entry, with its weather), optionally an open loop (the
        same run never analysed, key 0: the control run) and a truth (key ``truth_key``)."""
        groups = [RunGroup(analysed, "analysed", 1),
                  RunGroup("perturbed", "perturbed", perturbed, shared_key=True)]
        if open_loop:
            groups.append(RunGroup("open_loop", "free", 1))
        if truth:
            groups.append(RunGroup("truth", "truth", 1, first_key=truth_key))
        return cls(groups)

    @classmethod
    def free_run(cls, members: int, truth: bool = False) -> "RunGroups":
        """An ensemble that is never analysed (``mode = "free"``), optionally with a truth."""
        groups = [RunGroup("open_loop", "free", members)]
        if truth:
            groups.append(RunGroup("truth", "truth", 1, first_key=members))
        return cls(groups)

    def __iter__(self) -> Iterator[RunGroup]:
        return iter(self.groups)

    def __contains__(self, name: str) -> bool:
        return name in self._ranges

    def runs(self, name: str) -> range:
        """Run numbers of group ``name``."""
        return self._ranges[name]

    def part(self, ens: np.ndarray, name: str) -> np.ndarray:
        """The rows of ``ens`` ``(total, n)`` that hold group ``name`` (a view)."""
        r = self._ranges[name]
        return ens[r.start:r.stop]

    def of_kind(self, kind: str) -> list[RunGroup]:
        """The groups of ``kind`` (one of :data:`GROUP_KINDS`), in run order."""
        return [g for g in self.groups if g.kind == kind]

    def group_of(self, run: int) -> RunGroup:
        """The group ``run`` belongs to (IndexError outside ``0..total-1``)."""
        for g in self.groups:
            if run in self._ranges[g.name]:
                return g
        raise IndexError(f"run {run} is not in 0..{self.total - 1}")

    def key(self, run: int) -> int:
        """The perturbation key of ``run``."""
        g = self.group_of(run)
        return g.first_key + (0 if g.shared_key else run - self._ranges[g.name].start)

    def keys(self) -> np.ndarray:
        """Perturbation keys of every run ``(total,)``."""
        return np.array([self.key(r) for r in range(self.total)], dtype=np.int64)

    def describe(self, run: int) -> str:
        """``"open-loop member 3 (run 11)"``, ``"the truth (run 16)"``, for messages."""
        g = self.group_of(run)
        if g.size == 1 and g.kind == "truth":
            return f"the {g.label} (run {run})"
        return f"{g.label} member {run - self._ranges[g.name].start} (run {run})"

    def with_perturbed(self, name: str) -> range:
        """The runs of group ``name`` and of the ``perturbed`` group right after it, if any
        (what an SEKF analysis reads)."""
        r = self._ranges[name]
        index = [g.name for g in self.groups].index(name)
        following = self.groups[index + 1] if index + 1 < len(self.groups) else None
        if following is not None and following.kind == "perturbed":
            return range(r.start, self._ranges[following.name].stop)
        return r

    @property
    def redraw_groups(self) -> list[range]:
        """Groups whose failed runs may be replaced from their other members (not a truth)."""
        return [self._ranges[g.name] for g in self.groups if g.kind in ("analysed", "free")]
