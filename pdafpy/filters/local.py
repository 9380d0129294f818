"""Batched local analysis: every local domain of a rank analysed without a Python loop over domains.

Domains are grouped by their number of local observations ``m`` (a handful of distinct values);
each group is cut into chunks of at most ``chunk_size`` domains, and a chunk becomes stacked arrays
``(B, n_local, N)`` of state anomalies and ``(B, m, N)`` of observed anomalies on which the filter's
algebra runs with batched ``matmul`` and ``eigh``. Local observations stay in ascending global
index, so every domain's sums are formed in the same order on any rank layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    from ..halo import LocalObservations

__all__ = ["LocalBatch", "batched_local_analysis", "domain_batches"]


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
    """

    x_anom: np.ndarray
    y_anom: np.ndarray
    innovation: np.ndarray
    rinv: np.ndarray
    perturbation: np.ndarray | None
    cycle: int
    forget: float


def batched_local_analysis(filt: Any, ens: np.ndarray, domain_state_index: np.ndarray,
                           local_obs: "LocalObservations", cycle: int, chunk_size: int,
                           forget: float, perturbations: np.ndarray | None = None) -> None:
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
    """
    obs = local_obs.obs
    hxbar = obs.hx.mean(axis=0)
    y_anom_all = (obs.hx - hxbar).T                       # (m_total, N)
    innovation_all = obs.value - hxbar
    rinv_all = 1.0 / obs.variance
    for domains, obs_idx, pair in domain_batches(local_obs, chunk_size):
        idx = domain_state_index[domains]                    # (B, n)
        x = np.moveaxis(ens[:, idx], 0, -1)                  # (B, n, N)
        mean = x.mean(axis=-1)
        batch = LocalBatch(x - mean[..., None], y_anom_all[obs_idx], innovation_all[obs_idx],
                           rinv_all[obs_idx] * local_obs.weight[pair],
                           None if perturbations is None else perturbations[obs_idx],
                           cycle, forget)
        increment, anomalies = filt.update_local_domains(batch)
        ens[:, idx] = np.moveaxis(mean[..., None] + increment[..., None] + anomalies, -1, 0)


def domain_batches(local_obs: "LocalObservations", chunk_size: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of domains with equally many local observations.

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
        for start in range(0, group.size, chunk_size):
            domains = group[start:start + chunk_size]
            pair = local_obs.indptr[domains][:, None] + np.arange(m)
            yield domains, local_obs.index[pair], pair
