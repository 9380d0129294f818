"""PDAF's parallel layout on mpi4py: model tasks, filter ranks and couple communicators.

The world communicator of ``P = n_tasks * p (+ f)`` ranks is cut into

- ``f`` separate filter ranks (world ranks ``0 .. f-1``) when ``filter_ranks = f > 0``;
- ``n_tasks`` model tasks of ``p`` contiguous ranks each (``COMM_model``); a task advances its
  members one after another (PDAF's "flexible" mode);
- ``COMM_filter``: the ranks that analyse; task 0's ranks by default (so the filter uses the
  model's decomposition), the separate filter ranks otherwise;
- ``COMM_couple``: the ranks that hold the same subdomain in every task (split by rank within the
  model task, PDAF's colour ``model rank + 1``); with separate filter ranks of the same count as
  ``p``, filter rank ``r`` joins couple ``r``.

Members are dealt out as PDAF does: ``floor(N / n_tasks)`` each, the remainder one by one to the
first tasks. Every rank computes the layout from the same numbers, so an impossible request raises
:class:`~pdafpy.errors.LayoutError` on every rank at once: no rank waits for another.

The ensemble moves between model and filter ranks with :class:`pdafpy.transfer.EnsembleTransfer`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .errors import LayoutError

__all__ = ["ParallelLayout", "member_counts", "make_layout", "limit_threads"]

log = logging.getLogger(__name__)

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_threads(n: int = 1) -> None:
    """Ask BLAS and OpenMP for ``n`` threads per rank unless the user already chose.

    Must run before numpy is first imported to take effect; ``pdafpy``'s package ``__init__``
    calls it. Small batched LAPACK calls run about twice as slow with OpenBLAS threads on a
    2-core machine, and with one rank per core threads only compete.
    """
    for var in _THREAD_VARIABLES:
        os.environ.setdefault(var, str(n))


def member_counts(n_members: int, n_tasks: int) -> list[int]:
    """Members per task, PDAF's rule: ``floor(N/n_tasks)`` each, the remainder to the first tasks.

    Examples
    --------
    >>> member_counts(9, 4)
    [3, 2, 2, 2]
    """
    if n_tasks < 1:
        raise LayoutError(f"n_tasks must be >= 1, got {n_tasks}")
    if n_members < n_tasks:
        raise LayoutError(
            f"ensemble of {n_members} members cannot keep {n_tasks} model tasks busy: "
            f"use at most {n_members} tasks")
    base, extra = divmod(n_members, n_tasks)
    return [base + (1 if t < extra else 0) for t in range(n_tasks)]


@dataclass(frozen=True)
class ParallelLayout:
    """Where this rank sits in the layout, with its communicators.

    Attributes
    ----------
    world : mpi4py.MPI.Comm
        The communicator the layout was cut from.
    n_tasks, ranks_per_task, filter_ranks : int
        ``n_tasks`` model tasks of ``ranks_per_task`` ranks; ``filter_ranks`` separate filter
        ranks (0: the filter runs on task 0's ranks).
    n_members : int
        Ensemble size.
    task : int or None
        0-based model task of this rank; ``None`` on a separate filter rank.
    comm_model : Comm or None
        The ranks of this rank's model task (``None`` on a separate filter rank).
    comm_filter : Comm or None
        The analysing ranks (``None`` on ranks that do not analyse).
    comm_couple : Comm or None
        Ranks holding the same subdomain in every task (``None`` where undefined: on a separate
        filter rank whose count differs from ``ranks_per_task``).
    members : range
        Global member indices (0-based) this rank's task advances (empty on filter-only ranks).
    task_members : tuple of range
        Member ranges of every task.
    """

    world: Any
    n_tasks: int
    ranks_per_task: int
    filter_ranks: int
    n_members: int
    task: int | None
    comm_model: Any
    comm_filter: Any
    comm_couple: Any
    members: range
    task_members: tuple[range, ...]

    @property
    def is_filter(self) -> bool:
        """True on ranks that take part in the analysis."""
        return self.comm_filter is not None

    @property
    def is_model(self) -> bool:
        """True on ranks that run a model task."""
        return self.comm_model is not None

    @property
    def model_rank(self) -> int | None:
        """Rank within the model task (``None`` on a separate filter rank)."""
        return None if self.comm_model is None else self.comm_model.Get_rank()

    @property
    def filter_rank(self) -> int | None:
        """Rank within ``COMM_filter`` (``None`` off the filter)."""
        return None if self.comm_filter is None else self.comm_filter.Get_rank()

    @property
    def n_filter(self) -> int:
        """Number of analysing ranks."""
        return self.filter_ranks or self.ranks_per_task

    def free(self) -> None:
        """Free the communicators this layout created (not ``world``)."""
        for comm in (self.comm_model, self.comm_filter, self.comm_couple):
            if comm is not None:
                comm.Free()


def make_layout(world: Any, n_tasks: int, n_members: int, filter_ranks: int = 0) -> ParallelLayout:
    """Cut ``world`` into model tasks, filter ranks and couple communicators.

    Parameters
    ----------
    world : mpi4py.MPI.Comm
        Usually ``MPI.COMM_WORLD``; every rank of it must call this function.
    n_tasks : int
        Number of model tasks (PDAF's ``n_modeltasks``).
    n_members : int
        Ensemble size (PDAF's ``dim_ens``).
    filter_ranks : int
        Separate analysing ranks; 0 (default) lets model task 0's ranks analyse.

    Raises
    ------
    LayoutError
        On every rank alike, when ``world.size - filter_ranks`` is not a positive multiple of
        ``n_tasks`` or the ensemble is smaller than ``n_tasks``.
    """
    from mpi4py import MPI

    size = world.Get_size()
    rank = world.Get_rank()
    if filter_ranks < 0:
        raise LayoutError(f"filter_ranks must be >= 0, got {filter_ranks}")
    if n_tasks < 1:
        raise LayoutError(f"n_tasks must be >= 1, got {n_tasks}")
    model_size = size - filter_ranks
    if model_size < n_tasks or model_size % n_tasks:
        raise LayoutError(
            f"{size} MPI ranks cannot be arranged as {n_tasks} model tasks of equal size"
            + (f" plus {filter_ranks} filter ranks" if filter_ranks else "")
            + ": the world size must be n_tasks * p"
            + (" + filter_ranks" if filter_ranks else "")
            + f" for some p >= 1 (e.g. {n_tasks * max(1, model_size // n_tasks) + filter_ranks})")
    counts = member_counts(n_members, n_tasks)
    p = model_size // n_tasks
    starts = [sum(counts[:t]) for t in range(n_tasks)]
    task_members = tuple(range(s, s + c) for s, c in zip(starts, counts))

    if rank < filter_ranks:
        task = None
        model_colour = MPI.UNDEFINED
    else:
        task = (rank - filter_ranks) // p
        model_colour = task
    comm_model = world.Split(model_colour, rank)
    if comm_model == MPI.COMM_NULL:
        comm_model = None

    if filter_ranks:
        filter_colour = 0 if rank < filter_ranks else MPI.UNDEFINED
    else:
        filter_colour = 0 if task == 0 else MPI.UNDEFINED
    comm_filter = world.Split(filter_colour, rank)
    if comm_filter == MPI.COMM_NULL:
        comm_filter = None

    if filter_ranks and filter_ranks != p:
        couple_colour = MPI.UNDEFINED
    elif rank < filter_ranks:
        couple_colour = rank
    else:
        couple_colour = (rank - filter_ranks) % p
    comm_couple = world.Split(couple_colour, rank)
    if comm_couple == MPI.COMM_NULL:
        comm_couple = None

    members = task_members[task] if task is not None else range(0)
    layout = ParallelLayout(world, n_tasks, p, filter_ranks, n_members, task, comm_model,
                            comm_filter, comm_couple, members, task_members)
    if rank == 0:
        log.info("parallel layout: %d ranks = %d tasks x %d ranks%s; members per task %s",
                 size, n_tasks, p, f" + {filter_ranks} filter ranks" if filter_ranks else "",
                 counts)
    return layout
