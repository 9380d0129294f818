"""Halo exchange of observations between filter ranks.

A local filter on rank ``r`` needs every observation within the cut-off radius of any of its local
analysis domains. Observations are owned (and observed) by the rank whose block holds them, so
``r`` receives the rest from its neighbours, and only from them:

1. every filter rank shares two boxes (4 numbers each): the bounding box of its local-domain
   coordinates and that of its owned observations, and whether any of its observations has a
   vertical range;
2. ranks ``p`` and ``q`` are partners when the observation box of one lies within the widest
   cut-off radius of the other's domain box; the relation is symmetric, so both sides know whom
   to expect without asking. A radius wider than a block reaches past the nearest neighbours;
3. each rank sends each partner the observations that lie within their type's cut-off radius of
   the partner's domain box (value, error variance, coordinates, observed ensemble, global index,
   and the vertical range ``[top, bottom]`` when some rank's observations have one), after a
   message with the count; sparse non-blocking point-to-point messages;
4. the receiver keeps exactly the observations within the cut-off of one of its domains (a
   KD-tree search, the same one that yields each domain's local observations and weights).

Nothing is gathered globally; the bytes moved are counted (:class:`HaloStats`). The cost grows with
a subdomain's perimeter times the radius, not with the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .exchange import exchange, exchange_counts
from .localize import DistanceKind, Localization, Metric, find_local_observations
from .obs.types import ObservationSet

__all__ = ["HaloStats", "LocalObservations", "LocalSearchCache", "box_gap",
           "exchange_observations", "local_observations"]

_TAG_OBS = 31
EARTH_RADIUS_M = 6.3675e6


@dataclass
class HaloStats:
    """What one rank's observation halo exchange moved.

    Attributes
    ----------
    partners : int
        Number of ranks exchanged with.
    sent_obs, received_obs : int
        Observations sent and received.
    bytes_sent, bytes_received : int
        Payload bytes (counts included).
    """

    partners: int = 0
    sent_obs: int = 0
    received_obs: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class LocalObservations:
    """The observations one rank's local domains use, with each domain's local list.

    Attributes
    ----------
    obs : ObservationSet
        Exactly the observations within the cut-off of at least one local domain, sorted by
        global index.
    indptr : (n_domains + 1,) int64 ndarray
        Domain ``d``'s local observations are ``index[indptr[d]:indptr[d+1]]``.
    index : (nnz,) int64 ndarray
        Positions in ``obs``, ascending within each domain (= ascending global index).
    weight : (nnz,) float ndarray
        Localisation weight of each (domain, observation) pair; it multiplies R^-1.
    stats : HaloStats
        What the exchange moved.
    """

    obs: ObservationSet
    indptr: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    stats: HaloStats

    @property
    def counts(self) -> np.ndarray:
        """Number of local observations per domain."""
        return np.diff(self.indptr)


class LocalSearchCache:
    """The last local search of one analysis, reused while nothing it depends on changed.

    The search (which observations each domain uses, and their weights) depends only on the
    candidates' positions, types and global indices, the domains' coordinates and the
    localisations, not on the observed values: a fixed network (every Lorenz-96 variable
    observed every cycle, gauges at fixed sites) is searched once. Held by the cycle, one per
    analysis part; the comparison is exact, so a moved observation is searched again.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._found: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _make_key(candidates: ObservationSet, domain_coords: np.ndarray,
                  localizations: Sequence[Localization]) -> tuple:
        return (candidates.coords.copy(), candidates.type_index.copy(),
                candidates.global_index.copy(), domain_coords.copy(), tuple(localizations))

    def lookup(self, candidates: ObservationSet, domain_coords: np.ndarray,
               localizations: Sequence[Localization]) -> tuple | None:
        """``(used, indptr, index, weight)`` of the last search if it applies, else None."""
        key = self._key
        if key is None or key[4] != tuple(localizations):
            return None
        same = all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(
            key[:4], (candidates.coords, candidates.type_index, candidates.global_index,
                      domain_coords)))
        return self._found if same else None

    def store(self, candidates: ObservationSet, domain_coords: np.ndarray,
              localizations: Sequence[Localization], found: tuple) -> None:
        self._key = self._make_key(candidates, domain_coords, localizations)
        self._found = found


def _bounds(coords: np.ndarray) -> np.ndarray:
    """``[xmin, xmax, ymin, ymax]`` of points (NaN when there are none)."""
    if coords.shape[0] == 0:
        return np.full(4, np.nan)
    return np.array([coords[:, 0].min(), coords[:, 0].max(),
                     coords[:, 1].min(), coords[:, 1].max()])


def box_gap(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray,
            metric: Metric) -> np.ndarray:
    """A lower bound of the distance between points of box A and points of box B.

    Exact for Cartesian and periodic metrics (the distance between the boxes); for geographic
    and haversine metrics on (lon, lat) in radians, the latitude gap times the Earth's radius,
    which never exceeds the great-circle distance. Arrays broadcast; an empty box (NaN bounds)
    is infinitely far.

    Parameters
    ----------
    lo_a, hi_a, lo_b, hi_b : (..., 2) float ndarray
        Lower and upper corners (x, y) of the boxes.
    """
    gap = np.maximum(0.0, np.maximum(lo_b - hi_a, lo_a - hi_b))
    kind = metric.kind
    if kind in (DistanceKind.GEOGRAPHIC, DistanceKind.HAVERSINE):
        d = EARTH_RADIUS_M * gap[..., 1]
    else:
        if kind == DistanceKind.PERIODIC and metric.domain_size is not None:
            size = np.broadcast_to(np.asarray(metric.domain_size, dtype=float)[:2], (2,))
            spread = np.maximum(hi_a, hi_b) - np.minimum(lo_a, lo_b)
            wrapped = np.maximum(0.0, size - spread)
            gap = np.where(size > 0, np.minimum(gap, wrapped), gap)
        d = np.sqrt(np.sum(gap ** 2, axis=-1))
    return np.where(np.isnan(d), np.inf, d)


def exchange_observations(comm: Any, owned: ObservationSet, domain_coords: np.ndarray,
                          localizations: Sequence[Localization]
                          ) -> tuple[ObservationSet, HaloStats]:
    """Receive the neighbours' observations that may lie within reach of this rank's domains.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Filter communicator (collective call).
    owned : ObservationSet
        This rank's own observations (with their observed ensemble).
    domain_coords : (n_domains, 2) float ndarray
        Coordinates of this rank's local analysis domains.
    localizations : sequence of Localization
        One per observation type (indexed by ``owned.type_index``).

    Returns
    -------
    ObservationSet
        Own and received observations, sorted by global index (a superset of what the domains
        need; :func:`local_observations` keeps exactly those).
    HaloStats
    """
    rank = comm.Get_rank()
    size = comm.Get_size()
    n_members = owned.hx.shape[0]
    if size == 1:                                   # no neighbour: the own observations
        return owned, HaloStats()
    mine = np.concatenate([_bounds(domain_coords), _bounds(owned.coords),
                           [1.0 if owned.has_vertical else 0.0]])
    table = np.empty((size, 9))
    comm.Allgather(mine, table)
    vertical = bool(table[:, 8].any())      # the same on every rank: one payload width
    dom_lo, dom_hi = table[:, [0, 2]], table[:, [1, 3]]
    obs_lo, obs_hi = table[:, [4, 6]], table[:, [5, 7]]

    stats = HaloStats()
    partner_mask = np.zeros(size, dtype=bool)
    radius = np.array([loc.cradius for loc in localizations], dtype=float)
    for loc in localizations:
        # symmetric: my observations near their domains, or theirs near mine
        near_them = box_gap(obs_lo[rank], obs_hi[rank], dom_lo, dom_hi, loc.metric) <= loc.cradius
        near_me = box_gap(obs_lo, obs_hi, dom_lo[rank], dom_hi[rank], loc.metric) <= loc.cradius
        partner_mask |= near_them | near_me
    partner_mask[rank] = False
    partners = [int(q) for q in np.flatnonzero(partner_mask)]
    stats.partners = len(partners)

    sends: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    # value, variance, x, y, global index, H(x) per member, [top, bottom] where any has one
    width = 5 + n_members + (2 if vertical else 0)
    for q in partners:
        keep = np.zeros(owned.size, dtype=bool)
        for k, loc in enumerate(localizations):
            of_type = owned.type_index == k
            if not np.any(of_type):
                continue
            gap = box_gap(owned.coords[of_type], owned.coords[of_type], dom_lo[q], dom_hi[q],
                          loc.metric)
            keep[of_type] = gap <= radius[k]
        sel = np.flatnonzero(keep)
        counts[q] = sel.size
        payload = np.empty((sel.size, width))
        payload[:, 0] = owned.value[sel]
        payload[:, 1] = owned.variance[sel]
        payload[:, 2:4] = owned.coords[sel]
        payload[:, 4] = owned.global_index[sel] * len(localizations) + owned.type_index[sel]
        payload[:, 5:5 + n_members] = owned.hx[:, sel].T
        if vertical:
            payload[:, 5 + n_members:] = owned.vertical_range[sel]
        sends[q] = payload
        stats.sent_obs += sel.size
    got_counts = exchange_counts(comm, counts, partners, tag=_TAG_OBS)
    got = exchange(comm, sends, {p: n * width for p, n in got_counts.items()}, tag=_TAG_OBS + 1)
    stats.bytes_sent = sum(b.nbytes for b in sends.values()) + 8 * len(partners)
    stats.bytes_received = sum(b.nbytes for b in got.values()) + 8 * len(partners)

    parts = [owned]
    for p in partners:
        payload = got[p].reshape(-1, width)
        stats.received_obs += payload.shape[0]
        code = np.rint(payload[:, 4]).astype(np.int64)
        parts.append(ObservationSet(payload[:, 0].copy(), payload[:, 1].copy(),
                                    payload[:, 2:4].copy(), payload[:, 5:5 + n_members].T.copy(),
                                    code // len(localizations), code % len(localizations),
                                    payload[:, 5 + n_members:].copy() if vertical else None))
    return ObservationSet.concatenate(parts, n_members), stats


def local_observations(candidates: ObservationSet, domain_coords: np.ndarray,
                       localizations: Sequence[Localization],
                       stats: HaloStats | None = None,
                       cache: LocalSearchCache | None = None) -> LocalObservations:
    """Each domain's local observations, keeping only observations some domain uses.

    Parameters
    ----------
    candidates : ObservationSet
        Observations sorted by global index (e.g. from :func:`exchange_observations`).
    domain_coords : (n_domains, 2) float ndarray
    localizations : sequence of Localization
        One per observation type.
    stats : HaloStats, optional
        What the exchange moved, kept in the result.
    cache : LocalSearchCache, optional
        Reuses the previous search when it applies, and keeps this one.
    """
    found = cache.lookup(candidates, domain_coords, localizations) if cache else None
    if found is None:
        found = _search(candidates, domain_coords, localizations)
        if cache is not None:
            cache.store(candidates, domain_coords, localizations, found)
    used, indptr, index, weight = found
    return LocalObservations(candidates.subset(used), indptr, index, weight,
                             stats or HaloStats())


def _search(candidates: ObservationSet, domain_coords: np.ndarray,
            localizations: Sequence[Localization]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(used, indptr, index, weight)`` of :func:`local_observations`, searched.

    Avoids copies of the pair arrays (millions of elements, each copy fresh memory) where it
    can: with one observation type the search's CSR arrays are used as they are, and where
    every candidate is used the positions among them are the indices.
    """
    n_domains = domain_coords.shape[0]
    found = []
    for k, loc in enumerate(localizations):
        of_type = np.flatnonzero(candidates.type_index == k)
        if of_type.size == 0 or n_domains == 0:
            continue
        pairs = find_local_observations(domain_coords, candidates.coords[of_type], loc)
        # positions among all candidates (of_type ascends, so they ascend within each domain)
        found.append((pairs, pairs.obs if of_type.size == candidates.size
                      else of_type[pairs.obs]))
    if len(found) == 1:
        pairs, position = found[0]
        indptr, weight = pairs.indptr, pairs.weight
    else:
        dom = np.concatenate([np.zeros(0, dtype=np.int64)]
                             + [pairs.domain_of_pair() for pairs, _ in found])
        position = np.concatenate([np.zeros(0, dtype=np.int64)] + [pos for _, pos in found])
        weight = np.concatenate([np.zeros(0)] + [pairs.weight for pairs, _ in found])
        order = np.lexsort((position, dom))
        position, weight = position[order], weight[order]
        indptr = np.zeros(n_domains + 1, dtype=np.int64)
        np.cumsum(np.bincount(dom, minlength=n_domains), out=indptr[1:])
    # np.unique(position, return_inverse=True) without sorting: candidates are 0..size-1
    present = np.bincount(position, minlength=candidates.size) > 0
    used = np.flatnonzero(present)
    index = position if used.size == candidates.size else (np.cumsum(present) - 1)[position]
    return used, indptr, index.astype(np.int64, copy=False), weight
