"""One job's parallel set-up: the layout, the model on its tasks, the filter's blocks, the runner.

Every experiment starts the same way: cut the world into model tasks and filter ranks
(:func:`pdafpy.parallel.make_layout`), build the model on each task, tell every rank the model's
grid and fields (separate filter ranks have no model), decompose the grid for the filter (the
model's own blocks, or a process grid of the filter ranks), and tie it together in an
:class:`~pdafpy.ensemble.EnsembleRunner`. :func:`set_up_job` does that once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .decomposition import Box, block_boxes, choose_process_grid
from .ensemble import EnsembleRunner
from .model import FieldSpec, Grid
from .parallel import ParallelLayout, make_layout

__all__ = ["Job", "set_up_job", "share_from_model"]


@dataclass
class Job:
    """What :func:`set_up_job` built.

    Attributes
    ----------
    layout : ParallelLayout
    model : model object or None
        The model on model ranks (None on separate filter ranks).
    grid : Grid
        The model's grid, on every rank.
    fields : tuple of FieldSpec
        The state's fields, on every rank.
    boxes : list of Box or None
        Every filter rank's block (None off the filter).
    runner : EnsembleRunner
    """

    layout: ParallelLayout
    model: Any
    grid: Grid
    fields: tuple[FieldSpec, ...]
    boxes: list[Box] | None
    runner: EnsembleRunner

    @property
    def filter_box(self) -> Box | None:
        """This rank's block on the filter (None off the filter)."""
        return None if self.boxes is None else self.boxes[self.layout.comm_filter.Get_rank()]


def share_from_model(layout: ParallelLayout, model: Any, value: Callable[[Any], Any]) -> Any:
    """``value(model)`` evaluated on the first model rank, given to every rank (collective)."""
    root = layout.filter_ranks
    world = layout.world
    return world.bcast(value(model) if world.Get_rank() == root else None, root=root)


def set_up_job(world: Any, create_model: Callable[[Any], Any], n_runs: int, tasks: int = 1,
               filter_ranks: int = 0, fields: Sequence[FieldSpec] | None = None) -> Job:
    """Cut ``world``, build the model on every task and the runner of ``n_runs`` runs
    (collective).

    Parameters
    ----------
    world : mpi4py.MPI.Comm
    create_model : callable
        ``create_model(comm_model)`` builds the model on one task's communicator.
    n_runs : int
        Runs the tasks advance (every run group's, :attr:`pdafpy.groups.RunGroups.total`).
    tasks, filter_ranks : int
        Model tasks, separate filter ranks (0: task 0's ranks analyse).
    fields : sequence of FieldSpec, optional
        Fields that travel (default: the model's).

    Raises
    ------
    LayoutError
        On every rank alike, when the world cannot be cut so.
    """
    layout = make_layout(world, tasks, n_runs, filter_ranks)
    model = create_model(layout.comm_model) if layout.is_model else None
    grid = share_from_model(layout, model, lambda m: m.grid)
    fields = tuple(fields) if fields is not None else share_from_model(
        layout, model, lambda m: tuple(m.fields))
    boxes = None
    if layout.is_filter:
        comm = layout.comm_filter
        if filter_ranks:
            boxes = block_boxes(grid.ny, grid.nx, *choose_process_grid(comm.Get_size(), grid.ny,
                                                                        grid.nx))
        else:
            boxes = comm.allgather(model.box)
    filter_box = None if boxes is None else boxes[layout.comm_filter.Get_rank()]
    runner = EnsembleRunner(layout, model, filter_box, fields)
    return Job(layout, model, grid, fields, boxes, runner)
