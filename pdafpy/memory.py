"""Peak memory per rank of a run, estimated before any model work, and the memory a rank has.

The model (all figures in bytes; see docs/benchmarks.md for its calibration). A run advances
``R`` runs (the members, an open loop and a truth: :class:`pdafpy.groups.RunGroups`) on a grid of
``nx * ny`` columns of ``nz`` layers, with ``T`` model tasks of ``P`` ranks each and ``F``
separate filter ranks (``F = 0``: task 0's ranks analyse). A model rank owns at most ``c_m``
cells (its largest block of columns, times ``nz``) and its task holds ``r = ceil(R / T)`` runs; a
filter rank owns at most ``e_f`` state elements (its largest block of columns times the state
elements per column). With a model's :class:`MemoryConstants`::

    model rank   base + cell * c_m + cell_run * c_m * r  [+ 8 * e_m * r]
    filter rank  base + element_run * e_f * R  [+ 8 * e_f * R]
                 [+ 8 * SQUARE_MATRICES * N**2, global filters]

and a rank of task 0 without separate filter ranks holds both (one ``base``). The bracketed
``8 * e * runs`` terms are the transfer's buffers (:mod:`pdafpy.transfer`: one float64 copy of
the states a model rank sends, ``e_m`` its block's state elements, and of those a filter rank
receives), absent when one rank does everything. The estimate is the
largest of the ranks'. ``cell`` is what one model instance keeps per cell whatever the number of
runs (solver vectors, the Jacobian, discretisation and land arrays); ``cell_run`` what the task
keeps per cell and run (the packed states of its runs, the model's per-member arrays);
``element_run`` what a filter rank keeps per state element and run (the collected ensemble, the
forecast kept for the outputs, the analysis's copies); ``base`` the process itself (Python,
numpy, MPI, PETSc, netCDF4/HDF5 and the model's modules). A model supplies its constants (the
land experiment those of the coupled model, :mod:`models.landda.validation`).

The memory a rank has is ``[parallel] memory_per_rank_gib`` when set, else the node's
``MemTotal`` (``/proc/meminfo``) divided by the ranks on this node: MPI's shared-memory split of
``COMM_WORLD`` when MPI is running with the world size asked about, else the world size.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from .decomposition import choose_process_grid
from .errors import ConfigError, LayoutError

__all__ = ["MemoryConstants", "MemoryProblem", "MemoryEstimate", "estimate_peak",
           "available_per_rank", "ranks_on_this_node", "check_memory", "peak_rss_bytes",
           "GIB", "SQUARE_MATRICES", "TRANSFER_BYTES"]

log = logging.getLogger(__name__)

GIB = 1024.0 ** 3
#: N x N float64 matrices a global square-root analysis holds at once (A^-1, its eigenvectors,
#: A^(1/2), the weight matrix and matmul temporaries); local analyses batch their domains'
#: matrices in chunks (observation space for domains with fewer observations than members) and
#: are not modelled beyond the per-element term.
SQUARE_MATRICES = 6
#: Bytes per state element and run of the transfer's buffers (one float64 copy).
TRANSFER_BYTES = 8.0


@dataclass(frozen=True)
class MemoryConstants:
    """A model's memory constants [bytes] (see the module notes).

    Attributes
    ----------
    base : float
        Per process.
    cell : float
        Per cell a model rank owns, once (one model instance).
    cell_run : float
        Per cell a model rank owns and per run its task holds.
    element_run : float
        Per state element a filter rank owns and per run collected.
    """

    base: float
    cell: float
    cell_run: float
    element_run: float


@dataclass(frozen=True)
class MemoryProblem:
    """What a run's memory depends on.

    Attributes
    ----------
    nx, ny, nz : int
        Columns along x and y, layers (cells per column; 1 for a 2D model).
    elements_per_column : int
        State-vector elements per column (every field's levels).
    runs : int
        Runs the tasks advance (:attr:`pdafpy.groups.RunGroups.total`).
    analysed : int
        Members the filter analyses (N).
    tasks, ranks_per_task, filter_ranks : int
        The layout ([parallel]).
    global_filter : bool
        The analysis is global (one N x N transform for the whole state).
    """

    nx: int
    ny: int
    nz: int
    elements_per_column: int
    runs: int
    analysed: int
    tasks: int
    ranks_per_task: int
    filter_ranks: int = 0
    global_filter: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak of the most loaded rank.

    Attributes
    ----------
    peak : float
        Bytes.
    role : str
        Which rank: ``"model and filter rank"`` (task 0 without separate filter ranks),
        ``"model rank"`` or ``"filter rank"``.
    parts : dict of str to float
        Its terms [bytes]: ``base``, ``model`` (cells once), ``runs`` (cells times runs on the
        model ranks), ``filter`` (state elements times runs, and the N x N matrices),
        ``transfer`` (the transfer's buffers).
    """

    peak: float
    role: str
    parts: dict[str, float]

    def describe(self) -> str:
        """``'12.3 GiB per rank (base 0.121, model 0.2, runs 12, filter 0 GiB; model and
        filter rank)'``."""
        terms = ", ".join(f"{k} {_gib(v)}" for k, v in self.parts.items())
        return f"{_gib(self.peak)} GiB per rank ({terms} GiB; {self.role})"


def _largest_block(columns_y: int, columns_x: int, ranks: int) -> int:
    """Columns of the largest block when ``ranks`` ranks split a ``columns_y x columns_x``
    grid (PETSc's and pdafpy's split: the first blocks take the remainder)."""
    try:
        py, px = choose_process_grid(ranks, columns_y, columns_x)
    except LayoutError:            # refused elsewhere; estimate with an even share
        return math.ceil(columns_y * columns_x / ranks)
    return math.ceil(columns_y / py) * math.ceil(columns_x / px)


def estimate_peak(problem: MemoryProblem, constants: MemoryConstants) -> MemoryEstimate:
    """The peak memory [bytes] of the most loaded rank of ``problem`` (module notes)."""
    p, c = problem, constants
    model_columns = _largest_block(p.ny, p.nx, p.ranks_per_task)
    model_cells = model_columns * p.nz
    runs_per_task = math.ceil(p.runs / p.tasks)
    filter_ranks = p.filter_ranks or p.ranks_per_task
    filter_elements = _largest_block(p.ny, p.nx, filter_ranks) * p.elements_per_column
    square = 8.0 * SQUARE_MATRICES * p.analysed ** 2 if p.global_filter else 0.0
    alone = p.tasks == 1 and p.ranks_per_task == 1 and not p.filter_ranks
    sent = 0.0 if alone else TRANSFER_BYTES * model_columns * p.elements_per_column \
        * runs_per_task
    received = 0.0 if alone else TRANSFER_BYTES * filter_elements * p.runs
    model = {"base": c.base, "model": c.cell * model_cells,
             "runs": c.cell_run * model_cells * runs_per_task, "filter": 0.0, "transfer": sent}
    filt = {"base": c.base, "model": 0.0, "runs": 0.0,
            "filter": c.element_run * filter_elements * p.runs + square, "transfer": received}
    if not p.filter_ranks:
        both = {k: model[k] + filt[k] for k in model}
        both["base"] = c.base
        return MemoryEstimate(sum(both.values()), "model and filter rank", both)
    candidates = [MemoryEstimate(sum(model.values()), "model rank", model),
                  MemoryEstimate(sum(filt.values()), "filter rank", filt)]
    return max(candidates, key=lambda e: e.peak)


def ranks_on_this_node(world_size: int) -> int:
    """Ranks sharing this node's memory: MPI's shared-memory split of ``COMM_WORLD`` when MPI
    runs with ``world_size`` ranks (collective then: every rank must call it), else
    ``world_size``."""
    try:
        from mpi4py import MPI
    except ImportError:                                   # pragma: no cover
        return world_size
    if not MPI.Is_initialized() or MPI.Is_finalized() \
            or MPI.COMM_WORLD.Get_size() != world_size:
        return world_size
    node = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()


def _mem_total(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """The node's MemTotal [bytes], or None where /proc/meminfo has none."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        return None
    return None


def available_per_rank(world_size: int, limit_gib: float = 0.0) -> tuple[float | None, str]:
    """The memory [bytes] a rank may use and where the figure comes from.

    Parameters
    ----------
    world_size : int
        Ranks of the run.
    limit_gib : float
        ``[parallel] memory_per_rank_gib`` (0: the node's MemTotal shared by its ranks).

    Returns
    -------
    bytes : float or None
        None where the node's memory is unknown (no check then).
    source : str
        E.g. ``'MemTotal 23.5 GiB / 2 ranks on this node'``.
    """
    if limit_gib > 0:
        return limit_gib * GIB, f"parallel.memory_per_rank_gib = {limit_gib:g}"
    total = _mem_total()
    if total is None:
        return None, "unknown (no /proc/meminfo)"
    ranks = ranks_on_this_node(world_size)
    return total / ranks, (f"MemTotal {total / GIB:.1f} GiB / {ranks} rank"
                           f"{'s' if ranks > 1 else ''} on this node")


def check_memory(estimate: MemoryEstimate, keys: str, world_size: int,
                 limit_gib: float = 0.0) -> None:
    """Refuse a run whose estimated peak per rank exceeds the memory a rank has.

    Parameters
    ----------
    estimate : MemoryEstimate
    keys : str
        The keys the estimate depends on, as the message names them (e.g. ``"grid.nx = 12,
        grid.ny = 12 (2160 cells), ensemble.size = 8 (17 runs)"``).
    world_size : int
    limit_gib : float
        ``[parallel] memory_per_rank_gib``.

    Raises
    ------
    ConfigError
        Naming the keys, the estimate and its terms, and the memory available.
    """
    available, source = available_per_rank(world_size, limit_gib)
    log.debug("memory estimate %s; available %s", estimate.describe(), source)
    if available is None or estimate.peak <= available:
        return
    raise ConfigError(f"{keys}: the run needs about {estimate.describe()}, more than the "
                      f"{_gib(available)} GiB a rank has ({source}); use fewer members, a "
                      "smaller grid or more ranks, or set [parallel] memory_per_rank_gib")


def _gib(value: float) -> str:
    """``value`` [bytes] in GiB, three significant digits, without an exponent."""
    gib = value / GIB
    return f"{gib:,.0f}" if gib >= 100 else f"{gib:.3g}"


def peak_rss_bytes() -> float:
    """This process's peak resident memory so far [bytes] (VmHWM of /proc/self/status, else
    ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    import resource
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0
