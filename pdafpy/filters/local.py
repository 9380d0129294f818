"""Batched local analysis: every local domain of a rank analysed without a Python loop over domains.

Domains are grouped by their number of local observations ``m`` (a handful of distinct values);
each group is cut into chunks of at most ``chunk_size`` domains, and a chunk becomes stacked arrays
``(B, n_local, N)`` of state anomalies and ``(B, m, N)`` of observed anomalies on which the filter's
algebra runs with batched ``matmul``. The matrix functions of a chunk (Chebyshev series or
Newton-Schulz iterations) cost more the larger its largest eigenvalue bound, so the chunks of a
group are formed from domains sorted by a bound (:func:`domain_batches`). Local observations stay
in ascending global index, so every domain's sums are formed in the same order on any rank
layout.

With vertical localisation (:class:`~pdafpy.localize.VerticalLocalization`) each column domain is
split into sub-domains of equal element depth (e.g. level ``k`` of every layered field; elements
without a depth form one more): each is analysed with the column's local observations, whose
inverse variances carry the horizontal weight times the vertical weight at that depth. The loop
runs over the distinct depths (:func:`depth_groups`), never over columns; at each depth the
domains are batched as above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from .chebyshev import block_size
from .workspace import Workspace

if TYPE_CHECKING:
    from ..halo import LocalObservations
    from ..localize import VerticalLocalization

__all__ = ["LocalBatch", "SORT_BATCHES", "batched_local_analysis", "domain_batches",
           "depth_groups", "vertical_sub_domains"]

#: Batches whose domains :func:`domain_batches` sorts together by their eigenvalue bounds (more:
#: batches of more similar bounds, from larger temporaries).
SORT_BATCHES = 8


@dataclass
class LocalBatch:
    """A batch of ``B`` local domains that all have ``m`` local observations.

    Attributes
    ----------
    x_anom : (B, n, N) ndarray
        Local state anomalies.
    y_anom : (B, m, N) ndarray
        Observed anomalies of the local observations.
    innovation : (B, m) ndarray
        ``y - mean(H(x))``.
    rinv : (B, m) ndarray
        Inverse error variances times the localisation weights.
    perturbation : (B, m, N) ndarray or None
        Observation perturbations of the local observations (stochastic filters only).
    cycle : int
        Analysis counter.
    forget : float
        Forgetting factor of this analysis.
    work : Workspace or None
        Scratch memory shared by all batches of the analysis (``x_anom`` and ``y_anom`` live in
        it): a filter must be done with a batch's arrays before the next batch.
    """

    x_anom: np.ndarray
    y_anom: np.ndarray
    innovation: np.ndarray
    rinv: np.ndarray
    perturbation: np.ndarray | None
    cycle: int
    forget: float
    work: Workspace | None = None


def batched_local_analysis(filt: Any, ens: np.ndarray, domain_state_index: np.ndarray,
                           local_obs: "LocalObservations", cycle: int, chunk_size: int,
                           forget: float, perturbations: np.ndarray | None = None,
                           vertical: "VerticalLocalization | None" = None,
                           element_depth: np.ndarray | None = None,
                           work: Workspace | None = None) -> None:
    """Run ``filt.update_local_domains`` over all domains, in place on ``ens``.

    Parameters
    ----------
    filt : object
        Provides ``update_local_domains(batch: LocalBatch)`` returning the mean increment
        ``(B, n)`` and the analysis anomalies ``(B, n, N)``.
    ens : (N, n_state) ndarray
    domain_state_index : (n_domains, n_local) int ndarray
    local_obs : LocalObservations
    cycle : int
    chunk_size : int
    forget : float
    perturbations : (m_total, N) ndarray, optional
        Observation perturbations of every observation in ``local_obs.obs``.
    vertical : VerticalLocalization, optional
        Vertical localisation: each domain analysed in sub-domains of equal element depth
        (see the module notes). None: one analysis per domain (as without it, bit for bit).
    element_depth : (n_local,) float ndarray, optional
        Depth [m, positive down] of each position of a ``domain_state_index`` row (NaN: not
        vertically localised); needed with ``vertical``.
    work : Workspace, optional
        Scratch memory of the batches, e.g. kept by the filter from one analysis to the next;
        a fresh one if None.
    """
    obs = local_obs.obs
    hxbar = obs.hx.mean(axis=0)
    y_anom_all = (obs.hx - hxbar).T                       # (m_total, N)
    innovation_all = obs.value - hxbar
    rinv_all = 1.0 / obs.variance
    n_members = ens.shape[0]
    spread = rinv_all * np.einsum("jk,jk->j", y_anom_all, y_anom_all)
    batches = list(domain_batches(local_obs, chunk_size, spread))
    work = Workspace() if work is None else work
    for state_index, rinv in vertical_sub_domains(domain_state_index, rinv_all, obs.vertical_range,
                                                  vertical, element_depth):
        for domains, obs_idx, pair in batches:
            idx = state_index[domains]                           # (B, n)
            b, n = idx.shape
            x = np.moveaxis(np.take(ens, idx, axis=1, out=work.array("ens", (n_members, b, n))),
                            0, -1)                               # (B, n, N)
            mean = x.mean(axis=-1)
            x_anom = np.subtract(x, mean[..., None], out=work.array("x_anom", (b, n, n_members)))
            y_anom = np.take(y_anom_all, obs_idx, axis=0,
                             out=work.array("y_anom", obs_idx.shape + (n_members,)))
            batch = LocalBatch(x_anom, y_anom, innovation_all[obs_idx],
                               rinv[obs_idx] * local_obs.weight[pair],
                               None if perturbations is None else perturbations[obs_idx],
                               cycle, forget, work)
            increment, anomalies = filt.update_local_domains(batch)
            mean += increment
            ens[:, idx] = np.moveaxis(anomalies + mean[..., None], -1, 0)


def depth_groups(element_depth: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """The positions of a domain's state elements grouped by equal depth.

    Parameters
    ----------
    element_depth : (n_local,) float ndarray
        Depth [m] per position; NaN: not vertically localised.

    Returns
    -------
    list of (depth, positions)
        Ascending depth, then NaN (one group for all positions without a depth);
        ``positions`` (k,) int ndarray ascending.
    """
    depth = np.asarray(element_depth, dtype=float)
    finite = np.isfinite(depth)
    groups = [(float(z), np.flatnonzero(finite & (depth == z)))
              for z in np.unique(depth[finite])]
    if not finite.all():
        groups.append((float("nan"), np.flatnonzero(~finite)))
    return groups


def vertical_sub_domains(domain_state_index: np.ndarray, rinv: np.ndarray,
                         vertical_range: np.ndarray, vertical: "VerticalLocalization | None",
                         element_depth: np.ndarray | None
                         ) -> Sequence[tuple[np.ndarray, np.ndarray]]:
    """The sub-domains of a vertically localised local analysis, one per distinct depth.

    Parameters
    ----------
    domain_state_index : (n_domains, n_local) int ndarray
    rinv : (m_total,) float ndarray
        Inverse error variances of the local observations.
    vertical_range : (m_total, 2) float ndarray
        Their ``[top, bottom]`` [m]; NaN: no vertical position.
    vertical : VerticalLocalization or None
    element_depth : (n_local,) float ndarray or None

    Returns
    -------
    list of (state_index, rinv)
        ``state_index`` ``(n_domains, k)``: the domains' elements at one depth; ``rinv``
        ``(m_total,)`` times the vertical weights at that depth. Without ``vertical``:
        ``[(domain_state_index, rinv)]`` unchanged.
    """
    if vertical is None:
        return [(domain_state_index, rinv)]
    out = []
    for depth, positions in depth_groups(element_depth):
        weight = vertical.weights(vertical_range, depth) if np.isfinite(depth) else 1.0
        out.append((domain_state_index[:, positions], rinv * weight))
    return out


def domain_batches(local_obs: "LocalObservations", chunk_size: int,
                   spread: np.ndarray | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of domains with equally many local observations.

    Parameters
    ----------
    local_obs : LocalObservations
    chunk_size : int
        Largest batch.
    spread : (m_total,) float ndarray, optional
        Each observation's ``R^-1 ||Y'_j||^2``. Its sum over a domain's local observations,
        weighted, is the trace of the domain's ``R^-1/2 Y' Y'^T R^-1/2``, a bound of its
        largest eigenvalue, on which the cost of the matrix functions of a batch grows (they
        are computed for the largest bound of a block of matrices,
        :func:`~pdafpy.filters.chebyshev.block_size`, at most a batch). Given, the domains of
        every :data:`SORT_BATCHES` consecutive batches are sorted by it, so that each block
        holds domains of similar bounds. None: domains in ascending order.

    Yields
    ------
    domains : (B,) int ndarray
        Domain numbers.
    obs_idx : (B, m) int ndarray
        Positions of each domain's local observations in ``local_obs.obs`` (ascending).
    pair : (B, m) int ndarray
        Positions of the (domain, observation) pairs in ``local_obs.index`` / ``weight``.
    """
    counts = local_obs.counts
    order = np.argsort(counts, kind="stable")
    bounds = np.flatnonzero(np.diff(counts[order])) + 1
    for group in np.split(order, bounds):
        if group.size == 0:
            continue
        m = int(counts[group[0]])
        for first in range(0, group.size, SORT_BATCHES * chunk_size):
            domains = group[first:first + SORT_BATCHES * chunk_size]
            pair = local_obs.indptr[domains][:, None] + np.arange(m)
            obs_idx = local_obs.index[pair]
            by_trace = np.arange(domains.size)
            run = min(block_size(m), chunk_size) if m > 0 else chunk_size
            if spread is not None and domains.size > run:
                trace = np.einsum("bm,bm->b", local_obs.weight[pair], spread[obs_idx])
                by_trace = np.argsort(trace, kind="stable")
            for start in range(0, domains.size, chunk_size):
                # runs of domains whose matrix functions are computed together (a batch's
                # blocks, chebyshev.block_size) by trace, each run in ascending order: the
                # ensemble is read and written in order
                part = by_trace[start:start + chunk_size]
                part = np.concatenate([np.sort(part[s:s + run])
                                       for s in range(0, part.size, run)])
                yield domains[part], obs_idx[part], pair[part]
