"""Exchange plans: the bytes and messages of one analysis' communication, counted without a model.

Given a grid, a rank layout, the state size per column and an observation network (positions and
cut-off radius per type), this module counts, per rank, what the three exchanges of one analysis
move, using exactly the rules of the code that moves it:

observation halo (:func:`pdafpy.halo.exchange_observations`), over the filter ranks
    ranks ``p`` and ``q`` are partners when the bounding box of one's owned observations lies
    within a type's cut-off of the bounding box of the other's local-domain (column) coordinates
    (:func:`pdafpy.halo.box_gap`, symmetric); to each partner a rank sends one count (one int64,
    8 bytes) and one payload message holding every owned observation within its type's cut-off of
    the partner's domain box, ``5 + N`` float64 values each (value, variance, x, y, global index
    and type index packed as one number, ``H(x)`` of the ``N`` members) plus 2 (``[top, bottom]``)
    when any observation has a vertical range. Both messages go even when the count is 0. With one
    filter rank nothing moves.
allgather (what the LEnKF and the serial filters do by design), over the filter ranks
    every rank receives every other rank's observations with the same payload, counted the same
    way: one count and one payload message to and from each of the other ``P - 1`` ranks.
collect and distribute (:class:`pdafpy.transfer.EnsembleTransfer`), over the world
    model rank ``(task t, rank r)`` sends filter rank ``j`` one message when their blocks
    intersect, ``members(t) * state_per_column * columns`` float64 values; distribute is the
    reverse. With the filter on task 0's ranks, task 0's rank ``j`` "sends" filter rank ``j``
    (itself) a message that MPI copies locally; it is counted apart (:attr:`RankCounts.self_bytes`)
    and in neither bytes nor messages.

Setup traffic (the halo's ``Allgather`` of 9 float64 per rank, the transfer's of 10 int64 per
world rank, both once per plan), MPI envelopes and innovation-based omission are not counted.
Everything is vectorised over observations and columns; loops run over ranks only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .decomposition import Box, block_boxes, choose_process_grid
from .halo import box_gap
from .localize import Localization
from .model import Grid
from .obs.ownership import owner_of
from .obs.types import ObservationType
from .parallel import member_counts

__all__ = ["PlannedObservations", "RankCounts", "HaloPlan", "TransferPlan", "ExchangePlan",
           "every_kth_column", "observation_payload", "halo_plan", "allgather_plan",
           "transfer_plan", "plan_exchanges"]

log = logging.getLogger(__name__)

VALUE_BYTES = 8        #: bytes of one float64 value in a message
COUNT_BYTES = 8        #: bytes of one count message (one int64)


@dataclass(frozen=True)
class PlannedObservations:
    """The positions of one observation type and how far they reach.

    Attributes
    ----------
    name : str
        Label for tables.
    coords : (m, 2) float ndarray
        Horizontal coordinates (x, y) in the grid's units.
    localization : Localization
        Cut-off radius (``cradius``, grid units) and metric.
    vertical : bool
        Whether the observations carry a vertical range (2 more values per observation).
    """

    name: str
    coords: np.ndarray
    localization: Localization
    vertical: bool = False

    @property
    def size(self) -> int:
        """Number of observations."""
        return int(np.shape(self.coords)[0])

    @classmethod
    def from_type(cls, obs_type: ObservationType) -> "PlannedObservations":
        """The plan's view of an observation type (all of its observations kept)."""
        vr = obs_type.vertical_range
        vertical = vr is not None and bool(np.any(np.isfinite(vr)))
        return cls(obs_type.name, np.asarray(obs_type.coords, dtype=float),
                   obs_type.localization, vertical)


@dataclass
class RankCounts:
    """Bytes and messages one exchange moves, per rank.

    Attributes
    ----------
    bytes_sent, bytes_received : (n_ranks,) int64 ndarray
        Payload bytes, count messages included, to and from other ranks [bytes].
    messages_sent, messages_received : (n_ranks,) int64 ndarray
        Point-to-point messages to and from other ranks.
    self_bytes : (n_ranks,) int64 ndarray
        Bytes a rank sends itself (local copies; zero for the observation exchanges) [bytes].
    """

    bytes_sent: np.ndarray
    bytes_received: np.ndarray
    messages_sent: np.ndarray
    messages_received: np.ndarray
    self_bytes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.self_bytes.size == 0:
            self.self_bytes = np.zeros_like(self.bytes_sent)

    @classmethod
    def zeros(cls, n_ranks: int) -> "RankCounts":
        """No traffic on ``n_ranks`` ranks."""
        z = np.zeros(n_ranks, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy())

    @property
    def n_ranks(self) -> int:
        """Number of ranks counted."""
        return int(self.bytes_sent.size)

    def summary(self, ranks: np.ndarray | None = None) -> dict[str, float]:
        """Maximum and mean over ``ranks`` (default all) of bytes and messages, both directions."""
        sel = np.arange(self.n_ranks) if ranks is None else np.asarray(ranks)
        out: dict[str, float] = {}
        for name in ("bytes_sent", "bytes_received", "messages_sent", "messages_received"):
            v = getattr(self, name)[sel]
            out[f"{name}_max"] = int(v.max()) if v.size else 0
            out[f"{name}_mean"] = float(v.mean()) if v.size else 0.0
        return out


@dataclass
class HaloPlan(RankCounts):
    """The observation halo per filter rank (:func:`pdafpy.halo.exchange_observations`).

    Attributes
    ----------
    partners : (n_filter,) int64 ndarray
        Ranks exchanged with (``HaloStats.partners``); messages are twice this, each way.
    owned_obs, sent_obs, received_obs : (n_filter,) int64 ndarray
        Observations owned, sent (summed over partners) and received.
    payload_bytes : int
        Bytes of one observation in a payload message [bytes].
    """

    partners: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    owned_obs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sent_obs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    received_obs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    payload_bytes: int = 0


@dataclass
class TransferPlan:
    """Collect and distribute over the world ranks (:class:`pdafpy.transfer.EnsembleTransfer`).

    Attributes
    ----------
    collect, distribute : RankCounts
        Per world rank (separate filter ranks first, then the tasks' ranks task by task).
    filter_world_ranks : (n_filter,) int64 ndarray
        World rank of each filter rank.
    """

    collect: RankCounts
    distribute: RankCounts
    filter_world_ranks: np.ndarray


@dataclass
class ExchangePlan:
    """Every exchange of one analysis.

    Attributes
    ----------
    halo, allgather : HaloPlan, RankCounts
        Per filter rank: the observation halo, and the allgather alternative.
    transfer : TransferPlan
        Collect and distribute, per world rank.
    filter_boxes, model_boxes : list of Box
        Blocks of the filter ranks and of one model task's ranks.
    """

    halo: HaloPlan
    allgather: RankCounts
    transfer: TransferPlan
    filter_boxes: list[Box]
    model_boxes: list[Box]


def every_kth_column(grid: Grid, k: int, offset: int = 0) -> np.ndarray:
    """Coordinates of every ``k``-th column along x and every ``k``-th row along y.

    Returns
    -------
    (m, 2) float ndarray
        ``(x, y)`` of columns ``offset, offset + k, ...`` in both directions, row by row.
    """
    xx, yy = np.meshgrid(grid.x[offset::k], grid.y[offset::k])
    return np.column_stack([xx.ravel(), yy.ravel()])


def observation_payload(n_members: int, vertical: bool) -> int:
    """Bytes one observation takes in a halo payload: ``8 (5 + N (+ 2))`` [bytes]."""
    return VALUE_BYTES * (5 + n_members + (2 if vertical else 0))


def _domain_bounds(grid: Grid, boxes: Sequence[Box]) -> np.ndarray:
    """``(P, 4)`` ``[xmin, xmax, ymin, ymax]`` of each block's column coordinates."""
    out = np.empty((len(boxes), 4))
    for r, b in enumerate(boxes):
        xs, ys = grid.x[b.x0:b.x1], grid.y[b.y0:b.y1]
        out[r] = [xs.min(), xs.max(), ys.min(), ys.max()]
    return out


def _owned_bounds(coords: np.ndarray, owner: np.ndarray, n_ranks: int) -> np.ndarray:
    """``(P, 4)`` bounding boxes of each rank's observations (NaN where it owns none)."""
    out = np.full((n_ranks, 4), np.nan)
    if coords.shape[0] == 0:
        return out
    order = np.argsort(owner, kind="stable")
    ranks, starts = np.unique(owner[order], return_index=True)
    xs, ys = coords[order, 0], coords[order, 1]
    out[ranks] = np.column_stack([np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts),
                                  np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)])
    return out


def _partners(r: int, locs: Sequence[Localization], dom: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Partners of rank ``r``: halo.py's symmetric box test, for every localisation."""
    dom_lo, dom_hi, obs_lo, obs_hi = dom[:, [0, 2]], dom[:, [1, 3]], obs[:, [0, 2]], obs[:, [1, 3]]
    mask = np.zeros(dom.shape[0], dtype=bool)
    for loc in locs:
        mask |= box_gap(obs_lo[r], obs_hi[r], dom_lo, dom_hi, loc.metric) <= loc.cradius
        mask |= box_gap(obs_lo, obs_hi, dom_lo[r], dom_hi[r], loc.metric) <= loc.cradius
    mask[r] = False
    return np.flatnonzero(mask)


def _send_counts(coords: np.ndarray, types: np.ndarray, locs: Sequence[Localization],
                 dom: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Observations a rank sends each partner: those within their type's cut-off of its box.

    Parameters
    ----------
    coords : (m, 2) float ndarray
        The rank's own observations; ``types`` (m,) their type index.
    dom : (P, 4) float ndarray
        Domain boxes; ``partners`` (n,) the ranks to count for.
    """
    counts = np.zeros(partners.size, dtype=np.int64)
    lo, hi = dom[partners][:, [0, 2]][None], dom[partners][:, [1, 3]][None]
    for k, loc in enumerate(locs):
        pts = coords[types == k][:, None, :]
        if pts.shape[0] == 0 or partners.size == 0:
            continue
        gap = box_gap(pts, pts, lo, hi, loc.metric)          # (m_k, n_partners)
        counts += np.count_nonzero(gap <= float(loc.cradius), axis=0)
    return counts


def halo_plan(grid: Grid, boxes: Sequence[Box], observations: Sequence[PlannedObservations],
              n_members: int) -> HaloPlan:
    """Bytes and messages of the observation halo exchange, per filter rank.

    Parameters
    ----------
    grid : Grid
        The global grid (column coordinates are the local domains).
    boxes : sequence of Box
        Every filter rank's block, in rank order (a tensor-product decomposition).
    observations : sequence of PlannedObservations
        One per observation type, in type order.
    n_members : int
        Ensemble size ``N``.
    """
    n = len(boxes)
    coords = np.concatenate([np.asarray(o.coords, dtype=float).reshape(-1, 2)
                             for o in observations]) if observations else np.zeros((0, 2))
    types = np.repeat(np.arange(len(observations)), [o.size for o in observations])
    owner = owner_of(coords, grid, boxes) if coords.shape[0] else np.zeros(0, dtype=np.int64)
    owned = np.bincount(owner, minlength=n).astype(np.int64)
    payload = observation_payload(n_members, any(o.vertical and o.size for o in observations))
    zero = RankCounts.zeros(n)
    plan = HaloPlan(zero.bytes_sent, zero.bytes_received, zero.messages_sent,
                    zero.messages_received, zero.self_bytes, partners=zero.bytes_sent.copy(),
                    owned_obs=owned, sent_obs=zero.bytes_sent.copy(),
                    received_obs=zero.bytes_sent.copy(), payload_bytes=payload)
    if n == 1:                                   # halo.py: one rank exchanges nothing
        return plan
    locs = [o.localization for o in observations]
    dom = _domain_bounds(grid, boxes)
    obs = _owned_bounds(coords, owner, n)
    order = np.argsort(owner, kind="stable")
    starts = np.concatenate([[0], np.cumsum(owned)])
    for r in range(n):
        partners = _partners(r, locs, dom, obs)
        mine = order[starts[r]:starts[r + 1]]
        counts = _send_counts(coords[mine], types[mine], locs, dom, partners)
        plan.partners[r] = partners.size
        plan.sent_obs[r] = counts.sum()
        np.add.at(plan.received_obs, partners, counts)
    plan.messages_sent[:] = 2 * plan.partners          # a count and a payload per partner
    plan.messages_received[:] = 2 * plan.partners      # partners are symmetric
    plan.bytes_sent[:] = payload * plan.sent_obs + COUNT_BYTES * plan.partners
    plan.bytes_received[:] = payload * plan.received_obs + COUNT_BYTES * plan.partners
    log.debug("halo plan on %d ranks: at most %d partners, %d bytes received", n,
              plan.partners.max(), plan.bytes_received.max())
    return plan


def allgather_plan(owned_obs: np.ndarray, payload_bytes: int) -> RankCounts:
    """Every rank receiving every observation, counted as the halo is.

    Parameters
    ----------
    owned_obs : (P,) int ndarray
        Observations each filter rank owns.
    payload_bytes : int
        Bytes per observation (:func:`observation_payload`) [bytes].
    """
    owned_obs = np.asarray(owned_obs, dtype=np.int64)
    n = owned_obs.size
    if n == 1:
        return RankCounts.zeros(1)
    others = n - 1
    sent = others * (COUNT_BYTES + payload_bytes * owned_obs)
    received = others * COUNT_BYTES + payload_bytes * (owned_obs.sum() - owned_obs)
    msgs = np.full(n, 2 * others, dtype=np.int64)
    return RankCounts(sent, received, msgs, msgs.copy())


def _intersections(model_boxes: Sequence[Box], filter_boxes: Sequence[Box]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty block intersections: ``(model rank, filter rank, columns)`` arrays."""
    mb = np.array([b.as_array() for b in model_boxes])           # rows y0, y1, x0, x1
    rows, cols, sizes = [], [], []
    for j, fb in enumerate(filter_boxes):
        ny = np.minimum(mb[:, 1], fb.y1) - np.maximum(mb[:, 0], fb.y0)
        nx = np.minimum(mb[:, 3], fb.x1) - np.maximum(mb[:, 2], fb.x0)
        size = np.where((ny > 0) & (nx > 0), ny * nx, 0)
        hit = np.flatnonzero(size)
        rows.append(hit)
        cols.append(np.full(hit.size, j))
        sizes.append(size[hit])
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(sizes).astype(np.int64))


def transfer_plan(model_boxes: Sequence[Box], filter_boxes: Sequence[Box], n_tasks: int,
                  n_members: int, state_per_column: int, filter_ranks: int = 0) -> TransferPlan:
    """Bytes and messages of collect and distribute, per world rank.

    Parameters
    ----------
    model_boxes : sequence of Box
        One model task's blocks (every task decomposes alike), ``p`` of them.
    filter_boxes : sequence of Box
        The filter ranks' blocks (task 0's blocks when ``filter_ranks == 0``).
    n_tasks, n_members : int
        Model tasks; ensemble size (dealt out as :func:`pdafpy.parallel.member_counts`).
    state_per_column : int
        State values per column and member (levels summed over the fields that travel).
    filter_ranks : int
        Separate filter ranks (world ranks ``0 .. f-1``); 0: task 0's ranks analyse.
    """
    p, f = len(model_boxes), filter_ranks
    world = f + n_tasks * p
    filter_world = np.arange(len(filter_boxes), dtype=np.int64)      # f > 0: 0..f-1; else task 0
    if world == 1:                                # EnsembleTransfer: alone, nothing sent
        z = RankCounts.zeros(1)
        return TransferPlan(z, RankCounts.zeros(1), filter_world)
    m_rank, f_rank, cols = _intersections(model_boxes, filter_boxes)
    per_task = np.asarray(member_counts(n_members, n_tasks), dtype=np.int64)
    # every task's copy of every intersection: world ranks, bytes
    task = np.repeat(np.arange(n_tasks), m_rank.size)
    src = f + task * p + np.tile(m_rank, n_tasks)
    dst = filter_world[np.tile(f_rank, n_tasks)]
    nbytes = VALUE_BYTES * per_task[task] * state_per_column * np.tile(cols, n_tasks)
    local = src == dst

    def counts(frm: np.ndarray, to: np.ndarray) -> RankCounts:
        net = ~local
        return RankCounts(
            np.bincount(frm[net], nbytes[net], minlength=world).astype(np.int64),
            np.bincount(to[net], nbytes[net], minlength=world).astype(np.int64),
            np.bincount(frm[net], minlength=world).astype(np.int64),
            np.bincount(to[net], minlength=world).astype(np.int64),
            np.bincount(frm[local], nbytes[local], minlength=world).astype(np.int64))

    return TransferPlan(counts(src, dst), counts(dst, src), filter_world)


def plan_exchanges(grid: Grid, observations: Sequence[PlannedObservations], n_members: int,
                   ranks_per_task: int, n_tasks: int = 1, filter_ranks: int = 0,
                   state_per_column: int = 1,
                   process_grid: tuple[int, int] | None = None) -> ExchangePlan:
    """Every exchange of one analysis on a rank layout, as :func:`pdafpy.job.set_up_job` lays it.

    Parameters
    ----------
    grid : Grid
        The global grid (``ny`` x ``nx`` columns at its coordinates, grid units or m).
    observations : sequence of PlannedObservations
        The observation network, one entry per type.
    n_members : int
        Ensemble size ``N``.
    ranks_per_task, n_tasks, filter_ranks : int
        ``n_tasks`` model tasks of ``ranks_per_task`` ranks; ``filter_ranks`` separate filter
        ranks (0: task 0's ranks analyse on the model's blocks).
    state_per_column : int
        State values per column and member (e.g. ``nz`` for one 3D field).
    process_grid : (py, px), optional
        The model's process grid (default :func:`pdafpy.decomposition.choose_process_grid`).
    """
    py, px = process_grid or choose_process_grid(ranks_per_task, grid.ny, grid.nx)
    model_boxes = block_boxes(grid.ny, grid.nx, py, px)
    filter_boxes = model_boxes if not filter_ranks else block_boxes(
        grid.ny, grid.nx, *choose_process_grid(filter_ranks, grid.ny, grid.nx))
    halo = halo_plan(grid, filter_boxes, observations, n_members)
    return ExchangePlan(halo, allgather_plan(halo.owned_obs, halo.payload_bytes),
                        transfer_plan(model_boxes, filter_boxes, n_tasks, n_members,
                                      state_per_column, filter_ranks),
                        list(filter_boxes), list(model_boxes))
