"""The local-observation search: one KD-tree search over all local domains, re-tested with
PDAF's exact distance formulas and cut-off rules (:func:`find_local_observations`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from scipy.spatial import cKDTree

from .distances import R_EARTH, DistanceKind, Metric
from .localization import Localization

__all__ = ["LocalPairs", "find_local_observations"]

_log = logging.getLogger(__name__)

# Relative and absolute slack of the KD-tree candidate search. Candidates are always re-checked
# with the exact PDAF formulas, so the slack only has to exceed floating-point round-off.
_REL_MARGIN = 1.0e-9
_ABS_MARGIN = 1.0e-12
#: Domains searched together. Their candidate pairs (about 16 per domain for a cut-off of 10 grid
#: spacings at one observation per 20 cells) and the temporaries of the exact re-test then take
#: about a megabyte each, memory reused from block to block: one search over all domains at
#: once made each of them a fresh array of tens of megabytes, whose first touch (page faults, in
#: a virtual machine several microseconds per page) cost more than the arithmetic.
_BLOCK_DOMAINS = 4096


@dataclass(frozen=True)
class LocalPairs:
    """Local observations of every domain in CSR layout.

    Attributes
    ----------
    indptr : (n_domains + 1,) int64
        Pairs of domain ``i`` are ``indptr[i]:indptr[i+1]``.
    obs : (nnz,) int64
        Positions into the observation array; ascending within each domain.
    distance : (nnz,) float64
        Distances (coordinate units / metres).
    weight : (nnz,) float64
        Localisation weights (may be 0 for local observations beyond the support).
    """

    indptr: np.ndarray
    obs: np.ndarray
    distance: np.ndarray
    weight: np.ndarray

    @property
    def n_domains(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def nnz(self) -> int:
        return int(self.obs.shape[0])

    def counts(self) -> np.ndarray:
        """(n_domains,) int64: number of local observations of each domain."""
        return np.diff(self.indptr)

    def domain_of_pair(self) -> np.ndarray:
        """(nnz,) int64: the domain each pair belongs to."""
        return np.repeat(np.arange(self.n_domains, dtype=np.int64), self.counts())


def _as_coords(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be an (n, k) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite coordinates")
    return x


def _wrap(x: np.ndarray, size: float) -> np.ndarray:
    w = np.mod(x, size)
    w[w >= size] = 0.0  # np.mod(-tiny, L) rounds to L
    return w


def _embedding(
    coords: np.ndarray, metric: Metric, cradius: float
) -> Tuple[np.ndarray, float, Optional[np.ndarray]]:
    """Points for the KD-tree, the Euclidean search radius that bounds the metric's cut-off,
    and the cKDTree ``boxsize`` (None if nothing is periodic)."""
    k = coords.shape[1]
    vcut = cradius if metric.vertical_cutoff is None else metric.vertical_cutoff
    split_vertical = metric.horizontal_only and k == 3
    # scale of the vertical so that |dz| <= vcut becomes |dz'| <= cradius
    if split_vertical and 0.0 < vcut < math.inf:
        zscale: Optional[float] = cradius / vcut
    else:
        zscale = None  # vertical not part of the search (filtered exactly afterwards)

    if metric.kind in (DistanceKind.CARTESIAN, DistanceKind.PERIODIC):
        sizes = metric.domain_size if metric.kind is DistanceKind.PERIODIC else (0.0,) * k
        cols, box = [], []
        naxes = 2 if split_vertical else k
        for ax in range(naxes):
            size = sizes[ax]  # type: ignore[index]
            cols.append(_wrap(coords[:, ax], size) if size > 0 else coords[:, ax])
            box.append(size if size > 0 else 0.0)
        radius = cradius
        if zscale is not None:
            size = sizes[2]  # type: ignore[index]
            z = coords[:, 2]
            if size > 0 and zscale > 0:
                zs = _wrap(_wrap(z, size) * zscale, size * zscale)
                box.append(size * zscale)
            else:
                zs = z * zscale
                box.append(0.0)
            cols.append(zs)
            radius = math.sqrt(2.0) * cradius
        pts = np.column_stack(cols)
        boxsize = np.asarray(box) if any(b > 0 for b in box) else None
        return pts, radius, boxsize

    # geographic kinds: 3-D Cartesian points on the sphere of radius R. The chord is never
    # longer than the great circle, which is <= the haversine distance and <= sqrt(2) times
    # PDAF's simplified geographic distance (a path along the parallel of A then along the
    # meridian of B has length dx + dy <= sqrt(2) sqrt(dx^2 + dy^2)).
    lon, lat = coords[:, 0], coords[:, 1]
    if np.any(np.abs(lat) > math.pi / 2 * (1 + 1e-12)) or np.any(np.abs(lon) > 2 * math.pi):
        raise ValueError(
            "geographic coordinates must be (lon, lat) in radians with |lat| <= pi/2 and "
            "|lon| <= 2 pi; were degrees given?"
        )
    cl = np.cos(lat)
    cols = [R_EARTH * cl * np.cos(lon), R_EARTH * cl * np.sin(lon), R_EARTH * np.sin(lat)]
    bound = cradius if metric.kind is DistanceKind.HAVERSINE else math.sqrt(2.0) * cradius
    radius = bound
    if k == 3:
        if not metric.horizontal_only:
            cols.append(coords[:, 2])  # d^2 = dh^2 + dz^2, chord^2 + dz^2 <= bound^2 (see above)
        elif zscale is not None:
            cols.append(coords[:, 2] * zscale)
            radius = math.sqrt(bound * bound + cradius * cradius)
    return np.column_stack(cols), radius, None


def find_local_observations(
    domain_coords: np.ndarray, obs_coords: np.ndarray, loc: Localization
) -> LocalPairs:
    """Find, for every local domain, the observations within the cut-off radius.

    KD-tree searches over blocks of :data:`_BLOCK_DOMAINS` domains (no Python loop per domain
    or observation); the candidates are then re-tested with PDAF's exact distance formulas and
    cut-off rules (per-axis pre-checks, ``d^2 <= cradius^2``, 2+1D vertical cut-off), so the
    result is the set that PDAF's ``PDAFomi_init_dim_obs_l`` would find, with distances
    ``sqrt(d^2)``.

    Parameters
    ----------
    domain_coords : (n_domains, k) float
        Coordinates of the local analysis domains (e.g. column centres). Coordinate units
        for Cartesian/periodic metrics; ``(lon, lat[, z])`` in radians for geographic ones.
    obs_coords : (n_obs, k) float
        Observation coordinates, same layout. Callers pass them sorted by global observation
        index; the result lists each domain's observations in ascending position, so sums
        over local observations do not depend on the decomposition.
    loc : Localization
        Cut-off, weight function and metric.

    Returns
    -------
    LocalPairs
        CSR arrays ``indptr``, ``obs``, ``distance``, ``weight``.
    """
    dom = _as_coords("domain_coords", domain_coords)
    obs = _as_coords("obs_coords", obs_coords)
    n_dom, n_obs = dom.shape[0], obs.shape[0]
    if dom.shape[1] != obs.shape[1]:
        raise ValueError(
            f"domain_coords has {dom.shape[1]} coordinates per point, obs_coords {obs.shape[1]}"
        )
    metric = loc.metric
    metric._check_ncoord(dom.shape[1])
    cradius = loc.cradius

    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0, dtype=np.float64)
    if n_dom == 0 or n_obs == 0:
        return LocalPairs(np.zeros(n_dom + 1, dtype=np.int64), empty_i, empty_f, empty_f.copy())

    pts_dom, radius, boxsize = _embedding(dom, metric, cradius)
    pts_obs, _, _ = _embedding(obs, metric, cradius)
    scale = max(1.0, float(np.max(np.abs(pts_dom))), float(np.max(np.abs(pts_obs))))
    r_search = radius * (1.0 + _REL_MARGIN) + _ABS_MARGIN * scale

    tree_obs = cKDTree(pts_obs, boxsize=boxsize)
    counts = np.zeros(n_dom, dtype=np.int64)
    found = [_search_block(dom, obs, pts_dom, tree_obs, boxsize, r_search, loc, start,
                           min(start + _BLOCK_DOMAINS, n_dom), counts)
             for start in range(0, n_dom, _BLOCK_DOMAINS)]
    indptr = np.zeros(n_dom + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    _log.debug("local search: %d domains, %d observations, %d local pairs",
               n_dom, n_obs, int(indptr[-1]))
    iobs = np.concatenate([part[0] for part in found], dtype=np.int64)
    dist, weight = (np.concatenate([part[k] for part in found]) for k in (1, 2))
    return LocalPairs(indptr, iobs, dist, weight)


def _search_block(dom: np.ndarray, obs: np.ndarray, pts_dom: np.ndarray, tree_obs: cKDTree,
                  boxsize: Optional[np.ndarray], r_search: float, loc: Localization,
                  start: int, stop: int, counts: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The local pairs of domains ``start:stop`` (see :func:`find_local_observations`).

    Parameters
    ----------
    dom : (n_domains, k) float ndarray
        Domain coordinates.
    obs : (n_obs, k) float ndarray
        Observation coordinates.
    pts_dom : (n_domains, k') float ndarray
        The domains' points in the KD-tree's embedding.
    tree_obs : cKDTree
        Of the observations' points.
    boxsize : ndarray or None
        The trees' periodic box.
    r_search : float
        Euclidean search radius in the embedding (with slack).
    loc : Localization
    start, stop : int
        The block of domains.
    counts : (n_domains,) int64 ndarray
        Receives the number of local observations of each domain of the block.

    Returns
    -------
    iobs : (nnz,) int32 or int64 ndarray
        Positions of the local observations, by domain, then ascending.
    dist : (nnz,) float ndarray
        Their distances.
    weight : (nnz,) float ndarray
        Their localisation weights.
    """
    n_obs = obs.shape[0]
    tree_dom = cKDTree(pts_dom[start:stop], boxsize=boxsize)
    cand = tree_dom.sparse_distance_matrix(tree_obs, r_search, output_type="ndarray")
    # sort by (domain, observation) through one integer key, split again in place; 32-bit keys
    # where they fit sort about five times faster than 64-bit ones
    small = (stop - start) * n_obs <= np.iinfo(np.int32).max
    key = cand["i"].astype(np.int32 if small else np.int64)
    key *= n_obs
    key += cand["j"]
    del cand
    key.sort()
    idom = key // n_obs
    iobs = np.remainder(key, n_obs, out=key)
    block = dom[start:stop]
    a = [block[:, ax][idom] for ax in range(dom.shape[1])]
    b = [obs[:, ax][iobs] for ax in range(obs.shape[1])]
    dist2, ok = loc.metric._pair_test(a, b, loc.cradius)
    del a, b
    if np.count_nonzero(ok) < ok.shape[0]:
        idom, iobs, dist2 = idom[ok], iobs[ok], dist2[ok]
    counts[start:stop] = np.bincount(idom, minlength=stop - start)
    dist = np.sqrt(dist2, out=dist2)
    return iobs, dist, loc.weights(dist)
